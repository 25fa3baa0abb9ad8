//! One interface over the three databases task history can live in (SQLite, PostgreSQL,
//! MySQL/MariaDB), for the writer thread and the page queries.
//!
//! SQL is written once with `?` placeholders; PostgreSQL gets them numbered (`$1`...).
//! Values go in and come out as [`Val`]; timestamps travel as text in the form
//! SQLAlchemy writes to SQLite (`2026-11-24 08:00:00.123456`, see [`super::time`]) and
//! each client converts them to its server's type (TIMESTAMP on PostgreSQL and MySQL),
//! so the queries compare and order by the native column.
//!
//! Errors say whether they are transient ([`DbError`]`::transient`): the server is down, restarting or
//! unreachable, or the connection broke. The writer keeps the batch and retries those;
//! any other error (bad data, a missing table) fails the batch as before.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::tls;
use super::url::{Engine, NetUrl, Tls, TlsUse, Verify};

/// A column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
}

impl Val {
    /// The value as text whatever type it was stored with (luigid may have written a
    /// non-string parameter value through its driver).
    pub fn text(&self) -> Option<String> {
        match self {
            Val::Null => None,
            Val::Int(i) => Some(i.to_string()),
            Val::Float(f) => Some(f.to_string()),
            Val::Text(t) => Some(t.clone()),
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            Val::Float(f) => Some(*f as i64),
            Val::Text(t) => t.trim().parse().ok(),
            Val::Null => None,
        }
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::Text(s.to_string())
    }
}

impl From<i64> for Val {
    fn from(i: i64) -> Val {
        Val::Int(i)
    }
}

impl From<Option<&str>> for Val {
    fn from(s: Option<&str>) -> Val {
        s.map_or(Val::Null, Val::from)
    }
}

/// A database error; `transient` when retrying later can succeed (server down or
/// restarting, connection lost, deadlock).
#[derive(Debug, Clone)]
pub struct DbError {
    pub message: String,
    pub transient: bool,
    /// The server refused the values of one statement (too long, out of range, a
    /// constraint): other rows of the same batch can still be written.
    pub data: bool,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl DbError {
    fn permanent(m: impl std::fmt::Display) -> DbError {
        DbError {
            message: m.to_string(),
            transient: false,
            data: false,
        }
    }
    fn transient(m: impl std::fmt::Display) -> DbError {
        DbError {
            message: m.to_string(),
            transient: true,
            data: false,
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        use rusqlite::ErrorCode as C;
        let data = matches!(
            e.sqlite_error_code(),
            Some(C::ConstraintViolation | C::TooBig | C::TypeMismatch)
        );
        DbError {
            message: e.to_string(),
            transient: false,
            data,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

pub type Rows = Vec<Vec<Val>>;

/// A connection to the history database.
pub trait Conn: Send {
    fn dialect(&self) -> Dialect;
    /// Statements without parameters or results (DDL, session settings).
    fn batch(&mut self, sql: &str) -> Result<(), DbError>;
    /// One statement; the number of rows it changed.
    fn exec(&mut self, sql: &str, args: &[Val]) -> Result<u64, DbError>;
    fn query(&mut self, sql: &str, args: &[Val]) -> Result<Rows, DbError>;
    /// An `INSERT` of one row into a table whose key is `id`; the new row's id.
    fn insert_id(&mut self, sql: &str, args: &[Val]) -> Result<i64, DbError>;
    /// Start a write transaction (SQLite: `BEGIN IMMEDIATE`, taking the write lock first).
    fn begin(&mut self) -> Result<(), DbError>;
    fn commit(&mut self) -> Result<(), DbError>;
    fn rollback(&mut self);
    /// Before a batch or a page: make the connection usable. Ok(true) when it now points
    /// at a different database than before (record ids known so far mean nothing there).
    fn check(&mut self) -> Result<bool, DbError>;
    /// Forget the connection after a transient error; the next `check` connects anew.
    fn reset(&mut self) {}

    fn query_one(&mut self, sql: &str, args: &[Val]) -> Result<Option<Vec<Val>>, DbError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }
}

// ---------------------------------------------------------------- timestamps

/// Microseconds since 1970-01-01 of a naive timestamp text, read as if UTC (the servers
/// store it naive; only the fields matter).
pub fn naive_micros(ts: &str) -> Option<i64> {
    let head = ts.get(..19)?;
    let secs = super::time::naive_seconds(head)? as i64;
    let frac = match ts.get(19..).unwrap_or("") {
        "" => 0,
        f => {
            let digits = f.strip_prefix('.')?;
            if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            let mut d = digits.to_string();
            d.truncate(6);
            while d.len() < 6 {
                d.push('0');
            }
            d.parse::<i64>().ok()?
        }
    };
    Some(secs * 1_000_000 + frac)
}

/// The stored text form of microseconds since 1970 (naive fields).
pub fn naive_text(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let us = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = super::time::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{us:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// ---------------------------------------------------------------- SQLite

/// SQLite through rusqlite. The writer's connection creates the file and the tables;
/// the pages' connection never creates anything. Both reopen when the file at the path
/// was deleted or replaced (SQLite would go on using the unlinked file silently).
pub struct SqliteConn {
    conn: rusqlite::Connection,
    path: Option<PathBuf>,
    file: Option<(u64, u64)>,
    writer: bool,
}

/// (device, inode) of the file at `path`, None when there is none.
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl SqliteConn {
    /// The writer's connection: busy timeout, WAL, and the tables (created when missing).
    pub fn open_writer(path: &Path) -> Result<SqliteConn, DbError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => {}
            Ok(mode) => log::warn!(
                "task history {}: SQLite kept journal mode {mode} instead of WAL",
                path.display()
            ),
            Err(e) => return Err(e.into()),
        }
        // WAL with NORMAL survives a process crash; only an OS crash may lose the last
        // commits, which is acceptable for history.
        conn.execute_batch("PRAGMA synchronous=NORMAL")?;
        let mut c = SqliteConn::wrap(conn);
        super::schema::ensure(&mut c)?;
        c.file = file_id(path);
        c.path = Some(path.to_path_buf());
        c.writer = true;
        Ok(c)
    }

    /// The pages' connection (never creates the file).
    pub fn open_reader(path: &Path) -> Result<SqliteConn, DbError> {
        let flags = rusqlite::OpenFlags::default() - rusqlite::OpenFlags::SQLITE_OPEN_CREATE;
        let conn = rusqlite::Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(Duration::from_secs(2))?;
        let mut c = SqliteConn::wrap(conn);
        c.file = file_id(path);
        c.path = Some(path.to_path_buf());
        Ok(c)
    }

    /// A connection opened elsewhere (tests, benchmarks); no file watching.
    pub fn wrap(conn: rusqlite::Connection) -> SqliteConn {
        SqliteConn {
            conn,
            path: None,
            file: None,
            writer: false,
        }
    }

    pub fn inner(&self) -> &rusqlite::Connection {
        &self.conn
    }

    pub fn into_inner(self) -> rusqlite::Connection {
        self.conn
    }

    fn values(args: &[Val]) -> Vec<rusqlite::types::Value> {
        args.iter()
            .map(|v| match v {
                Val::Null => rusqlite::types::Value::Null,
                Val::Int(i) => rusqlite::types::Value::Integer(*i),
                Val::Float(f) => rusqlite::types::Value::Real(*f),
                Val::Text(t) => rusqlite::types::Value::Text(t.clone()),
            })
            .collect()
    }
}

impl Conn for SqliteConn {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        Ok(self.conn.execute_batch(sql)?)
    }

    fn exec(&mut self, sql: &str, args: &[Val]) -> Result<u64, DbError> {
        let mut st = self.conn.prepare_cached(sql)?;
        Ok(st.execute(rusqlite::params_from_iter(Self::values(args)))? as u64)
    }

    fn query(&mut self, sql: &str, args: &[Val]) -> Result<Rows, DbError> {
        use rusqlite::types::ValueRef;
        let mut st = self.conn.prepare_cached(sql)?;
        let n = st.column_count();
        let rows = st.query_map(rusqlite::params_from_iter(Self::values(args)), |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        ValueRef::Null => Val::Null,
                        ValueRef::Integer(i) => Val::Int(i),
                        ValueRef::Real(f) => Val::Float(f),
                        ValueRef::Text(t) | ValueRef::Blob(t) => {
                            Val::Text(String::from_utf8_lossy(t).into_owned())
                        }
                    })
                })
                .collect::<rusqlite::Result<Vec<Val>>>()
        })?;
        Ok(rows.collect::<rusqlite::Result<Rows>>()?)
    }

    fn insert_id(&mut self, sql: &str, args: &[Val]) -> Result<i64, DbError> {
        self.exec(sql, args)?;
        Ok(self.conn.last_insert_rowid())
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.batch("BEGIN IMMEDIATE")
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.batch("COMMIT")
    }

    fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    fn check(&mut self) -> Result<bool, DbError> {
        let Some(path) = self.path.clone() else {
            return Ok(false);
        };
        let now = file_id(&path);
        if now.is_some() && now == self.file {
            return Ok(false);
        }
        if !self.writer {
            // The pages read on from the old file until a new one appears.
            if now.is_some() {
                *self = SqliteConn::open_reader(&path)?;
                return Ok(true);
            }
            return Ok(false);
        }
        match SqliteConn::open_writer(&path) {
            Ok(c) => {
                log::warn!(
                    "task history: {} was deleted or replaced while in use; recording into \
                     a new database there",
                    path.display()
                );
                *self = c;
                Ok(true)
            }
            Err(e) => Err(DbError::permanent(format!(
                "the database file is gone: {e}"
            ))),
        }
    }
}

// ---------------------------------------------------------------- servers

/// How long a connection attempt may take; a page waits at most this long on the loop
/// when the server stops answering, and only once per [`RECONNECT_PAUSE`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// After a failed connection attempt, pages do not try again for this long.
const RECONNECT_PAUSE: Duration = Duration::from_secs(5);
/// The pages' statements are cut off after this long (they take milliseconds).
const PAGE_STATEMENT_TIMEOUT: Duration = Duration::from_secs(3);

/// For the pages: the connection is only attempted again after a pause, so that a
/// server that is down costs the loop one connection timeout per pause, not per page.
#[derive(Default)]
struct Pause {
    failed_at: Option<Instant>,
    last: Option<DbError>,
}

impl Pause {
    fn blocked(&self) -> Option<DbError> {
        match (self.failed_at, &self.last) {
            (Some(t), Some(e)) if t.elapsed() < RECONNECT_PAUSE => Some(DbError::transient(
                format!("the database is unavailable ({e}); retrying shortly"),
            )),
            _ => None,
        }
    }
}

/// PostgreSQL through the synchronous `postgres` client.
pub struct PgConn {
    config: postgres::Config,
    /// How TLS is used (libpq's sslmode with its files resolved).
    tls: Tls,
    client: Option<postgres::Client>,
    statements: HashMap<String, postgres::Statement>,
    /// Pages' connection: statement timeout, reconnect pause.
    for_pages: bool,
    pause: Pause,
    /// Connected at least once (a reconnection is logged).
    connected_before: bool,
}

fn pg_transient(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        None => true,
        Some(c) => {
            let c = c.code();
            // connection exceptions, shutdown / cannot connect now, too many
            // connections, serialization failures and deadlocks
            c.starts_with("08")
                || c.starts_with("57P")
                || c == "53300"
                || c == "40001"
                || c == "40P01"
        }
    }
}

fn pg_err(e: postgres::Error) -> DbError {
    let transient = pg_transient(&e);
    // data exceptions and integrity constraint violations
    let data = e
        .code()
        .is_some_and(|c| c.code().starts_with("22") || c.code().starts_with("23"));
    // The database error's own text (code and message) without the client's wrapper;
    // otherwise the client's text with its causes (a TLS failure's reason is a cause).
    let message = match e.as_db_error() {
        Some(d) => format!("{} ({})", d.message(), d.code().code()),
        None => tls::with_sources(&e),
    };
    DbError {
        message,
        transient,
        data,
    }
}

/// `?` placeholders numbered for PostgreSQL. Our SQL has no `?` in literals.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

fn os_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres".to_string())
}

impl PgConn {
    pub fn new(u: &NetUrl, for_pages: bool) -> Result<PgConn, DbError> {
        debug_assert_eq!(u.engine, Engine::Postgres);
        let mut c = postgres::Config::new();
        // libpq's reading: options override the URL's parts.
        let host = u.option("host").map(str::to_string).or(u.host.clone());
        // libpq connects through the UNIX socket directory when no host is given.
        c.host(host.as_deref().unwrap_or("/var/run/postgresql"));
        let port = match u.option("port") {
            Some(p) => p.parse::<u16>().ok(),
            None => u.port,
        };
        c.port(port.unwrap_or(5432));
        let user = u
            .option("user")
            .map(str::to_string)
            .or(u.user.clone())
            .unwrap_or_else(os_user);
        c.user(&user);
        if let Some(p) = u.option("password").or(u.password()) {
            c.password(p);
        }
        let dbname = u
            .option("dbname")
            .map(str::to_string)
            .or(u.database.clone())
            .unwrap_or(user.clone());
        c.dbname(&dbname);
        c.application_name(u.option("application_name").unwrap_or("luigid-rs"));
        if let Some(o) = u.option("options") {
            c.options(o);
        }
        let timeout = u
            .option("connect_timeout")
            .and_then(|t| t.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(CONNECT_TIMEOUT);
        c.connect_timeout(timeout);
        c.keepalives(true);
        c.keepalives_idle(Duration::from_secs(30));
        c.channel_binding(match u.option("channel_binding") {
            Some("disable") => postgres::config::ChannelBinding::Disable,
            Some("require") => postgres::config::ChannelBinding::Require,
            _ => postgres::config::ChannelBinding::Prefer,
        });
        let pg_dir = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| std::path::PathBuf::from(h).join(".postgresql"));
        let tls = u.tls(pg_dir.as_deref()).map_err(DbError::permanent)?;
        Ok(PgConn {
            config: c,
            tls,
            client: None,
            statements: HashMap::new(),
            for_pages,
            pause: Pause::default(),
            connected_before: false,
        })
    }

    /// A new connection of its own, outside this connection's statement cache: the
    /// state store (`crate::ha`) holds its sessions itself.
    pub fn connect_new(&self) -> Result<postgres::Client, DbError> {
        self.open()
    }

    /// Find a dead server or network within about `dead_after`: unacknowledged writes
    /// time out (TCP_USER_TIMEOUT) and an idle connection is probed every second. The
    /// state store's leader must not wait minutes on a commit that cannot arrive.
    pub fn detect_dead_peer(&mut self, dead_after: Duration) {
        self.config.tcp_user_timeout(dead_after);
        self.config.keepalives_idle(Duration::from_secs(1));
        self.config.keepalives_interval(Duration::from_secs(1));
        self.config
            .keepalives_retries(u32::try_from(dead_after.as_secs()).unwrap_or(5).max(1));
    }

    fn client(&mut self) -> Result<&mut postgres::Client, DbError> {
        self.client
            .as_mut()
            .ok_or_else(|| DbError::transient("not connected"))
    }

    /// A new connection as libpq's sslmode asks: `allow` tries without TLS first and
    /// with TLS when the server refuses that; `prefer` the other way round (a server
    /// that offers no TLS is used without at once). The certificate files are read on
    /// each connection, as libpq reads them.
    fn open(&self) -> Result<postgres::Client, DbError> {
        use postgres::config::SslMode;
        let config = |mode| {
            let mut c = self.config.clone();
            c.ssl_mode(mode);
            c
        };
        if self.tls.usage == TlsUse::Disable {
            return config(SslMode::Disable)
                .connect(postgres::NoTls)
                .map_err(pg_err);
        }
        let rustls = tls::pg_client_config(&self.tls).map_err(DbError::permanent)?;
        let connector = tokio_postgres_rustls::MakeRustlsConnect::new(rustls);
        let attempt = |mode| config(mode).connect(connector.clone());
        // A refusal by the server, or a failed handshake, is worth the other way;
        // an unreachable server is not.
        let other_way =
            |e: &postgres::Error| e.as_db_error().is_some() || tls::rustls_cause(e).is_some();
        let (first, second) = match self.tls.usage {
            TlsUse::Allow => (SslMode::Disable, Some(SslMode::Require)),
            TlsUse::Prefer => (SslMode::Prefer, Some(SslMode::Disable)),
            _ => (SslMode::Require, None),
        };
        match attempt(first) {
            Ok(c) => Ok(c),
            Err(e) => match second {
                Some(mode) if other_way(&e) => attempt(mode).map_err(|e2| {
                    let mut err = pg_err(e2);
                    let (a, b) = if first == SslMode::Disable {
                        ("without TLS", "with TLS")
                    } else {
                        ("with TLS", "without TLS")
                    };
                    err.message = format!("{a}: {}; {b}: {}", pg_err(e).message, err.message);
                    err
                }),
                _ => Err(pg_err(e)),
            },
        }
    }

    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, DbError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let text = numbered(sql);
        let st = self.client()?.prepare(&text).map_err(pg_err)?;
        // Bounded: our statements are a fixed set plus the pages' filter shapes.
        if self.statements.len() > 256 {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), st.clone());
        Ok(st)
    }

    fn run<T>(
        &mut self,
        sql: &str,
        args: &[Val],
        f: impl FnOnce(
            &mut postgres::Client,
            &postgres::Statement,
            &[&(dyn postgres::types::ToSql + Sync)],
        ) -> Result<T, postgres::Error>,
    ) -> Result<T, DbError> {
        let st = self.statement(sql)?;
        let boxed = pg_args(args, st.params())?;
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            boxed.iter().map(|b| b.as_ref()).collect();
        let client = self.client()?;
        let r = f(client, &st, &refs).map_err(pg_err);
        if let Err(e) = &r {
            if e.transient {
                self.reset();
            }
        }
        r
    }
}

type PgArg = Box<dyn postgres::types::ToSql + Sync>;

/// Our values as the types the server inferred for the statement's parameters.
fn pg_args(args: &[Val], types: &[postgres::types::Type]) -> Result<Vec<PgArg>, DbError> {
    use postgres::types::Type;
    if args.len() != types.len() {
        return Err(DbError::permanent(format!(
            "statement takes {} parameters, got {}",
            types.len(),
            args.len()
        )));
    }
    let mut out: Vec<PgArg> = Vec::with_capacity(args.len());
    for (v, ty) in args.iter().zip(types) {
        let range = |e| DbError::permanent(format!("{v:?} does not fit {ty}: {e}"));
        let b: PgArg = match (v, ty) {
            (Val::Null, t) if *t == Type::INT4 => Box::new(None::<i32>),
            (Val::Null, t) if *t == Type::INT8 => Box::new(None::<i64>),
            (Val::Null, t) if *t == Type::TIMESTAMP => Box::new(None::<SystemTime>),
            (Val::Null, _) => Box::new(None::<String>),
            (Val::Int(i), t) if *t == Type::INT2 => Box::new(i16::try_from(*i).map_err(range)?),
            (Val::Int(i), t) if *t == Type::INT4 => Box::new(i32::try_from(*i).map_err(range)?),
            (Val::Int(i), t) if *t == Type::INT8 => Box::new(*i),
            (Val::Int(i), _) => Box::new(i.to_string()),
            (Val::Float(f), t) if *t == Type::FLOAT8 => Box::new(*f),
            (Val::Float(f), _) => Box::new(f.to_string()),
            (Val::Text(s), t) if *t == Type::TIMESTAMP || *t == Type::TIMESTAMPTZ => {
                let us = naive_micros(s)
                    .ok_or_else(|| DbError::permanent(format!("{s:?} is not a timestamp")))?;
                let t = if us >= 0 {
                    UNIX_EPOCH + Duration::from_micros(us as u64)
                } else {
                    UNIX_EPOCH - Duration::from_micros(us.unsigned_abs())
                };
                Box::new(t)
            }
            (Val::Text(s), _) => Box::new(s.clone()),
        };
        out.push(b);
    }
    Ok(out)
}

fn pg_row(row: &postgres::Row) -> Result<Vec<Val>, DbError> {
    use postgres::types::Type;
    let mut out = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let ty = col.type_();
        let e = |e: postgres::Error| DbError::permanent(format!("column {}: {e}", col.name()));
        let v = if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)
                .map_err(e)?
                .map(|x| Val::Int(x.into()))
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)
                .map_err(e)?
                .map(|x| Val::Int(x.into()))
        } else if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i).map_err(e)?.map(Val::Int)
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(i).map_err(e)?.map(Val::Float)
        } else if *ty == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(i)
                .map_err(e)?
                .map(|x| Val::Float(x.into()))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)
                .map_err(e)?
                .map(|x| Val::Int(x.into()))
        } else if *ty == Type::TIMESTAMP || *ty == Type::TIMESTAMPTZ {
            row.try_get::<_, Option<SystemTime>>(i)
                .map_err(e)?
                .map(|t| {
                    let us = match t.duration_since(UNIX_EPOCH) {
                        Ok(d) => d.as_micros() as i64,
                        Err(b) => -(b.duration().as_micros() as i64),
                    };
                    Val::Text(naive_text(us))
                })
        } else {
            row.try_get::<_, Option<String>>(i)
                .map_err(e)?
                .map(Val::Text)
        };
        out.push(v.unwrap_or(Val::Null));
    }
    Ok(out)
}

impl Conn for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        let r = self.client()?.batch_execute(sql).map_err(pg_err);
        if matches!(&r, Err(e) if e.transient) {
            self.reset();
        }
        r
    }

    fn exec(&mut self, sql: &str, args: &[Val]) -> Result<u64, DbError> {
        self.run(sql, args, |c, st, a| c.execute(st, a))
    }

    fn query(&mut self, sql: &str, args: &[Val]) -> Result<Rows, DbError> {
        let rows = self.run(sql, args, |c, st, a| c.query(st, a))?;
        rows.iter().map(pg_row).collect()
    }

    fn insert_id(&mut self, sql: &str, args: &[Val]) -> Result<i64, DbError> {
        let sql = format!("{sql} RETURNING id");
        let rows = self.query(&sql, args)?;
        rows.first()
            .and_then(|r| r.first())
            .and_then(Val::int)
            .ok_or_else(|| DbError::permanent("INSERT returned no id"))
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.batch("BEGIN")
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.batch("COMMIT")
    }

    fn rollback(&mut self) {
        if let Some(c) = self.client.as_mut() {
            if c.batch_execute("ROLLBACK").is_err() {
                self.reset();
            }
        }
    }

    fn check(&mut self) -> Result<bool, DbError> {
        if self.client.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(false);
        }
        self.reset();
        if self.for_pages {
            if let Some(e) = self.pause.blocked() {
                return Err(e);
            }
        }
        match self.open() {
            Ok(mut client) => {
                if self.for_pages {
                    let ms = PAGE_STATEMENT_TIMEOUT.as_millis();
                    client
                        .batch_execute(&format!("SET statement_timeout = {ms}"))
                        .map_err(pg_err)?;
                }
                if self.connected_before && !self.for_pages {
                    log::warn!("task history: connected to the database again");
                }
                self.client = Some(client);
                self.connected_before = true;
                self.pause = Pause::default();
                Ok(false)
            }
            Err(mut err) => {
                // Refused credentials or a missing database are not cured by waiting at
                // start, but may be (a restore, a restart) once running.
                err.transient = true;
                self.pause = Pause {
                    failed_at: Some(Instant::now()),
                    last: Some(err.clone()),
                };
                Err(err)
            }
        }
    }

    fn reset(&mut self) {
        self.client = None;
        self.statements.clear();
    }
}

/// The `mysql` crate's TLS options for `tls`: no verification (REQUIRED, PREFERRED),
/// the chain only (VERIFY_CA), or the chain and the host name (VERIFY_IDENTITY). Its
/// rustls backend adds the public web roots to `ssl_ca`'s.
fn my_ssl_opts(tls: &Tls) -> Option<mysql::SslOpts> {
    if tls.usage == TlsUse::Disable {
        return None;
    }
    let root = match &tls.roots {
        Some(super::url::Roots::File(p)) => Some(p.clone()),
        _ => None,
    };
    let identity = tls
        .client_cert
        .as_ref()
        .map(|(cert, key)| mysql::ClientIdentity::new(cert.clone(), key.clone()));
    Some(
        mysql::SslOpts::default()
            .with_root_cert_path(root)
            .with_client_identity(identity)
            .with_danger_accept_invalid_certs(tls.verify == Verify::None)
            .with_danger_skip_domain_validation(tls.verify == Verify::Chain),
    )
}

/// MySQL and MariaDB through the `mysql` client.
pub struct MyConn {
    opts: mysql::Opts,
    /// `PREFERRED`: the same without TLS, for a server that offers none.
    plain: Option<mysql::Opts>,
    conn: Option<mysql::Conn>,
    for_pages: bool,
    pause: Pause,
    connected_before: bool,
}

fn my_transient(e: &mysql::Error) -> bool {
    match e {
        mysql::Error::IoError(_) | mysql::Error::CodecError(_) | mysql::Error::DriverError(_) => {
            true
        }
        mysql::Error::MySqlError(m) => matches!(
            m.code,
            // too many connections, shutdown in progress, lock wait timeout, deadlock,
            // connection killed, server gone / lost, network errors, handshake
            1040 | 1053 | 1205 | 1213 | 1927 | 2006 | 2013 | 1152 | 1158..=1161 | 1043
        ),
        _ => false,
    }
}

fn my_err(e: mysql::Error) -> DbError {
    let data = matches!(&e, mysql::Error::MySqlError(m) if matches!(m.code,
        // duplicate key, NULL in NOT NULL, data too long, out of range, bad string or
        // date value, foreign key
        1062 | 1048 | 1406 | 1264 | 1366 | 1292 | 1452));
    DbError {
        transient: my_transient(&e),
        data,
        message: e.to_string(),
    }
}

fn my_value(v: &Val) -> mysql::Value {
    match v {
        Val::Null => mysql::Value::NULL,
        Val::Int(i) => mysql::Value::Int(*i),
        Val::Float(f) => mysql::Value::Double(*f),
        Val::Text(t) => mysql::Value::Bytes(t.as_bytes().to_vec()),
    }
}

fn my_val(v: mysql::Value) -> Val {
    match v {
        mysql::Value::NULL => Val::Null,
        mysql::Value::Bytes(b) => Val::Text(String::from_utf8_lossy(&b).into_owned()),
        mysql::Value::Int(i) => Val::Int(i),
        mysql::Value::UInt(u) => Val::Int(i64::try_from(u).unwrap_or(i64::MAX)),
        mysql::Value::Float(f) => Val::Float(f.into()),
        mysql::Value::Double(f) => Val::Float(f),
        mysql::Value::Date(y, mo, d, h, mi, s, us) => Val::Text(format!(
            "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}"
        )),
        mysql::Value::Time(neg, d, h, mi, s, us) => Val::Text(format!(
            "{}{} {h:02}:{mi:02}:{s:02}.{us:06}",
            if neg { "-" } else { "" },
            d
        )),
    }
}

impl MyConn {
    pub fn new(u: &NetUrl, for_pages: bool) -> Result<MyConn, DbError> {
        debug_assert_eq!(u.engine, Engine::Mysql);
        let secs = |k: &str, d: Duration| {
            u.option(k)
                .and_then(|t| t.parse().ok())
                .map(Duration::from_secs)
                .unwrap_or(d)
        };
        let io = if for_pages {
            PAGE_STATEMENT_TIMEOUT
        } else {
            Duration::from_secs(30)
        };
        let b = mysql::OptsBuilder::new()
            .ip_or_hostname(Some(u.host.clone().unwrap_or_else(|| "localhost".into())))
            .tcp_port(u.port.unwrap_or(3306))
            .socket(u.option("unix_socket"))
            // As the Python drivers: TCP unless a socket is named.
            .prefer_socket(false)
            .user(u.user.clone())
            .pass(u.password().map(str::to_string))
            .db_name(u.database.clone())
            .tcp_connect_timeout(Some(secs("connect_timeout", CONNECT_TIMEOUT)))
            .read_timeout(Some(secs("read_timeout", io)))
            .write_timeout(Some(secs("write_timeout", io)));
        let tls = u.tls(None).map_err(DbError::permanent)?;
        tls::check_mysql_files(&tls).map_err(DbError::permanent)?;
        let plain = (tls.usage == TlsUse::Prefer).then(|| mysql::Opts::from(b.clone()));
        let b = b.ssl_opts(my_ssl_opts(&tls));
        Ok(MyConn {
            opts: mysql::Opts::from(b),
            plain,
            conn: None,
            for_pages,
            pause: Pause::default(),
            connected_before: false,
        })
    }

    fn conn(&mut self) -> Result<&mut mysql::Conn, DbError> {
        self.conn
            .as_mut()
            .ok_or_else(|| DbError::transient("not connected"))
    }

    fn after<T>(&mut self, r: Result<T, mysql::Error>) -> Result<T, DbError> {
        let r = r.map_err(my_err);
        if matches!(&r, Err(e) if e.transient) {
            self.reset();
        }
        r
    }
}

impl Conn for MyConn {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        use mysql::prelude::Queryable;
        let r = self.conn()?.query_drop(sql);
        self.after(r)
    }

    fn exec(&mut self, sql: &str, args: &[Val]) -> Result<u64, DbError> {
        use mysql::prelude::Queryable;
        let params = mysql::Params::Positional(args.iter().map(my_value).collect());
        let c = self.conn()?;
        let r = c.exec_drop(sql, params).map(|_| c.affected_rows());
        self.after(r)
    }

    fn query(&mut self, sql: &str, args: &[Val]) -> Result<Rows, DbError> {
        use mysql::prelude::Queryable;
        let params = if args.is_empty() {
            mysql::Params::Empty
        } else {
            mysql::Params::Positional(args.iter().map(my_value).collect())
        };
        let r = self.conn()?.exec::<mysql::Row, _, _>(sql, params);
        let rows = self.after(r)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.as_ref(i).cloned().map_or(Val::Null, my_val))
                    .collect()
            })
            .collect())
    }

    fn insert_id(&mut self, sql: &str, args: &[Val]) -> Result<i64, DbError> {
        use mysql::prelude::Queryable;
        let params = mysql::Params::Positional(args.iter().map(my_value).collect());
        let c = self.conn()?;
        let r = c.exec_drop(sql, params).map(|_| c.last_insert_id());
        let id = self.after(r)?;
        i64::try_from(id).map_err(|_| DbError::permanent("id out of range"))
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.batch("START TRANSACTION")
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.batch("COMMIT")
    }

    fn rollback(&mut self) {
        use mysql::prelude::Queryable;
        if let Some(c) = self.conn.as_mut() {
            if c.query_drop("ROLLBACK").is_err() {
                self.reset();
            }
        }
    }

    fn check(&mut self) -> Result<bool, DbError> {
        if self.conn.is_some() {
            return Ok(false);
        }
        if self.for_pages {
            if let Some(e) = self.pause.blocked() {
                return Err(e);
            }
        }
        let conn = match mysql::Conn::new(self.opts.clone()) {
            Err(mysql::Error::DriverError(mysql::DriverError::TlsNotSupported)) => {
                match &self.plain {
                    Some(plain) => mysql::Conn::new(plain.clone()),
                    None => Err(mysql::Error::DriverError(
                        mysql::DriverError::TlsNotSupported,
                    )),
                }
            }
            other => other,
        };
        match conn {
            Ok(c) => {
                if self.connected_before && !self.for_pages {
                    log::warn!("task history: connected to the database again");
                }
                self.conn = Some(c);
                self.connected_before = true;
                self.pause = Pause::default();
                Ok(false)
            }
            Err(e) => {
                let mut err = my_err(e);
                err.transient = true;
                self.pause = Pause {
                    failed_at: Some(Instant::now()),
                    last: Some(err.clone()),
                };
                Err(err)
            }
        }
    }

    fn reset(&mut self) {
        self.conn = None;
    }
}

/// A server connection for `url`, connected now (the error says why not).
pub fn connect(url: &NetUrl, for_pages: bool) -> Result<Box<dyn Conn>, DbError> {
    let mut c: Box<dyn Conn> = match url.engine {
        Engine::Postgres => Box::new(PgConn::new(url, for_pages)?),
        Engine::Mysql => Box::new(MyConn::new(url, for_pages)?),
    };
    c.check()?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_micros_round_trip() {
        for ts in [
            "2026-11-24 08:00:00.123456",
            "1970-01-01 00:00:00.000000",
            "1969-12-31 23:59:59.999999",
            "2038-01-19 03:14:08.000001",
        ] {
            let us = naive_micros(ts).unwrap();
            assert_eq!(naive_text(us), ts);
        }
        assert_eq!(
            naive_micros("2026-11-24 08:00:00"),
            naive_micros("2026-11-24 08:00:00.000000")
        );
        assert_eq!(
            naive_micros("2026-11-24 08:00:00.5").unwrap() % 1_000_000,
            500_000
        );
        assert_eq!(naive_micros("2026-11-24 08:00:00.x"), None);
        assert_eq!(naive_micros("garbage"), None);
    }

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            numbered("SELECT a FROM t WHERE b = ? AND c IN (?, ?)"),
            "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"
        );
    }

    #[test]
    fn pg_args_follow_the_inferred_types() {
        use postgres::types::Type;
        let a = pg_args(
            &[
                Val::Int(5),
                Val::Int(6),
                Val::from("x"),
                Val::from("2026-01-01 00:00:00.000000"),
                Val::Null,
            ],
            &[
                Type::INT4,
                Type::INT8,
                Type::VARCHAR,
                Type::TIMESTAMP,
                Type::TEXT,
            ],
        )
        .unwrap();
        assert_eq!(a.len(), 5);
        assert!(pg_args(&[Val::Int(i64::MAX)], &[Type::INT4]).is_err());
        assert!(pg_args(&[Val::from("nope")], &[Type::TIMESTAMP]).is_err());
        assert!(pg_args(&[], &[Type::INT4]).is_err());
    }

    #[test]
    fn mysql_values_convert() {
        assert_eq!(
            my_val(mysql::Value::Date(2026, 1, 2, 3, 4, 5, 6)),
            Val::Text("2026-01-02 03:04:05.000006".into())
        );
        assert_eq!(my_val(mysql::Value::Bytes(b"ab".to_vec())), Val::from("ab"));
        assert_eq!(my_val(mysql::Value::UInt(7)), Val::Int(7));
        assert_eq!(my_val(mysql::Value::NULL), Val::Null);
    }
}

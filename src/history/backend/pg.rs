//! PostgreSQL through the synchronous `postgres` client.

use super::super::tls;
use super::super::url::{Engine, NetUrl, Tls, TlsUse};
use super::{
    naive_micros, naive_text, Conn, DbError, Dialect, Link, Rows, Val, CONNECT_TIMEOUT,
    PAGE_STATEMENT_TIMEOUT,
};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// PostgreSQL through the synchronous `postgres` client.
pub struct PgConn {
    config: postgres::Config,
    /// How TLS is used (libpq's sslmode with its files resolved).
    tls: Tls,
    client: Option<postgres::Client>,
    statements: HashMap<String, postgres::Statement>,
    /// Reconnection; the pages' connection also gets a statement timeout.
    link: Link,
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
pub(super) fn numbered(sql: &str) -> String {
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
            link: Link::new(for_pages),
        })
    }

    /// A new connection of its own, outside this connection's statement cache: the
    /// state store (`crate::ha`) holds its sessions itself.
    pub fn connect_new(&self) -> Result<postgres::Client, DbError> {
        Self::open(&self.config, &self.tls)
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
    fn open(base: &postgres::Config, t: &Tls) -> Result<postgres::Client, DbError> {
        use postgres::config::SslMode;
        let config = |mode| {
            let mut c = base.clone();
            c.ssl_mode(mode);
            c
        };
        if t.usage == TlsUse::Disable {
            return config(SslMode::Disable)
                .connect(postgres::NoTls)
                .map_err(pg_err);
        }
        let rustls = tls::pg_client_config(t).map_err(DbError::permanent)?;
        let connector = tokio_postgres_rustls::MakeRustlsConnect::new(rustls);
        let attempt = |mode| config(mode).connect(connector.clone());
        // A refusal by the server, or a failed handshake, is worth the other way;
        // an unreachable server is not.
        let other_way =
            |e: &postgres::Error| e.as_db_error().is_some() || tls::rustls_cause(e).is_some();
        let (first, second) = match t.usage {
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
pub(super) fn pg_args(
    args: &[Val],
    types: &[postgres::types::Type],
) -> Result<Vec<PgArg>, DbError> {
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
        let for_pages = self.link.for_pages;
        let open = || PgConn::open(&self.config, &self.tls);
        let client = self.link.connect(open, |client| {
            if for_pages {
                let ms = PAGE_STATEMENT_TIMEOUT.as_millis();
                client
                    .batch_execute(&format!("SET statement_timeout = {ms}"))
                    .map_err(pg_err)?;
            }
            Ok(())
        })?;
        self.client = Some(client);
        Ok(false)
    }

    fn reset(&mut self) {
        self.client = None;
        self.statements.clear();
    }
}

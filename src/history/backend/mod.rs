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

mod my;
mod pg;
mod sqlite;

pub use my::MyConn;
pub use pg::PgConn;
pub use sqlite::{file_id, SqliteConn};

use super::url::{Engine, NetUrl};
use std::time::{Duration, Instant};

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

/// What the PostgreSQL and MySQL connections share about (re)connecting: the pages'
/// pause after a failed attempt, a failed attempt counted as transient (refused
/// credentials or a missing database are not cured by waiting at start, but may be, by
/// a restore or a restart, once running), and a log line when the writer connects again.
struct Link {
    /// The pages' connection (a pause after a failure), else the writer's.
    for_pages: bool,
    pause: Pause,
    /// Connected at least once (a reconnection is logged).
    connected_before: bool,
}

impl Link {
    fn new(for_pages: bool) -> Link {
        Link {
            for_pages,
            pause: Pause::default(),
            connected_before: false,
        }
    }

    /// A new connection from `open`, made ready by `setup`, unless the pages' pause is
    /// still on. A failure of `open` starts the pause; one of `setup` is returned as it is.
    fn connect<C>(
        &mut self,
        open: impl FnOnce() -> Result<C, DbError>,
        setup: impl FnOnce(&mut C) -> Result<(), DbError>,
    ) -> Result<C, DbError> {
        if self.for_pages {
            if let Some(e) = self.pause.blocked() {
                return Err(e);
            }
        }
        match open() {
            Ok(mut conn) => {
                setup(&mut conn)?;
                if self.connected_before && !self.for_pages {
                    log::warn!("task history: connected to the database again");
                }
                self.connected_before = true;
                self.pause = Pause::default();
                Ok(conn)
            }
            Err(mut err) => {
                err.transient = true;
                self.pause = Pause {
                    failed_at: Some(Instant::now()),
                    last: Some(err.clone()),
                };
                Err(err)
            }
        }
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
    use super::my::*;
    use super::pg::*;
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

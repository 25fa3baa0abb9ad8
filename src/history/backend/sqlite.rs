//! SQLite through rusqlite.

use super::{Conn, DbError, Dialect, Rows, Val};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
        super::super::schema::ensure(&mut c)?;
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

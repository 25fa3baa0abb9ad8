//! The tables of Luigi's DbTaskHistory, with the DDL text SQLAlchemy emits for each
//! engine, so a database we create reads the same (`sqlite_master`, `information_schema`)
//! as one luigid created, and either server can open and extend the other's.

use super::backend::{Conn, DbError, Dialect, Val};

/// (table, CREATE TABLE, its indexes), in the order SQLAlchemy creates them.
type Ddl = [(&'static str, &'static str, &'static [&'static str]); 3];

const INDEXES_TASKS: &[&str] = &[
    "CREATE INDEX ix_tasks_name ON tasks (name)",
    "CREATE INDEX ix_tasks_task_id ON tasks (task_id)",
];
const INDEXES_EVENTS: &[&str] = &[
    "CREATE INDEX ix_task_events_ts ON task_events (ts)",
    "CREATE INDEX ix_task_events_task_id ON task_events (task_id)",
];

const SQLITE: Ddl = [
    (
        "tasks",
        "CREATE TABLE tasks (\n\tid INTEGER NOT NULL, \n\ttask_id VARCHAR(200), \n\tname VARCHAR(128), \n\thost VARCHAR(128), \n\tPRIMARY KEY (id)\n)",
        INDEXES_TASKS,
    ),
    (
        "task_parameters",
        "CREATE TABLE task_parameters (\n\ttask_id INTEGER NOT NULL, \n\tname VARCHAR(128) NOT NULL, \n\tvalue TEXT, \n\tPRIMARY KEY (task_id, name), \n\tFOREIGN KEY(task_id) REFERENCES tasks (id)\n)",
        &[],
    ),
    (
        "task_events",
        "CREATE TABLE task_events (\n\tid INTEGER NOT NULL, \n\ttask_id INTEGER, \n\tevent_name VARCHAR(20), \n\tts TIMESTAMP NOT NULL, \n\tPRIMARY KEY (id), \n\tFOREIGN KEY(task_id) REFERENCES tasks (id)\n)",
        INDEXES_EVENTS,
    ),
];

/// SQLAlchemy 1.4's PostgreSQL DDL for the models: SERIAL keys, TIMESTAMP WITHOUT TIME
/// ZONE (tests/history_db compares information_schema with a database luigid created).
const POSTGRES: Ddl = [
    (
        "tasks",
        "CREATE TABLE tasks (\n\tid SERIAL NOT NULL, \n\ttask_id VARCHAR(200), \n\tname VARCHAR(128), \n\thost VARCHAR(128), \n\tPRIMARY KEY (id)\n)",
        INDEXES_TASKS,
    ),
    (
        "task_parameters",
        "CREATE TABLE task_parameters (\n\ttask_id INTEGER NOT NULL, \n\tname VARCHAR(128) NOT NULL, \n\tvalue TEXT, \n\tPRIMARY KEY (task_id, name), \n\tFOREIGN KEY(task_id) REFERENCES tasks (id)\n)",
        &[],
    ),
    (
        "task_events",
        "CREATE TABLE task_events (\n\tid SERIAL NOT NULL, \n\ttask_id INTEGER, \n\tevent_name VARCHAR(20), \n\tts TIMESTAMP WITHOUT TIME ZONE NOT NULL, \n\tPRIMARY KEY (id), \n\tFOREIGN KEY(task_id) REFERENCES tasks (id)\n)",
        INDEXES_EVENTS,
    ),
];

/// SQLAlchemy 1.4's MySQL DDL: AUTO_INCREMENT keys, TIMESTAMP (which MariaDB gives its
/// automatic default when explicit_defaults_for_timestamp is off, for luigid's tables
/// too), no table options.
const MYSQL: Ddl = [
    (
        "tasks",
        "CREATE TABLE tasks (\n\tid INTEGER NOT NULL AUTO_INCREMENT, \n\ttask_id VARCHAR(200), \n\tname VARCHAR(128), \n\thost VARCHAR(128), \n\tPRIMARY KEY (id)\n)",
        INDEXES_TASKS,
    ),
    (
        "task_parameters",
        "CREATE TABLE task_parameters (\n\ttask_id INTEGER NOT NULL, \n\tname VARCHAR(128) NOT NULL, \n\tvalue TEXT, \n\tPRIMARY KEY (task_id, name), \n\tFOREIGN KEY(task_id) REFERENCES tasks (id)\n)",
        &[],
    ),
    (
        "task_events",
        "CREATE TABLE task_events (\n\tid INTEGER NOT NULL AUTO_INCREMENT, \n\ttask_id INTEGER, \n\tevent_name VARCHAR(20), \n\tts TIMESTAMP NOT NULL, \n\tPRIMARY KEY (id), \n\tFOREIGN KEY(task_id) REFERENCES tasks (id)\n)",
        INDEXES_EVENTS,
    ),
];

/// The columns of `table`: (name, type as the catalogue spells it).
fn columns(conn: &mut dyn Conn, table: &str) -> Result<Vec<(String, String)>, DbError> {
    let (sql, args): (&str, Vec<Val>) = match conn.dialect() {
        Dialect::Sqlite => (
            "SELECT name, type FROM pragma_table_info(?)",
            vec![table.into()],
        ),
        Dialect::Postgres => (
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            vec![table.into()],
        ),
        Dialect::Mysql => (
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
            vec![table.into()],
        ),
    };
    Ok(conn
        .query(sql, &args)?
        .into_iter()
        .map(|r| {
            let get = |i: usize| r.get(i).and_then(Val::text).unwrap_or_default();
            (get(0), get(1))
        })
        .collect())
}

fn table_exists(conn: &mut dyn Conn, table: &str) -> Result<bool, DbError> {
    if conn.dialect() == Dialect::Sqlite {
        return Ok(conn
            .query_one(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                &[table.into()],
            )?
            .is_some());
    }
    Ok(!columns(conn, table)?.is_empty())
}

/// Create the missing tables (with their indexes, as SQLAlchemy's `create_all` does: an
/// existing table is left alone), then apply luigid's startup upgrades
/// (`_upgrade_schema` in luigi/db_task_history.py).
pub fn ensure(conn: &mut dyn Conn) -> Result<(), DbError> {
    let dialect = conn.dialect();
    // MySQL commits DDL at once; SQLite and PostgreSQL create all of it or nothing.
    let transactional = dialect != Dialect::Mysql;
    if transactional {
        conn.begin()?;
    }
    let r = ensure_inner(conn, dialect);
    match r {
        Ok(()) if transactional => conn.commit(),
        Ok(()) => Ok(()),
        Err(e) => {
            if transactional {
                conn.rollback();
            }
            Err(e)
        }
    }
}

fn ensure_inner(conn: &mut dyn Conn, dialect: Dialect) -> Result<(), DbError> {
    let ddl = match dialect {
        Dialect::Sqlite => &SQLITE,
        Dialect::Postgres => &POSTGRES,
        Dialect::Mysql => &MYSQL,
    };
    for (table, create, indexes) in ddl {
        if !table_exists(conn, table)? {
            conn.batch(create)?;
            for idx in indexes.iter() {
                conn.batch(idx)?;
            }
        }
    }
    // Databases from Luigi versions before tasks.task_id existed get the column and the
    // index luigid adds for it.
    let has_task_id = columns(conn, "tasks")?.iter().any(|(n, _)| n == "task_id");
    let value_type = columns(conn, "task_parameters")?
        .into_iter()
        .find(|(n, _)| n == "value")
        .map(|(_, t)| t);
    if !has_task_id {
        log::warn!("task history: upgrading the schema, adding tasks.task_id");
        conn.batch("ALTER TABLE tasks ADD COLUMN task_id VARCHAR(200)")?;
        conn.batch("CREATE INDEX ix_task_id ON tasks (task_id)")?;
    }
    if let Some(ty) = value_type {
        if !ty.eq_ignore_ascii_case("text") {
            match dialect {
                Dialect::Sqlite => log::warn!(
                    "task history: task_parameters.value has type {ty}, not TEXT; SQLite cannot \
                     change a column type, use a new database file to get the current schema"
                ),
                Dialect::Postgres => {
                    log::warn!("task history: upgrading the schema, task_parameters.value to TEXT");
                    conn.batch("ALTER TABLE task_parameters ALTER COLUMN value TYPE TEXT")?;
                }
                Dialect::Mysql => {
                    log::warn!("task history: upgrading the schema, task_parameters.value to TEXT");
                    conn.batch("ALTER TABLE task_parameters MODIFY COLUMN value TEXT")?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::backend::SqliteConn;
    use super::*;
    use rusqlite::Connection;

    fn ensure(conn: &mut Connection) -> Result<(), DbError> {
        let c = std::mem::replace(conn, Connection::open_in_memory().unwrap());
        let mut w = SqliteConn::wrap(c);
        let r = super::ensure(&mut w);
        *conn = w.into_inner();
        r
    }

    fn master(conn: &Connection) -> Vec<(String, String, String)> {
        let mut stmt = conn
            .prepare(
                "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// `sqlite_master` of a database created by luigid 3.8.1 with SQLAlchemy 1.4
    /// (`sqlite3 db .schema`, captured once; tests/history_compat checks it live).
    const LUIGID_SCHEMA: &str = "CREATE TABLE tasks (
\tid INTEGER NOT NULL, 
\ttask_id VARCHAR(200), 
\tname VARCHAR(128), 
\thost VARCHAR(128), 
\tPRIMARY KEY (id)
);
CREATE INDEX ix_tasks_name ON tasks (name);
CREATE INDEX ix_tasks_task_id ON tasks (task_id);
CREATE TABLE task_parameters (
\ttask_id INTEGER NOT NULL, 
\tname VARCHAR(128) NOT NULL, 
\tvalue TEXT, 
\tPRIMARY KEY (task_id, name), 
\tFOREIGN KEY(task_id) REFERENCES tasks (id)
);
CREATE TABLE task_events (
\tid INTEGER NOT NULL, 
\ttask_id INTEGER, 
\tevent_name VARCHAR(20), 
\tts TIMESTAMP NOT NULL, 
\tPRIMARY KEY (id), 
\tFOREIGN KEY(task_id) REFERENCES tasks (id)
);
CREATE INDEX ix_task_events_ts ON task_events (ts);
CREATE INDEX ix_task_events_task_id ON task_events (task_id);
";

    #[test]
    fn schema_text_matches_luigid() {
        let mut conn = Connection::open_in_memory().unwrap();
        ensure(&mut conn).unwrap();
        let dump: String = master(&conn)
            .into_iter()
            .map(|(_, _, sql)| format!("{sql};\n"))
            .collect();
        assert_eq!(dump, LUIGID_SCHEMA);
    }

    #[test]
    fn ensure_is_idempotent_and_keeps_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        ensure(&mut conn).unwrap();
        conn.execute("INSERT INTO tasks (task_id, name) VALUES ('A_1', 'A')", [])
            .unwrap();
        let before = master(&conn);
        ensure(&mut conn).unwrap();
        assert_eq!(master(&conn), before);
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM tasks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn old_database_gets_task_id_column() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE tasks (id INTEGER NOT NULL, name VARCHAR(128), host VARCHAR(128), PRIMARY KEY (id));
             INSERT INTO tasks (name) VALUES ('Old');",
        )
        .unwrap();
        ensure(&mut conn).unwrap();
        let names: Vec<String> = master(&conn).into_iter().map(|(_, n, _)| n).collect();
        assert!(names.contains(&"ix_task_id".to_string()), "{names:?}");
        assert!(names.contains(&"task_events".to_string()));
        // the existing table keeps its own (missing) indexes, as create_all leaves it alone
        assert!(!names.contains(&"ix_tasks_name".to_string()));
        let n: Option<String> = conn
            .query_row("SELECT task_id FROM tasks WHERE name = 'Old'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, None);
    }
}

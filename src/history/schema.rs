//! The tables of Luigi's DbTaskHistory, with the DDL text SQLAlchemy emits for SQLite, so
//! `sqlite_master` of a database we create reads the same as one luigid created, and
//! either server can open and extend the other's file.

use rusqlite::{Connection, OptionalExtension};

/// (table, CREATE TABLE, its indexes), in the order SQLAlchemy creates them.
const TABLES: [(&str, &str, &[&str]); 3] = [
    (
        "tasks",
        "CREATE TABLE tasks (\n\tid INTEGER NOT NULL, \n\ttask_id VARCHAR(200), \n\tname VARCHAR(128), \n\thost VARCHAR(128), \n\tPRIMARY KEY (id)\n)",
        &[
            "CREATE INDEX ix_tasks_name ON tasks (name)",
            "CREATE INDEX ix_tasks_task_id ON tasks (task_id)",
        ],
    ),
    (
        "task_parameters",
        "CREATE TABLE task_parameters (\n\ttask_id INTEGER NOT NULL, \n\tname VARCHAR(128) NOT NULL, \n\tvalue TEXT, \n\tPRIMARY KEY (task_id, name), \n\tFOREIGN KEY(task_id) REFERENCES tasks (id)\n)",
        &[],
    ),
    (
        "task_events",
        "CREATE TABLE task_events (\n\tid INTEGER NOT NULL, \n\ttask_id INTEGER, \n\tevent_name VARCHAR(20), \n\tts TIMESTAMP NOT NULL, \n\tPRIMARY KEY (id), \n\tFOREIGN KEY(task_id) REFERENCES tasks (id)\n)",
        &[
            "CREATE INDEX ix_task_events_ts ON task_events (ts)",
            "CREATE INDEX ix_task_events_task_id ON task_events (task_id)",
        ],
    ),
];

fn table_exists(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
}

/// Create the missing tables (with their indexes, as SQLAlchemy's `create_all` does: an
/// existing table is left alone), then apply luigid's startup upgrades.
pub fn ensure(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for (table, ddl, indexes) in TABLES {
        if !table_exists(&tx, table)? {
            tx.execute_batch(ddl)?;
            for idx in indexes {
                tx.execute_batch(idx)?;
            }
        }
    }
    // Databases from Luigi versions before tasks.task_id existed get the column and the
    // index luigid adds for it.
    let mut has_task_id = false;
    let mut value_type = None;
    {
        let mut stmt = tx.prepare("SELECT name, type FROM pragma_table_info(?1)")?;
        for table in ["tasks", "task_parameters"] {
            let rows = stmt.query_map([table], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (name, ty) = row?;
                match (table, name.as_str()) {
                    ("tasks", "task_id") => has_task_id = true,
                    ("task_parameters", "value") => value_type = Some(ty),
                    _ => {}
                }
            }
        }
    }
    if !has_task_id {
        log::warn!("task history: upgrading the schema, adding tasks.task_id");
        tx.execute_batch("ALTER TABLE tasks ADD COLUMN task_id VARCHAR(200)")?;
        tx.execute_batch("CREATE INDEX ix_task_id ON tasks (task_id)")?;
    }
    if let Some(ty) = value_type {
        if ty != "TEXT" {
            log::warn!(
                "task history: task_parameters.value has type {ty}, not TEXT; SQLite cannot \
                 change a column type, use a new database file to get the current schema"
            );
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

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

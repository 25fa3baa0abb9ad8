//! The read queries behind the history pages (run on the reader connection).

use super::backend::{Conn, DbError, Dialect, Val};
use super::time::naive_seconds;

/// Rows per page of every paged table.
pub const PAGE_SIZE: u64 = 100;

/// One page of a longer list; `page` counts from 1.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u64,
}

impl<T> Page<T> {
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(PAGE_SIZE).max(1)
    }
}

fn offset(page: u64) -> i64 {
    (page.saturating_sub(1).saturating_mul(PAGE_SIZE)).min(i64::MAX as u64) as i64
}

/// Column `i` of a row as text (None for NULL or a missing column).
fn text(r: &[Val], i: usize) -> Option<String> {
    r.get(i).and_then(Val::text)
}

fn int(r: &[Val], i: usize) -> i64 {
    r.get(i).and_then(Val::int).unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq)]
pub struct NameRow {
    pub name: String,
    pub records: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordRow {
    /// The record id (luigid's "Task Id" on the detail page).
    pub id: i64,
    /// The Luigi task id.
    pub task_id: Option<String>,
    pub name: Option<String>,
    pub host: Option<String>,
    /// The record's newest event overall (status, ts).
    pub last_status: Option<String>,
    pub last_ts: Option<String>,
    /// In the order they were stored.
    pub params: Vec<(String, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub id: i64,
    pub status: Option<String>,
    pub ts: String,
}

/// One RUNNING event and the event of the same record that followed it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub record_id: i64,
    pub task_id: Option<String>,
    pub started: String,
    pub ended: Option<String>,
    /// The following event's name (DONE, FAILED, PENDING...), None while still running.
    pub outcome: Option<String>,
    pub duration_secs: Option<f64>,
}

pub fn task_names(conn: &mut dyn Conn, page: u64) -> Result<Page<NameRow>, DbError> {
    // One scan of ix_tasks_name; there are few names, so paging happens here.
    let all: Vec<NameRow> = conn
        .query(
            "SELECT name, COUNT(*) FROM tasks WHERE name IS NOT NULL GROUP BY name ORDER BY name",
            &[],
        )?
        .iter()
        .map(|r| NameRow {
            name: text(r, 0).unwrap_or_default(),
            records: int(r, 1).max(0) as u64,
        })
        .collect();
    let total = all.len() as u64;
    let items = all
        .into_iter()
        .skip(offset(page) as usize)
        .take(PAGE_SIZE as usize)
        .collect();
    Ok(Page { items, total, page })
}

/// How a record list is filtered and ordered.
pub enum RecordFilter<'a> {
    /// Records with an event at or after `since` (stored ts text), newest activity first.
    Since(&'a str),
    /// Records of one family, oldest first; records without events are left out.
    Name(&'a str),
    /// As `Name`, with a parameter row equal to each (name, value).
    Params(&'a str, &'a [(String, String)]),
}

pub fn records(
    conn: &mut dyn Conn,
    filter: &RecordFilter<'_>,
    page: u64,
) -> Result<Page<RecordRow>, DbError> {
    let mut args: Vec<Val> = Vec::new();
    let (cond, key, dir) = match filter {
        RecordFilter::Since(ts) => {
            args.push(Val::from(*ts));
            ("e.ts >= ?".to_string(), "MAX", "DESC")
        }
        RecordFilter::Name(name) => {
            args.push(Val::from(*name));
            ("t.name = ?".to_string(), "MIN", "ASC")
        }
        RecordFilter::Params(name, params) => {
            args.push(Val::from(*name));
            let mut cond = "t.name = ?".to_string();
            for (k, v) in params.iter() {
                args.push(Val::from(k.as_str()));
                args.push(Val::from(v.as_str()));
                cond.push_str(
                    " AND EXISTS (SELECT 1 FROM task_parameters p WHERE p.task_id = t.id \
                     AND p.name = ? AND p.value = ?)",
                );
            }
            (cond, "MIN", "ASC")
        }
    };
    let total = conn
        .query_one(
            &format!(
                "SELECT COUNT(DISTINCT t.id) FROM tasks t JOIN task_events e ON e.task_id = t.id \
                 WHERE {cond}"
            ),
            &args,
        )?
        .map_or(0, |r| int(&r, 0));
    // Grouped by every selected column of tasks: MySQL and PostgreSQL want them named.
    let sql = format!(
        "SELECT t.id, t.task_id, t.name, t.host, {key}(e.ts) AS k FROM tasks t \
         JOIN task_events e ON e.task_id = t.id WHERE {cond} \
         GROUP BY t.id, t.task_id, t.name, t.host \
         ORDER BY k {dir}, t.id {dir} LIMIT {} OFFSET {}",
        PAGE_SIZE,
        offset(page)
    );
    let mut items: Vec<RecordRow> = conn
        .query(&sql, &args)?
        .iter()
        .map(|r| RecordRow {
            id: int(r, 0),
            task_id: text(r, 1),
            name: text(r, 2),
            host: text(r, 3),
            last_status: None,
            last_ts: None,
            params: Vec::new(),
        })
        .collect();
    for rec in &mut items {
        fill_record(conn, rec)?;
    }
    Ok(Page {
        items,
        total: total.max(0) as u64,
        page,
    })
}

fn fill_record(conn: &mut dyn Conn, rec: &mut RecordRow) -> Result<(), DbError> {
    let last = conn.query_one(
        "SELECT event_name, ts FROM task_events WHERE task_id = ? \
         ORDER BY ts DESC, id DESC LIMIT 1",
        &[rec.id.into()],
    )?;
    if let Some(r) = last {
        rec.last_status = text(&r, 0);
        rec.last_ts = text(&r, 1);
    }
    // In the order they were stored where the engine can tell (SQLite's rowid,
    // PostgreSQL's row position); InnoDB keeps them in key order.
    let order = match conn.dialect() {
        Dialect::Sqlite => "rowid",
        Dialect::Postgres => "ctid",
        Dialect::Mysql => "name",
    };
    rec.params = conn
        .query(
            &format!("SELECT name, value FROM task_parameters WHERE task_id = ? ORDER BY {order}"),
            &[rec.id.into()],
        )?
        .iter()
        .map(|r| (text(r, 0).unwrap_or_default(), text(r, 1)))
        .collect();
    Ok(())
}

/// One record with its parameters and a page of its events, newest first.
pub fn record(
    conn: &mut dyn Conn,
    id: i64,
    page: u64,
) -> Result<Option<(RecordRow, Page<EventRow>)>, DbError> {
    let rec = conn
        .query_one(
            "SELECT id, task_id, name, host FROM tasks WHERE id = ?",
            &[id.into()],
        )?
        .map(|r| RecordRow {
            id: int(&r, 0),
            task_id: text(&r, 1),
            name: text(&r, 2),
            host: text(&r, 3),
            last_status: None,
            last_ts: None,
            params: Vec::new(),
        });
    let Some(mut rec) = rec else {
        return Ok(None);
    };
    fill_record(conn, &mut rec)?;
    let total = conn
        .query_one(
            "SELECT COUNT(*) FROM task_events WHERE task_id = ?",
            &[id.into()],
        )?
        .map_or(0, |r| int(&r, 0));
    let items = conn
        .query(
            &format!(
                "SELECT id, event_name, ts FROM task_events WHERE task_id = ? \
                 ORDER BY ts DESC, id DESC LIMIT {} OFFSET {}",
                PAGE_SIZE,
                offset(page)
            ),
            &[id.into()],
        )?
        .iter()
        .map(|r| EventRow {
            id: int(r, 0),
            status: text(r, 1),
            ts: text(r, 2).unwrap_or_default(),
        })
        .collect();
    Ok(Some((
        rec,
        Page {
            items,
            total: total.max(0) as u64,
            page,
        },
    )))
}

/// The newest record of a Luigi task id.
pub fn record_id_of_task(conn: &mut dyn Conn, task_id: &str) -> Result<Option<i64>, DbError> {
    Ok(conn
        .query_one(
            "SELECT id FROM tasks WHERE task_id = ? ORDER BY id DESC LIMIT 1",
            &[task_id.into()],
        )?
        .map(|r| int(&r, 0)))
}

/// Runs of one family, newest first: each RUNNING event with the next event of the same
/// record (luigid's chart pairs an event with the one whose id is one greater, which
/// mixes up records written in between; pairing within the record does not).
pub fn runs(conn: &mut dyn Conn, name: &str, page: u64) -> Result<Page<RunRow>, DbError> {
    let total = conn
        .query_one(
            "SELECT COUNT(*) FROM task_events r JOIN tasks t ON t.id = r.task_id \
             WHERE t.name = ? AND r.event_name = 'RUNNING'",
            &[name.into()],
        )?
        .map_or(0, |r| int(&r, 0));
    // The page of RUNNING events first, then the following event of just those.
    let sql = format!(
        "SELECT r.task_id, t.task_id, r.ts, n.event_name, n.ts FROM \
           (SELECT e.id, e.task_id, e.ts FROM task_events e JOIN tasks t ON t.id = e.task_id \
            WHERE t.name = ? AND e.event_name = 'RUNNING' \
            ORDER BY e.ts DESC, e.id DESC LIMIT {} OFFSET {}) r \
         JOIN tasks t ON t.id = r.task_id \
         LEFT JOIN task_events n ON n.id = \
           (SELECT MIN(x.id) FROM task_events x WHERE x.task_id = r.task_id AND x.id > r.id) \
         ORDER BY r.ts DESC, r.id DESC",
        PAGE_SIZE,
        offset(page)
    );
    let items = conn
        .query(&sql, &[name.into()])?
        .iter()
        .map(|r| {
            let started = text(r, 2).unwrap_or_default();
            let outcome = text(r, 3);
            let ended = text(r, 4);
            let duration_secs = match (naive_seconds(&started), ended.as_deref()) {
                (Some(a), Some(e)) => naive_seconds(e).map(|b| b - a),
                _ => None,
            };
            RunRow {
                record_id: int(r, 0),
                task_id: text(r, 1),
                started,
                ended,
                outcome,
                duration_secs,
            }
        })
        .collect();
    Ok(Page {
        items,
        total: total.max(0) as u64,
        page,
    })
}

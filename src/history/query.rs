//! The read queries behind the history pages (run on the reader connection).

use rusqlite::types::ValueRef;
use rusqlite::{params_from_iter, Connection, OptionalExtension};

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

/// A column as text whatever SQLite type it holds (luigid may have stored a non-string
/// parameter value through the driver).
fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    }
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

pub fn task_names(conn: &Connection, page: u64) -> rusqlite::Result<Page<NameRow>> {
    // One scan of ix_tasks_name; there are few names, so paging happens here.
    let mut stmt = conn.prepare_cached(
        "SELECT name, COUNT(*) FROM tasks WHERE name IS NOT NULL GROUP BY name ORDER BY name",
    )?;
    let all: Vec<NameRow> = stmt
        .query_map([], |r| {
            Ok(NameRow {
                name: text(r.get_ref(0)?).unwrap_or_default(),
                records: r.get::<_, i64>(1)?.max(0) as u64,
            })
        })?
        .collect::<Result<_, _>>()?;
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
    conn: &Connection,
    filter: &RecordFilter<'_>,
    page: u64,
) -> rusqlite::Result<Page<RecordRow>> {
    let mut args: Vec<String> = Vec::new();
    let (cond, key, dir) = match filter {
        RecordFilter::Since(ts) => {
            args.push(ts.to_string());
            ("e.ts >= ?1".to_string(), "MAX", "DESC")
        }
        RecordFilter::Name(name) => {
            args.push(name.to_string());
            ("t.name = ?1".to_string(), "MIN", "ASC")
        }
        RecordFilter::Params(name, params) => {
            args.push(name.to_string());
            let mut cond = "t.name = ?1".to_string();
            for (k, v) in params.iter() {
                args.push(k.clone());
                args.push(v.clone());
                cond.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM task_parameters p WHERE p.task_id = t.id \
                     AND p.name = ?{} AND p.value = ?{})",
                    args.len() - 1,
                    args.len()
                ));
            }
            (cond, "MIN", "ASC")
        }
    };
    let total: i64 = conn.query_row(
        &format!(
            "SELECT COUNT(DISTINCT t.id) FROM tasks t JOIN task_events e ON e.task_id = t.id \
             WHERE {cond}"
        ),
        params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let sql = format!(
        "SELECT t.id, t.task_id, t.name, t.host, {key}(e.ts) AS k FROM tasks t \
         JOIN task_events e ON e.task_id = t.id WHERE {cond} GROUP BY t.id \
         ORDER BY k {dir}, t.id {dir} LIMIT {} OFFSET {}",
        PAGE_SIZE,
        offset(page)
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut items: Vec<RecordRow> = stmt
        .query_map(params_from_iter(args.iter()), |r| {
            Ok(RecordRow {
                id: r.get(0)?,
                task_id: text(r.get_ref(1)?),
                name: text(r.get_ref(2)?),
                host: text(r.get_ref(3)?),
                last_status: None,
                last_ts: None,
                params: Vec::new(),
            })
        })?
        .collect::<Result<_, _>>()?;
    for rec in &mut items {
        fill_record(conn, rec)?;
    }
    Ok(Page {
        items,
        total: total.max(0) as u64,
        page,
    })
}

fn fill_record(conn: &Connection, rec: &mut RecordRow) -> rusqlite::Result<()> {
    let last = conn
        .prepare_cached(
            "SELECT event_name, ts FROM task_events WHERE task_id = ?1 \
             ORDER BY ts DESC, id DESC LIMIT 1",
        )?
        .query_row([rec.id], |r| Ok((text(r.get_ref(0)?), text(r.get_ref(1)?))))
        .optional()?;
    if let Some((status, ts)) = last {
        rec.last_status = status;
        rec.last_ts = ts;
    }
    let mut stmt = conn.prepare_cached(
        "SELECT name, value FROM task_parameters WHERE task_id = ?1 ORDER BY rowid",
    )?;
    rec.params = stmt
        .query_map([rec.id], |r| {
            Ok((text(r.get_ref(0)?).unwrap_or_default(), text(r.get_ref(1)?)))
        })?
        .collect::<Result<_, _>>()?;
    Ok(())
}

/// One record with its parameters and a page of its events, newest first.
pub fn record(
    conn: &Connection,
    id: i64,
    page: u64,
) -> rusqlite::Result<Option<(RecordRow, Page<EventRow>)>> {
    let rec = conn
        .query_row(
            "SELECT id, task_id, name, host FROM tasks WHERE id = ?1",
            [id],
            |r| {
                Ok(RecordRow {
                    id: r.get(0)?,
                    task_id: text(r.get_ref(1)?),
                    name: text(r.get_ref(2)?),
                    host: text(r.get_ref(3)?),
                    last_status: None,
                    last_ts: None,
                    params: Vec::new(),
                })
            },
        )
        .optional()?;
    let Some(mut rec) = rec else {
        return Ok(None);
    };
    fill_record(conn, &mut rec)?;
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM task_events WHERE task_id = ?1",
        [id],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, event_name, ts FROM task_events WHERE task_id = ?1 \
         ORDER BY ts DESC, id DESC LIMIT ?2 OFFSET ?3",
    )?;
    let items = stmt
        .query_map([id, PAGE_SIZE as i64, offset(page)], |r| {
            Ok(EventRow {
                id: r.get(0)?,
                status: text(r.get_ref(1)?),
                ts: text(r.get_ref(2)?).unwrap_or_default(),
            })
        })?
        .collect::<Result<_, _>>()?;
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
pub fn record_id_of_task(conn: &Connection, task_id: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM tasks WHERE task_id = ?1 ORDER BY id DESC LIMIT 1",
        [task_id],
        |r| r.get(0),
    )
    .optional()
}

/// Runs of one family, newest first: each RUNNING event with the next event of the same
/// record (luigid's chart pairs an event with the one whose id is one greater, which
/// mixes up records written in between; pairing within the record does not).
pub fn runs(conn: &Connection, name: &str, page: u64) -> rusqlite::Result<Page<RunRow>> {
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM task_events r JOIN tasks t ON t.id = r.task_id \
         WHERE t.name = ?1 AND r.event_name = 'RUNNING'",
        [name],
        |r| r.get(0),
    )?;
    // The page of RUNNING events first, then the following event of just those.
    let mut stmt = conn.prepare_cached(
        "SELECT r.task_id, t.task_id, r.ts, n.event_name, n.ts FROM \
           (SELECT e.id, e.task_id, e.ts FROM task_events e JOIN tasks t ON t.id = e.task_id \
            WHERE t.name = ?1 AND e.event_name = 'RUNNING' \
            ORDER BY e.ts DESC, e.id DESC LIMIT ?2 OFFSET ?3) r \
         JOIN tasks t ON t.id = r.task_id \
         LEFT JOIN task_events n ON n.id = \
           (SELECT x.id FROM task_events x WHERE x.task_id = r.task_id AND x.id > r.id \
            ORDER BY x.id LIMIT 1) \
         ORDER BY r.ts DESC, r.id DESC",
    )?;
    let items = stmt
        .query_map(
            rusqlite::params![name, PAGE_SIZE as i64, offset(page)],
            |r| {
                let started = text(r.get_ref(2)?).unwrap_or_default();
                let outcome = text(r.get_ref(3)?);
                let ended = text(r.get_ref(4)?);
                let duration_secs = match (naive_seconds(&started), ended.as_deref()) {
                    (Some(a), Some(e)) => naive_seconds(e).map(|b| b - a),
                    _ => None,
                };
                Ok(RunRow {
                    record_id: r.get(0)?,
                    task_id: text(r.get_ref(1)?),
                    started,
                    ended,
                    outcome,
                    duration_secs,
                })
            },
        )?
        .collect::<Result<_, _>>()?;
    Ok(Page {
        items,
        total: total.max(0) as u64,
        page,
    })
}

//! The writer thread: owns the write connection and the task-id -> record map, and turns
//! each batch of status events into one transaction.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backend::{Conn, DbError, Dialect, Val};
use super::time::local_naive;
use crate::scheduler::events::Event;

pub use super::backend::file_id;

/// First and longest pause between attempts while the database is unreachable.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// After shutdown is asked, how long the writer still tries an unreachable database
/// before it gives up on what it holds (counted as failed).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What the writer tells the rest of the process, and is told.
#[derive(Default)]
pub struct Shared {
    /// The database is unreachable (the writer is retrying a batch).
    pub down: AtomicBool,
    /// Shutdown: retry only for `STOP_GRACE` more.
    pub stopping: AtomicBool,
}

/// One status event for the database (the `TaskStatus` fields history needs).
#[derive(Debug, Clone)]
pub struct Op {
    pub task_id: String,
    pub family: String,
    pub params: Vec<(String, String)>,
    pub status: String,
    pub host: Option<String>,
    pub now: f64,
}

impl Op {
    /// The write a task-status event stands for; other events record nothing.
    pub fn from_event(e: Event) -> Option<Op> {
        match e {
            Event::TaskStatus {
                task_id,
                family,
                params,
                status,
                host,
                now,
            } => Some(Op {
                task_id,
                family,
                params,
                status,
                host,
                now,
            }),
            _ => None,
        }
    }
}

pub enum Msg {
    Write(Vec<Op>),
    /// Delete up to `max_rows` events with `ts < cutoff`, in transactions of `batch` rows,
    /// then the records left without events.
    Retention {
        cutoff: String,
        batch: usize,
        max_rows: usize,
    },
    /// Answered once every message before it has been applied.
    Flush(SyncSender<()>),
}

/// A record this process created: its row id and the host last written to it.
struct Record {
    id: i64,
    host: Option<String>,
}

pub struct Writer {
    conn: Box<dyn Conn>,
    /// luigid keeps one record per Luigi task id for the life of the process.
    records: HashMap<String, Record>,
    record_ids: HashSet<i64>,
    errors: Arc<AtomicU64>,
    shared: Arc<Shared>,
    /// Failed batches in a row (for sparse logging).
    failing: u64,
    /// Failed attempts in a row while the database is unreachable.
    retrying: u64,
    /// Set once shutdown is asked while the database is unreachable; after it, held
    /// and new batches fail at once instead of being retried.
    stop_deadline: Option<Instant>,
}

/// luigid treats an empty host like no host.
fn real_host(h: &Option<String>) -> Option<&str> {
    h.as_deref().filter(|h| !h.is_empty())
}

impl Writer {
    pub fn new(conn: Box<dyn Conn>, errors: Arc<AtomicU64>) -> Writer {
        Writer {
            conn,
            records: HashMap::new(),
            record_ids: HashSet::new(),
            errors,
            shared: Arc::new(Shared::default()),
            failing: 0,
            retrying: 0,
            stop_deadline: None,
        }
    }

    /// Share the outage and shutdown flags with the [`super::History`] that owns us.
    pub fn with_shared(mut self, shared: Arc<Shared>) -> Writer {
        self.shared = shared;
        self
    }

    fn failed(&mut self, n: usize, e: &dyn std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.failing += 1;
        // The first failure, then every 10th, 100th...: a broken disk must not flood the log.
        if self.failing.is_power_of_two() || self.failing.is_multiple_of(1000) {
            log::warn!(
                "task history: could not write {n} event(s) to the database: {e} \
                 ({} failed batch(es) in a row)",
                self.failing
            );
        }
    }

    /// Written batches go back to the loop through `back` (when given) to be freed
    /// there: with glibc, freeing the loop's allocations on this thread takes the
    /// loop's arena lock and made the loop thread ~30% slower under load.
    pub fn run(mut self, rx: Receiver<Msg>, back: Option<SyncSender<Vec<Op>>>) {
        while let Ok(msg) = rx.recv() {
            match msg {
                Msg::Write(ops) => {
                    self.write(&ops);
                    if let Some(b) = &back {
                        let _ = b.try_send(ops);
                    }
                }
                Msg::Retention {
                    cutoff,
                    batch,
                    max_rows,
                } => {
                    if let Err(e) = self.retention(&cutoff, batch, max_rows) {
                        self.errors.fetch_add(1, Ordering::Relaxed);
                        log::warn!("task history: retention failed: {e}");
                    }
                }
                Msg::Flush(ack) => {
                    let _ = ack.send(());
                }
            }
        }
    }

    /// Apply one batch as one transaction. While the database is unreachable the
    /// batch is kept and retried with backoff (later batches wait in the channel and in
    /// [`super::History`]'s bounded queue); any other error loses the batch, logged and
    /// counted. Either way the in-memory map forgets what a rolled-back transaction
    /// created.
    pub fn write(&mut self, ops: &[Op]) {
        if ops.is_empty() {
            return;
        }
        loop {
            if self.stop_deadline.is_some_and(|d| Instant::now() >= d) {
                self.failed(
                    ops.len(),
                    &"the database stayed unreachable during shutdown",
                );
                return;
            }
            let e = match self.attempt(ops) {
                Ok(()) => {
                    if self.failing > 0 || self.retrying > 0 {
                        log::warn!(
                            "task history: writing again after {} failed batch(es) and {} \
                             retried attempt(s)",
                            self.failing,
                            self.retrying
                        );
                    }
                    self.failing = 0;
                    self.retrying = 0;
                    self.shared.down.store(false, Ordering::Relaxed);
                    return;
                }
                Err(e) => e,
            };
            if e.transient {
                if self.shared.stopping.load(Ordering::Relaxed) && self.stop_deadline.is_none() {
                    self.stop_deadline = Some(Instant::now() + STOP_GRACE);
                }
                self.shared.down.store(true, Ordering::Relaxed);
                self.retrying += 1;
                if self.retrying.is_power_of_two() || self.retrying.is_multiple_of(100) {
                    log::warn!(
                        "task history: the database is unreachable ({e}); holding {} event(s) \
                         and retrying ({} attempt(s) so far)",
                        ops.len(),
                        self.retrying
                    );
                }
                self.pause();
                continue;
            }
            if e.data && ops.len() > 1 {
                // One bad event (a value the server refuses, e.g. longer than its
                // column) must not take the batch's other events with it: write them
                // one by one, so only the refused ones are lost and counted.
                for op in ops {
                    self.write(std::slice::from_ref(op));
                }
                return;
            }
            self.failed(ops.len(), &e);
            return;
        }
    }

    /// The pause before the next attempt: doubling from 100 ms to 2 s, cut short by a
    /// shutdown.
    fn pause(&self) {
        let exp = self.retrying.saturating_sub(1).min(10) as u32;
        let wait = RETRY_FIRST.saturating_mul(1 << exp).min(RETRY_MAX);
        let until = Instant::now() + wait;
        for _ in 0..100 {
            let now = Instant::now();
            if now >= until || self.shared.stopping.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(50)));
        }
    }

    fn attempt(&mut self, ops: &[Op]) -> Result<(), DbError> {
        if self.conn.check()? {
            // Record ids of the old database mean nothing in the new one.
            self.records.clear();
            self.record_ids.clear();
        }
        let mut created: Vec<String> = Vec::new();
        let mut host_changed: Vec<String> = Vec::new();
        let res = self
            .conn
            .begin()
            .and_then(|()| self.write_ops(ops, &mut created, &mut host_changed))
            .and_then(|()| self.conn.commit());
        if res.is_err() {
            self.conn.rollback();
            for id in created {
                if let Some(r) = self.records.remove(&id) {
                    self.record_ids.remove(&r.id);
                }
            }
            // The database still has the old host; make the next host event rewrite it.
            for id in host_changed {
                if let Some(r) = self.records.get_mut(&id) {
                    r.host = None;
                }
            }
        }
        res
    }

    fn write_ops(
        &mut self,
        ops: &[Op],
        created: &mut Vec<String>,
        host_changed: &mut Vec<String>,
    ) -> Result<(), DbError> {
        let ins_param = match self.conn.dialect() {
            Dialect::Sqlite => {
                "INSERT OR REPLACE INTO task_parameters (task_id, name, value) VALUES (?, ?, ?)"
            }
            Dialect::Postgres => {
                "INSERT INTO task_parameters (task_id, name, value) VALUES (?, ?, ?) \
                 ON CONFLICT (task_id, name) DO UPDATE SET value = EXCLUDED.value"
            }
            Dialect::Mysql => {
                "REPLACE INTO task_parameters (task_id, name, value) VALUES (?, ?, ?)"
            }
        };
        for op in ops {
            let host = real_host(&op.host);
            let record_id = match self.records.get_mut(&op.task_id) {
                Some(rec) => {
                    if let Some(h) = host {
                        if rec.host.as_deref() != Some(h) {
                            self.conn.exec(
                                "UPDATE tasks SET host = ? WHERE id = ?",
                                &[h.into(), rec.id.into()],
                            )?;
                            rec.host = Some(h.to_string());
                            host_changed.push(op.task_id.clone());
                        }
                    }
                    rec.id
                }
                None => {
                    let id = self.conn.insert_id(
                        "INSERT INTO tasks (task_id, name, host) VALUES (?, ?, ?)",
                        &[
                            op.task_id.as_str().into(),
                            op.family.as_str().into(),
                            host.into(),
                        ],
                    )?;
                    for (k, v) in &op.params {
                        self.conn.exec(
                            ins_param,
                            &[id.into(), k.as_str().into(), v.as_str().into()],
                        )?;
                    }
                    self.records.insert(
                        op.task_id.clone(),
                        Record {
                            id,
                            host: host.map(str::to_string),
                        },
                    );
                    self.record_ids.insert(id);
                    created.push(op.task_id.clone());
                    id
                }
            };
            self.conn.exec(
                "INSERT INTO task_events (task_id, event_name, ts) VALUES (?, ?, ?)",
                &[
                    record_id.into(),
                    op.status.as_str().into(),
                    Val::Text(local_naive(op.now)),
                ],
            )?;
        }
        Ok(())
    }

    /// Delete old events in short transactions (so luigid or a reader sharing the
    /// database is never locked out for long), then the records that have no events
    /// left and that this process will not write to again.
    pub fn retention(
        &mut self,
        cutoff: &str,
        batch: usize,
        max_rows: usize,
    ) -> Result<usize, DbError> {
        self.conn.check()?;
        let batch = batch.max(1);
        let mut deleted = 0usize;
        while deleted < max_rows {
            let n = batch.min(max_rows - deleted);
            let sql = match self.conn.dialect() {
                // MySQL takes no LIMIT in an IN subquery, but a DELETE may have one.
                Dialect::Mysql => {
                    format!("DELETE FROM task_events WHERE ts < ? ORDER BY ts LIMIT {n}")
                }
                _ => format!(
                    "DELETE FROM task_events WHERE id IN \
                     (SELECT id FROM task_events WHERE ts < ? ORDER BY ts LIMIT {n})"
                ),
            };
            let done = self.conn.exec(&sql, &[cutoff.into()])? as usize;
            deleted += done;
            if done < n {
                break;
            }
        }
        // Records without events: luigid's pages never show them except in /tasklist.
        for _ in 0..=max_rows / batch {
            let limit = batch + self.record_ids.len();
            let ids: Vec<i64> = self
                .conn
                .query(
                    &format!(
                        "SELECT t.id FROM tasks t WHERE NOT EXISTS \
                         (SELECT 1 FROM task_events e WHERE e.task_id = t.id) ORDER BY t.id LIMIT {limit}"
                    ),
                    &[],
                )?
                .iter()
                .filter_map(|r| r.first().and_then(Val::int))
                .collect();
            let candidates: Vec<i64> = ids
                .iter()
                .copied()
                .filter(|id| !self.record_ids.contains(id))
                .take(batch)
                .collect();
            if candidates.is_empty() {
                break;
            }
            self.conn.begin()?;
            let r = self
                .delete_orphans(&candidates)
                .and_then(|()| self.conn.commit());
            if r.is_err() {
                self.conn.rollback();
            }
            r?;
            if ids.len() < limit {
                break;
            }
        }
        Ok(deleted)
    }

    fn delete_orphans(&mut self, candidates: &[i64]) -> Result<(), DbError> {
        for id in candidates {
            let events = self
                .conn
                .query_one(
                    "SELECT COUNT(*) FROM task_events WHERE task_id = ?",
                    &[(*id).into()],
                )?
                .and_then(|r| r.first().and_then(Val::int))
                .unwrap_or(1);
            if events == 0 {
                // Parameters first: the foreign keys may be enforced.
                self.conn.exec(
                    "DELETE FROM task_parameters WHERE task_id = ?",
                    &[(*id).into()],
                )?;
                self.conn
                    .exec("DELETE FROM tasks WHERE id = ?", &[(*id).into()])?;
            }
        }
        Ok(())
    }
}

//! The writer thread: owns the write connection and the task-id -> record map, and turns
//! each batch of status events into one transaction.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use rusqlite::{params, Connection, TransactionBehavior};

use super::time::local_naive;
use crate::scheduler::events::Event;

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
    conn: Connection,
    /// luigid keeps one record per Luigi task id for the life of the process.
    records: HashMap<String, Record>,
    record_ids: HashSet<i64>,
    errors: Arc<AtomicU64>,
    /// The database file and its (device, inode) when opened, when watched.
    path: Option<PathBuf>,
    file: Option<(u64, u64)>,
    /// Failed batches in a row (for sparse logging).
    failing: u64,
}

/// (device, inode) of the file at `path`, None when there is none.
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// luigid treats an empty host like no host.
fn real_host(h: &Option<String>) -> Option<&str> {
    h.as_deref().filter(|h| !h.is_empty())
}

impl Writer {
    pub fn new(conn: Connection, errors: Arc<AtomicU64>) -> Writer {
        Writer {
            conn,
            records: HashMap::new(),
            record_ids: HashSet::new(),
            errors,
            path: None,
            file: None,
            failing: 0,
        }
    }

    /// Check before each batch that `path` is still the file the connection has open.
    /// SQLite goes on writing to a deleted file without an error, so deleting the
    /// database (or its directory) would lose every later event silently.
    pub fn watch_file(mut self, path: PathBuf) -> Writer {
        self.file = file_id(&path);
        self.path = Some(path);
        self
    }

    /// Reopen at the watched path when the file there is not the one open.
    fn check_file(&mut self) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let now = file_id(path);
        if now.is_some() && now == self.file {
            return Ok(());
        }
        match super::open_writer_connection(path) {
            Ok(conn) => {
                log::warn!(
                    "task history: {} was deleted or replaced while in use; recording into \
                     a new database there",
                    path.display()
                );
                self.conn = conn;
                // Record ids of the old file mean nothing in the new one.
                self.records.clear();
                self.record_ids.clear();
                self.file = file_id(path);
                Ok(())
            }
            Err(e) => Err(format!("the database file is gone: {e}")),
        }
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

    /// Apply one batch; on a database error the batch is lost, logged and counted, and
    /// the in-memory map forgets what the rolled-back transaction created.
    pub fn write(&mut self, ops: &[Op]) {
        if ops.is_empty() {
            return;
        }
        if let Err(e) = self.check_file() {
            self.failed(ops.len(), &e);
            return;
        }
        let mut created: Vec<String> = Vec::new();
        let mut host_changed: Vec<String> = Vec::new();
        let res = self.write_tx(ops, &mut created, &mut host_changed);
        if let Err(e) = res {
            self.failed(ops.len(), &e);
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
        } else if self.failing > 0 {
            log::warn!(
                "task history: writing again after {} failed batch(es)",
                self.failing
            );
            self.failing = 0;
        }
    }

    fn write_tx(
        &mut self,
        ops: &[Op],
        created: &mut Vec<String>,
        host_changed: &mut Vec<String>,
    ) -> rusqlite::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut ins_task =
                tx.prepare_cached("INSERT INTO tasks (task_id, name, host) VALUES (?1, ?2, ?3)")?;
            let mut ins_param = tx.prepare_cached(
                "INSERT OR REPLACE INTO task_parameters (task_id, name, value) VALUES (?1, ?2, ?3)",
            )?;
            let mut ins_event = tx.prepare_cached(
                "INSERT INTO task_events (task_id, event_name, ts) VALUES (?1, ?2, ?3)",
            )?;
            let mut upd_host = tx.prepare_cached("UPDATE tasks SET host = ?1 WHERE id = ?2")?;
            for op in ops {
                let host = real_host(&op.host);
                let record_id = match self.records.get_mut(&op.task_id) {
                    Some(rec) => {
                        if let Some(h) = host {
                            if rec.host.as_deref() != Some(h) {
                                upd_host.execute(params![h, rec.id])?;
                                rec.host = Some(h.to_string());
                                host_changed.push(op.task_id.clone());
                            }
                        }
                        rec.id
                    }
                    None => {
                        ins_task.execute(params![op.task_id, op.family, host])?;
                        let id = tx.last_insert_rowid();
                        for (k, v) in &op.params {
                            ins_param.execute(params![id, k, v])?;
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
                ins_event.execute(params![record_id, op.status, local_naive(op.now)])?;
            }
        }
        tx.commit()
    }

    /// Delete old events in short transactions (so luigid or a reader sharing the file
    /// is never locked out for long), then the records that have no events left and that
    /// this process will not write to again.
    pub fn retention(
        &mut self,
        cutoff: &str,
        batch: usize,
        max_rows: usize,
    ) -> rusqlite::Result<usize> {
        let batch = batch.max(1);
        let mut deleted = 0usize;
        while deleted < max_rows {
            let n = self.conn.execute(
                "DELETE FROM task_events WHERE id IN \
                 (SELECT id FROM task_events WHERE ts < ?1 ORDER BY ts LIMIT ?2)",
                params![cutoff, batch.min(max_rows - deleted) as i64],
            )?;
            deleted += n;
            if n < batch {
                break;
            }
        }
        // Records without events: luigid's pages never show them except in /tasklist.
        for _ in 0..=max_rows / batch {
            let ids: Vec<i64> = {
                let mut stmt = self.conn.prepare_cached(
                    "SELECT t.id FROM tasks t WHERE NOT EXISTS \
                     (SELECT 1 FROM task_events e WHERE e.task_id = t.id) ORDER BY t.id LIMIT ?1",
                )?;
                let rows =
                    stmt.query_map([batch as i64 + self.record_ids.len() as i64], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let candidates: Vec<i64> = ids
                .iter()
                .copied()
                .filter(|id| !self.record_ids.contains(id))
                .take(batch)
                .collect();
            if candidates.is_empty() {
                break;
            }
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                // Parameters first: the bundled SQLite enforces the foreign keys.
                let mut orphan = tx.prepare_cached(
                    "SELECT NOT EXISTS (SELECT 1 FROM task_events e WHERE e.task_id = ?1)",
                )?;
                let mut del_p =
                    tx.prepare_cached("DELETE FROM task_parameters WHERE task_id = ?1")?;
                let mut del_t = tx.prepare_cached("DELETE FROM tasks WHERE id = ?1")?;
                for id in &candidates {
                    if orphan.query_row([id], |r| r.get::<_, bool>(0))? {
                        del_p.execute([id])?;
                        del_t.execute([id])?;
                    }
                }
            }
            tx.commit()?;
            if ids.len() < batch + self.record_ids.len() {
                break;
            }
        }
        Ok(deleted)
    }
}

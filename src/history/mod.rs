//! Task history in SQLite, PostgreSQL or MySQL/MariaDB, compatible with luigid's
//! `DbTaskHistory` (luigi/db_task_history.py), and the history pages.
//!
//! # Layout
//! - [`url`]: `[task_history] db_connection` (SQLAlchemy URLs), the password masked.
//! - [`backend`]: one connection interface over the three engines (rusqlite, postgres,
//!   mysql), errors marked transient when the server is away.
//! - [`tls`]: TLS towards the servers (rustls), with libpq's and the MySQL drivers'
//!   verification modes ([`url::Tls`]).
//! - [`schema`]: the three tables with the DDL SQLAlchemy emits on each engine, and
//!   luigid's upgrades.
//! - [`writer`]: the writer thread: task-id -> record map, one transaction per batch.
//! - [`query`]: the read queries behind the pages.
//! - [`pages`]: `/tasklist*` and `/history*` as HTML (every value escaped) or JSON.
//! - [`time`]: local naive timestamps in SQLAlchemy's SQLite text form.
//!
//! # Why a writer thread
//! The loop hands each iteration's status events to [`History::record`] (or
//! [`History::record_owned`]), which only turns them into one message on a bounded
//! channel (`try_send`, never blocking). A thread that owns the write connection makes
//! each message one transaction. Measured for a burst of 10,000 events on the shared
//! 2-core development machine (`cargo bench --bench scale_tools -- burst_cost`, min of
//! 5 rounds):
//! - loop thread, `record(&events)`: 3.2 ms (copying the events), `record_owned`:
//!   0.15 ms; the same burst as 1000 iterations of 10: 4.7 ms in total;
//! - the writer, one transaction of 10,000: 24 ms; 1000 transactions of 10: 63 ms.
//!
//! Batching on the loop thread would cost the loop those 24-63 ms (more when the disk
//! syncs, and up to the busy timeout when luigid or a backup holds the file); with the
//! thread the loop pays the hand-over only.
//!
//! When the writer falls behind and the channel is full, batches wait in a local queue
//! (bounded to [`OVERFLOW_MAX_EVENTS`]) and are handed over on the next call; past that
//! bound events are dropped, logged and counted in [`History::error_count`]. A failed
//! transaction is logged and counted too; the scheduler never sees it. Before each batch
//! the writer checks that the file at the path is still the one it has open (SQLite
//! writes on into a deleted file without an error): when it is gone, batches fail and
//! are counted until a new database can be created there.
//!
//! Throughput with history on stays at 95-96% of off for add_task + get_work through
//! the release binary (`cargo bench --bench scale_tools -- history_throughput`).
//!
//! The pages read through a second connection (WAL lets it read while the writer
//! writes). Before answering, a page waits briefly for the writer to apply what was
//! already recorded, so a page shows the events of the requests before it, as luigid's.
//!
//! Pages run their queries on the loop thread: on a database of 900,000 events and
//! 300,000 records, one page takes 0.1 ms (a record) to 20-60 ms (a family's runs);
//! every list is paged, so the cost does not grow with the page count. On a server the
//! pages' connection has a 2 s connect timeout and a 3 s statement timeout, and after a
//! failed connection attempt pages answer 503 at once for 5 s, so an unreachable server
//! costs the loop one connection attempt per 5 s at most (`backend::Pause`).
//!
//! # Outages (servers)
//! A server that is stopped, restarting or unreachable fails a batch with a transient
//! error: the writer rolls back, keeps the batch and retries with backoff (0.1 s doubling
//! to 2 s), reconnecting each time. Meanwhile later batches wait in the channel and the
//! local queue; events beyond [`OVERFLOW_MAX_EVENTS`] are dropped, counted in
//! [`History::dropped_events`] and logged once per overflow. The loop's timer
//! ([`History::pump`]) hands the queue over as the writer catches up. At shutdown the
//! writer keeps retrying for 10 s more, then counts what it holds as failed.
//!
//! # Record semantics (as luigid)
//! One `tasks` row per Luigi task id per server process, created on its first event
//! with the family, the host when the event has one, and one `task_parameters` row per
//! parameter (never updated). Every event appends a `task_events` row whose `ts` is the
//! event's time as local naive text with microseconds. A later event with a host
//! rewrites the record's host.

pub mod backend;
pub mod pages;
pub mod query;
pub mod schema;
pub mod time;
pub mod tls;
pub mod url;
pub mod writer;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::Ini;
use crate::scheduler::events::Event;
use backend::{Conn, SqliteConn};
use url::DbUrl;
use writer::{Msg, Op, Shared, Writer};

pub use pages::handle_page;

/// Messages (one per loop iteration) the channel holds before batches queue locally.
const CHANNEL_CAPACITY: usize = 1024;
/// Events held locally while the channel is full; beyond this, new batches are dropped.
pub const OVERFLOW_MAX_EVENTS: usize = 200_000;
/// Events one retention run deletes at most, and per transaction.
const RETENTION_MAX_ROWS: usize = 20_000;
const RETENTION_BATCH: usize = 500;
/// How long a page waits for the writer to catch up before reading anyway.
const PAGE_SYNC_WAIT: Duration = Duration::from_secs(1);
/// How long `flush` waits at most, and while the database is unreachable.
const FLUSH_WAIT: Duration = Duration::from_secs(30);
const FLUSH_WAIT_DOWN: Duration = Duration::from_secs(5);

/// Default database when history is on and `[task_history] db_connection` is not set.
pub const DEFAULT_DB_CONNECTION: &str = "sqlite:///luigi-task-hist.db";

/// A startup error; the message names the setting or file to fix. URLs in it are shown
/// with the password masked.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryError {
    /// `[task_history] db_connection` is not a URL we can use.
    Url(String),
    /// The retention setting is not a positive number of days.
    Retention(String),
    /// The database could not be opened or its schema created; `what` is the file or
    /// the masked URL.
    Open { what: String, message: String },
    /// The writer thread could not be started.
    Thread(String),
}

impl std::fmt::Display for HistoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HistoryError::Url(m) | HistoryError::Retention(m) => f.write_str(m),
            HistoryError::Open { what, message } => write!(
                f,
                "task history database {what}: {message} (from [task_history] db_connection)"
            ),
            HistoryError::Thread(m) => write!(f, "task history writer thread: {m}"),
        }
    }
}

impl std::error::Error for HistoryError {}

/// The file an SQLAlchemy SQLite URL names: `sqlite:///relative.db` (relative to the
/// working directory) or `sqlite:////absolute.db`. Server URLs are refused here; see
/// [`url::parse`] for all of them.
pub fn parse_db_connection(url: &str) -> Result<PathBuf, HistoryError> {
    match url::parse(url).map_err(HistoryError::Url)? {
        DbUrl::Sqlite(p) => Ok(p),
        DbUrl::Net(n) => Err(HistoryError::Url(format!(
            "[task_history] db_connection = {:?} is a database server, not an SQLite file",
            n.to_string()
        ))),
    }
}

#[derive(Default)]
struct Overflow {
    queue: VecDeque<Vec<Op>>,
    events: usize,
}

/// The task history database: a writer thread fed by [`History::record`], a reader
/// connection for the pages.
pub struct History {
    tx: Option<SyncSender<Msg>>,
    overflow: Mutex<Overflow>,
    /// Batches the writer is done with, freed on the loop thread (see [`Writer::run`]).
    written: Mutex<Receiver<Vec<Op>>>,
    /// Failed transactions (counted by the writer) and dropped batches.
    errors: Arc<AtomicU64>,
    /// Events dropped because the queue was full (`luigid_history_dropped_events_total`).
    dropped: AtomicU64,
    /// The queue is overflowing now (its first drop was logged).
    dropping: AtomicBool,
    /// The writer's outage flag and our shutdown flag.
    shared: Arc<Shared>,
    /// The pages' connection.
    reader: Mutex<Box<dyn Conn>>,
    thread: Option<JoinHandle<()>>,
    retention_days: Option<f64>,
    url: DbUrl,
    /// [`OVERFLOW_MAX_EVENTS`]; smaller in tests.
    overflow_max: usize,
}

/// luigid's history has hooks for scheduled (PENDING), started (RUNNING) and finished
/// (DONE / FAILED) only.
fn recorded(e: &Event) -> bool {
    matches!(e, Event::TaskStatus { status, .. }
        if matches!(status.as_str(), "PENDING" | "RUNNING" | "DONE" | "FAILED"))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_err(what: &dyn std::fmt::Display, e: impl std::fmt::Display) -> HistoryError {
    HistoryError::Open {
        what: what.to_string(),
        message: e.to_string(),
    }
}

/// The locked reader connection (derefs to the [`Conn`]).
pub(crate) struct ReaderGuard<'a>(MutexGuard<'a, Box<dyn Conn>>);

impl std::ops::Deref for ReaderGuard<'_> {
    type Target = dyn Conn + 'static;
    fn deref(&self) -> &Self::Target {
        &**self.0
    }
}

impl std::ops::DerefMut for ReaderGuard<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut **self.0
    }
}

impl History {
    /// Open the database `db_connection` names (an SQLite file, created when missing,
    /// in WAL mode; or a PostgreSQL / MySQL / MariaDB server), create missing tables,
    /// and start the writer thread. `retention_days`: delete events older than that
    /// when [`History::run_retention`] runs (None: keep all).
    pub fn open(db_connection: &str, retention_days: Option<f64>) -> Result<History, HistoryError> {
        let url = url::parse(db_connection).map_err(HistoryError::Url)?;
        if let Some(d) = retention_days {
            if !(d.is_finite() && d > 0.0) {
                return Err(HistoryError::Retention(format!(
                    "[luigid_rs] history_retention_days = {d} is not a positive number of days"
                )));
            }
        }
        let (mut conn, reader): (Box<dyn Conn>, Box<dyn Conn>) = match &url {
            DbUrl::Sqlite(path) => {
                let w = SqliteConn::open_writer(path).map_err(|e| open_err(&path.display(), e))?;
                let r = SqliteConn::open_reader(path).map_err(|e| open_err(&path.display(), e))?;
                (Box::new(w), Box::new(r))
            }
            DbUrl::Net(n) => {
                let w = backend::connect(n, false).map_err(|e| open_err(n, e))?;
                let r = backend::connect(n, true).map_err(|e| open_err(n, e))?;
                (w, r)
            }
        };
        if let DbUrl::Net(n) = &url {
            schema::ensure(&mut *conn).map_err(|e| open_err(n, e))?;
        }

        let errors = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Shared::default());
        let (tx, rx) = sync_channel::<Msg>(CHANNEL_CAPACITY);
        let (back_tx, back_rx) = sync_channel::<Vec<Op>>(CHANNEL_CAPACITY);
        let w = Writer::new(conn, errors.clone()).with_shared(shared.clone());
        let thread = std::thread::Builder::new()
            .name("history-writer".to_string())
            .spawn(move || w.run(rx, Some(back_tx)))
            .map_err(|e| HistoryError::Thread(e.to_string()))?;
        Ok(History {
            tx: Some(tx),
            overflow: Mutex::new(Overflow::default()),
            written: Mutex::new(back_rx),
            errors,
            dropped: AtomicU64::new(0),
            dropping: AtomicBool::new(false),
            shared,
            reader: Mutex::new(reader),
            thread: Some(thread),
            retention_days,
            url,
            overflow_max: OVERFLOW_MAX_EVENTS,
        })
    }

    /// [`History::open`] for a plain file path (e.g. a `--history-db` flag).
    pub fn open_path(path: &Path, retention_days: Option<f64>) -> Result<History, HistoryError> {
        History::open(&format!("sqlite:///{}", path.display()), retention_days)
    }

    /// History as luigid.cfg asks: `[scheduler] record_task_history` (default false),
    /// `[task_history] db_connection` (default [`DEFAULT_DB_CONNECTION`]) and our
    /// `[luigid_rs] history_retention_days` (default off; 0 also means off). With
    /// retention on, one retention run is queued at once.
    pub fn from_ini(ini: &Ini) -> Result<Option<History>, String> {
        if !ini
            .get_bool("scheduler", "record_task_history", false)
            .map_err(|e| e.to_string())?
        {
            return Ok(None);
        }
        let url = ini
            .get("task_history", "db_connection")
            .unwrap_or(DEFAULT_DB_CONNECTION)
            .to_string();
        let days = match ini.get("luigid_rs", "history_retention_days") {
            None => None,
            Some(_) => {
                let d = ini
                    .get_f64("luigid_rs", "history_retention_days", 0.0)
                    .map_err(|e| e.to_string())?;
                if d == 0.0 {
                    None
                } else {
                    Some(d)
                }
            }
        };
        let h = History::open(&url, days).map_err(|e| e.to_string())?;
        // The first timer run is a prune interval away; a server restarted often would
        // otherwise never trim, so trim once at startup too.
        h.run_retention(crate::clock::unix_now());
        Ok(Some(h))
    }

    /// Where history is kept (shown with the password masked).
    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    pub fn retention_days(&self) -> Option<f64> {
        self.retention_days
    }

    /// Hand the status events of one loop iteration to the writer; other events, and
    /// statuses luigid's history never records (DISABLED, UNKNOWN...), are ignored.
    /// Never blocks.
    pub fn record(&self, events: &[Event]) {
        self.record_owned(events.iter().filter(|e| recorded(e)).cloned().collect());
    }

    /// [`History::record`] taking the drained events by value, which saves copying
    /// them (0.15 ms instead of 3.2 ms on the loop for a burst of 10,000).
    pub fn record_owned(&self, events: Vec<Event>) {
        let ops: Vec<Op> = events
            .into_iter()
            .filter(recorded)
            .filter_map(Op::from_event)
            .collect();
        self.send(ops);
    }

    /// Hand what waits in the local queue to the writer as far as the channel has room
    /// (from the loop's timer, so a queue filled during an outage drains without new
    /// events). Never blocks.
    pub fn pump(&self) {
        self.send(Vec::new());
    }

    fn send(&self, ops: Vec<Op>) {
        {
            let back = lock(&self.written);
            while let Ok(done) = back.try_recv() {
                drop(done);
            }
        }
        let mut ov = lock(&self.overflow);
        if ops.is_empty() && ov.queue.is_empty() {
            return;
        }
        let Some(tx) = &self.tx else {
            return;
        };
        // Keep the order: what waits locally goes first.
        while let Some(front) = ov.queue.pop_front() {
            let n = front.len();
            match tx.try_send(Msg::Write(front)) {
                Ok(()) => ov.events -= n,
                Err(TrySendError::Full(Msg::Write(b))) => {
                    ov.queue.push_front(b);
                    break;
                }
                Err(_) => {
                    self.writer_gone(&mut ov);
                    return;
                }
            }
        }
        if ops.is_empty() {
            return;
        }
        if ov.queue.is_empty() {
            match tx.try_send(Msg::Write(ops)) {
                Ok(()) => {}
                Err(TrySendError::Full(Msg::Write(b))) => self.queue_locally(&mut ov, b),
                Err(_) => self.writer_gone(&mut ov),
            }
        } else {
            self.queue_locally(&mut ov, ops);
        }
    }

    fn queue_locally(&self, ov: &mut Overflow, ops: Vec<Op>) {
        if ov.events + ops.len() > self.overflow_max {
            self.errors.fetch_add(1, Ordering::Relaxed);
            self.dropped.fetch_add(ops.len() as u64, Ordering::Relaxed);
            // Once per overflow, not per dropped batch: the queue stays full for as long
            // as the database is away.
            if !self.dropping.swap(true, Ordering::Relaxed) {
                log::warn!(
                    "task history: the database writer is {} events behind (the queue is \
                     full); dropping new events until it catches up (counted in \
                     luigid_history_dropped_events_total)",
                    ov.events
                );
            }
            return;
        }
        if ov.queue.is_empty() && self.dropping.swap(false, Ordering::Relaxed) {
            log::warn!(
                "task history: the queue has room again; {} event(s) dropped so far",
                self.dropped.load(Ordering::Relaxed)
            );
        }
        ov.events += ops.len();
        ov.queue.push_back(ops);
    }

    fn writer_gone(&self, ov: &mut Overflow) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        log::warn!("task history: the writer thread has stopped; events are not recorded");
        ov.queue.clear();
        ov.events = 0;
    }

    /// Wait (up to `wait`) until everything recorded so far is in the database. Never
    /// blocks longer than `wait`, even when the writer is stuck on an unreachable server.
    fn sync(&self, wait: Duration) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        let deadline = std::time::Instant::now() + wait;
        // Bounded by the deadline: at most one 5 ms pause per try.
        // Err(Some(msg)): timed out, the message comes back; Err(None): no writer.
        let send = |mut msg: Msg| -> Result<(), Option<Msg>> {
            loop {
                match tx.try_send(msg) {
                    Ok(()) => return Ok(()),
                    Err(TrySendError::Full(m)) => {
                        if std::time::Instant::now() >= deadline {
                            return Err(Some(m));
                        }
                        msg = m;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(TrySendError::Disconnected(_)) => return Err(None),
                }
            }
        };
        {
            let mut ov = lock(&self.overflow);
            while let Some(front) = ov.queue.pop_front() {
                let n = front.len();
                match send(Msg::Write(front)) {
                    Ok(()) => ov.events -= n,
                    Err(None) => {
                        self.writer_gone(&mut ov);
                        return false;
                    }
                    Err(Some(Msg::Write(b))) => {
                        // Timed out: the batch stays first in the queue.
                        ov.queue.push_front(b);
                        return false;
                    }
                    Err(Some(_)) => return false,
                }
            }
        }
        let (ack_tx, ack_rx) = sync_channel(1);
        if send(Msg::Flush(ack_tx)).is_err() {
            return false;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match ack_rx.recv_timeout(left) {
            Ok(()) => true,
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => false,
        }
    }

    /// Block until everything recorded so far is written (or failed and was counted).
    /// For shutdown and tests; false when the writer did not answer within 30 s.
    pub fn flush(&self) -> bool {
        // An unreachable server would hold the shutdown for the whole wait; the writer
        // still retries for a while when the History is dropped.
        let wait = if self.database_down() {
            FLUSH_WAIT_DOWN
        } else {
            FLUSH_WAIT
        };
        self.sync(wait)
    }

    /// Before a page reads: let the writer catch up, briefly. Never blocks on a full
    /// channel (the writer is far behind then, and the page shows what is written).
    pub(crate) fn sync_for_read(&self) {
        let Some(tx) = &self.tx else {
            return;
        };
        // The writer is waiting for an unreachable database: it would not answer.
        if self.shared.down.load(Ordering::Relaxed) {
            return;
        }
        if !lock(&self.overflow).queue.is_empty() {
            return;
        }
        let (ack_tx, ack_rx) = sync_channel(1);
        if tx.try_send(Msg::Flush(ack_tx)).is_ok() {
            let _ = ack_rx.recv_timeout(PAGE_SYNC_WAIT);
        }
    }

    /// Database errors and dropped batches since start.
    pub fn error_count(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Events dropped because the bounded queue was full, since start.
    pub fn dropped_events(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The writer is retrying an unreachable database now.
    pub fn database_down(&self) -> bool {
        self.shared.down.load(Ordering::Relaxed)
    }

    /// Queue one retention run (from a timer): deletes up to 20,000 events older than
    /// the retention period in transactions of 500, then the records left without
    /// events (except those this process still writes to). No-op when retention is off
    /// or the writer is busy (the next timer tries again). True when queued.
    pub fn run_retention(&self, now: f64) -> bool {
        let (Some(days), Some(tx)) = (self.retention_days, &self.tx) else {
            return false;
        };
        let cutoff = time::local_naive(now - days * 86_400.0);
        tx.try_send(Msg::Retention {
            cutoff,
            batch: RETENTION_BATCH,
            max_rows: RETENTION_MAX_ROWS,
        })
        .is_ok()
    }

    /// The pages' connection, made usable first: SQLite reopens when the file was
    /// deleted or replaced (it would go on reading the old, unlinked file); a server
    /// connection is made again after an outage (at most one attempt per few seconds,
    /// so that pages answer at once while the server is away).
    pub(crate) fn reader(&self) -> Result<ReaderGuard<'_>, backend::DbError> {
        let mut g = lock(&self.reader);
        if let Err(e) = g.check() {
            if matches!(self.url, DbUrl::Sqlite(_)) {
                // Read on from what is open, as before.
                log::warn!("task history: {e}");
            } else {
                return Err(e);
            }
        }
        Ok(ReaderGuard(g))
    }
}

impl Drop for History {
    /// Hand over what waits locally, then let the writer finish and stop.
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        if let Some(tx) = self.tx.take() {
            let mut ov = lock(&self.overflow);
            while let Some(front) = ov.queue.pop_front() {
                if tx.send(Msg::Write(front)).is_err() {
                    break;
                }
            }
            drop(tx);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests;

//! Durable scheduler state: periodic snapshots plus a write-ahead journal of every
//! state-changing call, so that a SIGKILL, an OOM kill or (with `always`) a power cut
//! loses nothing that was acknowledged.
//!
//! The scheduler is deterministic given (method, arguments, now), so the journal holds
//! exactly that, and recovery is: load the snapshot, replay the journal generations from
//! the snapshot's `journal_gen` on. The App decides what to record (mutating calls, and a
//! `prune` whenever a prune changed something) and when to flush (once per loop
//! iteration, before that iteration's replies are written: group commit).
//!
//! Snapshots of a large state are written by a forked child from its copy-on-write image
//! of the process, as Redis does: the loop only pays for the fork, never for the
//! serialization or the disk. Before forking, appends move to a new journal generation,
//! so the child's image and the journal split cleanly; old generations are deleted only
//! once the new snapshot is safely renamed into place.
//!
//! # When the disk fails
//! Nothing is acknowledged that is not kept. Journal space is reserved ahead of the
//! appends ([`journal::RESERVE_STEP`]), so a full disk is found by [`Persistence::admit`]
//! before a call is applied, and the call is refused. A write or fsync that fails anyway
//! (EIO, a filesystem without reservations) fails the whole loop iteration: its replies
//! become 503s, and after a failed append the App rebuilds its state from the files, so
//! that what it serves is what a restart would rebuild. Either way writes stay blocked
//! ([`Persistence::writes_blocked`]) until a retry on the tick succeeds: the torn journal
//! is cut back to its last whole record and appends continue in a fresh generation, so no
//! record ever follows a torn one.

pub mod check;
pub mod dump;
pub mod faults;
pub mod journal;
pub mod lock;
pub mod pickle;
pub mod snapshot;
pub use snapshot::SnapshotBody;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::{ConfigError, Ini};
use faults::Faults;
use journal::JournalWriter;
use lock::StateLock;

/// When journal appends reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fdatasync before the replies of each loop iteration leave (group commit).
    Always,
    /// Appended before replies leave (so a process crash loses nothing), fdatasync'ed at
    /// most once a second (a power cut may lose about a second).
    EverySec,
    /// No journal: a snapshot at shutdown only, as luigid.
    Off,
}

#[derive(Debug, Clone)]
pub struct PersistConfig {
    pub state_path: PathBuf,
    pub durability: Durability,
    /// Take a snapshot when this many seconds passed since the last one and the journal
    /// has records.
    pub snapshot_interval: f64,
    /// Take a snapshot when the journal grows beyond this many bytes.
    pub snapshot_journal_bytes: u64,
    /// Start with an empty state when the snapshot is unusable (it is moved aside).
    pub start_empty: bool,
    /// Write periodic snapshots from a forked child (false: on the loop thread).
    pub fork_snapshots: bool,
}

impl PersistConfig {
    /// `[scheduler] state_path` and our `[luigid_rs]` keys `durability`,
    /// `snapshot_interval`, `snapshot_journal_bytes`, `start_empty`, `fork_snapshots`.
    pub fn from_ini(ini: &Ini) -> Result<PersistConfig, ConfigError> {
        let durability = match ini
            .get_str("luigid_rs", "durability", "everysec")
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "always" => Durability::Always,
            "everysec" => Durability::EverySec,
            "off" => Durability::Off,
            other => {
                return Err(ConfigError(format!(
                    "[luigid_rs] durability = {other:?} is not one of always, everysec, off"
                )))
            }
        };
        Ok(PersistConfig {
            state_path: PathBuf::from(ini.get_str(
                "scheduler",
                "state_path",
                "/var/lib/luigi-server/state.pickle",
            )),
            durability,
            snapshot_interval: ini.get_f64("luigid_rs", "snapshot_interval", 300.0)?,
            snapshot_journal_bytes: ini
                .get_i64("luigid_rs", "snapshot_journal_bytes", 8 * 1024 * 1024)?
                .max(0) as u64,
            start_empty: ini.get_bool("luigid_rs", "start_empty", false)?,
            fork_snapshots: ini.get_bool("luigid_rs", "fork_snapshots", true)?,
        })
    }
}

/// Why the saved state cannot be used; a refusal to start, leaving every file as it was.
#[derive(Debug)]
pub enum PersistError {
    /// Another server holds the state.
    Locked(lock::LockError),
    /// The snapshot is damaged or of another kind.
    Snapshot { path: PathBuf, why: String },
    /// A journal is damaged in a way that a crash cannot explain.
    Journal {
        path: PathBuf,
        source: journal::ReadError,
    },
    /// The files cannot be read or written.
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl std::fmt::Display for PersistError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PersistError::Locked(e) => write!(f, "{e}"),
            PersistError::Snapshot { path, why } => write!(
                f,
                "the state file {} cannot be used: {why}. It was left untouched. \
                 `luigid-rs check-state {}` says what it holds. To start with an empty \
                 state anyway, run with --start-empty (or [luigid_rs] start_empty = true): \
                 the file and its journals are then moved aside with a .corrupt-<time> \
                 suffix, never deleted.",
                path.display(),
                path.display()
            ),
            PersistError::Journal { path, source } => write!(
                f,
                "journal {} is damaged: {source}. Nothing was changed or dropped. Run \
                 `luigid-rs check-state STATE_PATH` to see every file, and `luigid-rs \
                 check-state STATE_PATH --repair NEW_STATE_PATH` to write a copy that keeps \
                 every record that is still whole; then start on the copy, or move the \
                 journal aside to start from the snapshot alone.",
                path.display()
            ),
            PersistError::Io { what, path, source } => {
                write!(f, "cannot {what} {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for PersistError {}

/// What `open` found on disk, for the App to rebuild the scheduler from.
#[derive(Debug)]
pub struct Recovery<T> {
    /// The snapshot's scheduler state, if there was one.
    pub state: Option<T>,
    /// Journal records to replay on top of it, in order.
    pub records: journal::Records,
    /// What happened, for the log: routine notes, and `warnings` for what lost or moved
    /// something (torn tails dropped, files moved aside, no state directory).
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

impl<T> Default for Recovery<T> {
    fn default() -> Recovery<T> {
        Recovery {
            state: None,
            records: journal::Records::default(),
            notes: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// Counters for /metrics and the benchmark.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub journal_records: u64,
    pub journal_syncs: u64,
    pub journal_errors: u64,
    pub snapshots: u64,
    pub snapshot_errors: u64,
    /// Seconds the loop spent in the last snapshot start (the fork, or the whole write).
    pub last_snapshot_pause: f64,
    pub max_snapshot_pause: f64,
    /// Seconds from start to finish of the last completed snapshot.
    pub last_snapshot_secs: f64,
    /// State-changing calls refused because the state could not be written.
    pub refused: u64,
    /// Times writes became blocked.
    pub write_blocks: u64,
}

/// Why state-changing calls are refused right now.
#[derive(Debug, Clone)]
pub struct WriteBlock {
    /// Wall-clock time the writes started failing.
    pub since: f64,
    /// What failed, with the path and the OS error.
    pub reason: String,
    /// Calls refused since.
    pub refused: u64,
    /// A journal fsync failed: what was written may not be on disk, so a fresh snapshot
    /// is taken once writes work again.
    sync_failed: bool,
    next_retry: f64,
}

/// A call refused because the state cannot be written (the router answers 503).
#[derive(Debug, Clone)]
pub struct Refused {
    pub reason: String,
}

/// How an iteration's journal writes ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Written (and with `always`, synced): the replies may leave.
    Done,
    /// Not kept: the replies of the journaled calls must not say they were. `rollback`:
    /// the calls are applied in memory but not in the files, so the state must be
    /// rebuilt from the files.
    Failed { rollback: bool },
}

struct Job {
    pid: libc::pid_t,
    gen: u64,
    started: f64,
}

pub struct Persistence {
    cfg: PersistConfig,
    /// None when durability is off or the state directory is missing.
    writer: Option<JournalWriter>,
    /// The generation the next snapshot will name (when there is no writer).
    gen: u64,
    pending: Vec<u8>,
    unsynced: bool,
    last_sync: f64,
    last_snapshot: f64,
    /// Size of the state file last written or loaded: the journal may grow to this much
    /// before the next snapshot (see [`Persistence::journal_limit`]).
    last_snapshot_bytes: u64,
    records_since_snapshot: u64,
    job: Option<Job>,
    /// `everysec` fsyncs, off the loop thread (started on first use).
    bg: Option<BgSync>,
    /// The thread removing journals a snapshot made obsolete, if one is running.
    cleanup: Option<std::thread::JoinHandle<()>>,
    block: Option<WriteBlock>,
    /// Take a snapshot at the next tick (after a failed fsync was recovered from).
    snapshot_wanted: bool,
    faults: Faults,
    /// Held while this process serves the state (None without a state directory).
    lock: Option<StateLock>,
    pub stats: Stats,
    /// Test hook: the next snapshot stops between temp write and rename.
    pub crash_next_snapshot_before_rename: bool,
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The newest journal generation read and the length of its whole records.
type LastJournal = (u64, u64);

/// How long a refused caller is told to wait (the retry timer's period).
pub const RETRY_AFTER_SECS: u64 = 1;

impl Persistence {
    /// Lock the state, read the snapshot and journal, and open the journal for appending.
    /// An error is a refusal to start, with a message that says what to do.
    pub fn open<T: DeserializeOwned + SnapshotBody>(
        cfg: PersistConfig,
        now: f64,
    ) -> Result<(Persistence, Recovery<T>), PersistError> {
        Persistence::open_with_faults(cfg, now, Faults::default())
    }

    /// [`Persistence::open`] with injected file failures (tests).
    pub fn open_with_faults<T: DeserializeOwned + SnapshotBody>(
        cfg: PersistConfig,
        now: f64,
        faults: Faults,
    ) -> Result<(Persistence, Recovery<T>), PersistError> {
        let path = cfg.state_path.clone();
        let mut p = Persistence {
            cfg,
            writer: None,
            gen: 0,
            pending: Vec::new(),
            unsynced: false,
            last_sync: now,
            last_snapshot: now,
            last_snapshot_bytes: 0,
            records_since_snapshot: 0,
            job: None,
            bg: None,
            cleanup: None,
            block: None,
            snapshot_wanted: false,
            faults,
            lock: None,
            stats: Stats::default(),
            crash_next_snapshot_before_rename: false,
        };
        if !dir_of(&path).is_dir() {
            // luigid does not create the directory either; it only fails to save at
            // shutdown. Keep running, without durability, and say so.
            let mut rec = Recovery::default();
            rec.warnings.push(format!(
                "state directory {} does not exist: state will not be saved (create it to \
                 enable snapshots and the journal)",
                dir_of(&path).display()
            ));
            return Ok((p, rec));
        }
        p.lock = Some(StateLock::acquire(&path).map_err(PersistError::Locked)?);
        remove_stale_temps(&path);
        // luigid's own state file: imported once, then read below as our snapshot.
        let (mut notes, mut warnings) = (Vec::new(), Vec::new());
        match pickle::import_at_startup(&path, now) {
            Ok(Some(imported)) => {
                notes.extend(imported.notes);
                warnings.extend(imported.warnings);
            }
            Ok(None) => {}
            Err(e) if !p.cfg.start_empty => {
                return Err(PersistError::Snapshot {
                    path: path.clone(),
                    why: e,
                })
            }
            Err(e) => warnings.push(e),
        }
        let (mut rec, last) = p.read_files(now, p.cfg.start_empty)?;
        notes.append(&mut rec.notes);
        rec.notes = notes;
        warnings.append(&mut rec.warnings);
        rec.warnings = warnings;
        p.gen = last.map(|(g, _)| g).unwrap_or(p.gen);
        if p.cfg.durability != Durability::Off {
            let writer = match last {
                Some((g, len)) => JournalWriter::reopen(&path, g, len, &p.faults),
                None => JournalWriter::create(&path, p.gen, &p.faults),
            }
            .map_err(|source| PersistError::Io {
                what: "open the journal beside",
                path: path.clone(),
                source,
            })?;
            p.writer = Some(writer);
            p.reserve_ahead();
        }
        Ok((p, rec))
    }

    /// Read the snapshot and every journal generation after it: what a start would
    /// rebuild. Also sets the snapshot generation and size. `start_empty` moves an
    /// unusable snapshot aside instead of failing (only at startup).
    fn read_files<T: DeserializeOwned + SnapshotBody>(
        &mut self,
        now: f64,
        start_empty: bool,
    ) -> Result<(Recovery<T>, Option<LastJournal>), PersistError> {
        let path = self.cfg.state_path.clone();
        let mut rec = Recovery::default();
        let mut snapshot_gen = 0;
        let t0 = std::time::Instant::now();
        match snapshot::read::<T>(&path) {
            Ok(None) => rec.notes.push(format!(
                "no saved state at {}: starting with an empty state",
                path.display()
            )),
            Ok(Some(l)) => {
                snapshot_gen = l.journal_gen;
                self.last_snapshot_bytes = file_len(&path);
                rec.notes.push(format!(
                    "loaded snapshot {} (journal generation {}) in {:.2} s",
                    path.display(),
                    l.journal_gen,
                    t0.elapsed().as_secs_f64()
                ));
                rec.state = Some(l.state);
            }
            Err(snapshot::LoadError::Io(source)) => {
                return Err(PersistError::Io {
                    what: "read state file",
                    path,
                    source,
                })
            }
            Err(snapshot::LoadError::Corrupt { path, why }) => {
                if !start_empty {
                    return Err(PersistError::Snapshot { path, why });
                }
                let io_err = |source| PersistError::Io {
                    what: "move aside",
                    path: path.clone(),
                    source,
                };
                let moved = snapshot::move_aside(&path, now).map_err(io_err)?;
                rec.warnings.push(format!(
                    "state file unusable ({why}); moved to {} and starting empty",
                    moved.display()
                ));
                for g in journal::list_generations(&path).map_err(io_err)? {
                    let jp = journal::journal_path(&path, g);
                    let moved = snapshot::move_aside(&jp, now).map_err(io_err)?;
                    rec.notes
                        .push(format!("journal moved to {}", moved.display()));
                }
            }
        }
        self.gen = snapshot_gen;
        let gens = journal::list_generations(&path).map_err(|source| PersistError::Io {
            what: "list the journals beside",
            path: path.clone(),
            source,
        })?;
        let live: Vec<u64> = gens
            .iter()
            .copied()
            .filter(|&g| g >= snapshot_gen)
            .collect();
        let mut last: Option<(u64, u64)> = None;
        for &g in &gens {
            let jp = journal::journal_path(&path, g);
            if g < snapshot_gen {
                // Already contained in the snapshot: a crash came between the rename and
                // the clean-up.
                let _ = std::fs::remove_file(&jp);
                continue;
            }
            let read = journal::read_journal(&jp, g).map_err(|source| PersistError::Journal {
                path: jp.clone(),
                source,
            })?;
            if let Some(why) = &read.dropped_tail {
                if live.last() != Some(&g) && read.valid_len > 0 {
                    // Appends continue in a new generation only after the old one was
                    // cut back to whole records: a torn record here is damage.
                    return Err(PersistError::Journal {
                        path: jp.clone(),
                        source: journal::ReadError::Corrupt(journal::Corruption {
                            path: jp.clone(),
                            offset: read.valid_len,
                            following: file_len(&jp).saturating_sub(read.valid_len),
                            next_valid: 0,
                            why: format!("{why}, in a generation that later ones follow"),
                            records_before: read.records.len(),
                        }),
                    });
                }
                rec.warnings.push(format!(
                    "journal {}: dropped an incomplete last record ({why}) at byte {}; it \
                     was never acknowledged",
                    jp.display(),
                    read.valid_len
                ));
            }
            rec.notes.push(format!(
                "journal {}: {} records to replay",
                jp.display(),
                read.records.len()
            ));
            self.records_since_snapshot += read.records.len() as u64;
            rec.records.append(read.records);
            last = Some((g, read.valid_len));
        }
        Ok((rec, last))
    }

    /// Read the files again: the state a restart would rebuild right now. Used to undo
    /// calls that were applied in memory but whose journal append failed.
    pub fn reread<T: DeserializeOwned + SnapshotBody>(
        &mut self,
        now: f64,
    ) -> Result<Recovery<T>, PersistError> {
        // Obsolete journals are deleted only by the cleanup thread; let it finish so the
        // snapshot and the generations read belong together.
        self.join_cleanup();
        let records = self.records_since_snapshot;
        let last_bytes = self.last_snapshot_bytes;
        let gen = self.gen;
        let (rec, last) = self.read_files(now, false)?;
        if let (Some(w), Some((g, valid_len))) = (self.writer.as_mut(), last) {
            if w.gen == g {
                w.adopt_valid_len(valid_len);
            }
        }
        self.records_since_snapshot = records;
        self.last_snapshot_bytes = last_bytes;
        self.gen = gen;
        Ok(rec)
    }

    pub fn durability(&self) -> Durability {
        self.cfg.durability
    }

    /// Whether calls are being journaled (durability on and a writable state directory).
    pub fn journaling(&self) -> bool {
        self.writer.is_some()
    }

    /// Set while state-changing calls are refused.
    pub fn writes_blocked(&self) -> Option<&WriteBlock> {
        self.block.as_ref()
    }

    /// May a call whose journal record takes about `record_bytes` be applied now? Refused
    /// while writes are blocked, and when the journal cannot reserve room for it (a full
    /// disk), which blocks writes.
    pub fn admit(&mut self, record_bytes: usize, now: f64) -> Result<(), Refused> {
        if let Some(b) = self.block.as_mut() {
            b.refused += 1;
            self.stats.refused += 1;
            return Err(Refused {
                reason: b.reason.clone(),
            });
        }
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        // The record's text plus its framing, with room for an encoding that is longer
        // than the request text (escapes).
        let more = self.pending.len() as u64 + 2 * record_bytes as u64 + 256;
        if let Err(e) = w.reserve(more) {
            let reason = format!("cannot reserve journal space in {}: {e}", w.path.display());
            self.start_block(now, reason.clone(), false);
            self.stats.refused += 1;
            if let Some(b) = self.block.as_mut() {
                b.refused += 1;
            }
            return Err(Refused { reason });
        }
        Ok(())
    }

    fn start_block(&mut self, now: f64, reason: String, sync_failed: bool) {
        self.stats.journal_errors += 1;
        if let Some(b) = self.block.as_mut() {
            b.sync_failed |= sync_failed;
            return;
        }
        log::error!(
            "state writes failing: {reason}. State-changing calls are refused (503) until a \
             write succeeds again; reads keep working"
        );
        self.stats.write_blocks += 1;
        self.block = Some(WriteBlock {
            since: now,
            reason,
            refused: 0,
            sync_failed,
            next_retry: now + RETRY_AFTER_SECS as f64,
        });
    }

    /// Reserve a step of journal space now, so that a disk that fills up later still
    /// leaves room for the calls in flight. A failure here is not yet an error: the next
    /// call that needs the room finds out and is refused.
    fn reserve_ahead(&mut self) {
        if let Some(w) = self.writer.as_mut() {
            let _ = w.reserve(journal::RESERVE_STEP.saturating_sub(w.len));
        }
    }

    /// Queue one operation; it is written at the next `flush`.
    pub fn record(&mut self, method: &str, args: &Map<String, Value>, now: f64) {
        if self.writer.is_none() {
            return;
        }
        journal::encode_record(method, args, now, &mut self.pending);
        self.stats.journal_records += 1;
        self.records_since_snapshot += 1;
    }

    /// [`Persistence::record`] for a call whose arguments were parsed from the request's
    /// `data` text (see [`journal::encode_raw_record`]): the text is journaled as is.
    pub fn record_raw(&mut self, method: &str, data: &str, now: f64) {
        if self.writer.is_none() {
            return;
        }
        journal::encode_raw_record(method, data, now, &mut self.pending);
        self.stats.journal_records += 1;
        self.records_since_snapshot += 1;
    }

    /// Write what this loop iteration queued; with `always`, make it durable too.
    /// Called before the iteration's replies are written.
    pub fn flush(&mut self, now: f64) -> Commit {
        let Some(w) = self.writer.as_mut() else {
            return Commit::Done;
        };
        if self.pending.is_empty() {
            return Commit::Done;
        }
        let written = w.write(&self.pending);
        self.pending.clear();
        if let Err(e) = written {
            let reason = format!("journal append to {} failed: {e}", w.path.display());
            self.start_block(now, reason, false);
            return Commit::Failed { rollback: true };
        }
        self.unsynced = true;
        if self.cfg.durability == Durability::Always && !self.sync(now) {
            return Commit::Failed { rollback: false };
        }
        Commit::Done
    }

    /// fdatasync the journal here; false (and writes blocked) when it failed.
    fn sync(&mut self, now: f64) -> bool {
        let Some(w) = self.writer.as_mut() else {
            return true;
        };
        self.unsynced = false;
        self.last_sync = now;
        match w.sync() {
            Ok(()) => {
                self.stats.journal_syncs += 1;
                true
            }
            Err(e) => {
                let reason = format!("journal fsync of {} failed: {e}", w.path.display());
                self.start_block(now, reason, true);
                false
            }
        }
    }

    /// `everysec`: hand the fsync to the sync thread, so the loop does not wait the
    /// milliseconds a disk flush takes. False when that is not possible (then the caller
    /// syncs here). A sync still running is not queued behind; the next tick retries.
    fn sync_in_background(&mut self, now: f64) -> bool {
        let Some(w) = self.writer.as_ref() else {
            return false;
        };
        if self.bg.is_none() {
            self.bg = BgSync::start();
        }
        let Some(bg) = self.bg.as_mut() else {
            return false;
        };
        if bg.busy.load(Ordering::Acquire) {
            return true;
        }
        let Ok(handle) = w.sync_handle() else {
            return false;
        };
        bg.busy.store(true, Ordering::Release);
        if bg
            .tx
            .send((handle, w.path.clone(), self.faults.clone()))
            .is_err()
        {
            bg.busy.store(false, Ordering::Release);
            self.bg = None;
            return false;
        }
        self.unsynced = false;
        self.last_sync = now;
        true
    }

    /// Count the sync thread's finished fsyncs into the stats; a failed one blocks writes.
    fn collect_background_syncs(&mut self, now: f64) {
        let Some(bg) = self.bg.as_mut() else {
            return;
        };
        let done = bg.done.load(Ordering::Acquire);
        let failed = bg.failed.load(Ordering::Acquire);
        self.stats.journal_syncs += done - bg.seen_done;
        let new_failures = failed - bg.seen_failed;
        bg.seen_done = done;
        bg.seen_failed = failed;
        if new_failures > 0 {
            let why = bg.last_error.lock().map(|e| e.clone()).unwrap_or_default();
            self.start_block(now, format!("journal fsync failed: {why}"), true);
        }
    }

    /// About once a second: `everysec` sync, retry blocked writes, reap a finished
    /// snapshot child, and start a snapshot when one is due.
    pub fn tick<T: SnapshotBody>(&mut self, now: f64, state: &T) {
        self.collect_background_syncs(now);
        if self.block.is_some() {
            self.try_recover(now);
        }
        if self.unsynced && now - self.last_sync >= 1.0 && self.block.is_none() {
            let background =
                self.cfg.durability == Durability::EverySec && self.sync_in_background(now);
            if !background {
                self.sync(now);
            }
        }
        self.reap(false);
        if self.block.is_some() {
            return;
        }
        let Some(w) = self.writer.as_ref() else {
            return;
        };
        let due = self.snapshot_wanted
            || (self.records_since_snapshot > 0
                && (now - self.last_snapshot >= self.cfg.snapshot_interval
                    || w.len >= self.journal_limit()));
        if due && self.job.is_none() {
            self.start_snapshot(now, state);
        }
    }

    /// Blocked writes: try to continue. The current journal is cut back to its last whole
    /// record and synced, and appends move to a fresh generation with space reserved, so
    /// no record ever follows a torn one. Retried on every tick until it works.
    fn try_recover(&mut self, now: f64) {
        let Some(b) = self.block.as_ref() else {
            return;
        };
        if now < b.next_retry {
            return;
        }
        let result = match self.writer.as_mut() {
            None => Ok(None),
            Some(w) => {
                let new_gen = w.gen + 1;
                let state_path = &self.cfg.state_path;
                let faults = &self.faults;
                (|| {
                    w.cut_to_valid()?;
                    let mut fresh = JournalWriter::create(state_path, new_gen, faults)?;
                    fresh.reserve(journal::RESERVE_STEP)?;
                    w.release_reserve();
                    Ok::<_, io::Error>(Some(fresh))
                })()
            }
        };
        match result {
            Ok(fresh) => {
                let Some(b) = self.block.take() else {
                    return;
                };
                if let Some(f) = fresh {
                    self.gen = f.gen;
                    self.writer = Some(f);
                }
                self.snapshot_wanted |= b.sync_failed;
                log::info!(
                    "state writes work again after {:.0} s ({} state-changing calls were \
                     refused meanwhile); the journal continues in generation {}",
                    (now - b.since).max(0.0),
                    b.refused,
                    self.gen
                );
            }
            Err(_) => {
                if let Some(b) = self.block.as_mut() {
                    b.next_retry = now + RETRY_AFTER_SECS as f64;
                }
            }
        }
    }

    /// Journal bytes that start a snapshot: `snapshot_journal_bytes`, or the size of the
    /// last snapshot when that is larger. With a fixed limit a large state would be
    /// rewritten whole for every few MiB of journal (a 1M-task state is ~15 times 8 MiB),
    /// and the fork and copy-on-write of each snapshot show in request latency; this way a
    /// snapshot is paid for by at least as many journal bytes as it writes, and recovery
    /// replays at most about one snapshot's worth of journal.
    fn journal_limit(&self) -> u64 {
        self.cfg
            .snapshot_journal_bytes
            .max(self.last_snapshot_bytes)
    }

    /// Start a snapshot now: appends move to a new generation, then a child (or this
    /// thread) writes the state.
    pub fn start_snapshot<T: SnapshotBody>(&mut self, now: f64, state: &T) {
        let t0 = std::time::Instant::now();
        if self.flush(now) != Commit::Done || (self.unsynced && !self.sync(now)) {
            return;
        }
        if let Some(w) = self.writer.as_mut().filter(|w| w.torn) {
            // A later generation must never follow a torn record.
            if let Err(e) = w.cut_to_valid() {
                self.stats.snapshot_errors += 1;
                log::error!(
                    "cannot cut {} back to its whole records: {e}",
                    w.path.display()
                );
                return;
            }
        }
        let new_gen = match self.writer.as_ref() {
            Some(w) => w.gen + 1,
            None => self.gen + 1,
        };
        if self.writer.is_some() {
            match JournalWriter::create(&self.cfg.state_path, new_gen, &self.faults) {
                Ok(w) => {
                    if let Some(old) = self.writer.as_mut() {
                        old.release_reserve();
                    }
                    self.writer = Some(w);
                    self.reserve_ahead();
                }
                Err(e) => {
                    self.stats.snapshot_errors += 1;
                    self.last_snapshot = now;
                    log::error!(
                        "cannot start journal generation {new_gen} for a snapshot: {e}; \
                         the current journal goes on and keeps every change"
                    );
                    return;
                }
            }
        }
        self.gen = new_gen;
        self.last_snapshot = now;
        self.records_since_snapshot = 0;
        self.snapshot_wanted = false;
        let crash = std::mem::take(&mut self.crash_next_snapshot_before_rename);
        if self.cfg.fork_snapshots {
            // SAFETY: the child only serializes already-built memory into a file and then
            // leaves with _exit, running no destructors, atexit handlers or logging.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                self.in_snapshot_child();
                let path = self.cfg.state_path.clone();
                let code =
                    match snapshot::write_atomic(&path, new_gen, now, state, crash, &self.faults) {
                        Ok(()) => 0,
                        Err(_) => 1,
                    };
                // SAFETY: see above.
                unsafe { libc::_exit(code) };
            }
            if pid > 0 {
                self.job = Some(Job {
                    pid,
                    gen: new_gen,
                    started: now,
                });
                self.note_pause(t0.elapsed().as_secs_f64());
                return;
            }
            log::warn!(
                "fork for a snapshot failed ({}); writing on the loop thread",
                io::Error::last_os_error()
            );
        }
        let res = snapshot::write_atomic(
            &self.cfg.state_path,
            new_gen,
            now,
            state,
            crash,
            &self.faults,
        );
        self.note_pause(t0.elapsed().as_secs_f64());
        self.finish_snapshot(new_gen, now, res.map_err(|e| e.to_string()));
    }

    /// First steps of a snapshot child: let go of the state lock (so that a server
    /// restarted after this process died does not find it held by the child), die with
    /// the parent (an orphan must not rename an old image over a newer server's
    /// snapshot), and give way to the event loop.
    fn in_snapshot_child(&self) {
        if let Some(l) = &self.lock {
            // SAFETY: closing our copy of an inherited descriptor; the parent keeps its own.
            unsafe { libc::close(l.raw_fd()) };
        }
        // SAFETY: plain prctl/getppid calls on this process.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() == 1 {
                libc::_exit(1);
            }
        }
        yield_to_loop();
    }

    fn note_pause(&mut self, secs: f64) {
        self.stats.last_snapshot_pause = secs;
        if secs > self.stats.max_snapshot_pause {
            self.stats.max_snapshot_pause = secs;
        }
    }

    fn finish_snapshot(&mut self, gen: u64, started: f64, res: Result<(), String>) {
        match res {
            Ok(()) => {
                self.stats.snapshots += 1;
                self.stats.last_snapshot_secs = (now_secs() - started).max(0.0);
                self.last_snapshot_bytes = file_len(&self.cfg.state_path);
                // Everything before `gen` is inside the snapshot now.
                if let Ok(gens) = journal::list_generations(&self.cfg.state_path) {
                    let old: Vec<PathBuf> = gens
                        .into_iter()
                        .filter(|&g| g < gen)
                        .map(|g| journal::journal_path(&self.cfg.state_path, g))
                        .collect();
                    self.remove_in_background(old);
                }
                log::info!("state saved to {}", self.cfg.state_path.display());
            }
            Err(e) => {
                self.stats.snapshot_errors += 1;
                log::error!(
                    "snapshot to {} failed: {e}; the journal still holds every change",
                    self.cfg.state_path.display()
                );
            }
        }
    }

    /// Delete obsolete journals off the loop thread: unlinking a journal of a few hundred
    /// MB frees its page cache and took 10-30 ms. Should the process stop first, the
    /// next start removes them (they are older than the snapshot).
    fn remove_in_background(&mut self, paths: Vec<PathBuf>) {
        if paths.is_empty() {
            return;
        }
        self.join_cleanup();
        let spawned = std::thread::Builder::new()
            .name("journal-cleanup".into())
            .spawn({
                let paths = paths.clone();
                move || {
                    for p in paths {
                        let _ = std::fs::remove_file(p);
                    }
                }
            });
        match spawned {
            Ok(h) => self.cleanup = Some(h),
            Err(_) => {
                for p in paths {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
    }

    /// Wait until obsolete journals are deleted.
    pub fn join_cleanup(&mut self) {
        if let Some(h) = self.cleanup.take() {
            let _ = h.join();
        }
    }

    /// Collect a finished snapshot child; `block` waits for it.
    fn reap(&mut self, block: bool) {
        let Some(job) = self.job.as_ref() else {
            return;
        };
        let mut status: libc::c_int = 0;
        let flags = if block { 0 } else { libc::WNOHANG };
        // SAFETY: plain waitpid on our own child.
        let r = unsafe { libc::waitpid(job.pid, &mut status, flags) };
        if r == 0 {
            return;
        }
        let (gen, started) = (job.gen, job.started);
        self.job = None;
        let ok = r > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        let res = if ok {
            Ok(())
        } else {
            Err(format!("snapshot child ended with status {status}"))
        };
        self.finish_snapshot(gen, started, res);
    }

    /// Stop. With `always` or `everysec` the journal already holds every acknowledged
    /// change: it is made durable and the stop takes milliseconds whatever the size of the
    /// state (a final snapshot of a million tasks takes seconds to write and sync). The
    /// next start reads the last snapshot and replays the journal after it, as after a
    /// crash; [`Persistence::journal_limit`] bounds that journal. With `off`, or when the
    /// journal cannot be trusted (writes blocked, its sync fails), a running snapshot is
    /// waited for and a final one written on this thread. False when that failed (the
    /// journal then still holds what was kept).
    pub fn shutdown<T: SnapshotBody>(&mut self, now: f64, state: &T) -> bool {
        if self.cfg.durability != Durability::Off && self.stop_on_journal(now) {
            return true;
        }
        self.reap(true);
        let errors = self.stats.snapshot_errors;
        let snapshots = self.stats.snapshots;
        let fork = std::mem::replace(&mut self.cfg.fork_snapshots, false);
        self.start_snapshot(now, state);
        self.cfg.fork_snapshots = fork;
        let saved = self.stats.snapshots > snapshots && self.stats.snapshot_errors == errors;
        // The journal of the new generation is empty: remove it so a clean stop leaves
        // only the snapshot behind.
        if let Some(w) = self.writer.take() {
            if saved && w.len <= 16 {
                let _ = std::fs::remove_file(&w.path);
            }
        }
        self.join_cleanup();
        // Without a state directory nothing was ever meant to be saved.
        saved || self.lock.is_none()
    }

    /// [`Persistence::shutdown`] without a final snapshot; false when the journal cannot
    /// be relied on.
    fn stop_on_journal(&mut self, now: f64) -> bool {
        self.collect_background_syncs(now);
        if self.block.is_some() || self.writer.is_none() {
            return false;
        }
        if self.flush(now) != Commit::Done {
            return false;
        }
        // Synced here even when the sync thread was handed the last one: it may still
        // be running.
        self.unsynced = true;
        if !self.sync(now) {
            return false;
        }
        // A snapshot still being written is not waited for: the journal generations it
        // would have replaced are all still there.
        if let Some(job) = self.job.take() {
            // SAFETY: signalling and reaping our own child.
            unsafe {
                libc::kill(job.pid, libc::SIGKILL);
                libc::waitpid(job.pid, std::ptr::null_mut(), 0);
            }
            let _ = std::fs::remove_file(snapshot::temp_path_of(&self.cfg.state_path, job.pid));
        }
        self.join_cleanup();
        true
    }

    pub fn state_path(&self) -> &Path {
        &self.cfg.state_path
    }
}

/// Temp files of snapshots that a crash interrupted before their rename.
fn remove_stale_temps(state_path: &Path) {
    let Some(name) = state_path.file_name() else {
        return;
    };
    let prefix = format!("{}.tmp.", name.to_string_lossy());
    if let Ok(entries) = std::fs::read_dir(dir_of(state_path)) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

fn now_secs() -> f64 {
    crate::clock::unix_now()
}

/// The `everysec` sync thread: fsyncs the journal handles it is sent, one at a time.
struct BgSync {
    tx: mpsc::Sender<(std::fs::File, PathBuf, Faults)>,
    busy: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    last_error: Arc<std::sync::Mutex<String>>,
    seen_done: u64,
    seen_failed: u64,
}

impl BgSync {
    fn start() -> Option<BgSync> {
        let (tx, rx) = mpsc::channel::<(std::fs::File, PathBuf, Faults)>();
        let busy = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let last_error = Arc::new(std::sync::Mutex::new(String::new()));
        let (b, d, f, le) = (
            busy.clone(),
            done.clone(),
            failed.clone(),
            last_error.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("journal-sync".into())
            .spawn(move || {
                for (file, path, faults) in rx {
                    match faults
                        .check(faults::Op::Sync)
                        .and_then(|()| file.sync_data())
                    {
                        Ok(()) => d.fetch_add(1, Ordering::AcqRel),
                        Err(e) => {
                            if let Ok(mut s) = le.lock() {
                                *s = format!("{}: {e}", path.display());
                            }
                            f.fetch_add(1, Ordering::AcqRel)
                        }
                    };
                    b.store(false, Ordering::Release);
                }
            });
        match spawned {
            Ok(_) => Some(BgSync {
                tx,
                busy,
                done,
                failed,
                last_error,
                seen_done: 0,
                seen_failed: 0,
            }),
            Err(e) => {
                log::warn!("no journal sync thread ({e}); syncing on the loop thread");
                None
            }
        }
    }
}

/// The size of the file at `path`, 0 when it cannot be read.
fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// In a snapshot child: give way to the event loop. The child inherits the loop's CPU
/// affinity (a pinned server would share its one core with the snapshot writer), so let
/// it run on any CPU, and at a lower priority so it takes idle time first.
fn yield_to_loop() {
    // SAFETY: plain syscalls on this process with a zeroed, then filled, CPU set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let n = libc::sysconf(libc::_SC_NPROCESSORS_ONLN).clamp(1, 1024) as usize;
        for cpu in 0..n {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faults::Op;
    use serde_json::json;

    fn cfg(dir: &Path, durability: Durability) -> PersistConfig {
        PersistConfig {
            state_path: dir.join("state.json"),
            durability,
            snapshot_interval: 300.0,
            snapshot_journal_bytes: 1 << 30,
            start_empty: false,
            fork_snapshots: false,
        }
    }

    fn args(i: u64) -> Map<String, Value> {
        json!({"task_id": format!("T{i}")})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn journal_survives_without_snapshot_and_replays_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut p, rec) =
            Persistence::open::<Value>(cfg(dir.path(), Durability::Always), 1.0).unwrap();
        assert!(rec.state.is_none() && rec.records.is_empty());
        for i in 0..10 {
            p.record("add_task", &args(i), 10.0 + i as f64);
        }
        p.flush(20.0);
        assert_eq!(p.stats.journal_syncs, 1, "one sync for the whole iteration");
        drop(p); // a crash: no shutdown
        let (_p, rec) =
            Persistence::open::<Value>(cfg(dir.path(), Durability::Always), 2.0).unwrap();
        assert_eq!(rec.records.len(), 10);
        assert_eq!(rec.records.to_vec()[3].args, args(3));
        assert_eq!(rec.records.to_vec()[9].now, 19.0);
    }

    #[test]
    fn snapshot_then_more_records_then_crash() {
        for fork in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let mut c = cfg(dir.path(), Durability::EverySec);
            c.fork_snapshots = fork;
            let (mut p, _) = Persistence::open::<Value>(c.clone(), 1.0).unwrap();
            p.record("add_task", &args(1), 2.0);
            p.flush(2.0);
            p.start_snapshot(3.0, &json!({"n": 1}));
            p.reap(true);
            // The old generation goes on a cleanup thread, off the loop.
            p.join_cleanup();
            let gens = journal::list_generations(&dir.path().join("state.json")).unwrap();
            assert_eq!(gens, vec![1], "removed once the cleanup is done");
            p.record("add_task", &args(2), 4.0);
            p.flush(4.0);
            drop(p);
            let (_p, rec) = Persistence::open::<Value>(c, 5.0).unwrap();
            assert_eq!(rec.state, Some(json!({"n": 1})));
            assert_eq!(rec.records.len(), 1, "only what came after the snapshot");
            assert_eq!(rec.records.to_vec()[0].args, args(2));
            let gens = journal::list_generations(&dir.path().join("state.json")).unwrap();
            assert_eq!(gens, vec![1], "old generation removed after the snapshot");
        }
    }

    #[test]
    fn a_large_state_waits_for_as_much_journal_as_its_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), Durability::EverySec);
        c.snapshot_journal_bytes = 100;
        let big = json!({"pad": "x".repeat(20_000)});
        let (mut p, _) = Persistence::open::<Value>(c.clone(), 1.0).unwrap();
        p.record("add_task", &args(0), 1.0);
        p.flush(1.0);
        p.start_snapshot(1.0, &big);
        let snap = std::fs::metadata(dir.path().join("state.json"))
            .unwrap()
            .len();
        assert!(snap > 20_000);
        assert_eq!(p.journal_limit(), snap);
        let mut t = 2.0;
        // Past snapshot_journal_bytes but short of the snapshot's size: no snapshot.
        while p.writer.as_ref().unwrap().len < snap / 2 {
            p.record("add_task", &args(1), t);
            p.flush(t);
            t += 0.01;
        }
        p.tick(t, &big);
        assert_eq!(p.stats.snapshots, 1);
        // Past the snapshot's size: the next one starts.
        while p.writer.as_ref().unwrap().len < snap {
            p.record("add_task", &args(2), t);
            p.flush(t);
            t += 0.01;
        }
        p.tick(t, &big);
        p.reap(true);
        assert_eq!(p.stats.snapshots, 2);
        drop(p);
        // The limit is known again after a restart, from the file loaded.
        let now_len = std::fs::metadata(dir.path().join("state.json"))
            .unwrap()
            .len();
        assert!(now_len > 20_000);
        let (p, _) = Persistence::open::<Value>(c, t + 1.0).unwrap();
        assert_eq!(p.journal_limit(), now_len);
    }

    #[test]
    fn failed_snapshot_keeps_every_journal() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::Always);
        let (mut p, _) = Persistence::open::<Value>(c.clone(), 1.0).unwrap();
        p.record("a", &args(1), 2.0);
        p.flush(2.0);
        p.start_snapshot(3.0, &json!({"n": 1}));
        p.record("b", &args(2), 4.0);
        p.flush(4.0);
        p.crash_next_snapshot_before_rename = true;
        p.start_snapshot(5.0, &json!({"n": 2}));
        p.record("c", &args(3), 6.0);
        p.flush(6.0);
        drop(p);
        let (_p, rec) = Persistence::open::<Value>(c, 7.0).unwrap();
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".tmp.")
            })
            .count();
        assert_eq!(leftovers, 0, "interrupted temp files are cleaned at start");
        assert_eq!(rec.state, Some(json!({"n": 1})));
        let records = rec.records.to_vec();
        let methods: Vec<_> = records.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(methods, vec!["b", "c"]);
    }

    #[test]
    fn everysec_fsyncs_on_the_sync_thread() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::EverySec);
        let (mut p, _) = Persistence::open::<Value>(c, 1.0).unwrap();
        p.record("a", &args(1), 2.0);
        p.flush(2.0);
        p.tick(2.5, &json!({}));
        assert_eq!(p.stats.journal_syncs, 0, "not due within a second");
        p.tick(3.0, &json!({}));
        assert!(p.bg.is_some(), "handed to the sync thread");
        assert!(!p.unsynced);
        // The thread reports back; the next ticks count it (bounded wait).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while p.stats.journal_syncs == 0 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
            p.tick(3.1, &json!({}));
        }
        assert_eq!(p.stats.journal_syncs, 1);
        assert_eq!(p.stats.journal_errors, 0);
    }

    #[test]
    fn a_stop_with_a_journal_syncs_it_and_writes_no_snapshot() {
        for d in [Durability::EverySec, Durability::Always] {
            let dir = tempfile::tempdir().unwrap();
            let c = cfg(dir.path(), d);
            let (mut p, _) = Persistence::open::<Value>(c.clone(), 1.0).unwrap();
            p.tick(1.5, &json!({"n": 1}));
            p.start_snapshot(1.6, &json!({"n": 1}));
            p.reap(true);
            p.record("a", &args(1), 2.0);
            let syncs = p.stats.journal_syncs;
            assert!(p.shutdown(3.0, &json!({"n": 9})));
            assert!(
                p.stats.journal_syncs > syncs,
                "{d:?}: the journal is synced"
            );
            drop(p);
            let (_p, rec) = Persistence::open::<Value>(c, 4.0).unwrap();
            assert_eq!(rec.state, Some(json!({"n": 1})), "{d:?}: the last snapshot");
            assert_eq!(methods(&rec), vec!["a"], "{d:?}: and the journal after it");
        }
    }

    #[test]
    fn a_stop_whose_journal_sync_fails_writes_a_final_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::EverySec);
        let faults = Faults::armable();
        let (mut p, _) = open_faulty(&c, &faults);
        assert!(call(&mut p, "a", 2.0));
        faults.fail(Op::Sync, libc::EIO);
        assert!(p.shutdown(3.0, &json!({"n": 9})));
        drop(p);
        let (_p, rec) = open_faulty(&c, &Faults::default());
        assert_eq!(rec.state, Some(json!({"n": 9})));
    }

    #[test]
    fn off_writes_no_journal_but_saves_at_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::Off);
        let (mut p, _) = Persistence::open::<Value>(c.clone(), 1.0).unwrap();
        assert!(!p.journaling());
        p.record("a", &args(1), 2.0);
        p.flush(2.0);
        assert!(journal::list_generations(&c.state_path).unwrap().is_empty());
        p.shutdown(3.0, &json!({"n": 3}));
        drop(p);
        let (_p, rec) = Persistence::open::<Value>(c, 4.0).unwrap();
        assert_eq!(rec.state, Some(json!({"n": 3})));
    }

    #[test]
    fn corrupt_snapshot_refuses_then_moves_aside_with_start_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), Durability::Always);
        std::fs::write(&c.state_path, b"{broken").unwrap();
        let err = Persistence::open::<Value>(c.clone(), 1.0)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("--start-empty"), "{err}");
        assert_eq!(std::fs::read(&c.state_path).unwrap(), b"{broken");
        c.start_empty = true;
        let (_p, rec) = Persistence::open::<Value>(c.clone(), 1700000000.0).unwrap();
        assert!(rec.state.is_none());
        assert!(dir.path().join("state.json.corrupt-1700000000").exists());
    }

    #[test]
    fn missing_directory_runs_without_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(&dir.path().join("nope"), Durability::Always);
        let (mut p, rec) = Persistence::open::<Value>(c, 1.0).unwrap();
        assert!(!p.journaling());
        assert!(rec.warnings[0].contains("does not exist"));
        assert!(p.shutdown(2.0, &json!({})), "nothing was meant to be saved");
    }

    fn open_faulty(c: &PersistConfig, faults: &Faults) -> (Persistence, Recovery<Value>) {
        Persistence::open_with_faults::<Value>(c.clone(), 1.0, faults.clone()).unwrap()
    }

    fn methods(rec: &Recovery<Value>) -> Vec<String> {
        rec.records
            .to_vec()
            .iter()
            .map(|r| r.method.clone())
            .collect()
    }

    /// Record one call the way the App does: admitted first, then queued.
    fn call(p: &mut Persistence, name: &str, now: f64) -> bool {
        if p.admit(40, now).is_err() {
            return false;
        }
        p.record_raw(name, "", now);
        true
    }

    #[test]
    fn a_full_disk_refuses_calls_before_they_apply_then_recovers_in_a_new_generation() {
        for durability in [Durability::Always, Durability::EverySec] {
            let dir = tempfile::tempdir().unwrap();
            let c = cfg(dir.path(), durability);
            let faults = Faults::armable();
            let (mut p, _) = open_faulty(&c, &faults);
            assert!(call(&mut p, "a", 2.0));
            assert_eq!(p.flush(2.0), Commit::Done);
            // The reservation ran out and the disk is full.
            let reserved = journal::RESERVE_STEP;
            faults.fail(Op::Allocate, libc::ENOSPC);
            let mut admitted = 1;
            let mut t = 3.0;
            while call(&mut p, "b", t) {
                admitted += 1;
                assert_eq!(p.flush(t), Commit::Done, "what was admitted is written");
                t += 0.001;
                assert!(
                    admitted < reserved as usize,
                    "refused within the reservation"
                );
            }
            let block = p.writes_blocked().unwrap().clone();
            assert!(block.reason.contains("No space left"), "{}", block.reason);
            assert!(!call(&mut p, "c", t), "still refused");
            assert_eq!(p.writes_blocked().unwrap().refused, 2);
            // Retries on the tick fail while the disk is full ...
            p.tick(t + 2.0, &json!({}));
            assert!(p.writes_blocked().is_some());
            // ... and work once space is back, in a fresh generation.
            faults.disarm_all();
            let gen_before = p.writer.as_ref().unwrap().gen;
            p.tick(t + 4.0, &json!({}));
            assert!(p.writes_blocked().is_none());
            assert_eq!(p.writer.as_ref().unwrap().gen, gen_before + 1);
            assert!(call(&mut p, "d", t + 5.0));
            assert_eq!(p.flush(t + 5.0), Commit::Done);
            drop(p); // kill -9
            let (_p, rec) = open_faulty(&c, &Faults::default());
            let m = methods(&rec);
            assert_eq!(m.len(), admitted + 1, "every admitted call, nothing else");
            assert_eq!(m.first().map(String::as_str), Some("a"));
            assert_eq!(m.last().map(String::as_str), Some("d"));
            assert!(rec.warnings.is_empty(), "{:?}", rec.warnings);
        }
    }

    #[test]
    fn a_failed_append_fails_the_commit_and_the_torn_bytes_are_cut_before_going_on() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::EverySec);
        let faults = Faults::armable();
        let (mut p, _) = open_faulty(&c, &faults);
        assert!(call(&mut p, "a", 2.0));
        assert_eq!(p.flush(2.0), Commit::Done);
        faults.fail(Op::Append, libc::EIO);
        assert!(call(&mut p, "b", 3.0));
        assert!(call(&mut p, "c", 3.0));
        assert_eq!(p.flush(3.0), Commit::Failed { rollback: true });
        assert!(p.writes_blocked().is_some());
        // What a restart would rebuild right now: without the failed iteration.
        // Half of the append landed: "b" whole, "c" torn.
        let rec: Recovery<Value> = p.reread(3.5).unwrap();
        assert_eq!(methods(&rec), vec!["a", "b"]);
        assert!(!call(&mut p, "x", 3.6));
        // The torn bytes cannot be cut while the disk fails: still blocked.
        faults.fail(Op::Truncate, libc::EIO);
        p.tick(5.0, &json!({}));
        assert!(p.writes_blocked().is_some());
        faults.disarm_all();
        p.tick(6.0, &json!({}));
        assert!(p.writes_blocked().is_none());
        assert!(call(&mut p, "d", 7.0));
        assert_eq!(p.flush(7.0), Commit::Done);
        drop(p);
        let (_p, rec) = open_faulty(&c, &Faults::default());
        assert_eq!(
            methods(&rec),
            vec!["a", "b", "d"],
            "what the reread said, then more"
        );
        assert!(
            rec.warnings.is_empty(),
            "the torn bytes were cut: {:?}",
            rec.warnings
        );
    }

    #[test]
    fn a_failed_fsync_fails_the_commit_in_always_and_a_snapshot_follows_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::Always);
        let faults = Faults::armable();
        let (mut p, _) = open_faulty(&c, &faults);
        faults.fail_times(Op::Sync, libc::EIO, 1);
        assert!(call(&mut p, "a", 2.0));
        assert_eq!(p.flush(2.0), Commit::Failed { rollback: false });
        assert!(p.writes_blocked().is_some());
        assert!(!call(&mut p, "b", 2.5));
        p.tick(4.0, &json!({"n": 1}));
        assert!(p.writes_blocked().is_none());
        assert_eq!(
            p.stats.snapshots, 1,
            "what the failed fsync held is saved anew"
        );
        drop(p);
        let (_p, rec) = open_faulty(&c, &Faults::default());
        assert_eq!(rec.state, Some(json!({"n": 1})));
        assert!(rec.records.is_empty());
    }

    #[test]
    fn everysec_a_failed_background_fsync_blocks_writes() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::EverySec);
        let faults = Faults::armable();
        let (mut p, _) = open_faulty(&c, &faults);
        assert!(call(&mut p, "a", 2.0));
        assert_eq!(
            p.flush(2.0),
            Commit::Done,
            "everysec: written, not yet synced"
        );
        faults.fail_times(Op::Sync, libc::EIO, 1);
        p.tick(3.5, &json!({}));
        // The sync thread reports back; a later tick sees it (bounded wait).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while p.writes_blocked().is_none() && std::time::Instant::now() < deadline {
            std::thread::yield_now();
            p.tick(3.5, &json!({}));
        }
        assert!(
            p.writes_blocked().is_some(),
            "the failed fsync blocks writes"
        );
        assert!(!call(&mut p, "b", 3.6));
        p.tick(5.0, &json!({"n": 2}));
        assert!(p.writes_blocked().is_none());
        assert_eq!(p.stats.snapshots, 1);
    }

    #[test]
    fn failures_around_snapshots_never_lose_a_record() {
        for op in [
            Op::Rotate,
            Op::SnapshotWrite,
            Op::SnapshotSync,
            Op::Rename,
            Op::SyncDir,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let c = cfg(dir.path(), Durability::Always);
            let faults = Faults::armable();
            let (mut p, _) = open_faulty(&c, &faults);
            assert!(call(&mut p, "a", 2.0));
            assert_eq!(p.flush(2.0), Commit::Done);
            faults.fail(op, libc::ENOSPC);
            p.start_snapshot(3.0, &json!({"n": 1}));
            assert_eq!(p.stats.snapshot_errors, 1, "{op:?}");
            assert_eq!(p.stats.snapshots, 0, "{op:?}");
            assert!(
                p.writes_blocked().is_none(),
                "{op:?}: the journal still works"
            );
            assert!(call(&mut p, "b", 4.0));
            assert_eq!(p.flush(4.0), Commit::Done, "{op:?}");
            drop(p);
            faults.disarm_all();
            let (_p, rec) = open_faulty(&c, &Faults::default());
            assert_eq!(methods(&rec), vec!["a", "b"], "{op:?}");
            assert!(rec.state.is_none(), "{op:?}");
            let temps = std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .contains(".tmp.")
                })
                .count();
            assert_eq!(temps, 0, "{op:?}");
        }
    }

    #[test]
    fn a_failed_final_snapshot_is_reported_and_the_journal_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::EverySec);
        let faults = Faults::armable();
        let (mut p, _) = open_faulty(&c, &faults);
        assert!(call(&mut p, "a", 2.0));
        // A journal that cannot be synced leaves the final snapshot as the way to keep
        // the state; here that fails too.
        faults.fail(Op::Sync, libc::EIO);
        faults.fail(Op::SnapshotWrite, libc::ENOSPC);
        assert!(!p.shutdown(3.0, &json!({"n": 1})));
        drop(p);
        let (_p, rec) = open_faulty(&c, &Faults::default());
        assert_eq!(methods(&rec), vec!["a"]);
    }

    #[test]
    fn a_damaged_journal_stops_the_start_and_changes_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::Always);
        let (mut p, _) = Persistence::open::<Value>(c.clone(), 1.0).unwrap();
        for i in 0..5 {
            p.record("add_task", &args(i), 2.0);
        }
        p.flush(2.0);
        drop(p);
        let jp = journal::journal_path(&c.state_path, 0);
        let mut data = std::fs::read(&jp).unwrap();
        let mid = data.len() / 2;
        data[mid] ^= 0x10;
        std::fs::write(&jp, &data).unwrap();
        let before: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let err = Persistence::open::<Value>(c.clone(), 3.0).err().unwrap();
        let msg = err.to_string();
        assert!(matches!(err, PersistError::Journal { .. }), "{msg}");
        assert!(
            msg.contains("state.json.journal.0") && msg.contains("byte "),
            "{msg}"
        );
        assert!(msg.contains("check-state"), "{msg}");
        assert_eq!(std::fs::read(&jp).unwrap(), data, "left untouched");
        let mut after: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let mut before = before;
        before.sort();
        after.sort();
        assert_eq!(before, after);
    }

    #[test]
    fn a_torn_record_in_a_generation_that_others_follow_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::Always);
        let (mut p, _) = Persistence::open::<Value>(c.clone(), 1.0).unwrap();
        p.record("add_task", &args(1), 2.0);
        p.flush(2.0);
        drop(p);
        let j0 = journal::journal_path(&c.state_path, 0);
        let mut data = std::fs::read(&j0).unwrap();
        data.extend_from_slice(&[9, 0, 0, 0, 1, 2]);
        std::fs::write(&j0, &data).unwrap();
        JournalWriter::create(&c.state_path, 1, &Faults::default()).unwrap();
        assert!(matches!(
            Persistence::open::<Value>(c.clone(), 3.0),
            Err(PersistError::Journal { .. })
        ));
    }

    #[test]
    fn a_second_server_on_the_same_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::Always);
        let (first, _) = Persistence::open::<Value>(c.clone(), 1.0).unwrap();
        let err = Persistence::open::<Value>(c.clone(), 1.0).err().unwrap();
        assert!(matches!(err, PersistError::Locked(_)), "{err}");
        assert!(err.to_string().contains(&std::process::id().to_string()));
        drop(first);
        Persistence::open::<Value>(c, 1.0).unwrap();
    }

    #[test]
    fn an_empty_state_file_is_an_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::Off);
        std::fs::write(&c.state_path, b"").unwrap();
        let (mut p, rec) = Persistence::open::<Value>(c.clone(), 1.0).unwrap();
        assert!(rec.state.is_none() && rec.warnings.is_empty());
        assert!(p.shutdown(2.0, &json!({"n": 5})));
        drop(p);
        let (_p, rec) = Persistence::open::<Value>(c, 3.0).unwrap();
        assert_eq!(rec.state, Some(json!({"n": 5})));
    }
}

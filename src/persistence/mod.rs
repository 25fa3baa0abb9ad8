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

pub mod journal;
pub mod pickle;
pub mod snapshot;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{ConfigError, Ini};
use journal::{JournalWriter, Record};

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
                .get_i64("luigid_rs", "snapshot_journal_bytes", 64 * 1024 * 1024)?
                .max(0) as u64,
            start_empty: ini.get_bool("luigid_rs", "start_empty", false)?,
            fork_snapshots: ini.get_bool("luigid_rs", "fork_snapshots", true)?,
        })
    }
}

/// What `open` found on disk, for the App to rebuild the scheduler from.
#[derive(Debug, Default)]
pub struct Recovery {
    /// The snapshot's scheduler state, if there was one.
    pub state: Option<Value>,
    /// Journal records to replay on top of it, in order.
    pub records: Vec<Record>,
    /// What happened, for the log: routine notes, and `warnings` for what lost or moved
    /// something (torn tails dropped, files moved aside, no state directory).
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
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

impl Persistence {
    /// Read the snapshot and journal, and open the journal for appending.
    /// An error is a refusal to start, with a message that says what to do.
    pub fn open(cfg: PersistConfig, now: f64) -> Result<(Persistence, Recovery), String> {
        let mut rec = Recovery::default();
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
            stats: Stats::default(),
            crash_next_snapshot_before_rename: false,
        };
        if !dir_of(&path).is_dir() {
            // luigid does not create the directory either; it only fails to save at
            // shutdown. Keep running, without durability, and say so.
            rec.warnings.push(format!(
                "state directory {} does not exist: state will not be saved (create it to \
                 enable snapshots and the journal)",
                dir_of(&path).display()
            ));
            return Ok((p, rec));
        }
        remove_stale_temps(&path);
        // luigid's own state file: imported once, then read below as our snapshot.
        match pickle::import_at_startup(&path, now) {
            Ok(Some(imported)) => {
                rec.notes.extend(imported.notes);
                rec.warnings.extend(imported.warnings);
            }
            Ok(None) => {}
            Err(e) if !p.cfg.start_empty => return Err(format!("{e}. {}", pickle::KEPT)),
            Err(e) => rec.warnings.push(e),
        }
        let mut snapshot_gen = 0;
        match snapshot::read(&path) {
            Ok(None) => rec.notes.push(format!(
                "no state file at {}: starting with an empty state",
                path.display()
            )),
            Ok(Some(l)) => {
                snapshot_gen = l.journal_gen;
                p.last_snapshot_bytes = file_len(&path);
                rec.notes.push(format!(
                    "loaded snapshot {} (journal generation {})",
                    path.display(),
                    l.journal_gen
                ));
                rec.state = Some(l.state);
            }
            Err(snapshot::LoadError::Io(e)) => {
                return Err(format!("cannot read state file {}: {e}", path.display()))
            }
            Err(snapshot::LoadError::Corrupt { path, why }) => {
                if !p.cfg.start_empty {
                    return Err(format!(
                        "the state file {} cannot be used: {why}. It was left untouched. \
                         To start with an empty state anyway, run with --start-empty (or \
                         [luigid_rs] start_empty = true): the file and its journals are then \
                         moved aside with a .corrupt-<time> suffix, never deleted.",
                        path.display()
                    ));
                }
                let moved = snapshot::move_aside(&path, now)
                    .map_err(|e| format!("cannot move {} aside: {e}", path.display()))?;
                rec.warnings.push(format!(
                    "state file unusable ({why}); moved to {} and starting empty",
                    moved.display()
                ));
                for g in journal::list_generations(&path).map_err(|e| e.to_string())? {
                    let jp = journal::journal_path(&path, g);
                    let moved = snapshot::move_aside(&jp, now).map_err(|e| e.to_string())?;
                    rec.notes
                        .push(format!("journal moved to {}", moved.display()));
                }
            }
        }
        let gens = journal::list_generations(&path)
            .map_err(|e| format!("cannot list journals beside {}: {e}", path.display()))?;
        let mut last: Option<(u64, u64)> = None;
        for g in gens {
            let jp = journal::journal_path(&path, g);
            if g < snapshot_gen {
                // Already contained in the snapshot: a crash came between the rename and
                // the clean-up.
                let _ = std::fs::remove_file(&jp);
                continue;
            }
            let read = journal::read_journal(&jp, g).map_err(|e| {
                format!(
                    "journal {} cannot be read: {e}. Move it aside to start from the \
                     snapshot alone.",
                    jp.display()
                )
            })?;
            if let Some(why) = &read.dropped_tail {
                rec.warnings.push(format!(
                    "journal {}: dropped an incomplete last record ({why}); it was never \
                     acknowledged",
                    jp.display()
                ));
            }
            rec.notes.push(format!(
                "journal {}: {} records to replay",
                jp.display(),
                read.records.len()
            ));
            p.records_since_snapshot += read.records.len() as u64;
            rec.records.extend(read.records);
            last = Some((g, read.valid_len));
        }
        p.gen = last.map(|(g, _)| g).unwrap_or(snapshot_gen);
        if p.cfg.durability != Durability::Off {
            let writer = match last {
                Some((g, len)) => JournalWriter::reopen(&path, g, len),
                None => JournalWriter::create(&path, snapshot_gen),
            }
            .map_err(|e| format!("cannot open the journal beside {}: {e}", path.display()))?;
            p.writer = Some(writer);
        }
        Ok((p, rec))
    }

    pub fn durability(&self) -> Durability {
        self.cfg.durability
    }

    /// Whether calls are being journaled (durability on and a writable state directory).
    pub fn journaling(&self) -> bool {
        self.writer.is_some()
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
    pub fn flush(&mut self, now: f64) {
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        if let Err(e) = w.write(&self.pending) {
            self.stats.journal_errors += 1;
            log::error!("journal write to {} failed: {e}", w.path.display());
        }
        self.pending.clear();
        self.unsynced = true;
        if self.cfg.durability == Durability::Always {
            self.sync(now);
        }
    }

    fn sync(&mut self, now: f64) {
        if let Some(w) = self.writer.as_mut() {
            match w.sync() {
                Ok(()) => self.stats.journal_syncs += 1,
                Err(e) => {
                    self.stats.journal_errors += 1;
                    log::error!("journal fsync of {} failed: {e}", w.path.display());
                }
            }
        }
        self.unsynced = false;
        self.last_sync = now;
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
        if bg.tx.send((handle, w.path.clone())).is_err() {
            bg.busy.store(false, Ordering::Release);
            self.bg = None;
            return false;
        }
        self.unsynced = false;
        self.last_sync = now;
        true
    }

    /// Count the sync thread's finished fsyncs into the stats.
    fn collect_background_syncs(&mut self) {
        if let Some(bg) = self.bg.as_mut() {
            let done = bg.done.load(Ordering::Acquire);
            let failed = bg.failed.load(Ordering::Acquire);
            self.stats.journal_syncs += done - bg.seen_done;
            self.stats.journal_errors += failed - bg.seen_failed;
            bg.seen_done = done;
            bg.seen_failed = failed;
        }
    }

    /// About once a second: `everysec` sync, reap a finished snapshot child, and start a
    /// snapshot when one is due.
    pub fn tick<T: Serialize>(&mut self, now: f64, state: &T) {
        self.collect_background_syncs();
        if self.unsynced && now - self.last_sync >= 1.0 {
            let background =
                self.cfg.durability == Durability::EverySec && self.sync_in_background(now);
            if !background {
                self.sync(now);
            }
        }
        self.reap(false);
        let Some(w) = self.writer.as_ref() else {
            return;
        };
        let due = self.records_since_snapshot > 0
            && (now - self.last_snapshot >= self.cfg.snapshot_interval
                || w.len >= self.journal_limit());
        if due && self.job.is_none() {
            self.start_snapshot(now, state);
        }
    }

    /// Journal bytes that start a snapshot: `snapshot_journal_bytes`, or the size of the
    /// last snapshot when that is larger. With a fixed limit a large state would be
    /// rewritten whole for every few MiB of journal (a 1M-task state is ~14 times 64 MiB),
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
    pub fn start_snapshot<T: Serialize>(&mut self, now: f64, state: &T) {
        let t0 = std::time::Instant::now();
        self.flush(now);
        if self.unsynced {
            self.sync(now);
        }
        let new_gen = match self.writer.as_ref() {
            Some(w) => w.gen + 1,
            None => self.gen + 1,
        };
        if self.writer.is_some() {
            match JournalWriter::create(&self.cfg.state_path, new_gen) {
                Ok(w) => self.writer = Some(w),
                Err(e) => {
                    self.stats.snapshot_errors += 1;
                    log::error!("cannot start journal generation {new_gen}: {e}");
                    return;
                }
            }
        }
        self.gen = new_gen;
        self.last_snapshot = now;
        self.records_since_snapshot = 0;
        let crash = std::mem::take(&mut self.crash_next_snapshot_before_rename);
        if self.cfg.fork_snapshots {
            // SAFETY: the child only serializes already-built memory into a file and then
            // leaves with _exit, running no destructors, atexit handlers or logging.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                yield_to_loop();
                let path = self.cfg.state_path.clone();
                let code = match snapshot::write_atomic(&path, new_gen, now, state, crash) {
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
        let res = snapshot::write_atomic(&self.cfg.state_path, new_gen, now, state, crash);
        self.note_pause(t0.elapsed().as_secs_f64());
        self.finish_snapshot(new_gen, now, res.map_err(|e| e.to_string()));
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

    /// Stop: wait for a running snapshot, then write a final one on this thread.
    pub fn shutdown<T: Serialize>(&mut self, now: f64, state: &T) {
        self.reap(true);
        let fork = std::mem::replace(&mut self.cfg.fork_snapshots, false);
        self.start_snapshot(now, state);
        self.cfg.fork_snapshots = fork;
        // The journal of the new generation is empty: remove it so a clean stop leaves
        // only the snapshot behind.
        if let Some(w) = self.writer.take() {
            if w.len <= 16 {
                let _ = std::fs::remove_file(&w.path);
            }
        }
        self.join_cleanup();
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
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The `everysec` sync thread: fsyncs the journal handles it is sent, one at a time.
struct BgSync {
    tx: mpsc::Sender<(std::fs::File, PathBuf)>,
    busy: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    seen_done: u64,
    seen_failed: u64,
}

impl BgSync {
    fn start() -> Option<BgSync> {
        let (tx, rx) = mpsc::channel::<(std::fs::File, PathBuf)>();
        let busy = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (b, d, f) = (busy.clone(), done.clone(), failed.clone());
        let spawned = std::thread::Builder::new()
            .name("journal-sync".into())
            .spawn(move || {
                for (file, path) in rx {
                    match file.sync_data() {
                        Ok(()) => d.fetch_add(1, Ordering::AcqRel),
                        Err(e) => {
                            log::error!("journal fsync of {} failed: {e}", path.display());
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
        let (mut p, rec) = Persistence::open(cfg(dir.path(), Durability::Always), 1.0).unwrap();
        assert!(rec.state.is_none() && rec.records.is_empty());
        for i in 0..10 {
            p.record("add_task", &args(i), 10.0 + i as f64);
        }
        p.flush(20.0);
        assert_eq!(p.stats.journal_syncs, 1, "one sync for the whole iteration");
        drop(p); // a crash: no shutdown
        let (_p, rec) = Persistence::open(cfg(dir.path(), Durability::Always), 2.0).unwrap();
        assert_eq!(rec.records.len(), 10);
        assert_eq!(rec.records[3].args, args(3));
        assert_eq!(rec.records[9].now, 19.0);
    }

    #[test]
    fn snapshot_then_more_records_then_crash() {
        for fork in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let mut c = cfg(dir.path(), Durability::EverySec);
            c.fork_snapshots = fork;
            let (mut p, _) = Persistence::open(c.clone(), 1.0).unwrap();
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
            let (_p, rec) = Persistence::open(c, 5.0).unwrap();
            assert_eq!(rec.state, Some(json!({"n": 1})));
            assert_eq!(rec.records.len(), 1, "only what came after the snapshot");
            assert_eq!(rec.records[0].args, args(2));
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
        let (mut p, _) = Persistence::open(c.clone(), 1.0).unwrap();
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
        let (p, _) = Persistence::open(c, t + 1.0).unwrap();
        assert_eq!(p.journal_limit(), now_len);
    }

    #[test]
    fn failed_snapshot_keeps_every_journal() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::Always);
        let (mut p, _) = Persistence::open(c.clone(), 1.0).unwrap();
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
        let (_p, rec) = Persistence::open(c, 7.0).unwrap();
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
        let methods: Vec<_> = rec.records.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(methods, vec!["b", "c"]);
    }

    #[test]
    fn everysec_fsyncs_on_the_sync_thread() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::EverySec);
        let (mut p, _) = Persistence::open(c, 1.0).unwrap();
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
    fn clean_shutdown_leaves_only_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::EverySec);
        let (mut p, _) = Persistence::open(c.clone(), 1.0).unwrap();
        p.record("a", &args(1), 2.0);
        p.shutdown(3.0, &json!({"n": 9}));
        let (_p, rec) = Persistence::open(c, 4.0).unwrap();
        assert_eq!(rec.state, Some(json!({"n": 9})));
        assert!(rec.records.is_empty());
    }

    #[test]
    fn off_writes_no_journal_but_saves_at_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(dir.path(), Durability::Off);
        let (mut p, _) = Persistence::open(c.clone(), 1.0).unwrap();
        assert!(!p.journaling());
        p.record("a", &args(1), 2.0);
        p.flush(2.0);
        assert!(journal::list_generations(&c.state_path).unwrap().is_empty());
        p.shutdown(3.0, &json!({"n": 3}));
        let (_p, rec) = Persistence::open(c, 4.0).unwrap();
        assert_eq!(rec.state, Some(json!({"n": 3})));
    }

    #[test]
    fn corrupt_snapshot_refuses_then_moves_aside_with_start_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), Durability::Always);
        std::fs::write(&c.state_path, b"{broken").unwrap();
        let err = Persistence::open(c.clone(), 1.0).err().unwrap();
        assert!(err.contains("--start-empty"), "{err}");
        assert_eq!(std::fs::read(&c.state_path).unwrap(), b"{broken");
        c.start_empty = true;
        let (_p, rec) = Persistence::open(c.clone(), 1700000000.0).unwrap();
        assert!(rec.state.is_none());
        assert!(dir.path().join("state.json.corrupt-1700000000").exists());
    }

    #[test]
    fn missing_directory_runs_without_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let c = cfg(&dir.path().join("nope"), Durability::Always);
        let (mut p, rec) = Persistence::open(c, 1.0).unwrap();
        assert!(!p.journaling());
        assert!(rec.warnings[0].contains("does not exist"));
        p.shutdown(2.0, &json!({}));
    }
}

//! High availability: an active/standby pair (or more) sharing the scheduler state
//! through PostgreSQL, configured by `[luigid_rs] state_store = postgresql://...` (the
//! URL forms of task history, `crate::history::url`). Without that key this module is
//! not used and the state lives in local files (`crate::persistence`).
//!
//! # Leadership
//! Every server opens a session and tries `pg_try_advisory_lock(store::LOCK_KEY)` every
//! `[luigid_rs] ha_check_interval` seconds (default 1) on its own thread
//! ([`store::Elector`]). The one that gets it creates the tables if missing, moves the
//! term in `luigid_rs_leader` on by one, reads the latest snapshot and the journal rows
//! after it, and hands the session to the loop thread, which replays them through the
//! server's own path (`rebuild` in `src/app.rs`) and then serves. The others are
//! standbys: `HEAD /` and every `/api/*` answer 503 (with `Retry-After`), pages and
//! static files are served.
//!
//! # Fencing
//! Journal rows are written only in the session that holds the lock, and the insert
//! itself checks that the stored term is still ours ([`store::APPEND`]). A session that
//! died released its lock, and its statements fail: a leader that lost its session can
//! never write again. A failed or fenced commit turns that iteration's replies into 503s
//! and the server steps down to standby (its state is dropped; a new leadership reloads
//! it from PostgreSQL). An idle leader checks its session every `ha_check_interval`.
//!
//! # Tables
//! - `luigid_rs_leader(id = 1, term bigint, holder text, since timestamptz)`: one row,
//!   the current term and who took it.
//! - `luigid_rs_journal(seq bigserial, term bigint, records bytea)`: one row per group
//!   commit (one loop iteration), holding that iteration's records framed exactly as in a
//!   local journal file (`crate::persistence::journal`), without the file header.
//! - `luigid_rs_snapshot(id bigint, n integer, journal_seq_covered bigint, term bigint,
//!   data bytea)`: the pieces (`n` = 0, 1, ...) of a v3 snapshot file
//!   (`crate::persistence::snapshot`) holding every journal row up to
//!   `journal_seq_covered`; ids come from the sequence `luigid_rs_snapshot_id`.
//!
//! # Durability
//! `always`: the iteration's records are committed in one statement before its replies
//! leave. `everysec`: committed at least once a second (a failover may lose the last
//! second). `off` is treated as `everysec` (a state store without a journal would lose
//! everything at a failover).
//!
//! # Snapshots
//! When `snapshot_interval` seconds passed or `ha_snapshot_records` records were
//! committed since the last one, a forked child writes a v3 snapshot to a local spool
//! file (the loop pays only for the fork), and a thread with its own session uploads it
//! in one transaction that holds the leader row and checks the term, then deletes the
//! older snapshots and the journal rows it covers.

pub mod store;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::config::Ini;
use crate::history::url::{DbUrl, Engine, NetUrl};
use crate::persistence::journal::{self, Records};
use crate::persistence::{Durability, Recovery};
use crate::scheduler::Scheduler;
use store::{Elector, ElectorMsg};

/// `[luigid_rs]` settings of the state store.
#[derive(Debug, Clone)]
pub struct HaConfig {
    pub url: NetUrl,
    pub check_interval: f64,
    pub durability: Durability,
    pub snapshot_interval: f64,
    pub snapshot_records: u64,
}

impl HaConfig {
    /// None without `state_store`. Errors name the setting.
    pub fn from_ini(ini: &Ini) -> Result<Option<HaConfig>, String> {
        let raw = ini.get_str("luigid_rs", "state_store", "");
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        let url = match crate::history::url::parse(raw) {
            Ok(DbUrl::Net(n)) if n.engine == Engine::Postgres => n,
            Ok(other) => {
                return Err(format!(
                    "[luigid_rs] state_store = {other}: only a PostgreSQL URL \
                     (postgresql://...) can hold the shared state"
                ))
            }
            Err(e) => return Err(format!("[luigid_rs] state_store: {e}")),
        };
        let e = |e: crate::config::ConfigError| e.to_string();
        let check_interval = ini
            .get_f64("luigid_rs", "ha_check_interval", 1.0)
            .map_err(e)?;
        if !(check_interval > 0.0 && check_interval <= 3600.0) {
            return Err(format!(
                "[luigid_rs] ha_check_interval = {check_interval}: must be a number of \
                 seconds above 0 (at most 3600)"
            ));
        }
        let durability = match ini
            .get_str("luigid_rs", "durability", "everysec")
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "always" => Durability::Always,
            "everysec" | "off" => Durability::EverySec,
            other => {
                return Err(format!(
                    "[luigid_rs] durability = {other:?} is not one of always, everysec, off"
                ))
            }
        };
        Ok(Some(HaConfig {
            url,
            check_interval,
            durability,
            snapshot_interval: ini
                .get_f64("luigid_rs", "snapshot_interval", 300.0)
                .map_err(e)?,
            snapshot_records: ini
                .get_i64("luigid_rs", "ha_snapshot_records", 100_000)
                .map_err(e)?
                .max(1) as u64,
        }))
    }
}

/// The session that holds the lock, while leader.
struct Leader {
    client: postgres::Client,
    term: i64,
    append: postgres::Statement,
    probe: postgres::Statement,
    /// The last journal row written (or read at the takeover).
    last_seq: i64,
}

/// A snapshot child writing to the spool, then its upload.
enum SnapJob {
    Writing {
        pid: libc::pid_t,
        path: PathBuf,
        covered: i64,
        started: Instant,
    },
    Uploading {
        handle: std::thread::JoinHandle<Result<u64, String>>,
        path: PathBuf,
        started: Instant,
    },
}

/// What the loop must do after [`Ha::tick`] or a commit.
pub enum Change {
    Nothing,
    /// Leadership taken: rebuild the state from this, then serve.
    BecameLeader(Box<Recovery<Scheduler>>),
    /// Leadership lost: drop the state and answer as standby.
    SteppedDown,
}

/// Upper bounds (seconds) of the commit latency histogram.
const COMMIT_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0,
];

#[derive(Debug, Default, Clone)]
pub struct HaStats {
    pub leadership_changes: u64,
    pub commits: u64,
    pub commit_failures: u64,
    commit_buckets: [u64; COMMIT_BUCKETS.len()],
    commit_secs_sum: f64,
    pub snapshots: u64,
    pub snapshot_errors: u64,
    pub last_takeover_secs: f64,
}

pub struct Ha {
    cfg: HaConfig,
    leader: Option<Leader>,
    elector: Option<Elector>,
    pending: Vec<u8>,
    /// Records queued since the start (the App compares it around a call).
    pub records: u64,
    records_since_snapshot: u64,
    last_commit: f64,
    last_snapshot: f64,
    job: Option<SnapJob>,
    spool: PathBuf,
    holder: String,
    /// Why the last leadership ended (the 503 of the refused replies says it).
    pub lost_reason: String,
    pub stats: HaStats,
}

impl Ha {
    /// Start competing for the leadership. Waits for the first try, so that a lone
    /// server starts as leader at once.
    pub fn start(cfg: HaConfig, now: f64) -> Result<Ha, String> {
        // Checked here so that a bad TLS setting stops the start instead of the election.
        crate::history::backend::PgConn::new(&cfg.url, false)
            .map_err(|e| format!("[luigid_rs] state_store = {}: {e}", cfg.url))?;
        let spool = std::env::temp_dir().join(format!("luigid-rs-ha.{}", std::process::id()));
        std::fs::create_dir_all(&spool)
            .map_err(|e| format!("cannot create the spool directory {}: {e}", spool.display()))?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let holder = format!("{} pid {}", host.trim(), std::process::id());
        log::info!(
            "state store {}: waiting for the leadership (lock key {}, check every {} s)",
            cfg.url,
            store::LOCK_KEY,
            cfg.check_interval
        );
        let mut ha = Ha {
            cfg,
            leader: None,
            elector: None,
            pending: Vec::new(),
            records: 0,
            records_since_snapshot: 0,
            last_commit: now,
            last_snapshot: now,
            job: None,
            spool,
            holder,
            lost_reason: String::new(),
            stats: HaStats::default(),
        };
        ha.start_elector(Duration::ZERO)?;
        Ok(ha)
    }

    fn start_elector(&mut self, delay: Duration) -> Result<(), String> {
        let elector = Elector::start(
            self.cfg.url.clone(),
            Duration::from_secs_f64(self.cfg.check_interval),
            delay,
            self.holder.clone(),
            self.spool.clone(),
        )
        .map_err(|e| format!("cannot start the election thread: {e}"))?;
        self.elector = Some(elector);
        Ok(())
    }

    /// Wait (at most `limit`) for the first election result: leadership, or standby.
    pub fn first_result(&mut self, limit: Duration, now: f64) -> Change {
        let Some(el) = self.elector.as_ref() else {
            return Change::Nothing;
        };
        match el.rx.recv_timeout(limit) {
            Ok(msg) => self.on_elector(msg, now),
            Err(_) => Change::Nothing,
        }
    }

    pub fn is_leader(&self) -> bool {
        self.leader.is_some()
    }

    pub fn term(&self) -> Option<i64> {
        self.leader.as_ref().map(|l| l.term)
    }

    /// Queue a call's record (the request's `data` text); committed by the next group
    /// commit ([`Ha::before_flush`]).
    pub fn record_raw(&mut self, method: &str, data: &str, now: f64) {
        if self.leader.is_none() {
            return;
        }
        journal::encode_raw_record(method, data, now, &mut self.pending);
        self.records += 1;
        self.records_since_snapshot += 1;
    }

    /// Queue a call's record from its arguments.
    pub fn record(&mut self, method: &str, args: &Map<String, Value>, now: f64) {
        if self.leader.is_none() {
            return;
        }
        journal::encode_record(method, args, now, &mut self.pending);
        self.records += 1;
        self.records_since_snapshot += 1;
    }

    /// The loop's group commit. `always`: commit what the iteration queued. `everysec`:
    /// commit when a second passed. SteppedDown: the commit failed or was fenced out;
    /// the replies that needed it must be refused.
    pub fn before_flush(&mut self, now: f64) -> Change {
        if self.pending.is_empty() {
            return Change::Nothing;
        }
        if self.cfg.durability == Durability::Always || now - self.last_commit >= 1.0 {
            return self.commit(now);
        }
        Change::Nothing
    }

    /// Commit the queued records in one statement, fenced by the term.
    fn commit(&mut self, now: f64) -> Change {
        let Some(l) = self.leader.as_mut() else {
            self.pending.clear();
            return Change::Nothing;
        };
        self.last_commit = now;
        if self.pending.is_empty() {
            return Change::Nothing;
        }
        let t0 = Instant::now();
        let result = l
            .client
            .query_opt(&l.append, &[&l.term, &self.pending.as_slice()]);
        let secs = t0.elapsed().as_secs_f64();
        self.pending.clear();
        match result {
            Ok(Some(row)) => {
                if let Ok(seq) = row.try_get::<_, i64>(0) {
                    l.last_seq = seq;
                }
                self.stats.commits += 1;
                self.stats.commit_secs_sum += secs;
                if let Some(i) = COMMIT_BUCKETS.iter().position(|&b| secs <= b) {
                    self.stats.commit_buckets[i] += 1;
                }
                Change::Nothing
            }
            Ok(None) => {
                self.stats.commit_failures += 1;
                let term = l.term;
                self.step_down(format!(
                    "fenced out: the leader term in PostgreSQL is no longer ours ({term})"
                ))
            }
            Err(e) => {
                self.stats.commit_failures += 1;
                self.step_down(format!("the journal commit to PostgreSQL failed: {e}"))
            }
        }
    }

    /// Leave the leadership: the session is closed (releasing the lock, if it still
    /// held it) and the election starts again.
    fn step_down(&mut self, why: String) -> Change {
        log::error!(
            "state store: leadership lost ({why}); answering as standby from now on, \
             state dropped until the leadership is taken again"
        );
        self.leader = None;
        self.pending.clear();
        self.kill_snapshot_job();
        self.stats.leadership_changes += 1;
        self.lost_reason = why;
        if let Err(e) = self.start_elector(self.step_down_delay()) {
            log::error!("state store: {e}");
        }
        Change::SteppedDown
    }

    /// After losing the leadership, let the others try first: whatever cut this
    /// server's session may cut it again.
    fn step_down_delay(&self) -> Duration {
        Duration::from_secs_f64(2.0 * self.cfg.check_interval)
    }

    /// About once a second: take the leadership when the election won; as leader,
    /// commit (`everysec`), check the session when idle, run snapshots.
    pub fn tick(&mut self, now: f64, state: &Scheduler) -> Change {
        if self.leader.is_none() {
            return self.poll_election(now);
        }
        if !self.pending.is_empty() {
            if let Change::SteppedDown = self.commit(now) {
                return Change::SteppedDown;
            }
        } else if now - self.last_commit >= self.cfg.check_interval.min(1.0) {
            self.last_commit = now;
            if let Some(l) = self.leader.as_mut() {
                let probe = l
                    .client
                    .query_one(&l.probe, &[])
                    .and_then(|r| r.try_get::<_, i64>(0));
                let term = l.term;
                match probe {
                    Ok(t) if t == term => {}
                    Ok(t) => {
                        return self.step_down(format!(
                            "fenced out: the leader term in PostgreSQL is {t}, ours {term}"
                        ))
                    }
                    Err(e) => return self.step_down(format!("the PostgreSQL session failed: {e}")),
                }
            }
        }
        self.advance_snapshot(now, state);
        Change::Nothing
    }

    /// A standby: has the election thread won the leadership? (A channel read.)
    pub fn poll_election(&mut self, now: f64) -> Change {
        if self.leader.is_some() {
            return Change::Nothing;
        }
        match self.elector.as_ref().and_then(|e| e.rx.try_recv().ok()) {
            Some(msg) => self.on_elector(msg, now),
            None => Change::Nothing,
        }
    }

    fn on_elector(&mut self, msg: ElectorMsg, now: f64) -> Change {
        match msg {
            ElectorMsg::Standby(why) => {
                log::info!("state store: standby ({why})");
                Change::Nothing
            }
            ElectorMsg::Acquired(acq) => {
                self.elector = None;
                let store::Acquired {
                    mut client,
                    mut state,
                } = *acq;
                let prepared = client
                    .prepare(store::APPEND)
                    .and_then(|a| client.prepare(store::PROBE).map(|p| (a, p)));
                let (append, probe) = match prepared {
                    Ok(s) => s,
                    Err(e) => {
                        drop(client);
                        self.step_down(format!("cannot prepare the journal statements: {e}"));
                        return Change::Nothing;
                    }
                };
                let recovery = match recovery_of(&mut state) {
                    Ok(r) => r,
                    Err(e) => {
                        // Serving a state that misses what was acknowledged is worse
                        // than serving nothing: give the leadership back.
                        drop(client);
                        log::error!("state store: the stored state cannot be used: {e}");
                        self.stats.leadership_changes += 1;
                        if let Err(e) = self.start_elector(self.step_down_delay()) {
                            log::error!("state store: {e}");
                        }
                        return Change::Nothing;
                    }
                };
                log::info!(
                    "state store: leader (term {}); read {} from PostgreSQL in {:.2} s",
                    state.term,
                    match &state.snapshot {
                        Some((_, covered)) => format!(
                            "the snapshot up to journal row {covered} and {} journal rows",
                            state.journal_rows
                        ),
                        None => format!("no snapshot and {} journal rows", state.journal_rows),
                    },
                    state.load_secs
                );
                self.leader = Some(Leader {
                    client,
                    term: state.term,
                    append,
                    probe,
                    last_seq: state.last_seq,
                });
                self.stats.leadership_changes += 1;
                self.stats.last_takeover_secs = state.load_secs;
                self.records_since_snapshot = recovery.records.len() as u64;
                self.last_commit = now;
                self.last_snapshot = now;
                Change::BecameLeader(Box::new(recovery))
            }
        }
    }

    /// Start a due snapshot, reap its child, start and collect its upload.
    fn advance_snapshot(&mut self, now: f64, state: &Scheduler) {
        match self.job.take() {
            None => {
                let due = self.records_since_snapshot >= self.cfg.snapshot_records
                    || (self.records_since_snapshot > 0
                        && now - self.last_snapshot >= self.cfg.snapshot_interval);
                if due {
                    self.start_snapshot(now, state);
                }
            }
            Some(SnapJob::Writing {
                pid,
                path,
                covered,
                started,
            }) => {
                let mut status: libc::c_int = 0;
                // SAFETY: waitpid on our own child.
                let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
                if r == 0 {
                    self.job = Some(SnapJob::Writing {
                        pid,
                        path,
                        covered,
                        started,
                    });
                    return;
                }
                if !(r > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
                    self.stats.snapshot_errors += 1;
                    log::error!("state store: the snapshot child failed (status {status})");
                    let _ = std::fs::remove_file(&path);
                    return;
                }
                let Some(term) = self.term() else { return };
                let url = self.cfg.url.clone();
                let upload_path = path.clone();
                let spawned = std::thread::Builder::new()
                    .name("ha-snapshot".into())
                    .spawn(move || store::upload_snapshot(&url, term, covered, &upload_path));
                match spawned {
                    Ok(handle) => {
                        self.job = Some(SnapJob::Uploading {
                            handle,
                            path,
                            started,
                        })
                    }
                    Err(e) => {
                        self.stats.snapshot_errors += 1;
                        log::error!("state store: cannot start the snapshot upload: {e}");
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
            Some(SnapJob::Uploading {
                handle,
                path,
                started,
            }) => {
                if !handle.is_finished() {
                    self.job = Some(SnapJob::Uploading {
                        handle,
                        path,
                        started,
                    });
                    return;
                }
                let _ = std::fs::remove_file(&path);
                match handle.join() {
                    Ok(Ok(bytes)) => {
                        self.stats.snapshots += 1;
                        log::info!(
                            "state store: snapshot of {bytes} bytes stored in {:.2} s",
                            started.elapsed().as_secs_f64()
                        );
                    }
                    Ok(Err(e)) => {
                        self.stats.snapshot_errors += 1;
                        log::error!(
                            "state store: snapshot upload failed: {e}; the journal rows \
                             still hold every change"
                        );
                    }
                    Err(_) => {
                        self.stats.snapshot_errors += 1;
                        log::error!("state store: the snapshot upload thread panicked");
                    }
                }
            }
        }
    }

    /// Fork a child that writes the state to the spool. Everything queued is committed
    /// first, so the snapshot covers exactly the journal rows up to the last one.
    fn start_snapshot(&mut self, now: f64, state: &Scheduler) {
        if !self.pending.is_empty() {
            if let Change::SteppedDown = self.commit(now) {
                return;
            }
        }
        let Some(covered) = self.leader.as_ref().map(|l| l.last_seq) else {
            return;
        };
        self.last_snapshot = now;
        self.records_since_snapshot = 0;
        let path = self.spool.join(format!("snapshot.{covered}"));
        // SAFETY: the child only serializes already-built memory into a file and leaves
        // with _exit (no destructors: the PostgreSQL session it inherited is never used).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: plain calls on this process; die with the parent so that a killed
            // leader's socket is not kept open by its child.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() == 1 {
                    libc::_exit(1);
                }
            }
            let code = match crate::persistence::snapshot::write_atomic(
                &path,
                0,
                now,
                state,
                false,
                &crate::persistence::faults::Faults::default(),
            ) {
                Ok(()) => 0,
                Err(_) => 1,
            };
            // SAFETY: see above.
            unsafe { libc::_exit(code) };
        }
        if pid < 0 {
            self.stats.snapshot_errors += 1;
            log::error!(
                "state store: fork for a snapshot failed: {}",
                std::io::Error::last_os_error()
            );
            return;
        }
        self.job = Some(SnapJob::Writing {
            pid,
            path,
            covered,
            started: Instant::now(),
        });
    }

    fn kill_snapshot_job(&mut self) {
        match self.job.take() {
            Some(SnapJob::Writing { pid, path, .. }) => {
                // SAFETY: signalling and reaping our own child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, std::ptr::null_mut(), 0);
                }
                let _ = std::fs::remove_file(path);
            }
            // Its transaction checks the term: it cannot store anything once fenced
            // out. Let it end on its own.
            Some(SnapJob::Uploading { .. }) | None => {}
        }
    }

    /// Stop: commit what is queued, close the session (the lock goes to a standby).
    pub fn shutdown(&mut self, now: f64) -> bool {
        let ok = !matches!(self.commit(now), Change::SteppedDown);
        self.kill_snapshot_job();
        if let Some(SnapJob::Uploading { handle, path, .. }) = self.job.take() {
            let _ = handle.join();
            let _ = std::fs::remove_file(path);
        }
        self.leader = None;
        self.elector = None;
        let _ = std::fs::remove_dir_all(&self.spool);
        ok
    }

    /// The `/metrics` lines of the state store.
    pub fn render_metrics(&self, o: &mut String) {
        use std::fmt::Write;
        let role = if self.is_leader() { 1 } else { 0 };
        let _ = writeln!(
            o,
            "# HELP luigid_rs_ha_role 1 while this server is the leader, 0 while standby\n\
             # TYPE luigid_rs_ha_role gauge\nluigid_rs_ha_role {role}"
        );
        let _ = writeln!(
            o,
            "# HELP luigid_rs_ha_leadership_changes_total Leaderships taken or lost by this \
             server\n# TYPE luigid_rs_ha_leadership_changes_total counter\n\
             luigid_rs_ha_leadership_changes_total {}",
            self.stats.leadership_changes
        );
        let _ = writeln!(
            o,
            "# HELP luigid_rs_ha_term The leader term this server holds (0: standby)\n\
             # TYPE luigid_rs_ha_term gauge\nluigid_rs_ha_term {}",
            self.term().unwrap_or(0)
        );
        let _ = writeln!(
            o,
            "# HELP luigid_rs_ha_commit_seconds Journal commits to PostgreSQL\n\
             # TYPE luigid_rs_ha_commit_seconds histogram"
        );
        let mut cumulative = 0;
        for (bound, n) in COMMIT_BUCKETS.iter().zip(self.stats.commit_buckets) {
            cumulative += n;
            let _ = writeln!(
                o,
                "luigid_rs_ha_commit_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            o,
            "luigid_rs_ha_commit_seconds_bucket{{le=\"+Inf\"}} {}\n\
             luigid_rs_ha_commit_seconds_sum {}\nluigid_rs_ha_commit_seconds_count {}",
            self.stats.commits, self.stats.commit_secs_sum, self.stats.commits
        );
        let _ = writeln!(
            o,
            "# HELP luigid_rs_ha_uncommitted_bytes Journal bytes not yet committed to \
             PostgreSQL (everysec: what a failover now would lose)\n\
             # TYPE luigid_rs_ha_uncommitted_bytes gauge\nluigid_rs_ha_uncommitted_bytes {}",
            self.pending.len()
        );
        let _ = writeln!(
            o,
            "# HELP luigid_rs_ha_commit_failures_total Journal commits that failed or were \
             fenced out\n# TYPE luigid_rs_ha_commit_failures_total counter\n\
             luigid_rs_ha_commit_failures_total {}",
            self.stats.commit_failures
        );
        let _ = writeln!(
            o,
            "# HELP luigid_rs_ha_snapshots_total Snapshots stored in PostgreSQL\n\
             # TYPE luigid_rs_ha_snapshots_total counter\nluigid_rs_ha_snapshots_total {}\n\
             # HELP luigid_rs_ha_snapshot_errors_total Snapshots that failed\n\
             # TYPE luigid_rs_ha_snapshot_errors_total counter\n\
             luigid_rs_ha_snapshot_errors_total {}",
            self.stats.snapshots, self.stats.snapshot_errors
        );
    }
}

impl Drop for Ha {
    fn drop(&mut self) {
        self.kill_snapshot_job();
    }
}

/// The stored state as a [`Recovery`] for `rebuild` in `src/app.rs`.
fn recovery_of(state: &mut store::Stored) -> Result<Recovery<Scheduler>, String> {
    let mut rec = Recovery::default();
    if let Some((path, covered)) = &state.snapshot {
        let loaded = crate::persistence::snapshot::read::<Scheduler>(path)
            .map_err(|e| format!("the stored snapshot: {e}"))?;
        let _ = std::fs::remove_file(path);
        match loaded {
            Some(l) => {
                rec.state = Some(l.state);
                rec.notes.push(format!(
                    "state store: snapshot covering journal rows up to {covered} loaded"
                ));
            }
            None => return Err("the stored snapshot is empty".into()),
        }
    }
    rec.records = Records::from_framed(std::mem::take(&mut state.journal))
        .map_err(|e| format!("the stored journal: {e}"))?;
    Ok(rec)
}

/// The 503 body a standby answers to API calls: the visualiser reads `standby`.
pub fn standby_body(reason: &str) -> Vec<u8> {
    let mut body = Vec::new();
    crate::pyjson::write_py_json(
        &serde_json::json!({
            "error": format!("this luigid-rs is a standby: {reason}; send requests to the leader"),
            "standby": true,
        }),
        &mut body,
    );
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ini(text: &str) -> Ini {
        let mut i = Ini::default();
        i.read_ini_str(text, "test.cfg")
            .expect("test config parses");
        i
    }

    #[test]
    fn no_state_store_means_no_ha() {
        assert!(
            HaConfig::from_ini(&ini("[luigid_rs]\ndurability = always\n"))
                .expect("valid")
                .is_none()
        );
    }

    #[test]
    fn state_store_takes_postgresql_urls_only() {
        let c = HaConfig::from_ini(&ini(
            "[luigid_rs]\nstate_store = postgresql://u:secret@127.0.0.1:5433/db\n\
             ha_check_interval = 0.5\ndurability = always\n",
        ))
        .expect("valid")
        .expect("configured");
        assert_eq!(c.check_interval, 0.5);
        assert_eq!(c.durability, Durability::Always);
        assert_eq!(c.url.port, Some(5433));
        let e = HaConfig::from_ini(&ini("[luigid_rs]\nstate_store = sqlite:///x.db\n"))
            .expect_err("sqlite refused");
        assert!(e.contains("only a PostgreSQL URL"), "{e}");
        let e = HaConfig::from_ini(&ini("[luigid_rs]\nstate_store = mysql://u:secret@h/db\n"))
            .expect_err("mysql refused");
        assert!(!e.contains("secret"), "password masked: {e}");
        let e = HaConfig::from_ini(&ini(
            "[luigid_rs]\nstate_store = postgresql://h/db\nha_check_interval = 0\n",
        ))
        .expect_err("zero interval refused");
        assert!(e.contains("ha_check_interval"), "{e}");
    }

    #[test]
    fn off_is_committed_every_second() {
        let c = HaConfig::from_ini(&ini(
            "[luigid_rs]\nstate_store = postgresql://h/db\ndurability = off\n",
        ))
        .expect("valid")
        .expect("configured");
        assert_eq!(c.durability, Durability::EverySec);
    }

    #[test]
    fn standby_body_says_standby() {
        let body = standby_body("another luigid-rs holds the leadership");
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["standby"], Value::Bool(true));
        assert!(v["error"].as_str().is_some_and(|s| s.contains("standby")));
    }

    #[test]
    fn stored_journal_rows_replay_as_records() {
        let mut rows = Vec::new();
        journal::encode_raw_record("add_task", r#"{"task_id": "A"}"#, 5.0, &mut rows);
        journal::encode_raw_record("ping", r#"{"worker": "w"}"#, 6.0, &mut rows);
        let mut stored = store::Stored {
            term: 3,
            snapshot: None,
            journal: rows.clone(),
            journal_rows: 1,
            last_seq: 7,
            load_secs: 0.0,
        };
        let rec = recovery_of(&mut stored).expect("readable");
        let methods: Vec<String> = rec
            .records
            .iter()
            .map(|r| r.expect("decodes").method)
            .collect();
        assert_eq!(methods, ["add_task", "ping"]);
        // A damaged row is refused, never half replayed.
        let mut bad = rows;
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let mut stored = store::Stored {
            journal: bad,
            ..stored
        };
        assert!(recovery_of(&mut stored).is_err());
    }
}

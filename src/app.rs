//! The application state one server loop owns, and the hooks the loop calls:
//! `handle` per request, `on_tick` from the timer wheel, `before_flush` once per loop
//! iteration (journal group commit), `shutdown` on a stop signal.
//!
//! Every RPC goes through [`App::rpc`]: it journals state-changing calls before they run
//! (what to journal is the api table's [`Effect`]), calls the scheduler through
//! [`Method::call`], and hands the scheduler's events to history and metrics.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::api::{ApiError, Args, Effect, Method, Reply, MESSAGE_ID_ARG};
use crate::config::Ini;
use crate::history::History;
use crate::http::{Request, Response};
use crate::metrics::Metrics;
use crate::persistence::journal::RecordData;
use crate::persistence::{Commit, PersistConfig, Persistence, Recovery};
use crate::scheduler::{Scheduler, SchedulerConfig};

/// Who is on the other end of a connection (for logs, rate limits and peer credentials).
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// "127.0.0.1:5555" for TCP, "unix" for a UNIX socket.
    pub addr: String,
    /// Peer uid from SO_PEERCRED on a UNIX socket.
    pub uid: Option<u32>,
}

/// Why the server cannot start: which part of the configuration, or the saved state,
/// refused. Its message says what to change.
#[derive(Debug)]
pub enum StartError {
    /// A luigi.cfg setting read through the config module.
    Config(crate::config::ConfigError),
    /// A setting another part checks itself (CORS and static files, task history,
    /// metric labels, notifications).
    Setting { part: &'static str, message: String },
    /// The saved state cannot be used.
    State(crate::persistence::PersistError),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "{e}"),
            StartError::Setting { message, .. } => f.write_str(message),
            StartError::State(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Config(e) => Some(e),
            StartError::Setting { .. } => None,
            StartError::State(e) => Some(e),
        }
    }
}

pub struct App {
    pub ini: Ini,
    /// Change it only through [`App::rpc`] (and the prune timer), so that every change
    /// is journaled.
    pub scheduler: Scheduler,
    /// The router's cache of large list replies, valid for one version of the task table.
    pub reply_cache: crate::router::ReplyCache,
    pub scheduler_config: SchedulerConfig,
    /// Router settings ([cors], static root), parsed once.
    pub router: crate::router::RouterState,
    pub history: Option<History>,
    pub metrics: Metrics,
    /// E-mail and Datadog notifications (crate::notify).
    pub notifier: crate::notify::Notifier,
    /// None in tests that build an App without a state file, and with a state store.
    pub persistence: Option<Persistence>,
    /// The shared state in PostgreSQL and the leadership (`[luigid_rs] state_store`);
    /// None without it.
    pub ha: Option<crate::ha::Ha>,
    /// Access control (off by default, as luigid).
    pub auth: crate::auth::Auth,
    /// When each worker's heartbeat was last journaled (pings are journaled sparingly).
    ping_journaled: HashMap<String, f64>,
    rng: XorShift,
    final_save_failed: bool,
}

impl App {
    /// Build everything from the merged configuration (command-line flags are already
    /// applied to `ini` as overrides), recovering the saved state. Errors are startup
    /// errors a user can act on.
    pub fn from_ini(ini: Ini) -> Result<App, StartError> {
        use StartError::{Config, Setting, State};
        let router = crate::router::RouterState::from_ini(&ini).map_err(|e| Setting {
            part: "router",
            message: e,
        })?;
        let auth = crate::auth::Auth::from_ini(&ini).map_err(Config)?;
        let scheduler_config = crate::config::scheduler_config(&ini).map_err(Config)?;
        let history = History::from_ini(&ini).map_err(|e| Setting {
            part: "task history",
            message: e,
        })?;
        let labels = crate::metrics::TaskLabels::from_ini(&ini).map_err(|e| Setting {
            part: "metrics",
            message: e,
        })?;
        let metrics = Metrics::with_labels(labels);
        let notifier =
            crate::notify::Notifier::from_ini(&ini, &scheduler_config, metrics.delivery.clone())
                .map_err(|e| Setting {
                    part: "notifications",
                    message: e,
                })?;
        let persist_config = PersistConfig::from_ini(&ini).map_err(Config)?;
        let now = crate::clock::unix_now();
        let ha_config = crate::ha::HaConfig::from_ini(&ini).map_err(|e| Setting {
            part: "state store",
            message: e,
        })?;
        let (persistence, ha, recovery) = match ha_config {
            // The state lives in PostgreSQL: no local files, no local lock.
            Some(cfg) => {
                let mut ha = crate::ha::Ha::start(cfg, now).map_err(|e| Setting {
                    part: "state store",
                    message: e,
                })?;
                let recovery = match ha.first_result(HA_FIRST_TRY, now) {
                    crate::ha::Change::BecameLeader(rec) => *rec,
                    _ => Recovery::default(),
                };
                (None, Some(ha), recovery)
            }
            None => {
                let (p, rec) =
                    Persistence::open::<Scheduler>(persist_config, now).map_err(State)?;
                (Some(p), None, rec)
            }
        };
        let (scheduler, replay) = rebuild(recovery, &scheduler_config);
        metrics.set_journal_replay(replay.replayed, replay.failed);
        Ok(App {
            router,
            auth,
            scheduler,
            scheduler_config,
            history,
            metrics,
            notifier,
            persistence,
            ha,
            reply_cache: Default::default(),
            ping_journaled: HashMap::new(),
            rng: XorShift::seeded(),
            final_save_failed: false,
            ini,
        })
    }

    /// An App without persistence or history (tests of the router and api).
    pub fn new(ini: Ini) -> App {
        let scheduler_config = crate::config::scheduler_config(&ini).unwrap_or_default();
        App {
            router: crate::router::RouterState::from_ini_lenient(&ini),
            auth: crate::auth::Auth::from_ini(&ini).unwrap_or_default(),
            scheduler: Scheduler::new(scheduler_config.clone()),
            scheduler_config,
            history: None,
            metrics: Metrics::default(),
            notifier: crate::notify::Notifier::disabled(),
            persistence: None,
            ha: None,
            reply_cache: Default::default(),
            ping_journaled: HashMap::new(),
            rng: XorShift::seeded(),
            final_save_failed: false,
            ini,
        }
    }

    /// Answer one request at time `now` (seconds since the epoch).
    pub fn handle(&mut self, req: &Request, peer: &Peer, now: f64) -> Response {
        let started = Instant::now();
        if let Some(ha) = self.ha.as_mut().filter(|h| !h.is_leader()) {
            // A load balancer's health checks come more often than the tick: a standby
            // whose election was won serves from the first one on.
            let change = ha.poll_election(now);
            self.on_ha_change(change);
        }
        if let Some(resp) = self.standby_reply(req) {
            self.metrics.observe_request(
                request_label(&req.path),
                resp.status,
                started.elapsed().as_secs_f64(),
            );
            return resp;
        }
        let records = self.journal_records();
        let mut resp = crate::router::route(self, req, peer, now);
        // Its journal record must be kept before this reply may say it was done.
        resp.needs_commit = self.journal_records() != records;
        self.metrics.observe_request(
            request_label(&req.path),
            resp.status,
            started.elapsed().as_secs_f64(),
        );
        resp
    }

    fn journal_records(&self) -> u64 {
        self.persistence
            .as_ref()
            .map_or(0, |p| p.stats.journal_records)
            + self.ha.as_ref().map_or(0, |h| h.records)
    }

    /// A standby answers `HEAD /` (a load balancer's health check) and every API call
    /// with 503, so that traffic goes to the leader; pages and static files are served.
    fn standby_reply(&self, req: &Request) -> Option<Response> {
        let ha = self.ha.as_ref().filter(|h| !h.is_leader())?;
        let api = req.path.starts_with("/api/");
        let health_check = req.path == "/" && req.method == "HEAD";
        if !(api || health_check) {
            return None;
        }
        let why = if ha.lost_reason.is_empty() {
            "another luigid-rs holds the leadership"
        } else {
            ha.lost_reason.as_str()
        };
        let mut resp = Response::new(503)
            .with_body("application/json", crate::ha::standby_body(why))
            .with_header(
                "Retry-After",
                crate::persistence::RETRY_AFTER_SECS.to_string(),
            );
        if api {
            // The visualiser is served from another origin in some deployments.
            self.router.cors.actual(req.header_str("origin"), &mut resp);
        }
        resp.head_only = req.method == "HEAD";
        Some(resp)
    }

    /// Why state-changing calls are refused right now (the saved state cannot be written).
    pub fn writes_blocked(&self) -> Option<&crate::persistence::WriteBlock> {
        self.persistence.as_ref().and_then(|p| p.writes_blocked())
    }

    /// Why the replies of a loop iteration whose group commit failed are refused.
    pub fn refusal_reason(&self) -> String {
        if let Some(b) = self.writes_blocked() {
            return b.reason.clone();
        }
        match &self.ha {
            Some(ha) if !ha.is_leader() && !ha.lost_reason.is_empty() => {
                format!("leadership lost: {}", ha.lost_reason)
            }
            _ => "the journal write failed".to_string(),
        }
    }

    /// One RPC call: journal it if it can change state, run it, feed history and metrics.
    /// `data`: the text to journal for it (the request's `data` text, or a shorter
    /// equivalent), `None` to journal the arguments themselves.
    pub fn rpc(
        &mut self,
        method: &'static Method,
        mut args: Args<'_>,
        data: Option<&str>,
        now: f64,
    ) -> Result<Reply, ApiError> {
        let mut data = data;
        if method.name == "send_scheduler_message" && args.get(MESSAGE_ID_ARG).is_none() {
            // Chosen here, not in the scheduler, so that a replay uses the same id.
            args.push(MESSAGE_ID_ARG, Value::String(self.rng.uuid4()));
            data = None;
        }
        let blocked = self.writes_blocked().is_some();
        self.scheduler.hold_prunes(blocked);
        if self.needs_journal(method, &args, now) {
            if let Some(p) = self.persistence.as_mut() {
                let size = data.map_or(256, str::len) + method.name.len();
                if let Err(refused) = p.admit(size, now) {
                    self.metrics.add_refused_write();
                    self.metrics.set_writes_blocked(true);
                    return Err(ApiError::Unavailable(refused.reason));
                }
                match data {
                    Some(text) => p.record_raw(method.name, text, now),
                    // Folded as a dict: a repeated name's last value at its first place.
                    None => p.record(method.name, &args.to_map(), now),
                }
            }
            if let Some(ha) = self.ha.as_mut() {
                if !ha.is_leader() {
                    return Err(ApiError::Unavailable(
                        "this luigid-rs is a standby".to_string(),
                    ));
                }
                match data {
                    Some(text) => ha.record_raw(method.name, text, now),
                    None => ha.record(method.name, &args.to_map(), now),
                }
            }
        }
        let result = method.call(&mut self.scheduler, args, now);
        self.dispatch_events();
        result
    }

    /// Prune now, journaling it only when it changed something (a replay of an
    /// unchanged prune changes nothing either, so skipping it is exact).
    fn prune(&mut self, now: f64) {
        let blocked = self.writes_blocked().is_some();
        self.scheduler.hold_prunes(blocked);
        if self.scheduler.prune_needed(now) {
            if let Some(p) = self.persistence.as_mut() {
                p.record("prune", &Map::new(), now);
            }
            if let Some(ha) = self.ha.as_mut() {
                ha.record("prune", &Map::new(), now);
            }
        }
        if let Err(e) = crate::api::call(&mut self.scheduler, "prune", Args::none(), now) {
            log::error!("the periodic prune failed: {e}");
        }
        self.dispatch_events();
    }

    /// Whether the call must be journaled for a restart to rebuild the same state.
    fn needs_journal(&mut self, method: &Method, args: &Args<'_>, now: f64) -> bool {
        match method.effect {
            // Journaled verbatim only when its prune would change something; otherwise
            // it never touches the journal.
            Effect::Read => method.prunes && self.scheduler.prune_needed(now),
            // A heartbeat only refreshes last_active, unless it creates the worker or
            // collects its messages; journal the rest at most every few seconds so that a
            // recovered worker is not pruned early.
            Effect::Heartbeat => {
                let worker = args.get("worker").and_then(Value::as_str).unwrap_or("");
                let due = self
                    .ping_journaled
                    .get(worker)
                    .is_none_or(|&t| now - t >= 10.0);
                if due || self.scheduler.worker_has_messages(worker) {
                    self.ping_journaled.insert(worker.to_string(), now);
                    true
                } else {
                    false
                }
            }
            Effect::ReadWithSideEffect | Effect::Write => true,
        }
    }

    fn dispatch_events(&mut self) {
        let events = self.scheduler.drain_events();
        if events.is_empty() {
            return;
        }
        let scheduler = &self.scheduler;
        self.metrics
            .record_events_with(&events, crate::clock::unix_now(), &|id| {
                scheduler.task_params(id)
            });
        self.notifier.on_events(&events, scheduler);
        if let Some(h) = &self.history {
            h.record_owned(events);
        }
    }

    /// `GET /metrics`.
    pub fn metrics_response(&self) -> Response {
        let errors = self.history.as_ref().map(History::error_count).unwrap_or(0);
        if let Some(h) = &self.history {
            self.metrics.set_history_dropped(h.dropped_events());
        }
        let mut resp = crate::metrics::handle(
            &self.metrics,
            &self.scheduler.status_counts(),
            self.scheduler.worker_count(),
            errors,
        );
        if let Some(ha) = &self.ha {
            let mut text = String::new();
            ha.render_metrics(&mut text);
            resp.body.extend_from_slice(text.as_bytes());
        }
        resp
    }

    /// Called by the loop once per iteration, after all requests of the iteration were
    /// handled and before their replies are written (group commit point). False: the
    /// journal records of this iteration were not kept, so the replies of the requests
    /// that made them ([`Response::needs_commit`]) must not say they were done.
    pub fn before_flush(&mut self, now: f64) -> bool {
        if let Some(ha) = self.ha.as_mut() {
            if let crate::ha::Change::SteppedDown = ha.before_flush(now) {
                self.drop_state();
                return false;
            }
        }
        let Some(p) = self.persistence.as_mut() else {
            return true;
        };
        let syncs = p.stats.journal_syncs;
        let commit = p.flush(now);
        for _ in syncs..p.stats.journal_syncs {
            self.metrics.add_journal_sync();
        }
        match commit {
            Commit::Done => true,
            Commit::Failed { rollback } => {
                self.metrics.set_writes_blocked(true);
                if rollback {
                    self.rollback(now);
                }
                false
            }
        }
    }

    /// Leadership lost: what is in memory may hold calls that were never committed, and
    /// another server now owns the state. Serve nothing of it until leader again.
    fn drop_state(&mut self) {
        self.scheduler = Scheduler::new(self.scheduler_config.clone());
        self.reply_cache = Default::default();
        self.ping_journaled.clear();
    }

    /// The state store reports leadership taken or lost (see [`crate::ha::Change`]).
    fn on_ha_change(&mut self, change: crate::ha::Change) {
        match change {
            crate::ha::Change::Nothing => {}
            crate::ha::Change::SteppedDown => self.drop_state(),
            crate::ha::Change::BecameLeader(recovery) => {
                let (scheduler, replay) = rebuild(*recovery, &self.scheduler_config);
                self.metrics
                    .set_journal_replay(replay.replayed, replay.failed);
                self.scheduler = scheduler;
                self.reply_cache = Default::default();
                self.ping_journaled.clear();
            }
        }
    }

    /// Calls of this iteration were applied but their journal append failed: rebuild the
    /// state from the files, so that what is served is what a restart would rebuild.
    fn rollback(&mut self, now: f64) {
        let Some(p) = self.persistence.as_mut() else {
            return;
        };
        let t0 = Instant::now();
        match p.reread::<Scheduler>(now) {
            Ok(recovery) => {
                let (mut scheduler, replay) = rebuild(recovery, &self.scheduler_config);
                self.metrics
                    .set_journal_replay(replay.replayed, replay.failed);
                scheduler.hold_prunes(true);
                self.scheduler = scheduler;
                self.reply_cache = Default::default();
                self.ping_journaled.clear();
                log::warn!(
                    "state rebuilt from {} in {:.3} s: calls whose journal append failed were \
                     answered 503 and are undone",
                    p.state_path().display(),
                    t0.elapsed().as_secs_f64()
                );
            }
            Err(e) => log::error!(
                "cannot reread the saved state to undo calls whose journal append failed \
                 ({e}); they stay applied in memory, answered 503"
            ),
        }
    }

    /// The periodic prune, every 60 s as luigid (first one 60 s after start).
    pub fn on_prune_timer(&mut self, now: f64) {
        self.prune(now);
        if let Some(h) = &self.history {
            h.run_retention(now);
        }
    }

    /// Called about once a second by the timer wheel: journal fsync (`everysec`),
    /// periodic snapshots.
    pub fn on_tick(&mut self, now: f64) {
        if let Some(h) = &self.history {
            // Events queued while the database was away go on without waiting for traffic.
            h.pump();
        }
        if let Some(ha) = self.ha.as_mut() {
            let change = ha.tick(now, &self.scheduler);
            self.on_ha_change(change);
        }
        if let Some(p) = self.persistence.as_mut() {
            let (syncs, snaps) = (p.stats.journal_syncs, p.stats.snapshots);
            p.tick(now, &self.scheduler);
            for _ in syncs..p.stats.journal_syncs {
                self.metrics.add_journal_sync();
            }
            if p.stats.snapshots > snaps {
                self.metrics.observe_snapshot(p.stats.last_snapshot_secs);
            }
            let blocked = p.writes_blocked().is_some();
            self.metrics.set_writes_blocked(blocked);
            self.scheduler.hold_prunes(blocked);
        }
    }

    /// The loop reports its number of open connections (for /metrics).
    pub fn set_open_connections(&mut self, open: usize) {
        self.metrics.set_open_connections(open);
    }

    /// A stop signal arrived: save state. Called once, before the loop exits. False when
    /// the final snapshot could not be written (the journal still holds what was kept).
    pub fn shutdown(&mut self, now: f64) -> bool {
        let mut saved = match self.persistence.as_mut() {
            Some(p) => p.shutdown(now, &self.scheduler),
            None => true,
        };
        if let Some(ha) = self.ha.as_mut() {
            saved &= ha.shutdown(now);
        }
        if let Some(h) = &self.history {
            h.flush();
        }
        self.notifier.shutdown();
        self.final_save_failed = !saved;
        saved
    }

    /// The final snapshot at the stop failed (the exit status says so).
    pub fn final_save_failed(&self) -> bool {
        self.final_save_failed
    }

    /// The loop reports an iteration that was its longest so far or slow.
    pub fn observe_loop_iteration(&mut self, secs: f64) {
        self.metrics
            .observe_loop_iteration(secs, crate::server::SLOW_ITERATION_SECS);
    }

    /// The server swapped a reply for a 503 because the group commit failed.
    pub fn note_refused_reply(&mut self) {
        self.metrics.add_refused_write();
    }
}

/// How long a start waits for its first try at the leadership (a lone server then
/// starts as leader, not as a standby for a second).
const HA_FIRST_TRY: std::time::Duration = std::time::Duration::from_secs(15);

/// What replaying the journal at a start (or a rollback) did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Replay {
    pub replayed: u64,
    /// Calls that answered an error, as they did when they were first made (a bad
    /// argument is journaled before the call runs); a different count would mean the
    /// replay diverged.
    pub failed: u64,
}

/// The scheduler a start rebuilds from the saved state: the snapshot with today's
/// settings, then the journal replayed.
fn rebuild(recovery: Recovery<Scheduler>, config: &SchedulerConfig) -> (Scheduler, Replay) {
    for note in &recovery.notes {
        log::info!("{note}");
    }
    for warning in &recovery.warnings {
        log::warn!("{warning}");
    }
    let t0 = Instant::now();
    let mut scheduler = match recovery.state {
        Some(mut s) => {
            s.apply_config(config.clone());
            s.rebuild_indexes();
            log::info!(
                "indexed {} tasks in {:.2} s",
                s.task_count(),
                t0.elapsed().as_secs_f64()
            );
            s
        }
        None => Scheduler::new(config.clone()),
    };
    let t1 = Instant::now();
    let mut replay = Replay::default();
    for rec in recovery.records.views() {
        replay.replayed += 1;
        let rec = match rec {
            Ok(rec) => rec,
            Err(why) => {
                replay.failed += 1;
                if replay.failed <= 3 {
                    log::error!("a journaled call could not be read and was skipped: {why}");
                }
                continue;
            }
        };
        // Replayed calls already produced their replies and history before the crash.
        // The request's text goes through the server's own path: parse, then call.
        let result = match crate::api::method(&rec.method) {
            None => Err(crate::api::ApiError::UnknownMethod(rec.method.to_string())),
            Some(m) => match rec.data {
                RecordData::Text(text) => crate::api::parse(m, text)
                    .and_then(|parsed| m.call(&mut scheduler, parsed.args, rec.now)),
                RecordData::Map(map) => m.call(&mut scheduler, Args::from_map(map), rec.now),
            },
        };
        if let Err(e) = result {
            replay.failed += 1;
            if replay.failed <= 3 {
                log::warn!("replaying a journaled {} failed: {e}", rec.method);
            }
        }
        scheduler.drain_events();
    }
    if replay.replayed > 0 {
        log::info!(
            "replayed {} journaled calls in {:.2} s ({} failed: unreadable, or answered an \
             error as when they were first made; /metrics: luigid_journal_replay_errors)",
            replay.replayed,
            t1.elapsed().as_secs_f64(),
            replay.failed
        );
    }
    (scheduler, replay)
}

/// A bounded set of labels for the request metrics.
fn request_label(path: &str) -> &str {
    if let Some(m) = path.strip_prefix("/api/") {
        if let Some(method) = crate::api::method(m) {
            return method.name;
        }
        return "api_other";
    }
    if path.starts_with("/static/") {
        "static"
    } else if path == "/" {
        "root"
    } else if path == "/metrics" {
        "metrics"
    } else if path.starts_with("/history") || path.starts_with("/tasklist") {
        "history"
    } else {
        "other"
    }
}

/// Message ids only need to be unique, not secret: xorshift seeded from the OS.
struct XorShift(u64);

impl XorShift {
    fn seeded() -> XorShift {
        let mut seed = [0u8; 8];
        // SAFETY: getrandom writes at most seed.len() bytes into the buffer.
        let n = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
        let mut s = u64::from_le_bytes(seed);
        if n != 8 || s == 0 {
            s = (crate::clock::unix_now() * 1e6) as u64 ^ u64::from(std::process::id()) | 1;
        }
        XorShift(s)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A random (version 4) UUID in its usual text form.
    fn uuid4(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        let a = (a & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid4_has_version_and_variant() {
        let mut r = XorShift(12345);
        let u = r.uuid4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
        assert_ne!(u, r.uuid4());
    }

    #[test]
    fn labels_are_bounded() {
        assert_eq!(request_label("/api/add_task"), "add_task");
        assert_eq!(request_label("/api/evil<script>"), "api_other");
        assert_eq!(request_label("/static/visualiser/x.js"), "static");
        assert_eq!(request_label("/history/by_id/3"), "history");
    }
}

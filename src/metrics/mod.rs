//! `/metrics` in the Prometheus text exposition format (0.0.4), always on.
//!
//! The task metrics carry the names, help texts and `family` label of Luigi's
//! prometheus collector (`luigi/contrib/prometheus_metric.py`), including the `*_created` series prometheus_client adds for counters,
//! and its number formatting, so existing dashboards keep working. Our own series are
//! prefixed `luigid_`.
//!
//! The label set follows `[prometheus] use_task_family_in_labels` and
//! `task_parameters_to_use_in_labels` as that collector does ([`TaskLabels`]).
//!
//! Differences: a task disabled gets its counter but no execution time (the event
//! carries none); a FAILED report for a task that never ran leaves the execution time
//! unchanged instead of failing the RPC.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::http::Response;
use crate::scheduler::events::Event;

mod exposition;
mod labels;

pub use exposition::go_float;
use exposition::{header, sample};
use labels::KEY_SEP;
pub use labels::{ParamsOf, TaskLabels};

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the request latency histogram, in seconds.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Distinct `method` label values kept; more become "other" (a client calling made-up
/// RPC names must not grow the series without bound).
const MAX_METHOD_LABELS: usize = 128;

#[derive(Debug, Clone, Copy)]
struct Counter {
    value: f64,
    /// Unix time the label set appeared (prometheus_client's `_created`).
    created: f64,
}

#[derive(Debug, Default, Clone)]
struct Family {
    started: Option<Counter>,
    failed: Option<Counter>,
    disabled: Option<Counter>,
    done: Option<Counter>,
    execution_time: Option<f64>,
}

#[derive(Debug, Clone)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: [0; LATENCY_BUCKETS.len()],
            count: 0,
            sum: 0.0,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    families: BTreeMap<String, Family>,
    /// Label -> status -> count (nested, so that a request looks it up without a copy).
    requests: BTreeMap<String, BTreeMap<u16, u64>>,
    latency: BTreeMap<String, Histogram>,
    open_connections: usize,
    journal_syncs: u64,
    state_writes_blocked: bool,
    loop_longest: f64,
    loop_slow: u64,
    state_write_refused: u64,
    /// Task history events dropped because the history queue was full.
    history_dropped: u64,
    /// Journaled calls replayed at the last start (or rollback), and those of them that
    /// answered an error.
    journal_replayed: u64,
    journal_replay_errors: u64,
    snapshots: u64,
    snapshot_sum: f64,
    snapshot_last: Option<f64>,
}

/// All counters. Methods take `&self` so a helper thread (snapshot writer) can feed
/// its hooks through an `Arc<Metrics>`.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    labels: TaskLabels,
    /// Outcomes of the notifications (e-mail, DogStatsD), counted by their senders.
    pub delivery: Arc<Delivery>,
}

/// Counters the notification senders (crate::notify, on their own thread) bump.
#[derive(Debug, Default)]
pub struct Delivery {
    pub emails_sent: AtomicU64,
    /// E-mails given up on after their retries.
    pub emails_failed: AtomicU64,
    /// Notifications dropped because the sender thread's queue was full.
    pub notifications_dropped: AtomicU64,
    pub statsd_datagrams: AtomicU64,
    pub statsd_errors: AtomicU64,
}

impl Delivery {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// `families.get_mut(name)`, with "" found without a string comparison: comparing an
/// empty string whose buffer was never allocated runs `memcmp(_, _, 0)` on a dangling
/// address, which costs ~100 ns on AVX-512 machines (see `Interner::empty`), and the
/// upstream tests' tasks all have family "".
fn family_mut<'a>(
    families: &'a mut BTreeMap<String, Family>,
    name: &str,
) -> Option<&'a mut Family> {
    if name.is_empty() {
        // "" sorts first.
        return families
            .first_entry()
            .filter(|e| e.key().is_empty())
            .map(|e| e.into_mut());
    }
    families.get_mut(name)
}

/// A map key for `name`; "" gets a real (one-byte) buffer so that other names compared
/// with it do not pay the dangling-address `memcmp` described at [`family_mut`].
fn owned_key(name: &str) -> String {
    if name.is_empty() {
        String::with_capacity(1)
    } else {
        name.to_string()
    }
}

fn bump(c: &mut Option<Counter>, now: f64) {
    c.get_or_insert(Counter {
        value: 0.0,
        created: now,
    })
    .value += 1.0;
}

impl Metrics {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Metrics with the task label set from `[prometheus]`.
    pub fn with_labels(labels: TaskLabels) -> Metrics {
        Metrics {
            labels,
            ..Metrics::default()
        }
    }

    /// Whether [`Metrics::record_events_with`] needs the tasks' params.
    pub fn needs_params(&self) -> bool {
        !self.labels.family_only()
    }

    /// Count the scheduler's events of one loop iteration (status events are ignored).
    pub fn record_events(&self, events: &[Event]) {
        self.record_events_at(events, crate::clock::unix_now());
    }

    /// [`Metrics::record_events`] with the Unix time used for new `_created` series
    /// (parameter labels, if any, show as `None`).
    pub fn record_events_at(&self, events: &[Event], now: f64) {
        self.record_events_with(events, now, &|_| None);
    }

    /// [`Metrics::record_events_at`] with `params` giving a task's params by id, for
    /// the parameter labels.
    pub fn record_events_with(&self, events: &[Event], now: f64, params: &ParamsOf<'_>) {
        let mut inner = self.lock();
        for e in events {
            let (family, f): (&str, &dyn Fn(&mut Family)) = match e {
                Event::TaskStarted { family, .. } => (family, &|f: &mut Family| {
                    bump(&mut f.started, now);
                    f.execution_time.get_or_insert(0.0);
                }),
                Event::TaskFailed {
                    family,
                    execution_secs,
                    ..
                } => (family, &move |f: &mut Family| {
                    bump(&mut f.failed, now);
                    if let Some(s) = execution_secs {
                        f.execution_time = Some(*s);
                    }
                }),
                Event::TaskDisabled { family, .. } => {
                    (family, &|f: &mut Family| bump(&mut f.disabled, now))
                }
                Event::TaskDone {
                    family,
                    execution_secs,
                    ..
                } => (family, &move |f: &mut Family| {
                    bump(&mut f.done, now);
                    if let Some(s) = execution_secs {
                        f.execution_time = Some(*s);
                    }
                }),
                _ => continue,
            };
            let keyed;
            let family: &str = if self.labels.family_only() {
                family
            } else {
                let task_params = task_id_of(e).and_then(params).unwrap_or_default();
                keyed = self.labels.key(family, &task_params);
                &keyed
            };
            match family_mut(&mut inner.families, family) {
                Some(fam) => f(fam),
                None => {
                    let mut fam = Family::default();
                    f(&mut fam);
                    inner.families.insert(owned_key(family), fam);
                }
            }
        }
    }

    /// The `luigi_task_*` labels of a series key.
    fn series_labels<'a>(&self, names: &[&'a str], key: &'a str) -> Vec<(&'a str, &'a str)> {
        if self.labels.family_only() {
            return vec![("family", key)];
        }
        names.iter().copied().zip(key.split(KEY_SEP)).collect()
    }

    /// One answered request: `method_label` is the RPC method for `/api/...` and a
    /// short fixed name for other routes (e.g. "static", "metrics", "history").
    pub fn observe_request(&self, method_label: &str, status: u16, secs: f64) {
        let mut inner = self.lock();
        let known = inner.latency.contains_key(method_label);
        let label = if known || inner.latency.len() < MAX_METHOD_LABELS {
            method_label
        } else {
            "other"
        };
        // Look up before inserting: `entry` would copy the label on every request.
        match inner.requests.get_mut(label) {
            Some(by_status) => *by_status.entry(status).or_insert(0) += 1,
            None => {
                inner
                    .requests
                    .insert(label.to_string(), BTreeMap::from([(status, 1)]));
            }
        }
        if !inner.latency.contains_key(label) {
            inner
                .latency
                .insert(label.to_string(), Histogram::default());
        }
        let Some(h) = inner.latency.get_mut(label) else {
            return;
        };
        h.count += 1;
        if secs.is_finite() && secs >= 0.0 {
            h.sum += secs;
        }
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *le {
                h.buckets[i] += 1;
            }
        }
    }

    pub fn set_open_connections(&self, n: usize) {
        self.lock().open_connections = n;
    }

    /// Hook for persistence: one journal fsync done.
    pub fn add_journal_sync(&self) {
        self.lock().journal_syncs += 1;
    }

    /// Hook for persistence: a state-changing call refused (or answered 503) because the
    /// saved state could not be written.
    pub fn add_refused_write(&self) {
        self.lock().state_write_refused += 1;
    }

    /// Hook for the server loop: an iteration of `secs` that was the longest so far or
    /// at least `slow` seconds.
    pub fn observe_loop_iteration(&self, secs: f64, slow: f64) {
        let mut inner = self.lock();
        if secs > inner.loop_longest {
            inner.loop_longest = secs;
        }
        if secs >= slow {
            inner.loop_slow += 1;
        }
    }

    /// Hook for persistence: whether state-changing calls are refused right now.
    pub fn set_writes_blocked(&self, blocked: bool) {
        self.lock().state_writes_blocked = blocked;
    }

    /// Hook for history: `History::dropped_events()` (read when /metrics is rendered).
    pub fn set_history_dropped(&self, n: u64) {
        self.lock().history_dropped = n;
    }

    /// Hook for the start: the journal replay's calls and the errors they answered.
    pub fn set_journal_replay(&self, replayed: u64, errors: u64) {
        let mut inner = self.lock();
        inner.journal_replayed = replayed;
        inner.journal_replay_errors = errors;
    }

    /// Hook for persistence: one snapshot written in `secs`.
    pub fn observe_snapshot(&self, secs: f64) {
        let mut inner = self.lock();
        inner.snapshots += 1;
        if secs.is_finite() && secs >= 0.0 {
            inner.snapshot_sum += secs;
        }
        inner.snapshot_last = Some(secs);
    }

    /// The whole exposition. `status_counts`: tasks per status; `workers`: active
    /// workers; `history_errors`: `History::error_count()` (0 without history).
    pub fn render(
        &self,
        status_counts: &[(String, usize)],
        workers: usize,
        history_errors: u64,
    ) -> String {
        let inner = self.lock();
        let names = self.labels.names();
        let mut o = String::with_capacity(4096);
        type Get = fn(&Family) -> Option<Counter>;
        let luigi: [(&str, &str, Get); 4] = [
            ("luigi_task_started", "number of started luigi tasks", |f| {
                f.started
            }),
            ("luigi_task_failed", "number of failed luigi tasks", |f| {
                f.failed
            }),
            (
                "luigi_task_disabled",
                "number of disabled luigi tasks",
                |f| f.disabled,
            ),
            ("luigi_task_done", "number of done luigi tasks", |f| f.done),
        ];
        for (name, help, get) in luigi {
            header(&mut o, &format!("{name}_total"), help, "counter");
            for (fam, f) in &inner.families {
                if let Some(c) = get(f) {
                    sample(
                        &mut o,
                        &format!("{name}_total"),
                        &self.series_labels(&names, fam),
                        c.value,
                    );
                }
            }
            // prometheus_client writes no `_created` family while a counter has no
            // label set yet.
            if inner.families.values().any(|f| get(f).is_some()) {
                header(&mut o, &format!("{name}_created"), help, "gauge");
            }
            for (fam, f) in &inner.families {
                if let Some(c) = get(f) {
                    sample(
                        &mut o,
                        &format!("{name}_created"),
                        &self.series_labels(&names, fam),
                        c.created,
                    );
                }
            }
        }
        header(
            &mut o,
            "luigi_task_execution_time_seconds",
            "luigi task execution time in seconds",
            "gauge",
        );
        for (fam, f) in &inner.families {
            if let Some(v) = f.execution_time {
                sample(
                    &mut o,
                    "luigi_task_execution_time_seconds",
                    &self.series_labels(&names, fam),
                    v,
                );
            }
        }

        header(
            &mut o,
            "luigid_tasks",
            "tasks in the scheduler by status",
            "gauge",
        );
        let mut statuses: Vec<&(String, usize)> = status_counts.iter().collect();
        statuses.sort();
        for (st, n) in statuses {
            sample(&mut o, "luigid_tasks", &[("status", st)], *n as f64);
        }
        header(&mut o, "luigid_workers_active", "active workers", "gauge");
        sample(&mut o, "luigid_workers_active", &[], workers as f64);
        header(
            &mut o,
            "luigid_open_connections",
            "open client connections",
            "gauge",
        );
        sample(
            &mut o,
            "luigid_open_connections",
            &[],
            inner.open_connections as f64,
        );

        header(
            &mut o,
            "luigid_http_requests_total",
            "requests answered, by RPC method (or route) and status code",
            "counter",
        );
        for (m, by_status) in &inner.requests {
            for (code, n) in by_status {
                sample(
                    &mut o,
                    "luigid_http_requests_total",
                    &[("method", m), ("code", &code.to_string())],
                    *n as f64,
                );
            }
        }
        let hn = "luigid_http_request_duration_seconds";
        header(
            &mut o,
            hn,
            "time to answer a request, by RPC method (or route)",
            "histogram",
        );
        for (m, h) in &inner.latency {
            for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
                sample(
                    &mut o,
                    &format!("{hn}_bucket"),
                    &[("method", m), ("le", &go_float(*le))],
                    h.buckets[i] as f64,
                );
            }
            let count = h.count as f64;
            sample(
                &mut o,
                &format!("{hn}_bucket"),
                &[("method", m), ("le", "+Inf")],
                count,
            );
            sample(&mut o, &format!("{hn}_count"), &[("method", m)], count);
            sample(&mut o, &format!("{hn}_sum"), &[("method", m)], h.sum);
        }

        header(
            &mut o,
            "luigid_history_write_errors_total",
            "task history batches that failed or were dropped",
            "counter",
        );
        sample(
            &mut o,
            "luigid_history_write_errors_total",
            &[],
            history_errors as f64,
        );
        header(
            &mut o,
            "luigid_history_dropped_events_total",
            "task history events dropped because the history queue was full",
            "counter",
        );
        sample(
            &mut o,
            "luigid_history_dropped_events_total",
            &[],
            inner.history_dropped as f64,
        );
        header(
            &mut o,
            "luigid_journal_replayed_calls",
            "journaled calls replayed when the state was last rebuilt (start or rollback)",
            "gauge",
        );
        sample(
            &mut o,
            "luigid_journal_replayed_calls",
            &[],
            inner.journal_replayed as f64,
        );
        header(
            &mut o,
            "luigid_journal_replay_errors",
            "replayed calls that answered an error (as they did when first made)",
            "gauge",
        );
        sample(
            &mut o,
            "luigid_journal_replay_errors",
            &[],
            inner.journal_replay_errors as f64,
        );
        header(
            &mut o,
            "luigid_journal_syncs_total",
            "journal fsyncs",
            "counter",
        );
        sample(
            &mut o,
            "luigid_journal_syncs_total",
            &[],
            inner.journal_syncs as f64,
        );
        header(
            &mut o,
            "luigid_loop_iteration_longest_seconds",
            "the longest event-loop iteration since start (timers, requests, commit, writes)",
            "gauge",
        );
        sample(
            &mut o,
            "luigid_loop_iteration_longest_seconds",
            &[],
            inner.loop_longest,
        );
        header(
            &mut o,
            "luigid_loop_iterations_slow_total",
            "event-loop iterations that held the loop 20 ms or more",
            "counter",
        );
        sample(
            &mut o,
            "luigid_loop_iterations_slow_total",
            &[],
            inner.loop_slow as f64,
        );
        header(
            &mut o,
            "luigid_state_writes_blocked",
            "1 while the saved state cannot be written and state-changing calls get 503",
            "gauge",
        );
        sample(
            &mut o,
            "luigid_state_writes_blocked",
            &[],
            if inner.state_writes_blocked { 1.0 } else { 0.0 },
        );
        header(
            &mut o,
            "luigid_state_write_refused_total",
            "state-changing calls answered 503 because the saved state could not be written",
            "counter",
        );
        sample(
            &mut o,
            "luigid_state_write_refused_total",
            &[],
            inner.state_write_refused as f64,
        );
        let sn = "luigid_snapshot_duration_seconds";
        header(&mut o, sn, "time to write a state snapshot", "summary");
        sample(&mut o, &format!("{sn}_count"), &[], inner.snapshots as f64);
        sample(&mut o, &format!("{sn}_sum"), &[], inner.snapshot_sum);
        header(
            &mut o,
            "luigid_snapshot_last_duration_seconds",
            "time the last state snapshot took to write",
            "gauge",
        );
        if let Some(v) = inner.snapshot_last {
            sample(&mut o, "luigid_snapshot_last_duration_seconds", &[], v);
        }
        let d = &self.delivery;
        let delivery: [(&str, &str, &AtomicU64); 5] = [
            (
                "luigid_emails_sent_total",
                "e-mails handed to the SMTP server",
                &d.emails_sent,
            ),
            (
                "luigid_email_failures_total",
                "e-mails given up on after their retries",
                &d.emails_failed,
            ),
            (
                "luigid_notifications_dropped_total",
                "notifications dropped because the sender's queue was full",
                &d.notifications_dropped,
            ),
            (
                "luigid_statsd_datagrams_total",
                "DogStatsD datagrams sent",
                &d.statsd_datagrams,
            ),
            (
                "luigid_statsd_errors_total",
                "DogStatsD datagrams that could not be sent",
                &d.statsd_errors,
            ),
        ];
        for (name, help, c) in delivery {
            header(&mut o, name, help, "counter");
            sample(&mut o, name, &[], c.load(Ordering::Relaxed) as f64);
        }
        o
    }
}

fn task_id_of(e: &Event) -> Option<&str> {
    match e {
        Event::TaskStarted { task_id, .. }
        | Event::TaskFailed { task_id, .. }
        | Event::TaskDisabled { task_id, .. }
        | Event::TaskDone { task_id, .. } => Some(task_id),
        _ => None,
    }
}

/// `GET /metrics`.
pub fn handle(
    metrics: &Metrics,
    status_counts: &[(String, usize)],
    workers: usize,
    history_errors: u64,
) -> Response {
    Response::new(200).with_body(
        CONTENT_TYPE,
        metrics.render(status_counts, workers, history_errors),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_format_matches_prometheus_client() {
        for (v, want) in [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (0.0193, "0.0193"),
            (0.3, "0.3"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456.0, "123456.0"),
            (1234567.0, "1.234567e+06"),
            (1000000.0, "1e+06"),
            (12345678901.5, "1.23456789015e+10"),
            (1.7955093984650662e9, "1.7955093984650662e+09"),
            (1e16, "1e+16"),
            (-2.5, "-2.5"),
            (-12345678.0, "-12345678.0"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(go_float(v), want, "{v}");
        }
    }

    fn evs() -> Vec<Event> {
        vec![
            Event::TaskStarted {
                family: "A".into(),
                task_id: "A_1".into(),
            },
            Event::TaskStarted {
                family: "A".into(),
                task_id: "A_1".into(),
            },
            Event::TaskDone {
                family: "A".into(),
                task_id: "T".into(),
                execution_secs: Some(2.5),
            },
            Event::TaskStarted {
                family: "B\"x\\".into(),
                task_id: "T".into(),
            },
            Event::TaskFailed {
                family: "B\"x\\".into(),
                task_id: "T".into(),
                execution_secs: Some(0.125),
            },
            Event::TaskDisabled {
                family: "B\"x\\".into(),
                task_id: "T".into(),
            },
            Event::TaskDone {
                family: "C".into(),
                task_id: "T".into(),
                execution_secs: None,
            },
            Event::TaskStatus {
                task_id: "A_1".into(),
                family: "A".into(),
                params: vec![],
                status: "DONE".into(),
                host: None,
                now: 0.0,
            },
        ]
    }

    fn lines(text: &str, prefix: &str) -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn luigi_task_metrics_after_events() {
        let m = Metrics::default();
        m.record_events(&evs());
        let t = m.render(&[], 0, 0);
        assert_eq!(
            lines(&t, "luigi_task_started_total"),
            [
                "luigi_task_started_total{family=\"A\"} 2.0",
                "luigi_task_started_total{family=\"B\\\"x\\\\\"} 1.0"
            ]
        );
        assert_eq!(
            lines(&t, "luigi_task_done_total"),
            [
                "luigi_task_done_total{family=\"A\"} 1.0",
                "luigi_task_done_total{family=\"C\"} 1.0"
            ]
        );
        assert_eq!(
            lines(&t, "luigi_task_failed_total"),
            ["luigi_task_failed_total{family=\"B\\\"x\\\\\"} 1.0"]
        );
        assert_eq!(
            lines(&t, "luigi_task_disabled_total"),
            ["luigi_task_disabled_total{family=\"B\\\"x\\\\\"} 1.0"]
        );
        // C was never started and finished without a time: no gauge, as luigi
        assert_eq!(
            lines(&t, "luigi_task_execution_time_seconds{"),
            [
                "luigi_task_execution_time_seconds{family=\"A\"} 2.5",
                "luigi_task_execution_time_seconds{family=\"B\\\"x\\\\\"} 0.125"
            ]
        );
        assert_eq!(lines(&t, "luigi_task_started_created").len(), 2);
        let empty = Metrics::default().render(&[], 0, 0);
        assert!(empty.contains("# TYPE luigi_task_failed_total counter\n"));
        assert!(!empty.contains("luigi_task_failed_created"));
        assert!(t.contains("# HELP luigi_task_started_total number of started luigi tasks\n# TYPE luigi_task_started_total counter\n"));
        assert!(t.contains("# TYPE luigi_task_execution_time_seconds gauge\n"));
    }

    #[test]
    fn the_empty_family_is_counted_apart_from_the_others() {
        let m = Metrics::default();
        let done = |f: &str| Event::TaskDone {
            family: f.into(),
            task_id: "T".into(),
            execution_secs: None,
        };
        // "" before, between and after other names, so every lookup path is taken.
        m.record_events(&[
            done("B"),
            done(""),
            done("A"),
            done(""),
            done("C"),
            done(""),
        ]);
        assert_eq!(
            lines(&m.render(&[], 0, 0), "luigi_task_done_total"),
            [
                "luigi_task_done_total{family=\"\"} 3.0",
                "luigi_task_done_total{family=\"A\"} 1.0",
                "luigi_task_done_total{family=\"B\"} 1.0",
                "luigi_task_done_total{family=\"C\"} 1.0",
            ]
        );
    }

    #[test]
    fn own_metrics() {
        let m = Metrics::default();
        m.observe_request("add_task", 200, 0.0007);
        m.observe_request("add_task", 200, 0.02);
        m.observe_request("get_work", 500, 20.0);
        m.set_open_connections(3);
        m.add_journal_sync();
        m.add_journal_sync();
        m.observe_snapshot(0.5);
        let t = m.render(&[("PENDING".into(), 4), ("DONE".into(), 1)], 2, 7);
        for want in [
            "luigid_tasks{status=\"DONE\"} 1.0",
            "luigid_tasks{status=\"PENDING\"} 4.0",
            "luigid_workers_active 2.0",
            "luigid_open_connections 3.0",
            "luigid_http_requests_total{method=\"add_task\",code=\"200\"} 2.0",
            "luigid_http_requests_total{method=\"get_work\",code=\"500\"} 1.0",
            "luigid_http_request_duration_seconds_bucket{method=\"add_task\",le=\"0.0005\"} 0.0",
            "luigid_http_request_duration_seconds_bucket{method=\"add_task\",le=\"0.001\"} 1.0",
            "luigid_http_request_duration_seconds_bucket{method=\"add_task\",le=\"0.025\"} 2.0",
            "luigid_http_request_duration_seconds_bucket{method=\"get_work\",le=\"10.0\"} 0.0",
            "luigid_http_request_duration_seconds_bucket{method=\"get_work\",le=\"+Inf\"} 1.0",
            "luigid_http_request_duration_seconds_count{method=\"add_task\"} 2.0",
            "luigid_http_request_duration_seconds_sum{method=\"add_task\"} 0.0207",
            "luigid_history_write_errors_total 7.0",
            "luigid_journal_syncs_total 2.0",
            "luigid_snapshot_duration_seconds_count 1.0",
            "luigid_snapshot_last_duration_seconds 0.5",
        ] {
            assert!(t.lines().any(|l| l == want), "missing {want}\n{t}");
        }
        let r = handle(&m, &[], 0, 0);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(CONTENT_TYPE));
    }

    /// The exposition after a known sequence, kept in tests/history_compat/ where a
    /// pytest parses it with prometheus_client (`UPDATE_GOLDEN=1` rewrites it).
    #[test]
    fn golden_exposition() {
        let m = Metrics::default();
        m.record_events_at(&evs(), 1_795_000_000.25);
        m.observe_request("add_task", 200, 0.0007);
        m.observe_request("add_task", 200, 0.02);
        m.observe_request("get_work", 500, 20.0);
        m.set_open_connections(3);
        m.add_journal_sync();
        m.observe_snapshot(0.5);
        let text = m.render(&[("PENDING".into(), 4), ("DONE".into(), 1)], 2, 7);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/history_compat/metrics_golden.txt");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let golden = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text, golden,
            "render changed; rerun with UPDATE_GOLDEN=1 and review"
        );
    }

    #[test]
    fn prometheus_label_options() {
        let mut ini = crate::config::Ini::default();
        assert_eq!(TaskLabels::from_ini(&ini), Ok(TaskLabels::default()));
        ini.set(
            "prometheus",
            "task_parameters_to_use_in_labels",
            r#"["x", "y"]"#,
        );
        ini.set("prometheus", "use_task_family_in_labels", "False");
        let labels = TaskLabels::from_ini(&ini).expect("valid");
        assert_eq!(labels.params, ["x", "y"]);
        assert!(!labels.family);
        let m = Metrics::with_labels(labels);
        assert!(m.needs_params());
        let ev = [Event::TaskStarted {
            family: "A".into(),
            task_id: "A_1".into(),
        }];
        let params = |id: &str| (id == "A_1").then(|| vec![("x".to_string(), "1\"q".to_string())]);
        m.record_events_with(&ev, 1.0, &params);
        m.record_events_with(&ev, 2.0, &params);
        assert_eq!(
            lines(&m.render(&[], 0, 0), "luigi_task_started_total"),
            ["luigi_task_started_total{x=\"1\\\"q\",y=\"None\"} 2.0"]
        );
        // Both options on: parameters first, then family.
        ini.set("prometheus", "use_task_family_in_labels", "true");
        let m = Metrics::with_labels(TaskLabels::from_ini(&ini).expect("valid"));
        m.record_events_with(&ev, 1.0, &params);
        assert_eq!(
            lines(&m.render(&[], 0, 0), "luigi_task_started_total"),
            ["luigi_task_started_total{x=\"1\\\"q\",y=\"None\",family=\"A\"} 1.0"]
        );
        for bad in [r#"["9x"]"#, r#"["__x"]"#, r#"["family"]"#, "x", "[1]"] {
            ini.set("prometheus", "task_parameters_to_use_in_labels", bad);
            assert!(TaskLabels::from_ini(&ini).is_err(), "{bad}");
        }
        ini.set("prometheus", "task_parameters_to_use_in_labels", "[]");
        ini.set("prometheus", "use_task_family_in_labels", "false");
        let e = TaskLabels::from_ini(&ini).expect_err("no labels");
        assert!(e.contains("use_task_family_in_labels"), "{e}");
        ini.set("prometheus", "use_task_family_in_labels", "maybe");
        assert!(TaskLabels::from_ini(&ini).is_err());
    }

    #[test]
    fn method_labels_are_bounded() {
        let m = Metrics::default();
        for i in 0..(MAX_METHOD_LABELS + 50) {
            m.observe_request(&format!("m{i}"), 404, 0.001);
        }
        m.observe_request("m0", 200, 0.001);
        let t = m.render(&[], 0, 0);
        let n = lines(&t, "luigid_http_request_duration_seconds_count").len();
        assert_eq!(n, MAX_METHOD_LABELS + 1);
        assert!(t.contains("luigid_http_requests_total{method=\"other\",code=\"404\"} 50.0"));
        assert!(t.contains("luigid_http_requests_total{method=\"m0\",code=\"200\"} 1.0"));
    }

    #[test]
    fn loop_iterations_keep_the_longest_and_count_the_slow() {
        let m = Metrics::default();
        m.observe_loop_iteration(0.004, 0.020);
        m.observe_loop_iteration(0.031, 0.020);
        m.observe_loop_iteration(0.025, 0.020);
        m.observe_loop_iteration(0.010, 0.020);
        let text = m.render(&[], 0, 0);
        assert!(
            text.contains("\nluigid_loop_iteration_longest_seconds 0.031\n"),
            "{text}"
        );
        assert!(
            text.contains("\nluigid_loop_iterations_slow_total 2.0\n"),
            "{text}"
        );
    }
}

//! A worker's RUNNING tasks, as count_pending and get_work list them (luigid's
//! `Scheduler.count_pending`, whose list get_work's reply repeats), and the memo that
//! keeps that list's JSON text between calls.
//!
//! luigid lists every running task of the worker in each get_work reply, so a worker
//! holding 10,000 RUNNING tasks gets a ~1 MB reply per call; writing it and compressing
//! it cost ~0.9 ms of server CPU per call (`python3 benches/get_work_held.py 10000`).
//! The list only changes when a running task, a runner or a runner's info changes, so
//! its text is kept per worker and reused until then: [`Scheduler::running_changed`]
//! is called at every such change (the running index in `index_task`, each write of
//! `worker_running`, worker info, worker creation and removal). A randomized test
//! compares the kept text with a fresh one after every call.

use super::types::Status;
use super::Scheduler;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Lists shorter than this are written afresh each time: keeping them costs more than
/// writing them. (Tests keep lists of any length, so that every path keeps some.)
#[cfg(not(test))]
const MEMO_MIN_TASKS: usize = 64;
#[cfg(test)]
const MEMO_MIN_TASKS: usize = 1;

/// The RUNNING tasks of a count_pending reply: (slot, runner).
pub(super) type RunningList = Vec<(u32, Option<u32>)>;

/// The JSON text of one worker's `running_tasks` list, shared by the replies that
/// carry it until the list changes.
#[derive(Debug, Default)]
pub struct RunningText {
    /// The list as luigid's JSON writes it (`[{"task_id": ..., "worker": ...}, ...]`).
    pub json: Vec<u8>,
    /// A slot for the transport's compressed form of `json` (filled once by the
    /// sender: the bytes and their CRC-32), so that repeated replies are not
    /// compressed again.
    pub compressed: OnceLock<Option<(Vec<u8>, u32)>>,
}

/// Two texts are equal when their JSON is (the compressed form follows from it).
impl PartialEq for RunningText {
    fn eq(&self, other: &RunningText) -> bool {
        self.json == other.json
    }
}

/// The running lists kept since the last change (see the module doc).
#[derive(Debug, Default)]
pub(super) struct RunningMemo {
    /// Bumped by [`Scheduler::running_changed`].
    pub epoch: u64,
    /// The epoch `texts` were written at.
    texts_epoch: u64,
    texts: HashMap<u32, Arc<RunningText>>,
}

/// A worker's running tasks: the pairs to write, or the kept text.
pub(super) enum Running {
    List(RunningList),
    Text(Arc<RunningText>),
}

impl Scheduler {
    /// Something a running list shows changed: every kept list is stale.
    pub(super) fn running_changed(&mut self) {
        self.running_memo.epoch += 1;
    }

    /// The kept text of `wid`'s list, when nothing changed since it was written.
    fn kept_running(&self, wid: u32) -> Option<Arc<RunningText>> {
        let memo = &self.running_memo;
        (memo.texts_epoch == memo.epoch)
            .then(|| memo.texts.get(&wid).cloned())
            .flatten()
    }

    fn keep_running(&mut self, wid: u32, text: Arc<RunningText>) {
        let memo = &mut self.running_memo;
        if memo.texts_epoch != memo.epoch {
            memo.texts.clear();
            memo.texts_epoch = memo.epoch;
        }
        memo.texts.insert(wid, text);
    }

    pub fn count_pending(&mut self, worker: &str, now: f64) -> Value {
        match self.count_pending_parts(worker, now) {
            Some((mut m, running)) => {
                m.insert("running_tasks".into(), self.running_list_value(running));
                Value::Object(m)
            }
            None => Value::Null,
        }
    }

    /// count_pending's reply with `running_tasks` as a `null` placeholder (in its
    /// place), and the (slot, runner) pairs that go there: get_work's JSON writer
    /// writes them without building `Value`s.
    pub(super) fn count_pending_parts(
        &mut self,
        worker: &str,
        now: f64,
    ) -> Option<(Map<String, Value>, Running)> {
        let wid = self.get_worker(worker, now);
        if let Some(text) = self.kept_running(wid) {
            let m = self.pending_counts(wid)?;
            return Some((m, Running::Text(text)));
        }
        let running: Vec<(u32, Option<u32>)> = match self.worker(wid) {
            Some(wk) => wk
                .ix
                .running
                .values()
                .filter_map(|&s| Some((s, self.task(s)?.worker_running)))
                .collect(),
            None => Vec::new(),
        };
        // luigid looks each runner up with get-or-create: a runner that was pruned
        // comes back (rare; the common case needs no name lookup).
        for &(_, wr) in &running {
            if let Some(wr) = wr {
                if self.worker(wr).is_none() {
                    let name = self.worker_name(wr).to_string();
                    self.get_worker(&name, now);
                }
            }
        }
        let m = self.pending_counts(wid)?;
        if running.len() < MEMO_MIN_TASKS {
            return Some((m, Running::List(running)));
        }
        let mut json = Vec::with_capacity(running.len() * 96);
        self.write_running(&running, &mut json);
        let text = Arc::new(RunningText {
            json,
            compressed: OnceLock::new(),
        });
        self.keep_running(wid, text.clone());
        Some((m, Running::Text(text)))
    }

    /// count_pending's counts and worker state, `running_tasks` a `null` placeholder.
    fn pending_counts(&self, wid: u32) -> Option<Map<String, Value>> {
        let wk = self.worker(wid)?;
        let (mut n, mut nu, mut nl) = (wk.ix.n_pf, wk.ix.n_pf_unique, wk.ix.n_pf_last);
        if !self.ix.buckets[Status::Disabled.index()].is_empty() {
            for s in self.disabled_blocked() {
                if let Some(t) = self.task(s) {
                    if t.workers.contains(&wid) {
                        n = n.saturating_sub(1);
                        if t.workers.len() == 1 {
                            nu = nu.saturating_sub(1);
                        }
                        if t.workers.last() == Some(&wid) {
                            nl = nl.saturating_sub(1);
                        }
                    }
                }
            }
        }
        let state = if wk.disabled { "disabled" } else { "active" };
        let mut m = Map::with_capacity(9);
        m.insert("n_pending_tasks".into(), Value::from(n));
        m.insert("n_unique_pending".into(), Value::from(nu));
        m.insert("n_pending_last_scheduled".into(), Value::from(nl));
        m.insert("worker_state".into(), Value::String(state.into()));
        m.insert("running_tasks".into(), Value::Null);
        Some(m)
    }

    /// The `running_tasks` value of a count_pending or get_work reply.
    pub(super) fn running_list_value(&self, running: Running) -> Value {
        match running {
            Running::List(list) => self.running_value(&list),
            Running::Text(text) => std::str::from_utf8(&text.json)
                .ok()
                .and_then(|t| crate::pyjson::parse_py_json(t).ok())
                .unwrap_or(Value::Array(Vec::new())),
        }
    }

    /// Write the `running_tasks` list of a reply.
    pub(super) fn write_running_list(&self, running: &Running, out: &mut Vec<u8>) {
        match running {
            Running::List(list) => self.write_running(list, out),
            Running::Text(text) => out.extend_from_slice(&text.json),
        }
    }

    /// count_pending's `running_tasks` list.
    fn running_value(&self, running: &[(u32, Option<u32>)]) -> Value {
        let mut list = Vec::with_capacity(running.len());
        for &(s, wr) in running {
            let Some(t) = self.task(s) else { continue };
            let id = Value::String(t.id.to_string());
            let info = match wr {
                Some(wr) => {
                    let ow = self.worker(wr);
                    let mut info = Map::with_capacity(2 + ow.map_or(0, |w| w.info.len()));
                    info.insert("task_id".into(), id);
                    info.insert(
                        "worker".into(),
                        Value::String(self.worker_name(wr).to_string()),
                    );
                    if let Some(ow) = ow {
                        for (k, v) in &ow.info {
                            info.insert(k.clone(), v.clone());
                        }
                    }
                    info
                }
                None => {
                    let mut info = Map::with_capacity(2);
                    info.insert("task_id".into(), id);
                    info.insert("worker".into(), Value::Null);
                    info
                }
            };
            list.push(Value::Object(info));
        }
        Value::Array(list)
    }

    /// The bytes `crate::pyjson::to_py_json` gives for [`Self::running_value`].
    pub(super) fn write_running(&self, running: &[(u32, Option<u32>)], out: &mut Vec<u8>) {
        out.push(b'[');
        let mut first = true;
        let mut plain_worker: Option<(u32, bool)> = None;
        for &(s, wr) in running {
            let Some(t) = self.task(s) else { continue };
            if !first {
                out.extend_from_slice(b", ");
            }
            first = false;
            let info = wr.and_then(|w| self.worker(w)).map(|w| &w.info);
            // An info key named like a fixed one replaces its value in place: rare,
            // left to the general writer.
            if info.is_some_and(|i| i.contains_key("task_id") || i.contains_key("worker")) {
                crate::pyjson::to_py_json(&self.running_value(&[(s, wr)])[0], out);
                continue;
            }
            out.extend_from_slice(b"{\"task_id\": ");
            write_value_str(out, &t.id);
            out.extend_from_slice(b", \"worker\": ");
            match wr {
                Some(w) => {
                    // Usually one runner: its name is checked for escapes once.
                    let name = self.worker_name(w);
                    let plain = match plain_worker {
                        Some((pw, p)) if pw == w => p,
                        _ => {
                            let p = super::write::is_plain(name.as_bytes());
                            plain_worker = Some((w, p));
                            p
                        }
                    };
                    if plain {
                        out.push(b'"');
                        out.extend_from_slice(name.as_bytes());
                        out.push(b'"');
                    } else {
                        write_value_str(out, name);
                    }
                }
                None => out.extend_from_slice(b"null"),
            }
            for (k, v) in info.into_iter().flatten() {
                out.extend_from_slice(b", ");
                super::write::write_str(out, k);
                out.extend_from_slice(b": ");
                crate::pyjson::to_py_json(v, out);
            }
            out.push(b'}');
        }
        out.push(b']');
    }
}

/// A string as `crate::pyjson::to_py_json` writes a `Value::String` (a raw-number string
/// goes back bare).
fn write_value_str(out: &mut Vec<u8>, s: &str) {
    if s.starts_with(crate::pyjson::RAW_NUMBER) {
        crate::pyjson::to_py_json(&Value::String(s.to_string()), out);
    } else {
        super::write::write_str(out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::call_map;
    use serde_json::json;

    /// XorShift: a reproducible sequence without a dependency.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn call(s: &mut Scheduler, method: &str, args: Value, now: f64) {
        if let Value::Object(m) = args {
            // Refused calls (bad combinations the generator makes) change nothing.
            let _ = call_map(s, method, &m, now);
        }
    }

    /// The running list each worker's count_pending gives, kept or not.
    fn lists(s: &mut Scheduler, workers: &[String], now: f64) -> Vec<Vec<u8>> {
        workers
            .iter()
            .map(|w| match s.count_pending_parts(w, now) {
                Some((_, running)) => {
                    let mut out = Vec::new();
                    s.write_running_list(&running, &mut out);
                    out
                }
                None => Vec::new(),
            })
            .collect()
    }

    /// After every call of a random mix that starts, finishes, batches, reassigns and
    /// prunes running tasks and changes runners' info, the kept lists equal lists
    /// written afresh, and the index of tasks by runner is exact.
    #[test]
    fn kept_running_lists_equal_fresh_ones_after_any_call() {
        let mut total_batch_running = 0;
        for seed in 1..=40u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut s = Scheduler::new(crate::scheduler::SchedulerConfig {
                worker_disconnect_delay: 5.0,
                remove_delay: 7.0,
                retry_delay: 3.0,
                ..Default::default()
            });
            let workers: Vec<String> = (0..4).map(|i| format!("W{i}")).collect();
            let mut now = 1.0;
            let mut kept = 0;
            let mut batch_running = 0;
            for step in 0..300 {
                now += rng.below(4) as f64;
                let w = &workers[rng.below(4) as usize];
                let task = format!("T_{}", rng.below(30));
                let status = ["PENDING", "RUNNING", "DONE", "FAILED"][rng.below(4) as usize];
                let n = rng.below(30);
                match rng.below(11) {
                    0 | 1 => call(
                        &mut s,
                        "add_task",
                        json!({"worker": w, "task_id": task, "family": "T", "status": status,
                               "params": {"n": n.to_string()}, "batchable": n.is_multiple_of(2)}),
                        now,
                    ),
                    2 | 3 => {
                        let current: Vec<String> = (0..rng.below(3))
                            .map(|_| format!("T_{}", rng.below(30)))
                            .collect();
                        let current = if rng.below(2) == 0 {
                            json!(null)
                        } else {
                            json!(current)
                        };
                        call(
                            &mut s,
                            "get_work",
                            json!({"worker": w, "host": "h", "assistant": rng.below(5) == 0,
                                   "current_tasks": current}),
                            now,
                        )
                    }
                    9 => call(
                        &mut s,
                        "add_task_batcher",
                        json!({"worker": w, "task_family": "T", "batched_args": ["n"]}),
                        now,
                    ),
                    10 => call(
                        &mut s,
                        "add_task",
                        json!({"worker": w, "task_id": task, "family": "T", "status": "RUNNING",
                               "batch_id": format!("b{}", n % 3), "params": {"n": n.to_string()}}),
                        now,
                    ),
                    4 => call(
                        &mut s,
                        "add_worker",
                        json!({"worker": w, "info": {"host": format!("h{step}"), "salt": step}}),
                        now,
                    ),
                    5 => call(&mut s, "ping", json!({"worker": w}), now),
                    6 => call(&mut s, "disable_worker", json!({"worker": w}), now),
                    7 => call(&mut s, "prune", json!({}), now),
                    _ => call(
                        &mut s,
                        "set_task_status_message",
                        json!({"task_id": task, "status_message": "m"}),
                        now,
                    ),
                }
                // The runner index holds exactly each worker's RUNNING and BATCH_RUNNING tasks.
                let mut by_runner: HashMap<u32, Vec<u32>> = HashMap::new();
                for slot in 0..s.tasks.len() as u32 {
                    if let Some(t) = s.task(slot) {
                        if let (Status::Running | Status::BatchRunning, Some(wr)) =
                            (t.status, t.worker_running)
                        {
                            by_runner.entry(wr).or_default().push(slot);
                        }
                    }
                }
                let mut indexed: HashMap<u32, Vec<u32>> = HashMap::new();
                for (wr, runs) in &s.ix.run_by {
                    let mut slots: Vec<u32> = runs.values().copied().collect();
                    slots.sort_unstable();
                    indexed.insert(*wr, slots);
                }
                assert_eq!(indexed, by_runner, "seed {seed}, step {step}");
                batch_running += s.ix.buckets[Status::BatchRunning.index()].len();
                let got = lists(&mut s, &workers, now);
                kept += s.running_memo.texts.len();
                s.running_changed();
                let fresh = lists(&mut s, &workers, now);
                assert_eq!(got, fresh, "seed {seed}, step {step}");
            }
            assert!(kept > 0, "seed {seed}: no list was ever kept");
            total_batch_running += batch_running;
        }
        assert!(total_batch_running > 0, "no task was ever BATCH_RUNNING");
    }
}
#[cfg(test)]
mod steady {
    use super::*;
    use crate::api::call_map;
    use serde_json::json;

    /// A worker that holds its tasks and keeps asking (luigid's worker loop while its
    /// tasks run) and the periodic prune leave its kept list valid.
    #[test]
    fn a_steady_worker_keeps_its_list() {
        let mut s = Scheduler::default();
        let w = "Worker(salt=1)";
        for i in 0..100 {
            let a = json!({"worker": w, "task_id": format!("T_{i}"), "family": "T",
                           "params": {"i": i.to_string()}, "status": "PENDING", "runnable": true});
            call_map(&mut s, "add_task", a.as_object().unwrap(), 1.0).unwrap();
        }
        let gw = json!({"worker": w, "host": "h", "assistant": false, "current_tasks": null});
        for k in 0..100 {
            call_map(
                &mut s,
                "get_work",
                gw.as_object().unwrap(),
                2.0 + f64::from(k) * 0.01,
            )
            .unwrap();
        }
        let epoch = s.running_memo.epoch;
        for k in 0..100 {
            call_map(
                &mut s,
                "get_work",
                gw.as_object().unwrap(),
                3.0 + f64::from(k) * 0.01,
            )
            .unwrap();
            call_map(
                &mut s,
                "ping",
                json!({"worker": w}).as_object().unwrap(),
                3.0,
            )
            .unwrap();
            assert_eq!(s.running_memo.epoch, epoch, "get_work {k}");
        }
        call_map(&mut s, "prune", &Default::default(), 10.0).unwrap();
        assert_eq!(s.running_memo.epoch, epoch, "prune");
        let wid = s.get_worker(w, 10.0);
        assert!(s.kept_running(wid).is_some());
    }
}

//! The RPC methods, with arguments already decoded by `crate::api`.

use super::compact::{FastSet, ObjArg};
use super::events::Event;
use super::pyfmt::{guess_family, md5_hex, pretty_id, pretty_id_into};
use super::running::{Running, RunningText};
use super::types;
use super::types::{
    map_eq, num_value, opt_num, py_eq, py_num, truthy, NumAcc, Pv, ResRun, Status, Task, NO_EXTRA,
};
use super::{is_ready, Batcher, Scheduler};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// Decoded `add_task` arguments (luigid's defaults applied; `Value::Null` = None).
#[derive(Debug, Clone)]
pub struct AddTask {
    pub task_id: String,
    /// The reported status string, already validated (a real status or SUSPENDED).
    pub status: String,
    pub runnable: bool,
    pub deps: Option<Vec<String>>,
    pub new_deps: Option<Vec<String>>,
    pub expl: Value,
    pub resources: Option<Map<String, Value>>,
    pub priority: Value,
    pub family: String,
    pub module: Value,
    pub params: Option<Map<String, Value>>,
    pub param_visibilities: Option<Map<String, Value>>,
    /// `params` and `param_visibilities` as the JSON text crate::pyjson writes for them,
    /// when the caller has it (see [`crate::api::parse_add_task_args`]); a text stands
    /// for the map field of the same name.
    pub params_text: Option<String>,
    pub param_visibilities_text: Option<String>,
    pub accepts_messages: Value,
    pub assistant: bool,
    pub tracking_url: Value,
    pub worker: String,
    pub batchable: Option<bool>,
    pub batch_id: Option<String>,
    /// retry_policy_dict entries: retry_count, disable_hard_timeout, disable_window.
    pub retry_policy: [Option<f64>; 3],
    /// The task's owners' e-mail addresses (decoded only for FAILED reports: the
    /// batch e-mails are their only use).
    pub owners: Vec<String>,
}

impl Default for AddTask {
    fn default() -> Self {
        AddTask {
            task_id: String::new(),
            status: "PENDING".into(),
            runnable: true,
            deps: None,
            new_deps: None,
            expl: Value::Null,
            resources: None,
            priority: Value::from(0),
            family: String::new(),
            module: Value::Null,
            params: None,
            param_visibilities: None,
            params_text: None,
            param_visibilities_text: None,
            accepts_messages: Value::Bool(false),
            assistant: false,
            tracking_url: Value::Null,
            worker: String::new(),
            batchable: None,
            batch_id: None,
            retry_policy: [None; 3],
            owners: Vec::new(),
        }
    }
}

/// What the get_work walk chose: a task, and the batch built around it.
#[derive(Default)]
struct Choice {
    best: Option<u32>,
    batched_params: Option<Map<String, Value>>,
    batched: Vec<u32>,
}

const UPSTREAM: [&str; 5] = [
    "",
    "UPSTREAM_RUNNING",
    "UPSTREAM_MISSING_INPUT",
    "UPSTREAM_FAILED",
    "UPSTREAM_DISABLED",
];

/// Severity index of an upstream-status string, if it is one.
pub fn upstream_severity(s: &str) -> Option<u8> {
    UPSTREAM.iter().position(|u| *u == s).map(|i| i as u8)
}

fn own_upstream(status: Status) -> u8 {
    match status {
        Status::Failed => 3,
        Status::Running | Status::BatchRunning => 1,
        Status::Pending => 2,
        Status::Disabled => 4,
        _ => 0,
    }
}

/// Sorted, unique ids (the order of luigid's sets as we show them).
fn sorted_ids<'a, T: AsRef<str> + ?Sized + 'a>(
    ids: impl IntoIterator<Item = &'a T>,
) -> Vec<&'a str> {
    let mut v: Vec<&str> = ids.into_iter().map(|d| d.as_ref()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn add_amounts(acc: &mut HashMap<String, f64>, res: &Map<String, Value>) {
    for (r, a) in res {
        *acc.entry(r.clone()).or_insert(0.0) += py_num(a).unwrap_or(0.0);
    }
}

impl Scheduler {
    // ----- add_task --------------------------------------------------------------------

    pub fn add_task(&mut self, a: AddTask, now: f64) {
        self.add_task_inner(a, now);
        self.flush_unindexed();
    }

    fn add_task_inner(&mut self, a: AddTask, now: f64) {
        let wid = self.touch_worker(&a.worker, now, None);
        let resources = a.resources.clone().unwrap_or_default();
        let resources_empty = resources.is_empty();
        let mut policy = self.config.retry_policy();
        if let Some(v) = a.retry_policy[0] {
            policy.retry_count = v;
        }
        if let Some(v) = a.retry_policy[1] {
            policy.disable_hard_timeout = v;
        }
        if let Some(v) = a.retry_policy[2] {
            policy.disable_window = v;
        }
        let enabled = self.worker(wid).is_some_and(|w| !w.disabled);
        let empty = Map::new();
        let a_params = ObjArg::of(
            a.params_text.as_deref(),
            a.params.as_ref().unwrap_or(&empty),
        );
        let a_vis = ObjArg::of(
            a.param_visibilities_text.as_deref(),
            a.param_visibilities.as_ref().unwrap_or(&empty),
        );
        let slot = match self.slot_of(&a.task_id) {
            Some(s) => s,
            None if enabled => self.create_task(
                &a.task_id,
                Status::Pending,
                &sorted_ids(a.deps.iter().flatten()),
                resources.clone(),
                &a.priority,
                &a.family,
                &a.module,
                a_params,
                a_vis,
                now,
                true,
            ),
            None => return,
        };
        let Some(t) = self.task(slot) else { return };
        if t.status != Status::Running && !enabled {
            return;
        }
        // DONE cooldown: a stale PENDING report cannot undo a fresh completion.
        if a.status == "PENDING"
            && t.status == Status::Done
            && now - t.updated < self.config.stable_done_cooldown_secs
        {
            return;
        }
        let first_batch_rr = match (
            &a.batch_id,
            a.status == "RUNNING" && t.worker_running.is_none(),
        ) {
            (Some(bid), true) if !bid.is_empty() => self
                .batch_running(bid)
                .first()
                .and_then(|&m| self.task(m))
                .and_then(|m| m.resources_running().cloned()),
            _ => None,
        };
        let pre_status = t.status;
        if t.remove.is_some() {
            self.with_task(slot, |t| t.remove = types::OptF64::NONE);
        }
        let Some(t) = self.task(slot) else { return };
        let (no_family, no_module, no_vis) = (
            t.family.is_empty(),
            !t.module_truthy(),
            t.param_visibilities.is_none(),
        );
        let new_family = no_family.then(|| self.ix.strs.get(&a.family));
        let new_module = no_module.then(|| self.ix.strs.pv(&a.module));
        let new_vis = if no_vis {
            self.ix.strs.object_arg(a_vis)
        } else {
            None
        };
        let tracking_url = Pv::from_ref(&a.tracking_url);
        let expl = Pv::from_ref(&a.expl);
        // Only fields no index depends on: change them in place.
        let mut runner_set = false;
        if let Some(t) = self.task_mut(slot) {
            if let Some(f) = new_family {
                t.family = f;
            }
            if let Some(m) = new_module {
                t.set_module(m);
            }
            let vis_set = t.param_visibilities.is_none();
            if vis_set {
                t.param_visibilities = new_vis;
            }
            if t.params.is_empty() {
                if vis_set {
                    t.set_params_arg(a_params, a_vis);
                } else {
                    let vis = t.param_visibilities_map();
                    t.set_params_arg(a_params, ObjArg::Map(&vis));
                }
            }
            if let Some(bid) = &a.batch_id {
                t.x_mut().batch_id = Some(bid.clone());
            }
            if a.status == "RUNNING" && t.worker_running.is_none() {
                runner_set = true;
                t.worker_running = Some(wid);
                if let Some(rr) = first_batch_rr {
                    t.rr = ResRun::from_map(rr);
                }
                t.time_running = Some(now).into();
            }
            if !a.accepts_messages.is_null() {
                let v = Pv::from_ref(&a.accepts_messages);
                t.set_x(v == NO_EXTRA.accepts_messages, |x| x.accepts_messages = v);
            }
            if !a.tracking_url.is_null() || pre_status != Status::Running {
                let v = tracking_url.clone();
                t.set_x(v.is_null(), |x| x.tracking_url = v);
            }
            if let Some(b) = a.batchable {
                t.batchable = b;
            }
            if !a.expl.is_null() {
                t.set_expl(expl.clone());
            }
        }
        if runner_set {
            // In the indexes under its runner (`run_by`), and in the running lists.
            self.with_task(slot, |_| ());
            self.running_changed();
        }
        // Copy the tracking URL and explanation to the running batch.
        if let Some(bid) = self
            .task(slot)
            .and_then(|t| t.batch_id().map(str::to_string))
        {
            let copy_url = !a.tracking_url.is_null() || pre_status != Status::Running;
            if copy_url || !a.expl.is_null() {
                for m in self.batch_running(&bid) {
                    self.with_task(m, |mt| {
                        if copy_url {
                            let v = tracking_url.clone();
                            mt.set_x(v.is_null(), |x| x.tracking_url = v);
                        }
                        if !a.expl.is_null() {
                            mt.set_expl(expl.clone());
                        }
                    });
                }
            }
        }
        // The status block: only the runner may change a running task's status.
        let Some(t) = self.task(slot) else { return };
        let not_running = !matches!(t.status, Status::Running | Status::BatchRunning);
        let started_run = matches!(a.status.as_str(), "DONE" | "FAILED" | "RUNNING");
        let on_this_worker = t.worker_running == Some(wid);
        let has_new_deps = a.new_deps.as_ref().is_some_and(|d| !d.is_empty());
        if not_running || (started_run && on_this_worker) || has_new_deps {
            if a.status != t.status.as_str() || a.status == "PENDING" {
                self.history(slot, &a.status, None, now);
            }
            let new = if a.status == "SUSPENDED" {
                Status::Pending
            } else {
                Status::parse(&a.status).unwrap_or(Status::Pending)
            };
            self.set_status(slot, new, now);
        }
        if a.status == "FAILED" && self.config.batch_emails {
            self.batch_failure(slot, &a);
        }
        // Dependencies.
        if a.deps.is_some() || a.new_deps.is_some() {
            let old: Vec<Arc<str>> = match &a.deps {
                Some(_) => Vec::new(),
                None => self.task(slot).map(|t| t.deps.to_vec()).unwrap_or_default(),
            };
            let deps: Vec<&str> = old
                .iter()
                .map(|d| &**d)
                .chain(a.deps.iter().flatten().map(String::as_str))
                .chain(a.new_deps.iter().flatten().map(String::as_str))
                .collect();
            self.set_deps(slot, &sorted_ids(deps));
        }
        // Declared resources are always replaced (as luigid's `add_task` does); a batch member's running
        // resources keep the old object.
        let replace = |t: &mut Task| {
            if matches!(t.rr, ResRun::Alias) {
                t.rr = match t.resources.take() {
                    Some(m) => ResRun::Own(m),
                    None => ResRun::Empty,
                };
            }
            t.set_resources(resources);
        };
        // Only the emptiness of `resources` is indexed (trivial-worker counts).
        if self
            .task(slot)
            .is_some_and(|t| t.resources.is_none() != resources_empty)
        {
            self.with_task(slot, replace);
        } else if let Some(t) = self.task_mut(slot) {
            replace(t);
        }
        let stakeholder = enabled && !a.assistant;
        if stakeholder {
            // This task's own stakeholder is added below, with the worker, in one index
            // update (nothing in between reads it).
            // In the order the call lists them, so that placeholders created here rank in
            // that order among tasks of equal priority and creation time (`dep_rank`):
            // get_work's oldest-first tie-break then follows the list (luigid follows
            // Python's set order, which varies between runs).
            let stored: Vec<Arc<str>> =
                self.task(slot).map(|t| t.deps.to_vec()).unwrap_or_default();
            let mut taken = vec![false; stored.len()];
            let mut order: Vec<usize> = Vec::with_capacity(stored.len());
            for d in a.deps.iter().flatten().chain(a.new_deps.iter().flatten()) {
                if let Ok(i) = stored.binary_search_by(|s| (**s).cmp(d.as_str())) {
                    if !taken[i] {
                        taken[i] = true;
                        order.push(i);
                    }
                }
            }
            order.extend((0..stored.len()).filter(|&i| !taken[i]));
            for (rank, d) in order.into_iter().map(|i| &*stored[i]).enumerate() {
                let ds = match self.slot_of(d) {
                    Some(ds) => ds,
                    None => {
                        let ds = self.create_task(
                            d,
                            Status::Unknown,
                            &[],
                            Map::new(),
                            &a.priority,
                            "",
                            &Value::Null,
                            ObjArg::Map(&empty),
                            ObjArg::Map(&empty),
                            now,
                            false,
                        );
                        let rank = u16::try_from(rank + 1).unwrap_or(u16::MAX);
                        self.with_task(ds, |t| t.dep_rank = rank);
                        ds
                    }
                };
                self.add_stakeholder(ds, wid);
            }
        }
        self.update_priority(slot, &a.priority);
        let policy = self.ix.policy(policy);
        if let Some(t) = self.task_mut(slot) {
            t.retry_policy = policy;
        }
        let runnable = a.runnable && a.status != "FAILED" && enabled;
        let Some(t) = self.task(slot) else { return };
        let add_stake = stakeholder && !t.stakeholders.contains(&wid);
        let add_worker = runnable && !t.workers.contains(&wid);
        if add_stake || add_worker {
            self.with_task(slot, |t| {
                if add_stake {
                    t.stakeholders.push(wid);
                }
                if add_worker {
                    t.workers.push(wid);
                }
            });
        }
        if runnable {
            if let Some(t) = self.task_mut(slot) {
                t.runnable = true;
            }
        }
    }

    /// luigid's batch e-mail bookkeeping for a FAILED report (`Scheduler.add_task`):
    /// the explanation is JSON-decoded when it decodes to a string, kept as sent when it
    /// does not decode; luigid fails the call on a null or non-text explanation, and
    /// records nothing then.
    fn batch_failure(&mut self, slot: u32, a: &AddTask) {
        let Some(t) = self.task(slot) else { return };
        let expl = match &a.expl {
            Value::String(s) => match crate::pyjson::parse_py_json(s) {
                Ok(Value::String(decoded)) => Some(decoded),
                Ok(_) | Err(_) => Some(s.clone()),
            },
            _ => None,
        };
        let params = t.params.to_map();
        let ev = Event::BatchFailure {
            pretty_id: pretty_id(&t.family, t.public_params()),
            family: t.family.to_string(),
            unbatched_params: self.unbatched_params(&a.worker, &a.family, &params),
            expl,
            owners: a.owners.clone(),
            disabled: t.status == Status::Disabled,
        };
        self.events.push(ev);
    }

    // ----- workers ---------------------------------------------------------------------

    pub fn add_task_batcher(
        &mut self,
        worker: &str,
        family: &str,
        args: Vec<String>,
        max_batch_size: Option<f64>,
    ) {
        self.batchers.entry(worker.to_string()).or_default().insert(
            family.to_string(),
            Batcher {
                args,
                max_batch_size,
            },
        );
    }

    pub fn add_worker(&mut self, worker: &str, info: Vec<(String, Value)>, now: f64) {
        let w = self.get_worker(worker, now);
        if let Some(worker) = self.worker_mut(w) {
            for (k, v) in info {
                worker.info.insert(k, v);
            }
        }
        self.running_changed();
    }

    pub fn disable_worker(&mut self, worker: &str, now: f64) {
        if let Some(w) = self.lookup_worker(worker) {
            let mut slots: Vec<u32> = self
                .worker(w)
                .map(|wk| wk.ix.tasks.iter().collect())
                .unwrap_or_default();
            slots.sort_unstable();
            for s in slots {
                self.with_task(s, |t| t.workers.retain(|&x| x != w));
            }
        }
        let w = self.get_worker(worker, now);
        if let Some(wk) = self.worker_mut(w) {
            wk.disabled = true;
        }
    }

    pub fn set_worker_processes(&mut self, worker: &str, n: Value, now: f64) {
        let w = self.get_worker(worker, now);
        if let Some(wk) = self.worker_mut(w) {
            wk.rpc_messages
                .push(json!({"name": "set_worker_processes", "kwargs": {"n": n}}));
        }
    }

    pub fn ping(&mut self, worker: &str, now: f64) -> Value {
        let w = self.touch_worker(worker, now, None);
        let msgs = self
            .worker_mut(w)
            .map(|wk| std::mem::take(&mut wk.rpc_messages))
            .unwrap_or_default();
        json!({ "rpc_messages": msgs })
    }

    // ----- count_pending / get_work ----------------------------------------------------

    /// PENDING tasks whose upstream status is UPSTREAM_DISABLED: those that reach a
    /// DISABLED task through PENDING tasks only.
    pub(super) fn disabled_blocked(&self) -> HashSet<u32> {
        let mut blocked = HashSet::new();
        let mut queue: VecDeque<u32> = self.bucket(Status::Disabled).collect();
        while let Some(s) = queue.pop_front() {
            let Some(t) = self.task(s) else { continue };
            for d in self.ix.rdeps(&t.id) {
                if self.task(d).is_some_and(|dt| dt.status == Status::Pending) && blocked.insert(d)
                {
                    queue.push_back(d);
                }
            }
        }
        blocked
    }

    fn capacity(&self, r: &str) -> f64 {
        self.resources
            .iter()
            .find(|(k, _)| k == r)
            .map(|(_, v)| py_num(v).unwrap_or(0.0))
            .unwrap_or(1.0)
    }

    fn has_resources(&self, needed: &Map<String, Value>, used: &HashMap<String, f64>) -> bool {
        needed.iter().all(|(r, a)| {
            py_num(a).unwrap_or(0.0) + used.get(r).copied().unwrap_or(0.0) <= self.capacity(r)
        })
    }

    fn used_resources(&self) -> HashMap<String, f64> {
        let mut used = HashMap::new();
        for s in self.bucket(Status::Running) {
            if let Some(t) = self.task(s) {
                add_amounts(&mut used, t.resources_running().unwrap_or(t.resources()));
            }
        }
        used
    }

    pub fn get_work(
        &mut self,
        host: Value,
        assistant: Value,
        current_tasks: Option<Vec<String>>,
        worker: &str,
        now: f64,
    ) -> Value {
        let (mut reply, running, _) =
            self.get_work_parts(host, assistant, current_tasks, worker, now, false);
        if let Some(running) = running {
            let list = self.running_list_value(running);
            if let Some(v) = reply.get_mut("running_tasks") {
                *v = list;
            }
        }
        Value::Object(reply)
    }

    /// [`Self::get_work`] written as luigid's JSON (the bytes `crate::pyjson::to_py_json`
    /// gives for its reply) without building the `running_tasks` `Value`s, which
    /// cost more than the rest of the call.
    ///
    /// A long running list that is kept between calls (see [`RunningText`]) is not
    /// copied into `out`: the reply is then `out[..at]`, the kept text, `out[at..]`,
    /// returned as `Some((at, text))`.
    pub fn get_work_json(
        &mut self,
        host: Value,
        assistant: Value,
        current_tasks: Option<Vec<String>>,
        worker: &str,
        now: f64,
        out: &mut Vec<u8>,
    ) -> Option<(usize, Arc<RunningText>)> {
        let (reply, running, params_of) =
            self.get_work_parts(host, assistant, current_tasks, worker, now, true);
        let Some(running) = running else {
            crate::pyjson::to_py_json(&Value::Object(reply), out);
            return None;
        };
        if let Running::List(list) = &running {
            // One allocation for the whole reply (it grows with the running list).
            let size: usize = list
                .iter()
                .map(|&(s, wr)| {
                    let id = self.task(s).map_or(0, |t| t.id.len());
                    let name = wr.map_or(0, |w| self.worker_name(w).len());
                    id + name + 32
                })
                .sum();
            out.reserve(size + 256);
        }
        let mut splice = None;
        out.push(b'{');
        for (i, (k, v)) in reply.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            super::write::write_str(out, k);
            out.extend_from_slice(b": ");
            if k == "running_tasks" {
                match &running {
                    Running::Text(text) => splice = Some((out.len(), text.clone())),
                    Running::List(_) => self.write_running_list(&running, out),
                }
            } else if let (true, Some(t)) =
                (k == "task_params", params_of.and_then(|p| self.task(p)))
            {
                // The stored text is the writer's bytes for the parameter object.
                out.extend_from_slice(t.params.text().as_bytes());
            } else {
                crate::pyjson::to_py_json(v, out);
            }
        }
        out.push(b'}');
        splice
    }

    /// get_work's reply, with `running_tasks` left to the caller (see
    /// [`Self::count_pending_parts`]) unless the list is already in it (`None`).
    /// With `raw`, a single task's `task_params` is a `null` placeholder too, and the
    /// task's slot is returned for writing its stored text.
    fn get_work_parts(
        &mut self,
        host: Value,
        assistant: Value,
        current_tasks: Option<Vec<String>>,
        worker: &str,
        now: f64,
        raw: bool,
    ) -> (Map<String, Value>, Option<Running>, Option<u32>) {
        if self.config.prune_on_get_work {
            self.prune(now);
        }
        let wid = self.touch_worker(worker, now, Some(Some(host.clone())));
        if self.worker(wid).is_some_and(|w| w.disabled) {
            let reply = json!({
                "n_pending_tasks": 0,
                "running_tasks": [],
                "task_id": null,
                "n_unique_pending": 0,
                "worker_state": "disabled",
            });
            return match reply {
                Value::Object(m) => (m, None, None),
                _ => (Map::new(), None, None),
            };
        }
        let is_assistant = truthy(&assistant);
        if is_assistant {
            if let Some(wk) = self.worker_mut(wid) {
                let old = wk.info.insert("assistant".into(), assistant.clone());
                if old.as_ref() != Some(&assistant) {
                    self.running_changed();
                }
            }
        }
        let mut best: Option<u32> = None;
        if let Some(ct) = &current_tasks {
            let ct: HashSet<&str> = ct.iter().map(|s| s.as_str()).collect();
            let mut best_rank: Option<(f64, f64)> = None;
            // This worker's RUNNING and BATCH_RUNNING tasks, in status order.
            let runs: Vec<u32> = self
                .ix
                .run_by
                .get(&wid)
                .map(|r| r.values().copied().collect())
                .unwrap_or_default();
            for &s in &runs {
                let Some(t) = self.task(s) else { continue };
                if t.status == Status::Running && !ct.contains(&*t.id) {
                    let rank = (t.prio, -t.time);
                    // Ascending stable sort, last match wins: ties go to the later one.
                    if best_rank.is_none_or(|b| rank.partial_cmp(&b).is_some_and(|o| o.is_ge())) {
                        best_rank = Some(rank);
                        best = Some(s);
                    }
                }
            }
            let running_batches: HashSet<Option<&str>> = runs
                .iter()
                .filter_map(|&s| self.task(s))
                .filter(|t| t.status == Status::Running)
                .map(|t| t.batch_id())
                .collect();
            let orphans: Vec<u32> = runs
                .iter()
                .copied()
                .filter(|&s| {
                    self.task(s).is_some_and(|t| {
                        t.status == Status::BatchRunning && !running_batches.contains(&t.batch_id())
                    })
                })
                .collect();
            for s in orphans {
                self.set_status(s, Status::Pending, now);
            }
        }

        let mut batched: Vec<u32> = Vec::new();
        let mut batched_params: Option<Map<String, Value>> = None;
        if best.is_none() && !self.paused {
            let choice = self.choose(wid, is_assistant, now);
            best = choice.best;
            batched_params = choice.batched_params;
            batched = choice.batched;
        }

        let (mut reply, running) = self
            .count_pending_parts(worker, now)
            .unwrap_or_else(|| (Map::new(), Running::List(Vec::new())));
        if batched.len() > 1 {
            let Some(bt) = best.and_then(|b| self.task(b)) else {
                return (reply, Some(running), None);
            };
            let (family, module, mut params) = (
                bt.family.to_string(),
                bt.module().to_value(),
                bt.params.to_map(),
            );
            let ids: Vec<String> = batched
                .iter()
                .filter_map(|&s| self.task(s).map(|t| t.id.to_string()))
                .collect();
            let batch_id = md5_hex(ids.join("|").as_bytes());
            for &s in &batched {
                self.set_status(s, Status::BatchRunning, now);
                let bid = batch_id.clone();
                self.with_task(s, |t| {
                    t.x_mut().batch_id = Some(bid);
                    t.worker_running = Some(wid);
                    t.rr = ResRun::Alias;
                    t.time_running = Some(now).into();
                });
            }
            if let Some(bp) = batched_params {
                for (k, v) in bp {
                    params.insert(k, v);
                }
            }
            reply.insert("task_id".into(), Value::Null);
            reply.insert("task_family".into(), Value::String(family));
            reply.insert("task_module".into(), module);
            reply.insert("task_params".into(), Value::Object(params));
            reply.insert("batch_id".into(), Value::String(batch_id));
            reply.insert(
                "batch_task_ids".into(),
                Value::Array(ids.into_iter().map(Value::String).collect()),
            );
        } else if let Some(b) = best {
            if let Some(t) = self.task(b) {
                let (family, task_id) = (t.family.to_string(), t.id.clone());
                self.events.push(Event::TaskStarted { family, task_id });
            }
            self.set_status(b, Status::Running, now);
            self.with_task(b, |t| {
                t.worker_running = Some(wid);
                t.rr = ResRun::from_map(t.resources().clone());
                t.time_running = Some(now).into();
            });

            let host_s = match &host {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            };
            self.history(b, "RUNNING", host_s, now);
            if let Some(t) = self.task(b) {
                reply.insert("task_id".into(), Value::String(t.id.to_string()));
                reply.insert("task_family".into(), Value::String(t.family.to_string()));
                reply.insert("task_module".into(), t.module().to_value());
                let params = if raw {
                    Value::Null
                } else {
                    Value::Object(t.params.to_map())
                };
                reply.insert("task_params".into(), params);
            }
        } else {
            reply.insert("task_id".into(), Value::Null);
        }
        let params_of = if raw {
            best.filter(|_| batched.len() <= 1)
        } else {
            None
        };
        (reply, Some(running), params_of)
    }

    /// The get_work walk over candidates in rank order (the loop of luigid's `Scheduler.get_work`).
    fn choose(&self, wid: u32, is_assistant: bool, now: f64) -> Choice {
        let Some(wk) = self.worker(wid) else {
            return Choice::default();
        };
        let trivial = !wk.assistant() && wk.ix.n_p_res == 0;
        let mut greedy_res: HashMap<String, f64> = HashMap::new();
        let (used, mut greedy_workers) = if trivial {
            (HashMap::new(), HashMap::new())
        } else {
            let limit = now - self.config.worker_disconnect_delay;
            let gw: HashMap<u32, f64> = self
                .workers
                .iter()
                .flatten()
                .filter(|w| w.last_get_work.is_some_and(|l| l > limit))
                .map(|w| {
                    let n = w.info.get("workers").and_then(py_num).unwrap_or(1.0);
                    (w.id, n)
                })
                .collect();
            (self.used_resources(), gw)
        };
        let keys: Box<dyn Iterator<Item = &super::CandKey>> = if trivial {
            Box::new(wk.ix.ready.iter())
        } else {
            Box::new(self.ix.cand.iter())
        };
        let mut best: Option<u32> = None;
        let mut batched: Vec<u32> = Vec::new();
        let mut batched_params: Option<Map<String, Value>> = None;
        let mut unbatched: Map<String, Value> = Map::new();
        let mut max_batch: Option<f64> = Some(1.0);
        let below_max = |n: usize, m: Option<f64>| m.is_none_or(|m| (n as f64) < m);
        for key in keys {
            let slot = key.slot;
            let Some(t) = self.task(slot) else { continue };
            if let Some(b) = best {
                let Some(bt) = self.task(b) else { break };
                if let Some(bp) = batched_params.as_mut() {
                    if t.family == bt.family && below_max(batched.len(), max_batch) && t.batchable {
                        let tp = t.params.to_map();
                        if unbatched
                            .iter()
                            .all(|(k, v)| py_eq(tp.get(k).unwrap_or(&Value::Null), v))
                            && map_eq(t.resources(), bt.resources())
                            && is_ready(t)
                        {
                            for (name, vals) in bp.iter_mut() {
                                if let Value::Array(a) = vals {
                                    a.push(tp.get(name).cloned().unwrap_or(Value::Null));
                                }
                            }
                            batched.push(slot);
                        }
                    }
                }
                if batched_params.is_none() || !below_max(batched.len(), max_batch) {
                    break;
                }
                continue;
            }
            if t.status == Status::Running {
                if let Some(g) = t.worker_running.and_then(|wr| greedy_workers.get_mut(&wr)) {
                    *g -= 1.0;
                    add_amounts(
                        &mut greedy_res,
                        t.resources_running().unwrap_or(t.resources()),
                    );
                }
            }
            if is_ready(t) && self.has_resources(t.resources(), &greedy_res) {
                let in_workers = (is_assistant && t.runnable) || t.workers.contains(&wid);
                if in_workers && self.has_resources(t.resources(), &used) {
                    best = Some(slot);
                    let batcher = self
                        .batchers
                        .get(self.worker_name(wid))
                        .and_then(|m| m.get(&*t.family));
                    max_batch = batcher.map(|b| b.max_batch_size).unwrap_or(Some(1.0));
                    if let Some(b) = batcher {
                        if !b.args.is_empty() && t.batchable {
                            let tp = t.params.to_map();
                            let mut bp = Map::new();
                            let mut ok = true;
                            for name in &b.args {
                                match tp.get(name) {
                                    Some(v) => {
                                        bp.insert(name.clone(), Value::Array(vec![v.clone()]));
                                    }
                                    None => {
                                        ok = false;
                                        break;
                                    }
                                }
                            }
                            if ok {
                                unbatched = tp
                                    .iter()
                                    .filter(|(k, _)| !bp.contains_key(*k))
                                    .map(|(k, v)| (k.clone(), v.clone()))
                                    .collect();
                                batched_params = Some(bp);
                                batched.push(slot);
                            }
                        }
                    }
                    if batched_params.is_none() || !below_max(batched.len(), max_batch) {
                        break;
                    }
                } else {
                    let extra = if is_assistant { Some(wid) } else { None };
                    for tw in t.workers.iter().copied().chain(extra) {
                        if let Some(g) = greedy_workers.get_mut(&tw) {
                            if *g > 0.0 {
                                *g -= 1.0;
                                add_amounts(&mut greedy_res, t.resources());
                                break;
                            }
                        }
                    }
                }
            }
        }
        Choice {
            best,
            batched_params,
            batched,
        }
    }

    // ----- failures and manual status changes ------------------------------------------

    pub fn forgive_failures(&mut self, task_id: &Value, now: f64) -> Value {
        let Some(slot) = task_id.as_str().and_then(|id| self.slot_of(id)) else {
            return json!({"task_id": task_id, "status": null});
        };
        if self.task(slot).is_some_and(|t| t.status == Status::Failed) {
            self.history(slot, "PENDING", None, now);
            self.set_status(slot, Status::Pending, now);
        }
        let st = self.task(slot).map(|t| t.status.as_str()).unwrap_or("");
        json!({"task_id": task_id, "status": st})
    }

    pub fn mark_as_done(&mut self, task_id: &Value, now: f64) -> Value {
        let Some(slot) = task_id.as_str().and_then(|id| self.slot_of(id)) else {
            return json!({"task_id": task_id, "status": null});
        };
        if self.task(slot).is_some_and(|t| {
            matches!(
                t.status,
                Status::Running | Status::Failed | Status::Disabled
            )
        }) {
            self.history(slot, "DONE", None, now);
            self.set_status(slot, Status::Done, now);
        }
        let st = self.task(slot).map(|t| t.status.as_str()).unwrap_or("");
        json!({"task_id": task_id, "status": st})
    }

    pub fn re_enable_task(&mut self, task_id: &Value, now: f64) -> Value {
        let Some(slot) = task_id.as_str().and_then(|id| self.slot_of(id)) else {
            return json!({});
        };
        let ok = self.task(slot).is_some_and(|t| {
            t.status == Status::Disabled && t.scheduler_disable_time().is_some_and(|x| x != 0.0)
        });
        if !ok {
            return json!({});
        }
        self.re_enable(slot, now);
        match self.task(slot) {
            Some(t) => Value::Object(
                self.serialize(t, Some(t.deps.iter().map(|d| d.to_string()).collect())),
            ),
            None => json!({}),
        }
    }

    // ----- per-task values -------------------------------------------------------------

    fn slot_for(&self, task_id: &Value) -> Option<u32> {
        task_id.as_str().and_then(|id| self.slot_of(id))
    }

    /// set_task_status_message / set_task_progress_percentage.
    pub fn set_task_field(&mut self, task_id: &Value, value: Value, progress: bool) {
        let Some(slot) = self.slot_for(task_id) else {
            return;
        };
        let value = Pv::from_value(value);
        let set = |t: &mut Task, v: Pv| {
            t.set_x(v.is_null(), |x| {
                if progress {
                    x.progress_percentage = v;
                } else {
                    x.status_message = v;
                }
            })
        };
        let v2 = value.clone();
        if let Some(t) = self.task_mut(slot) {
            set(t, v2);
        }
        let batch = self
            .task(slot)
            .filter(|t| t.status == Status::Running)
            .and_then(|t| t.batch_id().map(str::to_string));
        if let Some(bid) = batch {
            for m in self.batch_running(&bid) {
                let v = value.clone();
                if let Some(t) = self.task_mut(m) {
                    set(t, v);
                }
            }
        }
    }

    pub fn get_task_status_message(&self, task_id: &Value) -> Value {
        match self.slot_for(task_id).and_then(|s| self.task(s)) {
            Some(t) => json!({"taskId": task_id, "statusMessage": t.x().status_message}),
            None => json!({"taskId": task_id, "statusMessage": ""}),
        }
    }

    pub fn get_task_progress_percentage(&self, task_id: &Value) -> Value {
        match self.slot_for(task_id).and_then(|s| self.task(s)) {
            Some(t) => json!({"taskId": task_id, "progressPercentage": t.x().progress_percentage}),
            None => json!({"taskId": task_id, "progressPercentage": null}),
        }
    }

    pub fn get_running_task_resources(&self, task_id: &Value) -> Value {
        match self.slot_for(task_id).and_then(|s| self.task(s)) {
            Some(t) => json!({"taskId": task_id, "resources": t.resources_running()}),
            None => json!({"taskId": task_id, "resources": null}),
        }
    }

    pub fn decrease_running_task_resources(&mut self, task_id: &Value, dec: &Map<String, Value>) {
        let Some(slot) = self.slot_for(task_id) else {
            return;
        };
        let Some(t) = self.task(slot) else { return };
        if t.status != Status::Running {
            return;
        }
        let batch = t.batch_id().map(str::to_string);
        let decrease = |t: &mut Task| {
            let res = match t.rr {
                ResRun::Alias => t.resources.as_deref_mut(),
                ResRun::Own(ref mut m) => Some(&mut **m),
                _ => None,
            };
            let Some(res) = res else { return };
            for (r, amount) in dec {
                let Some(a) = py_num(amount) else { continue };
                if a > 0.0 {
                    if let Some(cur) = res.get_mut(r) {
                        let both_int = cur.is_i64() && amount.is_i64();
                        let v = py_num(cur).unwrap_or(0.0) - a;
                        *cur = if v > 0.0 {
                            if both_int {
                                Value::from(
                                    cur.as_i64().unwrap_or(0) - amount.as_i64().unwrap_or(0),
                                )
                            } else {
                                num_value(v)
                            }
                        } else {
                            Value::from(0)
                        };
                    }
                }
            }
        };
        self.with_task(slot, decrease);
        if let Some(bid) = batch {
            for m in self.batch_running(&bid) {
                self.with_task(m, decrease);
            }
        }
    }

    // ----- scheduler messages ----------------------------------------------------------

    pub fn send_scheduler_message(
        &mut self,
        worker: &str,
        task: Value,
        content: Value,
        message_id: Option<String>,
        now: f64,
    ) -> Value {
        if !self.config.send_messages {
            return json!({"message_id": null});
        }
        let id = message_id.unwrap_or_else(|| {
            self.message_counter += 1;
            format!("00000000-0000-4000-8000-{:012x}", self.message_counter)
        });
        let w = self.get_worker(worker, now);
        if let Some(wk) = self.worker_mut(w) {
            wk.rpc_messages.push(json!({
                "name": "dispatch_scheduler_message",
                "kwargs": {"task_id": task, "message_id": id, "content": content},
            }));
        }
        json!({ "message_id": id })
    }

    pub fn add_scheduler_message_response(
        &mut self,
        task_id: &Value,
        message_id: &str,
        response: Value,
    ) {
        if let Some(slot) = self.slot_for(task_id) {
            self.with_task(slot, |t| {
                t.x_mut()
                    .scheduler_message_responses
                    .get_or_insert_with(Map::new)
                    .insert(message_id.to_string(), response);
            });
        }
    }

    pub fn get_scheduler_message_response(&mut self, task_id: &Value, message_id: &str) -> Value {
        let mut response = Value::Null;
        if let Some(slot) = self.slot_for(task_id) {
            if let Some(Some(v)) = self.with_task(slot, |t| {
                let x = t.extra.as_deref_mut()?;
                let m = x.scheduler_message_responses.as_mut()?;
                let v = m.remove(message_id);
                if m.is_empty() {
                    x.scheduler_message_responses = None;
                }
                v
            }) {
                response = v;
            }
        }
        json!({ "response": response })
    }

    // ----- pause and resources ---------------------------------------------------------

    pub fn is_pause_enabled(&self) -> Value {
        json!({"enabled": self.config.pause_enabled})
    }

    pub fn is_paused(&self) -> Value {
        json!({"paused": self.paused})
    }

    pub fn set_paused(&mut self, paused: bool) {
        if self.config.pause_enabled {
            self.paused = paused;
        }
    }

    pub fn has_task_history(&self) -> Value {
        Value::Bool(self.config.record_task_history)
    }

    pub fn update_resources(&mut self, updates: Vec<(String, Value)>) {
        for (k, v) in updates {
            match self.resources.iter_mut().find(|(name, _)| *name == k) {
                Some(entry) => entry.1 = v,
                None => self.resources.push((k, v)),
            }
        }
    }

    /// `update_resource`: only non-negative integers (and JSON booleans, as Python ints).
    pub fn update_resource(&mut self, resource: &str, amount: &Value) -> Value {
        let ok = match amount {
            Value::Bool(_) => true,
            Value::Number(n) => n.as_i64().is_some_and(|i| i >= 0) || n.as_u64().is_some(),
            _ => false,
        };
        if !ok {
            return Value::Bool(false);
        }
        self.update_resources(vec![(resource.to_string(), amount.clone())]);
        Value::Bool(true)
    }

    pub fn resource_list(&mut self, now: f64) -> Value {
        self.prune(now);
        let mut used: HashMap<&str, NumAcc> = HashMap::new();
        for s in self.bucket(Status::Running) {
            if let Some(t) = self.task(s) {
                for (r, a) in t.resources_running().unwrap_or(t.resources()) {
                    used.entry(r.as_str()).or_default().add(a);
                }
            }
        }
        let mut out = Vec::new();
        for (name, total) in &self.resources {
            let mut running = Map::new();
            for s in self.bucket(Status::Running) {
                if let Some(t) = self.task(s) {
                    if t.resources().contains_key(name) {
                        running.insert(t.id.to_string(), Value::Object(self.serialize_nodeps(t)));
                    }
                }
            }
            let num_used = used
                .get(name.as_str())
                .map(|a| a.to_value())
                .unwrap_or(json!(0));
            out.push(json!({
                "name": name,
                "num_total": total,
                "num_used": num_used,
                "num_consumer": running.len(),
                "running": running,
            }));
        }
        Value::Array(out)
    }

    // ----- read APIs ---------------------------------------------------------------------

    /// luigid's task serialization (`Scheduler._serialize_task`); `deps` adds the `deps` key.
    pub(crate) fn serialize(&self, t: &Task, deps: Option<Vec<String>>) -> Map<String, Value> {
        // Sized for every key below, so the map never regrows.
        let mut m = Map::with_capacity(18);
        m.insert(
            "display_name".into(),
            Value::String(pretty_id(&t.family, t.public_params())),
        );
        m.insert("status".into(), Value::String(t.status.as_str().into()));
        m.insert(
            "workers".into(),
            Value::Array(
                t.workers
                    .iter()
                    .map(|&w| Value::String(self.worker_name(w).into()))
                    .collect(),
            ),
        );
        m.insert(
            "worker_running".into(),
            t.worker_running
                .map(|w| Value::String(self.worker_name(w).into()))
                .unwrap_or(Value::Null),
        );
        m.insert("time_running".into(), opt_num(t.time_running.get()));
        m.insert("start_time".into(), num_value(t.time));
        m.insert("last_updated".into(), num_value(t.updated));
        m.insert("params".into(), Value::Object(t.public_params().to_map()));
        m.insert("name".into(), Value::String(t.family.to_string()));
        m.insert("priority".into(), t.priority().to_value());
        m.insert("resources".into(), Value::Object(t.resources().clone()));
        m.insert(
            "resources_running".into(),
            t.resources_running()
                .map(|r| Value::Object(r.clone()))
                .unwrap_or(Value::Null),
        );
        let x = t.x();
        m.insert("tracking_url".into(), x.tracking_url.to_value());
        m.insert("status_message".into(), x.status_message.to_value());
        m.insert(
            "progress_percentage".into(),
            x.progress_percentage.to_value(),
        );
        if t.status == Status::Disabled {
            m.insert(
                "re_enable_able".into(),
                Value::Bool(t.scheduler_disable_time().is_some()),
            );
        }
        if let Some(deps) = deps {
            m.insert(
                "deps".into(),
                Value::Array(deps.into_iter().map(Value::String).collect()),
            );
        }
        if self.config.send_messages && t.status == Status::Running {
            m.insert("accepts_messages".into(), x.accepts_messages.to_value());
        }
        m
    }

    fn serialize_nodeps(&self, t: &Task) -> Map<String, Value> {
        self.serialize(t, None)
    }

    /// luigid's memoised upstream-status walk (`Scheduler._upstream_status`) as a severity index.
    fn upstream_status(&self, root: u32, memo: &mut HashMap<u32, u8>) -> u8 {
        if let Some(&v) = memo.get(&root) {
            return v;
        }
        let mut stack = vec![root];
        while let Some(s) = stack.pop() {
            let Some(t) = self.task(s) else { continue };
            if t.status == Status::Done {
                continue;
            }
            match memo.get(&s) {
                None => {
                    if t.status == Status::Pending && !t.deps.is_empty() {
                        stack.push(s);
                        stack.extend(t.deps.iter().filter_map(|d| self.slot_of(d)));
                        memo.insert(s, 0);
                    } else {
                        memo.insert(s, own_upstream(t.status));
                    }
                }
                Some(0) if !t.deps.is_empty() => {
                    let v = t
                        .deps
                        .iter()
                        .map(|d| {
                            self.slot_of(d)
                                .and_then(|ds| memo.get(&ds).copied())
                                .unwrap_or(0)
                        })
                        .max()
                        .unwrap_or(0);
                    memo.insert(s, v);
                }
                _ => {}
            }
        }
        memo.get(&root).copied().unwrap_or(0)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn task_list(
        &mut self,
        status: &str,
        upstream_status: &str,
        limit: bool,
        search: Option<&str>,
        max_shown_tasks: Option<i64>,
        now: f64,
    ) -> Value {
        match self.task_list_slots(status, upstream_status, limit, search, max_shown_tasks, now) {
            Err(v) => v,
            Ok(slots) => {
                let mut result = Map::with_capacity(slots.len());
                for s in slots {
                    if let Some(t) = self.task(s) {
                        result.insert(t.id.to_string(), Value::Object(self.serialize_nodeps(t)));
                    }
                }
                Value::Object(result)
            }
        }
    }

    /// [`Self::task_list`] written straight into `out` as luigid's JSON, without
    /// building a `Value` per task (the same bytes; ~10x cheaper for large lists).
    #[allow(clippy::too_many_arguments)]
    pub fn task_list_json(
        &mut self,
        status: &str,
        upstream_status: &str,
        limit: bool,
        search: Option<&str>,
        max_shown_tasks: Option<i64>,
        now: f64,
        out: &mut Vec<u8>,
    ) {
        match self.task_list_slots(status, upstream_status, limit, search, max_shown_tasks, now) {
            Err(v) => crate::pyjson::write_py_json(&v, out),
            Ok(slots) => {
                // A typical task is ~350 bytes; growing a multi-MB Vec by doubling
                // costs copies and page faults.
                out.reserve(slots.len() * 384);
                self.write_task_map(&slots, out);
            }
        }
    }

    /// The slots task_list shows, in order, or its early `{"num_tasks": N}` answer.
    #[allow(clippy::too_many_arguments)]
    fn task_list_slots(
        &mut self,
        status: &str,
        upstream_status: &str,
        limit: bool,
        search: Option<&str>,
        max_shown_tasks: Option<i64>,
        now: f64,
    ) -> Result<Vec<u32>, Value> {
        let cap = max_shown_tasks
            .filter(|&m| m != 0)
            .unwrap_or(self.config.max_shown_tasks);
        let st = if status.is_empty() {
            None
        } else {
            Some(Status::parse(status))
        };
        if search.is_none_or(|s| s.is_empty()) {
            let pre_count = match st {
                None => self.ix.live,
                Some(None) => 0,
                Some(Some(s)) => self.ix.buckets[s.index()].len(),
            };
            if limit && pre_count as i64 > cap {
                let n = if upstream_status.is_empty() {
                    pre_count as i64
                } else {
                    -1
                };
                return Err(json!({ "num_tasks": n }));
            }
        }
        self.prune(now);
        let terms: Option<Vec<String>> =
            search.map(|s| s.split_whitespace().map(|t| t.to_lowercase()).collect());
        let want_up = upstream_severity(upstream_status);
        let slots: Vec<u32> = match st {
            None => (0..self.tasks.len() as u32)
                .filter(|&s| self.task(s).is_some())
                .collect(),
            Some(None) => Vec::new(),
            Some(Some(s)) => self.bucket(s).collect(),
        };
        let mut memo = HashMap::new();
        let mut result = Vec::with_capacity(slots.len());
        // One buffer for every task's pretty id (a search at a million tasks allocated two
        // strings per task); ASCII ids are lowercased in place.
        let mut pid = String::new();
        for s in slots {
            let Some(t) = self.task(s) else { continue };
            if let Some(terms) = &terms {
                if !terms.is_empty() {
                    pid.clear();
                    pretty_id_into(&mut pid, &t.family, t.public_params());
                    let found = if pid.is_ascii() {
                        pid.make_ascii_lowercase();
                        terms.iter().all(|term| pid.contains(term.as_str()))
                    } else {
                        let low = pid.to_lowercase();
                        terms.iter().all(|term| low.contains(term.as_str()))
                    };
                    if !found {
                        continue;
                    }
                }
            }
            let include = t.status != Status::Pending
                || upstream_status.is_empty()
                || want_up.is_some_and(|w| w == self.upstream_status(s, &mut memo));
            if include {
                result.push(s);
            }
        }
        if limit && result.len() as i64 > cap {
            return Err(json!({ "num_tasks": result.len() }));
        }
        Ok(result)
    }

    /// [`Self::task_search`] written straight into `out` (the same bytes, no `Value`s).
    pub fn task_search_json(&mut self, task_str: &str, now: f64, out: &mut Vec<u8>) {
        self.prune(now);
        // Statuses in order of first appearance, as the map in `task_search` has them.
        let mut groups: Vec<(Status, Vec<u32>)> = Vec::new();
        for (slot, t) in self.tasks.iter().enumerate() {
            let Some(t) = t else { continue };
            if t.id.contains(task_str) {
                let slot = slot as u32;
                match groups.iter_mut().find(|(st, _)| *st == t.status) {
                    Some((_, v)) => v.push(slot),
                    None => groups.push((t.status, vec![slot])),
                }
            }
        }
        out.push(b'{');
        for (i, (st, slots)) in groups.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            out.push(b'"');
            out.extend_from_slice(st.as_str().as_bytes());
            out.extend_from_slice(b"\": ");
            self.write_task_map(slots, out);
        }
        out.push(b'}');
    }

    pub fn task_search(&mut self, task_str: &str, now: f64) -> Value {
        self.prune(now);
        let mut result = Map::new();
        for t in self.tasks.iter().flatten() {
            if t.id.contains(task_str) {
                let entry = result
                    .entry(t.status.as_str().to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = entry {
                    m.insert(t.id.to_string(), Value::Object(self.serialize_nodeps(t)));
                }
            }
        }
        Value::Object(result)
    }

    pub fn fetch_error(&self, task_id: &Value) -> Value {
        match self.slot_for(task_id).and_then(|s| self.task(s)) {
            Some(t) => json!({
                "taskId": task_id,
                "error": t.expl(),
                "displayName": pretty_id(&t.family, t.public_params()),
                "taskParams": t.params.to_map(),
                "taskModule": t.module(),
                "taskFamily": &*t.family,
            }),
            None => json!({"taskId": task_id, "error": ""}),
        }
    }

    pub fn worker_list(&mut self, include_running: bool, now: f64) -> Value {
        self.prune(now);
        let mut entries: Vec<(f64, u32, Map<String, Value>)> = Vec::new();
        for w in self.worker_order() {
            let Some(wk) = self.worker(w) else { continue };
            let mut m = Map::new();
            m.insert("name".into(), Value::String(self.worker_name(w).into()));
            m.insert("last_active".into(), num_value(wk.last_active));
            m.insert("started".into(), num_value(wk.started));
            m.insert(
                "state".into(),
                Value::String(if wk.disabled { "disabled" } else { "active" }.into()),
            );
            let first = wk
                .info
                .get("first_task")
                .cloned()
                .unwrap_or(Value::String(String::new()));
            let ftdn = match first
                .as_str()
                .and_then(|id| self.slot_of(id))
                .and_then(|s| self.task(s))
            {
                Some(t) => Value::String(pretty_id(&t.family, t.public_params())),
                None => first,
            };
            m.insert("first_task_display_name".into(), ftdn);
            m.insert(
                "num_unread_rpc_messages".into(),
                Value::from(wk.rpc_messages.len()),
            );
            for (k, v) in &wk.info {
                if !m.contains_key(k) {
                    m.insert(k.clone(), v.clone());
                }
            }
            entries.push((wk.started, w, m));
        }
        // sorted by `started` descending, stable.
        entries.sort_by(|a, b| b.0.total_cmp(&a.0));
        if include_running {
            let mut running: HashMap<u32, Map<String, Value>> = HashMap::new();
            for s in self.bucket(Status::Running) {
                if let Some(t) = self.task(s) {
                    if let Some(wr) = t.worker_running {
                        running
                            .entry(wr)
                            .or_default()
                            .insert(t.id.to_string(), Value::Object(self.serialize_nodeps(t)));
                    }
                }
            }
            for (_, w, m) in entries.iter_mut() {
                let tasks = running.remove(w).unwrap_or_default();
                let (np, nu) = self
                    .worker(*w)
                    .map(|wk| (wk.ix.n_p, wk.ix.n_p_unique))
                    .unwrap_or((0, 0));
                m.insert("num_running".into(), Value::from(tasks.len()));
                m.insert("num_pending".into(), Value::from(np));
                m.insert("num_uniques".into(), Value::from(nu));
                m.insert("running".into(), Value::Object(tasks));
            }
        }
        Value::Array(
            entries
                .into_iter()
                .map(|(_, _, m)| Value::Object(m))
                .collect(),
        )
    }

    // ----- graphs ------------------------------------------------------------------------

    /// luigid's breadth-first walk from `root` (ids not yet in `seen`), appending the
    /// nodes it shows to `out`, in order.
    fn traverse<'a>(
        &'a self,
        root: &'a str,
        seen: &mut FastSet<&'a str>,
        inverse: bool,
        include_done: bool,
        out: &mut Vec<GraphNode<'a>>,
    ) {
        if !seen.insert(root) {
            return;
        }
        let mut queue: VecDeque<&'a str> = VecDeque::from([root]);
        let mut emitted = 0i64;
        while let Some(id) = queue.pop_front() {
            let is_root = id == root;
            match self
                .slot_of(id)
                .and_then(|s| self.task(s).map(|t| (s, t)))
                .filter(|(_, t)| !t.family.is_empty())
            {
                None => out.push(GraphNode {
                    id,
                    slot: None,
                    deps: Vec::new(),
                    is_root,
                }),
                Some((slot, t)) => {
                    let mut deps: Vec<&'a str> = if inverse {
                        self.ix
                            .rdeps(&t.id)
                            .into_iter()
                            .filter_map(|s| self.task(s).map(|d| &*d.id))
                            .collect()
                    } else {
                        t.deps.iter().map(|d| &**d).collect()
                    };
                    deps.sort_unstable();
                    if !include_done {
                        deps.retain(|d| {
                            self.slot_of(d)
                                .and_then(|s| self.task(s))
                                .is_none_or(|x| x.status != Status::Done)
                        });
                    }
                    for &d in &deps {
                        if seen.insert(d) {
                            queue.push_back(d);
                        }
                    }
                    out.push(GraphNode {
                        id,
                        slot: Some(slot),
                        deps,
                        is_root,
                    });
                }
            }
            emitted += 1;
            if emitted >= self.config.max_graph_nodes {
                break;
            }
        }
    }

    /// The nodes `graph` shows.
    fn graph_nodes(&self) -> Vec<GraphNode<'_>> {
        let mut out = Vec::new();
        let mut seen = FastSet::default();
        for t in self.tasks.iter().flatten() {
            self.traverse(&t.id, &mut seen, false, true, &mut out);
        }
        out
    }

    /// The nodes `dep_graph` shows (none for an unknown id).
    fn dep_graph_nodes(
        &self,
        task_id: &Value,
        include_done: bool,
        inverse: bool,
    ) -> Vec<GraphNode<'_>> {
        let mut out = Vec::new();
        let root = task_id
            .as_str()
            .and_then(|id| self.slot_of(id))
            .and_then(|s| self.task(s));
        if let Some(t) = root {
            let mut seen = FastSet::default();
            self.traverse(&t.id, &mut seen, inverse, include_done, &mut out);
        }
        out
    }

    fn graph_value(&self, nodes: &[GraphNode]) -> Value {
        let mut out = Map::with_capacity(nodes.len());
        for n in nodes {
            let v = match n.slot.and_then(|s| self.task(s)) {
                None => {
                    let mut m = Map::new();
                    m.insert("deps".into(), json!([]));
                    m.insert("status".into(), json!("UNKNOWN"));
                    m.insert("workers".into(), json!([]));
                    m.insert("start_time".into(), json!("UNKNOWN"));
                    m.insert("params".into(), json!({ "task_id": n.id }));
                    m.insert("name".into(), json!(guess_family(n.id)));
                    if n.is_root {
                        m.insert("display_name".into(), json!(n.id));
                    }
                    m.insert("priority".into(), json!(0));
                    m
                }
                Some(t) => {
                    let deps = n.deps.iter().map(|d| d.to_string()).collect();
                    let mut m = self.serialize(t, Some(deps));
                    if !n.is_root {
                        m.shift_remove("display_name");
                    }
                    m
                }
            };
            out.insert(n.id.to_string(), Value::Object(v));
        }
        Value::Object(out)
    }

    pub fn graph(&mut self, now: f64) -> Value {
        self.prune(now);
        self.graph_value(&self.graph_nodes())
    }

    /// [`Self::graph`] written straight into `out` (the same bytes, no `Value`s).
    pub fn graph_json(&mut self, now: f64, out: &mut Vec<u8>) {
        self.prune(now);
        self.write_graph(&self.graph_nodes(), out);
    }

    pub fn dep_graph(
        &mut self,
        task_id: &Value,
        include_done: bool,
        inverse: bool,
        now: f64,
    ) -> Value {
        self.prune(now);
        self.graph_value(&self.dep_graph_nodes(task_id, include_done, inverse))
    }

    /// [`Self::dep_graph`] written straight into `out` (the same bytes, no `Value`s).
    pub fn dep_graph_json(
        &mut self,
        task_id: &Value,
        include_done: bool,
        inverse: bool,
        now: f64,
        out: &mut Vec<u8>,
    ) {
        self.prune(now);
        let nodes = self.dep_graph_nodes(task_id, include_done, inverse);
        self.write_graph(&nodes, out);
    }
}

/// One node of a dependency graph reply: a task (`slot`) with the deps it shows, or an
/// id shown as UNKNOWN.
pub(super) struct GraphNode<'a> {
    pub id: &'a str,
    pub slot: Option<u32>,
    pub deps: Vec<&'a str>,
    pub is_root: bool,
}

//! The scheduler: all task, worker, resource and batcher state, and every RPC method of
//! Luigi 3.8's scheduler with luigid's semantics. Pure: no IO, no clock; every method
//! takes `now` (seconds since the epoch, as a float).
//!
//! # Structure for scale
//! Tasks live in slots (`Vec<Option<Box<Task>>>`), appended in creation order, so slot
//! order is luigid's task-table order. A task record is compact (`types::Task`,
//! `compact`): ~250 bytes plus its id and its parameters' JSON text, so 100k tasks
//! take ~45 MB. Every task or dependency id is held once, in the id table
//! (`Index::nodes`: id -> slot and dependents), and shared by the task and the deps
//! naming it. Derived indexes (`Index`, `WorkerIndex`) are kept in
//! step by detaching a task before a change of an indexed field and attaching it after
//! (`with_task`): status buckets (ordered by entry into the status, as luigid's dicts),
//! reverse dependency edges, a per-task count of deps that are missing or not DONE, the
//! get_work candidate order (RUNNING + schedulable PENDING, keyed by rank), per-worker
//! schedulable sets and pending counters, and the prune indexes (no stakeholders, remove
//! time, retry time, automatic-disable time).
//!
//! Cost per call: add_task O((deps + workers) log n); get_work walks candidates in rank
//! order and stops at the chosen task (or at the batch limit), so it is O(k log n) for the
//! k candidates ranked above the chosen one; count_pending is O(running) from per-worker
//! counters, plus the region upstream of DISABLED tasks when there are any; prune touches
//! only RUNNING/BATCH_RUNNING tasks and tasks that are due (no stakeholders, removal,
//! retry or re-enable time reached). Still O(n) by nature: `graph`, `task_search`,
//! `task_list` without a status (or with a large bucket), and get_work for a non-trivial
//! worker when many higher-ranked schedulable tasks belong to other workers.
//!
//! The large read replies (task_list, task_search, graph, dep_graph) are also written
//! straight into bytes (`write.rs`), the same bytes as their `Value`s.
//!
//! After deserializing a snapshot call [`Scheduler::rebuild_indexes`].
//!
//! # Deviations from luigid (MAY-IMPROVE choices and input validation)
//! | where | luigid 3.8 | here |
//! |---|---|---|
//! | any method, missing/wrong-typed/unknown argument | 500 | `ApiError::BadArgument` naming it |
//! | add_task `task_id` null | creates a task keyed `None` | BadArgument (`task_id` required string) |
//! | add_task unknown status string | stored verbatim | BadArgument |
//! | add_task non-numeric priority / resources | 500 after partial update | BadArgument before any change |
//! | add_task unknown retry_policy_dict key | 500 after the worker touch | BadArgument before any change |
//! | add_task(RUNNING, batch_id) with no batch | IndexError 500 | `resources_running` left as it was |
//! | add_task FAILED with batch_emails | e-mails; 500 on null expl | e-mails (crate::notify); a null or non-text expl is not counted, the call succeeds |
//! | priority propagation | recursive, 500 past ~1000 levels | iterative |
//! | count_pending running task without worker_running | 500 | entry with `"worker": null` |
//! | decrease_running_task_resources w/o resources_running | 500 | no-op for that task |
//! | pruned task kept in `Worker.tasks` | may KeyError in get_work | a worker's tasks are exactly those whose `workers` contain it |
//! | worker_list info key among the six fixed keys | 500 | the fixed value wins |
//! | upstream status in cycles / shared sub-graphs (3.11 NONDET) | hash-order dependent | count_pending uses reachability through PENDING tasks; task_list runs luigid's walk over sorted deps |
//! | `info.workers` not a number | 500 in get_work | counted as 1 |
//! | update_resources non-numeric value | stored, 500 later | BadArgument |
//! | update_metrics_task_started | calls the collector with a non-task | no-op |
//! | announce_scheduling_failure, non-object `params` | 500 | counted with no parameters |
//! | send_scheduler_message id | uuid4 | `_message_id` argument when given, else `00000000-0000-4000-8000-<counter>` |
//! | set order (`deps`, trivial worker candidates, running_tasks) | hash order | sorted deps; rank/bucket order |
//! | add_task `family: null` | family `None`, shown as `None(...)` | treated as `""` |
//! | `[resources]` order | file order | the order `Ini` keeps (sorted by name) |

pub mod binary;
mod compact;
pub mod events;
mod hooks;
mod ops;
pub mod pyfmt;
mod running;
pub mod types;
mod write;

pub use ops::AddTask;
pub use types::{Status, Task, Worker};

use compact::{Deps, FastMap, Interner, SlotSet};
use events::Event;
pub use running::RunningText;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use types::{CandKey, OrdF64, RetryPolicy, WorkerIndex};

/// `[scheduler]` settings with luigid's defaults (the `scheduler` config class in luigi/scheduler.py).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulerConfig {
    pub retry_delay: f64,
    pub remove_delay: f64,
    pub worker_disconnect_delay: f64,
    pub disable_window: f64,
    pub retry_count: f64,
    pub disable_hard_timeout: f64,
    pub disable_persist: f64,
    pub max_shown_tasks: i64,
    pub max_graph_nodes: i64,
    pub record_task_history: bool,
    pub prune_on_get_work: bool,
    pub pause_enabled: bool,
    pub send_messages: bool,
    pub stable_done_cooldown_secs: f64,
    pub batch_emails: bool,
    /// `[resources]`: name -> capacity.
    pub resources: Vec<(String, i64)>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            retry_delay: 900.0,
            remove_delay: 600.0,
            worker_disconnect_delay: 60.0,
            disable_window: 3600.0,
            retry_count: 999999999.0,
            disable_hard_timeout: 999999999.0,
            disable_persist: 86400.0,
            max_shown_tasks: 100000,
            max_graph_nodes: 100000,
            record_task_history: false,
            prune_on_get_work: false,
            pause_enabled: true,
            send_messages: true,
            stable_done_cooldown_secs: 10.0,
            batch_emails: false,
            resources: Vec::new(),
        }
    }
}

impl SchedulerConfig {
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            retry_count: self.retry_count,
            disable_hard_timeout: self.disable_hard_timeout,
            disable_window: self.disable_window,
        }
    }
}

/// A worker's batcher for one family: the batched parameter names and the max size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batcher {
    pub args: Vec<String>,
    /// `None` means unlimited (luigid's default `float("inf")`).
    pub max_batch_size: Option<f64>,
}

/// `Node::slot` of an id that is only a dependency, not a task.
const NO_SLOT: u32 = u32::MAX;

/// One entry of the id table: a task id, a dependency id, or both.
#[derive(Debug, Default)]
struct Node {
    /// The task with this id, or `NO_SLOT`.
    slot: u32,
    /// Slots of the tasks that list this id as a dependency.
    rdeps: SlotSet,
}

/// Derived indexes; rebuilt by `rebuild_indexes`.
#[derive(Debug, Default)]
struct Index {
    /// Every task id and dependency id, held once (tasks' `id` and `deps` share it).
    nodes: FastMap<Arc<str>, Node>,
    /// Number of tasks in the table.
    live: usize,
    /// status -> status_seq -> slot (luigid's per-status dicts, in entry order).
    buckets: [BTreeMap<u64, u32>; 7],
    /// RUNNING tasks and schedulable PENDING tasks, in get_work rank order.
    cand: BTreeSet<CandKey>,
    /// RUNNING and BATCH_RUNNING tasks by the worker running them (`worker_running`),
    /// each in status order (status_seq -> slot): get_work's check of the worker's
    /// `current_tasks` reads its own, not every running task.
    run_by: FastMap<u32, BTreeMap<u64, u32>>,
    /// Tasks with no stakeholders and no removal time (prune marks them).
    no_stake: BTreeSet<u32>,
    remove_at: BTreeSet<(OrdF64, u32)>,
    /// FAILED tasks by retry time.
    retry_at: BTreeSet<(OrdF64, u32)>,
    /// Automatically DISABLED tasks by disable time.
    auto_disabled: BTreeSet<(OrdF64, u32)>,
    worker_ids: FastMap<String, u32>,
    /// Families, modules and visibility texts.
    strs: Interner,
    policies: Vec<Arc<RetryPolicy>>,
    /// A task add_task has just created and not yet entered in the indexes above: it
    /// is indexed once, in its final state, when the call ends (a fresh DONE task
    /// would otherwise enter and leave PENDING's indexes, and be re-indexed for its
    /// status, stakeholder and worker). `with_task` and `propagate_done` skip it.
    unindexed: Option<u32>,
}

impl Index {
    fn slot_of(&self, id: &str) -> Option<u32> {
        self.nodes.get(id).map(|n| n.slot).filter(|&s| s != NO_SLOT)
    }

    /// The shared copy of `id`, entering it in the id table.
    fn intern_id(&mut self, id: &str) -> Arc<str> {
        if let Some((k, _)) = self.nodes.get_key_value(id) {
            return k.clone();
        }
        let k: Arc<str> = Arc::from(id);
        self.nodes.insert(
            k.clone(),
            Node {
                slot: NO_SLOT,
                rdeps: SlotSet::default(),
            },
        );
        k
    }

    /// Drop an id nothing refers to any more.
    fn release_id(&mut self, id: &str) {
        if self
            .nodes
            .get(id)
            .is_some_and(|n| n.slot == NO_SLOT && n.rdeps.is_empty())
        {
            self.nodes.remove(id);
        }
    }

    fn add_rdep(&mut self, dep: &str, slot: u32) {
        if let Some(n) = self.nodes.get_mut(dep) {
            n.rdeps.insert(slot);
        }
    }

    fn remove_rdep(&mut self, dep: &str, slot: u32) {
        if let Some(n) = self.nodes.get_mut(dep) {
            n.rdeps.remove(slot);
        }
        self.release_id(dep);
    }

    /// The shared copy of a retry policy (few distinct ones exist; past 64 they are
    /// simply not shared).
    fn policy(&mut self, p: RetryPolicy) -> Arc<RetryPolicy> {
        if let Some(a) = self.policies.iter().find(|a| ***a == p) {
            return a.clone();
        }
        let a = Arc::new(p);
        if self.policies.len() < 64 {
            self.policies.push(a.clone());
        }
        a
    }

    fn rdeps(&self, id: &str) -> Vec<u32> {
        self.nodes
            .get(id)
            .map(|n| n.rdeps.to_vec())
            .unwrap_or_default()
    }
}

/// All scheduler state. Serializable as a whole for snapshots; call
/// [`Scheduler::rebuild_indexes`] after deserializing.
#[derive(Debug, Serialize, Deserialize)]
pub struct Scheduler {
    pub config: SchedulerConfig,
    tasks: Vec<Option<Box<Task>>>,
    status_counter: u64,
    /// Interned worker ids; a worker's number never changes.
    worker_names: Vec<String>,
    /// Indexed by interned id; `None` when not (or no longer) in the worker table.
    workers: Vec<Option<Worker>>,
    worker_counter: u64,
    batchers: BTreeMap<String, BTreeMap<String, Batcher>>,
    /// The resource table, in luigid's dict order.
    resources: Vec<(String, Value)>,
    paused: bool,
    message_counter: u64,
    #[serde(skip)]
    ix: Index,
    #[serde(skip)]
    events: Vec<Event>,
    /// While set, prunes do nothing: the caller cannot record their effects (writes to
    /// the saved state are failing), and an unrecorded prune would make the state differ
    /// from what a restart rebuilds.
    #[serde(skip)]
    prunes_held: bool,
    /// The running lists get_work replies repeat, kept between calls.
    #[serde(skip)]
    running_memo: running::RunningMemo,
    /// Changes with every change of a task (see [`TasksVersion`]).
    #[serde(skip)]
    tasks_version: TasksVersion,
}

/// A number that changes with every change to the task table (a task created, changed
/// or deleted). Each is drawn from one counter for the whole process, so two scheduler
/// values (a state rebuilt from its files, another leader's) never share one: a reply
/// made from the tasks alone (task_list, task_search, the graphs) may be reused while
/// it stays the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TasksVersion(u64);

impl Default for TasksVersion {
    fn default() -> TasksVersion {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        TasksVersion(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl Scheduler {
    /// The task table's current version.
    pub fn tasks_version(&self) -> TasksVersion {
        self.tasks_version
    }

    fn tasks_changed(&mut self) {
        self.tasks_version = TasksVersion::default();
    }
}

impl Scheduler {
    /// Hold (or resume) prunes; see the `prunes_held` field.
    pub fn hold_prunes(&mut self, held: bool) {
        self.prunes_held = held;
    }
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler::new(SchedulerConfig::default())
    }
}

fn adj(counter: &mut usize, add: bool) {
    if add {
        *counter += 1;
    } else {
        *counter = counter.saturating_sub(1);
    }
}

fn cand_key(t: &Task, slot: u32) -> CandKey {
    CandKey {
        neg_prio: OrdF64(-t.prio + 0.0),
        time: OrdF64(t.time),
        dep_rank: t.dep_rank,
        group: if t.status == Status::Running { 1 } else { 0 },
        status_seq: t.status_seq,
        slot,
    }
}

fn is_ready(t: &Task) -> bool {
    t.status == Status::Pending && t.unready == 0
}

/// Add (`add`) or remove a task's contributions to every derived index.
fn index_task(t: &Task, slot: u32, ix: &mut Index, workers: &mut [Option<Worker>], add: bool) {
    let bucket = &mut ix.buckets[t.status.index()];
    if add {
        bucket.insert(t.status_seq, slot);
    } else {
        bucket.remove(&t.status_seq);
    }
    if let (Status::Running | Status::BatchRunning, Some(wr)) = (t.status, t.worker_running) {
        if add {
            ix.run_by.entry(wr).or_default().insert(t.status_seq, slot);
        } else if let Some(runs) = ix.run_by.get_mut(&wr) {
            runs.remove(&t.status_seq);
            if runs.is_empty() {
                ix.run_by.remove(&wr);
            }
        }
    }
    let ready = is_ready(t);
    let key = cand_key(t, slot);
    if t.status == Status::Running || ready {
        if add {
            ix.cand.insert(key);
        } else {
            ix.cand.remove(&key);
        }
    }
    let pending = t.status == Status::Pending;
    let pf = pending || t.status == Status::Failed;
    let unique = t.workers.len() == 1;
    let last = t.workers.last().copied();
    for &w in t.workers.iter() {
        let Some(Some(worker)) = workers.get_mut(w as usize) else {
            continue;
        };
        let wi = &mut worker.ix;
        if add {
            wi.tasks.insert(slot);
        } else {
            wi.tasks.remove(slot);
        }
        if t.status == Status::Running {
            if add {
                wi.running.insert(t.status_seq, slot);
            } else {
                wi.running.remove(&t.status_seq);
            }
        }
        if pf {
            adj(&mut wi.n_pf, add);
            if unique {
                adj(&mut wi.n_pf_unique, add);
            }
            if last == Some(w) {
                adj(&mut wi.n_pf_last, add);
            }
        }
        if pending {
            adj(&mut wi.n_p, add);
            if unique {
                adj(&mut wi.n_p_unique, add);
            }
            if t.resources.is_some() {
                adj(&mut wi.n_p_res, add);
            }
            if ready {
                if add {
                    wi.ready.insert(key);
                } else {
                    wi.ready.remove(&key);
                }
            }
        }
    }
    for &w in t.stakeholders.iter() {
        if let Some(Some(worker)) = workers.get_mut(w as usize) {
            if add {
                worker.ix.stake.insert(slot);
            } else {
                worker.ix.stake.remove(slot);
            }
        }
    }
    if t.stakeholders.is_empty() && t.remove.is_none() {
        if add {
            ix.no_stake.insert(slot);
        } else {
            ix.no_stake.remove(&slot);
        }
    }
    let timed = |set: &mut BTreeSet<(OrdF64, u32)>, at: Option<f64>| {
        if let Some(at) = at {
            if add {
                set.insert((OrdF64(at), slot));
            } else {
                set.remove(&(OrdF64(at), slot));
            }
        }
    };
    timed(&mut ix.remove_at, t.remove.get());
    if t.status == Status::Failed {
        timed(&mut ix.retry_at, t.retry.get());
    }
    if t.status == Status::Disabled {
        timed(&mut ix.auto_disabled, t.scheduler_disable_time());
    }
}

impl Scheduler {
    pub fn new(config: SchedulerConfig) -> Scheduler {
        let resources = config
            .resources
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(*v)))
            .collect();
        Scheduler {
            config,
            tasks: Vec::new(),
            status_counter: 0,
            worker_names: Vec::new(),
            workers: Vec::new(),
            worker_counter: 0,
            batchers: BTreeMap::new(),
            resources,
            paused: false,
            message_counter: 0,
            ix: Index::default(),
            events: Vec::new(),
            prunes_held: false,
            running_memo: running::RunningMemo::default(),
            tasks_version: TasksVersion::default(),
        }
    }

    /// Replace the configuration (e.g. after loading a snapshot written under another
    /// luigi.cfg). The resource table is kept.
    pub fn set_config(&mut self, config: SchedulerConfig) {
        self.config = config;
    }

    /// Take the events emitted since the last call.
    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Number of tasks per status, for /metrics gauges.
    pub fn status_counts(&self) -> Vec<(String, usize)> {
        types::ALL_STATUSES
            .iter()
            .map(|s| (s.as_str().to_string(), self.ix.buckets[s.index()].len()))
            .collect()
    }

    /// Number of workers in the worker table.
    pub fn worker_count(&self) -> usize {
        self.workers.iter().filter(|w| w.is_some()).count()
    }

    /// Number of tasks in the task table.
    pub fn task_count(&self) -> usize {
        self.ix.live
    }

    /// Recompute every derived index from the persistent fields (after deserializing).
    pub fn rebuild_indexes(&mut self) {
        self.tasks_changed();
        let mut ix = Index::default();
        ix.nodes.reserve(self.tasks.len());
        for (i, name) in self.worker_names.iter().enumerate() {
            ix.worker_ids.insert(name.clone(), i as u32);
        }
        if self.workers.len() < self.worker_names.len() {
            self.workers.resize_with(self.worker_names.len(), || None);
        }
        for w in self.workers.iter_mut().flatten() {
            w.ix = WorkerIndex::default();
        }
        // Ids, families and modules are shared through the tables (a snapshot read as
        // JSON has a copy of each per use). One hash lookup per id and per dependency:
        // at a million tasks each lookup is a cache miss.
        use std::collections::hash_map::Entry;
        for (slot, t) in self.tasks.iter_mut().enumerate() {
            if let Some(t) = t {
                match ix.nodes.entry(t.id.clone()) {
                    Entry::Occupied(mut e) => {
                        t.id = e.key().clone();
                        e.get_mut().slot = slot as u32;
                    }
                    Entry::Vacant(e) => {
                        e.insert(Node {
                            slot: slot as u32,
                            rdeps: SlotSet::default(),
                        });
                    }
                }
                ix.live += 1;
                t.family = ix.strs.canon(&t.family);
                if let Some(m) = t.module_str_mut() {
                    *m = ix.strs.canon(m);
                }
                t.retry_policy = ix.policy(*t.retry_policy);
                if let Some(v) = &t.param_visibilities {
                    t.param_visibilities = Some(ix.strs.canon(v));
                }
                self.status_counter = self.status_counter.max(t.status_seq + 1);
            }
        }
        let done: Vec<bool> = self
            .tasks
            .iter()
            .map(|t| t.as_ref().is_some_and(|t| t.status == Status::Done))
            .collect();
        for (slot, t) in self.tasks.iter_mut().enumerate() {
            let Some(t) = t else { continue };
            let mut unready = 0;
            for d in t.deps.as_mut_slice() {
                match ix.nodes.entry(d.clone()) {
                    Entry::Occupied(mut e) => {
                        *d = e.key().clone();
                        let n = e.get_mut();
                        n.rdeps.insert(slot as u32);
                        if n.slot == NO_SLOT || !done[n.slot as usize] {
                            unready += 1;
                        }
                    }
                    Entry::Vacant(e) => {
                        let mut rdeps = SlotSet::default();
                        rdeps.insert(slot as u32);
                        e.insert(Node {
                            slot: NO_SLOT,
                            rdeps,
                        });
                        unready += 1;
                    }
                }
            }
            t.unready = unready;
        }
        for (slot, t) in self.tasks.iter().enumerate() {
            if let Some(t) = t {
                index_task(t, slot as u32, &mut ix, &mut self.workers, true);
            }
        }
        self.ix = ix;
        self.running_changed();
    }

    // ----- small accessors -------------------------------------------------------------

    /// A task's params as Python's `str()` shows their values (Datadog tags,
    /// Prometheus parameter labels); None for an unknown task.
    pub fn task_params(&self, id: &str) -> Option<Vec<(String, String)>> {
        let t = self.task(self.slot_of(id)?)?;
        Some(
            t.params
                .to_map()
                .iter()
                .map(|(k, v)| (k.clone(), pyfmt::py_str(v)))
                .collect(),
        )
    }

    /// The batched parameter names of `worker`'s batcher for `family` (luigid's
    /// `get_batcher`); empty without one.
    fn batched_args(&self, worker: &str, family: &str) -> &[String] {
        self.batchers
            .get(worker)
            .and_then(|m| m.get(family))
            .map_or(&[], |b| b.args.as_slice())
    }

    /// `params` without `worker`'s batched parameters for `family`, values as `str()`.
    fn unbatched_params(
        &self,
        worker: &str,
        family: &str,
        params: &serde_json::Map<String, Value>,
    ) -> Vec<(String, String)> {
        let batched = self.batched_args(worker, family);
        params
            .iter()
            .filter(|(k, _)| !batched.iter().any(|b| b == *k))
            .map(|(k, v)| (k.clone(), pyfmt::py_str(v)))
            .collect()
    }

    /// announce_scheduling_failure: queued for the batch e-mails when they are on
    /// (luigid ignores the call otherwise).
    pub fn announce_scheduling_failure(
        &mut self,
        worker: &str,
        task_name: String,
        family: String,
        params: &serde_json::Map<String, Value>,
        expl: String,
        owners: Vec<String>,
    ) {
        if !self.config.batch_emails {
            return;
        }
        let unbatched_params = self.unbatched_params(worker, &family, params);
        self.events.push(Event::SchedulingFailure {
            task_name,
            family,
            unbatched_params,
            expl,
            owners,
        });
    }

    fn task(&self, slot: u32) -> Option<&Task> {
        self.tasks.get(slot as usize).and_then(|t| t.as_deref())
    }

    /// Mutable access for fields no index depends on (everything except status,
    /// status_seq, prio, unready, workers, stakeholders, remove, retry,
    /// scheduler_disable_time and the emptiness of resources).
    fn task_mut(&mut self, slot: u32) -> Option<&mut Task> {
        self.tasks_changed();
        self.tasks
            .get_mut(slot as usize)
            .and_then(|t| t.as_deref_mut())
    }

    fn add_stakeholder(&mut self, slot: u32, wid: u32) {
        if self
            .task(slot)
            .is_some_and(|t| !t.stakeholders.contains(&wid))
        {
            self.with_task(slot, |t| t.stakeholders.push(wid));
        }
    }

    fn slot_of(&self, id: &str) -> Option<u32> {
        self.ix.slot_of(id)
    }

    /// The task with id `id`, read-only (for luigid-rs's own task details,
    /// `crate::api::details`).
    pub fn task_by_id(&self, id: &str) -> Option<&Task> {
        self.slot_of(id).and_then(|s| self.task(s))
    }

    fn worker(&self, wid: u32) -> Option<&Worker> {
        self.workers.get(wid as usize).and_then(|w| w.as_ref())
    }

    fn worker_mut(&mut self, wid: u32) -> Option<&mut Worker> {
        self.workers.get_mut(wid as usize).and_then(|w| w.as_mut())
    }

    fn worker_name(&self, wid: u32) -> &str {
        self.worker_names
            .get(wid as usize)
            .map(|s| s.as_str())
            .unwrap_or("")
    }

    fn lookup_worker(&self, name: &str) -> Option<u32> {
        self.ix
            .worker_ids
            .get(name)
            .copied()
            .filter(|&w| self.worker(w).is_some())
    }

    fn intern_worker(&mut self, name: &str) -> u32 {
        if let Some(&w) = self.ix.worker_ids.get(name) {
            return w;
        }
        let w = self.worker_names.len() as u32;
        self.worker_names.push(name.to_string());
        self.workers.push(None);
        self.ix.worker_ids.insert(name.to_string(), w);
        w
    }

    /// luigid's `get_worker`: get-or-create (creation sets `last_active = started = now`).
    fn get_worker(&mut self, name: &str, now: f64) -> u32 {
        let w = self.intern_worker(name);
        if self.worker(w).is_none() {
            let seq = self.worker_counter;
            self.worker_counter += 1;
            self.running_changed();
            self.workers[w as usize] = Some(Worker {
                id: w,
                reference: None,
                last_active: now,
                last_get_work: None,
                started: now,
                info: serde_json::Map::new(),
                disabled: false,
                rpc_messages: Vec::new(),
                seq,
                ix: WorkerIndex::default(),
            });
        }
        w
    }

    /// Get-or-create and mark active (add_task, get_work, ping).
    fn touch_worker(&mut self, name: &str, now: f64, host: Option<Option<Value>>) -> u32 {
        let w = self.get_worker(name, now);
        if let Some(worker) = self.worker_mut(w) {
            if let Some(host) = host {
                worker.reference = Some(serde_json::json!({ "host": host }));
                worker.last_get_work = Some(now);
            }
            worker.last_active = now;
        }
        w
    }

    /// Live workers in table order.
    fn worker_order(&self) -> Vec<u32> {
        let mut ws: Vec<(u64, u32)> = self
            .workers
            .iter()
            .flatten()
            .map(|w| (w.seq, w.id))
            .collect();
        ws.sort_unstable();
        ws.into_iter().map(|(_, w)| w).collect()
    }

    fn bucket(&self, status: Status) -> impl Iterator<Item = u32> + '_ {
        self.ix.buckets[status.index()].values().copied()
    }

    fn batch_running(&self, batch_id: &str) -> Vec<u32> {
        self.bucket(Status::BatchRunning)
            .filter(|&s| self.task(s).is_some_and(|t| t.batch_id() == Some(batch_id)))
            .collect()
    }

    // ----- mutation with index upkeep -------------------------------------------------

    /// Change a task with its derived indexes kept in step.
    fn with_task<R>(&mut self, slot: u32, f: impl FnOnce(&mut Task) -> R) -> Option<R> {
        self.tasks_changed();
        let t = self.tasks.get_mut(slot as usize)?.as_deref_mut()?;
        let indexed = self.ix.unindexed != Some(slot);
        if indexed {
            index_task(t, slot, &mut self.ix, &mut self.workers, false);
        }
        let was_done = t.status == Status::Done;
        // What a running list shows of this task (see `running.rs`).
        let listed = |t: &Task| {
            (t.status == Status::Running)
                .then(|| (t.status_seq, t.worker_running, t.workers.clone()))
        };
        let listed_before = listed(t);
        let r = f(t);
        let is_done = t.status == Status::Done;
        let list_changed = listed_before != listed(t);
        if indexed {
            index_task(t, slot, &mut self.ix, &mut self.workers, true);
        }
        let done_changed = (was_done != is_done).then(|| t.id.clone());
        if list_changed {
            self.running_changed();
        }
        if let Some(id) = done_changed {
            self.propagate_done(&id, is_done);
        }
        Some(r)
    }

    /// A task became DONE (or stopped being DONE, or vanished): adjust its dependents'
    /// count of unfinished deps.
    fn propagate_done(&mut self, id: &str, done: bool) {
        self.tasks_changed();
        for d in self.ix.rdeps(id) {
            let Some(t) = self
                .tasks
                .get_mut(d as usize)
                .and_then(|t| t.as_deref_mut())
            else {
                continue;
            };
            let indexed = self.ix.unindexed != Some(d);
            if indexed {
                index_task(t, d, &mut self.ix, &mut self.workers, false);
            }
            if done {
                t.unready = t.unready.saturating_sub(1);
            } else {
                t.unready += 1;
            }
            if indexed {
                index_task(t, d, &mut self.ix, &mut self.workers, true);
            }
        }
    }

    fn count_unready(&self, deps: &[Arc<str>]) -> u32 {
        deps.iter()
            .filter(|d| {
                self.slot_of(d)
                    .and_then(|s| self.task(s))
                    .is_none_or(|x| x.status != Status::Done)
            })
            .count() as u32
    }

    /// Replace a task's dependency set (sorted, unique ids), keeping reverse edges and
    /// readiness in step.
    fn set_deps(&mut self, slot: u32, deps: &[&str]) {
        let Some(t) = self.task(slot) else { return };
        if t.deps.same_ids(deps) {
            return;
        }
        let old = t.deps.clone();
        let new: Vec<Arc<str>> = deps.iter().map(|d| self.ix.intern_id(d)).collect();
        for d in new.iter() {
            self.ix.add_rdep(d, slot);
        }
        for d in old.iter() {
            if deps.binary_search(&&**d).is_err() {
                self.ix.remove_rdep(d, slot);
            }
        }
        let unready = self.count_unready(&new);
        self.with_task(slot, |t| {
            t.deps = Deps::from_sorted(new);
            t.unready = unready;
        });
    }

    /// Create a PENDING (or UNKNOWN) task; `deps` sorted and unique.
    #[allow(clippy::too_many_arguments)]
    fn create_task(
        &mut self,
        id: &str,
        status: Status,
        deps: &[&str],
        resources: serde_json::Map<String, Value>,
        priority: &Value,
        family: &str,
        module: &Value,
        params: compact::ObjArg,
        param_visibilities: compact::ObjArg,
        now: f64,
        defer_index: bool,
    ) -> u32 {
        let slot = self.tasks.len() as u32;
        let seq = self.status_counter;
        self.status_counter += 1;
        let deps: Vec<Arc<str>> = deps.iter().map(|d| self.ix.intern_id(d)).collect();
        let unready = self.count_unready(&deps);
        for d in &deps {
            self.ix.add_rdep(d, slot);
        }
        let id = self.ix.intern_id(id);
        if let Some(n) = self.ix.nodes.get_mut(&*id) {
            n.slot = slot;
        }
        self.ix.live += 1;
        let family = self.ix.strs.get(family);
        let policy = self.ix.policy(self.config.retry_policy());
        let mut t = Task::new(id, family, policy, now);
        t.status = status;
        t.status_seq = seq;
        t.deps = Deps::from_sorted(deps);
        t.unready = unready;
        t.set_priority(
            types::Pv::from_ref(priority),
            types::py_num(priority).unwrap_or(0.0),
        );
        t.set_resources(resources);
        t.set_module(self.ix.strs.pv(module));
        t.param_visibilities = self.ix.strs.object_arg(param_visibilities);
        t.set_params_arg(params, param_visibilities);
        if defer_index {
            self.flush_unindexed();
            self.ix.unindexed = Some(slot);
        } else {
            index_task(&t, slot, &mut self.ix, &mut self.workers, true);
            if t.status == Status::Running {
                self.running_changed();
            }
        }
        self.tasks.push(Some(Box::new(t)));
        self.tasks_changed();
        slot
    }

    /// Enter the task created with `defer_index` in the indexes, in its current state.
    fn flush_unindexed(&mut self) {
        let Some(slot) = self.ix.unindexed.take() else {
            return;
        };
        if let Some(t) = self.tasks.get(slot as usize).and_then(|t| t.as_deref()) {
            index_task(t, slot, &mut self.ix, &mut self.workers, true);
            if t.status == Status::Running {
                self.running_changed();
            }
        }
    }

    fn delete_task(&mut self, slot: u32) {
        self.tasks_changed();
        self.flush_unindexed();
        let Some(t) = self.tasks.get_mut(slot as usize).and_then(|t| t.take()) else {
            return;
        };
        index_task(&t, slot, &mut self.ix, &mut self.workers, false);
        if t.status == Status::Running {
            self.running_changed();
        }
        if let Some(n) = self.ix.nodes.get_mut(&*t.id) {
            n.slot = NO_SLOT;
        }
        self.ix.live -= 1;
        for d in t.deps.iter() {
            self.ix.remove_rdep(d, slot);
        }
        if t.status == Status::Done {
            self.propagate_done(&t.id, false);
        }
        self.ix.release_id(&t.id);
    }

    /// Drop tombstones once they outnumber live tasks (keeps slot order = table order).
    fn maybe_compact(&mut self) {
        let live = self.ix.live;
        let dead = self.tasks.len() - live;
        if dead > 1024 && dead > live {
            self.tasks.retain(|t| t.is_some());
            self.rebuild_indexes();
        }
    }

    fn push_metric(&mut self, slot: u32) {
        let Some(t) = self.task(slot) else { return };
        let family = t.family.to_string();
        let task_id = t.id.clone();
        let exec = t.time_running.map(|tr| t.updated - tr);
        let ev = match t.status {
            Status::Done => Event::TaskDone {
                family,
                execution_secs: exec,
                task_id,
            },
            Status::Failed => Event::TaskFailed {
                family,
                execution_secs: exec,
                task_id,
            },
            Status::Disabled => Event::TaskDisabled { family, task_id },
            _ => return,
        };
        self.events.push(ev);
    }

    /// luigid's `_update_task_history`: only PENDING, RUNNING, DONE and FAILED record.
    fn history(&mut self, slot: u32, status: &str, host: Option<String>, now: f64) {
        if !self.config.record_task_history {
            return;
        }
        if !matches!(status, "PENDING" | "RUNNING" | "DONE" | "FAILED") {
            return;
        }
        let Some(t) = self.task(slot) else { return };
        let ev = Event::TaskStatus {
            task_id: t.id.to_string(),
            family: t.family.to_string(),
            params: t
                .params
                .to_map()
                .iter()
                .map(|(k, v)| (k.clone(), pyfmt::py_str(v)))
                .collect(),
            status: status.to_string(),
            host,
            now,
        };
        self.events.push(ev);
    }

    /// luigid's `set_status`, the single transition function (`SimpleTaskState.set_status`).
    fn set_status(&mut self, slot: u32, new: Status, now: f64) {
        let Some(t) = self.task(slot) else { return };
        let mut new = new;
        let cur = t.status;
        if new == Status::Disabled && matches!(cur, Status::Running | Status::BatchRunning) {
            return;
        }
        let remove_on_failure = t.batch_id().is_some() && !t.batchable;
        if cur == Status::Disabled {
            if new == Status::Done {
                self.with_task(slot, |t| {
                    t.set_x(true, |x| x.scheduler_disable_time = None);
                    t.clear_failures();
                });
            } else if t.scheduler_disable_time().is_some() && new != Status::Disabled {
                return;
            }
        }
        if cur == Status::Running && new != Status::Running {
            if let Some(bid) = self
                .task(slot)
                .and_then(|t| t.batch_id().map(str::to_string))
            {
                for member in self.batch_running(&bid) {
                    self.set_status(member, new, now);
                    if let Some(m) = self.task_mut(member) {
                        m.set_x(true, |x| x.batch_id = None);
                    }
                }
                if let Some(t) = self.task_mut(slot) {
                    t.set_x(true, |x| x.batch_id = None);
                }
            }
        }
        let mut disabled_now = false;
        if new == Status::Failed && cur != Status::Disabled {
            disabled_now = self
                .with_task(slot, |t| {
                    let x = t.x_mut();
                    if x.first_failure_time.is_none() {
                        x.first_failure_time = Some(now);
                    }
                    x.failures.push_back(now);
                    if t.has_excessive_failures(now) {
                        t.x_mut().scheduler_disable_time = Some(now);
                        true
                    } else {
                        false
                    }
                })
                .unwrap_or(false);
        } else if new == Status::Disabled {
            self.with_task(slot, |t| t.set_x(true, |x| x.scheduler_disable_time = None));
        }
        if disabled_now {
            new = Status::Disabled;
            if let Some(t) = self.task(slot) {
                // luigid e-mails the receiver here (crate::notify sends it).
                let ev = Event::ExcessiveFailures {
                    task_id: t.id.to_string(),
                    retry_count: t.retry_policy.retry_count,
                    disable_window: t.retry_policy.disable_window,
                };
                self.events.push(ev);
            }
        }
        if new != cur {
            let seq = self.status_counter;
            self.status_counter += 1;
            self.with_task(slot, |t| {
                t.status = new;
                t.status_seq = seq;
                t.updated = now;
            });
            self.push_metric(slot);
        }
        if new == Status::Failed {
            let retry_delay = self.config.retry_delay;
            self.with_task(slot, |t| {
                t.retry = Some(now + retry_delay).into();
                if remove_on_failure {
                    t.remove = Some(now).into();
                }
            });
        }
    }

    /// Re-enable (`SimpleTaskState.re_enable`); `to_failed` is luigid's "with config" variant.
    fn re_enable(&mut self, slot: u32, now: f64) {
        self.with_task(slot, |t| {
            t.set_x(true, |x| x.scheduler_disable_time = None);
            t.clear_failures();
        });
        self.set_status(slot, Status::Failed, now);
        self.with_task(slot, |t| t.clear_failures());
    }

    /// luigid's `Scheduler.prune`, without scanning tasks that cannot change.
    pub fn prune(&mut self, now: f64) {
        if self.prunes_held {
            return;
        }
        if self.config.batch_emails {
            self.events.push(Event::Pruned);
        }
        // 1. Workers that have been silent too long.
        let delay = self.config.worker_disconnect_delay;
        let dead: Vec<u32> = self
            .worker_order()
            .into_iter()
            .filter(|&w| self.worker(w).is_some_and(|w| w.last_active + delay < now))
            .collect();
        for &w in &dead {
            let Some(worker) = self.worker(w) else {
                continue;
            };
            let mut slots: Vec<u32> = worker
                .ix
                .tasks
                .iter()
                .chain(worker.ix.stake.iter())
                .collect();
            slots.sort_unstable();
            slots.dedup();
            for s in slots {
                self.with_task(s, |t| {
                    t.stakeholders.retain(|&x| x != w);
                    t.workers.retain(|&x| x != w);
                });
            }
            self.workers[w as usize] = None;
            self.running_changed();
        }
        // 2. Assistants among the remaining workers.
        let assistants: HashSet<u32> = self
            .workers
            .iter()
            .flatten()
            .filter(|w| w.assistant())
            .map(|w| w.id)
            .collect();
        // 3. The tasks any step can touch, in table order.
        let mut affected: BTreeSet<u32> = BTreeSet::new();
        affected.extend(self.bucket(Status::Running));
        affected.extend(self.bucket(Status::BatchRunning));
        affected.extend(self.ix.no_stake.iter().copied());
        let persist = self.config.disable_persist;
        for &(at, s) in &self.ix.auto_disabled {
            if now - at.0 > persist {
                affected.insert(s);
            } else {
                break;
            }
        }
        if self.config.retry_delay >= 0.0 {
            for &(at, s) in &self.ix.retry_at {
                if at.0 < now {
                    affected.insert(s);
                } else {
                    break;
                }
            }
        }
        for &(at, s) in &self.ix.remove_at {
            if now >= at.0 {
                affected.insert(s);
            } else {
                break;
            }
        }
        let mut remove = Vec::new();
        for slot in affected {
            self.prune_task(slot, &assistants, now);
            if self
                .task(slot)
                .is_some_and(|t| t.remove.is_some_and(|r| r != 0.0 && now >= r))
            {
                remove.push(slot);
            }
        }
        for slot in remove {
            self.delete_task(slot);
        }
        self.maybe_compact();
    }

    fn prune_task(&mut self, slot: u32, assistants: &HashSet<u32>, now: f64) {
        let Some(t) = self.task(slot) else { return };
        // Dead worker: fail its running task.
        if matches!(t.status, Status::Running | Status::BatchRunning) {
            if let Some(wr) = t.worker_running {
                if !t.stakeholders.contains(&wr) && !assistants.contains(&wr) {
                    self.with_task(slot, |t| t.worker_running = None);
                    self.set_status(slot, Status::Failed, now);
                    let rd = self.config.retry_delay;
                    self.with_task(slot, |t| t.retry = Some(now + rd).into());
                }
            }
        }
        let Some(t) = self.task(slot) else { return };
        if t.stakeholders.is_empty() && t.remove.is_none() && t.status != Status::Running {
            let rd = self.config.remove_delay;
            self.with_task(slot, |t| t.remove = Some(now + rd).into());
        }
        let Some(t) = self.task(slot) else { return };
        if t.status == Status::Disabled {
            if let Some(sdt) = t.scheduler_disable_time() {
                if now - sdt > self.config.disable_persist {
                    self.re_enable(slot, now);
                }
            }
        }
        let Some(t) = self.task(slot) else { return };
        if t.status == Status::Failed
            && self.config.retry_delay >= 0.0
            && t.retry.is_some_and(|r| r < now)
        {
            self.set_status(slot, Status::Pending, now);
        }
    }

    /// Raise priorities (`Scheduler._update_priority`), iteratively.
    fn update_priority(&mut self, slot: u32, prio: &Value) {
        let p = types::py_num(prio).unwrap_or(0.0);
        let Some(t) = self.task(slot) else { return };
        // max(prio, existing): the new value unless the existing one is strictly greater.
        let (pv, pf) = if t.prio > p {
            (t.priority(), t.prio)
        } else {
            (types::Pv::from_ref(prio), p)
        };
        // The root first; the stack allocates only when deps need raising.
        let mut stack: Vec<u32> = Vec::new();
        let mut root = Some(slot);
        let mut first = true;
        while let Some(s) = root.take().or_else(|| stack.pop()) {
            let Some(t) = self.task(s) else { continue };
            if first || t.prio < pf {
                first = false;
                let v = pv.clone();
                if t.prio == pf {
                    // The rank stays (0.0 == -0.0 keeps the old number).
                    if let Some(t) = self.task_mut(s) {
                        let keep = t.prio;
                        t.set_priority(v, keep);
                    }
                } else {
                    self.with_task(s, |t| t.set_priority(v, pf));
                }
            } else {
                continue;
            }
            let Some(t) = self.task(s) else { continue };
            for d in t.deps.iter() {
                if let Some(ds) = self.slot_of(d) {
                    if self.task(ds).is_some_and(|dt| pf > dt.prio) {
                        stack.push(ds);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

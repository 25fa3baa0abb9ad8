//! Records of the scheduler state: tasks, workers, statuses, and the small helpers
//! (ordered floats, candidate keys, Python-like value comparisons) the indexes use.

mod pyvalue;
mod record;

use super::compact::{self, ObjArg, SlotBits};
pub use super::compact::{Deps, Ids, Params, Pv};
pub use pyvalue::{map_eq, num_value, opt_num, py_eq, py_num, truthy, NumAcc};
pub use record::{vis_text, TaskRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

/// A task status. luigid stores any string a worker reports; we accept only the real
/// statuses (see the table in `scheduler/mod.rs`). `SUSPENDED` is mapped on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Status {
    Pending,
    Running,
    BatchRunning,
    Done,
    Failed,
    Disabled,
    Unknown,
}

pub const ALL_STATUSES: [Status; 7] = [
    Status::Pending,
    Status::Running,
    Status::BatchRunning,
    Status::Done,
    Status::Failed,
    Status::Disabled,
    Status::Unknown,
];

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Running => "RUNNING",
            Status::BatchRunning => "BATCH_RUNNING",
            Status::Done => "DONE",
            Status::Failed => "FAILED",
            Status::Disabled => "DISABLED",
            Status::Unknown => "UNKNOWN",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        ALL_STATUSES.iter().copied().find(|st| st.as_str() == s)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// An f64 with a total order, for index keys.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct OrdF64(pub f64);

impl PartialEq for OrdF64 {
    fn eq(&self, other: &Self) -> bool {
        self.0.total_cmp(&other.0).is_eq()
    }
}
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Rank order of get_work candidates: luigid sorts PENDING-then-RUNNING tasks by
/// `(priority, -time)` descending with a stable sort, so ties keep bucket order.
/// Ascending order of this key is exactly that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CandKey {
    pub neg_prio: OrdF64,
    pub time: OrdF64,
    /// Placeholders created by one add_task at one time rank in the order it listed them.
    pub dep_rank: u16,
    /// 0 for PENDING (iterated first by luigid), 1 for RUNNING.
    pub group: u8,
    pub status_seq: u64,
    pub slot: u32,
}

/// `(retry_count, disable_hard_timeout, disable_window)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub retry_count: f64,
    pub disable_hard_timeout: f64,
    pub disable_window: f64,
}

/// A task. Fields that are rarely set live in [`Extra`], allocated on first use; echoed
/// JSON values are [`Pv`]s; parameters are JSON text ([`Params`]). Serializes with the
/// field names and value shapes of the plain record it replaced (snapshots).
#[derive(Debug, Clone)]
pub struct Task {
    /// Shared with the id table and with other tasks' `deps`.
    pub id: Arc<str>,
    /// Interned worker ids (small sets; order irrelevant).
    pub stakeholders: Ids,
    /// Interned worker ids, insertion-ordered set.
    pub workers: Ids,
    pub deps: Deps,
    pub status: Status,
    pub runnable: bool,
    pub batchable: bool,
    /// Number of deps that are missing or not DONE (derived).
    pub unready: u32,
    pub worker_running: Option<u32>,
    /// Position in its status bucket: set from a global counter on every status change.
    pub status_seq: u64,
    pub time: f64,
    /// For a placeholder that an add_task created for its deps: its place in that call's
    /// list (1-based); 0 otherwise. Ranks placeholders of equal creation time in the
    /// order the call listed them, without changing the time luigid shows.
    pub dep_rank: u16,
    pub updated: f64,
    /// The priority as a number, for ranking; see [`Task::priority`] for the value
    /// as the client sent it (luigid echoes `1` and `1.0` differently).
    pub prio: f64,
    /// How `priority` is echoed (`PRIO_MASK` bits): [`PRIO_INT`], [`PRIO_FLOAT`] (from
    /// `prio`) or [`PRIO_OTHER`] (`Extra::priority`); and [`EXPL_NULL_TEXT`].
    flags: u8,
    pub retry: OptF64,
    pub remove: OptF64,
    pub time_running: OptF64,
    /// Interned.
    pub family: Arc<str>,
    /// The module when it is a string (interned); otherwise `Extra::module`.
    module: Option<Arc<str>>,
    pub params: Params,
    /// JSON text of the visibilities (interned), `None` when `{}`.
    pub param_visibilities: Option<Arc<str>>,
    /// `None` when `{}`.
    pub resources: Option<Box<Map<String, Value>>>,
    pub rr: ResRun,
    /// Shared by the tasks with the same policy.
    pub retry_policy: Arc<RetryPolicy>,
    pub extra: Option<Box<Extra>>,
}

const PRIO_INT: u8 = 0;
const PRIO_FLOAT: u8 = 1;
const PRIO_OTHER: u8 = 2;
const PRIO_MASK: u8 = 3;
/// `expl` is the string "null": what every Luigi worker reports on success
/// (`json.dumps(None)`), so DONE tasks need no `Extra` for it.
const EXPL_NULL_TEXT: u8 = 4;

/// An `Option<f64>` in 8 bytes: `None` is a NaN with a payload arithmetic never makes.
#[derive(Clone, Copy, PartialEq)]
pub struct OptF64(u64);

impl OptF64 {
    const NONE_BITS: u64 = 0x7ff4_dead_0bad_f00d;
    pub const NONE: OptF64 = OptF64(Self::NONE_BITS);

    pub fn get(self) -> Option<f64> {
        (self.0 != Self::NONE_BITS).then(|| f64::from_bits(self.0))
    }

    pub fn is_some(self) -> bool {
        self.0 != Self::NONE_BITS
    }

    pub fn is_none(self) -> bool {
        self.0 == Self::NONE_BITS
    }

    pub fn is_some_and(self, f: impl FnOnce(f64) -> bool) -> bool {
        self.get().is_some_and(f)
    }

    pub fn map<T>(self, f: impl FnOnce(f64) -> T) -> Option<T> {
        self.get().map(f)
    }
}

impl OptF64 {
    /// The raw bits (the binary snapshot stores them as they are).
    pub fn to_bits(self) -> u64 {
        self.0
    }

    pub fn from_bits(bits: u64) -> OptF64 {
        OptF64(bits)
    }
}

impl From<Option<f64>> for OptF64 {
    fn from(f: Option<f64>) -> OptF64 {
        match f {
            // A NaN that happens to carry our payload is kept as the plain NaN.
            Some(f) if f.to_bits() == Self::NONE_BITS => OptF64(f64::NAN.to_bits()),
            Some(f) => OptF64(f.to_bits()),
            None => OptF64::NONE,
        }
    }
}

impl std::fmt::Debug for OptF64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

impl Serialize for OptF64 {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(ser)
    }
}

/// A task's `resources_running`.
#[derive(Debug, Clone, Default)]
pub enum ResRun {
    #[default]
    None,
    /// A batch member's `resources_running` is the very `resources` object in luigid.
    Alias,
    /// `{}`.
    Empty,
    Own(Box<Map<String, Value>>),
}

impl ResRun {
    pub fn from_map(m: Map<String, Value>) -> ResRun {
        if m.is_empty() {
            ResRun::Empty
        } else {
            ResRun::Own(Box::new(m))
        }
    }
}

/// The rarely set task fields (their defaults live in [`NO_EXTRA`]).
#[derive(Debug, Clone)]
pub struct Extra {
    /// The priority when it is neither an int nor a float equal to `Task::prio`.
    pub priority: Pv,
    /// The module when it is not a string.
    pub module: Pv,
    pub expl: Pv,
    pub accepts_messages: Pv,
    pub tracking_url: Pv,
    pub status_message: Pv,
    pub progress_percentage: Pv,
    /// `None` when every param is public (the common case).
    pub public_params: Option<Params>,
    pub failures: VecDeque<f64>,
    pub first_failure_time: Option<f64>,
    pub scheduler_message_responses: Option<Map<String, Value>>,
    pub scheduler_disable_time: Option<f64>,
    pub batch_id: Option<String>,
}

pub static NO_EXTRA: Extra = Extra {
    priority: Pv::Null,
    module: Pv::Null,
    expl: Pv::Null,
    accepts_messages: Pv::Bool(false),
    tracking_url: Pv::Null,
    status_message: Pv::Null,
    progress_percentage: Pv::Null,
    public_params: None,
    failures: VecDeque::new(),
    first_failure_time: None,
    scheduler_message_responses: None,
    scheduler_disable_time: None,
    batch_id: None,
};

/// `{}` for borrowed reads of absent maps.
pub fn empty_map() -> &'static Map<String, Value> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    &EMPTY
}

impl Task {
    /// A PENDING task with every other field at luigid's default.
    pub fn new(id: Arc<str>, family: Arc<str>, retry_policy: Arc<RetryPolicy>, now: f64) -> Task {
        Task {
            id,
            stakeholders: Ids::default(),
            workers: Ids::default(),
            deps: Deps::Zero,
            status: Status::Pending,
            runnable: false,
            batchable: false,
            unready: 0,
            worker_running: None,
            status_seq: 0,
            time: now,
            dep_rank: 0,
            updated: now,
            prio: 0.0,
            flags: PRIO_INT,
            retry: OptF64::NONE,
            remove: OptF64::NONE,
            time_running: OptF64::NONE,
            family,
            module: None,
            params: Params::default(),
            param_visibilities: None,
            resources: None,
            rr: ResRun::None,
            retry_policy,
            extra: None,
        }
    }

    /// The rarely set fields (defaults when never set).
    pub fn x(&self) -> &Extra {
        self.extra.as_deref().unwrap_or(&NO_EXTRA)
    }

    pub fn x_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(|| Box::new(NO_EXTRA.clone()))
    }

    /// Change rarely set fields; `to_default` says the change writes default values,
    /// which needs no allocation when nothing was set before.
    pub fn set_x(&mut self, to_default: bool, f: impl FnOnce(&mut Extra)) {
        if to_default && self.extra.is_none() {
            return;
        }
        f(self.x_mut());
        // Back to all defaults: give the memory back.
        if to_default && self.extra.as_deref().is_some_and(Extra::is_default) {
            self.extra = None;
        }
    }

    /// The priority as the client sent it.
    pub fn priority(&self) -> Pv {
        match self.flags & PRIO_MASK {
            PRIO_INT => Pv::Int(self.prio as i64),
            PRIO_FLOAT => Pv::Other(Box::new(num_value(self.prio))),
            _ => self.x().priority.clone(),
        }
    }

    /// Set the priority (`prio` must be its number, as `py_num` gives it, or 0).
    pub fn set_priority(&mut self, priority: Pv, prio: f64) {
        self.prio = prio;
        let kind = match &priority {
            Pv::Int(i) if *i as f64 == prio && prio as i64 == *i => PRIO_INT,
            Pv::Other(v)
                if v.as_number().is_some_and(|n| {
                    n.is_f64() && n.as_f64().map(f64::to_bits) == Some(prio.to_bits())
                }) =>
            {
                PRIO_FLOAT
            }
            _ => PRIO_OTHER,
        };
        self.flags = (self.flags & !PRIO_MASK) | kind;
        if kind == PRIO_OTHER {
            self.x_mut().priority = priority;
        } else {
            self.set_x(true, |x| x.priority = Pv::Null);
        }
    }

    /// The priority when it is an int (the common case), for writers.
    pub fn priority_int(&self) -> Option<i64> {
        (self.flags & PRIO_MASK == PRIO_INT).then_some(self.prio as i64)
    }

    pub fn expl(&self) -> Pv {
        if self.flags & EXPL_NULL_TEXT != 0 {
            Pv::Str(Arc::from("null"))
        } else {
            self.x().expl.clone()
        }
    }

    pub fn set_expl(&mut self, v: Pv) {
        if matches!(&v, Pv::Str(s) if &**s == "null") {
            self.flags |= EXPL_NULL_TEXT;
            self.set_x(true, |x| x.expl = Pv::Null);
        } else {
            self.flags &= !EXPL_NULL_TEXT;
            self.set_x(v.is_null(), |x| x.expl = v);
        }
    }

    pub fn module(&self) -> Pv {
        match &self.module {
            Some(m) => Pv::Str(m.clone()),
            None => self.x().module.clone(),
        }
    }

    pub fn module_truthy(&self) -> bool {
        match &self.module {
            Some(m) => !m.is_empty(),
            None => self.x().module.truthy(),
        }
    }

    pub fn set_module(&mut self, m: Pv) {
        match m {
            Pv::Str(s) => {
                self.module = Some(s);
                self.set_x(true, |x| x.module = Pv::Null);
            }
            other => {
                self.module = None;
                self.set_x(other.is_null(), |x| x.module = other);
            }
        }
    }

    /// The compact fields as stored, for the binary snapshot (`scheduler::binary`):
    /// the priority/expl flags and the module when it is a string.
    pub(super) fn raw_flags(&self) -> u8 {
        self.flags
    }

    pub(super) fn raw_module(&self) -> Option<&Arc<str>> {
        self.module.as_ref()
    }

    /// Restore what [`Task::raw_flags`] and [`Task::raw_module`] gave.
    pub(super) fn set_raw(&mut self, flags: u8, module: Option<Arc<str>>) {
        self.flags = flags;
        self.module = module;
    }

    /// The interned module string, for re-sharing after a load.
    pub fn module_str_mut(&mut self) -> Option<&mut Arc<str>> {
        self.module.as_mut()
    }

    pub fn resources(&self) -> &Map<String, Value> {
        self.resources.as_deref().unwrap_or(empty_map())
    }

    pub fn set_resources(&mut self, m: Map<String, Value>) {
        self.resources = if m.is_empty() {
            None
        } else {
            Some(Box::new(m))
        };
    }

    pub fn resources_running(&self) -> Option<&Map<String, Value>> {
        match &self.rr {
            ResRun::None => None,
            ResRun::Alias => Some(self.resources()),
            ResRun::Empty => Some(empty_map()),
            ResRun::Own(m) => Some(m),
        }
    }

    pub fn batch_id(&self) -> Option<&str> {
        self.x().batch_id.as_deref()
    }

    pub fn scheduler_disable_time(&self) -> Option<f64> {
        self.x().scheduler_disable_time
    }

    /// luigid's `set_params`: public = visibility absent or 0; hidden ones are kept
    /// only in `params`.
    pub fn public_params(&self) -> &Params {
        self.x().public_params.as_ref().unwrap_or(&self.params)
    }

    /// The visibilities as a map.
    pub fn param_visibilities_map(&self) -> Map<String, Value> {
        match &self.param_visibilities {
            None => Map::new(),
            Some(text) => match crate::pyjson::parse_py_json(text) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            },
        }
    }

    /// Set `params` with the task's visibilities `vis` (luigid's `set_params`).
    pub fn set_params(&mut self, params: &Map<String, Value>, vis: &Map<String, Value>) {
        let public_vis = |k: &String| match vis.get(k) {
            None => true,
            Some(v) => py_num(v) == Some(0.0),
        };
        let public = if params.keys().all(public_vis) {
            None
        } else {
            let m: Map<String, Value> = params
                .iter()
                .filter(|(k, _)| public_vis(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Some(Params::from_map(&m))
        };
        self.set_x(public.is_none(), |x| x.public_params = public);
        self.params = Params::from_map(params);
    }

    /// [`Task::set_params`] of object arguments; no map is built when `params` is text
    /// and every parameter is public (the usual case).
    pub fn set_params_arg(&mut self, params: ObjArg, vis: ObjArg) {
        if let ObjArg::Text(text) = params {
            let public = |name: &str| match vis {
                ObjArg::Map(m) => m.get(name).is_none_or(|v| py_num(v) == Some(0.0)),
                ObjArg::Text(t) => match compact::entries(t).find(|(k, _)| k == name) {
                    None => true,
                    Some((_, "0")) => true,
                    Some((_, raw)) => py_num(&compact::parse_raw(raw)) == Some(0.0),
                },
            };
            // Usually every visibility is 0: then all are public, whatever the names.
            let all_zero =
                matches!(vis, ObjArg::Text(t) if compact::entries(t).all(|(_, raw)| raw == "0"));
            if all_zero || compact::entries(text).all(|(k, _)| public(&k)) {
                self.set_x(true, |x| x.public_params = None);
                self.params = Params::from_text(text);
                return;
            }
        }
        self.set_params(&params.to_map(), &vis.to_map());
    }

    pub fn num_failures(&mut self, now: f64) -> usize {
        let min_time = now - self.retry_policy.disable_window;
        let Some(x) = self.extra.as_deref_mut() else {
            return 0;
        };
        while x.failures.front().is_some_and(|&f| f < min_time) {
            x.failures.pop_front();
        }
        x.failures.len()
    }

    pub fn has_excessive_failures(&mut self, now: f64) -> bool {
        if let Some(first) = self.x().first_failure_time {
            if now >= first + self.retry_policy.disable_hard_timeout {
                return true;
            }
        }
        self.num_failures(now) as f64 >= self.retry_policy.retry_count
    }

    pub fn clear_failures(&mut self) {
        self.set_x(true, |x| {
            x.failures.clear();
            x.first_failure_time = None;
        });
    }
}

impl Extra {
    fn is_default(&self) -> bool {
        let d = &NO_EXTRA;
        self.priority == d.priority
            && self.module == d.module
            && self.expl == d.expl
            && self.accepts_messages == d.accepts_messages
            && self.tracking_url == d.tracking_url
            && self.status_message == d.status_message
            && self.progress_percentage == d.progress_percentage
            && self.public_params.is_none()
            && self.failures.is_empty()
            && self.first_failure_time.is_none()
            && self.scheduler_message_responses.is_none()
            && self.scheduler_disable_time.is_none()
            && self.batch_id.is_none()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Worker {
    pub id: u32,
    pub reference: Option<Value>,
    pub last_active: f64,
    pub last_get_work: Option<f64>,
    pub started: f64,
    pub info: Map<String, Value>,
    pub disabled: bool,
    pub rpc_messages: Vec<Value>,
    /// Position in the worker table (insertion order).
    pub seq: u64,
    #[serde(skip)]
    pub ix: WorkerIndex,
}

/// Derived per-worker indexes, rebuilt after loading.
#[derive(Debug, Clone, Default)]
pub struct WorkerIndex {
    /// Slots of tasks whose `workers` contain this worker.
    pub tasks: SlotBits,
    /// Slots of tasks whose `stakeholders` contain this worker.
    pub stake: SlotBits,
    /// Schedulable PENDING tasks of this worker, in rank order (trivial workers).
    pub ready: BTreeSet<CandKey>,
    /// RUNNING tasks whose `workers` contain this worker, in status-bucket order
    /// (`status_seq` -> slot): count_pending's and get_work's `running_tasks`, without a
    /// walk over every worker's running tasks.
    pub running: std::collections::BTreeMap<u64, u32>,
    /// PENDING or FAILED tasks: all, with one worker, with this worker last.
    pub n_pf: usize,
    pub n_pf_unique: usize,
    pub n_pf_last: usize,
    /// PENDING tasks: all, with this worker as the only one (worker_list).
    pub n_p: usize,
    pub n_p_unique: usize,
    /// PENDING tasks that declare resources (a worker without any is "trivial").
    pub n_p_res: usize,
}

impl Worker {
    pub fn assistant(&self) -> bool {
        self.info.get("assistant").is_some_and(truthy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task() -> Task {
        Task::new(
            Arc::from("T"),
            Arc::from("F"),
            Arc::new(RetryPolicy {
                retry_count: 1.0,
                disable_hard_timeout: 2.0,
                disable_window: 3.0,
            }),
            0.0,
        )
    }

    #[test]
    fn priority_echoes_what_was_sent() {
        let mut t = task();
        for v in [
            json!(5),
            json!(-3),
            json!(2.5),
            json!(1.0),
            json!(true),
            json!(null),
            json!("x"),
            json!(u64::MAX),
            json!(9007199254740993i64),
            crate::pyjson::raw_number("NaN"),
        ] {
            let p = py_num(&v).unwrap_or(0.0);
            t.set_priority(Pv::from_ref(&v), p);
            assert_eq!(t.priority().to_value(), v, "{v}");
            assert_eq!(t.prio.to_bits(), p.to_bits());
        }
        // -0.0 sent to a task ranked 0.0 keeps the rank and echoes -0.0.
        t.set_priority(Pv::from_ref(&json!(-0.0)), 0.0);
        assert_eq!(t.priority().to_value(), json!(-0.0));
        assert!(t.prio.is_sign_positive());
        t.set_priority(Pv::Int(0), 0.0);
        assert!(t.extra.is_none(), "defaults need no Extra");
    }

    #[test]
    fn success_expl_needs_no_extra() {
        let mut t = task();
        t.set_expl(Pv::from_ref(&json!("null")));
        assert!(t.extra.is_none());
        assert_eq!(t.expl().to_value(), json!("null"));
        t.set_expl(Pv::from_ref(&json!("Traceback ...")));
        assert_eq!(t.expl().to_value(), json!("Traceback ..."));
        t.set_expl(Pv::from_ref(&json!("null")));
        assert!(t.extra.is_none());
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["expl"], json!("null"));
        let back: Task = serde_json::from_value(v).unwrap();
        assert!(back.extra.is_none());
        assert_eq!(back.expl().to_value(), json!("null"));
        t.set_expl(Pv::Null);
        assert_eq!(t.expl(), Pv::Null);
    }

    #[test]
    fn module_and_times() {
        let mut t = task();
        assert_eq!(t.module(), Pv::Null);
        t.set_module(Pv::from_ref(&json!({"odd": 1})));
        assert_eq!(t.module().to_value(), json!({"odd": 1}));
        assert!(t.module_truthy());
        t.set_module(Pv::from_ref(&json!("m")));
        assert_eq!(t.module().to_value(), json!("m"));
        assert!(t.extra.is_none());
        let n = OptF64::from(Some(f64::NAN));
        assert!(n.is_some() && n.get().is_some_and(f64::is_nan));
        let odd = OptF64::from(Some(f64::from_bits(OptF64::NONE_BITS)));
        assert!(odd.is_some());
        assert_eq!(OptF64::from(Some(1.5)).get(), Some(1.5));
        assert!(OptF64::from(None).is_none());
    }

    #[test]
    fn snapshot_shape_round_trips() {
        let mut t = task();
        t.set_params(
            json!({"a": "1", "h": 2}).as_object().unwrap(),
            json!({"h": 1}).as_object().unwrap(),
        );
        t.set_priority(Pv::from_ref(&json!(1.0)), 1.0);
        t.time_running = Some(4.0).into();
        t.rr = ResRun::Alias;
        t.x_mut().expl = Pv::from_ref(&json!("boom"));
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["params"], json!({"a": "1", "h": 2}));
        assert_eq!(v["public_params"], json!({"a": "1"}));
        assert_eq!(v["priority"], json!(1.0));
        assert_eq!(v["rr_alias"], json!(true));
        assert_eq!(v["resources_running"], json!(null));
        assert_eq!(v["retry"], json!(null));
        assert_eq!(v["time_running"], json!(4.0));
        let back: Task = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), v);
    }
}

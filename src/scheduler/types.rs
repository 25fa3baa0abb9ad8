//! Records of the scheduler state: tasks, workers, statuses, and the small helpers
//! (ordered floats, candidate keys, Python-like value comparisons) the indexes use.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashSet, VecDeque};

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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    /// Interned worker ids (small sets; order irrelevant).
    pub stakeholders: Vec<u32>,
    /// Interned worker ids, insertion-ordered set.
    pub workers: Vec<u32>,
    pub deps: BTreeSet<String>,
    pub status: Status,
    /// Position in its status bucket: set from a global counter on every status change.
    pub status_seq: u64,
    pub time: f64,
    pub updated: f64,
    pub retry: Option<f64>,
    pub remove: Option<f64>,
    pub worker_running: Option<u32>,
    pub time_running: Option<f64>,
    pub expl: Value,
    /// As the client sent it (luigid echoes `1` and `1.0` differently) ...
    pub priority: Value,
    /// ... and as a number for ranking.
    pub prio: f64,
    pub resources: Map<String, Value>,
    pub resources_running: Option<Map<String, Value>>,
    /// A batch member's `resources_running` is the very `resources` object in luigid.
    pub rr_alias: bool,
    pub family: String,
    pub module: Value,
    pub params: Map<String, Value>,
    pub param_visibilities: Map<String, Value>,
    /// `None` when every param is public (the common case), to avoid a copy.
    pub public_params: Option<Map<String, Value>>,
    pub accepts_messages: Value,
    pub retry_policy: RetryPolicy,
    pub failures: VecDeque<f64>,
    pub first_failure_time: Option<f64>,
    pub tracking_url: Value,
    pub status_message: Value,
    pub progress_percentage: Value,
    pub scheduler_message_responses: Map<String, Value>,
    pub scheduler_disable_time: Option<f64>,
    pub runnable: bool,
    pub batchable: bool,
    pub batch_id: Option<String>,
    /// Number of deps that are missing or not DONE (derived).
    #[serde(skip)]
    pub unready: u32,
}

impl Task {
    pub fn resources_running(&self) -> Option<&Map<String, Value>> {
        if self.rr_alias {
            Some(&self.resources)
        } else {
            self.resources_running.as_ref()
        }
    }

    /// luigid's `set_params`: public = visibility absent or 0; hidden ones are kept
    /// only in `params`.
    pub fn public_params(&self) -> &Map<String, Value> {
        self.public_params.as_ref().unwrap_or(&self.params)
    }

    pub fn set_params(&mut self, params: Map<String, Value>) {
        let mut public = Map::new();
        for (k, v) in &params {
            let public_vis = match self.param_visibilities.get(k) {
                None => true,
                Some(vis) => py_num(vis) == Some(0.0),
            };
            if public_vis {
                public.insert(k.clone(), v.clone());
            }
        }
        self.public_params = if public.len() == params.len() {
            None
        } else {
            Some(public)
        };
        self.params = params;
    }

    pub fn num_failures(&mut self, now: f64) -> usize {
        let min_time = now - self.retry_policy.disable_window;
        while self.failures.front().is_some_and(|&f| f < min_time) {
            self.failures.pop_front();
        }
        self.failures.len()
    }

    pub fn has_excessive_failures(&mut self, now: f64) -> bool {
        if let Some(first) = self.first_failure_time {
            if now >= first + self.retry_policy.disable_hard_timeout {
                return true;
            }
        }
        self.num_failures(now) as f64 >= self.retry_policy.retry_count
    }

    pub fn clear_failures(&mut self) {
        self.failures.clear();
        self.first_failure_time = None;
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
    pub tasks: HashSet<u32>,
    /// Slots of tasks whose `stakeholders` contain this worker.
    pub stake: HashSet<u32>,
    /// Schedulable PENDING tasks of this worker, in rank order (trivial workers).
    pub ready: BTreeSet<CandKey>,
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

/// Python truthiness of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A number as Python sees it (bools are ints).
pub fn py_num(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Number(n) => n.as_f64(),
        Value::String(_) => crate::json::raw_number_value(v),
        _ => None,
    }
}

/// Python `==` between JSON values (1 == 1.0 == true).
pub fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_) | Value::Bool(_), Value::Number(_) | Value::Bool(_)) => match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                    return x == y;
                }
                if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                    return x == y;
                }
                py_num(a) == py_num(b)
            }
            _ => py_num(a) == py_num(b),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => map_eq(x, y),
        _ => a == b,
    }
}

pub fn map_eq(x: &Map<String, Value>, y: &Map<String, Value>) -> bool {
    x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
}

/// Adds JSON numbers the way Python does: ints stay ints, anything float makes a float.
#[derive(Debug, Clone, Copy, Default)]
pub struct NumAcc {
    int: i64,
    float: f64,
    is_float: bool,
}

impl NumAcc {
    pub fn add(&mut self, v: &Value) {
        match v {
            Value::Bool(b) => self.add_int(*b as i64),
            Value::Number(n) => match n.as_i64() {
                Some(i) => self.add_int(i),
                None => {
                    self.is_float = true;
                    self.float += n.as_f64().unwrap_or(0.0);
                }
            },
            _ => {}
        }
    }

    fn add_int(&mut self, i: i64) {
        match self.int.checked_add(i) {
            Some(s) => self.int = s,
            None => {
                self.is_float = true;
                self.float += i as f64;
            }
        }
    }

    pub fn as_f64(&self) -> f64 {
        self.int as f64 + self.float
    }

    pub fn to_value(self) -> Value {
        if self.is_float {
            num_value(self.as_f64())
        } else {
            Value::from(self.int)
        }
    }
}

/// A float as a JSON value (non-finite values cannot be represented and become null).
pub fn num_value(f: f64) -> Value {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

pub fn opt_num(f: Option<f64>) -> Value {
    f.map(num_value).unwrap_or(Value::Null)
}

//! The RPC table: maps `/api/{method}` to scheduler calls. Decodes the `data` object into
//! typed arguments with luigid's defaults, calls the scheduler, returns the `response` value.
//!
//! Owner: the scheduler work item (it knows every method's arguments).
//!
//! Argument rules: a missing required argument, a wrong type, or an unknown key for a
//! method without `**kwargs` is `ApiError::BadArgument` naming the argument (luigid: 500).
//! An explicit JSON `null` means "the default" wherever Python's default is `None`.
//! The reserved key `_message_id` (a string) is accepted by every method: the App injects a
//! fresh uuid4 there so that `send_scheduler_message` stays deterministic under replay.

use crate::scheduler::{AddTask, Scheduler};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Why a call failed; the router turns it into a status code and a JSON message.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// Not one of luigid's RPC methods -> 404.
    UnknownMethod(String),
    /// Bad or missing arguments -> 400, message names the argument.
    BadArgument(String),
    /// The call would change state but the saved state cannot be written -> 503 with
    /// Retry-After; nothing was changed.
    Unavailable(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::UnknownMethod(m) => write!(f, "unknown RPC method {m:?}"),
            ApiError::BadArgument(m) => f.write_str(m),
            ApiError::Unavailable(why) => write!(
                f,
                "the scheduler cannot save state changes right now ({why}); nothing was \
                 changed, retry later"
            ),
        }
    }
}

/// Reserved argument carrying a message id for `send_scheduler_message`.
pub const MESSAGE_ID_ARG: &str = "_message_id";

/// All 39 RPC methods of luigid 3.8: (name, parameter names, takes **kwargs).
pub const METHODS: &[(&str, &[&str], bool)] = &[
    ("add_task", &ADD_TASK_NAMES, true),
    (
        "add_task_batcher",
        &["worker", "task_family", "batched_args", "max_batch_size"],
        false,
    ),
    ("add_worker", &["worker", "info"], true),
    (
        "announce_scheduling_failure",
        &["task_name", "family", "params", "expl", "owners"],
        true,
    ),
    ("count_pending", &["worker"], false),
    (
        "get_work",
        &["host", "assistant", "current_tasks", "worker"],
        true,
    ),
    ("ping", &[], true),
    (
        "set_task_status_message",
        &["task_id", "status_message"],
        false,
    ),
    ("get_task_status_message", &["task_id"], false),
    (
        "set_task_progress_percentage",
        &["task_id", "progress_percentage"],
        false,
    ),
    ("get_task_progress_percentage", &["task_id"], false),
    (
        "decrease_running_task_resources",
        &["task_id", "decrease_resources"],
        false,
    ),
    ("get_running_task_resources", &["task_id"], false),
    ("report_task_statistics", &["task_id", "statistics"], false),
    (
        "send_scheduler_message",
        &["worker", "task", "content"],
        false,
    ),
    (
        "add_scheduler_message_response",
        &["task_id", "message_id", "response"],
        false,
    ),
    (
        "get_scheduler_message_response",
        &["task_id", "message_id"],
        false,
    ),
    ("graph", &[], true),
    ("dep_graph", &["task_id", "include_done"], true),
    ("inverse_dep_graph", &["task_id", "include_done"], true),
    (
        "task_list",
        &[
            "status",
            "upstream_status",
            "limit",
            "search",
            "max_shown_tasks",
        ],
        true,
    ),
    ("worker_list", &["include_running"], true),
    ("resource_list", &[], false),
    ("task_search", &["task_str"], true),
    ("re_enable_task", &["task_id"], false),
    ("fetch_error", &["task_id"], true),
    ("forgive_failures", &["task_id"], false),
    ("mark_as_done", &["task_id"], false),
    ("disable_worker", &["worker"], false),
    ("set_worker_processes", &["worker", "n"], false),
    ("is_pause_enabled", &[], false),
    ("is_paused", &[], false),
    ("pause", &[], false),
    ("unpause", &[], false),
    ("has_task_history", &[], false),
    ("update_resource", &["resource", "amount"], false),
    ("update_resources", &[], true),
    ("prune", &[], false),
    ("update_metrics_task_started", &["task"], false),
];

/// True for the methods that can change scheduler state (journaled, access-controlled).
pub fn is_mutating(method: &str) -> bool {
    !matches!(
        method,
        "ping" // ping touches the worker only; see persistence for how it is kept
            | "count_pending"
            | "graph"
            | "dep_graph"
            | "inverse_dep_graph"
            | "task_list"
            | "worker_list"
            | "resource_list"
            | "task_search"
            | "fetch_error"
            | "get_task_status_message"
            | "get_task_progress_percentage"
            | "get_running_task_resources"
            | "get_scheduler_message_response"
            | "is_pause_enabled"
            | "is_paused"
            | "has_task_history"
    )
}

fn bad(method: &str, msg: String) -> ApiError {
    ApiError::BadArgument(format!("{method}: {msg}"))
}

/// A call's top-level arguments as parsed ([`crate::json::parse_py_json_args`]).
pub type ArgList<'a> = crate::json::Members<'a>;

/// The value of `name` in an [`ArgList`]: its last one.
pub fn arg<'a>(args: &'a [(Cow<'_, str>, Value)], name: &str) -> Option<&'a Value> {
    args.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// The arguments of a call, as a map or as an [`ArgList`].
#[derive(Clone, Copy)]
enum Src<'a> {
    Map(&'a Map<String, Value>),
    List(&'a [(Cow<'a, str>, Value)]),
}

impl<'a> Src<'a> {
    fn get(self, name: &str) -> Option<&'a Value> {
        match self {
            Src::Map(m) => m.get(name),
            Src::List(l) => arg(l, name),
        }
    }

    /// Each distinct name with its value, in the dict's order (first position, last value).
    fn entries(self) -> Vec<(&'a str, &'a Value)> {
        match self {
            Src::Map(m) => m.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            Src::List(l) => l
                .iter()
                .enumerate()
                .filter(|(i, (k, _))| !l[..*i].iter().any(|(seen, _)| seen == k))
                .filter_map(|(_, (k, _))| arg(l, k).map(|v| (k.as_ref(), v)))
                .collect(),
        }
    }

    /// Every name in order (a repeated one more than once).
    fn names(self) -> Box<dyn Iterator<Item = &'a str> + 'a> {
        match self {
            Src::Map(m) => Box::new(m.keys().map(String::as_str)),
            Src::List(l) => Box::new(l.iter().map(|(k, _)| k.as_ref())),
        }
    }
}

/// `add_task`'s parameters, each with its slot in [`Args::slots`].
const ADD_TASK_ARGS: usize = 20;

/// `add_task`'s parameter names, in slot order.
const ADD_TASK_NAMES: [&str; ADD_TASK_ARGS] = [
    "task_id",
    "status",
    "runnable",
    "deps",
    "new_deps",
    "expl",
    "resources",
    "priority",
    "family",
    "module",
    "params",
    "param_visibilities",
    "accepts_messages",
    "assistant",
    "tracking_url",
    "worker",
    "batchable",
    "batch_id",
    "retry_policy_dict",
    "owners",
];

fn add_task_slot(name: &str) -> Option<usize> {
    // Length and first byte tell the twenty names apart; one comparison confirms. This
    // runs some forty times per add_task.
    let i = match (name.len(), *name.as_bytes().first()?) {
        (7, b't') => 0,
        (6, b's') => 1,
        (8, b'r') => 2,
        (4, b'd') => 3,
        (8, b'n') => 4,
        (4, b'e') => 5,
        (9, b'r') => 6,
        (8, b'p') => 7,
        (6, b'f') => 8,
        (6, b'm') => 9,
        (6, b'p') => 10,
        (18, b'p') => 11,
        (16, b'a') => 12,
        (9, b'a') => 13,
        (12, b't') => 14,
        (6, b'w') => 15,
        (9, b'b') => 16,
        (8, b'b') => 17,
        (17, b'r') => 18,
        (6, b'o') => 19,
        _ => return None,
    };
    (ADD_TASK_NAMES[i] == name).then_some(i)
}

/// The text to journal for an add_task call whose `data` is `text` (parsed into `args`,
/// each member at its span of `text`): the same object without the members that say what
/// their absence says (a null where luigid's default is None, `"runnable": true`,
/// `"priority": 0`, `"family": ""`, `"accepts_messages": false`, `"assistant": false`,
/// `"status": "PENDING"`), or `None` to journal `text` as it is (nothing to leave out, or
/// a repeated name, whose last value must win on replay). Workers send every argument,
/// mostly at its default; the journal's page-cache writes cost about 1 us per KB here, and
/// upstream's bulk adds shrink from ~560 to ~70 bytes.
pub fn add_task_journal_text(
    text: &str,
    args: &[(Cow<'_, str>, Value)],
    spans: &[[usize; 3]],
) -> Option<String> {
    if args.len() != spans.len() {
        return None;
    }
    let mut seen = 0u32;
    let mut keep = [true; 32];
    let mut dropped = 0;
    for (i, (name, value)) in args.iter().enumerate() {
        let Some(slot) = add_task_slot(name) else {
            // Extra names are kept as they are; a repeated one cannot change anything.
            continue;
        };
        if seen & (1 << slot) != 0 || i >= keep.len() {
            return None;
        }
        seen |= 1 << slot;
        let raw_value = text.get(spans[i][1]..spans[i][2]).unwrap_or("");
        let default = match (slot, value) {
            // Null is luigid's default for these (and task_id and worker are refused
            // either way).
            (0 | 3..=6 | 9..=11 | 14..=19, Value::Null) => true,
            (1, _) => raw_value == r#""PENDING""#,
            (2, _) => raw_value == "true",
            (7, _) => raw_value == "0",
            (8, _) => raw_value == r#""""#,
            (12 | 13, _) => raw_value == "false",
            _ => false,
        };
        if default {
            keep[i] = false;
            dropped += 1;
        }
    }
    if dropped == 0 {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    out.push('{');
    for (i, &[start, _, end]) in spans.iter().enumerate() {
        if keep.get(i).copied().unwrap_or(true) {
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(text.get(start..end)?);
        }
    }
    out.push('}');
    Some(out)
}

/// Typed access to one call's arguments.
struct Args<'a> {
    method: &'a str,
    src: Src<'a>,
    /// For `add_task` (the hot call, with some twenty lookups): its parameters' values,
    /// found in one pass over the arguments.
    slots: Option<[Option<&'a Value>; ADD_TASK_ARGS]>,
}

impl<'a> Args<'a> {
    fn new(method: &'a str, src: Src<'a>) -> Args<'a> {
        let mut a = Args {
            method,
            src,
            slots: None,
        };
        if method == "add_task" {
            let mut slots = [None; ADD_TASK_ARGS];
            match src {
                Src::Map(m) => {
                    for (k, v) in m {
                        if let Some(i) = add_task_slot(k) {
                            slots[i] = Some(v);
                        }
                    }
                }
                // In order, so that a repeated name's last value wins.
                Src::List(l) => {
                    for (k, v) in l {
                        if let Some(i) = add_task_slot(k) {
                            slots[i] = Some(v);
                        }
                    }
                }
            }
            a.slots = Some(slots);
        }
        a
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        if let (Some(slots), Some(i)) = (&self.slots, add_task_slot(name)) {
            return slots[i];
        }
        self.src.get(name)
    }

    /// Present and not null.
    fn opt(&self, name: &str) -> Option<&'a Value> {
        self.get(name).filter(|v| !v.is_null())
    }

    /// As sent (null included); None when absent.
    fn raw(&self, name: &str) -> Option<&'a Value> {
        self.get(name)
    }

    fn req(&self, name: &str) -> Result<&'a Value, ApiError> {
        self.get(name)
            .ok_or_else(|| bad(self.method, format!("missing required argument {name:?}")))
    }

    fn wrong(&self, name: &str, want: &str) -> ApiError {
        bad(self.method, format!("argument {name:?} must be {want}"))
    }

    fn req_str(&self, name: &str) -> Result<&'a str, ApiError> {
        self.req(name)?
            .as_str()
            .ok_or_else(|| self.wrong(name, "a string"))
    }

    fn opt_str(&self, name: &str) -> Result<Option<&'a str>, ApiError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.wrong(name, "a string or null")),
        }
    }

    fn opt_obj(&self, name: &str) -> Result<Option<&'a Map<String, Value>>, ApiError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => v
                .as_object()
                .map(Some)
                .ok_or_else(|| self.wrong(name, "an object or null")),
        }
    }

    /// With `moved`, only checks (and gives `None`).
    fn opt_str_list(&self, name: &str, moved: bool) -> Result<Option<Vec<String>>, ApiError> {
        match self.opt(name) {
            None => Ok(None),
            Some(Value::Array(a)) if moved => match a.iter().all(Value::is_string) {
                true => Ok(None),
                false => Err(self.wrong(name, "a list of strings")),
            },
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.wrong(name, "a list of strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(self.wrong(name, "a list of strings or null")),
        }
    }

    /// Python truthiness with a default for an absent key.
    fn truthy_or(&self, name: &str, default: bool) -> bool {
        match self.raw(name) {
            None => default,
            Some(v) => crate::scheduler::types::truthy(v),
        }
    }

    /// A task id argument: any JSON value is echoed; only strings can match a task.
    fn task_id(&self, name: &str) -> Result<&'a Value, ApiError> {
        let v = self.req(name)?;
        match v {
            Value::Array(_) | Value::Object(_) => Err(self.wrong(name, "a string")),
            _ => Ok(v),
        }
    }
}

fn check_keys(method: &str, src: Src, known: &[&str]) -> Result<(), ApiError> {
    for k in src.names() {
        if k != MESSAGE_ID_ARG && !known.contains(&k) {
            return Err(bad(method, format!("unexpected argument {k:?}")));
        }
    }
    Ok(())
}

/// With `moved`, only checks: the caller moves the value itself.
fn numeric_map(a: &Args, name: &str, moved: bool) -> Result<Option<Map<String, Value>>, ApiError> {
    let Some(m) = a.opt_obj(name)? else {
        return Ok(None);
    };
    for (k, v) in m {
        if !matches!(v, Value::Number(_) | Value::Bool(_)) {
            return Err(a.wrong(name, &format!("an object of numbers (key {k:?})")));
        }
    }
    Ok((!moved).then(|| m.clone()))
}

/// A task's `owners` argument (a list of addresses; one address taken as a list of one).
fn owner_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().map(crate::scheduler::pyfmt::py_str).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// `add_task`'s arguments, checked. With `moved`, the large values (the ones
/// [`fill_moved`] knows) are left at their defaults for the caller to move in.
fn decode_add_task(a: &Args, moved: bool) -> Result<AddTask, ApiError> {
    let keep = |v: &Value| if moved { Value::Null } else { v.clone() };
    let mut t = AddTask {
        task_id: match a.opt("task_id") {
            Some(Value::String(s)) if !moved => s.clone(),
            Some(Value::String(_)) => String::new(),
            Some(_) => return Err(a.wrong("task_id", "a string")),
            None => {
                return Err(bad(
                    a.method,
                    "missing required argument \"task_id\"".into(),
                ));
            }
        },
        worker: match a.opt("worker") {
            Some(Value::String(s)) if !moved => s.clone(),
            Some(Value::String(_)) => String::new(),
            Some(_) => return Err(a.wrong("worker", "a string")),
            None => return Err(bad(a.method, "missing required argument \"worker\"".into())),
        },
        ..AddTask::default()
    };
    if let Some(v) = a.raw("status") {
        let s = v
            .as_str()
            .ok_or_else(|| a.wrong("status", "a status string"))?;
        if s != "SUSPENDED" && crate::scheduler::Status::parse(s).is_none() {
            return Err(a.wrong("status", "one of PENDING, RUNNING, DONE, FAILED, DISABLED, UNKNOWN, BATCH_RUNNING, SUSPENDED"));
        }
        if !moved {
            t.status = s.to_string();
        }
    }
    t.runnable = a.truthy_or("runnable", true);
    t.deps = a.opt_str_list("deps", moved)?;
    t.new_deps = a.opt_str_list("new_deps", moved)?;
    t.expl = a.raw("expl").map_or(Value::Null, keep);
    t.resources = numeric_map(a, "resources", moved)?;
    if let Some(p) = a.raw("priority") {
        if !matches!(p, Value::Number(_) | Value::Bool(_)) {
            return Err(a.wrong("priority", "a number"));
        }
        if !moved {
            t.priority = p.clone();
        }
    }
    let family = a.opt_str("family")?.unwrap_or("");
    if !moved {
        t.family = family.to_string();
    }
    t.module = a.raw("module").map_or(Value::Null, keep);
    t.params = a.opt_obj("params")?.filter(|_| !moved).cloned();
    t.param_visibilities = a.opt_obj("param_visibilities")?.filter(|_| !moved).cloned();
    t.accepts_messages = a.raw("accepts_messages").map_or(Value::Bool(false), keep);
    t.assistant = a.truthy_or("assistant", false);
    t.tracking_url = a.raw("tracking_url").map_or(Value::Null, keep);
    t.batchable = a.opt("batchable").map(crate::scheduler::types::truthy);
    t.batch_id = a.opt_str("batch_id")?.map(str::to_string);
    if let Some(rp) = a.opt_obj("retry_policy_dict")? {
        for (k, v) in rp {
            let i = match k.as_str() {
                "retry_count" => 0,
                "disable_hard_timeout" => 1,
                "disable_window" => 2,
                _ => {
                    return Err(a.wrong(
                        "retry_policy_dict",
                        "an object with retry_count, disable_hard_timeout, disable_window",
                    ))
                }
            };
            if v.is_null() {
                continue;
            }
            t.retry_policy[i] = Some(
                crate::scheduler::types::py_num(v)
                    .ok_or_else(|| a.wrong("retry_policy_dict", "an object of numbers"))?,
            );
        }
    }
    if a.raw("status").and_then(Value::as_str) == Some("FAILED") {
        t.owners = owner_list(a.opt("owners"));
    }
    Ok(t)
}

/// Methods that run a full prune before their work (luigid does so for the UI's reads).
/// A journal that skips read-only calls must still record a prune at their `now`,
/// otherwise replay diverges (prune removes tasks and workers, fails dead runners).
pub fn runs_prune(method: &str) -> bool {
    matches!(
        method,
        "graph"
            | "dep_graph"
            | "inverse_dep_graph"
            | "task_list"
            | "worker_list"
            | "resource_list"
            | "task_search"
            | "prune"
    )
}

/// Precise version of [`is_mutating`] for replay: true when a call can change any
/// persistent state. Besides the writes, this includes `ping` (touches the worker, drains
/// its messages), `count_pending` (creates unknown workers), `get_scheduler_message_response`
/// (removes the response it returns) and every method that [`runs_prune`]. Only a few
/// pure reads are false. Journal such calls verbatim rather than as a bare prune:
/// `task_list` skips its prune when it answers `{"num_tasks": N}` early, and replaying
/// the call itself reproduces that exactly.
pub fn changes_state(method: &str) -> bool {
    !matches!(
        method,
        "fetch_error"
            | "get_task_status_message"
            | "get_task_progress_percentage"
            | "get_running_task_resources"
            | "is_pause_enabled"
            | "is_paused"
            | "has_task_history"
    )
}

thread_local! {
    /// Set by [`want_raw_reply`]: the next large list call may answer in JSON bytes.
    static RAW_WANTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Its JSON, for [`take_raw_reply`].
    static RAW_REPLY: std::cell::Cell<Option<Vec<u8>>> = const { std::cell::Cell::new(None) };
}

/// Ask the next [`call`] on this thread to write a large list reply (`task_list`,
/// `task_search`, `graph`, `dep_graph`, `inverse_dep_graph`, `get_work`) as
/// luigid's JSON bytes instead of a `Value` (building a `Value` tree per task cost
/// ~10x the writing). That call then returns `Value::Null` and leaves the bytes for
/// [`take_raw_reply`]. The HTTP router uses this; replays and tests keep getting `Value`s.
/// (A side channel because `App::rpc` returns a `Value`.)
pub fn want_raw_reply() {
    RAW_WANTED.set(true);
    RAW_REPLY.set(None);
}

/// The bytes a call made after [`want_raw_reply`] left, if it did; clears the request.
pub fn take_raw_reply() -> Option<Vec<u8>> {
    take_raw_body().map(|mut body| {
        body.pop();
        body.drain(..RAW_PREFIX.len());
        body
    })
}

/// The same as the whole reply body, `{"response": ...}`: the raw writers start in a
/// buffer that already holds the opening, so a multi-megabyte reply is not copied again.
pub fn take_raw_body() -> Option<Vec<u8>> {
    RAW_WANTED.set(false);
    let mut body = RAW_REPLY.take()?;
    body.push(b'}');
    Some(body)
}

const RAW_PREFIX: &[u8] = b"{\"response\": ";

thread_local! {
    /// The size of the last raw reply: the next buffer starts that large, so a big reply
    /// is not grown (and copied) a doubling at a time.
    static RAW_HINT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn raw_buffer() -> Vec<u8> {
    let mut out = Vec::with_capacity(RAW_HINT.get().max(256));
    out.extend_from_slice(RAW_PREFIX);
    out
}

fn set_raw_reply(out: Vec<u8>) {
    RAW_HINT.set(out.len() + out.len() / 8 + 1);
    RAW_REPLY.set(Some(out));
}

/// Call `method` with the decoded `data` object at time `now`.
pub fn call(
    s: &mut Scheduler,
    method: &str,
    args: &Map<String, Value>,
    now: f64,
) -> Result<Value, ApiError> {
    call_src(s, method, Src::Map(args), now)
}

/// [`call`] with the arguments as an [`ArgList`] (the server's path).
pub fn call_args(
    s: &mut Scheduler,
    method: &str,
    args: &[(Cow<'_, str>, Value)],
    now: f64,
) -> Result<Value, ApiError> {
    call_src(s, method, Src::List(args), now)
}

/// [`call_args`] that may move values out of the arguments instead of copying them
/// (`add_task`'s parameters, task ids and lists); the server's path.
/// `texts`: add_task's object arguments as [`crate::json::parse_add_task_args`] gave them.
pub fn call_args_owned(
    s: &mut Scheduler,
    method: &str,
    mut args: ArgList,
    texts: crate::json::ObjectTexts,
    now: f64,
) -> Result<Value, ApiError> {
    // add_task takes **kwargs: no unknown-name check to make.
    if method != "add_task" || arg(&args, "self").is_some() {
        let result = call_args(s, method, &args, now);
        crate::json::recycle_args(args);
        return result;
    }
    let mut owned: [Option<Value>; ADD_TASK_ARGS] = Default::default();
    // In order, so that a repeated name's last value wins.
    for (k, v) in args.drain(..) {
        if let Some(i) = add_task_slot(&k) {
            owned[i] = Some(v);
        }
    }
    crate::json::recycle_args(args);
    let refs = std::array::from_fn(|i| owned[i].as_ref());
    let a = Args {
        method,
        src: Src::List(&[]),
        slots: Some(refs),
    };
    let mut t = decode_add_task(&a, true)?;
    fill_moved(&mut t, &mut owned);
    let [params, vis] = texts;
    t.params_text = params;
    t.param_visibilities_text = vis;
    s.add_task(t, now);
    Ok(Value::Null)
}

/// Move into `t` the values [`decode_add_task`] checked but left out (`moved`).
fn fill_moved(t: &mut AddTask, v: &mut [Option<Value>; ADD_TASK_ARGS]) {
    fn object(v: Option<Value>) -> Option<Map<String, Value>> {
        match v {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        }
    }
    fn strings(v: Option<Value>) -> Option<Vec<String>> {
        match v {
            Some(Value::Array(a)) => Some(
                a.into_iter()
                    .filter_map(|x| match x {
                        Value::String(s) => Some(s),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        }
    }
    if let Some(Value::String(s)) = v[0].take() {
        t.task_id = s;
    }
    if let Some(Value::String(s)) = v[15].take() {
        t.worker = s;
    }
    if let Some(Value::String(s)) = v[1].take() {
        t.status = s;
    }
    if let Some(Value::String(s)) = v[8].take() {
        t.family = s;
    }
    t.deps = strings(v[3].take());
    t.new_deps = strings(v[4].take());
    t.expl = v[5].take().unwrap_or(Value::Null);
    t.resources = object(v[6].take());
    if let Some(p) = v[7].take() {
        t.priority = p;
    }
    t.module = v[9].take().unwrap_or(Value::Null);
    t.params = object(v[10].take());
    t.param_visibilities = object(v[11].take());
    t.accepts_messages = v[12].take().unwrap_or(Value::Bool(false));
    t.tracking_url = v[14].take().unwrap_or(Value::Null);
}

fn call_src(s: &mut Scheduler, method: &str, args: Src, now: f64) -> Result<Value, ApiError> {
    let Some(&(_, known, kwargs)) = METHODS.iter().find(|(m, _, _)| *m == method) else {
        return Err(ApiError::UnknownMethod(method.to_string()));
    };
    if !kwargs {
        check_keys(method, args, known)?;
    }
    if args.get("self").is_some() {
        // Python binds `self` positionally; luigid fails such a call.
        return Err(bad(method, "\"self\" is not an argument".into()));
    }
    let a = Args::new(method, args);
    let null = Value::Null;
    Ok(match method {
        "add_task" => {
            let t = decode_add_task(&a, false)?;
            s.add_task(t, now);
            Value::Null
        }
        "add_task_batcher" => {
            let worker = a.req_str("worker")?;
            let family = a.req_str("task_family")?;
            let names = match a.req("batched_args")? {
                Value::Array(v) => v
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| a.wrong("batched_args", "a list of strings"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                _ => return Err(a.wrong("batched_args", "a list of strings")),
            };
            // Infinity may arrive as a huge number, a string, or null, depending on the
            // JSON reader: all mean "no limit".
            let max = match a.raw("max_batch_size") {
                None | Some(Value::Null) => None,
                Some(Value::String(x))
                    if matches!(x.as_str(), "Infinity" | "inf" | "Inf" | "infinity") =>
                {
                    None
                }
                Some(v) => match crate::scheduler::types::py_num(v) {
                    Some(f) if f.is_finite() && f < f64::MAX => Some(f),
                    Some(_) => None,
                    None => return Err(a.wrong("max_batch_size", "a number")),
                },
            };
            s.add_task_batcher(worker, family, names, max);
            Value::Null
        }
        "add_worker" => {
            let worker = a.req_str("worker")?;
            let info = match a.req("info")? {
                Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                Value::Array(pairs) => {
                    let mut out = Vec::with_capacity(pairs.len());
                    for p in pairs {
                        match p.as_array().map(|x| x.as_slice()) {
                            Some([Value::String(k), v]) => out.push((k.clone(), v.clone())),
                            _ => {
                                return Err(
                                    a.wrong("info", "an object or a list of [key, value] pairs")
                                )
                            }
                        }
                    }
                    out
                }
                _ => return Err(a.wrong("info", "an object or a list of [key, value] pairs")),
            };
            s.add_worker(worker, info, now);
            Value::Null
        }
        "announce_scheduling_failure" => {
            for k in ["task_name", "family", "params", "expl", "owners"] {
                a.req(k)?;
            }
            if s.config.batch_emails {
                let worker = a.req_str("worker")?;
                let text = |k| a.opt(k).map(crate::scheduler::pyfmt::py_str);
                let params = match a.opt("params") {
                    Some(Value::Object(m)) => m.clone(),
                    _ => Map::new(),
                };
                s.announce_scheduling_failure(
                    worker,
                    text("task_name").unwrap_or_default(),
                    text("family").unwrap_or_default(),
                    &params,
                    text("expl").unwrap_or_default(),
                    owner_list(a.opt("owners")),
                );
            }
            Value::Null
        }
        "count_pending" => s.count_pending(a.req_str("worker")?, now),
        "get_work" => {
            let worker = match a.opt("worker") {
                Some(Value::String(w)) => w.as_str(),
                Some(_) => return Err(a.wrong("worker", "a string")),
                None => return Err(bad(method, "missing required argument \"worker\"".into())),
            };
            let host = a.raw("host").cloned().unwrap_or(Value::Null);
            let assistant = a.raw("assistant").cloned().unwrap_or(Value::Bool(false));
            let current = a.opt_str_list("current_tasks", false)?;
            if RAW_WANTED.replace(false) {
                let mut out = raw_buffer();
                s.get_work_json(host, assistant, current, worker, now, &mut out);
                set_raw_reply(out);
                Value::Null
            } else {
                s.get_work(host, assistant, current, worker, now)
            }
        }
        "ping" => {
            let worker = match a.opt("worker") {
                Some(Value::String(w)) => w.as_str(),
                Some(_) => return Err(a.wrong("worker", "a string")),
                None => return Err(bad(method, "missing required argument \"worker\"".into())),
            };
            s.ping(worker, now)
        }
        "set_task_status_message" => {
            let id = a.task_id("task_id")?;
            s.set_task_field(id, a.req("status_message")?.clone(), false);
            Value::Null
        }
        "get_task_status_message" => s.get_task_status_message(a.task_id("task_id")?),
        "set_task_progress_percentage" => {
            let id = a.task_id("task_id")?;
            s.set_task_field(id, a.req("progress_percentage")?.clone(), true);
            Value::Null
        }
        "get_task_progress_percentage" => s.get_task_progress_percentage(a.task_id("task_id")?),
        "decrease_running_task_resources" => {
            let id = a.task_id("task_id")?;
            a.req("decrease_resources")?;
            let dec = numeric_map(&a, "decrease_resources", false)?.unwrap_or_default();
            s.decrease_running_task_resources(id, &dec);
            Value::Null
        }
        "get_running_task_resources" => s.get_running_task_resources(a.task_id("task_id")?),
        "report_task_statistics" => {
            a.task_id("task_id")?;
            a.req("statistics")?;
            Value::Null
        }
        "send_scheduler_message" => {
            let worker = a.req_str("worker")?;
            let task = a.req("task")?.clone();
            let content = a.req("content")?.clone();
            let mid = match args.get(MESSAGE_ID_ARG) {
                None | Some(Value::Null) => None,
                Some(Value::String(m)) => Some(m.clone()),
                Some(_) => return Err(a.wrong(MESSAGE_ID_ARG, "a string")),
            };
            s.send_scheduler_message(worker, task, content, mid, now)
        }
        "add_scheduler_message_response" => {
            let id = a.task_id("task_id")?;
            let mid = a.req_str("message_id")?;
            s.add_scheduler_message_response(id, mid, a.req("response")?.clone());
            Value::Null
        }
        "get_scheduler_message_response" => {
            let id = a.task_id("task_id")?;
            let mid = a.req_str("message_id")?;
            s.get_scheduler_message_response(id, mid)
        }
        "graph" => {
            if RAW_WANTED.replace(false) {
                let mut out = raw_buffer();
                s.graph_json(now, &mut out);
                set_raw_reply(out);
                Value::Null
            } else {
                s.graph(now)
            }
        }
        "dep_graph" | "inverse_dep_graph" => {
            let id = a.task_id("task_id")?;
            let include_done = a.truthy_or("include_done", true);
            let inverse = method == "inverse_dep_graph";
            if RAW_WANTED.replace(false) {
                let mut out = raw_buffer();
                s.dep_graph_json(id, include_done, inverse, now, &mut out);
                set_raw_reply(out);
                Value::Null
            } else {
                s.dep_graph(id, include_done, inverse, now)
            }
        }
        "task_list" => {
            let status = a.opt_str("status")?.unwrap_or("");
            let upstream = a.opt_str("upstream_status")?.unwrap_or("");
            let limit = a.truthy_or("limit", true);
            let search = a.opt_str("search")?;
            let max_shown = match a.opt("max_shown_tasks") {
                None => None,
                Some(Value::Bool(b)) => Some(*b as i64),
                Some(v) => Some(
                    crate::scheduler::types::py_num(v)
                        // `count > NaN` and `count > inf` are never true in Python.
                        .map(|f| if f.is_nan() { i64::MAX } else { f as i64 })
                        .ok_or_else(|| a.wrong("max_shown_tasks", "a number or null"))?,
                ),
            };
            if RAW_WANTED.replace(false) {
                let mut out = raw_buffer();
                s.task_list_json(status, upstream, limit, search, max_shown, now, &mut out);
                set_raw_reply(out);
                Value::Null
            } else {
                s.task_list(status, upstream, limit, search, max_shown, now)
            }
        }
        "worker_list" => s.worker_list(a.truthy_or("include_running", true), now),
        "resource_list" => s.resource_list(now),
        "task_search" => {
            let task_str = a.req_str("task_str")?;
            if RAW_WANTED.replace(false) {
                let mut out = raw_buffer();
                s.task_search_json(task_str, now, &mut out);
                set_raw_reply(out);
                Value::Null
            } else {
                s.task_search(task_str, now)
            }
        }
        "re_enable_task" => s.re_enable_task(a.task_id("task_id")?, now),
        "fetch_error" => s.fetch_error(a.task_id("task_id")?),
        "forgive_failures" => {
            let id = a.raw("task_id").unwrap_or(&null);
            if id.is_array() || id.is_object() {
                // A task id is looked up as a dict key: luigid fails on unhashable ones.
                return Err(a.wrong("task_id", "a string"));
            }
            s.forgive_failures(id, now)
        }
        "mark_as_done" => {
            let id = a.raw("task_id").unwrap_or(&null);
            if id.is_array() || id.is_object() {
                // A task id is looked up as a dict key: luigid fails on unhashable ones.
                return Err(a.wrong("task_id", "a string"));
            }
            s.mark_as_done(id, now)
        }
        "disable_worker" => {
            s.disable_worker(a.req_str("worker")?, now);
            Value::Null
        }
        "set_worker_processes" => {
            let worker = a.req_str("worker")?;
            s.set_worker_processes(worker, a.req("n")?.clone(), now);
            Value::Null
        }
        "is_pause_enabled" => s.is_pause_enabled(),
        "is_paused" => s.is_paused(),
        "pause" => {
            s.set_paused(true);
            Value::Null
        }
        "unpause" => {
            s.set_paused(false);
            Value::Null
        }
        "has_task_history" => s.has_task_history(),
        "update_resource" => {
            let r = a.req_str("resource")?;
            s.update_resource(r, a.req("amount")?)
        }
        "update_resources" => {
            let mut updates = Vec::new();
            for (k, v) in args.entries() {
                if k == MESSAGE_ID_ARG {
                    continue;
                }
                if !matches!(v, Value::Number(_) | Value::Bool(_)) {
                    return Err(a.wrong(k, "a number"));
                }
                updates.push((k.to_string(), v.clone()));
            }
            s.update_resources(updates);
            Value::Null
        }
        "prune" => {
            s.prune(now);
            Value::Null
        }
        "update_metrics_task_started" => {
            a.req("task")?;
            Value::Null
        }
        _ => return Err(ApiError::UnknownMethod(method.to_string())),
    })
}

#[cfg(test)]
mod perf;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::SchedulerConfig;
    use serde_json::json;

    fn list(text: &str) -> ArgList<'_> {
        crate::json::parse_py_json_args(text).unwrap().unwrap()
    }

    /// The journal's shortened add_task text replays exactly as the call did: same reply
    /// and same state, over generated calls (defaults, nulls, other values, extra and
    /// repeated names, on a fresh task or an existing one).
    #[test]
    fn add_task_journal_text_replays_as_the_call() {
        let choices: [(&str, &[&str]); 20] = [
            ("task_id", &[r#""T1""#, r#""T1""#, r#""T1""#, "null"]),
            (
                "status",
                &[r#""PENDING""#, r#""DONE""#, "null", r#""RUNNING""#],
            ),
            ("runnable", &["true", "false", "null", "1"]),
            ("deps", &["null", "[]", r#"["D1"]"#]),
            ("new_deps", &["null", r#"["D2"]"#]),
            ("expl", &["null", r#""e""#]),
            ("resources", &["null", "{}", r#"{"r": 1}"#]),
            ("priority", &["0", "0.0", "5", "null", "-0"]),
            ("family", &[r#""""#, r#""F""#, "null"]),
            ("module", &["null", r#""m""#]),
            ("params", &["null", r#"{"a": "1"}"#, "{}"]),
            (
                "param_visibilities",
                &["null", r#"{"a": 0}"#, r#"{"a": 1}"#],
            ),
            ("accepts_messages", &["false", "true", "null"]),
            ("assistant", &["false", "true", "null"]),
            ("tracking_url", &["null", r#""u""#]),
            ("worker", &[r#""W""#, r#""W""#, r#""W2""#, "null"]),
            ("batchable", &["null", "true", "false"]),
            ("batch_id", &["null", r#""b""#]),
            (
                "retry_policy_dict",
                &["null", "{}", r#"{"retry_count": 2}"#],
            ),
            ("owners", &["null", "[]", r#"["o"]"#]),
        ];
        let mut next = crate::test_rng::below(5);
        let state = |s: &Scheduler| serde_json::to_value(s).unwrap();
        let map = |text: &str| match crate::json::parse_py_json(text).unwrap() {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let (mut shortened, mut repeated) = (0, 0);
        for _ in 0..3000 {
            let mut members = Vec::new();
            for (name, values) in choices {
                if next(4) > 0 {
                    let sep = [": ", ":", " :  "][next(3)];
                    members.push(format!(r#""{name}"{sep}{}"#, values[next(values.len())]));
                }
            }
            if next(4) == 0 {
                members.push(r#""extra": null"#.to_string());
            }
            if next(6) == 0 && !members.is_empty() {
                // A repeated name, with another value.
                let (name, values) = choices[next(choices.len())];
                members.push(format!(r#""{name}": {}"#, values[next(values.len())]));
            }
            let text = format!("{{{}}}", members.join([", ", ",", " ,\n "][next(3)]));
            let (args, _, spans) = crate::json::parse_add_task_args(&text).unwrap().unwrap();
            let Some(short) = add_task_journal_text(&text, &args, &spans) else {
                let names: Vec<&str> = args.iter().map(|(k, _)| k.as_ref()).collect();
                let mut unique = names.clone();
                unique.sort_unstable();
                unique.dedup();
                if unique.len() < names.len() {
                    repeated += 1;
                }
                continue;
            };
            shortened += 1;
            assert!(short.len() < text.len(), "{text}");
            let mut a = Scheduler::new(SchedulerConfig::default());
            let mut b = Scheduler::new(SchedulerConfig::default());
            if next(2) == 0 {
                // An existing task: the call updates it.
                let first = map(
                    r#"{"task_id": "T1", "worker": "W", "status": "FAILED", "expl": "x", "family": "G", "module": "n", "params": {"a": "0"}, "tracking_url": "v", "priority": 3, "resources": {"s": 2}, "accepts_messages": true}"#,
                );
                call(&mut a, "add_task", &first, 999.0).unwrap();
                call(&mut b, "add_task", &first, 999.0).unwrap();
            }
            assert_eq!(
                call(&mut a, "add_task", &map(&text), 1000.0),
                call(&mut b, "add_task", &map(&short), 1000.0),
                "{text} / {short}"
            );
            assert_eq!(state(&a), state(&b), "{text} / {short}");
        }
        assert!(shortened > 2000 && repeated > 100, "{shortened} {repeated}");
    }

    #[test]
    fn add_task_slots_name_each_parameter_once() {
        for (i, name) in ADD_TASK_NAMES.iter().enumerate() {
            assert_eq!(add_task_slot(name), Some(i), "{name}");
            // Same length and first byte, another name.
            let mut other = name.to_string();
            other.pop();
            other.push('~');
            assert_eq!(add_task_slot(&other), None, "{other}");
        }
        for other in [
            "",
            "t",
            "Task_id",
            "task_id ",
            "self",
            "worker_id",
            "\u{e9}",
        ] {
            assert_eq!(add_task_slot(other), None, "{other}");
        }
    }

    /// The list form answers exactly as the map form, repeated names included.
    #[test]
    fn arg_lists_act_like_python_dicts() {
        let calls = [
            (
                "add_task",
                r#"{"task_id": "A", "worker": "w", "status": "DONE", "task_id": "B", "priority": 3, "owners": 1, "extra": 2}"#,
            ),
            (
                "add_task",
                r#"{"task_id": "C", "worker": "w", "status": "BAD"}"#,
            ),
            ("add_task", r#"{"worker": "w", "task_id": 5}"#),
            (
                "add_task",
                r#"{"worker": "w", "task_id": "P", "params": {"a": "1", "b": [2]}, "param_visibilities": {"a": "public"}, "deps": ["A", "B"], "new_deps": null, "resources": {"r": 1}, "expl": "e", "module": "m", "family": "F", "accepts_messages": null, "tracking_url": "u", "priority": 2.5, "batch_id": "b", "retry_policy_dict": {"retry_count": 3}}"#,
            ),
            (
                "add_task",
                r#"{"worker": "w", "task_id": "Q", "deps": ["A", 1]}"#,
            ),
            (
                "add_task",
                r#"{"worker": "w", "task_id": "Q", "deps": "A"}"#,
            ),
            (
                "add_task",
                r#"{"worker": "w", "task_id": "Q", "resources": {"r": "x"}}"#,
            ),
            (
                "add_task",
                r#"{"worker": "w", "task_id": "Q", "params": [1]}"#,
            ),
            (
                "add_task",
                r#"{"worker": "w", "task_id": "Q", "priority": null}"#,
            ),
            ("add_task", r#"{"worker": 3, "task_id": "Q"}"#),
            ("add_task", r#"{"task_id": "Q"}"#),
            ("add_task", r#"{"worker": "w", "task_id": "D", "self": 1}"#),
            (
                "add_task",
                r#"{"worker": "w", "task_id": "V", "params": {"date": "2026-11-24", "n": 5, "x": null}, "param_visibilities": {"date": 0, "n": 0}, "family": "F"}"#,
            ),
            (
                "add_task",
                r#"{"worker": "w", "task_id": "H", "params": {"user": "u", "pw": "s"}, "param_visibilities": {"user": 0, "pw": 2}}"#,
            ),
            (
                "add_task",
                r#"{"worker": "w", "task_id": "H2", "params": {"pw": "s", "k": "\u00e9"}, "param_visibilities": {"pw": 1.0}}"#,
            ),
            (
                "add_task",
                r#"{"worker": "w2", "task_id": "H2", "params": {"pw": "t"}, "param_visibilities": {"pw": 0}}"#,
            ),
            (
                "add_task",
                r#"{"worker": "w", "task_id": "H3", "params": {"a": "1"}, "param_visibilities": {}}"#,
            ),
            (
                "update_resources",
                r#"{"r1": 1, "r2": 2, "r1": 5, "_message_id": "m"}"#,
            ),
            ("update_resources", r#"{"r1": 1, "r2": "x"}"#),
            ("count_pending", r#"{"worker": "w", "bogus": 1}"#),
            ("task_list", r#"{"status": "DONE", "status": "PENDING"}"#),
            ("resource_list", "{}"),
            ("task_list", r#"{"status": "", "upstream_status": ""}"#),
        ];
        let mut a = Scheduler::new(SchedulerConfig::default());
        let mut b = Scheduler::new(SchedulerConfig::default());
        let mut c = Scheduler::new(SchedulerConfig::default());
        // add_task's objects as text (the server's path).
        let mut d = Scheduler::new(SchedulerConfig::default());
        for (i, (method, text)) in calls.iter().enumerate() {
            let args = list(text);
            let map = match crate::json::parse_py_json(text).unwrap() {
                Value::Object(m) => m,
                _ => unreachable!(),
            };
            let now = 1000.0 + i as f64;
            let want = call(&mut b, method, &map, now);
            assert_eq!(
                call_args(&mut a, method, &args, now),
                want,
                "{method} {text}"
            );
            assert_eq!(
                call_args_owned(&mut c, method, args, Default::default(), now),
                want,
                "{method} {text}"
            );
            let (args, texts) = match method {
                &"add_task" => {
                    let (args, texts, _) = crate::json::parse_add_task_args(text).unwrap().unwrap();
                    (args, texts)
                }
                _ => (list(text), Default::default()),
            };
            assert_eq!(
                call_args_owned(&mut d, method, args, texts, now),
                want,
                "{method} {text}"
            );
        }
        assert_eq!(arg(&list(r#"{"a": 1, "a": 2}"#), "a"), Some(&json!(2)));
        // The repeated task_id's last value named the task.
        let tasks = call_args(&mut a, "task_list", &list(r#"{"status": "DONE"}"#), 2000.0);
        let tasks = tasks.unwrap();
        assert!(
            tasks.get("B").is_some() && tasks.get("A").is_none(),
            "{tasks}"
        );
        let res = call_args(&mut a, "resource_list", &[], 2001.0).unwrap();
        assert_eq!(
            res,
            call(&mut b, "resource_list", &Map::new(), 2001.0).unwrap()
        );
        call_args(&mut d, "resource_list", &[], 2001.0).unwrap();
        // Every task reads back the same from each path, parameters and all.
        let all = r#"{"status": "", "upstream_status": ""}"#;
        let from_map = call(&mut b, "task_list", &Map::new(), 2002.0).unwrap();
        assert_eq!(
            call_args(&mut a, "task_list", &list(all), 2002.0).unwrap(),
            from_map
        );
        assert_eq!(
            call_args(&mut c, "task_list", &list(all), 2002.0).unwrap(),
            from_map
        );
        assert_eq!(
            call_args(&mut d, "task_list", &list(all), 2002.0).unwrap(),
            from_map
        );
        assert!(from_map.get("P").is_some(), "{from_map}");
        for t in ["P", "V", "H"] {
            assert!(from_map.get(t).is_some(), "{t} {from_map}");
        }
        // Saved state too (params, visibilities and public params of each task).
        let state = |s: &Scheduler| serde_json::to_value(s).unwrap();
        assert_eq!(state(&d), state(&b));
    }
}

//! `add_task`: a worker reports a task (new or known) with its status, dependencies and
//! parameters. The hot call: every Luigi worker sends one per task it schedules, with
//! every argument filled in, so its arguments are read into named fields in one pass
//! and moved, not copied, into the scheduler's [`AddTask`].

use super::args::{check_numeric, owner_list, str_list};
use super::table::{DefaultValue, Param};
use super::{ApiError, Args, Parsed, Reply};
use crate::scheduler::{AddTask, Scheduler, Status};
use serde_json::{Map, Value};

use DefaultValue::{Bool, Int, None as NONE, Str};

/// luigid's parameters, in its order (the table's `params` for add_task).
pub(super) const PARAMS: [Param; 20] = [
    Param::new("task_id", NONE),
    Param::new("status", Str("PENDING")),
    Param::new("runnable", Bool(true)),
    Param::new("deps", NONE),
    Param::new("new_deps", NONE),
    Param::new("expl", NONE),
    Param::new("resources", NONE),
    Param::new("priority", Int(0)),
    Param::new("family", Str("")),
    Param::new("module", NONE),
    Param::new("params", NONE),
    Param::new("param_visibilities", NONE),
    Param::new("accepts_messages", Bool(false)),
    Param::new("assistant", Bool(false)),
    Param::new("tracking_url", NONE),
    Param::new("worker", NONE),
    Param::new("batchable", NONE),
    Param::new("batch_id", NONE),
    Param::new("retry_policy_dict", NONE),
    Param::new("owners", NONE),
];

/// One of add_task's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    TaskId,
    Status,
    Runnable,
    Deps,
    NewDeps,
    Expl,
    Resources,
    Priority,
    Family,
    Module,
    Params,
    ParamVisibilities,
    AcceptsMessages,
    Assistant,
    TrackingUrl,
    Worker,
    Batchable,
    BatchId,
    RetryPolicyDict,
    Owners,
}

impl Field {
    /// In [`PARAMS`] order.
    #[cfg(test)]
    const ALL: [Field; 20] = [
        Field::TaskId,
        Field::Status,
        Field::Runnable,
        Field::Deps,
        Field::NewDeps,
        Field::Expl,
        Field::Resources,
        Field::Priority,
        Field::Family,
        Field::Module,
        Field::Params,
        Field::ParamVisibilities,
        Field::AcceptsMessages,
        Field::Assistant,
        Field::TrackingUrl,
        Field::Worker,
        Field::Batchable,
        Field::BatchId,
        Field::RetryPolicyDict,
        Field::Owners,
    ];

    fn param(self) -> &'static Param {
        &PARAMS[self as usize]
    }

    /// The parameter called `name`. Length and first byte tell the twenty names apart;
    /// one comparison confirms. This runs some forty times per add_task.
    fn of(name: &str) -> Option<Field> {
        let field = match (name.len(), *name.as_bytes().first()?) {
            (7, b't') => Field::TaskId,
            (6, b's') => Field::Status,
            (8, b'r') => Field::Runnable,
            (4, b'd') => Field::Deps,
            (8, b'n') => Field::NewDeps,
            (4, b'e') => Field::Expl,
            (9, b'r') => Field::Resources,
            (8, b'p') => Field::Priority,
            (6, b'f') => Field::Family,
            (6, b'm') => Field::Module,
            (6, b'p') => Field::Params,
            (18, b'p') => Field::ParamVisibilities,
            (16, b'a') => Field::AcceptsMessages,
            (9, b'a') => Field::Assistant,
            (12, b't') => Field::TrackingUrl,
            (6, b'w') => Field::Worker,
            (9, b'b') => Field::Batchable,
            (8, b'b') => Field::BatchId,
            (17, b'r') => Field::RetryPolicyDict,
            (6, b'o') => Field::Owners,
            _ => return None,
        };
        (field.param().name == name).then_some(field)
    }
}

/// add_task's arguments as sent, by name (`None`: absent; a repeated name's last value).
#[derive(Default)]
struct Sent {
    task_id: Option<Value>,
    status: Option<Value>,
    runnable: Option<Value>,
    deps: Option<Value>,
    new_deps: Option<Value>,
    expl: Option<Value>,
    resources: Option<Value>,
    priority: Option<Value>,
    family: Option<Value>,
    module: Option<Value>,
    params: Option<Value>,
    param_visibilities: Option<Value>,
    accepts_messages: Option<Value>,
    assistant: Option<Value>,
    tracking_url: Option<Value>,
    worker: Option<Value>,
    batchable: Option<Value>,
    batch_id: Option<Value>,
    retry_policy_dict: Option<Value>,
    owners: Option<Value>,
}

impl Sent {
    fn slot(&mut self, f: Field) -> &mut Option<Value> {
        match f {
            Field::TaskId => &mut self.task_id,
            Field::Status => &mut self.status,
            Field::Runnable => &mut self.runnable,
            Field::Deps => &mut self.deps,
            Field::NewDeps => &mut self.new_deps,
            Field::Expl => &mut self.expl,
            Field::Resources => &mut self.resources,
            Field::Priority => &mut self.priority,
            Field::Family => &mut self.family,
            Field::Module => &mut self.module,
            Field::Params => &mut self.params,
            Field::ParamVisibilities => &mut self.param_visibilities,
            Field::AcceptsMessages => &mut self.accepts_messages,
            Field::Assistant => &mut self.assistant,
            Field::TrackingUrl => &mut self.tracking_url,
            Field::Worker => &mut self.worker,
            Field::Batchable => &mut self.batchable,
            Field::BatchId => &mut self.batch_id,
            Field::RetryPolicyDict => &mut self.retry_policy_dict,
            Field::Owners => &mut self.owners,
        }
    }

    /// Takes the values out of `args` (in order, so a repeated name's last value wins);
    /// other names (`**kwargs`) are dropped.
    fn take(args: &mut Args<'_>) -> Sent {
        let mut sent = Sent::default();
        for (name, value) in args.members.drain(..) {
            if let Some(f) = Field::of(&name) {
                *sent.slot(f) = Some(value);
            }
        }
        sent
    }

    /// Checked and converted, with luigid's defaults for what was not sent.
    fn decode(self, a: &Args<'_>) -> Result<AddTask, ApiError> {
        let not_null = |v: Option<Value>| v.filter(|v| !v.is_null());
        let required_str = |v: Option<Value>, name: &str| match not_null(v) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(a.wrong(name, "a string")),
            None => Err(a.missing(name)),
        };
        let object = |v: Option<Value>, name: &str| match not_null(v) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(a.wrong(name, "an object or null")),
        };
        let strings = |v: Option<Value>, name: &str| {
            str_list(
                v.as_ref(),
                || a.wrong(name, "a list of strings"),
                || a.wrong(name, "a list of strings or null"),
            )
        };
        let truthy_or = |v: Option<Value>, default| v.map_or(default, |v| truthy(&v));
        let mut t = AddTask {
            task_id: required_str(self.task_id, "task_id")?,
            worker: required_str(self.worker, "worker")?,
            ..AddTask::default()
        };
        let failed = match self.status {
            None => false,
            Some(Value::String(s)) => {
                if s != "SUSPENDED" && Status::parse(&s).is_none() {
                    return Err(a.wrong(
                        "status",
                        "one of PENDING, RUNNING, DONE, FAILED, DISABLED, UNKNOWN, \
                         BATCH_RUNNING, SUSPENDED",
                    ));
                }
                let failed = s == "FAILED";
                t.status = s;
                failed
            }
            Some(_) => return Err(a.wrong("status", "a status string")),
        };
        t.runnable = truthy_or(self.runnable, true);
        t.deps = strings(self.deps, "deps")?;
        t.new_deps = strings(self.new_deps, "new_deps")?;
        t.expl = self.expl.unwrap_or(Value::Null);
        t.resources = object(self.resources, "resources")?;
        if let Some(m) = &t.resources {
            check_numeric(m, |k| {
                a.wrong("resources", &format!("an object of numbers (key {k:?})"))
            })?;
        }
        if let Some(p) = self.priority {
            // NaN and the infinities (Python's json reads them bare) are numbers to luigid.
            let number = matches!(p, Value::Number(_) | Value::Bool(_))
                || crate::pyjson::raw_number_value(&p).is_some();
            if !number {
                return Err(a.wrong("priority", "a number"));
            }
            t.priority = p;
        }
        match not_null(self.family) {
            None => {}
            Some(Value::String(s)) => t.family = s,
            Some(_) => return Err(a.wrong("family", "a string or null")),
        }
        t.module = self.module.unwrap_or(Value::Null);
        t.params = object(self.params, "params")?;
        t.param_visibilities = object(self.param_visibilities, "param_visibilities")?;
        t.accepts_messages = self.accepts_messages.unwrap_or(Value::Bool(false));
        t.assistant = truthy_or(self.assistant, false);
        t.tracking_url = self.tracking_url.unwrap_or(Value::Null);
        t.batchable = not_null(self.batchable).map(|v| truthy(&v));
        t.batch_id = match not_null(self.batch_id) {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(a.wrong("batch_id", "a string or null")),
        };
        if let Some(rp) = object(self.retry_policy_dict, "retry_policy_dict")? {
            t.retry_policy = retry_policy(&rp, a)?;
        }
        if failed {
            t.owners = owner_list(not_null(self.owners).as_ref());
        }
        Ok(t)
    }
}

fn truthy(v: &Value) -> bool {
    crate::scheduler::types::truthy(v)
}

/// `retry_policy_dict`'s retry_count, disable_hard_timeout and disable_window.
fn retry_policy(rp: &Map<String, Value>, a: &Args<'_>) -> Result<[Option<f64>; 3], ApiError> {
    let mut policy = [None; 3];
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
        policy[i] = Some(
            crate::scheduler::types::py_num(v)
                .ok_or_else(|| a.wrong("retry_policy_dict", "an object of numbers"))?,
        );
    }
    Ok(policy)
}

pub(super) fn call(s: &mut Scheduler, mut args: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    let sent = Sent::take(&mut args);
    let mut t = sent.decode(&args)?;
    // The parser's texts of `params` and `param_visibilities` (an empty object stands in
    // the list for each): the scheduler stores that text as it is.
    let [params, visibilities] = std::mem::take(&mut args.texts);
    t.params_text = params;
    t.param_visibilities_text = visibilities;
    s.add_task(t, now);
    Ok(Reply::null())
}

/// add_task's `data`: its `params` and `param_visibilities` objects of plain members go
/// from the request text straight to the text the scheduler keeps
/// ([`crate::api::parse_add_task_args`]), and the journal gets the text without the
/// arguments sent at their defaults ([`journal_text`]).
pub(super) fn parse(text: &str) -> Result<Parsed<'_>, ApiError> {
    match crate::api::parse_add_task_args(text) {
        Ok(Some((members, texts, spans))) => {
            let journal_text = journal_text(text, &members, &spans);
            Ok(Parsed {
                args: Args::new(members, texts),
                journal_text,
            })
        }
        Ok(None) => Err(ApiError::NotAnObject),
        Err(e) => Err(ApiError::InvalidJson(e)),
    }
}

/// The text to journal for an add_task call whose `data` is `text` (parsed into
/// `members`, each at its span of `text`): the same object without the members that say
/// what their absence says (luigid's default as `json.dumps` writes it, see
/// [`DefaultValue::is_written_as`]), or `None` to journal `text` as it is (nothing to
/// leave out, or a repeated name, whose last value must win on replay). Workers send
/// every argument, mostly at its default; the journal's page-cache writes cost about
/// 1 us per KB here, and upstream's bulk adds shrink from ~560 to ~70 bytes.
fn journal_text(
    text: &str,
    members: &[(std::borrow::Cow<'_, str>, Value)],
    spans: &[[usize; 3]],
) -> Option<String> {
    if members.len() != spans.len() {
        return None;
    }
    let mut seen = 0u32;
    let mut keep = [true; 32];
    let mut dropped = 0;
    for (i, (name, _)) in members.iter().enumerate() {
        let Some(field) = Field::of(name) else {
            // Extra names are kept as they are; a repeated one cannot change anything.
            continue;
        };
        let bit = 1 << field as u32;
        if seen & bit != 0 || i >= keep.len() {
            return None;
        }
        seen |= bit;
        let raw_value = text.get(spans[i][1]..spans[i][2]).unwrap_or("");
        // Null is luigid's default for task_id and worker too, and refused either way.
        if field.param().default.is_written_as(raw_value) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::SchedulerConfig;

    #[test]
    fn fields_name_each_parameter_once() {
        for (i, f) in Field::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
            let name = PARAMS[i].name;
            assert_eq!(Field::of(name), Some(*f), "{name}");
            // Same length and first byte, another name.
            let mut other = name.to_string();
            other.pop();
            other.push('~');
            assert_eq!(Field::of(&other), None, "{other}");
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
            assert_eq!(Field::of(other), None, "{other}");
        }
        let table = super::super::method("add_task").map(|m| m.params);
        assert_eq!(table, Some(&PARAMS[..]));
    }

    #[test]
    fn nan_and_infinite_priorities_are_numbers_and_nan_ranks_first() {
        let mut s = Scheduler::default();
        for (id, p) in [("One", "1"), ("Inf", "Infinity"), ("Nan", "NaN")] {
            let text =
                format!(r#"{{"worker": "w", "task_id": "{id}", "family": "F", "priority": {p}}}"#);
            let Value::Object(m) = crate::pyjson::parse_py_json(&text).unwrap() else {
                unreachable!()
            };
            super::super::call(&mut s, "add_task", Args::from_map(m), 1.0).unwrap();
        }
        let Value::Object(gw) = serde_json::json!({"worker": "w", "host": "h"}) else {
            unreachable!()
        };
        for want in ["Nan", "Inf", "One"] {
            let r = crate::api::call_map(&mut s, "get_work", &gw, 2.0).unwrap();
            assert_eq!(r["task_id"], want);
        }
    }

    /// The journal's shortened text replays exactly as the call did: same reply and same
    /// state, over generated calls (defaults, nulls, other values, extra and repeated
    /// names, on a fresh task or an existing one).
    #[test]
    fn journal_text_replays_as_the_call() {
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
            (
                "priority",
                &["0", "0.0", "5", "null", "-0", "NaN", "Infinity"],
            ),
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
        let add = |s: &mut Scheduler, text: &str, now: f64| {
            let m = match crate::pyjson::parse_py_json(text).unwrap() {
                Value::Object(m) => m,
                _ => unreachable!(),
            };
            super::super::call(s, "add_task", Args::from_map(m), now)
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
            let (args, _, spans) = crate::api::parse_add_task_args(&text).unwrap().unwrap();
            let Some(short) = journal_text(&text, &args, &spans) else {
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
                let first = r#"{"task_id": "T1", "worker": "W", "status": "FAILED", "expl": "x", "family": "G", "module": "n", "params": {"a": "0"}, "tracking_url": "v", "priority": 3, "resources": {"s": 2}, "accepts_messages": true}"#;
                add(&mut a, first, 999.0).unwrap();
                add(&mut b, first, 999.0).unwrap();
            }
            assert_eq!(
                add(&mut a, &text, 1000.0),
                add(&mut b, &short, 1000.0),
                "{text} / {short}"
            );
            assert_eq!(state(&a), state(&b), "{text} / {short}");
        }
        assert!(shortened > 2000 && repeated > 100, "{shortened} {repeated}");
    }
}

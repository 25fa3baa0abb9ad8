//! The one call path read from text (the server's) and from a decoded map (journal
//! records, tests) answers the same.

use super::*;
use crate::scheduler::SchedulerConfig;
use serde_json::{json, Map, Value};

fn map(text: &str) -> Map<String, Value> {
    match crate::pyjson::parse_py_json(text).unwrap() {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// Read `text` as the server does for `method`, and call.
fn call_text(s: &mut Scheduler, method: &str, text: &str, now: f64) -> Result<Value, ApiError> {
    let m = super::method(method).unwrap();
    let parsed = parse(m, text)?;
    m.call(s, parsed.args, now).map(Reply::into_value)
}

fn call_map(
    s: &mut Scheduler,
    method: &str,
    m: &Map<String, Value>,
    now: f64,
) -> Result<Value, ApiError> {
    call(s, method, Args::from_map(m.clone()), now).map(Reply::into_value)
}

/// The text form answers exactly as the map form, repeated names included (a map holds
/// the last value at the first position, as the Python dict luigid builds).
#[test]
fn text_and_map_arguments_act_like_python_dicts() {
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
    // From text as the server reads it; from the map a journal record holds.
    let mut a = Scheduler::new(SchedulerConfig::default());
    let mut b = Scheduler::new(SchedulerConfig::default());
    for (i, (method, text)) in calls.iter().enumerate() {
        let now = 1000.0 + i as f64;
        let want = call_map(&mut b, method, &map(text), now);
        assert_eq!(
            call_text(&mut a, method, text, now),
            want,
            "{method} {text}"
        );
    }
    // The repeated task_id's last value named the task.
    let tasks = call_text(&mut a, "task_list", r#"{"status": "DONE"}"#, 2000.0).unwrap();
    assert_eq!(
        Ok(&tasks),
        call_map(&mut b, "task_list", &map(r#"{"status": "DONE"}"#), 2000.0).as_ref()
    );
    assert!(
        tasks.get("B").is_some() && tasks.get("A").is_none(),
        "{tasks}"
    );
    // Every task reads back the same from each path, parameters and all.
    let all = r#"{"status": "", "upstream_status": ""}"#;
    let from_map = call_map(&mut b, "task_list", &Map::new(), 2002.0).unwrap();
    assert_eq!(
        call_text(&mut a, "task_list", all, 2002.0).unwrap(),
        from_map
    );
    for t in ["P", "V", "H"] {
        assert!(from_map.get(t).is_some(), "{t} {from_map}");
    }
    // Saved state too (params, visibilities and public params of each task).
    let state = |s: &Scheduler| serde_json::to_value(s).unwrap();
    assert_eq!(state(&a), state(&b));
}

#[test]
fn data_that_is_not_an_object_is_refused() {
    let m = super::method("ping").unwrap();
    assert_eq!(parse(m, "[1]").err(), Some(ApiError::NotAnObject));
    let e = parse(m, "{\"a\": }").err().unwrap();
    assert_eq!(
        e.to_string(),
        "data is not valid JSON: Expecting value at char 6"
    );
    assert!(parse(m, "").is_ok());
    let add = super::method("add_task").unwrap();
    assert_eq!(parse(add, "null").err(), Some(ApiError::NotAnObject));
}

#[test]
fn names_are_checked_against_the_signature() {
    let mut s = Scheduler::new(SchedulerConfig::default());
    let bad = |r: Result<Reply, ApiError>| match r {
        Err(ApiError::BadArgument(m)) => m,
        other => panic!("{other:?}"),
    };
    let args = |v: Value| Args::from_map(v.as_object().cloned().unwrap_or_default());
    assert_eq!(
        bad(call(
            &mut s,
            "count_pending",
            args(json!({"worker": "w", "bogus": 1})),
            1.0
        )),
        "count_pending: unexpected argument \"bogus\""
    );
    // **kwargs methods take other names, but never `self`.
    assert!(call(
        &mut s,
        "ping",
        args(json!({"worker": "w", "bogus": 1})),
        1.0
    )
    .is_ok());
    assert_eq!(
        bad(call(
            &mut s,
            "ping",
            args(json!({"worker": "w", "self": 1})),
            1.0
        )),
        "ping: \"self\" is not an argument"
    );
    // The message id is every method's.
    assert!(call(&mut s, "is_paused", args(json!({"_message_id": "m"})), 1.0).is_ok());
    assert_eq!(
        call(&mut s, "nope", Args::none(), 1.0),
        Err(ApiError::UnknownMethod("nope".into()))
    );
}

#[test]
fn written_replies_read_back_as_their_values() {
    let mut s = Scheduler::new(SchedulerConfig::default());
    let add = json!({"task_id": "A_1", "worker": "w", "family": "A", "params": {"x": 1.5}});
    call(
        &mut s,
        "add_task",
        Args::from_map(add.as_object().cloned().unwrap()),
        1.0,
    )
    .unwrap();
    let reply = call(&mut s, "task_list", Args::none(), 2.0).unwrap();
    let Reply::Body(body) = reply.clone() else {
        panic!("task_list is written into the body")
    };
    assert!(body.starts_with(b"{\"response\": {\"A_1\": {"), "{body:?}");
    assert_eq!(Reply::Value(reply.clone().into_value()).into_body(), body);
    assert_eq!(reply.into_value()["A_1"]["params"], json!({"x": 1.5}));
}

//! RPC argument decoding: arbitrary arguments for every method go through
//! `luigid_rs::api::call` on a fresh and on a seeded scheduler. Checks: no panic; an
//! unknown method is `UnknownMethod`, a known one never is; after every call the state
//! can still be listed and serialized (what snapshots and the visualiser do).
use luigid_rs::api::{call_map as call, ApiError, METHODS};
use luigid_rs::scheduler::{Scheduler, SchedulerConfig};
use serde_json::{json, Map, Value};

/// Values that hit every decoder branch: each JSON type, edge numbers, ids of the seed.
fn palette(i: u8) -> Value {
    match i % 40 {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(false),
        3 => json!(0),
        4 => json!(-1),
        5 => json!(1.5),
        6 => json!(-1e308),
        7 => json!(1e308),
        8 => json!(u64::MAX),
        9 => json!(i64::MIN),
        10 => json!(""),
        11 => json!("A()"),
        12 => json!("B(x=1)"),
        13 => json!("w1"),
        14 => json!("PENDING"),
        15 => json!("RUNNING"),
        16 => json!("DONE"),
        17 => json!("FAILED"),
        18 => json!("DISABLED"),
        19 => json!("BOGUS"),
        20 => json!([]),
        21 => json!(["A()", "B(x=1)"]),
        22 => json!([1, 2]),
        23 => json!({}),
        24 => json!({"r": 1}),
        25 => json!({"r": -5}),
        26 => json!({"r": "x"}),
        27 => json!({"x": "1"}),
        28 => json!([["k", "v"]]),
        29 => json!("Infinity"),
        30 => json!("NaN"),
        31 => json!("-1"),
        32 => json!({"retry_count": 1, "disable_hard_timeout": -1, "disable_window": 0}),
        33 => json!("r"),
        34 => json!(["w1", "w2"]),
        35 => json!("\u{0}\u{ffff}"),
        36 => json!([[]]),
        37 => json!({"a": {"b": [null]}}),
        38 => json!(100),
        _ => json!(0.25),
    }
}

/// A scheduler with workers, a dependency chain, a running and a failed task, a batcher,
/// resources and a message, so later calls reach the non-trivial paths.
pub fn seeded() -> Scheduler {
    let mut s = Scheduler::new(SchedulerConfig::default());
    let seed: &[(&str, Value)] = &[
        ("add_worker", json!({"worker": "w1", "info": {"host": "h"}})),
        (
            "add_task_batcher",
            json!({"worker": "w1", "task_family": "B", "batched_args": ["x"]}),
        ),
        (
            "add_task",
            json!({"task_id": "A()", "worker": "w1", "family": "A", "deps": ["B(x=1)"], "resources": {"r": 1}, "priority": 5}),
        ),
        (
            "add_task",
            json!({"task_id": "B(x=1)", "worker": "w1", "family": "B", "params": {"x": "1"}, "batchable": true}),
        ),
        (
            "add_task",
            json!({"task_id": "C()", "worker": "w2", "family": "C", "status": "FAILED", "expl": "boom"}),
        ),
        (
            "add_task",
            json!({"task_id": "D()", "worker": "w2", "family": "D", "status": "DISABLED"}),
        ),
        ("update_resource", json!({"resource": "r", "amount": 2})),
        ("get_work", json!({"worker": "w1", "host": "h"})),
        (
            "send_scheduler_message",
            json!({"worker": "w1", "task": "B(x=1)", "content": "hi", "_message_id": "m1"}),
        ),
    ];
    for (m, a) in seed {
        if let Value::Object(a) = a {
            let _ = call(&mut s, m, a, 1000.0);
        }
    }
    s.drain_events();
    s
}

/// Decode `data` into calls: method index, then either raw JSON or palette picks.
fn calls(data: &[u8]) -> Vec<(String, Map<String, Value>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < data.len() && out.len() < 8 {
        let sel = data[i] as usize;
        let mode = data[i + 1];
        i += 2;
        // One in 41 selectors names a method that does not exist.
        let method = match METHODS.get(sel % (METHODS.len() + 2)) {
            Some(m) => m.name.to_string(),
            None => "no_such_method".to_string(),
        };
        let params: Vec<&str> = METHODS
            .get(sel % (METHODS.len() + 2))
            .map_or(Vec::new(), |m| m.params.iter().map(|p| p.name).collect());
        let mut args = Map::new();
        if mode == 0xff {
            // The rest of the input is one raw JSON document.
            if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&data[i..]) {
                args = m;
            }
            i = data.len();
        } else {
            for (k, p) in params.iter().enumerate() {
                if mode & (1 << (k % 8)) != 0 {
                    if let Some(&b) = data.get(i) {
                        args.insert(p.to_string(), palette(b));
                        i += 1;
                    }
                }
            }
            if mode & 0x80 != 0 {
                args.insert("unexpected_key".into(), json!(1));
            }
        }
        out.push((method, args));
    }
    out
}

fn exercise(s: &mut Scheduler, calls: &[(String, Map<String, Value>)]) {
    let mut now = 1000.0;
    for (m, a) in calls {
        now += 7.0;
        let known = METHODS.iter().any(|n| n.name == m);
        match call(s, m, a, now) {
            Err(ApiError::UnknownMethod(_)) => assert!(!known, "{m} is known"),
            Err(ApiError::BadArgument(msg)) => assert!(!msg.is_empty()),
            Err(ApiError::Unavailable(why)) => panic!("the scheduler alone never refuses: {why}"),
            Err(e @ (ApiError::InvalidJson(_) | ApiError::NotAnObject)) => {
                panic!("arguments already decoded cannot be bad JSON: {e}")
            }
            Ok(_) => assert!(known, "{m} is unknown but answered"),
        }
        s.drain_events();
    }
    // The state stays listable and serializable whatever was accepted.
    let empty = Map::new();
    for st in [
        "PENDING",
        "RUNNING",
        "DONE",
        "FAILED",
        "DISABLED",
        "BATCH_RUNNING",
        "",
    ] {
        let mut a = Map::new();
        a.insert("status".into(), json!(st));
        assert!(call(s, "task_list", &a, now).is_ok());
    }
    assert!(call(s, "worker_list", &empty, now).is_ok());
    assert!(call(s, "resource_list", &empty, now).is_ok());
    assert!(call(s, "graph", &empty, now).is_ok());
    assert!(call(s, "prune", &empty, now + 1e6).is_ok());
    assert!(serde_json::to_vec(&*s).is_ok());
}

pub fn check(data: &[u8]) {
    let calls = calls(data);
    exercise(&mut Scheduler::new(SchedulerConfig::default()), &calls);
    exercise(&mut seeded(), &calls);
}

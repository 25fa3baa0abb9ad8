//! Unit tests for the trickier scheduler pieces (ranking, upstream status, disable rules).

use super::*;
use crate::api::call_map as call;
use serde_json::{json, Map};

fn c(s: &mut Scheduler, method: &str, args: Value, now: f64) -> Value {
    match args {
        Value::Object(m) => call(s, method, &m, now).unwrap_or_else(|e| panic!("{method}: {e}")),
        _ => panic!("args must be an object"),
    }
}

#[test]
fn add_and_get_work_basic() {
    let mut s = Scheduler::default();
    c(
        &mut s,
        "add_task",
        json!({"worker": "W", "task_id": "A", "family": "A", "params": {}}),
        1.0,
    );
    let r = c(&mut s, "get_work", json!({"worker": "W", "host": "h"}), 2.0);
    assert_eq!(r["task_id"], "A");
    assert_eq!(r["n_pending_tasks"], 1);
}

fn add(s: &mut Scheduler, w: &str, id: &str, extra: Value, now: f64) {
    let mut args = json!({"worker": w, "task_id": id, "family": id.split('_').next().unwrap_or(id), "params": {"id": id}});
    if let (Value::Object(a), Value::Object(e)) = (&mut args, extra) {
        for (k, v) in e {
            a.insert(k, v);
        }
    }
    c(s, "add_task", args, now);
}

fn work(s: &mut Scheduler, w: &str, now: f64) -> Value {
    c(s, "get_work", json!({"worker": w, "host": "h"}), now)
}

#[test]
fn ranking_priority_then_age_then_bucket_order() {
    let mut s = Scheduler::default();
    add(&mut s, "W", "A_1", json!({}), 1.0);
    add(&mut s, "W", "B_1", json!({"priority": 5}), 2.0);
    add(&mut s, "W", "C_1", json!({"priority": 5}), 3.0);
    // Same priority: the older task first.
    assert_eq!(work(&mut s, "W", 4.0)["task_id"], "B_1");
    assert_eq!(work(&mut s, "W", 5.0)["task_id"], "C_1");
    assert_eq!(work(&mut s, "W", 6.0)["task_id"], "A_1");
    // Equal priority: placeholders created in one call get increasing creation times in
    // the order the call lists them, so get_work follows the list, whatever order they
    // later became PENDING in.
    let mut s = Scheduler::default();
    c(
        &mut s,
        "add_task",
        json!({"worker": "X", "task_id": "R", "deps": ["P_3", "P_1", "P_2"], "family": "R"}),
        1.0,
    );
    add(&mut s, "W", "P_2", json!({}), 2.0);
    add(&mut s, "W", "P_1", json!({}), 3.0);
    add(&mut s, "W", "P_3", json!({}), 3.5);
    assert_eq!(work(&mut s, "W", 4.0)["task_id"], "P_3");
    assert_eq!(work(&mut s, "W", 5.0)["task_id"], "P_1");
    assert_eq!(work(&mut s, "W", 6.0)["task_id"], "P_2");
    // What task_list shows stays the call's time, as luigid shows it.
    let l = c(&mut s, "task_list", json!({"status": "DONE"}), 7.0);
    assert!(l.as_object().is_some_and(|m| m.is_empty()));
    let l = c(&mut s, "task_list", json!({"status": "RUNNING"}), 7.0);
    assert_eq!(l["P_2"]["start_time"], json!(1.0));
    // The order survives a snapshot and restart.
    let mut s2 = Scheduler::default();
    c(
        &mut s2,
        "add_task",
        json!({"worker": "X", "task_id": "R", "deps": ["Q_3", "Q_1", "Q_2"], "family": "R"}),
        1.0,
    );
    let mut s2: Scheduler = serde_json::from_slice(&serde_json::to_vec(&s2).unwrap()).unwrap();
    s2.rebuild_indexes();
    add(&mut s2, "W", "Q_1", json!({}), 2.0);
    add(&mut s2, "W", "Q_2", json!({}), 3.0);
    add(&mut s2, "W", "Q_3", json!({}), 3.5);
    assert_eq!(work(&mut s2, "W", 4.0)["task_id"], "Q_3");
    assert_eq!(work(&mut s2, "W", 5.0)["task_id"], "Q_1");
}

#[test]
fn priority_propagates_to_deps_and_echoes_value() {
    let mut s = Scheduler::default();
    add(&mut s, "W", "D_1", json!({"priority": 1}), 1.0);
    add(
        &mut s,
        "W",
        "R_1",
        json!({"priority": 7.0, "deps": ["D_1", "N_1"]}),
        2.0,
    );
    let l = c(&mut s, "task_list", json!({}), 3.0);
    assert_eq!(l["D_1"]["priority"], json!(7.0));
    assert!(l["D_1"]["priority"].is_f64());
    assert_eq!(l["N_1"]["status"], "UNKNOWN");
    assert!(l["N_1"]["priority"].is_f64());
    // Priority never decreases.
    add(&mut s, "W", "R_1", json!({"priority": 1}), 4.0);
    let l = c(&mut s, "task_list", json!({}), 5.0);
    assert_eq!(l["R_1"]["priority"], json!(7.0));
}

#[test]
fn deep_chain_priority_is_iterative() {
    let mut s = Scheduler::default();
    for i in 0..5000 {
        add(
            &mut s,
            "W",
            &format!("C_{i}"),
            json!({"deps": [format!("C_{}", i + 1)]}),
            1.0,
        );
    }
    add(&mut s, "W", "C_0", json!({"priority": 3}), 2.0);
    let l = c(&mut s, "task_list", json!({"status": "PENDING"}), 3.0);
    assert_eq!(l["C_4999"]["priority"], json!(3));
}

#[test]
fn upstream_status_filters() {
    let mut s = Scheduler::default();
    add(&mut s, "W", "A_1", json!({"deps": ["B_1"]}), 1.0);
    add(&mut s, "W", "B_1", json!({"deps": ["C_1"]}), 1.0);
    add(&mut s, "W", "C_1", json!({"status": "FAILED"}), 1.0);
    add(&mut s, "W", "E_1", json!({}), 1.0);
    let l = c(
        &mut s,
        "task_list",
        json!({"status": "PENDING", "upstream_status": "UPSTREAM_FAILED"}),
        2.0,
    );
    let mut keys: Vec<&String> = l.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, vec!["A_1", "B_1"]);
    let l = c(
        &mut s,
        "task_list",
        json!({"status": "PENDING", "upstream_status": "UPSTREAM_MISSING_INPUT"}),
        2.0,
    );
    assert_eq!(
        l.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["E_1"]
    );
    // A DISABLED dependency outranks and hides the tasks from count_pending.
    add(&mut s, "W", "C_1", json!({"status": "DISABLED"}), 3.0);
    let l = c(
        &mut s,
        "task_list",
        json!({"status": "PENDING", "upstream_status": "UPSTREAM_DISABLED"}),
        4.0,
    );
    assert_eq!(l.as_object().unwrap().len(), 2);
    let cp = c(&mut s, "count_pending", json!({"worker": "W"}), 4.0);
    assert_eq!(cp["n_pending_tasks"], 1);
}

#[test]
fn too_many_tasks_shape() {
    let mut s = Scheduler::default();
    for i in 0..5 {
        add(&mut s, "W", &format!("T_{i}"), json!({}), 1.0);
    }
    let l = c(&mut s, "task_list", json!({"max_shown_tasks": 3}), 2.0);
    assert_eq!(l, json!({"num_tasks": 5}));
    let l = c(
        &mut s,
        "task_list",
        json!({"max_shown_tasks": 3, "upstream_status": "UPSTREAM_FAILED"}),
        2.0,
    );
    assert_eq!(l, json!({"num_tasks": -1}));
    let l = c(
        &mut s,
        "task_list",
        json!({"max_shown_tasks": 3, "search": "T"}),
        2.0,
    );
    assert_eq!(l, json!({"num_tasks": 5}));
}

#[test]
fn disable_after_retry_count_and_reenable() {
    let cfg = SchedulerConfig {
        retry_count: 2.0,
        disable_window: 100.0,
        disable_persist: 50.0,
        retry_delay: 10.0,
        ..SchedulerConfig::default()
    };
    let mut s = Scheduler::new(cfg);
    add(&mut s, "W", "A_1", json!({"status": "FAILED"}), 1.0);
    let l = c(&mut s, "task_list", json!({}), 2.0);
    assert_eq!(l["A_1"]["status"], "FAILED");
    add(&mut s, "W", "A_1", json!({"status": "FAILED"}), 3.0);
    let l = c(&mut s, "task_list", json!({}), 4.0);
    assert_eq!(l["A_1"]["status"], "DISABLED");
    assert_eq!(l["A_1"]["re_enable_able"], true);
    // Workers cannot override an automatic disable except with DONE.
    add(&mut s, "W", "A_1", json!({"status": "PENDING"}), 5.0);
    assert_eq!(
        c(&mut s, "task_list", json!({}), 5.0)["A_1"]["status"],
        "DISABLED"
    );
    // After disable_persist, prune re-enables to FAILED, then retry makes it PENDING.
    c(&mut s, "ping", json!({"worker": "W"}), 50.0);
    c(&mut s, "prune", json!({}), 54.0);
    assert_eq!(
        c(&mut s, "task_list", json!({}), 54.0)["A_1"]["status"],
        "FAILED"
    );
    c(&mut s, "ping", json!({"worker": "W"}), 60.0);
    c(&mut s, "prune", json!({}), 65.0);
    assert_eq!(
        c(&mut s, "task_list", json!({}), 65.0)["A_1"]["status"],
        "PENDING"
    );
    // Failures within the window were cleared by the re-enable: one more failure is fine.
    add(&mut s, "W", "A_1", json!({"status": "FAILED"}), 66.0);
    assert_eq!(
        c(&mut s, "task_list", json!({}), 66.0)["A_1"]["status"],
        "FAILED"
    );
}

#[test]
fn manual_reenable_and_hard_timeout() {
    let cfg = SchedulerConfig {
        disable_hard_timeout: 100.0,
        ..SchedulerConfig::default()
    };
    let mut s = Scheduler::new(cfg);
    add(&mut s, "W", "A_1", json!({"status": "FAILED"}), 1.0);
    add(&mut s, "W", "A_1", json!({"status": "DONE"}), 2.0);
    // luigid's `Failures` keeps the first failure's time across a success.
    add(&mut s, "W", "A_1", json!({"status": "FAILED"}), 200.0);
    let l = c(&mut s, "task_list", json!({}), 201.0);
    assert_eq!(l["A_1"]["status"], "DISABLED");
    let r = c(&mut s, "re_enable_task", json!({"task_id": "A_1"}), 202.0);
    assert_eq!(r["status"], "FAILED");
    assert!(r["deps"].is_array());
    // A manual disable cannot be re-enabled through re_enable_task.
    add(&mut s, "W", "B_1", json!({"status": "DISABLED"}), 203.0);
    assert_eq!(
        c(&mut s, "re_enable_task", json!({"task_id": "B_1"}), 204.0),
        json!({})
    );
}

#[test]
fn done_cooldown_and_running_elsewhere() {
    let mut s = Scheduler::default();
    add(&mut s, "W", "A_1", json!({}), 1.0);
    assert_eq!(work(&mut s, "W", 2.0)["task_id"], "A_1");
    // Another worker cannot reset a running task.
    add(&mut s, "V", "A_1", json!({"status": "PENDING"}), 3.0);
    assert_eq!(
        c(&mut s, "task_list", json!({}), 3.0)["A_1"]["status"],
        "RUNNING"
    );
    add(&mut s, "W", "A_1", json!({"status": "DONE"}), 4.0);
    add(&mut s, "V", "A_1", json!({"status": "PENDING"}), 5.0);
    assert_eq!(
        c(&mut s, "task_list", json!({}), 5.0)["A_1"]["status"],
        "DONE"
    );
    add(&mut s, "V", "A_1", json!({"status": "PENDING"}), 20.0);
    assert_eq!(
        c(&mut s, "task_list", json!({}), 20.0)["A_1"]["status"],
        "PENDING"
    );
}

#[test]
fn resources_and_greedy_reservation() {
    let cfg = SchedulerConfig {
        resources: vec![("r".into(), 1)],
        ..SchedulerConfig::default()
    };
    let mut s = Scheduler::new(cfg);
    // V asked for work recently and can run the high-priority task needing r.
    add(
        &mut s,
        "V",
        "H_1",
        json!({"priority": 10, "resources": {"r": 1}, "deps": ["Z_1"]}),
        1.0,
    );
    add(&mut s, "V", "Z_1", json!({"status": "DONE"}), 1.0);
    work(&mut s, "V", 1.5);
    add(
        &mut s,
        "W",
        "L_1",
        json!({"priority": 1, "resources": {"r": 1}}),
        2.0,
    );
    // H_1 was handed to V at 1.5? No: Z_1 was DONE, so V got H_1.
    let l = c(&mut s, "task_list", json!({}), 2.0);
    assert_eq!(l["H_1"]["status"], "RUNNING");
    // r is used by H_1: W gets nothing.
    assert_eq!(work(&mut s, "W", 3.0)["task_id"], Value::Null);
    add(&mut s, "V", "H_1", json!({"status": "DONE"}), 4.0);
    assert_eq!(work(&mut s, "W", 5.0)["task_id"], "L_1");
}

#[test]
fn batching_and_batch_completion() {
    let mut s = Scheduler::default();
    c(
        &mut s,
        "add_task_batcher",
        json!({"worker": "W", "task_family": "A", "batched_args": ["a"], "max_batch_size": 2}),
        0.5,
    );
    for (i, p) in [(1, 0), (2, 5), (3, 5)] {
        c(
            &mut s,
            "add_task",
            json!({"worker": "W", "task_id": format!("A_{i}"), "family": "A",
            "params": {"a": i.to_string(), "b": "x"}, "batchable": true, "priority": p}),
            1.0 + i as f64,
        );
    }
    let r = work(&mut s, "W", 5.0);
    assert_eq!(r["task_id"], Value::Null);
    assert_eq!(r["batch_task_ids"], json!(["A_2", "A_3"]));
    assert_eq!(r["task_params"], json!({"a": ["2", "3"], "b": "x"}));
    let bid = r["batch_id"].as_str().unwrap().to_string();
    assert_eq!(bid, pyfmt::md5_hex(b"A_2|A_3"));
    // The batch runner reports RUNNING then DONE; members follow.
    c(
        &mut s,
        "add_task",
        json!({"worker": "W", "task_id": "A_2_3", "family": "A", "status": "RUNNING",
        "batch_id": bid, "params": {"a": "2,3", "b": "x"}}),
        6.0,
    );
    c(
        &mut s,
        "add_task",
        json!({"worker": "W", "task_id": "A_2_3", "status": "DONE"}),
        7.0,
    );
    let l = c(&mut s, "task_list", json!({"status": "DONE"}), 8.0);
    let mut keys: Vec<&String> = l.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, vec!["A_2", "A_2_3", "A_3"]);
}

#[test]
fn dead_worker_running_task_fails_and_prune_removes() {
    let mut s = Scheduler::default();
    add(&mut s, "W", "A_1", json!({}), 1.0);
    work(&mut s, "W", 2.0);
    c(&mut s, "prune", json!({}), 100.0);
    let l = c(&mut s, "task_list", json!({}), 100.0);
    assert_eq!(l["A_1"]["status"], "FAILED");
    assert_eq!(c(&mut s, "worker_list", json!({}), 100.0), json!([]));
    c(&mut s, "prune", json!({}), 800.0);
    assert_eq!(c(&mut s, "task_list", json!({}), 800.0), json!({}));
}

/// `s` written in the binary snapshot form and read back; every field must come back
/// (compared through the serde form, which names each one).
fn binary_roundtrip(s: &Scheduler) -> Scheduler {
    let mut bytes = Vec::new();
    super::binary::encode(s, &mut bytes).unwrap();
    let mut back = super::binary::decode(&mut bytes.as_slice()).unwrap();
    back.rebuild_indexes();
    assert_eq!(
        serde_json::to_value(s).unwrap(),
        serde_json::to_value(&back).unwrap()
    );
    back
}

#[test]
fn binary_snapshot_keeps_every_field_and_refuses_damage() {
    let mut s = Scheduler::default();
    add(
        &mut s,
        "W",
        "A_1",
        json!({"deps": ["B_1", "Gone_1"], "priority": 2.5,
        "resources": {"cpu": 2}, "params": {"a": "\u{e9}", "n": 12345678901234567890u64},
        "param_visibilities": {"n": 1}, "tracking_url": "http://x", "accepts_messages": true,
        "batchable": true, "retry_policy_dict": {"retry_count": 2}, "module": ["odd"]}),
        1.0,
    );
    add(
        &mut s,
        "W",
        "B_1",
        json!({"status": "FAILED", "expl": "boom"}),
        2.0,
    );
    add(
        &mut s,
        "V",
        "C_1",
        json!({"status": "RUNNING", "priority": 7.0}),
        3.0,
    );
    add(
        &mut s,
        "V",
        "D_1",
        json!({"status": "DONE", "expl": "null"}),
        3.0,
    );
    c(&mut s, "disable_worker", json!({"worker": "V"}), 4.0);
    c(
        &mut s,
        "set_task_status_message",
        json!({"task_id": "C_1", "status_message": "half"}),
        5.0,
    );
    c(&mut s, "update_resources", json!({"cpu": 4}), 5.0);
    c(&mut s, "pause", json!({}), 6.0);
    let back = binary_roundtrip(&s);
    let t1 = back.task(back.slot_of("B_1").unwrap()).unwrap();
    let a1 = back.task(back.slot_of("A_1").unwrap()).unwrap();
    assert!(
        Arc::ptr_eq(&t1.id, &a1.deps[0]),
        "deps share the id strings"
    );
    let mut t = back;
    for st in ["PENDING", "RUNNING", "FAILED", "DONE"] {
        let args = json!({"status": st, "upstream_status": ""});
        assert_eq!(
            c(&mut s, "task_list", args.clone(), 7.0),
            c(&mut t, "task_list", args, 7.0)
        );
    }
    // Any cut of the body is an error, never a panic or a different state.
    let mut bytes = Vec::new();
    super::binary::encode(&s, &mut bytes).unwrap();
    for cut in 0..bytes.len() {
        assert!(
            super::binary::decode(&mut &bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(
        super::binary::decode(&mut longer.as_slice()).is_err(),
        "a byte after the end"
    );
    // Flipped bytes: an error or some state, never a panic (the file's checksum is
    // what refuses them; see persistence::snapshot).
    for off in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[off] ^= 0xff;
        let _ = super::binary::decode(&mut bad.as_slice());
    }
}

#[test]
fn snapshot_roundtrip_keeps_behaviour() {
    let mut s = Scheduler::default();
    add(
        &mut s,
        "W",
        "A_1",
        json!({"deps": ["B_1"], "priority": 2}),
        1.0,
    );
    add(&mut s, "W", "B_1", json!({}), 2.0);
    let text = serde_json::to_string(&s).unwrap();
    let mut t: Scheduler = serde_json::from_str(&text).unwrap();
    t.rebuild_indexes();
    assert_eq!(work(&mut t, "W", 3.0)["task_id"], "B_1");
    add(&mut t, "W", "B_1", json!({"status": "DONE"}), 4.0);
    assert_eq!(work(&mut t, "W", 5.0)["task_id"], "A_1");
}

#[test]
fn bad_arguments_are_named() {
    let mut s = Scheduler::default();
    let m = |v: Value| v.as_object().unwrap().clone();
    let e = call(&mut s, "add_task", &m(json!({"task_id": "A"})), 1.0).unwrap_err();
    assert!(e.to_string().contains("worker"), "{e}");
    let e = call(
        &mut s,
        "add_task",
        &m(json!({"task_id": "A", "worker": "W", "priority": "x"})),
        1.0,
    )
    .unwrap_err();
    assert!(e.to_string().contains("priority"), "{e}");
    let e = call(
        &mut s,
        "count_pending",
        &m(json!({"worker": "W", "bogus": 1})),
        1.0,
    )
    .unwrap_err();
    assert!(e.to_string().contains("bogus"), "{e}");
    assert!(matches!(
        call(&mut s, "nope", &Map::new(), 1.0),
        Err(crate::api::ApiError::UnknownMethod(_))
    ));
    // add_task tolerates unknown keys (**kwargs) and explicit nulls.
    c(
        &mut s,
        "add_task",
        json!({"task_id": "A", "worker": "W", "task_family": "x", "deps": null,
        "resources": null, "params": null, "module": null, "batchable": null}),
        1.0,
    );
    let r = c(
        &mut s,
        "send_scheduler_message",
        json!({"worker": "W", "task": "A", "content": "hi", "_message_id": "m1"}),
        2.0,
    );
    assert_eq!(r, json!({"message_id": "m1"}));
    let p = c(&mut s, "ping", json!({"worker": "W"}), 3.0);
    assert_eq!(p["rpc_messages"][0]["kwargs"]["message_id"], "m1");
}

#[test]
fn events_follow_luigid_hooks() {
    let cfg = SchedulerConfig {
        record_task_history: true,
        ..SchedulerConfig::default()
    };
    let mut s = Scheduler::new(cfg);
    add(
        &mut s,
        "W",
        "A_1",
        json!({"params": {"x": 1, "h": "s"}, "param_visibilities": {"h": 1}}),
        1.0,
    );
    add(&mut s, "W", "A_1", json!({}), 2.0);
    let ev = s.drain_events();
    // Every PENDING report records, even when nothing changed.
    assert_eq!(ev.len(), 2);
    match &ev[0] {
        events::Event::TaskStatus {
            task_id,
            family,
            params,
            status,
            host,
            ..
        } => {
            assert_eq!(task_id, "A_1");
            assert_eq!(family, "A");
            assert_eq!(
                params,
                &vec![
                    ("x".to_string(), "1".to_string()),
                    ("h".to_string(), "s".to_string())
                ]
            );
            assert_eq!(status, "PENDING");
            assert_eq!(host, &None);
        }
        other => panic!("unexpected {other:?}"),
    }
    work(&mut s, "W", 3.0);
    let ev = s.drain_events();
    assert!(
        matches!(&ev[0], events::Event::TaskStarted { family, task_id } if family == "A" && &**task_id == "A_1")
    );
    assert!(
        matches!(&ev[1], events::Event::TaskStatus { status, host: Some(h), .. } if status == "RUNNING" && h == "h")
    );
    add(&mut s, "W", "A_1", json!({"status": "DONE"}), 5.0);
    let ev = s.drain_events();
    assert!(matches!(&ev[0], events::Event::TaskStatus { status, .. } if status == "DONE"));
    assert!(
        matches!(&ev[1], events::Event::TaskDone { execution_secs: Some(x), .. } if (*x - 2.0).abs() < 1e-9)
    );
    // Without history only the metric hooks fire.
    let mut s = Scheduler::default();
    add(&mut s, "W", "B_1", json!({"status": "FAILED"}), 1.0);
    let ev = s.drain_events();
    assert_eq!(
        ev,
        vec![events::Event::TaskFailed {
            family: "B".into(),
            execution_secs: None,
            task_id: "B_1".into()
        }]
    );
}

/// Differential-testing helper: replays `[[method, args, now], ...]` from the file named
/// by `LUIGID_RS_REPLAY` (with an optional `{"config": {...}}` first element) and writes
/// the replies (or `{"error": ...}`) as a JSON array to `LUIGID_RS_REPLAY_OUT`.
#[test]
#[ignore]
fn replay_file() {
    let Ok(path) = std::env::var("LUIGID_RS_REPLAY") else {
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let calls: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut cfg = SchedulerConfig::default();
    let mut start = 0;
    if let Some(Value::Object(first)) = calls.first() {
        if let Some(Value::Object(c)) = first.get("config") {
            for (k, v) in c {
                let f = v.as_f64().unwrap_or(0.0);
                match k.as_str() {
                    "retry_delay" => cfg.retry_delay = f,
                    "remove_delay" => cfg.remove_delay = f,
                    "worker_disconnect_delay" => cfg.worker_disconnect_delay = f,
                    "disable_window" => cfg.disable_window = f,
                    "retry_count" => cfg.retry_count = f,
                    "disable_hard_timeout" => cfg.disable_hard_timeout = f,
                    "disable_persist" => cfg.disable_persist = f,
                    "stable_done_cooldown_secs" => cfg.stable_done_cooldown_secs = f,
                    "max_shown_tasks" => cfg.max_shown_tasks = f as i64,
                    "max_graph_nodes" => cfg.max_graph_nodes = f as i64,
                    "send_messages" => cfg.send_messages = v.as_bool().unwrap(),
                    "pause_enabled" => cfg.pause_enabled = v.as_bool().unwrap(),
                    "prune_on_get_work" => cfg.prune_on_get_work = v.as_bool().unwrap(),
                    "resources" => {
                        cfg.resources = v
                            .as_object()
                            .unwrap()
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
                            .collect()
                    }
                    _ => {}
                }
            }
            start = 1;
        }
    }
    let mut s = Scheduler::new(cfg);
    let mut out = Vec::new();
    for call_v in &calls[start..] {
        let method = call_v[0].as_str().unwrap();
        let args = call_v[1].as_object().unwrap();
        let now = call_v[2].as_f64().unwrap();
        let r = match call(&mut s, method, args, now) {
            Ok(v) => v,
            Err(e) => json!({"error": e.to_string()}),
        };
        out.push(r);
        // Round-trip through both snapshot forms every few calls.
        if out.len() % 7 == 0 {
            s = binary_roundtrip(&s);
        } else if out.len() % 11 == 0 {
            let snap = serde_json::to_string(&s).unwrap();
            s = serde_json::from_str(&snap).unwrap();
            s.rebuild_indexes();
        }
    }
    std::fs::write(
        std::env::var("LUIGID_RS_REPLAY_OUT").unwrap(),
        serde_json::to_string(&out).unwrap(),
    )
    .unwrap();
}

#[test]
fn task_record_stays_small() {
    // A guard against accidental growth of the per-task record (1M tasks are expected).
    // 248 -> 256 bytes for `dep_rank` (8 MB at 1M tasks).
    assert!(
        std::mem::size_of::<Task>() <= 256,
        "{}",
        std::mem::size_of::<Task>()
    );
}

#[test]
fn no_panic_on_odd_arguments() {
    let odd = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1.5),
        json!(""),
        json!("A_1"),
        json!([]),
        json!(["A_1", 3]),
        json!({}),
        json!({"r": "x"}),
        json!([["k"]]),
    ];
    let mut s = Scheduler::default();
    add(&mut s, "W", "A_1", json!({"deps": ["A_1", "B_1"]}), 1.0);
    for m in &crate::api::METHODS {
        let (method, params) = (m.name, m.params);
        for v in &odd {
            let mut args = Map::new();
            for p in params.iter() {
                args.insert(p.name.to_string(), v.clone());
            }
            let _ = call(&mut s, method, &args, 2.0);
            // And with only some of them.
            if let Some(p) = params.first() {
                let mut one = Map::new();
                one.insert(p.name.to_string(), v.clone());
                let _ = call(&mut s, method, &one, 3.0);
            }
        }
    }
    // Self-dependency and cycles terminate everywhere.
    add(&mut s, "W", "C_1", json!({"deps": ["C_2"]}), 4.0);
    add(
        &mut s,
        "W",
        "C_2",
        json!({"deps": ["C_1"], "priority": 9}),
        4.0,
    );
    c(
        &mut s,
        "task_list",
        json!({"upstream_status": "UPSTREAM_FAILED"}),
        5.0,
    );
    c(&mut s, "graph", json!({}), 5.0);
    c(&mut s, "get_work", json!({"worker": "W"}), 5.0);
}

#[test]
fn replaying_state_changing_calls_reproduces_state() {
    // A journal of every call with `changes_state` must rebuild the same state.
    let calls = vec![
        (
            "add_task",
            json!({"worker": "W", "task_id": "A_1", "family": "A", "deps": ["B_1"]}),
            1.0,
        ),
        (
            "add_task",
            json!({"worker": "W", "task_id": "B_1", "family": "B"}),
            2.0,
        ),
        ("get_work", json!({"worker": "W", "host": "h"}), 3.0),
        ("task_list", json!({}), 200.0),
        ("fetch_error", json!({"task_id": "A_1"}), 201.0),
        ("count_pending", json!({"worker": "V"}), 202.0),
        ("worker_list", json!({}), 900.0),
    ];
    let mut live = Scheduler::default();
    let mut journal = Vec::new();
    for (m, a, now) in &calls {
        c(&mut live, m, a.clone(), *now);
        if crate::api::method(m).is_some_and(|m| m.changes_state()) {
            journal.push((m, a.clone(), *now));
        }
    }
    let mut replayed = Scheduler::default();
    for (m, a, now) in journal {
        c(&mut replayed, m, a, now);
    }
    assert_eq!(
        serde_json::to_value(&live).unwrap(),
        serde_json::to_value(&replayed).unwrap()
    );
}

#[test]
fn task_list_json_matches_the_value_bytes() {
    for send_messages in [true, false] {
        let mut s = Scheduler::new(SchedulerConfig {
            send_messages,
            retry_count: 1.0,
            ..SchedulerConfig::default()
        });
        add(
            &mut s,
            "W",
            "A_1",
            json!({"priority": 2.5, "resources": {"r": 1}}),
            1.0,
        );
        add(
            &mut s,
            "W",
            "B_2",
            json!({"params": {"x": "é</b>\n", "y": [1, 2.0, null]},
                   "param_visibilities": {"y": 1}, "deps": ["A_1", "C_3"],
                   "tracking_url": "http://h/x", "accepts_messages": true}),
            2.0,
        );
        add(&mut s, "V", "B_2", json!({}), 2.5);
        add(&mut s, "W", "D_4", json!({"status": "FAILED"}), 3.0);
        add(&mut s, "W", "E_5", json!({"status": "DONE"}), 3.0);
        add(&mut s, "W", "F_6", json!({"accepts_messages": true}), 3.0);
        work(&mut s, "W", 4.0);
        work(&mut s, "W", 4.5);
        for (status, upstream, search, max) in [
            ("", "", None, None),
            ("PENDING", "", None, None),
            ("RUNNING", "", None, None),
            ("DISABLED", "", None, None),
            ("", "", Some("b_"), None),
            ("PENDING", "UPSTREAM_FAILED", None, None),
            ("", "", None, Some(2)),
            ("", "", Some("x"), Some(1)),
            ("BOGUS", "", None, None),
        ] {
            let v = s.task_list(status, upstream, true, search, max, 5.0);
            let mut want = Vec::new();
            crate::pyjson::write_py_json(&v, &mut want);
            let mut got = Vec::new();
            s.task_list_json(status, upstream, true, search, max, 5.0, &mut got);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{status} {upstream} {search:?} {max:?}"
            );
        }
        for task_str in ["", "_", "B", "nothing"] {
            let v = s.task_search(task_str, 5.0);
            let mut want = Vec::new();
            crate::pyjson::write_py_json(&v, &mut want);
            let mut got = Vec::new();
            s.task_search_json(task_str, 5.0, &mut got);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{task_str}"
            );
        }
        // The full list shows the disabled and running tasks, so each key was compared.
        let all = s.task_list("", "", false, None, None, 5.0);
        let all = all.as_object().unwrap();
        assert!(all.values().any(|t| t["status"] == "DISABLED"));
        assert!(all.values().any(|t| t["status"] == "RUNNING"));
    }
}

#[test]
fn graph_json_matches_the_value_bytes() {
    for (send_messages, max_nodes) in [(true, 100000), (false, 100000), (true, 3), (true, 0)] {
        let mut s = Scheduler::new(SchedulerConfig {
            send_messages,
            max_graph_nodes: max_nodes,
            retry_count: 1.0,
            ..SchedulerConfig::default()
        });
        add(
            &mut s,
            "W",
            "A_1",
            json!({"priority": 2.5, "deps": ["B_2", "D_4"]}),
            1.0,
        );
        add(
            &mut s,
            "W",
            "B_2",
            json!({"params": {"x": "é</b>\n", "y": [1, 2.0, null]},
                   "param_visibilities": {"y": 1}, "deps": ["C_3", "E_5"],
                   "tracking_url": "http://h/x", "accepts_messages": true}),
            2.0,
        );
        // An assistant's deps are not created: "Gone(x)" stays an unknown id.
        add(
            &mut s,
            "X",
            "E_5",
            json!({"status": "DONE", "deps": ["Gone(x)"], "assistant": true}),
            3.0,
        );
        add(
            &mut s,
            "W",
            "D_4",
            json!({"status": "FAILED", "deps": ["A_1"]}),
            3.0,
        );
        add(
            &mut s,
            "W",
            "F_6",
            json!({"accepts_messages": true, "deps": ["E_5"]}),
            3.0,
        );
        work(&mut s, "W", 4.0);
        let mut cases: Vec<(&str, Value)> = vec![("graph", json!({}))];
        for id in ["A_1", "B_2", "C_3", "E_5", "F_6", "Gone(x)", "nothing"] {
            for inc in [true, false] {
                let a = json!({"task_id": id, "include_done": inc});
                cases.push(("dep_graph", a.clone()));
                cases.push(("inverse_dep_graph", a));
            }
        }
        for (method, args) in cases {
            let v = c(&mut s, method, args.clone(), 5.0);
            let mut want = Vec::new();
            crate::pyjson::write_py_json(&v, &mut want);
            let mut got = Vec::new();
            match method {
                "graph" => s.graph_json(5.0, &mut got),
                m => s.dep_graph_json(
                    &args["task_id"],
                    args["include_done"] == json!(true),
                    m == "inverse_dep_graph",
                    5.0,
                    &mut got,
                ),
            }
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{method} {args} {max_nodes}"
            );
        }
        if max_nodes > 10 {
            let g = c(&mut s, "graph", json!({}), 5.0);
            assert_eq!(g["Gone(x)"]["status"], "UNKNOWN");
            assert_eq!(g["A_1"]["deps"], json!(["B_2", "D_4"]));
        }
    }
}

#[test]
fn id_table_and_interned_strings_are_released() {
    let mut s = Scheduler::default();
    for i in 0..50 {
        let deps = if i > 0 {
            vec![format!("T_{}", i - 1), "Missing_1".to_string()]
        } else {
            vec![]
        };
        add(
            &mut s,
            "W",
            &format!("T_{i}"),
            json!({"deps": deps, "module": format!("m{i}")}),
            1.0,
        );
    }
    // An assistant's dep is only an id (no task).
    add(
        &mut s,
        "A",
        "X_1",
        json!({"deps": ["Only_dep"], "assistant": true}),
        1.0,
    );
    assert_eq!(s.task_count(), 52);
    assert_eq!(s.ix.nodes.len(), 53);
    // T_2's dep (sorted after Missing_1) is the very string of T_1's id.
    let t1 = s.task(s.slot_of("T_1").unwrap()).unwrap();
    let t2 = s.task(s.slot_of("T_2").unwrap()).unwrap();
    assert!(Arc::ptr_eq(&t1.id, &t2.deps[1]));
    // The snapshot round trip shares them again.
    let mut back: Scheduler = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    back.rebuild_indexes();
    let t1 = back.task(back.slot_of("T_1").unwrap()).unwrap();
    let t2 = back.task(back.slot_of("T_2").unwrap()).unwrap();
    assert!(Arc::ptr_eq(&t1.id, &t2.deps[1]));
    assert_eq!(back.ix.nodes.len(), 53);
    // Workers gone: everything is pruned, and the tables empty.
    c(&mut s, "prune", json!({}), 100.0);
    c(&mut s, "prune", json!({}), 1000.0);
    assert_eq!(s.task_count(), 0);
    assert!(s.ix.nodes.is_empty(), "{}", s.ix.nodes.len());
    add(&mut s, "W", "New_1", json!({}), 2000.0);
    assert_eq!(s.ix.nodes.len(), 1);
}

#[test]
fn get_work_json_matches_the_value_bytes() {
    // Two schedulers fed the same calls: one answers in Values, one in bytes.
    fn setup(s: &mut Scheduler) {
        c(
            s,
            "add_worker",
            json!({"worker": "V", "info": {"host": "hv", "workers": 2, "worker": "odd"}}),
            0.1,
        );
        c(
            s,
            "add_worker",
            json!({"worker": "W", "info": {"host": "hw", "username": "ü\"x"}}),
            0.1,
        );
        c(
            s,
            "add_task_batcher",
            json!({"worker": "W", "task_family": "Bt", "batched_args": ["a"]}),
            0.2,
        );
        for i in 0..4 {
            let params = json!({"params": {"id": i, "f": 0.1, "e": 1e300, "s": "é</b>\n",
                                            "l": [1, 2.0, null], "big": crate::pyjson::raw_number("123456789012345678901234567890")}});
            add(s, "W", &format!("A_{i}é"), params, 1.0 + i as f64);
            add(s, "V", &format!("A_{i}é"), json!({}), 1.0 + i as f64);
        }
        for i in 0..3 {
            add(
                s,
                "W",
                &format!("Bt_{i}"),
                json!({"params": {"a": i.to_string()}, "batchable": true, "priority": -1}),
                6.0,
            );
        }
        add(s, "X", "D_1", json!({}), 7.0);
        c(s, "disable_worker", json!({"worker": "X"}), 7.5);
    }
    let (mut a, mut b) = (Scheduler::default(), Scheduler::default());
    setup(&mut a);
    setup(&mut b);
    let calls = [
        ("W", 10.0),
        ("V", 11.0),
        ("W", 12.0),
        ("X", 13.0),
        ("V", 14.0),
        ("W", 15.0),
        ("W", 16.0),
        ("Z", 17.0),
    ];
    let (mut batched, mut odd_params) = (false, false);
    for (w, now) in calls {
        let host = json!(format!("host-{w}"));
        let v = a.get_work(host.clone(), json!(false), None, w, now);
        let mut want = Vec::new();
        crate::pyjson::to_py_json(&v, &mut want);
        let mut got = Vec::new();
        if let Some((at, kept)) = b.get_work_json(host, json!(false), None, w, now, &mut got) {
            got.splice(at..at, kept.json.iter().copied());
        }
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{w} at {now}"
        );
        batched |= v.get("batch_id").is_some();
        odd_params |= v["task_params"].get("big").is_some();
    }
    assert!(odd_params);
    // Each shape was compared: running lists with both runners, a batch, a disabled worker.
    let last = a.get_work(json!("h"), json!(false), None, "W", 20.0);
    assert!(batched);
    let running = last["running_tasks"].as_array().unwrap();
    assert!(running.iter().any(|r| r["worker"] == "odd"));
    assert!(running
        .iter()
        .any(|r| r["worker"] == "W" && r["username"] == "ü\"x"));
    let x = a.get_work(json!("h"), json!(false), None, "X", 20.0);
    assert_eq!(x["worker_state"], "disabled");
}

/// The derived indexes in a comparable form.
fn index_dump(s: &Scheduler) -> String {
    let mut out = format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n",
        s.ix.buckets, s.ix.cand, s.ix.no_stake, s.ix.remove_at, s.ix.retry_at, s.ix.auto_disabled
    );
    for w in s.workers.iter().flatten() {
        let mut tasks: Vec<u32> = w.ix.tasks.iter().collect();
        tasks.sort_unstable();
        let mut stake: Vec<u32> = w.ix.stake.iter().collect();
        stake.sort_unstable();
        let i = &w.ix;
        out += &format!(
            "{} {tasks:?} {stake:?} {:?} {:?} {} {} {} {} {} {}\n",
            w.id,
            i.ready,
            i.running,
            i.n_pf,
            i.n_pf_unique,
            i.n_pf_last,
            i.n_p,
            i.n_p_unique,
            i.n_p_res
        );
    }
    for t in s.tasks.iter().flatten() {
        out += &format!("{} {}\n", t.id, t.unready);
    }
    out
}

#[test]
fn fresh_tasks_are_indexed_as_a_rebuild_would() {
    // add_task indexes a task it creates once, at the end: the result must equal
    // indexes built from scratch, for every kind of first report.
    let mut s = Scheduler::default();
    add(&mut s, "W", "A_1", json!({"status": "DONE"}), 1.0);
    add(&mut s, "W", "B_1", json!({"status": "FAILED"}), 1.0);
    add(&mut s, "W", "C_1", json!({"status": "RUNNING"}), 1.0);
    add(
        &mut s,
        "W",
        "D_1",
        json!({"deps": ["A_1", "E_1"], "priority": 3}),
        2.0,
    );
    add(
        &mut s,
        "W",
        "L_1",
        json!({"deps": ["L_1"], "priority": 4}),
        2.0,
    );
    add(
        &mut s,
        "V",
        "F_1",
        json!({"assistant": true, "deps": ["D_1"]}),
        2.0,
    );
    add(
        &mut s,
        "V",
        "G_1",
        json!({"status": "DISABLED", "resources": {"r": 1}}),
        2.0,
    );
    add(
        &mut s,
        "W",
        "H_1",
        json!({"status": "SUSPENDED", "runnable": false}),
        2.0,
    );
    add(&mut s, "W", "E_1", json!({"status": "DONE"}), 3.0);
    add(
        &mut s,
        "W",
        "I_1",
        json!({"status": "DONE", "deps": ["I_1"]}),
        3.0,
    );
    c(
        &mut s,
        "add_task",
        json!({"worker": "U", "task_id": "J_1", "status": "DONE", "family": "",
               "module": null, "params": null, "deps": null, "resources": null}),
        4.0,
    );
    c(&mut s, "disable_worker", json!({"worker": "X"}), 4.0);
    add(&mut s, "X", "K_1", json!({}), 4.0);
    let incremental = index_dump(&s);
    assert!(incremental.contains("J_1"));
    s.rebuild_indexes();
    assert_eq!(incremental, index_dump(&s));
    // And the tasks are found through them.
    assert_eq!(work(&mut s, "W", 5.0)["task_id"], "D_1");
}

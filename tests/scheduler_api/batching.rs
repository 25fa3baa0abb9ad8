//! Batching: add_task_batcher, batch replies, BATCH_RUNNING, batch runners.

use super::common::*;

fn add_b(t: &mut T, id: &str, a: &str, extra: Value) {
    let mut args = json!({"family": "A", "params": {"a": a}, "batchable": true});
    if let (Some(m), Value::Object(e)) = (args.as_object_mut(), extra) {
        m.extend(e);
    }
    t.add(W, id, args);
}

/// Luigi's _start_simple_batch: batch A_1 + A_2, then (optionally) report the runner,
/// either as the "max" task A_2 or as a new task A_1_2. Returns (batch_id, runner id).
pub fn start_simple_batch(
    t: &mut T,
    use_max: bool,
    mark_running: bool,
    resources: Option<Value>,
) -> (String, String) {
    t.batcher(W, "A", &["a"], None);
    let res = resources.unwrap_or(Value::Null);
    add_b(t, "A_1", "1", json!({"resources": res}));
    add_b(t, "A_2", "2", json!({"resources": res}));
    let r = t.gw(W, json!({}));
    let batch_id = r["batch_id"].as_str().unwrap_or_default().to_string();
    let (id, p) = if use_max {
        ("A_2", "2")
    } else {
        ("A_1_2", "1,2")
    };
    if mark_running {
        t.add(
            W,
            id,
            json!({"task_family": "A", "params": {"a": p}, "batch_id": batch_id, "status": "RUNNING"}),
        );
    }
    (batch_id, id.to_string())
}

#[test]
fn single_batch_item_sent_as_plain_task() {
    let mut t = T::new();
    t.batcher(W, "A", &["a"], None);
    add_b(&mut t, "A_a_1", "1", json!({}));
    let r = t.gw(W, json!({}));
    assert_eq!(r["task_id"], "A_a_1");
    assert_eq!(r["task_params"], json!({"a": "1"}));
    assert!(r.get("batch_id").is_none());
}

#[test]
fn multiple_batch_items_combined() {
    let mut t = T::new();
    t.batcher(W, "A", &["a"], None);
    for a in ["1", "2", "3"] {
        add_b(&mut t, &format!("A_a_{a}"), a, json!({}));
    }
    let r = t.gw(W, json!({}));
    assert_eq!(r["task_id"], Value::Null);
    assert_eq!(r["task_params"], json!({"a": ["1", "2", "3"]}));
    assert_eq!(r["task_family"], "A");
    assert!(r["batch_id"].as_str().is_some_and(|s| s.len() == 32));
    assert_eq!(
        sorted_strs(&r["batch_task_ids"]),
        vec!["A_a_1", "A_a_2", "A_a_3"]
    );
}

#[test]
fn batch_id_is_md5_of_joined_ids() {
    let mut t = T::new();
    t.batcher(W, "A", &["a"], None);
    add_b(&mut t, "A_1", "1", json!({}));
    add_b(&mut t, "A_2", "2", json!({}));
    let r = t.gw(W, json!({}));
    // md5("A_1|A_2")
    assert_eq!(r["batch_id"], "3b223319e1962bb9a54501812900d0da");
}

#[test]
fn batch_time_running_set_on_all_items() {
    let mut t = T::new();
    t.at(1234.0);
    t.batcher(W, "A", &["a"], None);
    for a in ["1", "2", "3"] {
        add_b(&mut t, &format!("A_a_{a}"), a, json!({}));
    }
    t.gw(W, json!({}));
    let all = t.tl("", "");
    for (id, task) in all.as_object().into_iter().flatten() {
        assert_num(&task["time_running"], 1234.0);
        assert_eq!(task["status"], "BATCH_RUNNING", "{id}");
    }
}

#[test]
fn batch_ignores_items_not_ready() {
    let mut t = T::new();
    t.batcher(W, "A", &["a"], None);
    add_b(&mut t, "A_a_1", "1", json!({}));
    add_b(&mut t, "A_a_2", "2", json!({"deps": ["NOT_DONE"]}));
    add_b(&mut t, "A_a_3", "3", json!({"deps": ["DONE"]}));
    add_b(&mut t, "A_a_4", "4", json!({"deps": ["DONE"]}));
    add_b(&mut t, "A_a_5", "5", json!({"deps": ["NOT_DONE"]}));
    t.add(W, "NOT_DONE", json!({"runnable": false}));
    t.set(W, "DONE", "DONE");
    let r = t.gw(W, json!({}));
    assert_eq!(r["task_id"], Value::Null);
    assert_eq!(r["task_params"], json!({"a": ["1", "3", "4"]}));
}

#[test]
fn batch_ignores_first_item_not_ready() {
    let mut t = T::new();
    t.batcher(W, "A", &["a"], None);
    add_b(&mut t, "A_a_1", "1", json!({"deps": ["NOT_DONE"]}));
    add_b(&mut t, "A_a_2", "2", json!({"deps": ["DONE"]}));
    add_b(&mut t, "A_a_3", "3", json!({"deps": ["DONE"]}));
    t.add(W, "NOT_DONE", json!({"runnable": false}));
    t.set(W, "DONE", "DONE");
    let r = t.gw(W, json!({}));
    assert_eq!(r["task_params"], json!({"a": ["2", "3"]}));
}

#[test]
fn batch_items_with_same_resources() {
    let mut t = T::new();
    t.batcher(W, "A", &["a"], None);
    for a in ["1", "2", "3"] {
        add_b(
            &mut t,
            &format!("A_a_{a}"),
            a,
            json!({"resources": {"r1": 1}}),
        );
    }
    let r = t.gw(W, json!({}));
    assert_eq!(r["task_params"], json!({"a": ["1", "2", "3"]}));
}

#[test]
fn batch_size_limited() {
    let mut t = T::new();
    t.batcher(W, "A", &["a"], Some(2));
    add_b(&mut t, "A_a_1", "1", json!({"priority": 1}));
    add_b(&mut t, "A_a_2", "2", json!({}));
    add_b(&mut t, "A_a_3", "3", json!({"priority": 2}));
    let r = t.gw(W, json!({}));
    assert_eq!(r["task_params"], json!({"a": ["3", "1"]}));
    assert_eq!(t.work(W).as_deref(), Some("A_a_2"));
}

#[test]
fn non_batchable_item_not_batched() {
    let mut t = T::new();
    t.batcher(W, "A", &["a"], None);
    add_b(&mut t, "A_a_1", "1", json!({"priority": 1}));
    add_b(&mut t, "A_a_2", "2", json!({}));
    add_b(
        &mut t,
        "A_a_3",
        "3",
        json!({"priority": 2, "batchable": false}),
    );
    assert_eq!(t.work(W).as_deref(), Some("A_a_3"));
    let r = t.gw(W, json!({}));
    assert_eq!(r["task_params"], json!({"a": ["1", "2"]}));
}

#[test]
fn batches_grouped_on_non_batch_params() {
    let mut t = T::new();
    t.batcher(W, "A", &["b"], None);
    for a in 1..=2 {
        for b in 1..=2 {
            for c in 1..=2 {
                t.add(
                    W,
                    &format!("A_{a}_{b}_{c}"),
                    json!({"family": "A", "params": {"a": a.to_string(), "b": b.to_string(), "c": c.to_string()},
                           "batchable": true, "priority": 9 * a + 3 * c + b}),
                );
            }
        }
    }
    for (a, c) in [("2", "2"), ("2", "1"), ("1", "2"), ("1", "1")] {
        let r = t.gw(W, json!({}));
        assert_eq!(r["task_id"], Value::Null);
        assert_eq!(r["task_params"], json!({"a": a, "b": ["2", "1"], "c": c}));
    }
}

#[test]
fn multiple_batched_params() {
    let mut t = T::new();
    t.batcher(W, "A", &["a", "b"], None);
    let mut prio = 1;
    for a in ["1", "2"] {
        for b in ["1", "2"] {
            t.add(
                W,
                &format!("A_{a}_{b}"),
                json!({"family": "A", "params": {"a": a, "b": b}, "priority": prio, "batchable": true}),
            );
            prio += 1;
        }
    }
    let r = t.gw(W, json!({}));
    assert_eq!(
        r["task_params"],
        json!({"a": ["2", "2", "1", "1"], "b": ["2", "1", "2", "1"]})
    );
}

#[test]
fn unbatched_worker_on_batched_family() {
    let mut t = T::new();
    t.batcher("batcher", "A", &["a"], None);
    for i in 0..5 {
        let id = format!("A_{i}");
        let p = json!({"family": "A", "params": {"a": i.to_string()}, "priority": i});
        let mut nb = p.clone();
        nb["batchable"] = json!(false);
        t.add(W, &id, nb);
        let mut b = p;
        b["batchable"] = json!(true);
        t.add("batcher", &id, b);
    }
    assert_eq!(t.work(W).as_deref(), Some("A_4"));
    let r = t.gw("batcher", json!({}));
    assert_eq!(r["task_id"], Value::Null);
    assert_eq!(r["task_params"], json!({"a": ["3", "2", "1", "0"]}));
}

#[test]
fn batched_tasks_become_batch_running() {
    let mut t = T::new();
    t.batcher(W, "A", &["a"], None);
    add_b(&mut t, "A_1", "1", json!({}));
    add_b(&mut t, "A_2", "2", json!({}));
    t.gw(W, json!({}));
    assert_eq!(t.ids("BATCH_RUNNING", ""), set(&["A_1", "A_2"]));
}

#[test]
fn downstream_of_batch_running_is_upstream_running() {
    let mut t = T::new();
    t.batcher(W, "A", &["a"], None);
    add_b(&mut t, "A_1", "1", json!({}));
    add_b(&mut t, "A_2", "2", json!({}));
    t.gw(W, json!({}));
    t.add(W, "B", json!({"deps": ["A_1"]}));
    assert_eq!(t.ids("PENDING", "UPSTREAM_RUNNING"), set(&["B"]));
}

#[test]
fn batch_runner_new_task() {
    let mut t = T::new();
    start_simple_batch(&mut t, false, true, None);
    assert_eq!(t.ids("BATCH_RUNNING", ""), set(&["A_1", "A_2"]));
    assert_eq!(t.ids("RUNNING", ""), set(&["A_1_2"]));
    t.set(W, "A_1_2", "DONE");
    assert_eq!(t.ids("DONE", ""), set(&["A_1", "A_2", "A_1_2"]));
}

#[test]
fn batch_runner_max_task() {
    let mut t = T::new();
    start_simple_batch(&mut t, true, true, None);
    assert_eq!(t.ids("BATCH_RUNNING", ""), set(&["A_1"]));
    assert_eq!(t.ids("RUNNING", ""), set(&["A_2"]));
    t.set(W, "A_2", "DONE");
    assert_eq!(t.ids("DONE", ""), set(&["A_1", "A_2"]));
}

#[test]
fn batch_runner_reported_again() {
    let mut t = T::new();
    let (bid, id) = start_simple_batch(&mut t, false, true, None);
    for _ in 0..3 {
        t.add(
            W,
            &id,
            json!({"task_family": "A", "params": {"a": "1,2"}, "batch_id": bid, "status": "RUNNING"}),
        );
    }
    assert_eq!(t.ids("RUNNING", ""), set(&[&id]));
    assert_eq!(t.ids("BATCH_RUNNING", ""), set(&["A_1", "A_2"]));
}

#[test]
fn batch_fail_fails_all_items_with_expl() {
    let mut t = T::new();
    start_simple_batch(&mut t, false, true, None);
    t.add(
        W,
        "A_1_2",
        json!({"status": "FAILED", "expl": "bad failure"}),
    );
    assert_eq!(t.ids("FAILED", ""), set(&["A_1", "A_2"]));
    for id in ["A_1", "A_2"] {
        assert_eq!(
            t.c("fetch_error", json!({"task_id": id}))["error"],
            "bad failure"
        );
    }
}

#[test]
fn batch_fail_of_max_runner() {
    let mut t = T::new();
    start_simple_batch(&mut t, true, true, None);
    t.add(
        W,
        "A_2",
        json!({"status": "FAILED", "expl": "bad max failure"}),
    );
    assert_eq!(t.ids("FAILED", ""), set(&["A_1", "A_2"]));
    for id in ["A_1", "A_2"] {
        assert_eq!(
            t.c("fetch_error", json!({"task_id": id}))["error"],
            "bad max failure"
        );
    }
}

#[test]
fn batch_status_message_shared() {
    let mut t = T::new();
    start_simple_batch(&mut t, false, true, None);
    t.c(
        "set_task_status_message",
        json!({"task_id": "A_1_2", "status_message": "test message"}),
    );
    for id in ["A_1", "A_2", "A_1_2"] {
        let r = t.c("get_task_status_message", json!({"task_id": id}));
        assert_eq!(r, json!({"taskId": id, "statusMessage": "test message"}));
    }
}

#[test]
fn batch_progress_shared() {
    let mut t = T::new();
    start_simple_batch(&mut t, false, true, None);
    t.c(
        "set_task_progress_percentage",
        json!({"task_id": "A_1_2", "progress_percentage": 30}),
    );
    for id in ["A_1", "A_2", "A_1_2"] {
        let r = t.c("get_task_progress_percentage", json!({"task_id": id}));
        assert_num(&r["progressPercentage"], 30.0);
    }
}

#[test]
fn batch_decrease_resources_shared() {
    let mut t = T::new();
    t.update_resources(json!({"x": 3}));
    start_simple_batch(&mut t, false, true, Some(json!({"x": 3})));
    t.c(
        "decrease_running_task_resources",
        json!({"task_id": "A_1_2", "decrease_resources": {"x": 1}}),
    );
    for id in ["A_1", "A_2", "A_1_2"] {
        let r = t.c("get_running_task_resources", json!({"task_id": id}));
        assert_num(&r["resources"]["x"], 2.0);
    }
}

#[test]
fn batch_tracking_url_shared() {
    let mut t = T::new();
    start_simple_batch(&mut t, false, true, None);
    t.add(
        W,
        "A_1_2",
        json!({"tracking_url": "http://test.tracking.url/"}),
    );
    let l = t.tl("", "");
    for id in ["A_1", "A_2", "A_1_2"] {
        assert_eq!(l[id]["tracking_url"], "http://test.tracking.url/");
    }
}

#[test]
fn finish_batch() {
    let mut t = T::new();
    start_simple_batch(&mut t, false, true, None);
    t.set(W, "A_1_2", "DONE");
    assert_eq!(t.ids("DONE", ""), set(&["A_1", "A_2", "A_1_2"]));
}

#[test]
fn reschedule_max_batch_item() {
    let mut t = T::new();
    let (bid, _) = start_simple_batch(&mut t, true, true, None);
    let _ = bid;
    t.set(W, "A_2", "DONE");
    add_b(&mut t, "A_2", "2", json!({}));
    assert_eq!(t.ids("PENDING", ""), set(&["A_2"]));
    assert_eq!(t.ids("DONE", ""), set(&["A_1"]));
}

#[test]
fn resend_batch_on_get_work_retry() {
    let mut t = T::new();
    t.batcher(W, "A", &["a"], None);
    add_b(&mut t, "A_1", "1", json!({}));
    add_b(&mut t, "A_2", "2", json!({}));
    let r1 = t.gw(W, json!({}));
    let r2 = t.gw(W, json!({"current_tasks": []}));
    assert_eq!(r1["task_id"], r2["task_id"]);
    assert_eq!(r1["task_family"], r2["task_family"]);
    assert_eq!(r1["task_params"], r2["task_params"]);
}

#[test]
fn resend_batch_runner_on_get_work_retry() {
    let mut t = T::new();
    start_simple_batch(&mut t, false, true, None);
    assert_eq!(t.gw(W, json!({"current_tasks": []}))["task_id"], "A_1_2");
}

#[test]
fn resend_max_batch_runner_on_get_work_retry() {
    let mut t = T::new();
    start_simple_batch(&mut t, true, true, None);
    assert_eq!(t.gw(W, json!({"current_tasks": []}))["task_id"], "A_2");
}

#[test]
fn no_resend_of_claimed_batch_runner() {
    let mut t = T::new();
    start_simple_batch(&mut t, false, true, None);
    let r = t.gw(W, json!({"current_tasks": ["A_1_2"]}));
    assert_eq!(r["task_id"], Value::Null);
    let mut t = T::new();
    start_simple_batch(&mut t, true, true, None);
    let r = t.gw(W, json!({"current_tasks": ["A_2"]}));
    assert_eq!(r["task_id"], Value::Null);
}

#[test]
fn rescheduled_batch_running_stay_batch_running() {
    for with_runner in [false, true] {
        let mut t = T::new();
        start_simple_batch(&mut t, false, with_runner, None);
        add_b(&mut t, "A_1", "1", json!({}));
        add_b(&mut t, "A_2", "2", json!({}));
        assert_eq!(
            t.ids("BATCH_RUNNING", ""),
            set(&["A_1", "A_2"]),
            "{with_runner}"
        );
    }
}

#[test]
fn disabled_batch_running_stay_batch_running() {
    for with_runner in [false, true] {
        let mut t = T::new();
        start_simple_batch(&mut t, false, with_runner, None);
        add_b(&mut t, "A_1", "1", json!({"status": "DISABLED"}));
        add_b(&mut t, "A_2", "2", json!({"status": "DISABLED"}));
        assert_eq!(
            t.ids("BATCH_RUNNING", ""),
            set(&["A_1", "A_2"]),
            "{with_runner}"
        );
    }
}

#[test]
fn get_work_returns_batch_task_ids() {
    let mut t = T::new();
    t.batcher(W, "A", &["a"], None);
    add_b(&mut t, "A_1", "1", json!({}));
    add_b(&mut t, "A_2", "2", json!({}));
    let r = t.gw(W, json!({}));
    assert_eq!(sorted_strs(&r["batch_task_ids"]), vec!["A_1", "A_2"]);
}

#[test]
fn orphaned_batch_running_reset_when_worker_lists_current_tasks() {
    // The worker did not claim the batch (no runner reported, not in current_tasks).
    let mut t = T::new();
    start_simple_batch(&mut t, false, false, None);
    t.gw(W, json!({"current_tasks": ["other"]}));
    let l = t.tl("", "");
    // Reset to PENDING, then immediately batched again by the same call.
    assert_eq!(l["A_1"]["status"], "BATCH_RUNNING");
}

#[test]
fn stowaway_resources_not_allowed_in_batch() {
    let mut t = T::new();
    t.batcher(W, "A", &["a"], None);
    t.add(W, "A1", json!({"resources": {"r1": 1}, "family": "A", "params": {"a": "1"}, "batchable": true, "priority": 1}));
    t.add(
        W,
        "A2",
        json!({"resources": {"r1": 2}, "family": "A", "params": {"a": "2"}, "batchable": true}),
    );
    t.add(
        W,
        "A3",
        json!({"resources": {"r2": 1}, "family": "A", "params": {"a": "3"}, "batchable": true}),
    );
    t.add(
        W,
        "A4",
        json!({"resources": {"r1": 1}, "family": "A", "params": {"a": "4"}, "batchable": true}),
    );
    let r = t.gw(W, json!({}));
    assert_eq!(sorted_strs(&r["batch_task_ids"]), vec!["A1", "A4"]);
}

#[test]
fn same_resources_batched_together() {
    let mut t = T::new();
    t.batcher(W, "A", &["a"], None);
    for (i, prio) in [(1, 1), (2, 0), (3, 0), (4, 0)] {
        t.add(
            W,
            &format!("A{i}"),
            json!({"resources": {"r1": 1}, "family": "A", "params": {"a": i.to_string()}, "batchable": true, "priority": prio}),
        );
    }
    let r = t.gw(W, json!({}));
    assert_eq!(
        sorted_strs(&r["batch_task_ids"]),
        vec!["A1", "A2", "A3", "A4"]
    );
}

fn assistant_batch(t: &mut T) -> Value {
    t.batcher("assistant", "A", &["a"], Some(2));
    for i in 1..=3 {
        t.add(
            W,
            &format!("A{i}"),
            json!({"resources": {"a": 1}, "family": "A", "params": {"a": i.to_string()}, "batchable": true, "priority": i}),
        );
    }
    let r = t.gw("assistant", json!({"assistant": true}));
    assert_eq!(sorted_strs(&r["batch_task_ids"]), vec!["A2", "A3"]);
    r
}

#[test]
fn assistant_batch_runner_keeps_batch_resources() {
    for runner in ["A3", "A_2_3"] {
        let mut t = T::new();
        let r = assistant_batch(&mut t);
        t.add(
            "assistant",
            runner,
            json!({"status": "RUNNING", "batch_id": r["batch_id"], "resources": {"b": 1}}),
        );
        assert_eq!(t.work(W), None, "{runner}");
    }
}

#[test]
fn assistant_batch_resources_changed_during_scheduling() {
    for runner in ["A3", "A_2_3"] {
        let mut t = T::new();
        let r = assistant_batch(&mut t);
        for i in 2..=3 {
            t.add(
                W,
                &format!("A{i}"),
                json!({"resources": {"b": 1}, "family": "A", "params": {"a": i.to_string()}, "batchable": true, "priority": i}),
            );
        }
        t.add(
            "assistant",
            runner,
            json!({"status": "RUNNING", "batch_id": r["batch_id"], "resources": {"b": 1}}),
        );
        assert_eq!(t.work(W), None, "{runner}");
    }
}

#[test]
fn batcher_without_batched_param_gives_single_task() {
    // The family has a batcher but the task lacks the batched parameter.
    let mut t = T::new();
    t.batcher(W, "A", &["x"], None);
    add_b(&mut t, "A_1", "1", json!({}));
    add_b(&mut t, "A_2", "2", json!({}));
    assert_eq!(t.work(W).as_deref(), Some("A_1"));
}

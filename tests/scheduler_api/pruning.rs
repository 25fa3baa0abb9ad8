//! Pruning: dead workers, their running tasks, removal of tasks nobody wants.

use super::common::*;

fn empty(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.is_empty())
}

#[test]
fn disconnected_worker_task_goes_to_live_worker() {
    let mut t = T::new();
    t.at(0.0);
    t.add1("X", "A");
    t.add1("Y", "A");
    assert_eq!(t.work("X").as_deref(), Some("A"));
    for s in 0..200 {
        t.at(s as f64);
        t.ping("Y");
        if s % 10 == 0 {
            t.prune();
        }
    }
    assert_eq!(t.work("Y").as_deref(), Some("A"));
}

#[test]
fn running_task_of_dead_worker_fails() {
    let mut t = T::new();
    t.at(0.0);
    t.add1("X", "A");
    t.work("X");
    t.at(20.0);
    t.prune();
    assert_eq!(t.status("A"), "FAILED");
}

#[test]
fn live_worker_keeps_running_task() {
    let mut t = T::new();
    t.at(0.0);
    t.add1("X", "A");
    t.work("X");
    t.at(9.0);
    t.prune();
    assert_eq!(t.status("A"), "RUNNING");
}

#[test]
fn timeout_then_done_from_other_worker() {
    let mut t = T::new();
    t.at(0.0);
    t.add1("X", "A");
    assert_eq!(t.work("X").as_deref(), Some("A"));
    t.at(10000.0);
    t.add1("Y", "A");
    for i in 0..200 {
        t.at(10000.0 + i as f64 * 10.0);
        t.ping("Y");
    }
    // X still runs A as far as the scheduler knows: Y's DONE is ignored, and the
    // task_list below prunes X away, failing its task.
    t.set("Y", "A", "DONE");
    assert_eq!(t.status("A"), "FAILED");
    t.set("Y", "A", "DONE");
    assert_eq!(t.status("A"), "DONE");
}

#[test]
fn task_fails_when_assistant_dies() {
    let mut t = T::new();
    t.at(0.0);
    t.add1("X", "A");
    t.add_worker("Y", json!([]));
    assert_eq!(t.assist("Y").as_deref(), Some("A"));
    assert_eq!(t.ids("RUNNING", ""), set(&["A"]));
    t.at(50.0);
    t.ping("X");
    assert_eq!(t.ids("FAILED", ""), set(&["A"]));
}

#[test]
fn prune_with_live_assistant() {
    let mut t = T::new();
    t.at(0.0);
    t.add1("X", "A");
    t.assist("Y");
    t.add("Y", "A", json!({"status": "DONE", "assistant": true}));
    t.at(600.0);
    t.ping("Y");
    t.prune();
    t.at(2000.0);
    t.prune();
    assert!(empty(&t.tl("", "")));
}

#[test]
fn re_enable_failed_task_of_assistant() {
    let mut t = T::new();
    t.at(0.0);
    t.add_worker("X", json!([["assistant", true]]));
    t.add("X", "A", json!({"status": "FAILED", "assistant": true}));
    assert_eq!(t.status("A"), "FAILED");
    t.at(101.0);
    t.ping("X");
    assert_eq!(t.status("A"), "PENDING");
}

#[test]
fn assistant_does_not_keep_task_alive() {
    let mut t = T::new();
    t.at(0.0);
    t.add1("X", "A");
    assert_eq!(t.work("X").as_deref(), Some("A"));
    t.add_worker("Y", json!({"assistant": true}));
    t.at(1001.0);
    t.ping("Y");
    t.prune();
    assert_eq!(t.ids("FAILED", ""), set(&["A"]));
    assert_eq!(t.ids("", ""), set(&["A"]));
    t.at(2002.0);
    t.ping("Y");
    t.prune();
    assert!(t.ids("", "").is_empty());
}

fn prune_done_tasks(t: &mut T) -> BTreeSet<String> {
    t.at(0.0);
    t.set(W, "A", "DONE");
    t.add(W, "B", json!({"deps": ["A"], "status": "DONE"}));
    t.add(W, "C", json!({"deps": ["B"]}));
    t.at(600.0);
    t.ping("MAYBE_ASSISTANT");
    t.prune();
    t.at(2000.0);
    t.ping("MAYBE_ASSISTANT");
    t.prune();
    t.ids("", "")
}

#[test]
fn done_tasks_pruned_without_assistant() {
    let mut t = T::new();
    assert!(prune_done_tasks(&mut t).is_empty());
}

#[test]
fn done_tasks_pruned_with_assistant() {
    let mut t = T::new();
    t.assist("MAYBE_ASSISTANT");
    assert!(prune_done_tasks(&mut t).is_empty());
}

#[test]
fn disabled_tasks_pruned_with_assistant() {
    let mut t = T::new();
    t.assist("MAYBE_ASSISTANT");
    for _ in 0..10 {
        t.set(W, "D", "FAILED");
    }
    t.set(W, "E", "DISABLED");
    assert_eq!(t.ids("DISABLED", ""), set(&["D", "E"]));
    assert!(prune_done_tasks(&mut t).is_empty());
}

#[test]
fn failed_tasks_pruned_with_assistant() {
    let mut t = T::new();
    t.assist("MAYBE_ASSISTANT");
    t.add(W, "D", json!({"status": "FAILED", "deps": ["A"]}));
    assert!(prune_done_tasks(&mut t).is_empty());
}

#[test]
fn assistants_only_nurture_running() {
    let mut t = T::with(SchedulerConfig {
        retry_delay: 100_000_000_000.0,
        ..SchedulerConfig::default()
    });
    t.at(1.0);
    t.add_worker("assistant", json!([["assistant", true]]));
    t.ping("assistant");
    t.set("uploader", "running", "PENDING");
    assert_eq!(t.assist("assistant").as_deref(), Some("running"));
    t.at(2.0);
    for (id, status) in [
        ("done", "DONE"),
        ("disabled", "DISABLED"),
        ("pending", "PENDING"),
        ("failed", "FAILED"),
        ("unknown", "UNKNOWN"),
    ] {
        t.set("uploader", id, status);
    }
    t.at(100_000.0);
    t.ping("assistant");
    t.prune();
    t.at(200_000.0);
    t.ping("assistant");
    t.prune();
    assert_eq!(t.ids("RUNNING", ""), set(&["running"]));
    for status in ["DONE", "UNKNOWN", "DISABLED", "PENDING", "FAILED"] {
        assert!(t.ids(status, "").is_empty(), "{status}");
    }
    let all = t.c("task_list", json!({"status": null, "upstream_status": ""}));
    assert_eq!(keys(&all), set(&["running"]));
}

#[test]
fn assistant_running_task_does_not_disappear() {
    let mut t = T::new();
    t.at(1.0);
    t.add_worker(W, json!([]));
    t.ping(W);
    t.at(2.0);
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    t.add1(W, "B");
    t.add_worker("assistant", json!([["assistant", true]]));
    t.ping("assistant");
    assert_eq!(t.assist("assistant").as_deref(), Some("B"));
    t.at(100_000.0);
    t.ping("assistant");
    t.prune();
    t.at(200_000.0);
    t.ping("assistant");
    t.prune();
    assert_eq!(t.ids("RUNNING", ""), set(&["B"]));
    assert_eq!(t.ids("", ""), set(&["B"]));
}

#[test]
fn worker_pruned_after_disconnect_delay() {
    let mut t = T::new();
    t.at(1.0);
    t.add_worker(W, json!({}));
    t.at(10_000.0);
    t.prune();
    t.at(20_000.0);
    t.prune();
    assert_eq!(t.c("worker_list", json!({})), json!([]));
}

#[test]
fn worker_listed_within_disconnect_delay() {
    let mut t = T::new();
    t.at(0.0);
    t.ping(W);
    t.at(9.0);
    t.prune();
    let wl = t.c("worker_list", json!({}));
    assert_eq!(wl[0]["name"], W);
}

#[test]
fn task_removed_remove_delay_after_workers_gone() {
    let mut t = T::new();
    t.at(0.0);
    t.add1(W, "A");
    t.at(20.0);
    t.prune(); // worker gone, task marked for removal at 20 + 1000
    t.at(1019.0);
    t.prune();
    assert_eq!(t.ids("", ""), set(&["A"]));
    t.at(1021.0);
    t.prune();
    assert!(t.ids("", "").is_empty());
}

#[test]
fn re_adding_unmarks_removal() {
    let mut t = T::new();
    t.at(0.0);
    t.add1("X", "A");
    t.at(20.0);
    t.prune();
    t.at(500.0);
    t.add1(W, "A");
    t.at(1500.0);
    t.ping(W);
    t.prune();
    assert_eq!(t.ids("", ""), set(&["A"]));
}

#[test]
fn prune_returns_null() {
    let mut t = T::new();
    assert_eq!(t.c("prune", json!({})), Value::Null);
}

#[test]
fn batch_of_dead_worker_fails() {
    let mut t = T::new();
    t.at(1.0);
    super::batching::start_simple_batch(&mut t, false, true, None);
    t.at(601.0);
    t.prune();
    assert_eq!(t.ids("FAILED", ""), set(&["A_1", "A_2"]));
}

#[test]
fn max_batch_of_dead_worker_fails() {
    let mut t = T::new();
    t.at(1.0);
    super::batching::start_simple_batch(&mut t, true, true, None);
    t.at(601.0);
    t.prune();
    assert_eq!(t.ids("FAILED", ""), set(&["A_1", "A_2"]));
}

#[test]
fn batch_without_runner_of_dead_worker_fails() {
    let mut t = T::new();
    t.at(1.0);
    super::batching::start_simple_batch(&mut t, false, false, None);
    t.at(601.0);
    t.prune();
    assert_eq!(t.ids("FAILED", ""), set(&["A_1", "A_2"]));
}

#[test]
fn add_task_keeps_worker_alive() {
    let mut t = T::new();
    t.at(0.0);
    t.add1(W, "A");
    t.at(5.0);
    t.add1(W, "B");
    t.at(12.0);
    t.prune();
    let wl = t.c("worker_list", json!({}));
    assert_eq!(wl[0]["name"], W);
}

#[test]
fn disabled_but_pinging_worker_keeps_its_tasks() {
    // Disabling drops the worker from task.workers but not from the stakeholders.
    let mut t = T::new();
    t.at(0.0);
    t.add1(W, "A");
    t.disable_worker(W);
    let mut s = 5.0;
    while s < 2000.0 {
        t.at(s);
        t.ping(W);
        t.prune();
        s += 5.0;
    }
    assert_eq!(t.ids("", ""), set(&["A"]));
    assert_eq!(t.c("worker_list", json!({}))[0]["state"], "disabled");
}

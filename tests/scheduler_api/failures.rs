//! Failures: retry_delay, disabling (window, count, hard timeout, persist), re-enabling,
//! forgive_failures and mark_as_done.

use super::common::*;

fn fail_n(t: &mut T, id: &str, n: usize) {
    for _ in 0..n {
        t.set(W, id, "FAILED");
    }
}

#[test]
fn failed_task_retried_after_retry_delay() {
    let mut t = T::new();
    t.at(0.0);
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    t.set(W, "A", "FAILED");
    for s in 0..100 {
        t.at(s as f64);
        assert_eq!(t.work(W), None, "at {s}");
        t.ping(W);
        if s % 10 == 0 {
            t.prune();
        }
    }
    t.at(101.0);
    t.prune();
    assert_eq!(t.work(W).as_deref(), Some("A"));
}

#[test]
fn failed_task_becomes_pending_only_through_prune() {
    let mut t = T::new();
    t.at(0.0);
    t.add1(W, "A");
    t.set(W, "A", "FAILED");
    t.at(200.0);
    // get_work does not prune (prune_on_get_work is off).
    assert_eq!(t.work(W), None);
    t.prune();
    assert_eq!(t.work(W).as_deref(), Some("A"));
}

#[test]
fn prune_on_get_work_makes_failed_pending() {
    let mut t = T::with(SchedulerConfig {
        prune_on_get_work: true,
        ..test_config()
    });
    t.at(0.0);
    t.add1(W, "A");
    t.set(W, "A", "FAILED");
    t.at(200.0);
    t.ping(W);
    assert_eq!(t.work(W).as_deref(), Some("A"));
}

#[test]
fn three_failures_disable() {
    let mut t = T::new();
    t.add1(W, "A");
    fail_n(&mut t, "A", 3);
    assert_eq!(t.tl("DISABLED", "").as_object().map(|m| m.len()), Some(1));
    assert!(t.ids("FAILED", "").is_empty());
    t.add1(W, "A");
    assert_eq!(t.work(W), None);
}

#[test]
fn two_failures_do_not_disable() {
    let mut t = T::new();
    fail_n(&mut t, "A", 2);
    assert_eq!(t.status("A"), "FAILED");
}

#[test]
fn disabled_shows_re_enable_able() {
    let mut t = T::new();
    fail_n(&mut t, "A", 3);
    t.set(W, "B", "DISABLED");
    let l = t.tl("DISABLED", "");
    assert_eq!(l["A"]["re_enable_able"], true);
    assert_eq!(l["B"]["re_enable_able"], false);
    assert!(t.tl("", "")["A"].get("re_enable_able").is_some());
}

#[test]
fn re_enable_makes_failed_again() {
    let mut t = T::new();
    t.add1(W, "A");
    fail_n(&mut t, "A", 3);
    let r = t.c("re_enable_task", json!({"task_id": "A"}));
    assert_eq!(r["status"], "FAILED");
    assert!(r.get("deps").is_some());
    assert!(t.ids("DISABLED", "").is_empty());
    assert_eq!(t.ids("FAILED", ""), set(&["A"]));
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
}

#[test]
fn re_enable_resets_failure_count() {
    let mut t = T::new();
    t.add1(W, "A");
    fail_n(&mut t, "A", 3);
    t.c("re_enable_task", json!({"task_id": "A"}));
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    t.set(W, "A", "FAILED");
    assert_eq!(t.ids("FAILED", ""), set(&["A"]));
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    fail_n(&mut t, "A", 2);
    assert_eq!(t.ids("DISABLED", ""), set(&["A"]));
    t.add1(W, "A");
    assert_eq!(t.work(W), None);
}

#[test]
fn re_enable_of_worker_disabled_task_does_nothing() {
    let mut t = T::new();
    t.set(W, "A", "DISABLED");
    assert_eq!(t.c("re_enable_task", json!({"task_id": "A"})), json!({}));
    assert_eq!(t.status("A"), "DISABLED");
}

#[test]
fn re_enable_of_unknown_or_not_disabled_task() {
    let mut t = T::new();
    t.add1(W, "A");
    assert_eq!(t.c("re_enable_task", json!({"task_id": "A"})), json!({}));
    assert_eq!(t.c("re_enable_task", json!({"task_id": "Z"})), json!({}));
}

#[test]
fn done_re_enables_disabled_task() {
    let mut t = T::new();
    t.add1(W, "A");
    fail_n(&mut t, "A", 3);
    t.set(W, "A", "DONE");
    assert!(t.ids("DISABLED", "").is_empty());
    assert_eq!(t.ids("DONE", ""), set(&["A"]));
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
}

#[test]
fn automatic_re_enable_after_disable_persist() {
    let mut t = T::with(SchedulerConfig {
        retry_count: 2.0,
        disable_persist: 100.0,
        ..SchedulerConfig::default()
    });
    t.at(0.0);
    fail_n(&mut t, "A", 2);
    assert_eq!(t.status("A"), "DISABLED");
    t.at(101.0);
    assert_eq!(t.status("A"), "FAILED");
}

#[test]
fn automatic_re_enable_with_one_failure_allowed() {
    let mut t = T::with(SchedulerConfig {
        retry_count: 1.0,
        disable_persist: 100.0,
        ..SchedulerConfig::default()
    });
    t.at(0.0);
    fail_n(&mut t, "A", 1);
    assert_eq!(t.status("A"), "DISABLED");
    t.at(99.0);
    assert_eq!(t.status("A"), "DISABLED");
    t.at(101.0);
    assert_eq!(t.status("A"), "FAILED");
}

#[test]
fn no_automatic_re_enable_after_manual_disable() {
    let mut t = T::with(SchedulerConfig {
        disable_persist: 100.0,
        ..SchedulerConfig::default()
    });
    t.at(0.0);
    t.set(W, "A", "DISABLED");
    assert_eq!(t.status("A"), "DISABLED");
    t.at(101.0);
    assert_eq!(t.status("A"), "DISABLED");
}

#[test]
fn no_automatic_re_enable_after_auto_then_manual_disable() {
    let mut t = T::with(SchedulerConfig {
        retry_count: 2.0,
        disable_persist: 100.0,
        ..SchedulerConfig::default()
    });
    t.at(0.0);
    fail_n(&mut t, "A", 2);
    assert_eq!(t.status("A"), "DISABLED");
    t.set(W, "A", "DISABLED");
    assert_eq!(t.status("A"), "DISABLED");
    t.at(101.0);
    assert_eq!(t.status("A"), "DISABLED");
}

#[test]
fn worker_disable_lifted_by_pending() {
    let mut t = T::new();
    t.set(W, "A", "DISABLED");
    assert_eq!(t.ids("DISABLED", "").len(), 1);
    t.add1(W, "A");
    assert!(t.ids("DISABLED", "").is_empty());
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
}

#[test]
fn scheduler_disable_not_lifted_by_pending() {
    let mut t = T::new();
    fail_n(&mut t, "A", 3);
    t.add1(W, "A");
    assert_eq!(t.status("A"), "DISABLED");
}

#[test]
fn failures_outside_window_do_not_disable() {
    let mut t = T::new();
    for (i, time) in [0.0, 11.0, 22.0, 33.0].iter().enumerate() {
        t.at(*time);
        t.set(W, "A", "FAILED");
        assert_eq!(t.status("A"), "FAILED", "failure {i}");
    }
}

#[test]
fn failures_inside_window_disable() {
    let mut t = T::new();
    for time in [0.0, 4.0, 9.0] {
        t.at(time);
        t.set(W, "A", "FAILED");
    }
    assert_eq!(t.status("A"), "DISABLED");
}

#[test]
fn disable_hard_timeout_disables_on_next_failure() {
    let mut t = T::with(SchedulerConfig {
        retry_count: 1000.0,
        disable_hard_timeout: 100.0,
        disable_window: 10.0,
        ..SchedulerConfig::default()
    });
    // (Not at t=0: luigid takes a first failure at time 0.0 for "no failure yet".)
    t.at(1000.0);
    t.set(W, "A", "FAILED");
    t.at(1050.0);
    t.set(W, "A", "FAILED");
    assert_eq!(t.status("A"), "FAILED");
    t.at(1101.0);
    t.set(W, "A", "FAILED");
    assert_eq!(t.status("A"), "DISABLED");
}

#[test]
fn only_disable_hard_timeout_still_retries() {
    let mut t = T::with(SchedulerConfig {
        retry_delay: 5.0,
        disable_hard_timeout: 100.0,
        ..SchedulerConfig::default()
    });
    t.at(1.0);
    t.add_worker(W, json!([]));
    t.ping(W);
    t.at(2.0);
    t.add1(W, "A");
    t.add(W, "B", json!({"deps": ["A"]}));
    assert_eq!(t.work(W).as_deref(), Some("A"));
    t.set(W, "A", "FAILED");
    t.at(10.0);
    t.prune();
    assert_eq!(t.work(W).as_deref(), Some("A"));
}

#[test]
fn disable_persist_counts_from_disable_time() {
    let mut t = T::new();
    t.at(0.0);
    fail_n(&mut t, "A", 3);
    t.at(9.0);
    assert_eq!(t.status("A"), "DISABLED");
    t.at(11.0);
    assert_eq!(t.status("A"), "FAILED");
}

#[test]
fn zero_retry_count_disables_on_first_failure() {
    let mut t = T::with(SchedulerConfig {
        retry_count: 0.0,
        ..SchedulerConfig::default()
    });
    t.set(W, "A", "FAILED");
    assert_eq!(t.status("A"), "DISABLED");
}

#[test]
fn disabled_upstream_shown_in_task_list() {
    let mut t = T::new();
    fail_n(&mut t, "A", 3);
    t.add(W, "B", json!({"deps": ["A"]}));
    assert_eq!(t.ids("PENDING", "UPSTREAM_DISABLED"), set(&["B"]));
}

// ---------------------------------------------------------------- forgive / mark done

#[test]
fn forgive_failures_allows_immediate_retry() {
    let mut t = T::new();
    t.at(0.0);
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    t.set(W, "A", "FAILED");
    t.at(1.0);
    assert_eq!(t.work(W), None);
    t.at(2.0);
    let r = t.c("forgive_failures", json!({"task_id": "A"}));
    assert_eq!(r, json!({"task_id": "A", "status": "PENDING"}));
    assert_eq!(t.work(W).as_deref(), Some("A"));
}

#[test]
fn forgive_failures_twice() {
    let mut t = T::new();
    t.at(0.0);
    t.add1(W, "A");
    t.work(W);
    t.set(W, "A", "FAILED");
    t.at(2.0);
    t.c("forgive_failures", json!({"task_id": "A"}));
    t.c("forgive_failures", json!({"task_id": "A"}));
    assert_eq!(t.work(W).as_deref(), Some("A"));
}

#[test]
fn forgive_failures_leaves_other_statuses() {
    let mut t = T::new();
    t.set(W, "A", "DONE");
    assert_eq!(
        t.c("forgive_failures", json!({"task_id": "A"})),
        json!({"task_id": "A", "status": "DONE"})
    );
    assert_eq!(
        t.c("forgive_failures", json!({"task_id": "nope"})),
        json!({"task_id": "nope", "status": null})
    );
}

#[test]
fn forgive_failures_without_task_id() {
    let mut t = T::new();
    assert_eq!(
        t.c("forgive_failures", json!({})),
        json!({"task_id": null, "status": null})
    );
}

#[test]
fn mark_running_as_done() {
    let mut t = T::new();
    t.at(0.0);
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    t.at(1.0);
    assert_eq!(t.ids("RUNNING", ""), set(&["A"]));
    let r = t.c("mark_as_done", json!({"task_id": "A"}));
    assert_eq!(r, json!({"task_id": "A", "status": "DONE"}));
    assert_eq!(t.ids("DONE", ""), set(&["A"]));
}

#[test]
fn mark_failed_as_done() {
    let mut t = T::new();
    t.at(0.0);
    t.add1(W, "A");
    t.work(W);
    t.set(W, "A", "FAILED");
    t.at(1.0);
    assert!(t.ids("RUNNING", "").is_empty());
    assert_eq!(t.ids("FAILED", ""), set(&["A"]));
    t.c("mark_as_done", json!({"task_id": "A"}));
    assert_eq!(t.ids("DONE", ""), set(&["A"]));
}

#[test]
fn mark_disabled_as_done() {
    let mut t = T::new();
    t.set(W, "A", "DISABLED");
    t.c("mark_as_done", json!({"task_id": "A"}));
    assert_eq!(t.status("A"), "DONE");
}

#[test]
fn mark_pending_as_done_is_refused() {
    let mut t = T::new();
    t.add1(W, "A");
    assert_eq!(
        t.c("mark_as_done", json!({"task_id": "A"})),
        json!({"task_id": "A", "status": "PENDING"})
    );
    assert_eq!(
        t.c("mark_as_done", json!({"task_id": "B"})),
        json!({"task_id": "B", "status": null})
    );
}

#[test]
fn mark_as_done_unblocks_dependents() {
    let mut t = T::new();
    t.add(W, "B", json!({"deps": ["A"]}));
    t.set(W, "A", "FAILED");
    t.c("mark_as_done", json!({"task_id": "A"}));
    assert_eq!(t.work(W).as_deref(), Some("B"));
}

#[test]
fn failed_upstream_shown_in_task_list() {
    let mut t = T::new();
    t.add(W, "B", json!({"deps": ["A"]}));
    t.add1(W, "A");
    t.work(W);
    t.set(W, "A", "FAILED");
    assert_eq!(t.ids("PENDING", "UPSTREAM_FAILED"), set(&["B"]));
}

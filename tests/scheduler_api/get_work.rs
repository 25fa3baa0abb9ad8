//! get_work: ranking, resending, assistants, counts, pause and disabled workers.

use super::common::*;

#[test]
fn resend_running_task_when_worker_forgot_it() {
    let mut t = T::new();
    t.add1(W, "A");
    t.add1(W, "B");
    for _ in 0..10 {
        let r = t.gw(W, json!({"current_tasks": []}));
        assert_eq!(r["task_id"], "A");
    }
    let r = t.gw(W, json!({"current_tasks": ["A"]}));
    assert_eq!(r["task_id"], "B");
}

#[test]
fn resend_multiple_tasks() {
    let mut t = T::new();
    t.add1(W, "A");
    t.add1(W, "B");
    t.add1(W, "C");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    assert_eq!(t.work(W).as_deref(), Some("B"));
    for _ in 0..3 {
        assert_eq!(t.gw(W, json!({"current_tasks": []}))["task_id"], "A");
        assert_eq!(t.gw(W, json!({"current_tasks": ["B"]}))["task_id"], "A");
        assert_eq!(t.gw(W, json!({"current_tasks": ["A"]}))["task_id"], "B");
        assert_eq!(
            t.gw(W, json!({"current_tasks": ["A", "B"]}))["task_id"],
            "C"
        );
    }
}

#[test]
fn no_resend_without_current_tasks() {
    // Without current_tasks the scheduler does not resend: the next pending task comes.
    let mut t = T::new();
    t.add1(W, "A");
    t.add1(W, "B");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    assert_eq!(t.work(W).as_deref(), Some("B"));
    assert_eq!(t.work(W), None);
}

#[test]
fn explicit_null_current_tasks_means_no_resend() {
    let mut t = T::new();
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    let r = t.gw(
        W,
        json!({"current_tasks": null, "host": null, "assistant": null}),
    );
    assert_eq!(r["task_id"], Value::Null);
}

#[test]
fn running_task_not_handed_to_second_worker() {
    let mut t = T::new();
    t.add1("X", "A");
    assert_eq!(t.work("X").as_deref(), Some("A"));
    t.add1("Y", "A");
    assert_eq!(t.work("Y"), None);
}

#[test]
fn running_tasks_reported_to_waiting_worker() {
    let mut t = T::new();
    t.add1("X", "A");
    t.add1("Y", "A");
    assert_eq!(t.work("X").as_deref(), Some("A"));
    let r = t.gw("Y", json!({}));
    assert_eq!(r["task_id"], Value::Null);
    assert_eq!(r["running_tasks"][0]["task_id"], "A");
    assert_eq!(r["running_tasks"][0]["worker"], "X");
}

#[test]
fn running_tasks_include_worker_info() {
    let mut t = T::new();
    t.add_worker("X", json!({"host": "hx", "salt": "s"}));
    t.add1("X", "A");
    t.add1("Y", "A");
    t.work("X");
    let r = t.gw("Y", json!({}));
    let info = &r["running_tasks"][0];
    assert_eq!(info["host"], "hx");
    assert_eq!(info["salt"], "s");
    assert_eq!(info["worker"], "X");
}

#[test]
fn get_work_reply_shape_for_single_task() {
    let mut t = T::new();
    t.add(
        W,
        "A",
        json!({"family": "Fam", "module": "pkg.mod", "params": {"p": "1"}}),
    );
    let r = t.gw(W, json!({"host": "h"}));
    assert_eq!(r["task_id"], "A");
    assert_eq!(r["task_family"], "Fam");
    assert_eq!(r["task_module"], "pkg.mod");
    assert_eq!(r["task_params"], json!({"p": "1"}));
    assert_eq!(r["worker_state"], "active");
    // The counts are taken before the task is marked running.
    assert_num(&r["n_pending_tasks"], 1.0);
    assert_eq!(r["running_tasks"], json!([]));
}

#[test]
fn get_work_reply_when_nothing_to_do() {
    let mut t = T::new();
    let r = t.gw(W, json!({}));
    assert_eq!(
        r,
        json!({"n_pending_tasks": 0, "n_unique_pending": 0, "n_pending_last_scheduled": 0,
               "worker_state": "active", "running_tasks": [], "task_id": null})
    );
}

#[test]
fn unique_pending_counts() {
    let mut t = T::new();
    t.add1(W, "A");
    t.add1(W, "B");
    t.add1(W, "C");
    t.add1("myworker_2", "B");
    let r = t.gw(W, json!({}));
    assert_num(&r["n_pending_tasks"], 3.0);
    assert_num(&r["n_unique_pending"], 2.0);
}

#[test]
fn pending_downstream_of_disabled_not_counted() {
    let mut t = T::new();
    t.set(W, "A", "DISABLED");
    t.add(W, "B", json!({"deps": ["A"]}));
    t.add(W, "C", json!({"deps": ["B"]}));
    let r = t.gw(W, json!({}));
    assert_eq!(r["task_id"], Value::Null);
    assert_num(&r["n_pending_tasks"], 0.0);
    assert_num(&r["n_unique_pending"], 0.0);
}

#[test]
fn pending_downstream_of_failed_counted() {
    let mut t = T::new();
    t.set(W, "A", "FAILED");
    t.add(W, "B", json!({"deps": ["A"]}));
    t.add(W, "C", json!({"deps": ["B"]}));
    let r = t.gw(W, json!({}));
    assert_eq!(r["task_id"], Value::Null);
    assert_num(&r["n_pending_tasks"], 2.0);
    assert_num(&r["n_unique_pending"], 2.0);
}

#[test]
fn unknown_dep_is_not_schedulable() {
    let mut t = T::new();
    t.add(W, "B", json!({"deps": ["A"]}));
    assert_eq!(t.work(W), None);
}

#[test]
fn dependents_stakeholder_keeps_placeholder_alive() {
    // Scheduling B makes its worker a stakeholder of B's deps too, so A outlives X.
    let mut t = T::new();
    t.at(0.0);
    t.add("X", "B", json!({"deps": ["A"]}));
    t.at(5.0);
    t.add(W, "B", json!({"family": "Fb"}));
    let mut s = 10.0;
    while s < 1200.0 {
        t.at(s);
        t.ping(W);
        t.prune();
        s += 5.0;
    }
    assert_eq!(t.ids("", ""), set(&["A", "B"]));
    assert_eq!(t.work(W), None);
}

// ---------------------------------------------------------------- count_pending

fn counts(p: u32, u: u32, l: u32) -> Value {
    json!({"n_pending_tasks": p, "n_unique_pending": u, "n_pending_last_scheduled": l,
           "running_tasks": [], "worker_state": "active"})
}

#[test]
fn count_pending_grows() {
    let mut t = T::new();
    for n in 1..20u32 {
        t.set(W, &n.to_string(), "PENDING");
        assert_eq!(t.count_pending(W), counts(n, n, n));
    }
}

#[test]
fn count_pending_includes_failures() {
    let mut t = T::new();
    for n in 1..20u32 {
        t.set(W, &n.to_string(), "PENDING");
        t.set(W, &n.to_string(), "FAILED");
        assert_eq!(t.count_pending(W), counts(n, n, n));
    }
}

#[test]
fn count_pending_excludes_done_and_disabled() {
    let mut t = T::new();
    for n in (1..20u32).step_by(2) {
        t.set(W, &n.to_string(), "PENDING");
        t.set(W, &(n + 1).to_string(), "PENDING");
        t.set(W, &n.to_string(), "DONE");
        t.set(W, &(n + 1).to_string(), "DISABLED");
    }
    assert_eq!(t.count_pending(W), counts(0, 0, 0));
}

#[test]
fn count_pending_on_disabled_worker() {
    let mut t = T::new();
    t.add1(W, "A");
    t.add1("other", "B");
    assert_num(&t.count_pending(W)["n_pending_tasks"], 1.0);
    t.disable_worker(W);
    assert_num(&t.count_pending(W)["n_pending_tasks"], 0.0);
}

#[test]
fn count_pending_skips_upstream_disabled() {
    let mut t = T::new();
    t.set(W, "A", "PENDING");
    t.set(W, "B", "DISABLED");
    t.add(W, "C", json!({"status": "PENDING", "deps": ["A", "B"]}));
    assert_eq!(t.count_pending(W), counts(1, 1, 1));
}

#[test]
fn count_pending_counts_upstream_failed() {
    let mut t = T::new();
    t.set(W, "A", "PENDING");
    t.set(W, "A", "FAILED");
    t.add(W, "B", json!({"status": "PENDING", "deps": ["A"]}));
    assert_eq!(t.count_pending(W), counts(2, 2, 2));
}

#[test]
fn count_pending_of_unknown_worker() {
    let mut t = T::new();
    t.set(W, "A", "PENDING");
    assert_eq!(t.count_pending("other_worker"), counts(0, 0, 0));
}

#[test]
fn count_pending_uniques() {
    let mut t = T::new();
    for id in ["A", "B", "C"] {
        t.set(W, id, "PENDING");
    }
    t.set("other_worker", "A", "PENDING");
    assert_eq!(t.count_pending(W), counts(3, 2, 2));
}

#[test]
fn count_pending_last_scheduled() {
    let mut t = T::new();
    for id in ["A", "B", "C"] {
        t.set(W, id, "PENDING");
    }
    for id in ["A", "B", "C"] {
        t.set("other_worker", id, "PENDING");
    }
    assert_eq!(t.count_pending(W), counts(3, 0, 0));
    assert_eq!(t.count_pending("other_worker"), counts(3, 0, 3));
}

#[test]
fn count_pending_disabled_worker_state() {
    let mut t = T::new();
    t.set(W, "A", "PENDING");
    assert_eq!(t.count_pending(W), counts(1, 1, 1));
    t.disable_worker(W);
    let mut expected = counts(0, 0, 0);
    expected["worker_state"] = json!("disabled");
    assert_eq!(t.count_pending(W), expected);
}

#[test]
fn count_pending_lists_running_tasks() {
    let mut t = T::new();
    t.set(W, "A", "PENDING");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    let mut expected = counts(0, 0, 0);
    expected["running_tasks"] = json!([{"task_id": "A", "worker": W}]);
    assert_eq!(t.count_pending(W), expected);
}

// ---------------------------------------------------------------- pause

#[test]
fn pause_stops_handing_out_work() {
    let mut t = T::new();
    t.add1(W, "A");
    t.c("pause", json!({}));
    assert_eq!(
        t.gw(W, json!({})),
        json!({"n_pending_last_scheduled": 1, "n_unique_pending": 1, "n_pending_tasks": 1,
               "running_tasks": [], "task_id": null, "worker_state": "active"})
    );
    t.c("unpause", json!({}));
    assert_eq!(t.work(W).as_deref(), Some("A"));
}

#[test]
fn is_paused_follows_pause_and_unpause() {
    let mut t = T::new();
    assert_eq!(t.c("is_paused", json!({})), json!({"paused": false}));
    t.c("pause", json!({}));
    assert_eq!(t.c("is_paused", json!({})), json!({"paused": true}));
    t.c("unpause", json!({}));
    assert_eq!(t.c("is_paused", json!({})), json!({"paused": false}));
}

#[test]
fn pause_is_a_no_op_when_disabled() {
    let mut t = T::with(SchedulerConfig {
        pause_enabled: false,
        ..test_config()
    });
    assert_eq!(
        t.c("is_pause_enabled", json!({})),
        json!({"enabled": false})
    );
    assert_eq!(t.c("pause", json!({})), Value::Null);
    assert_eq!(t.c("is_paused", json!({})), json!({"paused": false}));
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
}

#[test]
fn is_pause_enabled_by_default() {
    let mut t = T::new();
    assert_eq!(t.c("is_pause_enabled", json!({})), json!({"enabled": true}));
}

// ---------------------------------------------------------------- disabled workers

#[test]
fn disabled_worker_gets_no_work() {
    let mut t = T::new();
    t.add1(W, "A");
    t.disable_worker(W);
    let r = t.gw(W, json!({}));
    assert_eq!(
        r,
        json!({"n_pending_tasks": 0, "running_tasks": [], "task_id": null,
               "n_unique_pending": 0, "worker_state": "disabled"})
    );
}

#[test]
fn disabled_worker_leaves_jobs_running() {
    let mut t = T::new();
    t.add1(W, "A");
    t.work(W);
    t.disable_worker(W);
    assert_eq!(t.ids("RUNNING", ""), set(&["A"]));
    let wl = t.c("worker_list", json!({}));
    assert_eq!(keys(&wl[0]["running"]), set(&["A"]));
}

#[test]
fn disabled_worker_cannot_pick_up_failed_jobs() {
    let mut t = T::new();
    t.at(0.0);
    t.add1(W, "A");
    t.work(W);
    t.disable_worker(W);
    t.set(W, "A", "FAILED");
    t.at(1000.0);
    t.ping(W);
    t.prune();
    assert_eq!(t.work(W), None);
    t.add1("other_worker", "B");
    assert_eq!(t.work(W), None);
}

#[test]
fn disabled_worker_cannot_continue_scheduling() {
    let mut t = T::new();
    t.disable_worker(W);
    t.add1(W, "A");
    assert_eq!(t.work(W), None);
}

#[test]
fn disabled_worker_cannot_add_tasks() {
    let mut t = T::new();
    t.disable_worker(W);
    t.add1(W, "A");
    assert_eq!(t.assist("assistant"), None);
    assert!(t.tl("", "").get("A").is_none());
    t.add1("third_enabled_worker", "A");
    assert_eq!(t.assist("assistant").as_deref(), Some("A"));
}

fn disabled_worker_can_report(new_status: &str, new_deps: &[&str]) {
    let mut t = T::new();
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    t.disable_worker(W);
    assert_eq!(t.ids("RUNNING", ""), set(&["A"]));
    for dep in new_deps {
        t.set(W, dep, "PENDING");
    }
    t.add(W, "A", json!({"status": new_status, "new_deps": new_deps}));
    assert!(t.ids("RUNNING", "").is_empty());
    assert_eq!(t.ids(new_status, ""), set(&["A"]));
    assert_eq!(t.work(W), None);
    let all = t.tl("", "");
    for (id, task) in all.as_object().into_iter().flatten() {
        assert_eq!(task["workers"], json!([]), "{id}");
    }
}

#[test]
fn disabled_worker_can_finish_task() {
    disabled_worker_can_report("DONE", &[]);
}

#[test]
fn disabled_worker_can_fail_task() {
    disabled_worker_can_report("FAILED", &[]);
}

#[test]
fn disabled_worker_stays_disabled_on_new_deps() {
    disabled_worker_can_report("PENDING", &["B", "C"]);
}

#[test]
fn disabled_assistant_gets_no_task() {
    let mut t = T::new();
    t.at(0.0);
    t.add1(W, "A");
    t.add_worker("assistant", json!([["assistant", true]]));
    t.ping("assistant");
    t.disable_worker("assistant");
    assert_eq!(t.assist("assistant"), None);
    assert!(t.work(W).is_some());
}

#[test]
fn worker_state_disabled_in_worker_list() {
    let mut t = T::new();
    t.add1(W, "A");
    t.disable_worker(W);
    let wl = t.c("worker_list", json!({}));
    assert_eq!(wl[0]["state"], "disabled");
}

// ---------------------------------------------------------------- assistants

#[test]
fn assistant_gets_runnable_task_of_other_worker() {
    let mut t = T::new();
    t.add1("X", "A");
    t.add_worker("Y", json!([]));
    assert_eq!(t.assist("Y").as_deref(), Some("A"));
    let running = t.tl("RUNNING", "");
    assert_eq!(keys(&running), set(&["A"]));
    assert_eq!(running["A"]["worker_running"], "Y");
}

#[test]
fn assistant_skips_external_task() {
    let mut t = T::new();
    t.add("X", "A", json!({"runnable": false}));
    assert_eq!(t.assist("Y"), None);
}

#[test]
fn assistant_gets_task_after_owner_disconnects() {
    let mut t = T::new();
    t.at(0.0);
    t.add("X", "A", json!({"runnable": true}));
    t.at(600.0);
    t.prune();
    assert_eq!(t.assist("Y").as_deref(), Some("A"));
}

#[test]
fn assistant_flag_registered_by_get_work() {
    let mut t = T::new();
    t.gw("Y", json!({"assistant": true}));
    let wl = t.c("worker_list", json!({}));
    assert_eq!(wl[0]["assistant"], true);
}

#[test]
fn non_assistant_does_not_get_foreign_task() {
    let mut t = T::new();
    t.add1("X", "A");
    assert_eq!(t.work("Y"), None);
}

#[test]
fn host_of_get_work_not_in_worker_info() {
    let mut t = T::new();
    t.add1(W, "A");
    t.gw(W, json!({"host": "box1"}));
    let wl = t.c("worker_list", json!({}));
    assert!(wl[0].get("host").is_none());
}

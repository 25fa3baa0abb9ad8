//! add_task: dependencies, placeholders, priorities, tracking urls, per-field rules.

use super::common::*;

#[test]
fn dep_runs_before_dependent() {
    let mut t = T::new();
    t.add(W, "B", json!({"deps": ["A"]}));
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    t.set(W, "A", "DONE");
    assert_eq!(t.work(W).as_deref(), Some("B"));
    t.set(W, "B", "DONE");
    assert_eq!(t.work(W), None);
}

#[test]
fn failed_dep_blocks_until_done() {
    let mut t = T::new();
    t.add(W, "B", json!({"deps": ["A"]}));
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    t.set(W, "A", "FAILED");
    assert_eq!(t.work(W), None);
    t.set(W, "A", "DONE");
    assert_eq!(t.work(W).as_deref(), Some("B"));
    t.set(W, "B", "DONE");
    assert_eq!(t.work(W), None);
}

#[test]
fn broken_dep_blocks_until_done() {
    let mut t = T::new();
    t.add(W, "B", json!({"deps": ["A"]}));
    t.add(W, "A", json!({"runnable": false}));
    assert_eq!(t.work(W), None);
    t.set(W, "A", "DONE");
    assert_eq!(t.work(W).as_deref(), Some("B"));
    t.set(W, "B", "DONE");
    assert_eq!(t.work(W), None);
}

#[test]
fn two_workers_share_a_dep() {
    let mut t = T::new();
    t.add1("X", "A");
    t.add1("Y", "A");
    t.add("X", "B", json!({"deps": ["A"]}));
    t.add("Y", "C", json!({"deps": ["A"]}));
    assert_eq!(t.work("X").as_deref(), Some("A"));
    assert_eq!(t.work("Y"), None);
    t.set("X", "A", "DONE");
    assert_eq!(t.work("Y").as_deref(), Some("C"));
    assert_eq!(t.work("X").as_deref(), Some("B"));
}

#[test]
fn unknown_from_other_worker_does_not_override_running() {
    let mut t = T::new();
    t.add1("X", "A");
    assert_eq!(t.work("X").as_deref(), Some("A"));
    t.set("Y", "A", "UNKNOWN");
    assert_eq!(t.ids("RUNNING", ""), set(&["A"]));
}

#[test]
fn pending_from_other_worker_does_not_reschedule_running() {
    let mut t = T::new();
    t.add1("X", "A");
    assert_eq!(t.work("X").as_deref(), Some("A"));
    t.add1("Y", "A");
    assert_eq!(t.work("Y"), None);
    assert_eq!(t.tl("RUNNING", "")["A"]["worker_running"], "X");
}

#[test]
fn new_deps_replace_dependencies_of_other_scheduling() {
    let mut t = T::new();
    t.add("X", "A", json!({"runnable": false}));
    t.add("X", "B", json!({"deps": ["A"]}));
    assert_eq!(t.work("X"), None);
    t.add("Y", "B", json!({"deps": ["C"]}));
    t.set("Y", "C", "DONE");
    assert_eq!(t.work("Y").as_deref(), Some("B"));
}

#[test]
fn deps_create_unknown_placeholders() {
    let mut t = T::new();
    t.add(W, "B", json!({"deps": ["A"], "priority": 7}));
    let all = t.tl("", "");
    assert_eq!(all["A"]["status"], "UNKNOWN");
    assert_num(&all["A"]["priority"], 7.0);
    assert_eq!(all["A"]["name"], "");
    assert_eq!(all["B"]["status"], "PENDING");
}

#[test]
fn placeholder_takes_family_and_params_when_scheduled() {
    let mut t = T::new();
    t.add(W, "B", json!({"deps": ["A"]}));
    t.add(
        W,
        "A",
        json!({"family": "Fam", "params": {"x": "1"}, "module": "mod"}),
    );
    let a = &t.tl("", "")["A"];
    assert_eq!(a["name"], "Fam");
    assert_eq!(a["params"], json!({"x": "1"}));
    assert_eq!(a["status"], "PENDING");
}

#[test]
fn family_and_params_are_not_overwritten_once_set() {
    let mut t = T::new();
    t.add(W, "A", json!({"family": "F1", "params": {"p": "1"}}));
    t.add(W, "A", json!({"family": "F2", "params": {"p": "2"}}));
    let a = &t.tl("", "")["A"];
    assert_eq!(a["name"], "F1");
    assert_eq!(a["params"], json!({"p": "1"}));
}

#[test]
fn new_deps_extend_dependencies() {
    let mut t = T::new();
    t.add(W, "A", json!({"family": "Fa", "deps": ["C"]}));
    t.set(W, "C", "DONE");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    t.add(W, "A", json!({"status": "PENDING", "new_deps": ["B"]}));
    t.add1(W, "B");
    let g = t.c("dep_graph", json!({"task_id": "A"}));
    assert_eq!(sorted_strs(&g["A"]["deps"]), vec!["B", "C"]);
    assert_eq!(t.work(W).as_deref(), Some("B"));
    t.set(W, "B", "DONE");
    assert_eq!(t.work(W).as_deref(), Some("A"));
}

#[test]
fn new_deps_accepted_while_running_on_other_worker() {
    // new_deps lets a status change through even when the task runs elsewhere.
    let mut t = T::new();
    t.add1("X", "A");
    assert_eq!(t.work("X").as_deref(), Some("A"));
    t.add("Y", "A", json!({"status": "PENDING", "new_deps": ["B"]}));
    assert_eq!(t.status("A"), "PENDING");
}

#[test]
fn task_list_does_not_show_deps() {
    let mut t = T::new();
    t.add(W, "B", json!({"deps": ["A"]}));
    t.add1(W, "A");
    let l = t.tl("PENDING", "");
    assert!(l["A"].get("deps").is_none());
    assert!(l["B"].get("deps").is_none());
}

#[test]
fn start_time_is_first_scheduling() {
    let mut t = T::new();
    t.at(100.0);
    t.add1(W, "A");
    t.at(200.0);
    t.add1(W, "A");
    t.set(W, "A", "DONE");
    assert_num(&t.tl("DONE", "")["A"]["start_time"], 100.0);
}

#[test]
fn last_updated_unchanged_by_same_status() {
    let mut t = T::new();
    for (time, status) in [(100.0, "PENDING"), (300.0, "DONE"), (500.0, "DISABLED")] {
        t.at(time);
        t.set(W, "A", status);
        assert_num(&t.tl(status, "")["A"]["last_updated"], time);
        t.at(time + 100.0);
        t.set(W, "A", status);
        assert_num(&t.tl(status, "")["A"]["last_updated"], time);
    }
}

#[test]
fn last_updated_shows_running_start() {
    let mut t = T::new();
    t.at(100.0);
    t.set(W, "A", "PENDING");
    assert_num(&t.tl("PENDING", "")["A"]["last_updated"], 100.0);
    t.at(200.0);
    assert_eq!(t.work(W).as_deref(), Some("A"));
    assert_num(&t.tl("RUNNING", "")["A"]["last_updated"], 200.0);
    t.at(300.0);
    t.set(W, "A", "PENDING");
    assert_num(&t.tl("RUNNING", "")["A"]["last_updated"], 200.0);
}

#[test]
fn last_updated_with_failure_and_recovery() {
    let mut t = T::new();
    t.at(100.0);
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    t.at(200.0);
    t.set(W, "A", "FAILED");
    assert_num(&t.tl("FAILED", "")["A"]["last_updated"], 200.0);
    t.at(1000.0);
    t.prune();
    assert_num(&t.tl("PENDING", "")["A"]["last_updated"], 1000.0);
}

#[test]
fn time_running_set_by_get_work() {
    let mut t = T::new();
    t.at(500.0);
    t.add1(W, "A");
    t.at(520.0);
    t.work(W);
    let a = &t.tl("RUNNING", "")["A"];
    assert_num(&a["time_running"], 520.0);
    assert_eq!(a["worker_running"], W);
}

#[test]
fn running_status_from_worker_sets_worker_running_and_time() {
    let mut t = T::new();
    t.at(50.0);
    t.set("X", "A", "RUNNING");
    let a = &t.tl("RUNNING", "")["A"];
    assert_eq!(a["worker_running"], "X");
    assert_num(&a["time_running"], 50.0);
}

// ---------------------------------------------------------------- priorities

#[test]
fn priorities_order_work() {
    let mut t = T::new();
    t.add(W, "A", json!({"priority": 10}));
    t.add(W, "B", json!({"priority": 5}));
    t.add(W, "C", json!({"priority": 15}));
    t.add(W, "D", json!({"priority": 9}));
    t.order(&["C", "A", "D", "B"]);
}

#[test]
fn priorities_default_and_negative() {
    let mut t = T::new();
    t.add(W, "A", json!({"priority": 10}));
    t.add1(W, "B");
    t.add(W, "C", json!({"priority": 15}));
    t.add(W, "D", json!({"priority": -20}));
    t.add(W, "E", json!({"priority": 1}));
    t.order(&["C", "A", "E", "B", "D"]);
}

#[test]
fn priorities_and_dependencies() {
    let mut t = T::new();
    t.add(W, "A", json!({"deps": ["Z"], "priority": 10}));
    t.add(W, "B", json!({"priority": 5}));
    t.add(W, "C", json!({"deps": ["Z"], "priority": 3}));
    t.add(W, "D", json!({"priority": 2}));
    t.add(W, "Z", json!({"priority": 1}));
    t.order(&["Z", "A", "B", "C", "D"]);
}

#[test]
fn priority_propagates_to_dependency_after_scheduling() {
    let mut t = T::new();
    t.add(W, "A", json!({"priority": 1}));
    t.add(W, "B", json!({"priority": 5, "deps": ["A"]}));
    t.add(W, "C", json!({"priority": 10, "deps": ["B"]}));
    t.add(W, "D", json!({"priority": 6}));
    t.order(&["A", "B", "C", "D"]);
}

#[test]
fn priority_propagates_down_a_chain() {
    let mut t = T::new();
    t.add(W, "A", json!({"priority": 10, "deps": ["B"]}));
    t.add(W, "B", json!({"priority": 5, "deps": ["C"]}));
    t.add(W, "C", json!({"priority": 1}));
    t.add(W, "D", json!({"priority": 6}));
    t.order(&["C", "B", "A", "D"]);
}

#[test]
fn priority_never_decreases_with_multiple_updates() {
    let mut t = T::new();
    t.add(W, "A", json!({"priority": 1}));
    t.add(W, "B", json!({"priority": 10, "deps": ["A"]}));
    t.add(W, "C", json!({"priority": 5, "deps": ["A"]}));
    t.add(W, "D", json!({"priority": 6}));
    t.order(&["A", "B", "D", "C"]);
}

#[test]
fn priority_not_decreased_by_later_add() {
    let mut t = T::new();
    t.add(W, "A", json!({"priority": 10}));
    t.add(W, "A", json!({"priority": 3}));
    assert_num(&t.tl("PENDING", "")["A"]["priority"], 10.0);
}

#[test]
fn priority_shown_after_propagation() {
    let mut t = T::new();
    t.add1(W, "A");
    t.add(W, "B", json!({"priority": 42, "deps": ["A"]}));
    assert_num(&t.tl("", "")["A"]["priority"], 42.0);
}

#[test]
fn priority_update_with_pruning_keeps_order() {
    let mut t = T::new();
    t.at(0.0);
    t.add1("X", "A");
    t.at(50.0);
    t.prune();
    t.add("X", "B", json!({"deps": ["A"]}));
    t.at(2000.0);
    t.prune();
    t.add(W, "C", json!({"deps": ["B"], "priority": 100}));
    t.add(W, "B", json!({"deps": ["A"]}));
    t.add1(W, "A");
    t.add(W, "D", json!({"priority": 10}));
    t.order(&["A", "B", "C", "D"]);
}

#[test]
fn older_task_first_on_equal_priority() {
    let mut t = T::new();
    t.at(10.0);
    t.add1(W, "late_name_first");
    t.at(5.0);
    // An earlier creation time wins; the clock going backwards is only a way to say so.
    t.add1(W, "zzz");
    t.at(20.0);
    assert_eq!(t.work(W).as_deref(), Some("zzz"));
}

// ---------------------------------------------------------------- tracking url

#[test]
fn tracking_url_not_wiped_while_running() {
    let mut t = T::new();
    t.add(
        "X",
        "A",
        json!({"status": "RUNNING", "tracking_url": "trackme"}),
    );
    assert_eq!(t.tl("RUNNING", "")["A"]["tracking_url"], "trackme");
    t.add("Y", "A", json!({"status": "PENDING"}));
    assert_eq!(t.tl("RUNNING", "")["A"]["tracking_url"], "trackme");
}

#[test]
fn tracking_url_updated_while_running() {
    let mut t = T::new();
    t.add(
        "X",
        "A",
        json!({"status": "RUNNING", "tracking_url": "trackme"}),
    );
    t.add(
        "X",
        "A",
        json!({"status": "RUNNING", "tracking_url": "stage_2"}),
    );
    assert_eq!(t.tl("RUNNING", "")["A"]["tracking_url"], "stage_2");
}

#[test]
fn tracking_url_kept_on_done_and_failed() {
    for status in ["DONE", "FAILED"] {
        let mut t = T::new();
        t.add(
            "X",
            "A",
            json!({"status": "RUNNING", "tracking_url": "trackme"}),
        );
        t.set("X", "A", status);
        assert_eq!(t.tl(status, "")["A"]["tracking_url"], "trackme", "{status}");
    }
}

#[test]
fn tracking_url_dropped_when_rescheduled_while_not_running() {
    for status in ["DONE", "FAILED", "PENDING"] {
        let mut t = T::new();
        t.add(
            "X",
            "A",
            json!({"status": status, "tracking_url": "trackme"}),
        );
        assert_eq!(t.tl(status, "")["A"]["tracking_url"], "trackme");
        t.add("Y", "A", json!({"status": "PENDING"}));
        assert_eq!(
            t.tl("PENDING", "")["A"]["tracking_url"],
            Value::Null,
            "{status}"
        );
    }
}

#[test]
fn tracking_url_reset_on_new_run() {
    let mut t = T::new();
    t.add(
        "X",
        "A",
        json!({"status": "PENDING", "tracking_url": "trackme"}),
    );
    t.add("Y", "A", json!({"status": "RUNNING"}));
    assert_eq!(t.tl("RUNNING", "")["A"]["tracking_url"], Value::Null);
}

// ---------------------------------------------------------------- other fields

#[test]
fn expl_is_kept_and_fetched() {
    let mut t = T::new();
    t.add1(W, "A");
    t.add(W, "A", json!({"status": "FAILED", "expl": "trace back"}));
    let e = t.c("fetch_error", json!({"task_id": "A"}));
    assert_eq!(e["error"], "trace back");
    assert_eq!(e["taskId"], "A");
    // A later add without expl keeps it.
    t.add1(W, "A");
    assert_eq!(
        t.c("fetch_error", json!({"task_id": "A"}))["error"],
        "trace back"
    );
}

#[test]
fn fetch_error_reports_task_fields() {
    let mut t = T::new();
    t.add(
        W,
        "Fam(x=1)",
        json!({"family": "Fam", "module": "m.py", "params": {"x": "1"}, "status": "FAILED", "expl": "e"}),
    );
    let e = t.c("fetch_error", json!({"task_id": "Fam(x=1)"}));
    assert_eq!(
        e,
        json!({"taskId": "Fam(x=1)", "error": "e", "displayName": "Fam(x=1)",
               "taskParams": {"x": "1"}, "taskModule": "m.py", "taskFamily": "Fam"})
    );
}

#[test]
fn fetch_error_of_unknown_task() {
    let mut t = T::new();
    assert_eq!(
        t.c("fetch_error", json!({"task_id": "nope"})),
        json!({"taskId": "nope", "error": ""})
    );
}

#[test]
fn display_name_built_from_family_and_params() {
    let mut t = T::new();
    t.add(
        W,
        "T_1_abc",
        json!({"family": "T", "params": {"a": "1", "b": "x"}}),
    );
    assert_eq!(t.tl("", "")["T_1_abc"]["display_name"], "T(a=1, b=x)");
}

#[test]
fn param_visibilities_show_only_public_params() {
    // Visibility 0 is public; hidden (1) and private (2) stay out of lists and display names.
    let mut t = T::new();
    t.add(
        W,
        "T_x",
        json!({"family": "T", "params": {"pub": "1", "secret": "2", "hid": "3"},
               "param_visibilities": {"pub": 0, "hid": 1, "secret": 2}}),
    );
    let task = &t.tl("", "")["T_x"];
    assert_eq!(task["params"], json!({"pub": "1"}));
    assert_eq!(task["display_name"], "T(pub=1)");
    // fetch_error still gives all parameters.
    let e = t.c("fetch_error", json!({"task_id": "T_x"}));
    assert_eq!(
        e["taskParams"],
        json!({"pub": "1", "secret": "2", "hid": "3"})
    );
}

#[test]
fn accepts_messages_shown_for_running_tasks() {
    let mut t = T::new();
    t.add(W, "A", json!({"accepts_messages": true}));
    t.add1(W, "B");
    assert!(t.tl("PENDING", "")["A"].get("accepts_messages").is_none());
    t.work(W);
    t.work(W);
    let running = t.tl("RUNNING", "");
    assert_eq!(running["A"]["accepts_messages"], true);
    assert_eq!(running["B"]["accepts_messages"], false);
}

#[test]
fn accepts_messages_hidden_when_messages_disabled() {
    let mut t = T::with(SchedulerConfig {
        send_messages: false,
        ..test_config()
    });
    t.add(W, "A", json!({"accepts_messages": true}));
    t.work(W);
    assert!(t.tl("RUNNING", "")["A"].get("accepts_messages").is_none());
}

#[test]
fn runnable_false_task_is_not_handed_out() {
    let mut t = T::new();
    t.add(W, "A", json!({"runnable": false}));
    assert_eq!(t.work(W), None);
    assert_eq!(t.tl("", "")["A"]["workers"], json!([]));
}

#[test]
fn failed_status_does_not_add_worker() {
    let mut t = T::new();
    t.set(W, "A", "FAILED");
    assert_eq!(t.tl("", "")["A"]["workers"], json!([]));
    t.set(W, "B", "PENDING");
    assert_eq!(t.tl("", "")["B"]["workers"], json!([W]));
}

#[test]
fn assistant_add_task_does_not_make_stakeholder() {
    // An assistant's add_task keeps the task but does not hold it alive.
    let mut t = T::new();
    t.at(0.0);
    t.add(W, "A", json!({"assistant": true, "status": "DONE"}));
    t.at(100.0);
    t.ping(W);
    t.prune();
    t.at(2000.0);
    t.ping(W);
    t.prune();
    assert!(t.tl("", "").as_object().is_some_and(|m| m.is_empty()));
}

#[test]
fn resources_listed_on_task() {
    let mut t = T::new();
    t.add(W, "A", json!({"resources": {"r": 2}}));
    assert_eq!(t.tl("", "")["A"]["resources"], json!({"r": 2}));
    assert_eq!(t.tl("", "")["A"]["resources_running"], Value::Null);
}

#[test]
fn resources_replaced_by_later_add() {
    let mut t = T::new();
    t.add(W, "A", json!({"resources": {"r": 2}}));
    t.add1(W, "A");
    assert_eq!(t.tl("", "")["A"]["resources"], json!({}));
}

#[test]
fn add_task_returns_null() {
    let mut t = T::new();
    assert_eq!(t.add1(W, "A"), Value::Null);
}

// ---------------------------------------------------------------- DONE cooldown, SUSPENDED

#[test]
fn pending_ignored_shortly_after_done() {
    let mut t = T::with(SchedulerConfig {
        stable_done_cooldown_secs: 10.0,
        ..test_config()
    });
    t.at(100.0);
    t.set(W, "A", "DONE");
    t.at(105.0);
    t.set(W, "A", "PENDING");
    assert_eq!(t.status("A"), "DONE");
    t.at(111.0);
    t.set(W, "A", "PENDING");
    assert_eq!(t.status("A"), "PENDING");
}

#[test]
fn pending_reschedules_done_without_cooldown() {
    let mut t = T::new();
    t.set(W, "A", "DONE");
    t.set(W, "A", "PENDING");
    assert_eq!(t.status("A"), "PENDING");
    assert_eq!(t.work(W).as_deref(), Some("A"));
}

#[test]
fn cooldown_ignores_the_whole_call() {
    // In the cooldown the call returns before anything else changes (no new dependency).
    let mut t = T::with(SchedulerConfig {
        stable_done_cooldown_secs: 10.0,
        ..test_config()
    });
    t.at(100.0);
    t.set(W, "A", "DONE");
    t.at(101.0);
    t.add(W, "A", json!({"deps": ["B"], "priority": 50}));
    let l = t.tl("", "");
    assert!(l.get("B").is_none());
    assert_num(&l["A"]["priority"], 0.0);
}

#[test]
fn suspended_is_stored_as_pending() {
    let mut t = T::new();
    t.set(W, "A", "DONE");
    t.set(W, "A", "SUSPENDED");
    assert_eq!(t.status("A"), "PENDING");
}

#[test]
fn suspended_does_not_stop_a_running_task() {
    // SUSPENDED is not a finished run, so a running task stays RUNNING.
    let mut t = T::new();
    t.add1(W, "A");
    assert_eq!(t.work(W).as_deref(), Some("A"));
    t.set(W, "A", "SUSPENDED");
    assert_eq!(t.status("A"), "RUNNING");
}

#[test]
fn done_from_running_worker_finishes_task() {
    let mut t = T::new();
    t.add1("X", "A");
    assert_eq!(t.work("X").as_deref(), Some("A"));
    t.set("Y", "A", "DONE");
    assert_eq!(t.status("A"), "RUNNING", "another worker cannot finish it");
    t.set("X", "A", "DONE");
    assert_eq!(t.status("A"), "DONE");
}

// ---------------------------------------------------------------- retry policy

#[test]
fn retry_policy_dict_overrides_retry_count() {
    let mut t = T::new();
    t.add(W, "A", json!({"retry_policy_dict": {"retry_count": 1}}));
    t.add(
        W,
        "A",
        json!({"status": "FAILED", "retry_policy_dict": {"retry_count": 1}}),
    );
    assert_eq!(t.status("A"), "DISABLED");
}

#[test]
fn retry_policy_dict_nulls_keep_defaults() {
    let mut t = T::new();
    let rp = json!({"retry_count": null, "disable_hard_timeout": null, "disable_window": null});
    for _ in 0..2 {
        t.add(W, "A", json!({"status": "FAILED", "retry_policy_dict": rp}));
    }
    assert_eq!(t.status("A"), "FAILED");
    t.add(W, "A", json!({"status": "FAILED", "retry_policy_dict": rp}));
    assert_eq!(t.status("A"), "DISABLED");
}

#[test]
fn retry_policy_applies_from_the_next_failure() {
    // The policy sent with a call is stored after the status change of that same call.
    let mut t = T::new();
    t.add(W, "A", json!({"deps": ["B"]}));
    t.add(
        W,
        "B",
        json!({"status": "FAILED", "retry_policy_dict": {"retry_count": 1}}),
    );
    assert_eq!(t.status("B"), "FAILED");
    t.add(
        W,
        "B",
        json!({"status": "FAILED", "retry_policy_dict": {"retry_count": 1}}),
    );
    assert_eq!(t.status("B"), "DISABLED");
}

#[test]
fn retry_policy_window_per_task() {
    // retry_count 2 inside a 5 s window: two failures 10 s apart do not disable.
    let mut t = T::new();
    let rp = json!({"retry_count": 2, "disable_window": 5});
    t.at(0.0);
    t.add(W, "A", json!({"status": "FAILED", "retry_policy_dict": rp}));
    t.at(10.0);
    t.add(W, "A", json!({"status": "FAILED", "retry_policy_dict": rp}));
    assert_eq!(t.status("A"), "FAILED");
    t.at(11.0);
    t.add(W, "A", json!({"status": "FAILED", "retry_policy_dict": rp}));
    assert_eq!(t.status("A"), "DISABLED");
}

//! Argument errors: luigid answers 500 for a missing or badly typed argument, 404 for an
//! unknown method; explicit nulls stand for Python's None defaults.

use super::common::*;

fn bad_names(t: &mut T, method: &str, args: Value, arg: &str) {
    let m = t.bad(method, args);
    assert!(
        m.contains(arg),
        "{method}: message {m:?} should name {arg:?}"
    );
}

#[test]
fn unknown_method() {
    let mut t = T::new();
    match t.raw("no_such_method", json!({})) {
        Err(ApiError::UnknownMethod(m)) => assert_eq!(m, "no_such_method"),
        other => panic!("expected UnknownMethod, got {other:?}"),
    }
}

#[test]
fn private_methods_are_unknown() {
    let mut t = T::new();
    for m in ["_prune_tasks", "load", "dump", "__init__", "resources"] {
        assert!(
            matches!(t.raw(m, json!({})), Err(ApiError::UnknownMethod(_))),
            "{m}"
        );
    }
}

#[test]
fn add_task_without_worker() {
    let mut t = T::new();
    bad_names(&mut t, "add_task", json!({"task_id": "A"}), "worker");
}

#[test]
fn get_work_without_worker() {
    let mut t = T::new();
    bad_names(&mut t, "get_work", json!({}), "worker");
}

#[test]
fn ping_without_worker() {
    let mut t = T::new();
    bad_names(&mut t, "ping", json!({}), "worker");
}

#[test]
fn count_pending_without_worker() {
    let mut t = T::new();
    bad_names(&mut t, "count_pending", json!({}), "worker");
}

#[test]
fn fetch_error_without_task_id() {
    let mut t = T::new();
    bad_names(&mut t, "fetch_error", json!({}), "task_id");
}

#[test]
fn dep_graph_without_task_id() {
    let mut t = T::new();
    bad_names(&mut t, "dep_graph", json!({}), "task_id");
    bad_names(&mut t, "inverse_dep_graph", json!({}), "task_id");
}

#[test]
fn task_search_without_task_str() {
    let mut t = T::new();
    bad_names(&mut t, "task_search", json!({}), "task_str");
}

#[test]
fn update_resource_without_amount() {
    let mut t = T::new();
    bad_names(
        &mut t,
        "update_resource",
        json!({"resource": "r"}),
        "amount",
    );
}

#[test]
fn add_task_batcher_missing_arguments() {
    let mut t = T::new();
    bad_names(
        &mut t,
        "add_task_batcher",
        json!({"worker": W, "task_family": "F"}),
        "batched_args",
    );
}

#[test]
fn set_worker_processes_missing_n() {
    let mut t = T::new();
    bad_names(&mut t, "set_worker_processes", json!({"worker": W}), "n");
}

#[test]
fn send_scheduler_message_missing_content() {
    let mut t = T::new();
    bad_names(
        &mut t,
        "send_scheduler_message",
        json!({"worker": W, "task": "A"}),
        "content",
    );
}

#[test]
fn unexpected_argument_for_method_without_kwargs() {
    let mut t = T::new();
    bad_names(
        &mut t,
        "update_resource",
        json!({"resource": "r", "amount": 1, "bogus": 2}),
        "bogus",
    );
    bad_names(&mut t, "is_paused", json!({"bogus": 1}), "bogus");
}

#[test]
fn unexpected_argument_for_method_with_kwargs_ignored() {
    let mut t = T::new();
    t.add(W, "A", json!({"bogus": 1}));
    assert_eq!(t.ids("", ""), set(&["A"]));
    t.c(
        "task_list",
        json!({"status": "", "upstream_status": "", "bogus": 1}),
    );
    t.c("ping", json!({"worker": W, "bogus": 1}));
}

#[test]
fn wrong_type_worker() {
    let mut t = T::new();
    bad_names(
        &mut t,
        "add_task",
        json!({"worker": 5, "task_id": "A"}),
        "worker",
    );
    bad_names(&mut t, "get_work", json!({"worker": ["x"]}), "worker");
}

#[test]
fn wrong_type_deps() {
    let mut t = T::new();
    bad_names(
        &mut t,
        "add_task",
        json!({"worker": W, "task_id": "A", "deps": 5}),
        "deps",
    );
}

#[test]
fn wrong_type_resources() {
    let mut t = T::new();
    bad_names(
        &mut t,
        "add_task",
        json!({"worker": W, "task_id": "A", "resources": "lots"}),
        "resources",
    );
}

// luigid itself stores such a batcher and fails later, in get_work; we refuse it up front.
#[test]
fn wrong_type_batched_args() {
    let mut t = T::new();
    bad_names(
        &mut t,
        "add_task_batcher",
        json!({"worker": W, "task_family": "F", "batched_args": 3}),
        "batched_args",
    );
}

#[test]
fn wrong_type_add_worker_info() {
    let mut t = T::new();
    bad_names(
        &mut t,
        "add_worker",
        json!({"worker": W, "info": 3}),
        "info",
    );
}

#[test]
fn explicit_nulls_accepted_in_add_task() {
    let mut t = T::new();
    t.add(
        W,
        "A",
        json!({"deps": null, "new_deps": null, "expl": null, "resources": null, "module": null,
               "params": null, "param_visibilities": null, "tracking_url": null,
               "batchable": null, "batch_id": null, "retry_policy_dict": null, "owners": null}),
    );
    assert_eq!(t.work(W).as_deref(), Some("A"));
    let a = &t.tl("", "")["A"];
    assert_eq!(a["params"], json!({}));
    assert_eq!(a["resources"], json!({}));
}

#[test]
fn explicit_nulls_accepted_in_task_list() {
    let mut t = T::new();
    t.add1(W, "A");
    let l = t.c(
        "task_list",
        json!({"status": null, "upstream_status": null, "search": null, "max_shown_tasks": null}),
    );
    assert_eq!(keys(&l), set(&["A"]));
}

#[test]
fn task_list_without_arguments() {
    let mut t = T::new();
    t.add1(W, "A");
    assert_eq!(keys(&t.c("task_list", json!({}))), set(&["A"]));
}

#[test]
fn null_task_id_in_forgive_and_mark() {
    let mut t = T::new();
    assert_eq!(
        t.c("mark_as_done", json!({"task_id": null})),
        json!({"task_id": null, "status": null})
    );
}

// Python's default is infinity, which a worker's JSON may carry as a bare `Infinity`; we
// read null the same way (luigid would fail on it later, in get_work).
#[test]
fn null_max_batch_size_is_unlimited() {
    let mut t = T::new();
    t.c(
        "add_task_batcher",
        json!({"worker": W, "task_family": "A", "batched_args": ["a"], "max_batch_size": null}),
    );
    for a in ["1", "2", "3"] {
        t.add(
            W,
            &format!("A_{a}"),
            json!({"family": "A", "params": {"a": a}, "batchable": true}),
        );
    }
    let r = t.gw(W, json!({}));
    assert_eq!(r["task_params"], json!({"a": ["1", "2", "3"]}));
}

#[test]
fn failed_call_changes_nothing() {
    let mut t = T::new();
    t.bad("add_task", json!({"task_id": "A"}));
    assert!(t.ids("", "").is_empty());
}

#[test]
fn all_rpc_methods_known() {
    let mut t = T::new();
    let methods = [
        "add_task",
        "add_task_batcher",
        "add_worker",
        "announce_scheduling_failure",
        "count_pending",
        "get_work",
        "ping",
        "set_task_status_message",
        "get_task_status_message",
        "set_task_progress_percentage",
        "get_task_progress_percentage",
        "decrease_running_task_resources",
        "get_running_task_resources",
        "report_task_statistics",
        "send_scheduler_message",
        "add_scheduler_message_response",
        "get_scheduler_message_response",
        "graph",
        "dep_graph",
        "inverse_dep_graph",
        "task_list",
        "worker_list",
        "resource_list",
        "task_search",
        "re_enable_task",
        "fetch_error",
        "forgive_failures",
        "mark_as_done",
        "disable_worker",
        "set_worker_processes",
        "is_pause_enabled",
        "is_paused",
        "pause",
        "unpause",
        "has_task_history",
        "update_resource",
        "update_resources",
        "prune",
        "update_metrics_task_started",
    ];
    for m in methods {
        // Known methods fail, if at all, on their arguments, never as unknown.
        assert!(
            !matches!(t.raw(m, json!({})), Err(ApiError::UnknownMethod(_))),
            "{m}"
        );
    }
}

#[test]
fn add_task_without_task_id() {
    // luigid would file the task under the id None; we refuse.
    let mut t = T::new();
    bad_names(&mut t, "add_task", json!({"worker": W}), "task_id");
}

#[test]
fn add_task_with_unknown_status() {
    let mut t = T::new();
    bad_names(
        &mut t,
        "add_task",
        json!({"worker": W, "task_id": "A", "status": "BOGUS"}),
        "status",
    );
    assert!(t.ids("", "").is_empty());
}

#[test]
fn add_task_with_non_numeric_resources_or_list_params() {
    let mut t = T::new();
    bad_names(
        &mut t,
        "add_task",
        json!({"worker": W, "task_id": "A", "resources": {"r": "1"}}),
        "resources",
    );
    bad_names(
        &mut t,
        "add_task",
        json!({"worker": W, "task_id": "A", "params": ["x"]}),
        "params",
    );
}

#[test]
fn add_task_with_non_numeric_priority() {
    let mut t = T::new();
    bad_names(
        &mut t,
        "add_task",
        json!({"worker": W, "task_id": "A", "priority": "5"}),
        "priority",
    );
}

#[test]
fn get_work_current_tasks_must_be_a_list() {
    let mut t = T::new();
    bad_names(
        &mut t,
        "get_work",
        json!({"worker": W, "current_tasks": "A"}),
        "current_tasks",
    );
}

#[test]
fn task_list_status_must_be_a_string() {
    let mut t = T::new();
    bad_names(&mut t, "task_list", json!({"status": 5}), "status");
    bad_names(&mut t, "task_list", json!({"search": 5}), "search");
}

#[test]
fn update_resources_values_must_be_numbers() {
    let mut t = T::new();
    bad_names(&mut t, "update_resources", json!({"a": "x"}), "a");
}

#[test]
fn null_runnable_means_not_runnable() {
    // Python tests `if runnable`: None is false, so the worker is not added.
    let mut t = T::new();
    t.add(W, "A", json!({"runnable": null}));
    assert_eq!(t.tl("", "")["A"]["workers"], json!([]));
    assert_eq!(t.work(W), None);
}

#[test]
fn null_accepts_messages_and_family_accepted() {
    let mut t = T::new();
    t.add(W, "A", json!({"accepts_messages": null, "family": null}));
    assert_eq!(t.work(W).as_deref(), Some("A"));
}

#[test]
fn fetch_error_with_null_task_id() {
    let mut t = T::new();
    assert_eq!(
        t.c("fetch_error", json!({"task_id": null})),
        json!({"taskId": null, "error": ""})
    );
}

#[test]
fn worker_argument_null_is_missing() {
    let mut t = T::new();
    bad_names(
        &mut t,
        "add_task",
        json!({"worker": null, "task_id": "A"}),
        "worker",
    );
    bad_names(&mut t, "ping", json!({"worker": null}), "worker");
    bad_names(&mut t, "count_pending", json!({"worker": null}), "worker");
}

//! Messages, status messages, progress, ping, history flag and the reply-less RPCs.

use super::common::*;

#[test]
fn ping_returns_no_messages() {
    let mut t = T::new();
    assert_eq!(t.ping(W), json!({"rpc_messages": []}));
}

#[test]
fn set_worker_processes_queues_message_once() {
    let mut t = T::new();
    t.ping(W);
    assert_eq!(
        t.c("set_worker_processes", json!({"worker": W, "n": 3})),
        Value::Null
    );
    assert_num(
        &t.c("worker_list", json!({}))[0]["num_unread_rpc_messages"],
        1.0,
    );
    assert_eq!(
        t.ping(W),
        json!({"rpc_messages": [{"name": "set_worker_processes", "kwargs": {"n": 3}}]})
    );
    assert_eq!(t.ping(W), json!({"rpc_messages": []}));
}

#[test]
fn send_scheduler_message_dispatches_to_worker() {
    let mut t = T::new();
    t.add(W, "A", json!({"accepts_messages": true}));
    t.work(W);
    let r = t.c(
        "send_scheduler_message",
        json!({"worker": W, "task": "A", "content": "hello"}),
    );
    let id = r["message_id"].as_str().unwrap_or_default().to_string();
    assert!(!id.is_empty());
    let msgs = t.ping(W);
    let m = &msgs["rpc_messages"][0];
    assert_eq!(m["name"], "dispatch_scheduler_message");
    assert_eq!(
        m["kwargs"],
        json!({"task_id": "A", "message_id": id, "content": "hello"})
    );
}

#[test]
fn message_ids_differ() {
    let mut t = T::new();
    let a = t.c(
        "send_scheduler_message",
        json!({"worker": W, "task": "A", "content": "1"}),
    );
    let b = t.c(
        "send_scheduler_message",
        json!({"worker": W, "task": "A", "content": "2"}),
    );
    assert_ne!(a["message_id"], b["message_id"]);
}

#[test]
fn send_scheduler_message_disabled() {
    let mut t = T::with(SchedulerConfig {
        send_messages: false,
        ..test_config()
    });
    let r = t.c(
        "send_scheduler_message",
        json!({"worker": W, "task": "A", "content": "x"}),
    );
    assert_eq!(r, json!({"message_id": null}));
    assert_eq!(t.ping(W), json!({"rpc_messages": []}));
}

#[test]
fn scheduler_message_response_round_trip() {
    let mut t = T::new();
    t.add1(W, "A");
    assert_eq!(
        t.c(
            "add_scheduler_message_response",
            json!({"task_id": "A", "message_id": "m1", "response": "ok"})
        ),
        Value::Null
    );
    let args = json!({"task_id": "A", "message_id": "m1"});
    assert_eq!(
        t.c("get_scheduler_message_response", args.clone()),
        json!({"response": "ok"})
    );
    // Popped on read.
    assert_eq!(
        t.c("get_scheduler_message_response", args),
        json!({"response": null})
    );
}

#[test]
fn scheduler_message_response_for_unknown_task_dropped() {
    let mut t = T::new();
    t.c(
        "add_scheduler_message_response",
        json!({"task_id": "Z", "message_id": "m1", "response": "ok"}),
    );
    assert_eq!(
        t.c(
            "get_scheduler_message_response",
            json!({"task_id": "Z", "message_id": "m1"})
        ),
        json!({"response": null})
    );
}

#[test]
fn status_message_round_trip() {
    let mut t = T::new();
    t.add1(W, "A");
    t.c(
        "set_task_status_message",
        json!({"task_id": "A", "status_message": "half way"}),
    );
    assert_eq!(
        t.c("get_task_status_message", json!({"task_id": "A"})),
        json!({"taskId": "A", "statusMessage": "half way"})
    );
    assert_eq!(t.tl("", "")["A"]["status_message"], "half way");
}

#[test]
fn status_message_of_unknown_task() {
    let mut t = T::new();
    assert_eq!(
        t.c("get_task_status_message", json!({"task_id": "Z"})),
        json!({"taskId": "Z", "statusMessage": ""})
    );
    t.add1(W, "A");
    assert_eq!(
        t.c("get_task_status_message", json!({"task_id": "A"})),
        json!({"taskId": "A", "statusMessage": null})
    );
}

#[test]
fn progress_round_trip() {
    let mut t = T::new();
    t.add1(W, "A");
    t.c(
        "set_task_progress_percentage",
        json!({"task_id": "A", "progress_percentage": 42}),
    );
    assert_eq!(
        t.c("get_task_progress_percentage", json!({"task_id": "A"})),
        json!({"taskId": "A", "progressPercentage": 42})
    );
    assert_eq!(
        t.c("get_task_progress_percentage", json!({"task_id": "Z"})),
        json!({"taskId": "Z", "progressPercentage": null})
    );
}

#[test]
fn has_task_history_follows_config() {
    let mut t = T::new();
    assert_eq!(t.c("has_task_history", json!({})), json!(false));
    let mut t = T::with(SchedulerConfig {
        record_task_history: true,
        ..test_config()
    });
    assert_eq!(t.c("has_task_history", json!({})), json!(true));
}

#[test]
fn announce_scheduling_failure_returns_null() {
    let mut t = T::new();
    let args = json!({"worker": W, "task_name": "T(a=1)", "family": "T", "params": {"a": "1"},
                      "expl": "error", "owners": ["owner"]});
    assert_eq!(
        t.c("announce_scheduling_failure", args.clone()),
        Value::Null
    );
    let mut t = T::with(SchedulerConfig {
        batch_emails: true,
        ..test_config()
    });
    assert_eq!(t.c("announce_scheduling_failure", args), Value::Null);
}

#[test]
fn add_task_with_owners_and_batch_emails() {
    let mut t = T::with(SchedulerConfig {
        batch_emails: true,
        retry_count: 1.0,
        ..test_config()
    });
    t.add(
        W,
        "T(a=5)",
        json!({"status": "FAILED", "family": "T", "params": {"a": "5"}, "expl": "\"bad\"",
               "owners": ["a@test.com"]}),
    );
    assert_eq!(t.status("T(a=5)"), "DISABLED");
}

#[test]
fn report_task_statistics_and_metrics_hook_return_null() {
    let mut t = T::new();
    t.add1(W, "A");
    assert_eq!(
        t.c(
            "report_task_statistics",
            json!({"task_id": "A", "statistics": {"x": 1}})
        ),
        Value::Null
    );
    assert_eq!(
        t.c("update_metrics_task_started", json!({"task": "A"})),
        Value::Null
    );
}

#[test]
fn add_worker_and_disable_worker_return_null() {
    let mut t = T::new();
    assert_eq!(
        t.c("add_worker", json!({"worker": W, "info": {"k": "v"}})),
        Value::Null
    );
    assert_eq!(t.c("disable_worker", json!({"worker": W})), Value::Null);
    assert_eq!(
        t.c(
            "add_task_batcher",
            json!({"worker": W, "task_family": "F", "batched_args": ["a"]})
        ),
        Value::Null
    );
}

#[test]
fn add_worker_info_merges() {
    let mut t = T::new();
    t.add_worker(W, json!({"a": 1}));
    t.add_worker(W, json!([["b", 2]]));
    let wl = t.c("worker_list", json!({}));
    assert_num(&wl[0]["a"], 1.0);
    assert_num(&wl[0]["b"], 2.0);
}

#[test]
fn unpause_and_pause_return_null() {
    let mut t = T::new();
    assert_eq!(t.c("pause", json!({})), Value::Null);
    assert_eq!(t.c("unpause", json!({})), Value::Null);
}

#[test]
fn reserved_message_id_argument_used() {
    // The App passes a fresh id in `_message_id` so that replaying the journal is exact.
    let mut t = T::new();
    let r = t.c(
        "send_scheduler_message",
        json!({"worker": W, "task": "A", "content": "c", "_message_id": "fixed-id"}),
    );
    assert_eq!(r, json!({"message_id": "fixed-id"}));
    assert_eq!(
        t.ping(W)["rpc_messages"][0]["kwargs"]["message_id"],
        "fixed-id"
    );
}

#[test]
fn mutating_methods_classified() {
    for m in [
        "add_task",
        "get_work",
        "prune",
        "pause",
        "update_resource",
        "set_worker_processes",
        "send_scheduler_message",
        "mark_as_done",
    ] {
        assert!(api::method(m).is_some_and(|m| m.is_mutating()), "{m}");
    }
    for m in [
        "task_list",
        "graph",
        "worker_list",
        "fetch_error",
        "is_paused",
    ] {
        assert!(!api::method(m).is_some_and(|m| m.is_mutating()), "{m}");
    }
}

#[test]
fn last_scheduled_is_first_adder_order() {
    // Workers are kept in first-seen order: re-adding does not make W the last one again.
    let mut t = T::new();
    t.add1(W, "A");
    t.add1("o", "A");
    t.add1(W, "A");
    assert_num(&t.count_pending(W)["n_pending_last_scheduled"], 0.0);
    assert_num(&t.count_pending("o")["n_pending_last_scheduled"], 1.0);
    assert_eq!(t.tl("", "")["A"]["workers"], json!([W, "o"]));
}

#[test]
fn status_message_for_unknown_task_creates_nothing() {
    let mut t = T::new();
    t.c(
        "set_task_status_message",
        json!({"task_id": "Z", "status_message": "x"}),
    );
    t.c(
        "set_task_progress_percentage",
        json!({"task_id": "Z", "progress_percentage": 5}),
    );
    assert_eq!(t.tl("", ""), json!({}));
}

#[test]
fn update_resource_accepts_booleans_like_python() {
    // isinstance(True, int) holds in Python, so luigid stores True as the amount.
    let mut t = T::new();
    assert_eq!(
        t.c("update_resource", json!({"resource": "r", "amount": true})),
        json!(true)
    );
    assert_eq!(t.c("resource_list", json!({}))[0]["num_total"], json!(true));
}

#[test]
fn unread_messages_counted_until_ping() {
    let mut t = T::new();
    for c in ["x", "y"] {
        t.c(
            "send_scheduler_message",
            json!({"worker": W, "task": "A", "content": c}),
        );
    }
    assert_num(
        &t.c("worker_list", json!({}))[0]["num_unread_rpc_messages"],
        2.0,
    );
    assert_eq!(t.ping(W)["rpc_messages"].as_array().map(Vec::len), Some(2));
    assert_num(
        &t.c("worker_list", json!({}))[0]["num_unread_rpc_messages"],
        0.0,
    );
}

#[test]
fn replay_classification_of_methods() {
    // Reads that change state in luigid: prune-running lists, the popping response read,
    // ping (drains messages) and count_pending (creates the worker).
    for m in [
        "task_list",
        "graph",
        "worker_list",
        "get_scheduler_message_response",
        "ping",
        "count_pending",
    ] {
        assert!(api::method(m).is_some_and(|m| m.changes_state()), "{m}");
    }
    for m in ["fetch_error", "is_paused", "get_task_status_message"] {
        assert!(!api::method(m).is_some_and(|m| m.changes_state()), "{m}");
    }
    for m in [
        "graph",
        "dep_graph",
        "task_list",
        "worker_list",
        "resource_list",
        "task_search",
    ] {
        assert!(api::method(m).is_some_and(|m| m.prunes), "{m}");
    }
    assert!(!api::method("add_task").is_some_and(|m| m.prunes));
    assert!(
        !api::method("get_work").is_some_and(|m| m.prunes),
        "prune_on_get_work is off by default"
    );
}

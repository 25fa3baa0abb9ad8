//! Resources: capacity checks, greedy reservation for busy workers, resource RPCs.

use super::common::*;

#[test]
fn undeclared_resource_allows_one() {
    let mut t = T::new();
    t.add("X", "A", json!({"resources": {"R1": 1}}));
    assert_eq!(t.work("X").as_deref(), Some("A"));
}

#[test]
fn undeclared_resource_disallows_two() {
    let mut t = T::new();
    t.add("X", "A", json!({"resources": {"R1": 2}}));
    assert_eq!(t.work("X"), None);
}

#[test]
fn insufficient_resources() {
    let mut t = T::new();
    t.add("X", "A", json!({"resources": {"R1": 3}}));
    t.update_resources(json!({"R1": 2}));
    assert_eq!(t.work("X"), None);
}

#[test]
fn sufficient_resources() {
    let mut t = T::new();
    t.add("X", "A", json!({"resources": {"R1": 3}}));
    t.update_resources(json!({"R1": 3}));
    assert_eq!(t.work("X").as_deref(), Some("A"));
}

#[test]
fn resources_in_use_block() {
    let mut t = T::new();
    t.add("X", "A", json!({"resources": {"R1": 1}}));
    assert_eq!(t.work("X").as_deref(), Some("A"));
    t.add("Y", "B", json!({"resources": {"R1": 1}}));
    t.update_resources(json!({"R1": 1}));
    assert_eq!(t.work("Y"), None);
}

#[test]
fn overprovisioned_other_resource_does_not_block() {
    let mut t = T::new();
    t.add("X", "A", json!({"resources": {"R1": 2}}));
    t.update_resources(json!({"R1": 2}));
    assert_eq!(t.work("X").as_deref(), Some("A"));
    t.add("Y", "B", json!({"resources": {"R2": 2}}));
    t.update_resources(json!({"R1": 1, "R2": 2}));
    assert_eq!(t.work("Y").as_deref(), Some("B"));
}

#[test]
fn priority_and_competing_resources() {
    let mut t = T::new();
    t.add1("X", "A");
    assert_eq!(t.work("X").as_deref(), Some("A"));
    t.add("X", "B", json!({"resources": {"R": 1}, "priority": 10}));
    t.add("Y", "C", json!({"resources": {"R": 1}, "priority": 1}));
    t.update_resources(json!({"R": 1}));
    assert_eq!(t.work("Y"), None);
    t.add("Y", "D", json!({"priority": 0}));
    assert_eq!(t.work("Y").as_deref(), Some("D"));
}

#[test]
fn no_lock_when_owner_not_ready() {
    let mut t = T::new();
    t.add("X", "A", json!({"priority": 10}));
    t.add("X", "B", json!({"resources": {"R": 1}, "priority": 5}));
    t.add("Y", "C", json!({"resources": {"R": 1}, "priority": 1}));
    t.update_resources(json!({"R": 1}));
    t.add_worker("X", json!([["workers", 1]]));
    assert_eq!(t.work("Y").as_deref(), Some("C"));
}

#[test]
fn lock_when_one_of_multiple_workers_ready() {
    let mut t = T::new();
    t.work("X");
    t.add("X", "A", json!({"priority": 10}));
    t.add("X", "B", json!({"resources": {"R": 1}, "priority": 5}));
    t.add("Y", "C", json!({"resources": {"R": 1}, "priority": 1}));
    t.update_resources(json!({"R": 1}));
    t.add_worker("X", json!([["workers", 2]]));
    t.add_worker("Y", json!([]));
    assert_eq!(t.work("Y"), None);
}

#[test]
fn no_lock_while_running_higher_priority() {
    let mut t = T::new();
    t.add("X", "A", json!({"priority": 10}));
    t.add("X", "B", json!({"resources": {"R": 1}, "priority": 5}));
    t.add("Y", "C", json!({"resources": {"R": 1}, "priority": 1}));
    t.update_resources(json!({"R": 1}));
    t.add_worker("X", json!([["workers", 1]]));
    assert_eq!(t.work("X").as_deref(), Some("A"));
    assert_eq!(t.work("Y").as_deref(), Some("C"));
}

#[test]
fn lock_while_running_lower_priority() {
    let mut t = T::new();
    t.add("X", "A", json!({"priority": 4}));
    assert_eq!(t.work("X").as_deref(), Some("A"));
    t.add("X", "B", json!({"resources": {"R": 1}, "priority": 5}));
    t.add("Y", "C", json!({"resources": {"R": 1}, "priority": 1}));
    t.update_resources(json!({"R": 1}));
    t.add_worker("X", json!([["workers", 1]]));
    assert_eq!(t.work("Y"), None);
}

#[test]
fn lock_for_second_worker() {
    let mut t = T::new();
    t.work("Y");
    t.add("X", "A", json!({"resources": {"R": 1}}));
    t.add("X", "B", json!({"resources": {"R": 1}}));
    t.add("Y", "C", json!({"resources": {"R": 1}, "priority": 10}));
    t.add_worker("X", json!({"workers": 2}));
    t.add_worker("Y", json!({"workers": 1}));
    t.update_resources(json!({"R": 2}));
    assert_eq!(t.work("X").as_deref(), Some("A"));
    assert_eq!(t.work("X"), None);
}

#[test]
fn lower_priority_work_while_waiting_for_resources() {
    let mut t = T::new();
    t.add("X", "A", json!({"resources": {"R": 1}, "priority": 0}));
    assert_eq!(t.work("X").as_deref(), Some("A"));
    t.add("Y", "B", json!({"resources": {"R": 1}, "priority": 10}));
    t.add("Y", "C", json!({"priority": 0}));
    t.update_resources(json!({"R": 1}));
    assert_eq!(t.work("Y").as_deref(), Some("C"));
}

#[test]
fn update_resources_then_smaller_task() {
    let mut t = T::new();
    t.add(W, "A", json!({"deps": ["B"]}));
    t.add(W, "B", json!({"resources": {"r": 2}}));
    t.update_resources(json!({"r": 1}));
    t.order(&[]);
    t.add(W, "B", json!({"resources": {"r": 1}}));
    t.order(&["B", "A"]);
}

#[test]
fn multiple_resources() {
    let mut t = T::new();
    t.add(W, "A", json!({"resources": {"r1": 1, "r2": 1}}));
    t.add(W, "B", json!({"resources": {"r1": 1, "r2": 1}}));
    t.add(W, "C", json!({"resources": {"r1": 1}}));
    t.update_resources(json!({"r1": 2, "r2": 1}));
    assert_eq!(t.work(W).as_deref(), Some("A"));
    t.order(&["C"]);
}

#[test]
fn single_resource_lock() {
    let mut t = T::new();
    t.add("X", "A", json!({"resources": {"r": 1}}));
    assert_eq!(t.work("X").as_deref(), Some("A"));
    t.add(W, "B", json!({"resources": {"r": 2}, "priority": 10}));
    t.add(W, "C", json!({"resources": {"r": 1}}));
    t.update_resources(json!({"r": 2}));
    t.order(&[]);
}

#[test]
fn no_lock_if_too_many_resources_required() {
    let mut t = T::new();
    t.add(W, "A", json!({"resources": {"r": 2}, "priority": 10}));
    t.add(W, "B", json!({"resources": {"r": 1}}));
    t.update_resources(json!({"r": 1}));
    t.order(&["B"]);
}

#[test]
fn multiple_resources_lock() {
    let mut t = T::new();
    t.work("X");
    t.add(
        "X",
        "A",
        json!({"resources": {"r1": 1, "r2": 1}, "priority": 10}),
    );
    t.add(W, "B", json!({"resources": {"r2": 1}}));
    t.add(W, "C", json!({"resources": {"r1": 1}}));
    t.update_resources(json!({"r1": 1, "r2": 1}));
    t.order(&[]);
}

#[test]
fn multiple_resources_no_lock() {
    let mut t = T::new();
    t.add(W, "A", json!({"resources": {"r1": 1}, "priority": 10}));
    t.add(
        W,
        "B",
        json!({"resources": {"r1": 1, "r2": 1}, "priority": 10}),
    );
    t.add(W, "C", json!({"resources": {"r2": 1}}));
    t.update_resources(json!({"r1": 1, "r2": 2}));
    assert_eq!(t.work(W).as_deref(), Some("A"));
    t.order(&["C"]);
}

#[test]
fn running_task_keeps_resources_it_started_with() {
    let mut t = T::new();
    t.add(W, "A1", json!({"resources": {"a": 1}, "priority": 10}));
    t.add(W, "A2", json!({"resources": {"a": 1}, "priority": 1}));
    assert_eq!(t.work(W).as_deref(), Some("A1"));
    assert_eq!(t.work(W), None);
    t.add("other", "A1", json!({"resources": {"b": 1}, "priority": 1}));
    assert_eq!(t.work(W), None);
}

#[test]
fn interleaved_resource_change_and_get_work() {
    let mut t = T::new();
    for i in 0..100 {
        t.add(
            W,
            &format!("A{i}"),
            json!({"resources": {"a": 1}, "priority": 100 - i}),
        );
    }
    for i in 0..100 {
        t.work(W);
        t.add(
            "other",
            &format!("A{i}"),
            json!({"resources": {"b": 1}, "priority": 100 - i}),
        );
    }
    assert_eq!(t.ids("RUNNING", "").len(), 2);
}

#[test]
fn resource_use_allowed_while_owner_is_scheduling() {
    let mut t = T::new();
    t.update_resources(json!({"r1": 1}));
    t.add(
        "SCHEDULING",
        "A",
        json!({"resources": {"r1": 1}, "priority": 10}),
    );
    t.add(W, "B", json!({"resources": {"r1": 1}, "priority": 1}));
    assert_eq!(t.work(W).as_deref(), Some("B"));
}

#[test]
fn stop_locking_for_uninterested_worker() {
    let mut t = T::new();
    t.at(0.0);
    t.update_resources(json!({"r1": 1}));
    assert_eq!(t.work(W), None);
    t.add(W, "A", json!({"resources": {"r1": 1}, "priority": 10}));
    t.add(
        "LOW_PRIO",
        "B",
        json!({"resources": {"r1": 1}, "priority": 1}),
    );
    assert_eq!(t.work("LOW_PRIO"), None);
    t.at(120.0);
    assert_eq!(t.work("LOW_PRIO").as_deref(), Some("B"));
}

#[test]
fn configured_resources_used() {
    let mut t = T::with(SchedulerConfig {
        resources: vec![("db".to_string(), 2)],
        ..test_config()
    });
    t.add(W, "A", json!({"resources": {"db": 2}}));
    assert_eq!(t.work(W).as_deref(), Some("A"));
    let rl = t.c("resource_list", json!({}));
    assert_eq!(rl[0]["name"], "db");
    assert_num(&rl[0]["num_total"], 2.0);
    assert_num(&rl[0]["num_used"], 2.0);
}

// ---------------------------------------------------------------- update_resource(s), resource_list

fn total(t: &mut T, name: &str) -> Option<f64> {
    let rl = t.c("resource_list", json!({}));
    rl.as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == name)
        .and_then(|r| r["num_total"].as_f64())
}

#[test]
fn update_new_resource() {
    let mut t = T::new();
    assert_eq!(total(&mut t, "new_resource"), None);
    let r = t.c(
        "update_resource",
        json!({"resource": "new_resource", "amount": 1}),
    );
    assert_eq!(r, json!(true));
    assert_eq!(total(&mut t, "new_resource"), Some(1.0));
}

#[test]
fn update_existing_resource() {
    let mut t = T::new();
    t.c(
        "update_resource",
        json!({"resource": "new_resource", "amount": 1}),
    );
    t.c(
        "update_resource",
        json!({"resource": "new_resource", "amount": 2}),
    );
    assert_eq!(total(&mut t, "new_resource"), Some(2.0));
}

#[test]
fn resource_set_to_zero() {
    let mut t = T::new();
    t.c(
        "update_resource",
        json!({"resource": "new_resource", "amount": 1}),
    );
    t.c(
        "update_resource",
        json!({"resource": "new_resource", "amount": 0}),
    );
    assert_eq!(total(&mut t, "new_resource"), Some(0.0));
}

#[test]
fn negative_resource_refused() {
    let mut t = T::new();
    t.c(
        "update_resource",
        json!({"resource": "new_resource", "amount": 1}),
    );
    let r = t.c(
        "update_resource",
        json!({"resource": "new_resource", "amount": -1}),
    );
    assert_eq!(r, json!(false));
    assert_eq!(total(&mut t, "new_resource"), Some(1.0));
}

#[test]
fn non_integer_resource_refused() {
    let mut t = T::new();
    t.c(
        "update_resource",
        json!({"resource": "new_resource", "amount": 1}),
    );
    for bad in [json!(1.3), json!("1"), Value::Null] {
        let r = t.c(
            "update_resource",
            json!({"resource": "new_resource", "amount": bad}),
        );
        assert_eq!(r, json!(false), "{bad}");
    }
    assert_eq!(total(&mut t, "new_resource"), Some(1.0));
}

#[test]
fn update_resources_returns_null_and_merges() {
    let mut t = T::new();
    assert_eq!(t.c("update_resources", json!({"a": 1})), Value::Null);
    t.update_resources(json!({"b": 2}));
    assert_eq!(total(&mut t, "a"), Some(1.0));
    assert_eq!(total(&mut t, "b"), Some(2.0));
}

#[test]
fn resource_list_shows_consumers() {
    let mut t = T::new();
    t.update_resources(json!({"r": 3}));
    t.add(W, "A", json!({"resources": {"r": 2}}));
    t.add(W, "B", json!({"resources": {"r": 1}}));
    t.work(W);
    let rl = t.c("resource_list", json!({}));
    let r = &rl[0];
    assert_eq!(r["name"], "r");
    assert_num(&r["num_total"], 3.0);
    assert_num(&r["num_used"], 2.0);
    assert_num(&r["num_consumer"], 1.0);
    assert_eq!(keys(&r["running"]), set(&["A"]));
    assert!(r["running"]["A"].get("deps").is_none());
}

#[test]
fn resource_list_empty_without_resources() {
    let mut t = T::new();
    assert_eq!(t.c("resource_list", json!({})), json!([]));
}

#[test]
fn decrease_running_task_resources_frees_capacity() {
    let mut t = T::new();
    t.update_resources(json!({"r": 2}));
    t.add(W, "A", json!({"resources": {"r": 2}}));
    t.add(W, "B", json!({"resources": {"r": 1}}));
    assert_eq!(t.work(W).as_deref(), Some("A"));
    assert_eq!(t.work(W), None);
    t.c(
        "decrease_running_task_resources",
        json!({"task_id": "A", "decrease_resources": {"r": 1}}),
    );
    assert_eq!(
        t.c("get_running_task_resources", json!({"task_id": "A"})),
        json!({"taskId": "A", "resources": {"r": 1}})
    );
    assert_eq!(t.work(W).as_deref(), Some("B"));
}

#[test]
fn decrease_resources_not_below_zero_and_only_running() {
    let mut t = T::new();
    t.update_resources(json!({"r": 2}));
    t.add(W, "A", json!({"resources": {"r": 2}}));
    t.add(W, "P", json!({"resources": {"r": 1}}));
    t.work(W);
    t.c(
        "decrease_running_task_resources",
        json!({"task_id": "A", "decrease_resources": {"r": 5, "zz": 1}}),
    );
    assert_eq!(
        t.c("get_running_task_resources", json!({"task_id": "A"}))["resources"],
        json!({"r": 0})
    );
    t.c(
        "decrease_running_task_resources",
        json!({"task_id": "P", "decrease_resources": {"r": 1}}),
    );
    assert_eq!(
        t.c("get_running_task_resources", json!({"task_id": "P"}))["resources"],
        Value::Null
    );
}

#[test]
fn running_task_resources_of_unknown_task() {
    let mut t = T::new();
    assert_eq!(
        t.c("get_running_task_resources", json!({"task_id": "nope"})),
        json!({"taskId": "nope", "resources": null})
    );
}

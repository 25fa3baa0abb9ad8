//! Unit tests for the trickier scheduler pieces (ranking, upstream status, disable rules).

use super::*;
use crate::api::call;
use serde_json::json;

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

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
        // Round-trip through serde every few calls to check snapshots.
        if out.len() % 7 == 0 {
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

//! Differential test against recorded luigid behaviour.
//!
//! `tests/golden/gen.py` ran scripted scenarios against Luigi 3.8's own `Scheduler` with a
//! patched clock and recorded every reply. This test replays each file through `api::call`
//! with the same `now` values and compares the replies after the same normalisation
//! (`normalize` in tests/golden/gen.py): `deps` and `running_tasks` compared as sorted arrays, `message_id`
//! masked, numbers compared by value (Python's `1000.0` and `1000` are the same number).
//! Object key order is ignored unless `GOLDEN_STRICT_ORDER=1`; `GOLDEN_FILTER=substring`
//! replays only matching scenarios; `GOLDEN_DIR=path` replays another directory (for the
//! uncommitted output of tests/golden/fuzz.py).

use luigid_rs::api::{self, ApiError};
use luigid_rs::scheduler::{Scheduler, SchedulerConfig};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

fn golden_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("GOLDEN_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
}

fn num(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("config value {v} is not a number"))
}

/// Build a config from the recorded overrides, field by field, so the test does not depend on
/// how SchedulerConfig is (de)serialized.
fn config_from(v: &Value) -> SchedulerConfig {
    let mut c = SchedulerConfig::default();
    let Some(obj) = v.as_object() else {
        return c;
    };
    for (k, x) in obj {
        match k.as_str() {
            "retry_delay" => c.retry_delay = num(x),
            "remove_delay" => c.remove_delay = num(x),
            "worker_disconnect_delay" => c.worker_disconnect_delay = num(x),
            "disable_window" => c.disable_window = num(x),
            "retry_count" => c.retry_count = num(x),
            "disable_hard_timeout" => c.disable_hard_timeout = num(x),
            "disable_persist" => c.disable_persist = num(x),
            "max_shown_tasks" => c.max_shown_tasks = num(x) as i64,
            "max_graph_nodes" => c.max_graph_nodes = num(x) as i64,
            "stable_done_cooldown_secs" => c.stable_done_cooldown_secs = num(x),
            "record_task_history" => c.record_task_history = x.as_bool().unwrap_or(false),
            "prune_on_get_work" => c.prune_on_get_work = x.as_bool().unwrap_or(false),
            "pause_enabled" => c.pause_enabled = x.as_bool().unwrap_or(true),
            "send_messages" => c.send_messages = x.as_bool().unwrap_or(true),
            "batch_emails" => c.batch_emails = x.as_bool().unwrap_or(false),
            "resources" => {
                c.resources = x
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|pair| {
                        let name = pair[0].as_str().unwrap_or_default().to_string();
                        (name, num(&pair[1]) as i64)
                    })
                    .collect()
            }
            other => panic!("golden config key {other:?} unknown to the replay"),
        }
    }
    c
}

/// The same normalisation as gen.py's normalize().
fn normalize(v: &Value, key: Option<&str>) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                out.insert(k.clone(), normalize(x, Some(k)));
            }
            Value::Object(out)
        }
        Value::Array(a) => {
            let mut items: Vec<Value> = a.iter().map(|x| normalize(x, None)).collect();
            if matches!(key, Some("deps") | Some("running_tasks")) {
                items.sort_by_key(canonical);
            }
            Value::Array(items)
        }
        Value::String(_) if key == Some("message_id") => Value::String("<message_id>".into()),
        other => other.clone(),
    }
}

/// A key-order-independent rendering, to sort arrays the way gen.py does (json.dumps sort_keys).
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// First difference between expected and got, as "path: expected X, got Y".
fn diff(exp: &Value, got: &Value, path: &str, strict_order: bool) -> Option<String> {
    match (exp, got) {
        (Value::Number(a), Value::Number(b)) => {
            if a.as_f64() == b.as_f64() {
                None
            } else {
                Some(format!("{path}: expected {a}, got {b}"))
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for k in a.keys() {
                if !b.contains_key(k) {
                    return Some(format!("{path}: missing key {k:?}"));
                }
            }
            for k in b.keys() {
                if !a.contains_key(k) {
                    return Some(format!("{path}: unexpected key {k:?} = {}", b[k]));
                }
            }
            if strict_order {
                let ka: Vec<&String> = a.keys().collect();
                let kb: Vec<&String> = b.keys().collect();
                if ka != kb {
                    return Some(format!("{path}: key order {ka:?} != {kb:?}"));
                }
            }
            a.iter()
                .find_map(|(k, x)| diff(x, &b[k], &format!("{path}.{k}"), strict_order))
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!(
                    "{path}: expected {} items {}, got {} items {}",
                    a.len(),
                    exp,
                    b.len(),
                    got
                ));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| diff(x, y, &format!("{path}[{i}]"), strict_order))
        }
        _ if exp == got => None,
        _ => Some(format!("{path}: expected {exp}, got {got}")),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        format!("{}...", &s[..300])
    } else {
        s
    }
}

/// Replays one file; returns the first mismatch (later steps depend on earlier state).
fn replay(path: &Path, strict_order: bool) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read: {e}"))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("parse: {e}"))?;
    let mut sched = Scheduler::new(config_from(&doc["config"]));
    let steps = doc["steps"].as_array().ok_or("no steps")?;
    for (i, step) in steps.iter().enumerate() {
        let method = step["method"].as_str().ok_or("step without method")?;
        let empty = Map::new();
        let args = step["args"].as_object().unwrap_or(&empty);
        let now = step["now"].as_f64().ok_or("step without now")?;
        // The server's path: large lists come back as the body bytes, read back here.
        let got = api::call(&mut sched, method, api::Args::from_map(args.clone()), now)
            .map(api::Reply::into_value);
        let ctx = || format!("step {i} {method}({}) at {now}", short(&step["args"]));
        match (step["error"].as_str(), got) {
            (None, Ok(v)) => {
                let got = normalize(&v, None);
                // Re-normalise the recording too, so both sides are sorted by the same key.
                let expected = normalize(&step["reply"], None);
                if let Some(d) = diff(&expected, &got, "reply", strict_order) {
                    return Err(format!(
                        "{}: {d}\n      expected {}\n      got      {}",
                        ctx(),
                        short(&step["reply"]),
                        short(&got)
                    ));
                }
            }
            (None, Err(e)) => {
                return Err(format!(
                    "{}: expected {}, got error {e:?}",
                    ctx(),
                    short(&step["reply"])
                ))
            }
            (Some("unknown_method"), Err(ApiError::UnknownMethod(_))) => {}
            (Some("error"), Err(ApiError::BadArgument(_))) => {}
            (Some(kind), other) => {
                return Err(format!("{}: expected error {kind}, got {other:?}", ctx()));
            }
        }
    }
    Ok(steps.len())
}

#[test]
fn golden_vectors_replay() {
    let filter = std::env::var("GOLDEN_FILTER").unwrap_or_default();
    let strict_order = std::env::var("GOLDEN_STRICT_ORDER").is_ok_and(|v| v == "1");
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| p.to_string_lossy().contains(filter.as_str()))
        .collect();
    files.sort();
    if filter.is_empty() && std::env::var("GOLDEN_DIR").is_err() {
        assert!(
            files.len() >= 40,
            "expected at least 40 golden scenarios, found {}",
            files.len()
        );
    }
    let mut failures = Vec::new();
    let mut steps = 0;
    for f in &files {
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A panic inside the scheduler is a failure of that scenario, not of the whole run.
        let result = std::panic::catch_unwind(|| replay(f, strict_order))
            .unwrap_or_else(|_| Err("panicked".to_string()));
        match result {
            Ok(n) => steps += n,
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    eprintln!(
        "golden: {} scenarios, {} passed ({} steps), {} failed",
        files.len(),
        files.len() - failures.len(),
        steps,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "golden mismatches:\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn normalisation_sorts_deps_and_masks_message_ids() {
    let v = serde_json::json!({"A": {"deps": ["b", "a"]}, "message_id": "x-y",
        "running_tasks": [{"task_id": "B", "worker": "w"}, {"task_id": "A", "worker": "w"}]});
    let n = normalize(&v, None);
    assert_eq!(n["A"]["deps"], serde_json::json!(["a", "b"]));
    assert_eq!(n["message_id"], "<message_id>");
    assert_eq!(n["running_tasks"][0]["task_id"], "A");
}

#[test]
fn diff_compares_numbers_by_value_and_reports_paths() {
    let a = serde_json::json!({"x": [1, {"t": 1000}]});
    let b = serde_json::json!({"x": [1.0, {"t": 1000.0}]});
    assert_eq!(diff(&a, &b, "r", false), None);
    let c = serde_json::json!({"x": [1, {"t": 1001}]});
    let d = diff(&a, &c, "r", false).unwrap_or_default();
    assert!(d.starts_with("r.x[1].t"), "{d}");
}

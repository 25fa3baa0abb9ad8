//! The snapshot reader on arbitrary file bytes, then what the App does with a readable
//! one: deserialize the scheduler, apply the configuration, rebuild the indexes and serve
//! calls. Checks: no panic; a refusal is a `Corrupt` error with a reason.
use luigid_rs::api::call_map as call;
use luigid_rs::persistence::snapshot::{read, LoadError};
use luigid_rs::scheduler::{Scheduler, SchedulerConfig};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

fn scratch() -> PathBuf {
    // One file per fuzzing process; tmpfs when the machine has it.
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    PathBuf::from(format!(
        "{dir}/luigid-rs-fuzz-snapshot-{}.json",
        std::process::id()
    ))
}

/// Serve a few calls from a recovered state, as the App would after a restart.
pub fn serve(mut s: Scheduler) {
    s.apply_config(SchedulerConfig::default());
    s.rebuild_indexes();
    let empty = Map::new();
    let now = 2000.0;
    for st in ["PENDING", "RUNNING", "DONE", "FAILED", "DISABLED"] {
        let mut a = Map::new();
        a.insert("status".into(), json!(st));
        let _ = call(&mut s, "task_list", &a, now);
    }
    for (m, a) in [
        ("worker_list", json!({})),
        ("resource_list", json!({})),
        ("graph", json!({})),
        ("get_work", json!({"worker": "w1", "host": "h"})),
        (
            "add_task",
            json!({"task_id": "A()", "worker": "w1", "status": "DONE"}),
        ),
        ("prune", json!({})),
    ] {
        if let Value::Object(a) = a {
            let _ = call(&mut s, m, &a, now);
        }
    }
    let _ = call(&mut s, "prune", &empty, now + 1e7);
    s.drain_events();
    assert!(serde_json::to_vec(&s).is_ok());
}

pub fn check_bytes(path: &std::path::Path, data: &[u8]) {
    if std::fs::write(path, data).is_err() {
        return;
    }
    match read::<Scheduler>(path) {
        Ok(Some(l)) => serve(l.state),
        Ok(None) => assert!(data.is_empty(), "an existing file read as absent"),
        Err(LoadError::Corrupt { why, .. }) => assert!(!why.is_empty()),
        Err(LoadError::Io(_)) => {}
    }
}

pub fn check(data: &[u8]) {
    let path = scratch();
    check_bytes(&path, data);
    // The same bytes as the state of a well-formed envelope reach the deserializer
    // (version 1: no checksum line to forge).
    if let Ok(state) = serde_json::from_slice::<Value>(data) {
        let doc = json!({"format": luigid_rs::persistence::snapshot::FORMAT, "version": 1, "journal_gen": 0, "saved_at": 0, "state": state});
        if let Ok(bytes) = serde_json::to_vec(&doc) {
            check_bytes(&path, &bytes);
        }
    }
    let _ = std::fs::remove_file(&path);
}

//! luigid's state pickle reader on arbitrary bytes: the data-only VM, the mapping onto
//! the export, the scheduler built from it, and a few calls served from that state.
//! Checks: no panic; every refusal is a `PickleError` whose message is not empty; a
//! refused global is never one of the allowed classes.
use luigid_rs::api::call_map as call;
use luigid_rs::persistence::pickle::{luigid_export, PickleError};
use luigid_rs::scheduler::{Scheduler, SchedulerConfig};
use serde_json::{json, Value};

pub fn check(data: &[u8]) {
    match luigid_export(data) {
        Err(e) => {
            assert!(!e.to_string().is_empty());
            if let PickleError::ForbiddenGlobal { module, name, .. } = &e {
                assert!(!(module == "luigi.scheduler" && name == "Task"));
            }
        }
        Ok((export, counts, protocol)) => {
            assert!(protocol <= 5);
            let tasks = export["tasks"].as_array().map_or(0, Vec::len);
            assert_eq!(tasks, counts.tasks);
            if let Ok(s) = Scheduler::from_luigi_export(&export, SchedulerConfig::default()) {
                serve(s);
            }
        }
    }
}

fn serve(mut s: Scheduler) {
    s.apply_config(SchedulerConfig::default());
    s.rebuild_indexes();
    let now = 2.0e9;
    for (m, a) in [
        ("task_list", json!({"status": "", "upstream_status": ""})),
        (
            "task_list",
            json!({"status": "RUNNING", "upstream_status": ""}),
        ),
        ("worker_list", json!({})),
        ("resource_list", json!({})),
        ("graph", json!({})),
        ("get_work", json!({"worker": "w1", "host": "h"})),
        ("prune", json!({})),
    ] {
        if let Value::Object(a) = a {
            let _ = call(&mut s, m, &a, now);
        }
    }
    s.drain_events();
    assert!(serde_json::to_vec(&s).is_ok());
}

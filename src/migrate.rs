//! `luigid-rs import-luigi-state EXPORT.json --state-path STATE`: turn a luigid state
//! (exported from its pickle by `tools/luigi_state_to_json.py`) into a luigid-rs snapshot.

use crate::config;
use crate::persistence::snapshot;
use crate::scheduler::{Scheduler, SchedulerConfig};

const USAGE: &str = "usage: luigid-rs import-luigi-state EXPORT.json --state-path STATE [--force]

Converts a luigid state export (made from luigid's state pickle by
tools/luigi_state_to_json.py) into a luigid-rs snapshot at STATE. The [scheduler] and
[resources] settings are read from the usual Luigi config files. STATE must not exist
unless --force is given.";

pub fn import_main(args: &[String]) -> i32 {
    let mut export = None;
    let mut state_path = None;
    let mut force = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--state-path" => state_path = it.next().cloned(),
            "--force" => force = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return 0;
            }
            s if !s.starts_with('-') && export.is_none() => export = Some(s.to_string()),
            other => {
                eprintln!("{USAGE}\nluigid-rs: error: unexpected argument {other:?}");
                return 2;
            }
        }
    }
    let (Some(export), Some(state_path)) = (export, state_path) else {
        eprintln!("{USAGE}");
        return 2;
    };
    match import(&export, &state_path, force) {
        Ok(n) => {
            println!("imported {n} tasks into {state_path}");
            0
        }
        Err(e) => {
            eprintln!("luigid-rs: import-luigi-state: {e}");
            1
        }
    }
}

fn import(export: &str, state_path: &str, force: bool) -> Result<usize, String> {
    let text = std::fs::read_to_string(export).map_err(|e| format!("{export}: {e}"))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{export}: not JSON ({e})"))?;
    if value.get("format").and_then(|f| f.as_str()) != Some("luigid-state-export") {
        return Err(format!(
            "{export} is not an export of tools/luigi_state_to_json.py"
        ));
    }
    let path = std::path::Path::new(state_path);
    if path.exists() && !force {
        return Err(format!("{state_path} exists; pass --force to replace it"));
    }
    let mut warnings = Vec::new();
    let ini = config::load(None, &mut warnings).map_err(|e| e.to_string())?;
    let cfg = SchedulerConfig::from_ini(&ini).map_err(|e| e.to_string())?;
    let sched = Scheduler::from_luigi_export(&value, cfg)?;
    let n = sched.task_count();
    let now = crate::app::wall_clock();
    snapshot::write_atomic(path, 0, now, &sched, false, &Default::default())
        .map_err(|e| format!("cannot write {state_path}: {e}"))?;
    Ok(n)
}

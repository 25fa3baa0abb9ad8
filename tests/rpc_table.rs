//! The api table against the installed luigi (the test venv's, `make venv`): the same
//! 39 method names as `luigi.scheduler.RPC_METHODS`, each with the parameters, defaults
//! and `**kwargs` of its `Scheduler` method. `LUIGI_PYTHON` names another interpreter.
//! Without one the test is skipped with a message, except under CI (`CI=true`), where it
//! fails.

use luigid_rs::api::{DefaultValue, METHODS};
use serde_json::{json, Map, Value};
use std::process::Command;

const SIGNATURES: &str = r#"
import inspect, json
import luigi.scheduler
out = {}
for name in luigi.scheduler.RPC_METHODS:
    spec = inspect.getfullargspec(getattr(luigi.scheduler.Scheduler, name))
    args = spec.args[1:]
    defaults = dict(zip(reversed(args), reversed(spec.defaults or ())))
    out[name] = {
        "params": [[a, repr(defaults[a]) if a in defaults else None] for a in args],
        "kwargs": spec.varkw is not None,
    }
print(json.dumps(out))
"#;

/// luigid's signatures as the installed luigi reports them, or why there are none.
fn luigid_signatures() -> Result<Map<String, Value>, String> {
    let python = std::env::var("LUIGI_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python").into());
    let out = Command::new(&python)
        .args(["-c", SIGNATURES])
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{python} cannot read luigi's scheduler: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    match serde_json::from_slice(&out.stdout) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(format!("{python} printed no signatures")),
    }
}

/// A default as Python's `repr` writes it (`None` for a required parameter).
fn python_repr(d: DefaultValue) -> Value {
    match d {
        DefaultValue::Required => Value::Null,
        DefaultValue::None => json!("None"),
        DefaultValue::Bool(true) => json!("True"),
        DefaultValue::Bool(false) => json!("False"),
        DefaultValue::Int(i) => json!(i.to_string()),
        DefaultValue::Str(s) => json!(format!("'{s}'")),
        DefaultValue::Infinity => json!("inf"),
    }
}

#[test]
fn the_table_matches_the_installed_luigid() {
    let luigid = match luigid_signatures() {
        Ok(m) => m,
        Err(why) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED: {why} (make venv)");
            return;
        }
        Err(why) => panic!("{why}"),
    };
    let mut ours: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
    let mut theirs: Vec<&str> = luigid.keys().map(String::as_str).collect();
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), 39);
    for m in &METHODS {
        let want = &luigid[m.name];
        let params: Vec<Value> = m
            .params
            .iter()
            .map(|p| json!([p.name, python_repr(p.default)]))
            .collect();
        assert_eq!(json!(params), want["params"], "{}", m.name);
        assert_eq!(json!(m.kwargs), want["kwargs"], "{}", m.name);
    }
}

//! The pickles under testdata/ were written by luigi 3.8.1's own Scheduler (see
//! tests/pickle/make_fixtures.py); the hostile ones are built here byte by byte.

use super::*;
use crate::api::call_map as call;
use serde_json::{json, Map};

const P2: &[u8] = include_bytes!("testdata/luigid-3.8.1-p2.pickle");
const P3: &[u8] = include_bytes!("testdata/luigid-3.8.1-p3.pickle");
const P4: &[u8] = include_bytes!("testdata/luigid-3.8.1-p4.pickle");
const P5: &[u8] = include_bytes!("testdata/luigid-3.8.1-p5.pickle");
/// luigi 2.8.13 (Python 3.8): failures in a `Failures` object, not on the task.
const OLD_P4: &[u8] = include_bytes!("testdata/luigid-2.8.13-p4.pickle");
const OLD_P2: &[u8] = include_bytes!("testdata/luigid-2.8.13-p2.pickle");

fn task<'a>(export: &'a Value, id: &str) -> &'a Value {
    export["tasks"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["id"] == id))
        .unwrap_or_else(|| panic!("no task {id}"))
}

#[test]
fn every_protocol_gives_the_same_export() {
    let (base, counts, proto) = luigid_export(P4).unwrap();
    assert_eq!(proto, 4);
    assert_eq!(
        counts,
        Counts {
            tasks: 7,
            workers: 2,
            batchers: 2
        }
    );
    for (bytes, want) in [(P2, 2), (P3, 3), (P5, 5)] {
        let (v, c, p) = luigid_export(bytes).unwrap();
        assert_eq!(p, want);
        assert_eq!(c, counts);
        assert_eq!(v, base, "protocol {want}");
    }
}

#[test]
fn fields_come_through_as_luigid_holds_them() {
    let (v, _, _) = luigid_export(P4).unwrap();
    let ids: Vec<&str> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    // The tasks dict's order (luigid rebuilds its status tables in it).
    assert_eq!(ids, ["A(x=1)", "B()", "C()", "R()", "N()", "E(n=1)", "D()"]);
    let a = task(&v, "A(x=1)");
    assert_eq!(
        a["priority"],
        crate::pyjson::raw_number("1000000000000000000000000000000")
    );
    assert_eq!(a["deps"], json!(["B()", "C()"]));
    assert_eq!(a["params"]["secret"], "s");
    assert_eq!(a["param_visibilities"], json!({"secret": 1, "x": 0}));
    assert_eq!(a["module"], "mod.a");
    assert_eq!(
        a["retry_policy"],
        json!({"retry_count": 3, "disable_hard_timeout": 999999999, "disable_window": 100000})
    );
    assert_eq!(
        task(&v, "N()")["priority"],
        crate::pyjson::raw_number("NaN")
    );
    let c = task(&v, "C()");
    assert_eq!(c["status"], "FAILED");
    assert_eq!(c["expl"], "Traceback: boom");
    assert_eq!(c["failures"].as_array().unwrap().len(), 1);
    assert!(c["first_failure_time"].as_f64().is_some());
    let r = task(&v, "R()");
    assert_eq!(r["status"], "RUNNING");
    assert_eq!(r["workers"], json!(["w1", "w2"]));
    assert_eq!(r["stakeholders"], json!(["w1", "w2"]));
    assert_eq!(r["worker_running"], "w1");
    assert_eq!(r["status_message"], "half way \u{2603}");
    assert_eq!(r["progress_percentage"], 50);
    // w2's add_task of the PENDING task cleared it, as luigid does.
    assert_eq!(r["tracking_url"], Value::Null);
    assert_eq!(r["accepts_messages"], false);
    assert_eq!(r["resources_running"], json!({}));
    // get_work copies the dict: not the same object.
    assert!(r.get("resources_running_is_resources").is_none());
    assert_eq!(task(&v, "E(n=1)")["batchable"], true);
    let w1 = &v["workers"][0];
    assert_eq!(w1["id"], "w1");
    assert_eq!(w1["info"]["salt"], "\u{e9}\u{4e2d}");
    assert_eq!(w1["reference"], json!({"host": "h1"}));
    assert_eq!(v["task_batchers"]["w1"]["E"], json!([["n"], 3]));
    assert_eq!(
        v["task_batchers"]["w2"]["F"],
        json!([["a", "b"], crate::pyjson::raw_number("Infinity")])
    );
}

#[test]
fn luigi_2_8_failures_objects_are_read() {
    let (v, counts, _) = luigid_export(OLD_P4).unwrap();
    assert_eq!(counts.tasks, 7);
    assert_eq!(luigid_export(OLD_P2).unwrap().0, v);
    let c = task(&v, "C()");
    let failures = c["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(c["first_failure_time"], failures[0]);
    let s = load_luigid_pickle(OLD_P4, SchedulerConfig::default()).unwrap();
    assert_eq!(s.task_count(), 7);
}

#[test]
fn the_scheduler_serves_the_imported_state() {
    let mut s = load_luigid_pickle(P4, SchedulerConfig::default()).unwrap();
    assert_eq!(s.task_count(), 7);
    // Just after luigid wrote the file (workers time out 60 s after their last call).
    let (v, _, _) = luigid_export(P4).unwrap();
    let now = task(&v, "D()")["updated"].as_f64().unwrap() + 1.0;
    let mut a = Map::new();
    a.insert("status".into(), json!("RUNNING"));
    a.insert("upstream_status".into(), json!(""));
    let running = call(&mut s, "task_list", &a, now).unwrap();
    let r = &running["R()"];
    assert_eq!(r["worker_running"], "w1");
    assert_eq!(r["status_message"], "half way \u{2603}");
    let mut a = Map::new();
    a.insert("task_id".into(), json!("C()"));
    let err = call(&mut s, "fetch_error", &a, now).unwrap();
    assert_eq!(err["error"], "Traceback: boom");
}

/// Bytes of a protocol 4 pickle: PROTO 4, `body`, STOP.
fn p4(body: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, 4];
    v.extend_from_slice(body);
    v.push(b'.');
    v
}

#[test]
fn unknown_globals_are_refused_by_name() {
    // GLOBAL 'os system', then calling it: refused at the name, nothing runs.
    let g = p4(b"cos\nsystem\n\x8c\x04echo\x85R");
    match luigid_export(&g) {
        Err(PickleError::ForbiddenGlobal { module, name, .. }) => {
            assert_eq!((module.as_str(), name.as_str()), ("os", "system"))
        }
        other => panic!("{other:?}"),
    }
    let sg = p4(b"\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85R");
    let e = luigid_export(&sg).unwrap_err();
    assert!(e.to_string().contains("builtins.eval"), "{e}");
    // Allowed classes cannot be used as functions of other things either.
    let e = luigid_export(&p4(b"\x8c\x0bcollections\x8c\x05deque\x93K\x01R")).unwrap_err();
    assert!(matches!(e, PickleError::Malformed { .. }), "{e:?}");
}

#[test]
fn truncated_inputs_are_errors() {
    for n in 0..P4.len() {
        assert!(luigid_export(&P4[..n]).is_err(), "prefix of {n} bytes");
    }
    for n in 0..P2.len() {
        assert!(luigid_export(&P2[..n]).is_err(), "prefix of {n} bytes");
    }
}

#[test]
fn huge_lengths_are_checked_before_allocating() {
    for op in [0x8du8, 0x8e, 0x96] {
        let mut b = vec![0x80, 4, op];
        b.extend_from_slice(&[0xff; 8]);
        match luigid_export(&b) {
            Err(PickleError::Truncated { wanted, .. }) => assert_eq!(wanted, u64::MAX),
            other => panic!("{other:?}"),
        }
    }
    let e = luigid_export(&p4(b"X\xff\xff\xff\x7f")).unwrap_err();
    assert!(matches!(e, PickleError::Truncated { .. }));
    let e = luigid_export(&p4(b"\x8b\xff\xff\xff\x7f")).unwrap_err();
    assert!(matches!(e, PickleError::Truncated { .. }));
}

#[test]
fn deep_nesting_is_bounded() {
    // A million MARKs.
    let e = luigid_export(&p4(&vec![b'('; 1_000_000])).unwrap_err();
    assert!(matches!(e, PickleError::Limit { .. }), "{e:?}");
    // A list nested 100 000 deep as a task's params.
    let mut body = Vec::new();
    body.extend(std::iter::repeat_n(b']', 100_000));
    body.extend(std::iter::repeat_n(b'a', 99_999));
    let e = luigid_export(&p4(&body)).unwrap_err();
    assert!(matches!(e, PickleError::Shape(_)), "{e:?}");
    let state = tuple_state_with_params(&body);
    let e = luigid_export(&state).unwrap_err();
    assert!(matches!(e, PickleError::Limit { .. }), "{e:?}");
    // A list that contains itself.
    let state = tuple_state_with_params(b"]\x94h\x00a");
    let e = luigid_export(&state).unwrap_err();
    assert!(matches!(e, PickleError::Limit { .. }), "{e:?}");
    // A list holding the same list twice, 64 times over: 2^64 values if expanded.
    let mut bomb = b"]".to_vec();
    for _ in 0..64 {
        bomb.extend_from_slice(b"2\x86");
    }
    let e = luigid_export(&tuple_state_with_params(&bomb)).unwrap_err();
    assert!(matches!(e, PickleError::Limit { .. }), "{e:?}");
}

/// luigid's state with one task `T` whose `params` attribute is the value `value`
/// pushes (which is wrapped in a dict under "p").
fn tuple_state_with_params(value: &[u8]) -> Vec<u8> {
    let mut b = vec![0x80, 4];
    b.extend_from_slice(b"}\x8c\x01T");
    b.extend_from_slice(b"\x8c\x0fluigi.scheduler\x8c\x04Task\x93)\x81");
    b.extend_from_slice(b"}(\x8c\x02id\x8c\x01T\x8c\x06params}\x8c\x01p");
    b.extend_from_slice(value);
    b.extend_from_slice(b"sub"); // SETITEM p, SETITEMS on the state, BUILD
    b.extend_from_slice(b"s}}\x87."); // tasks[T] = task; (tasks, {}, {})
    b
}

#[test]
fn a_minimal_state_imports() {
    let b = tuple_state_with_params(b"\x8c\x01v");
    let (v, c, _) = luigid_export(&b).unwrap();
    assert_eq!(c.tasks, 1);
    assert_eq!(v["tasks"][0]["params"], json!({"p": "v"}));
    let s = load_luigid_pickle(&b, SchedulerConfig::default()).unwrap();
    assert_eq!(s.task_count(), 1);
}

/// A string in the state that begins with U+FDD0, the in-band raw-number mark, stays a
/// string: escaped on import as a client's string is, written back as the string it was,
/// never as a bare number (see `crate::pyjson::client_str`).
#[test]
fn a_string_with_the_raw_number_mark_stays_a_string() {
    // params {"p": "\u{FDD0}NaN"} as SHORT_BINUNICODE, and {"p": b"\xef\xb7\x90NaN"}.
    for value in [
        &b"\x8c\x06\xef\xb7\x90NaN"[..],
        &b"C\x06\xef\xb7\x90NaN"[..],
    ] {
        let b = tuple_state_with_params(value);
        let (v, _, _) = luigid_export(&b).unwrap();
        let kept = v["tasks"][0]["params"]["p"].as_str().unwrap();
        assert_eq!(kept, "\u{FDD0}\u{FDD0}NaN");
        assert_eq!(crate::pyjson::client_str(kept), "\u{FDD0}NaN");
        assert_eq!(
            crate::pyjson::raw_number_value(&v["tasks"][0]["params"]["p"]),
            None
        );

        let mut s = load_luigid_pickle(&b, SchedulerConfig::default()).unwrap();
        let mut a = Map::new();
        a.insert("status".into(), json!("PENDING"));
        a.insert("upstream_status".into(), json!(""));
        let listed = call(&mut s, "task_list", &a, 1.0).unwrap();
        let mut body = Vec::new();
        crate::pyjson::to_py_json(&listed, &mut body);
        let body = String::from_utf8(body).unwrap();
        assert!(body.contains(r#""params": {"p": "\ufdd0NaN"}"#), "{body}");
    }
}

#[test]
fn a_repeated_task_id_is_one_task_as_in_a_python_dict() {
    // The minimal state's tasks dict gets a second entry for the same id.
    let mut b = tuple_state_with_params(b"\x8c\x01v");
    let tail = b.split_off(b.len() - 4); // "}}\x87."
    b.extend_from_slice(b"\x8c\x01T\x8c\x0fluigi.scheduler\x8c\x04Task\x93)\x81");
    b.extend_from_slice(b"}(\x8c\x02id\x8c\x01T\x8c\x06status\x8c\x04DONEub");
    b.extend_from_slice(b"s");
    b.extend_from_slice(&tail);
    let (v, c, _) = luigid_export(&b).unwrap();
    assert_eq!(c.tasks, 1);
    assert_eq!(v["tasks"][0]["status"], "DONE");
    let s = load_luigid_pickle(&b, SchedulerConfig::default()).unwrap();
    assert_eq!(s.task_count(), 1);
}

#[test]
fn other_shapes_and_opcodes_are_clear_errors() {
    let e = luigid_export(&p4(b"K\x01")).unwrap_err();
    assert!(e.to_string().contains("not luigid's"), "{e}");
    let e = luigid_export(&[0x80, 6]).unwrap_err();
    assert_eq!(e, PickleError::Protocol(6));
    let e = luigid_export(&p4(b"\xff")).unwrap_err();
    assert_eq!(
        e,
        PickleError::UnknownOpcode {
            offset: 2,
            opcode: 0xff
        }
    );
    let e = luigid_export(&p4(b"h\x05")).unwrap_err();
    assert!(e.to_string().contains("memo entry 5"), "{e}");
    let e = luigid_export(&p4(b"")).unwrap_err();
    assert!(e.to_string().contains("underflow"), "{e}");
    // A mark's items cannot be popped by an opcode outside it.
    let e = luigid_export(&p4(b"K\x01(\x85")).unwrap_err();
    assert!(e.to_string().contains("underflow"), "{e}");
}

#[test]
fn mutated_fixtures_never_panic() {
    let mut next = crate::test_rng::below(0x9e37_79b9);
    for base in [P2, P4, OLD_P4] {
        for _ in 0..3000 {
            let mut b = base.to_vec();
            for _ in 0..1 + next(4) {
                let i = next(b.len());
                match next(3) {
                    0 => b[i] = next(256) as u8,
                    1 => {
                        b.remove(i);
                    }
                    _ => b.insert(i, next(256) as u8),
                }
            }
            if let Ok((v, _, _)) = luigid_export(&b) {
                let _ = Scheduler::from_luigi_export(&v, SchedulerConfig::default());
            }
        }
    }
}

#[test]
fn import_at_startup_keeps_the_original_and_writes_our_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.pickle");
    std::fs::write(&path, P4).unwrap();
    // A journal of an earlier luigid-rs run beside luigid's file.
    let stale = journal::journal_path(&path, 3);
    std::fs::write(&stale, b"old").unwrap();
    let imported = import_at_startup(&path, 1_700_000_000.5).unwrap().unwrap();
    assert_eq!(imported.counts.tasks, 7);
    assert!(imported.aside.ends_with("state.pickle.luigid-1700000000"));
    assert_eq!(std::fs::read(&imported.aside).unwrap(), P4);
    assert!(!stale.exists());
    assert_eq!(imported.warnings.len(), 1);
    let mut loaded = snapshot::read::<Scheduler>(&path).unwrap().unwrap();
    assert_eq!(loaded.journal_gen, 0);
    loaded.state.rebuild_indexes();
    assert_eq!(loaded.state.task_count(), 7);
    // Our snapshot is not a pickle: a second start leaves it alone.
    assert!(import_at_startup(&path, 1_700_000_001.0).unwrap().is_none());
    // A second pickle import at the same second never overwrites the first copy.
    std::fs::write(&path, P2).unwrap();
    let again = import_at_startup(&path, 1_700_000_000.0).unwrap().unwrap();
    assert!(again.aside.ends_with("state.pickle.luigid-1700000000.1"));
    assert_eq!(std::fs::read(&imported.aside).unwrap(), P4);
    assert_eq!(std::fs::read(&again.aside).unwrap(), P2);
}

#[test]
fn a_bad_pickle_changes_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.pickle");
    let bad = p4(b"cos\nsystem\n");
    std::fs::write(&path, &bad).unwrap();
    let e = import_at_startup(&path, 1.0).unwrap_err();
    assert!(e.contains("os.system"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), bad);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn infinite_and_nan_priorities_survive_our_snapshot() {
    let export = json!({
        "tasks": [
            {"id": "Z()", "family": "Z", "status": "PENDING", "workers": ["w"],
             "stakeholders": ["w"], "priority": 1, "time": 1.0},
            {"id": "I()", "family": "I", "status": "PENDING", "workers": ["w"],
             "stakeholders": ["w"], "priority": crate::pyjson::raw_number("Infinity"), "time": 2.0},
            {"id": "N()", "family": "N", "status": "PENDING", "workers": ["v"],
             "stakeholders": ["v"], "priority": crate::pyjson::raw_number("NaN"), "time": 3.0},
        ],
        "workers": [{"id": "w", "last_active": 10.0}, {"id": "v", "last_active": 10.0}],
    });
    let s = Scheduler::from_luigi_export(&export, SchedulerConfig::default()).unwrap();
    // JSON has no NaN or infinity: the snapshot writes null, and reading takes the
    // number from the priority again.
    let text = serde_json::to_string(&s).unwrap();
    let mut back: Scheduler = serde_json::from_str(&text).unwrap();
    back.rebuild_indexes();
    let mut a = Map::new();
    a.insert("worker".into(), json!("w"));
    let work = call(&mut back, "get_work", &a, 11.0).unwrap();
    assert_eq!(work["task_id"], "I()");
    let mut a = Map::new();
    a.insert("status".into(), json!("PENDING"));
    a.insert("upstream_status".into(), json!(""));
    let list = call(&mut back, "task_list", &a, 11.0).unwrap();
    assert_eq!(list["N()"]["priority"], crate::pyjson::raw_number("NaN"));
}

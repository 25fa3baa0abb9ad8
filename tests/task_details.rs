//! `GET /api/luigid_rs_task_details` (src/api/details.rs) through `App::handle`: who
//! disabled a task and when the scheduler re-enables it, readable by a viewer, and luigid's
//! own replies unchanged by it.

use luigid_rs::app::{App, Peer};
use luigid_rs::config::Ini;
use luigid_rs::http::{Request, Response};
use serde_json::{json, Value};

const NOW: f64 = 1_795_509_999.5;

fn app(text: &str) -> App {
    let mut ini = Ini::default();
    ini.read_ini_str(text, "test.cfg").expect("config");
    App::new(ini)
}

fn get(app: &mut App, method: &str, data: &Value, now: f64) -> Response {
    let enc = percent_encoding::utf8_percent_encode(
        &data.to_string(),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string();
    let req = Request {
        method: "GET".into(),
        path: format!("/api/{method}"),
        query: format!("data={enc}"),
        minor_version: 1,
        ..Request::default()
    };
    app.handle(&req, &Peer::default(), now)
}

fn reply(r: &Response) -> Value {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v: Value = serde_json::from_slice(&r.body).expect("JSON reply");
    v["response"].clone()
}

fn fail(app: &mut App, id: &str, now: f64) {
    let args = json!({"task_id": id, "worker": "w1", "status": "FAILED", "family": "Flaky",
                      "retry_policy_dict": {"retry_count": 2, "disable_window": 300}});
    let Value::Object(args) = args else {
        unreachable!()
    };
    let method = luigid_rs::api::method("add_task").expect("add_task in the table");
    app.rpc(method, luigid_rs::api::Args::from_map(args), None, now)
        .expect("add_task");
}

#[test]
fn scheduler_disable_with_count_and_re_enable_time() {
    let mut app = app("[scheduler]\ndisable_persist = 600\n");
    fail(&mut app, "Flaky_1", NOW);
    fail(&mut app, "Flaky_1", NOW + 10.0);
    let d = reply(&get(
        &mut app,
        "luigid_rs_task_details",
        &json!({"task_id": "Flaky_1"}),
        NOW + 20.0,
    ));
    assert_eq!(d["status"], "DISABLED");
    assert_eq!(d["disabled_by"], "scheduler");
    assert_eq!(d["disable_reason"], "failures");
    assert_eq!(d["failures_at_disable"], 2);
    assert_eq!(d["scheduler_disable_time"], NOW + 10.0);
    assert_eq!(d["re_enable_time"], NOW + 610.0);
    assert_eq!(d["disable_persist"], 600.0);
    assert_eq!(d["retry_policy"]["disable_window"], 300.0);
    // luigid's task_list still says only re_enable_able, with none of our keys
    let list = reply(&get(
        &mut app,
        "task_list",
        &json!({"status": "DISABLED"}),
        NOW + 20.0,
    ));
    let t = &list["Flaky_1"];
    assert_eq!(t["re_enable_able"], true);
    assert!(t.get("disabled_by").is_none() && t.get("re_enable_time").is_none());
}

#[test]
fn worker_disable_unknown_task_and_bad_arguments() {
    let mut app = app("");
    let args = json!({"task_id": "Off_1", "worker": "w1", "status": "DISABLED", "family": "Off"});
    let Value::Object(args) = args else {
        unreachable!()
    };
    let method = luigid_rs::api::method("add_task").expect("add_task in the table");
    app.rpc(method, luigid_rs::api::Args::from_map(args), None, NOW)
        .expect("add_task");
    let d = reply(&get(
        &mut app,
        "luigid_rs_task_details",
        &json!({"task_id": "Off_1"}),
        NOW,
    ));
    assert_eq!(d["disabled_by"], "worker");
    assert_eq!(d["re_enable_time"], Value::Null);
    let d = reply(&get(
        &mut app,
        "luigid_rs_task_details",
        &json!({"task_id": "Nope"}),
        NOW,
    ));
    assert_eq!(d, Value::Null);
    let r = get(
        &mut app,
        "luigid_rs_task_details",
        &json!({"task_id": 5}),
        NOW,
    );
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("task_id"));
    let r = get(&mut app, "luigid_rs_task_details", &json!([1]), NOW);
    assert_eq!(r.status, 400);
}

#[test]
fn a_viewer_may_read_it() {
    // Anonymous requests are viewers: the details are readable, re-enabling is not.
    let mut app = app("[luigid_rs_auth]\nenabled = true\nanonymous_role = viewer\n");
    fail(&mut app, "Flaky_1", NOW);
    fail(&mut app, "Flaky_1", NOW + 1.0);
    let r = get(
        &mut app,
        "luigid_rs_task_details",
        &json!({"task_id": "Flaky_1"}),
        NOW + 2.0,
    );
    assert_eq!(reply(&r)["disabled_by"], "scheduler");
    assert!(r
        .headers
        .iter()
        .any(|(n, v)| n == "X-Luigid-Rs-Role" && v == "viewer"));
    let r = get(
        &mut app,
        "re_enable_task",
        &json!({"task_id": "Flaky_1"}),
        NOW + 2.0,
    );
    assert_eq!(r.status, 401);
}

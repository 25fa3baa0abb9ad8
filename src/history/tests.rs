use super::*;
use crate::http::{Request, Response};
use rusqlite::Connection;

fn status(task_id: &str, family: &str, st: &str, host: Option<&str>, now: f64) -> Event {
    Event::TaskStatus {
        task_id: task_id.to_string(),
        family: family.to_string(),
        params: vec![
            ("x".to_string(), "1".to_string()),
            ("y".to_string(), format!("v-{task_id}")),
        ],
        status: st.to_string(),
        host: host.map(str::to_string),
        now,
    }
}

fn url(dir: &tempfile::TempDir) -> String {
    format!("sqlite:///{}", dir.path().join("h.db").display())
}

fn rows(dir: &tempfile::TempDir, sql: &str) -> Vec<Vec<Option<String>>> {
    let c = Connection::open(dir.path().join("h.db")).unwrap();
    let mut st = c.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |r| {
        (0..n)
            .map(|i| {
                r.get::<_, rusqlite::types::Value>(i).map(|v| match v {
                    rusqlite::types::Value::Null => None,
                    rusqlite::types::Value::Integer(i) => Some(i.to_string()),
                    rusqlite::types::Value::Text(t) => Some(t),
                    other => Some(format!("{other:?}")),
                })
            })
            .collect()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn s(v: &[&str]) -> Vec<Option<String>> {
    v.iter().map(|x| Some(x.to_string())).collect()
}

const T0: f64 = 1_795_000_000.0;

#[test]
fn url_forms() {
    assert_eq!(
        parse_db_connection("sqlite:///rel.db").unwrap(),
        PathBuf::from("rel.db")
    );
    assert_eq!(
        parse_db_connection("sqlite:////abs/x.db").unwrap(),
        PathBuf::from("/abs/x.db")
    );
    assert_eq!(
        parse_db_connection(" sqlite+pysqlite:///a/b.db ").unwrap(),
        PathBuf::from("a/b.db")
    );
    for bad in [
        "mysql://u@h/db",
        "postgresql://h/db",
        "sqlite://",
        "sqlite:///",
        "x.db",
        "sqlite:///a.db?mode=ro",
    ] {
        let e = parse_db_connection(bad).unwrap_err().to_string();
        assert!(e.contains("[task_history] db_connection"), "{bad}: {e}");
    }
}

#[test]
fn open_errors_name_the_setting() {
    let e = History::open("sqlite:////nonexistent-dir-xyz/h.db", None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("/nonexistent-dir-xyz/h.db") && e.contains("db_connection"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let e = History::open(&url(&dir), Some(-1.0))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("history_retention_days"), "{e}");
}

#[test]
fn from_ini_reads_luigid_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut ini = Ini::default();
    assert!(History::from_ini(&ini).unwrap().is_none());
    ini.set("scheduler", "record_task_history", "true");
    ini.set("task_history", "db_connection", &url(&dir));
    ini.set("luigid_rs", "history_retention_days", "7.5");
    let h = History::from_ini(&ini).unwrap().unwrap();
    assert_eq!(h.retention_days(), Some(7.5));
    ini.set("task_history", "db_connection", "mysql://x/y");
    let e = History::from_ini(&ini).err().unwrap();
    assert!(e.contains("[task_history] db_connection"), "{e}");
}

#[test]
fn wal_mode_and_record_semantics() {
    let dir = tempfile::tempdir().unwrap();
    {
        let h = History::open(&url(&dir), None).unwrap();
        h.record(&[
            status("A_1", "A", "PENDING", None, T0),
            Event::TaskStarted {
                family: "A".into(),
                task_id: "A_1".into(),
            },
            status("B_1", "B", "PENDING", None, T0 + 0.5),
        ]);
        h.record(&[status("A_1", "A", "RUNNING", Some("host1"), T0 + 1.0)]);
        // A later event's params are never written; a host on a later event is.
        let mut done = status("A_1", "A", "DONE", None, T0 + 2.25);
        if let Event::TaskStatus { params, .. } = &mut done {
            params.push(("z".into(), "new".into()));
        }
        h.record(&[done]);
        h.record(&[status("B_1", "B", "RUNNING", Some(""), T0 + 3.0)]);
        // luigid records nothing for these
        h.record_owned(vec![
            status("B_1", "B", "DISABLED", None, T0 + 4.0),
            status("B_1", "B", "UNKNOWN", None, T0 + 4.0),
            status("D_1", "D", "SUSPENDED", None, T0 + 4.0),
        ]);
        assert!(h.flush());
        assert_eq!(h.error_count(), 0);
    }
    assert_eq!(rows(&dir, "PRAGMA journal_mode"), vec![s(&["wal"])]);
    assert_eq!(
        rows(
            &dir,
            "SELECT id, task_id, name, host FROM tasks ORDER BY id"
        ),
        vec![
            s(&["1", "A_1", "A", "host1"]),
            vec![Some("2".into()), Some("B_1".into()), Some("B".into()), None],
        ]
    );
    assert_eq!(
        rows(
            &dir,
            "SELECT task_id, name, value FROM task_parameters ORDER BY task_id, name"
        ),
        vec![
            s(&["1", "x", "1"]),
            s(&["1", "y", "v-A_1"]),
            s(&["2", "x", "1"]),
            s(&["2", "y", "v-B_1"]),
        ]
    );
    let ev = rows(
        &dir,
        "SELECT task_id, event_name, ts FROM task_events ORDER BY id",
    );
    let names: Vec<_> = ev.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    assert_eq!(
        names,
        vec![
            (Some("1".into()), Some("PENDING".into())),
            (Some("2".into()), Some("PENDING".into())),
            (Some("1".into()), Some("RUNNING".into())),
            (Some("1".into()), Some("DONE".into())),
            (Some("2".into()), Some("RUNNING".into())),
        ]
    );
    assert_eq!(
        ev[3][2].as_deref(),
        Some(time::local_naive(T0 + 2.25).as_str())
    );
    assert!(ev[3][2].as_deref().unwrap().ends_with(".250000"));

    // A new server process makes a new record for the same task id.
    {
        let h = History::open(&url(&dir), None).unwrap();
        h.record(&[status("A_1", "A", "PENDING", None, T0 + 10.0)]);
        assert!(h.flush());
    }
    assert_eq!(
        rows(
            &dir,
            "SELECT id, task_id FROM tasks WHERE task_id = 'A_1' ORDER BY id"
        ),
        vec![s(&["1", "A_1"]), s(&["3", "A_1"])]
    );
}

#[test]
fn database_errors_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(&url(&dir), None).unwrap();
    h.record(&[status("A_1", "A", "PENDING", None, T0)]);
    assert!(h.flush());
    let c = Connection::open(dir.path().join("h.db")).unwrap();
    c.execute_batch("DROP TABLE task_events").unwrap();
    h.record(&[status("A_1", "A", "RUNNING", None, T0 + 1.0)]);
    h.record(&[status("C_1", "C", "PENDING", None, T0 + 1.0)]);
    assert!(h.flush());
    assert_eq!(h.error_count(), 2);
    // The failed batch that created C_1's record was rolled back, and forgotten: once
    // the table is back, C_1 gets its record and parameters.
    c.execute_batch(
        "CREATE TABLE task_events (id INTEGER NOT NULL, task_id INTEGER, event_name VARCHAR(20), ts TIMESTAMP NOT NULL, PRIMARY KEY (id))",
    )
    .unwrap();
    h.record(&[status("C_1", "C", "RUNNING", None, T0 + 2.0)]);
    assert!(h.flush());
    assert_eq!(h.error_count(), 2);
    assert_eq!(
        rows(&dir, "SELECT t.name, count(p.name) FROM tasks t JOIN task_parameters p ON p.task_id = t.id GROUP BY t.id ORDER BY t.id"),
        vec![s(&["A", "2"]), s(&["C", "2"])]
    );
}

#[test]
fn retention_deletes_old_events_and_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let day = 86_400.0;
    {
        // A previous process wrote old runs of OLD and NEW.
        let h = History::open(&url(&dir), None).unwrap();
        let mut evs = Vec::new();
        for i in 0..1200 {
            evs.push(status(
                &format!("OLD_{i}"),
                "OLD",
                "PENDING",
                None,
                T0 - 10.0 * day + i as f64,
            ));
        }
        evs.push(status("NEW_1", "NEW", "PENDING", None, T0 - 10.0 * day));
        evs.push(status("NEW_1", "NEW", "DONE", None, T0 - 0.5 * day));
        h.record(&evs);
        assert!(h.flush());
    }
    let h = History::open(&url(&dir), Some(3.0)).unwrap();
    // This process writes to KEEP: its record must survive even when its events age out.
    h.record(&[status("KEEP", "K", "PENDING", None, T0 - 5.0 * day)]);
    assert!(h.run_retention(T0));
    assert!(h.flush());
    assert_eq!(h.error_count(), 0);
    assert_eq!(
        rows(
            &dir,
            "SELECT t.task_id, e.event_name FROM task_events e JOIN tasks t ON t.id = e.task_id"
        ),
        vec![s(&["NEW_1", "DONE"])]
    );
    assert_eq!(
        rows(&dir, "SELECT task_id FROM tasks ORDER BY id"),
        vec![s(&["NEW_1"]), s(&["KEEP"])]
    );
    assert_eq!(
        rows(&dir, "SELECT count(*) FROM task_parameters"),
        vec![s(&["4"])]
    );
    // Still usable by this process afterwards.
    h.record(&[status("KEEP", "K", "DONE", None, T0)]);
    assert!(h.flush());
    assert_eq!(
        rows(&dir, "SELECT count(*) FROM task_events e JOIN tasks t ON t.id = e.task_id WHERE t.task_id = 'KEEP'"),
        vec![s(&["1"])]
    );
    let off = History::open_path(&dir.path().join("o.db"), None).unwrap();
    assert!(dir.path().join("o.db").exists());
    assert!(!off.run_retention(T0));
}

#[test]
fn record_never_blocks_on_a_locked_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = History::open(&url(&dir), None).unwrap();
    h.overflow_max = 1500;
    h.record(&[status("A_0", "A", "PENDING", None, T0)]);
    assert!(h.flush());
    // Another process holds the write lock: the writer waits (busy timeout 5 s).
    let locker = Connection::open(dir.path().join("h.db")).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let t = std::time::Instant::now();
    for i in 0..3000 {
        h.record(&[status(
            &format!("A_{}", i + 1),
            "A",
            "PENDING",
            None,
            T0 + 1.0,
        )]);
    }
    let took = t.elapsed();
    assert!(
        took < std::time::Duration::from_secs(2),
        "record blocked: {took:?}"
    );
    // channel (1024) + local queue (1500) hold 2524 batches at most; one may be in the
    // writer's hands; the rest were dropped and counted
    let dropped = h.error_count();
    assert!((475..=476).contains(&dropped), "{dropped}");
    // one event per dropped batch here; /metrics shows them as dropped events
    assert_eq!(h.dropped_events(), dropped);
    locker.execute_batch("COMMIT").unwrap();
    assert!(h.flush());
    assert_eq!(h.error_count(), dropped);
    let n = rows(&dir, "SELECT count(*) FROM task_events")[0][0]
        .clone()
        .unwrap();
    assert_eq!(n.parse::<u64>().unwrap(), 1 + 3000 - dropped);
}

fn get(
    h: Option<&History>,
    path: &str,
    query: &str,
    json: bool,
    now: f64,
) -> (u16, String, Response) {
    let mut req = Request {
        method: "GET".into(),
        path: path.into(),
        query: query.into(),
        minor_version: 1,
        ..Request::default()
    };
    if json {
        req.headers
            .push(("accept".into(), b"application/json".to_vec()));
    }
    let resp = pages::handle_page_at(h, path, &req, now);
    let body = String::from_utf8(resp.body.clone()).unwrap();
    (resp.status, body, resp)
}

fn jget(h: &History, path: &str, query: &str, now: f64) -> serde_json::Value {
    let (st, body, resp) = get(Some(h), path, query, true, now);
    assert_eq!(st, 200, "{path}: {body}");
    assert_eq!(
        resp.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    serde_json::from_str(&body).unwrap()
}

#[test]
fn disabled_history_answers_404_saying_how_to_turn_it_on() {
    let (st, body, _) = get(None, "/history", "", false, T0);
    assert_eq!(st, 404);
    assert!(body.contains("task history is disabled"));
    let (st, body, _) = get(None, "/tasklist", "", true, T0);
    assert_eq!(st, 404);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.starts_with("task history is disabled") && msg.contains("record_task_history"),
        "{msg}"
    );
}

fn xss_event(now: f64, status: &str, host: Option<&str>) -> Event {
    Event::TaskStatus {
        task_id: "X<b>_1".into(),
        family: "X<script>alert(1)</script>".into(),
        params: vec![("p\"'&".into(), "<script>alert('x')</script>".into())],
        status: status.into(),
        host: host.map(str::to_string),
        now,
    }
}

#[test]
fn pages_escape_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(&url(&dir), None).unwrap();
    h.record(&[
        xss_event(T0, "PENDING", None),
        xss_event(T0 + 1.0, "RUNNING", Some("<img src=x onerror=alert(1)>")),
        xss_event(T0 + 4.0, "DONE", None),
    ]);
    let fam = "X<script>alert(1)</script>";
    for (path, query) in [
        ("/tasklist".to_string(), ""),
        (format!("/tasklist/{fam}"), ""),
        ("/history".to_string(), ""),
        (format!("/history/by_name/{fam}"), ""),
        (
            format!("/history/by_params/{fam}"),
            "data=%7B%22p%5C%22%27%26%22%3A%22%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E%22%7D",
        ),
        ("/history/by_id/1".to_string(), ""),
        ("/history/by_task_id/X<b>_1".to_string(), ""),
        ("/history/by_id/<script>".to_string(), ""),
    ] {
        let (st, body, resp) = get(Some(&h), &path, query, false, T0 + 10.0);
        assert!(st == 200 || st == 404, "{path}: {st}");
        assert_eq!(
            resp.header("content-type"),
            Some("text/html; charset=UTF-8")
        );
        assert!(!body.contains("<script"), "{path} leaks markup: {body}");
        assert!(!body.contains("<img"), "{path} leaks markup: {body}");
        assert!(!body.contains("<b>"), "{path} leaks markup");
        assert!(body.contains("&lt;script&gt;"), "{path}: {body}");
    }
    let (_, body, _) = get(Some(&h), "/history/by_id/1", "", false, T0 + 10.0);
    assert!(
        body.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        "{body}"
    );
    assert!(body.contains("p&quot;&#39;&amp;"));
    assert!(body.contains("&lt;img src=x onerror=alert(1)&gt;"));
    // links carry the name percent-encoded, relative to this page
    assert!(
        body.contains("href=\"../../history/by_name/X%3Cscript%3Ealert%281%29%3C%2Fscript%3E\""),
        "{body}"
    );
}

#[test]
fn pages_content_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(&url(&dir), None).unwrap();
    let day = 86_400.0;
    h.record(&[
        status("A_1", "A", "PENDING", None, T0 - 2.0 * day),
        status("A_1", "A", "RUNNING", Some("h1"), T0 - 2.0 * day + 1.0),
        status("A_1", "A", "FAILED", None, T0 - 2.0 * day + 3.5),
        status("A_2", "A", "PENDING", None, T0 - 100.0),
        status("B_1", "B", "PENDING", None, T0 - 60.0),
        status("A_2", "A", "RUNNING", Some("h2"), T0 - 50.0),
        status("B_1", "B", "RUNNING", Some("h3"), T0 - 40.0),
        status("A_2", "A", "DONE", None, T0 - 20.0),
    ]);
    let v = jget(&h, "/tasklist", "", T0);
    assert_eq!(
        v["tasks"],
        serde_json::json!([{"name": "A", "records": 2}, {"name": "B", "records": 1}])
    );

    // /history: records active in the last 24 h, newest activity first
    let v = jget(&h, "/history", "", T0);
    let ids: Vec<_> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["task_id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![serde_json::json!("A_2"), serde_json::json!("B_1")]
    );
    assert_eq!(v["records"][0]["status"], "DONE");
    assert_eq!(v["records"][0]["host"], "h2");
    assert_eq!(
        v["records"][0]["parameters"],
        serde_json::json!({"x": "1", "y": "v-A_2"})
    );
    assert_eq!(v["records"][0]["last_action"], time::local_naive(T0 - 20.0));

    // by_name: oldest first
    let v = jget(&h, "/history/by_name/A", "", T0);
    let ids: Vec<_> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["task_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["A_1", "A_2"]);
    assert_eq!(v["records"][0]["status"], "FAILED");

    // by_params
    let q = "data=%7B%22y%22%3A%22v-A_2%22%7D";
    let v = jget(&h, "/history/by_params/A", q, T0);
    assert_eq!(v["total"], 1);
    assert_eq!(v["records"][0]["task_id"], "A_2");
    let v = jget(&h, "/history/by_params/A", "", T0);
    assert_eq!(v["total"], 2);
    let (st, _, _) = get(
        Some(&h),
        "/history/by_params/A",
        "data=%7B%22y%22%3A1%7D",
        true,
        T0,
    );
    assert_eq!(st, 400);
    let (st, _, _) = get(Some(&h), "/history/by_params/A", "data=%7B", false, T0);
    assert_eq!(st, 400);

    // by_id / by_task_id detail, events newest first
    let v = jget(&h, "/history/by_id/1", "", T0);
    assert_eq!(v["task_id"], "A_1");
    assert_eq!(v["host"], "h1");
    let evs: Vec<_> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(evs, ["FAILED", "RUNNING", "PENDING"]);
    let v = jget(&h, "/history/by_task_id/B_1", "", T0);
    assert_eq!(v["id"], 3);
    assert_eq!(v["name"], "B");
    for p in [
        "/history/by_id/99",
        "/history/by_id/abc",
        "/history/by_task_id/nope",
        "/history/other",
        "/historyx",
    ] {
        let (st, body, _) = get(Some(&h), p, "", false, T0);
        assert_eq!(st, 404, "{p}: {body}");
    }

    // runs of A: each RUNNING paired with the next event of the same record
    let v = jget(&h, "/tasklist/A", "", T0);
    assert_eq!(v["name"], "A");
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["status"], "DONE");
    assert!((runs[0]["duration_secs"].as_f64().unwrap() - 30.0).abs() < 1e-6);
    assert_eq!(runs[1]["status"], "FAILED");
    assert!((runs[1]["duration_secs"].as_f64().unwrap() - 2.5).abs() < 1e-6);
    let (st, body, _) = get(Some(&h), "/tasklist/A", "", false, T0);
    assert_eq!(st, 200);
    assert!(
        body.contains("<svg") && body.contains("#43a047") && body.contains("#e53935"),
        "{body}"
    );
    assert!(!body.contains("<script"));
    // unknown name renders an empty page, as luigid
    let v = jget(&h, "/tasklist/Nope", "", T0);
    assert_eq!(v["runs"], serde_json::json!([]));

    // HEAD keeps the body length but asks for no body
    let req = Request {
        method: "HEAD".into(),
        path: "/history".into(),
        ..Request::default()
    };
    let r = pages::handle_page_at(Some(&h), "/history", &req, T0);
    assert!(r.head_only && r.status == 200);
    let req = Request {
        method: "POST".into(),
        path: "/history".into(),
        ..Request::default()
    };
    assert_eq!(
        pages::handle_page_at(Some(&h), "/history", &req, T0).status,
        405
    );
}

#[test]
fn large_lists_are_paged() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(&url(&dir), None).unwrap();
    let evs: Vec<Event> = (0..250)
        .map(|i| status(&format!("P_{i:03}"), "P", "PENDING", None, T0 + i as f64))
        .collect();
    h.record(&evs);
    let v = jget(&h, "/history/by_name/P", "", T0 + 300.0);
    assert_eq!(
        (v["page"].as_u64(), v["pages"].as_u64(), v["total"].as_u64()),
        (Some(1), Some(3), Some(250))
    );
    assert_eq!(v["records"].as_array().unwrap().len(), 100);
    assert_eq!(v["records"][0]["task_id"], "P_000");
    let v = jget(&h, "/history/by_name/P", "page=3", T0 + 300.0);
    assert_eq!(v["records"].as_array().unwrap().len(), 50);
    assert_eq!(v["records"][0]["task_id"], "P_200");
    let v = jget(&h, "/history/by_name/P", "page=9", T0 + 300.0);
    assert_eq!(v["records"].as_array().unwrap().len(), 0);
    let (st, body, _) = get(Some(&h), "/history/by_name/P", "page=2", false, T0 + 300.0);
    assert_eq!(st, 200);
    assert!(
        body.contains("href=\"?page=1\"") && body.contains("href=\"?page=3\""),
        "{body}"
    );
    assert!(body.contains("page 2 of 3"));
    for bad in ["page=0", "page=x", "page=-1"] {
        assert_eq!(get(Some(&h), "/history", bad, false, T0).0, 400, "{bad}");
    }
    // paging keeps the other parameters
    let (_, body, _) = get(
        Some(&h),
        "/history/by_params/P",
        "data=%7B%22x%22%3A%221%22%7D",
        false,
        T0 + 300.0,
    );
    assert!(
        body.contains("href=\"?data=%7B%22x%22%3A%221%22%7D&amp;page=2\""),
        "{body}"
    );
}

#[test]
fn history_and_metrics_can_move_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<History>();
    assert_send_sync::<crate::metrics::Metrics>();
}

#[test]
fn odd_paths_and_queries_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let h = History::open(&url(&dir), None).unwrap();
    h.record(&[status("A_1", "A", "PENDING", None, T0)]);
    let long = "x".repeat(100_000);
    let paths = [
        "/tasklist/".to_string(),
        "/tasklist/\u{0}\u{ffff}é/../..".to_string(),
        "/history/by_id/-1".to_string(),
        "/history/by_id/99999999999999999999999".to_string(),
        "/history/by_task_id/".to_string(),
        format!("/history/by_name/{long}"),
        "/history/by_params/A".to_string(),
    ];
    let queries = [
        "",
        "page=18446744073709551615",
        "page=%FF",
        "data=%7B%7D&page=2",
        "data=[]",
        "data=null",
        "data=%ZZ",
        "&&=&data",
    ];
    for p in &paths {
        for q in queries {
            for json in [false, true] {
                let (st, _, _) = get(Some(&h), p, q, json, T0);
                assert!(matches!(st, 200 | 400 | 404), "{p}?{q}: {st}");
            }
        }
    }
}

#[test]
fn deleted_database_directory_is_counted_then_recreated() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("db");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("h.db");
    let h = History::open_path(&path, None).unwrap();
    h.record(&[status("A_1", "A", "PENDING", None, T0)]);
    assert!(h.flush());
    assert_eq!(h.error_count(), 0);

    // SQLite alone would keep writing into the unlinked file without an error.
    std::fs::remove_dir_all(&dir).unwrap();
    h.record(&[status("A_1", "A", "RUNNING", Some("h"), T0 + 1.0)]);
    h.record(&[status("A_1", "A", "DONE", None, T0 + 2.0)]);
    assert!(h.flush());
    assert_eq!(h.error_count(), 2);
    assert!(
        !dir.exists(),
        "the writer must not recreate a deleted directory"
    );

    // Once the directory is back, recording resumes into a new database there, and the
    // pages read the new file.
    std::fs::create_dir(&dir).unwrap();
    h.record(&[status("B_1", "B", "PENDING", None, T0 + 3.0)]);
    h.record(&[status("A_1", "A", "FAILED", None, T0 + 4.0)]);
    assert!(h.flush());
    assert_eq!(h.error_count(), 2);
    let c = Connection::open(&path).unwrap();
    let got: Vec<(String, String)> = c
        .prepare("SELECT t.task_id, e.event_name FROM task_events e JOIN tasks t ON t.id = e.task_id ORDER BY e.id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        got,
        vec![
            ("B_1".to_string(), "PENDING".to_string()),
            ("A_1".to_string(), "FAILED".to_string())
        ]
    );
    let v = jget(&h, "/history/by_name/B", "", T0 + 5.0);
    assert_eq!(v["records"].as_array().map(Vec::len), Some(1), "{v}");
}

/// A value the database refuses (here a CHECK; on a server a name longer than its
/// VARCHAR) loses only that event, not the rest of its batch.
#[test]
fn a_refused_value_loses_only_its_own_event() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("c.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE tasks (id INTEGER NOT NULL, task_id VARCHAR(200), \
         name VARCHAR(128) CHECK (length(name) <= 5), host VARCHAR(128), PRIMARY KEY (id))",
    )
    .unwrap();
    let mut c = backend::SqliteConn::wrap(conn);
    schema::ensure(&mut c).unwrap();
    let errors = Arc::new(AtomicU64::new(0));
    let mut w = writer::Writer::new(Box::new(c), errors.clone());
    let ops: Vec<Op> = [
        status("A_1", "A", "PENDING", None, T0),
        status("B_1", "TooLongName", "PENDING", None, T0),
        status("A_1", "A", "RUNNING", Some("h"), T0 + 1.0),
    ]
    .into_iter()
    .filter_map(Op::from_event)
    .collect();
    w.write(&ops);
    assert_eq!(errors.load(std::sync::atomic::Ordering::Relaxed), 1);
    let check = Connection::open(dir.path().join("c.db")).unwrap();
    let n: i64 = check
        .query_row("SELECT COUNT(*) FROM task_events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
    let host: Option<String> = check
        .query_row("SELECT host FROM tasks WHERE task_id = 'A_1'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(host.as_deref(), Some("h"));
}

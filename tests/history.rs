//! Task history database compatibility with the real luigid, both ways.
//!
//! Needs luigid 3.8.1 with SQLAlchemy < 2 (3.8.1's history crashes at startup with
//! SQLAlchemy 2): the Python of `$HISTORY_COMPAT_PYTHON`, else the project's `.venv`
//! (`pip install -r tests/history_compat/requirements.txt`). Without one, the tests say
//! so and pass without checking anything.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use luigid_rs::history::History;
use luigid_rs::scheduler::events::Event;
use rusqlite::Connection;

fn compat_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("HISTORY_COMPAT_PYTHON").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")),
    ];
    for py in candidates.into_iter().flatten() {
        let ok = Command::new(&py)
            .args([
                "-c",
                "import luigi, sqlalchemy, sys; sys.exit(int(sqlalchemy.__version__.split('.')[0]) >= 2)",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok && py.with_file_name("luigid").exists() {
            return Some(py);
        }
    }
    eprintln!(
        "SKIPPED: no Python with luigi and sqlalchemy<2 (set HISTORY_COMPAT_PYTHON or \
         install tests/history_compat/requirements.txt into .venv)"
    );
    None
}

struct Luigid {
    child: Child,
    port: u16,
}

impl Drop for Luigid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn http(port: u16, method: &str, target: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn start_luigid(py: &Path, dir: &Path, db: &Path) -> Luigid {
    let cfg = dir.join("luigi.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[scheduler]\nrecord_task_history = true\n[task_history]\ndb_connection = sqlite:///{}\n",
            db.display()
        ),
    )
    .expect("write luigi.cfg");
    let port = free_port();
    let log = std::fs::File::create(dir.join("luigid.log")).expect("log file");
    let child = Command::new(py.with_file_name("luigid"))
        .args(["--port", &port.to_string(), "--address", "127.0.0.1"])
        .arg("--state-path")
        .arg(dir.join("state.pickle"))
        .env("LUIGI_CONFIG_PATH", &cfg)
        .current_dir(dir)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start luigid");
    let srv = Luigid { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() && http(port, "HEAD", "/", "").0 == 204 {
            return srv;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "luigid did not start; see {}",
        dir.join("luigid.log").display()
    );
}

fn rpc(port: u16, method: &str, data: serde_json::Value) {
    let body = format!(
        "data={}",
        percent_encoding::utf8_percent_encode(
            &data.to_string(),
            percent_encoding::NON_ALPHANUMERIC
        )
    );
    let (st, text) = http(port, "POST", &format!("/api/{method}"), &body);
    assert_eq!(st, 200, "{method}: {text}");
}

/// A small run in luigid: T pending, handed out to `host`, done.
fn luigid_run(port: u16, task_id: &str, host: &str) {
    let params = serde_json::json!({"n": task_id, "evil": "<script>x</script>"});
    let add = |status: &str| {
        serde_json::json!({"task_id": task_id, "status": status, "worker": "w1",
                           "family": "Fam", "params": params})
    };
    rpc(port, "add_task", add("PENDING"));
    rpc(
        port,
        "get_work",
        serde_json::json!({"worker": "w1", "host": host}),
    );
    rpc(port, "add_task", add("DONE"));
}

fn ev(task_id: &str, status: &str, host: Option<&str>, now: f64) -> Event {
    Event::TaskStatus {
        task_id: task_id.into(),
        family: "Fam".into(),
        params: vec![
            ("n".into(), task_id.into()),
            ("evil".into(), "<script>x</script>".into()),
        ],
        status: status.into(),
        host: host.map(str::to_string),
        now,
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn schema(db: &Path) -> Vec<(String, String, Option<String>)> {
    let c = Connection::open(db).expect("open");
    let mut st = c
        // SQLAlchemy creates a table's indexes in no fixed order: compare as a set.
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .expect("prepare");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// (record id, luigi task id, host, event names in order, parameter count)
type Rec = (i64, String, Option<String>, Vec<String>, i64);

fn records(db: &Path) -> Vec<Rec> {
    let c = Connection::open(db).expect("open");
    let mut st = c
        .prepare(
            "SELECT t.id, t.task_id, t.host, \
             (SELECT group_concat(event_name, ',') FROM (SELECT event_name FROM task_events e \
              WHERE e.task_id = t.id ORDER BY e.id)), \
             (SELECT count(*) FROM task_parameters p WHERE p.task_id = t.id) \
             FROM tasks t ORDER BY t.id",
        )
        .expect("prepare");
    st.query_map([], |r| {
        let evs: Option<String> = r.get(3)?;
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            evs.map(|s| s.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            r.get(4)?,
        ))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn luigid_database_opened_and_extended_by_us() {
    let Some(py) = compat_python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("luigid.db");
    {
        let srv = start_luigid(&py, dir.path(), &db);
        luigid_run(srv.port, "Fam_1", "hostA");
    }
    // Same DDL, text for text, as a database we create.
    let ours = dir.path().join("ours.db");
    drop(History::open(&format!("sqlite:///{}", ours.display()), None).expect("open ours"));
    assert_eq!(schema(&db), schema(&ours));

    let h = History::open(&format!("sqlite:///{}", db.display()), None).expect("open luigid's db");
    let t = now();
    h.record(&[
        ev("Fam_1", "PENDING", None, t),
        ev("Fam_1", "RUNNING", Some("hostB"), t + 1.0),
    ]);
    h.record(&[
        ev("Fam_2", "PENDING", None, t + 2.0),
        ev("Fam_2", "FAILED", None, t + 3.0),
    ]);
    assert!(h.flush());
    assert_eq!(h.error_count(), 0);
    assert_eq!(
        records(&db),
        vec![
            (
                1,
                "Fam_1".into(),
                Some("hostA".into()),
                names(&["PENDING", "RUNNING", "DONE"]),
                2
            ),
            // a new process: a new record for the same task id, as luigid after a restart
            (
                2,
                "Fam_1".into(),
                Some("hostB".into()),
                names(&["PENDING", "RUNNING"]),
                2
            ),
            (3, "Fam_2".into(), None, names(&["PENDING", "FAILED"]), 2),
        ]
    );
    // Our pages read luigid's rows too (its timestamps parse, its record shows).
    let req = luigid_rs::http::Request {
        method: "GET".into(),
        path: "/history/by_id/1".into(),
        headers: vec![("accept".into(), b"application/json".to_vec())],
        ..Default::default()
    };
    let r = luigid_rs::history::handle_page(Some(&h), "/history/by_id/1", &req);
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(v["host"], "hostA");
    assert_eq!(v["parameters"]["evil"], "<script>x</script>");
    let req = luigid_rs::http::Request {
        method: "GET".into(),
        path: "/tasklist/Fam".into(),
        headers: vec![("accept".into(), b"application/json".to_vec())],
        ..Default::default()
    };
    let r = luigid_rs::history::handle_page(Some(&h), "/tasklist/Fam", &req);
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let runs = v["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2, "{v}");
    assert!(runs
        .iter()
        .any(|r| r["status"] == "DONE" && r["duration_secs"].as_f64().is_some()));
}

#[test]
fn our_database_opened_and_extended_by_luigid() {
    let Some(py) = compat_python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("ours.db");
    {
        let h = History::open(&format!("sqlite:///{}", db.display()), None).expect("open");
        let t = now();
        h.record(&[
            ev("Fam_9", "PENDING", None, t),
            ev("Fam_9", "RUNNING", Some("hostR"), t + 1.0),
            ev("Fam_9", "DONE", None, t + 2.5),
        ]);
        assert!(h.flush());
    }
    let srv = start_luigid(&py, dir.path(), &db);
    luigid_run(srv.port, "Fam_9", "hostL");
    // luigid serves our rows on its own pages (it parses our timestamps).
    for page in [
        "/history",
        "/history/by_id/1",
        "/history/by_name/Fam",
        "/tasklist",
        "/tasklist/Fam",
        "/history/by_task_id/Fam_9",
    ] {
        let (st, body) = http(srv.port, "GET", page, "");
        assert_eq!(st, 200, "luigid {page}: {body}");
    }
    let (_, body) = http(srv.port, "GET", "/history/by_id/1", "");
    assert!(
        body.contains("hostR") && body.contains("&lt;script&gt;"),
        "{body}"
    );
    drop(srv);
    assert_eq!(
        records(&db),
        vec![
            (
                1,
                "Fam_9".into(),
                Some("hostR".into()),
                names(&["PENDING", "RUNNING", "DONE"]),
                2
            ),
            (
                2,
                "Fam_9".into(),
                Some("hostL".into()),
                names(&["PENDING", "RUNNING", "DONE"]),
                2
            ),
        ]
    );
    // and the file is still ours to extend afterwards
    let h = History::open(&format!("sqlite:///{}", db.display()), None).expect("reopen");
    h.record(&[ev("Fam_9", "PENDING", None, now())]);
    assert!(h.flush());
    assert_eq!(h.error_count(), 0);
    assert_eq!(records(&db).len(), 3);
}

//! Scale tools: measurements too long or too machine-bound to be tests. Each prints its
//! figures; none asserts a timing.
//!
//! `cargo bench --bench scale_tools -- [WHAT...]` with WHAT among
//! - `scale_run`: the scheduler alone, N tasks added, handed out and finished
//!   (`LUIGID_RS_SCALE`, default 20,000);
//! - `burst_cost`: the history's hand-over of 10,000 events, and its writer's cost;
//! - `history_throughput`: add_task + get_work pairs per second over TCP against the
//!   release binary (`cargo build --release`, or `LUIGID_RS_BIN`), history off and on.
//!
//! Without a WHAT (as `cargo test --all-targets` runs it) it prints this usage.

use luigid_rs::api::call_map as call;
use luigid_rs::history::{self, writer::Op, History};
use luigid_rs::scheduler::events::Event;
use luigid_rs::scheduler::Scheduler;
use rusqlite::Connection;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str =
    "cargo bench --bench scale_tools -- [scale_run] [burst_cost] [history_throughput]";

fn main() {
    let what: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if what.is_empty() {
        println!("usage: {USAGE}");
        return;
    }
    for w in &what {
        match w.as_str() {
            "scale_run" => scale_run(),
            "burst_cost" => burst_cost(),
            "history_throughput" => history_throughput(),
            other => {
                eprintln!("unknown tool {other:?}; usage: {USAGE}");
                std::process::exit(2);
            }
        }
    }
}

fn c(s: &mut Scheduler, method: &str, args: Value, now: f64) -> Value {
    match args {
        Value::Object(m) => call(s, method, &m, now).unwrap_or_else(|e| panic!("{method}: {e}")),
        _ => panic!("args must be an object"),
    }
}

/// The scheduler alone through `api::call_map`: N tasks behind one root, each with one of
/// 100 shared dependencies, added, handed out and finished one by one (a task_list of
/// RUNNING every 1,000). Prints the time to add them and to run them.
fn scale_run() {
    let n: usize = std::env::var("LUIGID_RS_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20000);
    let mut s = Scheduler::default();
    let t0 = std::time::Instant::now();
    let mut now = 1000.0;
    let deps: Vec<String> = (0..n).map(|i| format!("L_{i}")).collect();
    c(
        &mut s,
        "add_task",
        json!({"worker": "W", "task_id": "R", "family": "R", "deps": deps, "params": {}}),
        now,
    );
    for i in 0..n {
        now += 0.001;
        c(
            &mut s,
            "add_task",
            json!({"worker": "W", "task_id": format!("L_{i}"), "family": "L",
            "params": {"i": i.to_string()}, "deps": [format!("M_{}", i % 100)], "priority": (i % 3)}),
            now,
        );
    }
    for i in 0..100 {
        c(
            &mut s,
            "add_task",
            json!({"worker": "W", "task_id": format!("M_{i}"), "family": "M", "params": {}, "status": "DONE"}),
            now,
        );
    }
    let added = t0.elapsed();
    let mut handed = 0;
    loop {
        now += 0.001;
        let r = c(
            &mut s,
            "get_work",
            json!({"worker": "W", "host": "h", "current_tasks": []}),
            now,
        );
        let Some(id) = r["task_id"].as_str().map(str::to_string) else {
            break;
        };
        handed += 1;
        c(
            &mut s,
            "add_task",
            json!({"worker": "W", "task_id": id, "status": "DONE", "runnable": null}),
            now,
        );
        if handed % 1000 == 0 {
            c(&mut s, "task_list", json!({"status": "RUNNING"}), now);
            s.drain_events();
        }
    }
    assert_eq!(handed, n + 1);
    println!(
        "scale_run n={n} add {:?} run {:?}",
        added,
        t0.elapsed() - added
    );
}

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

const T0: f64 = 1_795_000_000.0;

fn url(dir: &tempfile::TempDir) -> String {
    format!("sqlite:///{}", dir.path().join("h.db").display())
}

/// The loop's cost of handing 10,000 history events over, each way, and the writer's
/// cost of writing them in one transaction or in 1,000: min / max over 5 rounds.
fn burst_cost() {
    let dir = tempfile::tempdir().expect("burst_cost");
    let h = History::open(&url(&dir), None).expect("burst_cost");
    let evs: Vec<Event> = (0..10_000)
        .map(|i| {
            status(
                &format!("T_{}", i % 2000),
                "Fam",
                ["PENDING", "RUNNING", "DONE"][i % 3],
                Some("host"),
                T0 + i as f64,
            )
        })
        .collect();
    let ops: Vec<Op> = evs.iter().cloned().filter_map(Op::from_event).collect();
    let conn = Connection::open(dir.path().join("inline.db")).expect("burst_cost");
    conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
        .expect("burst_cost");
    conn.execute_batch("PRAGMA synchronous=NORMAL")
        .expect("burst_cost");
    let mut conn = history::backend::SqliteConn::wrap(conn);
    history::schema::ensure(&mut conn).expect("burst_cost");
    let mut w = history::writer::Writer::new(Box::new(conn), Arc::new(AtomicU64::new(0)));
    let mut res: Vec<(&str, Vec<Duration>)> = vec![
        ("record(&[10k]) on the loop", vec![]),
        ("record(&[10]) x1000 on the loop", vec![]),
        ("record_owned(10k) on the loop", vec![]),
        ("writer: 10k in one tx (= inline batching)", vec![]),
        ("writer: 1000 tx of 10 (= inline per iteration)", vec![]),
    ];
    for _ in 0..5 {
        let t = Instant::now();
        h.record(&evs);
        res[0].1.push(t.elapsed());
        h.flush();
        let t = Instant::now();
        for c in evs.chunks(10) {
            h.record(c);
        }
        res[1].1.push(t.elapsed());
        h.flush();
        let owned = evs.clone();
        let t = Instant::now();
        h.record_owned(owned);
        res[2].1.push(t.elapsed());
        h.flush();
        let t = Instant::now();
        w.write(&ops);
        res[3].1.push(t.elapsed());
        let t = Instant::now();
        for c in ops.chunks(10) {
            w.write(c);
        }
        res[4].1.push(t.elapsed());
    }
    for (what, d) in &res {
        let min = d.iter().min().expect("burst_cost");
        let max = d.iter().max().expect("burst_cost");
        println!("{what}: min {min:?}, max {max:?}");
    }
    assert_eq!(h.error_count(), 0);
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

// ---------------------------------------------------------------------------------------
// history_throughput: add_task + get_work pairs per second with history off and on.
//
// Starts the release binary (or $LUIGID_RS_BIN) without and with --history-db, in
// alternating rounds on fresh servers; CLIENTS threads each send add_task (a new task)
// then get_work (which hands it out: PENDING and RUNNING events), over keep-alive.
// Bounded: PAIRS per client per round, ROUNDS rounds each, and a 120 s deadline.

const TP_CLIENTS: usize = 4;
const TP_PAIRS: usize = 1000;
const TP_ROUNDS: usize = 3;

struct RsServer {
    child: Child,
    port: u16,
}

impl Drop for RsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rs_binary() -> PathBuf {
    std::env::var_os("LUIGID_RS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/luigid-rs"))
}

fn start_rs(dir: &Path, history: bool) -> RsServer {
    let port = free_port();
    std::fs::write(dir.join("luigi.cfg"), "").expect("write luigi.cfg");
    let mut cmd = Command::new(rs_binary());
    cmd.args(["--port", &port.to_string(), "--address", "127.0.0.1"])
        .arg("--state-path")
        .arg(dir.join("state.json"))
        .env("LUIGI_CONFIG_PATH", dir.join("luigi.cfg"))
        .env("RUST_LOG", "warn")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if history {
        cmd.arg("--history-db").arg(dir.join("h.db"));
    }
    let child = cmd
        .spawn()
        .expect("start luigid-rs (cargo build --release)");
    let srv = RsServer { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() && http(port, "HEAD", "/", "").0 == 204 {
            return srv;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("luigid-rs did not start");
}

/// "name=utime+stime" for each thread of `pid` (diagnostics).
fn thread_cpu(pid: u32) -> String {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in rd.flatten() {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            let Some((head, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let name = head.split_once('(').map(|x| x.1).unwrap_or("");
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            out.push(format!("{name}={}", ticks(11) + ticks(12)));
        }
    }
    out.join(" ")
}

/// SIGTERM (a clean stop: the history writer drains) and wait, bounded.
fn stop(mut srv: RsServer) {
    // SAFETY: kill(2) with our own child's pid.
    unsafe { libc::kill(srv.child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = srv.child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One keep-alive request; reads exactly one response (Content-Length framed).
fn keepalive_post(s: &mut TcpStream, buf: &mut Vec<u8>, path: &str, body: &str) -> u16 {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    buf.clear();
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return head
                    .split(' ')
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
            }
        }
    }
}

fn form(data: serde_json::Value) -> String {
    format!(
        "data={}",
        percent_encoding::utf8_percent_encode(
            &data.to_string(),
            percent_encoding::NON_ALPHANUMERIC
        )
    )
}

/// add_task + get_work pairs per second for one fresh server.
fn pairs_per_sec(history: bool, deadline: Instant) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let srv = start_rs(dir.path(), history);
    let port = srv.port;
    let started = Instant::now();
    let threads: Vec<_> = (0..TP_CLIENTS)
        .map(|c| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                s.set_nodelay(true).ok();
                s.set_read_timeout(Some(Duration::from_secs(30))).ok();
                let mut buf = Vec::new();
                let worker = format!("w{c}");
                let get_work = form(serde_json::json!({"worker": worker, "host": "bench-host"}));
                let mut done = 0;
                for i in 0..TP_PAIRS {
                    if Instant::now() > deadline {
                        break;
                    }
                    let tid = format!("B_{c}_{i}");
                    let add = form(serde_json::json!({
                        "worker": worker, "task_id": tid, "family": "B",
                        "status": "PENDING", "params": {"c": c.to_string(), "i": i.to_string()}
                    }));
                    assert_eq!(keepalive_post(&mut s, &mut buf, "/api/add_task", &add), 200);
                    assert_eq!(
                        keepalive_post(&mut s, &mut buf, "/api/get_work", &get_work),
                        200
                    );
                    done += 1;
                }
                done
            })
        })
        .collect();
    let total: usize = threads.into_iter().map(|t| t.join().expect("client")).sum();
    let secs = started.elapsed().as_secs_f64();
    eprintln!("  cpu per thread (ticks): {}", thread_cpu(srv.child.id()));
    eprintln!(
        "  history {}: {total} pairs in {secs:.2} s",
        if history { "on " } else { "off" }
    );
    if history {
        // The history really was written (after the writer caught up at shutdown).
        stop(srv);
        let n: i64 = Connection::open(dir.path().join("h.db"))
            .and_then(|c| c.query_row("SELECT count(*) FROM task_events", [], |r| r.get(0)))
            .expect("count events");
        assert_eq!(
            n as usize,
            2 * total,
            "every PENDING and RUNNING event recorded"
        );
    }
    total as f64 / secs
}

fn history_throughput() {
    if !rs_binary().exists() {
        eprintln!(
            "no release binary at {} (cargo build --release)",
            rs_binary().display()
        );
        std::process::exit(2);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..TP_ROUNDS {
        off.push(pairs_per_sec(false, deadline));
        on.push(pairs_per_sec(true, deadline));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (off_m, on_m) = (median(&mut off), median(&mut on));
    println!(
        "history_throughput: add_task+get_work pairs/s, {TP_CLIENTS} clients: history off {off:.0?} (median {off_m:.0}), \
         on {on:.0?} (median {on_m:.0}); ratio on/off = {:.3}",
        on_m / off_m
    );
    // The README's target: history on at or above 80% of off.
    if on_m < 0.8 * off_m {
        println!("history on is below 80% of off");
    }
}

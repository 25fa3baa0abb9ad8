//! In-memory timings of the request path: the framer, `App::handle` and the encoder over
//! the bytes Luigi sends, sockets left out, so they measure the server's own CPU per
//! request (the load generator, `benches/loadgen.rs`, measures it over TCP).
//!
//! `cargo bench --bench in_memory -- [WHAT...]` with WHAT among `add_task`, `get_work`,
//! `task_list`, `task_list_parts`, `rss`, `bench_adds_wire`, `upstream_adds_wire`,
//! `json` (all of them when none is named); `PERF_N` and `PERF_REPS` change the sizes. Without
//! `--bench` (as `cargo test --all-targets` runs it) each runs once at a small size and
//! only checks that every request is answered 200.

use luigid_rs::app::{App, Peer};
use luigid_rs::config::Ini;
use luigid_rs::http::{self, encode_response, Request};
use std::time::Instant;

fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
    Request::in_memory(method, target, headers, body)
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

const HDRS: [(&str, &str); 2] = [
    ("content-type", "application/x-www-form-urlencoded"),
    ("accept-encoding", "gzip, deflate"),
];

fn add_task_body(i: usize, status: &str, worker: &str) -> Vec<u8> {
    let data = format!(
        r#"{{"worker": "{worker}", "task_id": "Fam_{i}_abcdef0123", "status": "{status}", "runnable": true, "deps": ["Fam_{d}_abcdef0123"], "new_deps": null, "expl": null, "resources": {{}}, "priority": 0, "family": "Fam", "module": "mymod", "params": {{"a": "{i}", "b": "x"}}, "param_visibilities": {{"a": 0, "b": 0}}, "assistant": false, "tracking_url": null, "batchable": false, "retry_policy_dict": {{}}, "owners": [], "accepts_messages": false}}"#,
        d = i + 1_000_000
    );
    format!("data={}", enc(&data)).into_bytes()
}

fn run(app: &mut App, req: &Request, now: f64) -> usize {
    let resp = app.handle(req, &Peer::default(), now);
    assert_eq!(resp.status, 200, "{} {}", req.method, req.path);
    let mut out = Vec::new();
    encode_response(&resp, true, 1, now as u64, &mut out);
    out.len()
}

fn fill(app: &mut App, n: usize, status: &str, now: f64) {
    for i in 0..n {
        let r = request(
            "POST",
            "/api/add_task",
            &HDRS,
            &add_task_body(i, status, "w1"),
        );
        run(app, &r, now);
    }
}

/// A count from the environment, or `default`.
fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|x| x.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|x| x.parse().ok()))
        })
        .unwrap_or(0)
}

/// A count from the environment (e.g. PERF_N), or `default` (`small` under cargo test).
fn size(name: &str, default: usize, small: usize) -> usize {
    if !bench_mode() {
        return small;
    }
    env_count(name, default)
}

fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn add_task(n: usize) {
    let mut app = App::new(Ini::default());
    let bodies: Vec<Request> = (0..n)
        .map(|i| {
            request(
                "POST",
                "/api/add_task",
                &HDRS,
                &add_task_body(i, "PENDING", "w1"),
            )
        })
        .collect();
    let t = Instant::now();
    for r in &bodies {
        run(&mut app, r, 1000.0);
    }
    println!(
        "add_task: {:.2} us/req over {n}",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}

fn get_work(sizes: &[usize], calls: usize) {
    for &n in sizes {
        let mut app = App::new(Ini::default());
        fill(&mut app, n, "PENDING", 1000.0);
        let mut lat = Vec::new();
        for k in 0..calls {
            let data = format!(
                r#"{{"worker": "w{}", "host": "h", "assistant": false, "current_tasks": null}}"#,
                k % 2 + 1
            );
            let r = request(
                "POST",
                "/api/get_work",
                &HDRS,
                format!("data={}", enc(&data)).as_bytes(),
            );
            let t = Instant::now();
            run(&mut app, &r, 1001.0);
            lat.push(t.elapsed().as_secs_f64() * 1e6);
        }
        lat.sort_by(|a, b| a.total_cmp(b));
        println!(
            "get_work n={n}: p50 {:.1} us p99 {:.1} us",
            lat[lat.len() / 2],
            lat[lat.len() * 99 / 100]
        );
    }
}

fn task_list(n: usize, reps: usize) {
    let mut app = App::new(Ini::default());
    fill(&mut app, n, "PENDING", 1000.0);
    let target = "/api/task_list?data=".to_string()
        + &enc(r#"{"status": "PENDING", "upstream_status": "", "search": ""}"#);
    let r = request("GET", &target, &[("accept-encoding", "gzip, deflate")], b"");
    let mut len = 0;
    let t = Instant::now();
    for _ in 0..reps {
        len = run(&mut app, &r, 1001.0);
    }
    println!(
        "task_list {n}: {:.2} ms/req, {len} bytes on the wire (from the reply cache after the first)",
        t.elapsed().as_secs_f64() * 1e3 / reps as f64
    );
}

/// A `task_list` search over every task (what the visualiser's search box sends): the
/// whole table is scanned, so this is the loop's longest read at scale.
fn task_list_search(n: usize, reps: usize) {
    let mut app = App::new(Ini::default());
    fill(&mut app, n, "PENDING", 1000.0);
    let mut out = Vec::new();
    let t = Instant::now();
    for _ in 0..reps {
        out.clear();
        app.scheduler
            .task_list_json("", "", true, Some("fam a=77"), None, 1001.0, &mut out);
    }
    println!(
        "task_list search over {n} tasks: {:.2} ms/req, {} bytes",
        t.elapsed().as_secs_f64() * 1e3 / reps as f64,
        out.len()
    );
}

/// The parts of a fresh task_list reply: writing it, its SHA-1 ETag, gzip.
fn task_list_parts(n: usize) {
    let mut app = App::new(Ini::default());
    fill(&mut app, n, "PENDING", 1000.0);
    let t = Instant::now();
    let mut out = Vec::new();
    app.scheduler
        .task_list_json("PENDING", "", true, Some(""), None, 1001.0, &mut out);
    println!(
        "task_list_json: {:.2} ms, {} bytes",
        t.elapsed().as_secs_f64() * 1e3,
        out.len()
    );
    let t = Instant::now();
    use sha1::Digest;
    let d = sha1::Sha1::digest(&out);
    println!(
        "sha1: {:.2} ms {}",
        t.elapsed().as_secs_f64() * 1e3,
        d.len()
    );
    for level in [1u32, 6] {
        let t = Instant::now();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        let gz = std::io::Write::write_all(&mut enc, &out).and_then(|()| enc.finish());
        println!(
            "gzip {level}: {:.2} ms {} bytes",
            t.elapsed().as_secs_f64() * 1e3,
            gz.map_or(0, |g| g.len())
        );
    }
}

fn rss(n: usize) {
    let before = rss_kib();
    let mut app = App::new(Ini::default());
    fill(&mut app, n, "PENDING", 1000.0);
    println!(
        "rss for {n} tasks: {} MiB",
        rss_kib().saturating_sub(before) / 1024
    );
}

/// The bytes python-requests sends to POST `data` (JSON text) to /api/{method}.
fn form_wire(method: &str, data: &str) -> Vec<u8> {
    let mut body = b"data=".to_vec();
    for &b in data.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => body.push(b),
            b' ' => body.push(b'+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                body.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            }
        }
    }
    let mut out = format!(
        "POST /api/{method} HTTP/1.1\r\nHost: 127.0.0.1:8082\r\nUser-Agent: python-requests/2.32.3\r\nAccept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\nContent-Length: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// The bytes python-requests sends for `add_task(worker="W", task_id=id, status=...)` with
/// RemoteScheduler's other arguments at their defaults (the upstream tests' adds).
fn upstream_add_wire(id: usize, status: &str) -> Vec<u8> {
    let data = format!(
        r#"{{"task_id": "{id}", "status": "{status}", "runnable": true, "deps": null, "new_deps": null, "expl": null, "resources": null, "priority": 0, "family": "", "module": null, "params": null, "param_visibilities": null, "accepts_messages": false, "assistant": false, "tracking_url": null, "worker": "W", "batchable": null, "batch_id": null, "retry_policy_dict": null, "owners": null}}"#
    );
    form_wire("add_task", &data)
}

/// The bytes of `make bench`'s add_task workload (a worker's add of a fresh PENDING task
/// with two parameters, every argument filled in as RemoteScheduler does).
fn bench_add_wire(i: usize) -> Vec<u8> {
    let worker = "Worker(salt=654435761, workers=1, host=bench-host-1, username=bench, pid=4001)";
    let data = format!(
        r#"{{"task_id": "AddBench_2026_11_24_{i}_{:010x}", "status": "PENDING", "runnable": true, "deps": [], "new_deps": null, "expl": null, "resources": {{}}, "priority": 0, "family": "AddBench", "module": "bench.tasks", "params": {{"date": "2026-11-24", "n": "{i}"}}, "param_visibilities": {{"date": 0, "n": 0}}, "accepts_messages": false, "assistant": false, "tracking_url": null, "worker": "{worker}", "batchable": false, "batch_id": null, "retry_policy_dict": {{}}, "owners": []}}"#,
        (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) & 0xff_ffff_ffff
    );
    form_wire("add_task", &data)
}

/// Framer + handle + encode over `wires`, best of `reps`, in us per request.
fn time_wires(wires: &[Vec<u8>], reps: usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..reps {
        let mut app = App::new(Ini::default());
        let mut framer = http::Framer::default();
        let mut out = Vec::with_capacity(1 << 16);
        let t = Instant::now();
        for w in wires {
            let Ok(Some(http::Frame::Request { request, .. })) = framer.next_frame(w) else {
                panic!("not framed");
            };
            let resp = app.handle(&request, &Peer::default(), 1000.0);
            encode_response(&resp, true, 1, 1000, &mut out);
            assert_eq!(resp.status, 200);
            framer.recycle(request);
            out.clear();
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / wires.len() as f64);
    }
    best
}

/// Reading add_task's `data` as the server does (`api::parse_add_task_args`: members in
/// a reused list, `params` straight to the text the scheduler keeps) against
/// serde_json's `Value` plus writing `params` out (what the scheduler would then need).
fn json(n: usize, reps: usize) {
    let texts: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"task_id": "AddBench_2026_11_24_{i}_{:010x}", "status": "PENDING", "runnable": true, "deps": [], "new_deps": null, "expl": null, "resources": {{}}, "priority": 0, "family": "AddBench", "module": "bench.tasks", "params": {{"date": "2026-11-24", "n": "{i}"}}, "param_visibilities": {{"date": 0, "n": 0}}, "accepts_messages": false, "assistant": false, "tracking_url": null, "worker": "Worker(salt=654435761, workers=1, host=bench-host-1, username=bench, pid=4001)", "batchable": false, "batch_id": null, "retry_policy_dict": {{}}, "owners": []}}"#,
                (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) & 0xff_ffff_ffff
            )
        })
        .collect();
    let (mut ours, mut serde) = (f64::MAX, f64::MAX);
    for _ in 0..reps {
        let t = Instant::now();
        for text in &texts {
            let parsed = luigid_rs::api::parse_add_task_args(text);
            let Ok(Some((members, params, _))) = parsed else {
                panic!("not read: {text}");
            };
            std::hint::black_box(&params);
            luigid_rs::pyjson::recycle_members(members);
        }
        ours = ours.min(t.elapsed().as_secs_f64() * 1e6 / n as f64);
        let t = Instant::now();
        let mut out = Vec::new();
        for text in &texts {
            let v: serde_json::Value = serde_json::from_str(text).expect("json");
            out.clear();
            luigid_rs::pyjson::write_py_json(&v["params"], &mut out);
            std::hint::black_box(&out);
        }
        serde = serde.min(t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    println!("add_task data, {n} texts: api::parse_add_task_args {ours:.3} us, serde_json + params text {serde:.3} us");
}

fn main() {
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |w: &str| named.is_empty() || named.iter().any(|n| n == w);
    let reps = size("PERF_REPS", 3, 1);
    if wanted("add_task") {
        add_task(size("PERF_N", 20_000, 200));
    }
    if wanted("get_work") {
        let sizes: &[usize] = if bench_mode() {
            &[1_000, 10_000, 100_000]
        } else {
            &[100]
        };
        get_work(sizes, size("PERF_CALLS", 200, 10));
    }
    if wanted("task_list") {
        task_list(size("PERF_N", 10_000, 100), size("PERF_REPS", 10, 2));
    }
    if wanted("task_list_search") {
        task_list_search(size("PERF_N", 100_000, 100), size("PERF_REPS", 5, 1));
    }
    if wanted("task_list_parts") {
        task_list_parts(size("PERF_N", 10_000, 100));
    }
    if wanted("rss") {
        rss(size("PERF_N", 100_000, 100));
    }
    if wanted("bench_adds_wire") {
        // The bytes of `make bench`'s add_task workload.
        let n = size("PERF_N", 100_000, 200);
        let wires: Vec<Vec<u8>> = (0..n).map(bench_add_wire).collect();
        println!(
            "bench adds (wire): {:.3} us/req over {n}",
            time_wires(&wires, reps)
        );
    }
    if wanted("json") {
        json(size("PERF_N", 100_000, 200), reps);
    }
    if wanted("upstream_adds_wire") {
        // Upstream test_get_work_speed's 200,000 adds.
        let n = size("PERF_N", 200_000, 200);
        let wires: Vec<Vec<u8>> = (0..n)
            .map(|i| upstream_add_wire(i, if i < 1000 { "PENDING" } else { "DONE" }))
            .collect();
        println!(
            "upstream adds (wire): {:.3} us/req over {n}",
            time_wires(&wires, reps)
        );
    }
}

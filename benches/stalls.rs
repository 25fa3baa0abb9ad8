//! Does the loop stall under a large fleet? Many workers' pings and get_works, offered
//! at a fixed rate, and a visualiser polling the heavy reads, while a health check
//! sends `HEAD /` every 5 ms and records how long each answer took.
//!
//! ```text
//! stalls --addr 127.0.0.1:8082 [--workers 10000] [--rate 10000] [--duration 20]
//!        [--senders 8] [--search T_12345] [--graph TASK_ID] [--visualiser 0|1]
//! ```
//! Prints the health check's p50, p99 and max, the requests answered per second, each
//! visualiser call's longest time, and the server's own longest loop iteration (from
//! `/metrics`). Fill the state first (`loadgen run --workload fill --tasks N`). Run
//! with no arguments (as `cargo bench` does) it does nothing.
//!
//! Standard library only: one thread per sender, one request in flight on each
//! connection, as Luigi workers do; senders that fall behind skip ahead, so the offered
//! rate is an upper bound, and the answered rate says what the server took.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Conn {
    addr: String,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(addr: &str) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Conn {
            addr: addr.to_string(),
            stream,
            buf: Vec::new(),
        })
    }

    /// One request (asking for gzip, as Luigi's client and browsers do, unless it is
    /// for `/metrics`); the status and the body's length.
    fn call(&mut self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, usize)> {
        let gzip = if path == "/metrics" {
            ""
        } else {
            "Accept-Encoding: gzip\r\n"
        };
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n{gzip}Content-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        self.stream.write_all(req.as_bytes())?;
        self.buf.clear();
        let mut chunk = [0u8; 65536];
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let len = if method == "HEAD" { 0 } else { len };
                while self.buf.len() < end + 4 + len {
                    let n = self.stream.read(&mut chunk)?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                return Ok((status, len));
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `data=<json>` form-encoded.
fn form(json: &str) -> String {
    let mut out = String::from("data=");
    for b in json.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A sample of the server's `/metrics` ("?" when absent).
fn metric(addr: &str, name: &str) -> String {
    let text = Conn::open(addr)
        .and_then(|mut c| {
            c.call("GET", "/metrics", "")?;
            Ok(String::from_utf8_lossy(&c.buf).into_owned())
        })
        .unwrap_or_default();
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_string()
}

const SLOW: &str = "luigid_loop_iterations_slow_total";

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(addr) = arg(&args, "--addr") else {
        return;
    };
    let num = |name: &str, default: u64| -> u64 {
        arg(&args, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let workers = num("--workers", 10_000).max(1);
    let rate = num("--rate", 10_000).max(1);
    let duration = Duration::from_secs(num("--duration", 20).min(600));
    let senders = num("--senders", 8).clamp(1, 256);
    let search = arg(&args, "--search").unwrap_or_else(|| "T_12345".into());
    let graph = arg(&args, "--graph");
    let with_visualiser = num("--visualiser", 1) != 0;

    let slow_before = metric(&addr, SLOW);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for k in 0..senders {
        let (addr, stop, answered, errors) =
            (addr.clone(), stop.clone(), answered.clone(), errors.clone());
        let gap = Duration::from_secs_f64(senders as f64 / rate as f64);
        threads.push(std::thread::spawn(move || {
            let Ok(mut c) = Conn::open(&addr) else {
                errors.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (k + 1);
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let w = format!("Worker(salt={}, workers=1, host=h, username=u, pid=1)", seed % workers);
                let (path, body) = if seed.is_multiple_of(2) {
                    ("/api/ping", form(&format!("{{\"worker\": \"{w}\"}}")))
                } else {
                    (
                        "/api/get_work",
                        form(&format!(
                            "{{\"worker\": \"{w}\", \"host\": \"h\", \"assistant\": false, \"current_tasks\": []}}"
                        )),
                    )
                };
                match c.call("POST", path, &body) {
                    Ok((200, _)) => answered.fetch_add(1, Ordering::Relaxed),
                    _ => errors.fetch_add(1, Ordering::Relaxed),
                };
                next += gap;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else if now - next > Duration::from_millis(100) {
                    next = now;
                }
            }
        }));
    }
    let visualiser = {
        let (addr, stop) = (addr.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut longest: Vec<(String, f64)> = Vec::new();
            let Ok(mut c) = Conn::open(&addr) else {
                return longest;
            };
            let mut calls: Vec<(String, String)> =
                ["PENDING", "RUNNING", "DONE", "FAILED", "DISABLED"]
                    .iter()
                    .map(|s| {
                        (
                            format!("task_list {s}"),
                            format!(
                                "/api/task_list?{}",
                                form(&format!(
                            "{{\"status\": \"{s}\", \"upstream_status\": \"\", \"search\": \"\"}}"
                        ))
                            ),
                        )
                    })
                    .collect();
            calls.push((
                format!("task_list search {search}"),
                format!(
                    "/api/task_list?{}",
                    form(&format!(
                        "{{\"status\": \"\", \"upstream_status\": \"\", \"search\": \"{search}\"}}"
                    ))
                ),
            ));
            calls.push(("worker_list".into(), "/api/worker_list".into()));
            if let Some(g) = &graph {
                calls.push((
                    "dep_graph".into(),
                    format!(
                        "/api/dep_graph?{}",
                        form(&format!("{{\"task_id\": \"{g}\"}}"))
                    ),
                ));
            }
            longest = calls.iter().map(|(n, _)| (n.clone(), 0.0)).collect();
            while with_visualiser && !stop.load(Ordering::Relaxed) {
                for (i, (_, path)) in calls.iter().enumerate() {
                    let t = Instant::now();
                    if c.call("GET", path, "").is_err() {
                        return longest;
                    }
                    let s = t.elapsed().as_secs_f64();
                    longest[i].1 = longest[i].1.max(s);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            longest
        })
    };
    let mut health = Vec::new();
    let t0 = Instant::now();
    if let Ok(mut c) = Conn::open(&addr) {
        while t0.elapsed() < duration {
            let t = Instant::now();
            if c.call("HEAD", "/", "").is_err() {
                break;
            }
            health.push(t.elapsed().as_secs_f64());
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let vis = visualiser.join().unwrap_or_default();
    let secs = t0.elapsed().as_secs_f64();
    let longest_loop = metric(&addr, "luigid_loop_iteration_longest_seconds");
    let slow_after = metric(&addr, SLOW);
    let slow = match (slow_before.parse::<f64>(), slow_after.parse::<f64>()) {
        (Ok(a), Ok(b)) => format!("{}", b - a),
        _ => "?".into(),
    };
    health.sort_by(|a, b| a.total_cmp(b));
    println!(
        "| workers | offered req/s | answered req/s | errors | health p50 | health p99 | health max | loop iterations >= 20 ms during the run | longest loop iteration since start |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {workers} | {rate} | {:.0} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {slow} | {} s |",
        answered.load(Ordering::Relaxed) as f64 / secs,
        errors.load(Ordering::Relaxed),
        percentile(&health, 0.5) * 1e3,
        percentile(&health, 0.99) * 1e3,
        health.last().copied().unwrap_or(0.0) * 1e3,
        longest_loop
    );
    for (name, s) in vis {
        println!("visualiser {name}: longest {:.1} ms", s * 1e3);
    }
}

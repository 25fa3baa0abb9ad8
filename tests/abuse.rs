//! Load and abuse on loopback against the real binary, each bounded in count and time:
//! many idle and slow-header connections, a byte-per-interval client, and a client that
//! pipelines requests without reading the answers. Only generous time bounds are asserted.
mod common;

use common::{Addr, Server};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Raise this process's soft RLIMIT_NOFILE towards `want` (children inherit it); returns
/// the soft limit in force afterwards.
fn raise_nofile(want: u64) -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        if r.rlim_cur < want {
            r.rlim_cur = want.min(r.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        }
    }
    r.rlim_cur
}

fn tcp_addr(s: &Server) -> SocketAddr {
    match &s.addr {
        Addr::Tcp(a) => a.parse().expect("socket address"),
        Addr::Unix(_) => panic!("tcp server expected"),
    }
}

/// `HEAD /` on a new connection answers 204 within `limit`.
fn health(addr: SocketAddr, limit: Duration) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, limit) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(limit));
    if s.write_all(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    let deadline = Instant::now() + limit;
    while got.len() < 12 && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got.starts_with(b"HTTP/1.1 204")
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn idle_and_slow_header_clients_do_not_stop_health_checks() {
    let limit = raise_nofile(8192);
    assert!(
        limit >= 2400,
        "RLIMIT_NOFILE {limit} too low for 1,000 idle connections"
    );
    let server = Server::start("", &["--port", "0", "--address", "127.0.0.1"]);
    let addr = tcp_addr(&server);
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect"));
    }
    let mut slow = Vec::new();
    for i in 0..100 {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        // An unfinished head: the server must keep it aside, not wait on it.
        s.write_all(format!("GET /slow{i} HTTP/1.1\r\nHost: t\r\nX-A: ").as_bytes())
            .expect("send");
        slow.push(s);
    }
    assert!(
        health(addr, Duration::from_secs(5)),
        "no health answer with 1,100 open clients"
    );
    for s in &mut slow {
        let _ = s.write_all(b"x");
    }
    for _ in 0..20 {
        assert!(health(addr, Duration::from_secs(5)));
    }
    // A real RPC is served as well.
    let mut c = server.connect();
    let r = c.request("GET", "/api/is_paused");
    assert_eq!(r.status, 200);
    drop(idle);
    drop(slow);
    assert!(health(addr, Duration::from_secs(5)));
}

#[test]
fn trickling_client_is_cut_off_at_the_header_timeout() {
    let server = Server::start(
        "[luigid_rs]\nheader_timeout = 1\n",
        &["--port", "0", "--address", "127.0.0.1"],
    );
    let addr = tcp_addr(&server);
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let head =
        b"GET / HTTP/1.1\r\nHost: t\r\nX-Trickle: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let start = Instant::now();
    let mut cut = None;
    let mut reply = Vec::new();
    // A byte every 400 ms keeps any per-read idle timer happy; only a limit on the whole
    // head stops it. The whole head would take 30 s.
    'outer: for b in head.iter() {
        if s.write_all(&[*b]).is_err() {
            cut = Some(start.elapsed());
            break;
        }
        let until = Instant::now() + Duration::from_millis(400);
        while Instant::now() < until {
            let mut buf = [0u8; 256];
            match s.read(&mut buf) {
                Ok(0) => {
                    cut = Some(start.elapsed());
                    break 'outer;
                }
                Ok(n) => reply.extend_from_slice(&buf[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => {
                    cut = Some(start.elapsed());
                    break 'outer;
                }
            }
        }
        if start.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    let cut = cut.expect("the trickling client was never cut off");
    eprintln!("trickling client cut off after {cut:?}");
    assert!(cut < Duration::from_secs(6), "cut off only after {cut:?}");
    assert!(
        reply.is_empty() || reply.starts_with(b"HTTP/1.1 408"),
        "unexpected reply {:?}",
        String::from_utf8_lossy(&reply)
    );
    assert!(health(addr, Duration::from_secs(5)));
}

#[test]
fn pipelining_without_reading_does_not_grow_memory_without_bound() {
    let server = Server::start("", &["--port", "0", "--address", "127.0.0.1"]);
    let addr = tcp_addr(&server);
    let pid = server.child.id();
    let before = rss_kib(pid);
    // Eight flooders, 50 MB in all at most, 20 s at most; the server stops reading a
    // connection once its output for it is capped, and then that writer times out.
    let floods: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_write_timeout(Some(Duration::from_secs(2)))
                    .expect("timeout");
                let one = b"GET /api/task_list?data=%7B%22status%22%3A%22PENDING%22%7D HTTP/1.1\r\nHost: t\r\n\r\n";
                let batch: Vec<u8> = one.iter().copied().cycle().take(one.len() * 1000).collect();
                let mut sent = 0usize;
                let start = Instant::now();
                while sent < 50 * 1024 * 1024 / 8 && start.elapsed() < Duration::from_secs(20) {
                    match s.write(&batch) {
                        Ok(n) => sent += n,
                        Err(_) => break,
                    }
                }
                (sent, s)
            })
        })
        .collect();
    let mut sent = 0;
    let mut conns = Vec::new();
    for f in floods {
        let (n, c) = f.join().expect("flood thread");
        sent += n;
        conns.push(c);
    }
    let after = rss_kib(pid);
    eprintln!("pipelined {sent} bytes unread; server RSS {before} -> {after} KiB");
    // The flooder got far enough to fill the server's output cap and socket buffers.
    assert!(sent > 8 * 1024 * 1024, "only {sent} bytes sent");
    assert!(
        after < 100 * 1024,
        "server RSS {after} KiB after {sent} pipelined bytes (before: {before} KiB)"
    );
    // Others are still served while the flooders sit there unread. Generous: an
    // unoptimized build on a loaded machine still works through the requests it read.
    let t = Instant::now();
    assert!(
        health(addr, Duration::from_secs(30)),
        "no health answer in 30 s"
    );
    eprintln!("health answered {:?} after the flood", t.elapsed());
    let mut c = server.connect();
    assert_eq!(c.request("GET", "/api/is_paused").status, 200);
    drop(conns);
    assert!(health(addr, Duration::from_secs(5)));
    assert!(rss_kib(pid) < 100 * 1024);
}

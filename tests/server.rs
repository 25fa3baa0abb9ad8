//! The real binary over TCP and UNIX sockets: framing, keep-alive, pipelining, timeouts,
//! connection cap, signals, command line.

mod common;

use common::{command, wait_child, Addr, Conn, Server};
use std::io::Write;
use std::time::{Duration, Instant};

const NO_CFG: &str = "";

#[test]
fn head_root_and_ping_over_tcp() {
    let s = Server::start(NO_CFG, &["--port", "0"]);
    let Addr::Tcp(a) = &s.addr else {
        panic!("tcp expected")
    };
    assert!(a.starts_with("127.0.0.1:") && !a.ends_with(":0"), "{a}");
    let mut c = s.connect();
    let r = c.request("HEAD", "/");
    assert_eq!(r.status, 204);
    let r = c.request("GET", "/api/is_paused");
    assert_eq!(r.status, 200);
    let body = String::from_utf8_lossy(&r.body);
    assert!(body.starts_with("{\"response\":"), "{body}");
}

#[test]
fn keep_alive_thousand_requests_on_one_connection() {
    let s = Server::start(NO_CFG, &["--port", "0"]);
    let mut c = s.connect();
    for i in 0..1000 {
        let (m, p) = if i % 2 == 0 {
            ("HEAD", "/")
        } else {
            ("GET", "/api/is_paused")
        };
        let r = c.request(m, p);
        assert_eq!(r.status, if i % 2 == 0 { 204 } else { 200 }, "request {i}");
        assert_ne!(r.header("connection"), Some("close"));
    }
}

fn pipelined(s: &Server, n: usize) {
    let mut c = s.connect();
    let mut batch = Vec::new();
    for i in 0..n {
        match i % 3 {
            0 => batch.extend_from_slice(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"),
            1 => batch.extend_from_slice(b"GET /api/is_paused HTTP/1.1\r\nHost: t\r\n\r\n"),
            _ => batch.extend_from_slice(
                b"POST /api/is_paused HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\ndata={}",
            ),
        }
    }
    c.send(&batch);
    for i in 0..n {
        let r = c.read_reply(i % 3 == 0).expect("reply");
        let want = if i % 3 == 0 { 204 } else { 200 };
        assert_eq!(r.status, want, "reply {i} out of order or wrong");
    }
}

#[test]
fn pipelined_requests_answered_in_order() {
    let s = Server::start(NO_CFG, &["--port", "0"]);
    pipelined(&s, 300);
}

#[test]
fn output_cap_pauses_and_resumes_a_pipeline() {
    // Every reply is over the cap, so the server answers one request per drain.
    let s = Server::start("[luigid_rs]\noutput_cap_bytes = 1\n", &["--port", "0"]);
    pipelined(&s, 300);
}

#[test]
fn two_hundred_concurrent_connections() {
    let s = Server::start(NO_CFG, &["--port", "0"]);
    let mut conns: Vec<Conn> = (0..200).map(|_| s.connect()).collect();
    for c in conns.iter_mut() {
        c.send(b"GET /api/is_paused HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(c.read_reply(false).expect("reply").status, 200, "conn {i}");
    }
    // And once more on every one of them (all still open).
    for c in conns.iter_mut() {
        assert_eq!(c.request("HEAD", "/").status, 204);
    }
}

#[test]
fn http10_and_connection_close_are_closed_after_reply() {
    let s = Server::start(NO_CFG, &["--port", "0"]);
    let mut c = s.connect();
    c.send(b"GET /api/is_paused HTTP/1.0\r\n\r\n");
    assert_eq!(c.read_reply(false).unwrap().status, 200);
    assert!(c.closed_by_server());
    let mut c = s.connect();
    c.send(b"GET /api/is_paused HTTP/1.1\r\nConnection: close\r\n\r\nHEAD / HTTP/1.1\r\n\r\n");
    let r = c.read_reply(false).unwrap();
    assert_eq!(r.header("connection"), Some("close"));
    assert!(
        c.closed_by_server(),
        "the request after close is not answered"
    );
}

#[test]
fn expect_100_continue_then_body() {
    let s = Server::start(NO_CFG, &["--port", "0"]);
    let mut c = s.connect();
    c.send(
        b"POST /api/is_paused HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\n",
    );
    // The interim reply comes from the framer (the placeholder framer does not send it);
    // when it comes it must be exactly one `100 Continue` before the final reply.
    c.set_read_timeout(Duration::from_secs(2));
    let first = c.read_reply(true);
    c.set_read_timeout(Duration::from_secs(10));
    if let Ok(r) = &first {
        assert_eq!(r.status, 100);
    }
    c.send(b"data={}");
    let r = c.read_reply(false).expect("final reply");
    assert_eq!(r.status, 200);
    assert_eq!(c.request("HEAD", "/").status, 204);
}

#[test]
fn malformed_request_gets_400_and_close() {
    let s = Server::start(NO_CFG, &["--port", "0"]);
    let mut c = s.connect();
    c.send(b"GARBAGE\x01 / HTTP/1.1\r\n\r\n");
    assert_eq!(c.read_reply(false).unwrap().status, 400);
    assert!(c.closed_by_server());
    // The server is fine.
    assert_eq!(s.connect().request("HEAD", "/").status, 204);
}

#[test]
fn silent_and_slow_clients_are_timed_out_while_others_are_served() {
    let s = Server::start("[luigid_rs]\nheader_timeout = 1\n", &["--port", "0"]);
    let started = Instant::now();
    let mut silent = s.connect();
    silent.send(b"GET /api/is_paused HTTP/1.1\r\n");
    let mut slow = s.connect();
    slow.set_read_timeout(Duration::from_millis(200));
    let mut other = s.connect();
    // Others are served while the silent one waits.
    for _ in 0..10 {
        assert_eq!(other.request("HEAD", "/").status, 204);
    }
    // The slow client trickles one byte at a time; it must be cut off although it is
    // never idle.
    let req = b"GET /api/is_paused HTTP/1.1\r\nHost: t\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut cut = false;
    for b in req.iter() {
        if slow.w.write_all(&[*b]).is_err() || slow.closed_by_server() {
            cut = true;
            break;
        }
        if started.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    assert!(cut, "slow client was not cut off");
    silent.set_read_timeout(Duration::from_secs(5));
    assert!(silent.closed_by_server(), "silent client was not closed");
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(other.request("GET", "/api/is_paused").status, 200);
}

#[test]
fn idle_connection_is_closed() {
    let s = Server::start("[luigid_rs]\nidle_timeout = 0.5\n", &["--port", "0"]);
    let mut c = s.connect();
    assert_eq!(c.request("HEAD", "/").status, 204);
    c.set_read_timeout(Duration::from_secs(5));
    let t = Instant::now();
    assert!(c.closed_by_server());
    assert!(t.elapsed() < Duration::from_secs(4));
}

#[test]
fn connection_cap_leaves_new_clients_in_the_backlog() {
    let s = Server::start("[luigid_rs]\nmax_connections = 2\n", &["--port", "0"]);
    let mut a = s.connect();
    let mut b = s.connect();
    assert_eq!(a.request("HEAD", "/").status, 204);
    assert_eq!(b.request("HEAD", "/").status, 204);
    let mut c = s.connect(); // completes in the kernel backlog
    c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    c.set_read_timeout(Duration::from_millis(300));
    assert!(
        c.read_reply(true).is_err(),
        "third connection served over the cap"
    );
    // Existing clients keep working.
    assert_eq!(a.request("GET", "/api/is_paused").status, 200);
    drop(b);
    c.set_read_timeout(Duration::from_secs(5));
    assert_eq!(
        c.read_reply(true)
            .expect("served after a slot freed")
            .status,
        204
    );
}

#[test]
fn sigterm_exits_zero_promptly() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT] {
        let mut s = Server::start(NO_CFG, &["--port", "0"]);
        let mut idle = s.connect();
        assert_eq!(idle.request("HEAD", "/").status, 204);
        s.signal(sig);
        let st = s
            .wait_exit(Duration::from_secs(1))
            .expect("exit within a second");
        assert_eq!(st.code(), Some(0), "signal {sig}");
        assert!(idle.closed_by_server());
    }
}

#[test]
fn signal_right_after_the_listening_line_is_a_clean_stop() {
    let mut s = Server::start(NO_CFG, &["--port", "0"]);
    s.signal(libc::SIGTERM);
    let st = s
        .wait_exit(Duration::from_secs(1))
        .expect("exit within a second");
    assert_eq!(st.code(), Some(0));
}

#[test]
fn stop_does_not_wait_forever_for_a_client_that_never_reads() {
    let mut s = Server::start(
        "[luigid_rs]\nshutdown_timeout = 0.5\noutput_cap_bytes = 65536\n",
        &["--port", "0"],
    );
    let Addr::Tcp(a) = &s.addr else {
        panic!("tcp expected")
    };
    let mut hog = std::net::TcpStream::connect(a).unwrap();
    hog.set_nonblocking(true).unwrap();
    let batch = b"GET /api/is_paused HTTP/1.1\r\nHost: t\r\n\r\n".repeat(1000);
    // Send until the server stops reading (its output is capped and we never read).
    let until = Instant::now() + Duration::from_secs(5);
    let mut stalled = 0;
    while Instant::now() < until && stalled < 20 {
        match hog.write(&batch) {
            Ok(n) if n > 0 => stalled = 0,
            _ => {
                stalled += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    assert!(
        stalled >= 20,
        "the server kept reading from a client that never reads"
    );
    // Others are still served.
    assert_eq!(s.connect().request("HEAD", "/").status, 204);
    s.signal(libc::SIGTERM);
    let st = s
        .wait_exit(Duration::from_secs(3))
        .expect("exit after the deadline");
    assert_eq!(st.code(), Some(0));
}

#[test]
fn unix_socket_serves_and_replaces_only_stale_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("luigid.sock");
    let sock_s = sock.to_str().unwrap().to_string();
    let mut first = Server::start(NO_CFG, &["--unix-socket", &sock_s]);
    match &first.addr {
        Addr::Unix(p) => assert_eq!(p, &sock),
        a => panic!("{a:?}"),
    }
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(first.connect().request("HEAD", "/").status, 204);
    pipelined(&first, 30);

    // Live socket: refused.
    let d2 = tempfile::tempdir().unwrap();
    let out = command(d2.path(), NO_CFG, &["--unix-socket", &sock_s])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another server"), "{err}");

    // Killed hard: the file stays behind and the next server replaces it.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert!(sock.exists());
    let mut second = Server::start(
        "[luigid_rs]\nsocket_mode = 0660\n",
        &["--unix-socket", &sock_s],
    );
    assert_eq!(
        second.connect().request("GET", "/api/is_paused").status,
        200
    );
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    // A clean stop removes the socket file.
    second.signal(libc::SIGTERM);
    assert_eq!(
        second
            .wait_exit(Duration::from_secs(2))
            .and_then(|s| s.code()),
        Some(0)
    );
    assert!(!sock.exists());

    // Not a socket: refused and left alone.
    std::fs::write(&sock, "keep me").unwrap();
    let out = command(d2.path(), NO_CFG, &["--unix-socket", &sock_s])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(&sock).unwrap(), b"keep me");
}

#[test]
fn command_line_errors_and_version() {
    let d = tempfile::tempdir().unwrap();
    let out = command(d.path(), NO_CFG, &["--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));

    let out = command(d.path(), NO_CFG, &["--version"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("luigid-rs {}", env!("CARGO_PKG_VERSION"))
    );

    let out = command(d.path(), NO_CFG, &["--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--unix-socket"));

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = command(d.path(), NO_CFG, &["--port", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already in use"), "{err}");

    let out = command(d.path(), NO_CFG, &["--port", "eighty"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn config_errors_name_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let out = command(
        d.path(),
        "[luigid_rs]\nmax_connections = many\n",
        &["--port", "0"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("test.cfg:2: [luigid_rs] max_connections"),
        "{err}"
    );
    let out = command(d.path(), "[s]\na = 1\na = 2\n", &["--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("test.cfg:3:"));
    // --config is read last and must exist.
    let out = command(
        d.path(),
        NO_CFG,
        &["--port", "0", "--config", "/nonexistent.cfg"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn background_writes_pidfile_and_refuses_a_second_start() {
    let d = tempfile::tempdir().unwrap();
    let logdir = d.path().join("logs");
    let pidfile = d.path().join("run/luigid.pid");
    let (l, p) = (logdir.to_str().unwrap(), pidfile.to_str().unwrap());
    let state = d.path().join("state.json");
    let args = [
        "--background",
        "--port",
        "0",
        "--logdir",
        l,
        "--pidfile",
        p,
        "--state-path",
        state.to_str().unwrap(),
    ];
    let mut child = command(d.path(), NO_CFG, &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let st = wait_child(&mut child, Duration::from_secs(20)).expect("parent exits");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        st.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let addr = line
        .strip_prefix("luigid-rs listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    struct Kill(i32);
    impl Drop for Kill {
        fn drop(&mut self) {
            // SAFETY: the daemon this test started.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
    let guard = Kill(pid);
    assert_eq!(
        Conn::connect(&Addr::Tcp(addr)).request("HEAD", "/").status,
        204
    );
    // A second start with the same pidfile is refused.
    let out = command(d.path(), NO_CFG, &args).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));
    // SIGTERM stops the daemon.
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(3);
    // SAFETY: probing whether the process still exists.
    while unsafe { libc::kill(pid, 0) } == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: as above.
    assert_ne!(unsafe { libc::kill(pid, 0) }, 0, "daemon still running");
    drop(guard);
    assert!(std::fs::read_dir(&logdir).unwrap().count() >= 2);
}

#[test]
fn toml_configuration_and_unknown_key_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("luigi.toml"),
        "[luigid_rs]\nsocket_mode = \"0640\"\nbogus_key = 1\n",
    )
    .unwrap();
    let sock = dir.path().join("t.sock");
    let mut cmd = command(
        dir.path(),
        NO_CFG,
        &["--unix-socket", sock.to_str().unwrap()],
    );
    cmd.env("LUIGI_CONFIG_PARSER", "toml")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert!(line.starts_with("luigid-rs listening on unix:"), "{line:?}");
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let st = wait_child(&mut child, Duration::from_secs(2)).expect("exits");
    assert_eq!(st.code(), Some(0));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("unknown key [luigid_rs] bogus_key"), "{err}");
    // The .cfg in LUIGI_CONFIG_PATH is for the other parser: a warning, not an error.
    assert!(err.contains("LUIGI_CONFIG_PATH"), "{err}");
}

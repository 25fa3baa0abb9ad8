//! Starting the real binary and talking raw HTTP/1.1 to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_luigid-rs");

/// Where a started server listens.
#[derive(Debug, Clone)]
pub enum Addr {
    Tcp(String),
    Unix(PathBuf),
}

pub struct Server {
    pub child: Child,
    pub addr: Addr,
    pub dir: tempfile::TempDir,
    pub stderr: mpsc::Receiver<String>,
}

/// A command for the binary run in `dir` with `cfg` as its LUIGI_CONFIG_PATH file.
pub fn command(dir: &Path, cfg: &str, args: &[&str]) -> Command {
    let cfg_path = dir.join("test.cfg");
    std::fs::write(&cfg_path, cfg).expect("write config");
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env("LUIGI_CONFIG_PATH", &cfg_path)
        .env_remove("LUIGI_CONFIG_PARSER")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

impl Server {
    /// Start with `args` (a state path in the temp dir is added) and wait for the
    /// listening line.
    pub fn start(cfg: &str, args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        Server::start_in(dir, cfg, args)
    }

    pub fn start_in(dir: tempfile::TempDir, cfg: &str, args: &[&str]) -> Server {
        let state = dir.path().join("state.json");
        let state = state.to_str().expect("utf-8 path").to_string();
        let mut all: Vec<&str> = vec!["--state-path", &state];
        all.extend_from_slice(args);
        let mut child = command(dir.path(), cfg, &all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn luigid-rs");
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (etx, erx) = mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = etx.send(line);
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let errs: Vec<String> = erx.try_iter().collect();
                panic!("no listening line; stderr: {errs:?}");
            }
        };
        let rest = line
            .strip_prefix("luigid-rs listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        let addr = match rest.strip_prefix("unix:") {
            Some(p) => Addr::Unix(PathBuf::from(p)),
            None => Addr::Tcp(rest.to_string()),
        };
        Server {
            child,
            addr,
            dir,
            stderr: erx,
        }
    }

    pub fn connect(&self) -> Conn {
        Conn::connect(&self.addr)
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Wait for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_child(&mut self.child, limit)
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_child(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// One client connection with a buffered reader.
pub struct Conn {
    pub r: BufReader<Box<dyn Read + Send>>,
    pub w: Box<dyn Write + Send>,
    tcp: Option<std::net::TcpStream>,
    unix: Option<std::os::unix::net::UnixStream>,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Conn {
    pub fn connect(addr: &Addr) -> Conn {
        let timeout = Some(Duration::from_secs(10));
        match addr {
            Addr::Tcp(a) => {
                let s = std::net::TcpStream::connect(a).expect("connect");
                s.set_read_timeout(timeout).expect("timeout");
                let r = s.try_clone().expect("clone");
                let w = s.try_clone().expect("clone");
                Conn {
                    r: BufReader::new(Box::new(r)),
                    w: Box::new(w),
                    tcp: Some(s),
                    unix: None,
                }
            }
            Addr::Unix(p) => {
                let s = std::os::unix::net::UnixStream::connect(p).expect("connect");
                s.set_read_timeout(timeout).expect("timeout");
                let r = s.try_clone().expect("clone");
                let w = s.try_clone().expect("clone");
                Conn {
                    r: BufReader::new(Box::new(r)),
                    w: Box::new(w),
                    tcp: None,
                    unix: Some(s),
                }
            }
        }
    }

    pub fn set_read_timeout(&self, t: Duration) {
        if let Some(s) = &self.tcp {
            s.set_read_timeout(Some(t)).expect("timeout");
        }
        if let Some(s) = &self.unix {
            s.set_read_timeout(Some(t)).expect("timeout");
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("send");
        self.w.flush().expect("flush");
    }

    /// Read one reply; `head_only` for replies to HEAD (no body despite Content-Length).
    pub fn read_reply(&mut self, head_only: bool) -> std::io::Result<Reply> {
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if self.r.read_line(&mut h)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_string(), v.trim().to_string()));
            }
        }
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        if !head_only && status != 204 && status != 304 && status >= 200 {
            let len: usize = reply
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            reply.body = vec![0; len];
            self.r.read_exact(&mut reply.body)?;
        }
        Ok(reply)
    }

    /// Send one request and read its reply.
    pub fn request(&mut self, method: &str, path: &str) -> Reply {
        self.send(format!("{method} {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        self.read_reply(method == "HEAD").expect("reply")
    }

    /// True when the server closed the connection (EOF or reset) within the read timeout.
    pub fn closed_by_server(&mut self) -> bool {
        let mut buf = [0u8; 1024];
        loop {
            match self.r.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

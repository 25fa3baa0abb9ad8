//! The event loop: one thread, one `mio::Poll`, the only module that touches sockets.
//!
//! Each iteration: wait for readiness or the next timer; read the clock once; fire due
//! timers; accept; read and answer every ready connection's requests (in order, up to an
//! output cap per connection); call `App::before_flush` once (the journal's group commit);
//! then write the replies. Readiness is edge-triggered, so every read and accept loop runs
//! until `WouldBlock` (or a short read, which drains a socket too), and a connection
//! remembers that it still has unread input when it stops early (output cap).

mod listen;
pub mod timer;

pub use listen::{bind_tcp, bind_unix, peer_uid, Bound};

use std::io::{self, Read, Write};
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token};

use crate::app::{App, Peer};
use crate::config::ServerConfig;
use crate::http::{self, Frame, Framer, Response};
use timer::{TimerId, TimerWheel};

const SIGNAL: Token = Token(0);
const LISTENER_BASE: usize = 1;
const CONN_BASE: usize = 1 << 16;

const TICK_MS: u64 = 1_000;
const PRUNE_MS: u64 = 60_000;
/// How long a closing connection's unread input is drained after our last reply, so the
/// kernel does not answer it with a reset that could destroy the reply in flight.
const LINGER_MS: u64 = 2_000;
const READ_CHUNK: usize = 64 * 1024;
/// A loop iteration at least this long is counted as slow in /metrics.
pub const SLOW_ITERATION_SECS: f64 = 0.020;
const MAX_READS_PER_TURN: usize = 16;

/// Where a reply that waits for the group commit sits in its connection's output.
struct Uncommitted {
    idx: usize,
    gen: u32,
    start: usize,
    end: usize,
    keep: bool,
    minor_version: u8,
}

#[derive(Debug)]
enum Timer {
    Prune,
    Tick,
    Conn { idx: usize, gen: u32 },
    Shutdown,
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn shutdown_write(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        };
    }

    fn deregister(&mut self, poll: &Poll) {
        let _ = match self {
            Stream::Tcp(s) => poll.registry().deregister(s),
            Stream::Unix(s) => poll.registry().deregister(s),
        };
    }
}

struct Conn {
    stream: Stream,
    peer: Peer,
    gen: u32,
    /// Received bytes; those before `rpos` are consumed (compacted lazily, so a pipeline
    /// of small requests is not shifted once per request).
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    framer: Framer,
    /// A readable edge arrived and no read has hit `WouldBlock` since.
    read_ready: bool,
    /// The peer closed its side.
    eof: bool,
    /// An event reported the peer's close or an error: read until `WouldBlock` or EOF
    /// rather than stopping after a short read.
    hup_seen: bool,
    /// Close once `wbuf` is written (Connection: close, a framing error, shutdown).
    closing: bool,
    /// Our side is shut down; unread input is drained until EOF or the linger time.
    lingering: bool,
    /// When the first byte of the request head now being received arrived (ms).
    head_started: Option<u64>,
    /// The head of the request being received is complete (only its body is missing).
    head_done: bool,
    last_active: u64,
    timer: Option<(TimerId, u64)>,
    queued: bool,
}

impl Conn {
    fn unsent(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    fn unread(&self) -> &[u8] {
        &self.rbuf[self.rpos..]
    }

    fn consume(&mut self, n: usize) {
        self.rpos = (self.rpos + n).min(self.rbuf.len());
        if self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
            // Do not keep a large body's buffer for the life of a keep-alive connection.
            if self.rbuf.capacity() > 4 * READ_CHUNK {
                self.rbuf.shrink_to(READ_CHUNK);
            }
        }
    }

    fn discard_input(&mut self) {
        self.rbuf.clear();
        self.rpos = 0;
    }

    /// Room before a read: drop consumed bytes once they are a large share of the buffer.
    fn compact(&mut self) {
        if self.rpos > 0 && (self.rpos >= READ_CHUNK || self.rpos * 2 >= self.rbuf.len()) {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
    }
}

/// Loop state; `app` is borrowed for the loop's lifetime.
struct Server<'a> {
    app: &'a mut App,
    cfg: ServerConfig,
    poll: Poll,
    listeners: Vec<Listener>,
    unix_path: Option<(std::path::PathBuf, (u64, u64))>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    open: usize,
    next_gen: u32,
    wheel: TimerWheel<Timer>,
    /// Connections to process this iteration, and the next one's (resumed after a drain).
    work: Vec<usize>,
    next_work: Vec<usize>,
    flush: Vec<(usize, u32)>,
    /// Replies of this iteration that wait for the journal's group commit.
    uncommitted: Vec<Uncommitted>,
    /// A listener may hold connections we did not take (at the cap, or an accept error).
    accept_pending: bool,
    shutdown_at: Option<u64>,
    start: Instant,
    /// Read buffer shared by all connections; each read is copied into the connection's.
    scratch: Vec<u8>,
    mono: u64,
    now: f64,
}

/// Sockets and stop-signal handlers registered with the loop's `Poll`. Made before the
/// application is built, so a stop signal arriving from then on is handled by the loop.
pub struct Prepared {
    poll: Poll,
    listeners: Vec<Listener>,
    unix_path: Option<(std::path::PathBuf, (u64, u64))>,
    signals: signal_hook_mio::v1_0::Signals,
}

impl Prepared {
    /// Give up without running (startup failed): remove our UNIX socket file.
    pub fn abandon(self) {
        if let Some((path, id)) = &self.unix_path {
            listen::remove_socket_file(path, *id);
        }
    }
}

/// Register the bound sockets and the SIGINT/SIGTERM/SIGQUIT handlers with a new `Poll`.
/// Call after any fork.
pub fn prepare(bound: Bound) -> io::Result<Prepared> {
    let poll = Poll::new()?;
    let mut listeners = Vec::new();
    let mut unix_path = None;
    match bound {
        Bound::Tcp(ls) => {
            for l in ls {
                l.set_nonblocking(true)?;
                listeners.push(Listener::Tcp(TcpListener::from_std(l)));
            }
        }
        Bound::Unix { listener, path, id } => {
            listener.set_nonblocking(true)?;
            listeners.push(Listener::Unix(UnixListener::from_std(listener)));
            unix_path = Some((path, id));
        }
    }
    for (i, l) in listeners.iter_mut().enumerate() {
        let token = Token(LISTENER_BASE + i);
        match l {
            Listener::Tcp(l) => poll.registry().register(l, token, Interest::READABLE)?,
            Listener::Unix(l) => poll.registry().register(l, token, Interest::READABLE)?,
        }
    }
    let mut signals = signal_hook_mio::v1_0::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGQUIT,
    ])?;
    poll.registry()
        .register(&mut signals, SIGNAL, Interest::READABLE)?;
    Ok(Prepared {
        poll,
        listeners,
        unix_path,
        signals,
    })
}

/// [`prepare`] then [`run_prepared`].
pub fn run(bound: Bound, app: &mut App, cfg: ServerConfig) -> io::Result<()> {
    run_prepared(prepare(bound)?, app, cfg)
}

/// Run the loop until a stop signal: SIGINT, SIGTERM or SIGQUIT stop accepting, finish the
/// replies in flight (bounded by `shutdown_timeout`), call `App::shutdown` and return.
pub fn run_prepared(prepared: Prepared, app: &mut App, cfg: ServerConfig) -> io::Result<()> {
    let Prepared {
        poll,
        listeners,
        unix_path,
        mut signals,
    } = prepared;
    let mut wheel = TimerWheel::new(0, 10);
    wheel.insert(PRUNE_MS, Timer::Prune);
    wheel.insert(TICK_MS, Timer::Tick);
    let mut s = Server {
        app,
        cfg,
        poll,
        listeners,
        unix_path,
        conns: Vec::new(),
        free: Vec::new(),
        open: 0,
        next_gen: 0,
        wheel,
        work: Vec::new(),
        next_work: Vec::new(),
        flush: Vec::new(),
        uncommitted: Vec::new(),
        accept_pending: false,
        shutdown_at: None,
        start: Instant::now(),
        scratch: vec![0; READ_CHUNK],
        mono: 0,
        now: crate::clock::unix_now(),
    };
    let result = s.run_loop(&mut signals);
    if let Some((path, id)) = &s.unix_path {
        listen::remove_socket_file(path, *id);
    }
    result
}

fn ms(seconds: f64) -> u64 {
    (seconds * 1000.0).ceil() as u64
}

impl Server<'_> {
    fn run_loop(&mut self, signals: &mut signal_hook_mio::v1_0::Signals) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut fired = Vec::new();
        let mut reported_open = usize::MAX;
        let mut longest_busy = 0.0_f64;
        loop {
            let timeout = if !self.next_work.is_empty() {
                Some(Duration::ZERO)
            } else {
                let mono = self.start.elapsed().as_millis() as u64;
                self.wheel
                    .next_deadline()
                    .map(|d| Duration::from_millis(d.saturating_sub(mono)))
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            let busy_since = Instant::now();
            // The one clock reading of this iteration.
            self.mono = self.start.elapsed().as_millis() as u64;
            self.now = crate::clock::unix_now();
            std::mem::swap(&mut self.work, &mut self.next_work);

            fired.clear();
            self.wheel.advance(self.mono, &mut fired);
            for t in fired.drain(..) {
                self.on_timer(t);
            }

            for ev in events.iter() {
                match ev.token() {
                    SIGNAL => {
                        for sig in signals.pending() {
                            self.on_signal(sig);
                        }
                    }
                    Token(t) if t >= CONN_BASE => {
                        let idx = t - CONN_BASE;
                        if let Some(c) = self.conns.get_mut(idx).and_then(|c| c.as_mut()) {
                            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                                c.read_ready = true;
                                c.hup_seen |= ev.is_read_closed() || ev.is_error();
                                if !c.queued {
                                    c.queued = true;
                                    self.work.push(idx);
                                }
                            }
                            if ev.is_writable() || ev.is_write_closed() {
                                self.flush.push((idx, c.gen));
                            }
                        }
                    }
                    Token(_) => self.accept_pending = true,
                }
            }
            if self.accept_pending {
                self.accept();
            }

            let work = std::mem::take(&mut self.work);
            for &idx in &work {
                self.process(idx);
            }
            self.work = work;
            self.work.clear();

            // Group-commit point: everything answered above is made durable before any of
            // its replies leaves; if that fails, they leave as 503s instead.
            if !self.app.before_flush(self.now) {
                self.refuse_uncommitted();
            }
            self.uncommitted.clear();

            let flush = std::mem::take(&mut self.flush);
            for &(idx, gen) in &flush {
                self.write(idx, gen);
            }
            self.flush = flush;
            self.flush.clear();

            if self.accept_pending {
                self.accept();
            }
            if self.open != reported_open {
                reported_open = self.open;
                self.app.set_open_connections(self.open);
            }
            // How long this iteration held the loop (timers, requests, commit, writes):
            // only a new longest or a slow one is reported, not every iteration.
            let busy = busy_since.elapsed().as_secs_f64();
            if busy > longest_busy || busy >= SLOW_ITERATION_SECS {
                longest_busy = longest_busy.max(busy);
                self.app.observe_loop_iteration(busy);
            }
            if let Some(deadline) = self.shutdown_at {
                if self.open == 0 || self.mono >= deadline {
                    if self.open > 0 {
                        log::warn!(
                            "stopping with {} connection(s) still writing replies",
                            self.open
                        );
                    }
                    self.app.shutdown(self.now);
                    return Ok(());
                }
            }
        }
    }

    fn on_timer(&mut self, t: Timer) {
        match t {
            Timer::Prune => {
                self.app.on_prune_timer(self.now);
                self.wheel.insert(self.mono + PRUNE_MS, Timer::Prune);
            }
            Timer::Tick => {
                self.app.on_tick(self.now);
                self.wheel.insert(self.mono + TICK_MS, Timer::Tick);
                // Retry accepts that failed (e.g. out of file descriptors).
                if self.open < self.cfg.max_connections {
                    self.accept_pending = true;
                }
            }
            Timer::Shutdown => {}
            Timer::Conn { idx, gen } => self.on_conn_timer(idx, gen),
        }
    }

    fn on_signal(&mut self, sig: i32) {
        if self.shutdown_at.is_some() {
            log::info!("signal {sig} again: stopping now");
            self.shutdown_at = Some(self.mono);
            return;
        }
        log::info!("signal {sig}: shutting down");
        let deadline = self.mono + ms(self.cfg.shutdown_timeout);
        self.shutdown_at = Some(deadline);
        self.wheel.insert(deadline, Timer::Shutdown);
        // Stop accepting: drop the listeners (pending connections are refused).
        for l in self.listeners.drain(..) {
            let _ = match l {
                Listener::Tcp(mut l) => self.poll.registry().deregister(&mut l),
                Listener::Unix(mut l) => self.poll.registry().deregister(&mut l),
            };
        }
        if let Some((path, id)) = self.unix_path.take() {
            listen::remove_socket_file(&path, id);
        }
        // Idle connections go now; the others once their replies are written.
        for idx in 0..self.conns.len() {
            let Some(c) = self.conns[idx].as_mut() else {
                continue;
            };
            c.closing = true;
            c.discard_input();
            if c.unsent() == 0 {
                self.close(idx);
            }
        }
    }

    fn accept(&mut self) {
        self.accept_pending = false;
        for i in 0..self.listeners.len() {
            loop {
                if self.open >= self.cfg.max_connections {
                    // Leave the rest in the backlog; retried when a connection closes.
                    self.accept_pending = true;
                    return;
                }
                let accepted = match &self.listeners[i] {
                    Listener::Tcp(l) => l.accept().map(|(s, addr)| {
                        let _ = s.set_nodelay(true);
                        let peer = Peer {
                            addr: addr.to_string(),
                            uid: None,
                        };
                        (Stream::Tcp(s), peer)
                    }),
                    Listener::Unix(l) => l.accept().map(|(s, _)| {
                        let peer = Peer {
                            addr: "unix".to_string(),
                            uid: peer_uid(s.as_raw_fd()),
                        };
                        (Stream::Unix(s), peer)
                    }),
                };
                match accepted {
                    Ok((stream, peer)) => self.add_conn(stream, peer),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // EMFILE and friends: the connection stays queued; retried on the tick.
                        log::warn!("accept failed: {e}");
                        break;
                    }
                }
            }
        }
    }

    fn add_conn(&mut self, mut stream: Stream, peer: Peer) {
        let idx = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let token = Token(CONN_BASE + idx);
        let interest = Interest::READABLE | Interest::WRITABLE;
        let reg = match &mut stream {
            Stream::Tcp(s) => self.poll.registry().register(s, token, interest),
            Stream::Unix(s) => self.poll.registry().register(s, token, interest),
        };
        if let Err(e) = reg {
            log::warn!("cannot register connection from {}: {e}", peer.addr);
            self.free.push(idx);
            return;
        }
        log::debug!("connection {idx} from {}", peer.addr);
        self.next_gen = self.next_gen.wrapping_add(1);
        self.conns[idx] = Some(Conn {
            stream,
            peer,
            gen: self.next_gen,
            rbuf: Vec::new(),
            rpos: 0,
            wbuf: Vec::new(),
            wpos: 0,
            framer: Framer::new(self.cfg.limits()),
            // Data may already be waiting; one read costs less than a loop round trip.
            read_ready: true,
            eof: false,
            hup_seen: false,
            closing: false,
            lingering: false,
            head_started: None,
            head_done: false,
            last_active: self.mono,
            timer: None,
            queued: true,
        });
        self.open += 1;
        self.next_work.push(idx);
        self.arm(idx);
    }

    /// The connection's next deadline: idle, linger, or the header timeout of a request
    /// head in progress.
    fn deadline(&self, c: &Conn) -> u64 {
        if c.lingering {
            return c.last_active + LINGER_MS;
        }
        let mut d = c.last_active + ms(self.cfg.idle_timeout);
        if let (Some(h), false) = (c.head_started, c.head_done) {
            d = d.min(h + ms(self.cfg.header_timeout));
        }
        d
    }

    /// Make sure a timer fires no later than the connection's deadline. A timer that fires
    /// early just re-arms, so activity costs nothing on the wheel.
    fn arm(&mut self, idx: usize) {
        let Some(c) = self.conns[idx].as_ref() else {
            return;
        };
        let d = self.deadline(c);
        let gen = c.gen;
        let old = c.timer;
        if let Some((id, at)) = old {
            if at <= d {
                return;
            }
            self.wheel.cancel(id);
        }
        let id = self.wheel.insert(d, Timer::Conn { idx, gen });
        if let Some(c) = self.conns[idx].as_mut() {
            c.timer = Some((id, d));
        }
    }

    fn on_conn_timer(&mut self, idx: usize, gen: u32) {
        let mono = self.mono;
        let header_ms = ms(self.cfg.header_timeout);
        let idle_ms = ms(self.cfg.idle_timeout);
        let cap = self.cfg.output_cap_bytes;
        let Some(c) = self.conns.get_mut(idx).and_then(|c| c.as_mut()) else {
            return;
        };
        if c.gen != gen {
            return;
        }
        c.timer = None;
        if c.lingering {
            if mono >= c.last_active + LINGER_MS {
                self.close(idx);
                return;
            }
        } else if mono >= c.last_active + idle_ms {
            log::debug!("connection {idx} from {}: idle timeout", c.peer.addr);
            self.close(idx);
            return;
        } else if let (Some(h), false) = (c.head_started, c.head_done) {
            // A connection waiting for its client to read replies is not slow at sending.
            if c.unsent() <= cap && mono >= h + header_ms {
                log::info!(
                    "connection from {}: request head not complete after {} s, closing",
                    c.peer.addr,
                    self.cfg.header_timeout
                );
                self.close(idx);
                return;
            }
            if c.unsent() > cap {
                c.head_started = Some(mono);
            }
        }
        self.arm(idx);
    }

    /// Read and answer requests until input runs dry, the output cap is reached or the
    /// connection is closing.
    fn process(&mut self, idx: usize) {
        let cap = self.cfg.output_cap_bytes;
        let max_buffered = self.cfg.max_head_bytes + self.cfg.max_body_bytes + READ_CHUNK;
        let shutting_down = self.shutdown_at.is_some();
        let (mono, now) = (self.mono, self.now);
        let Some(c) = self.conns.get_mut(idx).and_then(|c| c.as_mut()) else {
            return;
        };
        c.queued = false;
        let mut failed = false;
        // Reads per turn, so one fast client cannot hold the loop.
        let mut reads = 0;
        loop {
            if reads >= MAX_READS_PER_TURN {
                c.queued = true;
                self.next_work.push(idx);
                break;
            }
            if c.lingering {
                // Discard what the client still sends after our last reply.
                let mut sink = [0u8; 4096];
                reads += 1;
                match c.stream.read(&mut sink) {
                    Ok(0) => {
                        failed = true;
                        break;
                    }
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            // Answer every complete request already buffered.
            while !c.closing && !c.unread().is_empty() && c.unsent() <= cap {
                match c.framer.next_frame(&c.rbuf[c.rpos..]) {
                    Ok(Some(Frame::Request { request, consumed })) => {
                        c.consume(consumed);
                        let mut resp = self.app.handle(&request, &c.peer, now);
                        if request.method == "HEAD" {
                            resp.head_only = true;
                        }
                        log::debug!(
                            "{} {} {} -> {}",
                            c.peer.addr,
                            request.method,
                            request.path,
                            resp.status
                        );
                        let keep = http::keep_alive(&request) && !resp.close && !shutting_down;
                        let start = c.wbuf.len();
                        http::encode_response(
                            &resp,
                            keep,
                            request.minor_version,
                            now as u64,
                            &mut c.wbuf,
                        );
                        if resp.needs_commit {
                            self.uncommitted.push(Uncommitted {
                                idx,
                                gen: c.gen,
                                start,
                                end: c.wbuf.len(),
                                keep,
                                minor_version: request.minor_version,
                            });
                        }
                        c.head_started = (!c.unread().is_empty()).then_some(mono);
                        c.head_done = false;
                        c.framer.recycle(request);
                        if !keep {
                            c.closing = true;
                            c.discard_input();
                        }
                    }
                    Ok(Some(Frame::Continue)) => {
                        c.wbuf.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        c.head_done = true;
                        break;
                    }
                    Ok(None) => {
                        if !c.head_done && head_complete(c.unread()) {
                            c.head_done = true;
                        }
                        if c.unread().len() > max_buffered {
                            // The framer should have refused this already; never buffer more.
                            let resp =
                                Response::new(413).with_body("text/plain", "request too large");
                            http::encode_response(&resp, false, 1, now as u64, &mut c.wbuf);
                            c.closing = true;
                            c.discard_input();
                        }
                        break;
                    }
                    Err(e) => {
                        log::debug!("bad request from {}: {}", c.peer.addr, e.message);
                        let mut resp = Response::new(e.status)
                            .with_body("text/plain; charset=UTF-8", format!("{}\n", e.message));
                        resp.close = true;
                        http::encode_response(&resp, false, 1, now as u64, &mut c.wbuf);
                        c.closing = true;
                        c.discard_input();
                        break;
                    }
                }
            }
            if c.closing || c.eof || !c.read_ready || c.unsent() > cap || shutting_down {
                break;
            }
            reads += 1;
            c.compact();
            match c.stream.read(&mut self.scratch) {
                Ok(0) => {
                    c.eof = true;
                    c.read_ready = false;
                }
                Ok(n) => {
                    if c.unread().is_empty() {
                        c.head_started = Some(mono);
                        c.head_done = false;
                    }
                    c.rbuf.extend_from_slice(&self.scratch[..n]);
                    c.last_active = mono;
                    // A short read drained the socket: more input raises a new edge
                    // (epoll re-arms on every arrival after the wait that reported this
                    // one), so the read that would only say `WouldBlock` is skipped —
                    // one syscall less per request. A close already reported is
                    // instead read to its EOF.
                    if n < self.scratch.len() && !c.hup_seen {
                        c.read_ready = false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.read_ready = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            self.close(idx);
            return;
        }
        if c.eof && !c.closing && c.unsent() <= cap {
            // The client is done sending and every whole request it sent is answered.
            c.closing = true;
            c.discard_input();
        }
        let gen = c.gen;
        if c.unsent() > 0 || c.closing {
            self.flush.push((idx, gen));
        }
        self.arm(idx);
    }

    /// The journal records of this iteration were not kept: every reply that depended on
    /// them is replaced, in place, by a 503 (the replies around it stay as they were).
    fn refuse_uncommitted(&mut self) {
        let why = self.app.refusal_reason();
        let message = crate::api::ApiError::Unavailable(why).to_string();
        let mut resp = crate::router::unavailable(&message);
        resp.needs_commit = false;
        // Last first, so the offsets of earlier replies on a connection stay valid.
        for u in self.uncommitted.iter().rev() {
            let Some(c) = self.conns.get_mut(u.idx).and_then(|c| c.as_mut()) else {
                continue;
            };
            if c.gen != u.gen || u.end > c.wbuf.len() || u.start < c.wpos {
                continue;
            }
            let mut bytes = Vec::new();
            http::encode_response(&resp, u.keep, u.minor_version, self.now as u64, &mut bytes);
            c.wbuf.splice(u.start..u.end, bytes);
            self.app.note_refused_reply();
        }
    }

    /// Write buffered replies until done or `WouldBlock`.
    fn write(&mut self, idx: usize, gen: u32) {
        let cap = self.cfg.output_cap_bytes;
        let mono = self.mono;
        let Some(c) = self.conns.get_mut(idx).and_then(|c| c.as_mut()) else {
            return;
        };
        if c.gen != gen {
            return;
        }
        let was_capped = c.unsent() > cap;
        while c.wpos < c.wbuf.len() {
            match c.stream.write(&c.wbuf[c.wpos..]) {
                Ok(0) => {
                    self.close(idx);
                    return;
                }
                Ok(n) => {
                    c.wpos += n;
                    c.last_active = mono;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close(idx);
                    return;
                }
            }
        }
        if c.wpos == c.wbuf.len() {
            c.wbuf.clear();
            c.wpos = 0;
            if c.wbuf.capacity() > 4 * READ_CHUNK {
                c.wbuf.shrink_to(READ_CHUNK);
            }
            if c.closing && !c.lingering {
                if c.eof || self.shutdown_at.is_some() {
                    self.close(idx);
                    return;
                }
                c.stream.shutdown_write();
                c.lingering = true;
                c.last_active = mono;
                if c.timer.is_some_and(|(_, at)| at > mono + LINGER_MS) {
                    if let Some((id, _)) = c.timer.take() {
                        self.wheel.cancel(id);
                    }
                }
                // Drain what is already there now; the rest arrives as readable events.
                if !c.queued {
                    c.queued = true;
                    self.next_work.push(idx);
                }
                self.arm(idx);
                return;
            }
        } else if c.wpos >= READ_CHUNK && c.wpos * 2 >= c.wbuf.len() {
            c.wbuf.drain(..c.wpos);
            c.wpos = 0;
        }
        // Paused by the output cap and now below it: carry on with its requests next round.
        if was_capped && c.unsent() <= cap && !c.closing && !c.queued {
            c.queued = true;
            self.next_work.push(idx);
        }
    }

    fn close(&mut self, idx: usize) {
        let Some(mut c) = self.conns.get_mut(idx).and_then(|c| c.take()) else {
            return;
        };
        if let Some((id, _)) = c.timer.take() {
            self.wheel.cancel(id);
        }
        c.stream.deregister(&self.poll);
        log::debug!("connection {idx} from {} closed", c.peer.addr);
        drop(c);
        self.free.push(idx);
        self.open -= 1;
        if self.open < self.cfg.max_connections && self.shutdown_at.is_none() {
            self.accept_pending = true;
        }
    }
}

/// Whether the buffer holds a whole request head (so only its body is still missing).
fn head_complete(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_complete_finds_both_terminators() {
        assert!(!head_complete(b"GET / HTTP/1.1\r\nHost: x\r\n"));
        assert!(head_complete(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody"));
        assert!(head_complete(b"GET / HTTP/1.1\nHost: x\n\n"));
    }
}

//! The ceiling: a single-threaded mio + httparse server that answers every request with
//! a fixed small reply (HEAD -> 204, anything else -> 200 with a ping-sized JSON body).
//! It frames requests properly (Content-Length bodies, keep-alive) and does nothing else,
//! so its CPU per request is what the kernel, the event loop and the parser cost alone.

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LISTENER: Token = Token(usize::MAX);
const HEAD_REPLY: &[u8] = b"HTTP/1.1 204 No Content\r\nServer: trivial\r\n\r\n";
const BODY_REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nServer: trivial\r\nContent-Type: application/json\r\nContent-Length: 34\r\n\r\n{\"response\": {\"rpc_messages\": []}}";

struct Conn {
    stream: TcpStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    written: usize,
}

/// What the front of a connection's buffer holds.
enum Parsed {
    Partial,
    Complete { len: usize, head: bool },
    Bad,
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(head_len)) => {
            let mut body = 0usize;
            for h in req.headers.iter() {
                if h.name.eq_ignore_ascii_case("content-length") {
                    match std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse().ok())
                    {
                        Some(n) => body = n,
                        None => return Parsed::Bad,
                    }
                }
            }
            if buf.len() < head_len + body {
                return Parsed::Partial;
            }
            Parsed::Complete {
                len: head_len + body,
                head: req.method == Some("HEAD"),
            }
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => Parsed::Bad,
    }
}

/// Serve on `listener` until `stop` is set (checked every 100 ms) or forever when None.
pub fn serve(mut listener: TcpListener, stop: Option<Arc<AtomicBool>>) -> io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = Events::with_capacity(256);
    let mut scratch = vec![0u8; 64 * 1024];
    loop {
        if let Some(s) = &stop {
            if s.load(Ordering::Relaxed) {
                return Ok(());
            }
        }
        match poll.poll(&mut events, Some(Duration::from_millis(100))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let slot =
                                conns.iter().position(|c| c.is_none()).unwrap_or_else(|| {
                                    conns.push(None);
                                    conns.len() - 1
                                });
                            poll.registry().register(
                                &mut stream,
                                Token(slot),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            conns[slot] = Some(Conn {
                                stream,
                                inbuf: Vec::new(),
                                out: Vec::new(),
                                written: 0,
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                }
                continue;
            }
            let slot = ev.token().0;
            let close = match conns.get_mut(slot).and_then(|c| c.as_mut()) {
                Some(c) => drive(c, &mut scratch),
                None => false,
            };
            if close {
                if let Some(mut c) = conns[slot].take() {
                    let _ = poll.registry().deregister(&mut c.stream);
                }
            }
        }
    }
}

/// Read everything available, answer every complete request, write what we can.
/// Returns true when the connection should be dropped.
fn drive(c: &mut Conn, scratch: &mut [u8]) -> bool {
    loop {
        match c.stream.read(scratch) {
            Ok(0) => return true,
            Ok(n) => c.inbuf.extend_from_slice(&scratch[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
    let mut consumed = 0;
    loop {
        match parse(&c.inbuf[consumed..]) {
            Parsed::Complete { len, head } => {
                consumed += len;
                c.out
                    .extend_from_slice(if head { HEAD_REPLY } else { BODY_REPLY });
            }
            Parsed::Partial => break,
            Parsed::Bad => return true,
        }
    }
    c.inbuf.drain(..consumed);
    while c.written < c.out.len() {
        match c.stream.write(&c.out[c.written..]) {
            Ok(n) => c.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
    c.out.clear();
    c.written = 0;
    false
}

//! Request framing: head via httparse, body by Content-Length or chunked coding.
//!
//! The framer is fed the connection's whole unread buffer each time bytes arrive. It
//! keeps its place between calls (how far the head was scanned, the parsed head, how
//! much of a chunked body was decoded), so a large head or body costs linear time
//! however it is split. The buffer's front must not move until a `Frame::Request` is
//! returned; the caller then drops exactly `consumed` bytes.

use std::borrow::Cow;

mod body;

use super::{find_byte, HttpError, Limits, Request};
use body::{body_kind, decode_chunked, BodyKind};

/// What the framer found at the front of the buffer.
#[derive(Debug)]
pub enum Frame {
    /// A whole request; `consumed` bytes of the buffer belong to it.
    Request { request: Request, consumed: usize },
    /// The head asked `Expect: 100-continue` and the body has not arrived: write
    /// `HTTP/1.1 100 Continue\r\n\r\n` once, then keep reading. Nothing consumed.
    Continue,
}

/// Header slots kept on the stack; larger `max_headers` limits use a heap array.
const STACK_HEADERS: usize = 128;

/// Incremental request framer for one connection. Feed it the connection's whole unread
/// buffer each time more bytes arrive; it remembers how far it got so a large body is
/// not re-parsed from the start.
#[derive(Debug, Default)]
pub struct Framer {
    pub limits: Limits,
    continue_sent: bool,
    state: State,
    /// The last request's buffers, given back by [`Framer::recycle`]: the next head is
    /// parsed into them (a dozen allocations less per request, one of them the body's,
    /// often too large for the allocator's fast path).
    spare: Option<Box<Pending>>,
}

/// A request whose buffers hold more than this in all is not kept by [`Framer::recycle`].
const MAX_RECYCLED_BYTES: usize = 64 * 1024;

#[derive(Debug)]
enum State {
    /// Looking for the end of the head. `scanned`: bytes already searched for the empty
    /// line; `line_checked`: the request line was already validated.
    Head { scanned: usize, line_checked: bool },
    /// Head parsed, waiting for (more of) the body.
    Body(Box<Pending>),
}

impl Default for State {
    fn default() -> Self {
        State::Head {
            scanned: 0,
            line_checked: false,
        }
    }
}

#[derive(Debug)]
struct Pending {
    request: Request,
    head_len: usize,
    body: BodyKind,
    expect_continue: bool,
}

fn err(status: u16, msg: &str) -> HttpError {
    HttpError::new(status, msg)
}

impl Framer {
    pub fn new(limits: Limits) -> Framer {
        Framer {
            limits,
            continue_sent: false,
            state: State::default(),
            spare: None,
        }
    }

    /// Give back a request this framer returned, once answered: its buffers are reused
    /// for the next one (unless they grew large).
    pub fn recycle(&mut self, request: Request) {
        let bytes = request.method.capacity()
            + request.path.capacity()
            + request.query.capacity()
            + request.body.capacity()
            + request.headers.capacity() * std::mem::size_of::<(Cow<str>, Vec<u8>)>()
            + request
                .headers
                .iter()
                .map(|(n, v)| {
                    v.capacity()
                        + if let Cow::Owned(n) = n {
                            n.capacity()
                        } else {
                            0
                        }
                })
                .sum::<usize>();
        if bytes <= MAX_RECYCLED_BYTES {
            let spare = self.spare.get_or_insert_with(|| Box::new(Pending::blank()));
            spare.request = request;
        }
    }

    /// True when no request is partly parsed (nothing remembered between calls).
    pub fn is_idle(&self) -> bool {
        matches!(
            self.state,
            State::Head {
                scanned: 0,
                line_checked: false
            }
        )
    }

    /// Forget any partly parsed request (e.g. the caller dropped its buffer).
    pub fn reset(&mut self) {
        self.state = State::default();
        self.continue_sent = false;
    }

    /// `Ok(None)`: need more bytes. `Err`: answer the error and close the connection.
    pub fn next_frame(&mut self, buf: &[u8]) -> Result<Option<Frame>, HttpError> {
        let result = self.step(buf);
        if result.is_err() {
            // The connection is closed after an error; start clean should it be reused.
            self.reset();
        }
        result
    }

    fn step(&mut self, buf: &[u8]) -> Result<Option<Frame>, HttpError> {
        loop {
            match &mut self.state {
                State::Head {
                    scanned,
                    line_checked,
                } => {
                    if *scanned > buf.len() {
                        // The caller's buffer shrank under us: parse again from scratch.
                        *scanned = 0;
                        *line_checked = false;
                    }
                    match parse_head(&self.limits, buf, scanned, line_checked, &mut self.spare)? {
                        None => return Ok(None),
                        Some(p) => self.state = State::Body(p),
                    }
                }
                State::Body(p) => {
                    if p.head_len > buf.len() {
                        self.reset();
                        continue;
                    }
                    if p.expect_continue && !self.continue_sent && buf.len() == p.head_len {
                        self.continue_sent = true;
                        return Ok(Some(Frame::Continue));
                    }
                    let consumed = match &mut p.body {
                        BodyKind::Length(n) => {
                            let end = p.head_len + *n;
                            match buf.get(p.head_len..end) {
                                None => return Ok(None),
                                Some(body) => {
                                    p.request.body.extend_from_slice(body);
                                    end
                                }
                            }
                        }
                        BodyKind::Chunked(c) => {
                            match decode_chunked(&self.limits, buf, c, &mut p.request.body)? {
                                None => return Ok(None),
                                Some(end) => end,
                            }
                        }
                    };
                    let request = std::mem::take(&mut p.request);
                    // Keep the box for the next request (see `recycle`).
                    if let State::Body(p) = std::mem::take(&mut self.state) {
                        self.spare = Some(p);
                    }
                    self.reset();
                    return Ok(Some(Frame::Request { request, consumed }));
                }
            }
        }
    }
}

/// Look for the end of the head; parse it once it is there.
fn parse_head(
    limits: &Limits,
    buf: &[u8],
    scanned: &mut usize,
    line_checked: &mut bool,
    spare: &mut Option<Box<Pending>>,
) -> Result<Option<Box<Pending>>, HttpError> {
    // httparse skips empty lines before the request line (RFC 9112 2.2 allows them).
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    if *scanned == 0 && !*line_checked {
        // First look at this head: usually all of it is there, and httparse finds its
        // end by itself. Only a success is taken; anything else (more bytes needed, an
        // error) goes the line-by-line way below, which decides it exactly as before.
        // Once per head, so a head arriving in pieces is not parsed again each time.
        if let Ok(Some(p)) = parse_complete_head(limits, buf, start, spare) {
            return Ok(Some(p));
        }
    }
    let mut i = (*scanned).max(start);
    while let Some(off) = find_byte(&buf[i..], b'\n') {
        let nl = i + off;
        // The shortest head ending here still ends at nl + 2. Deciding this before
        // anything else keeps the verdict independent of how the bytes were split.
        if nl + 2 > limits.max_head_bytes {
            return Err(err(431, "request header section too large"));
        }
        if !*line_checked {
            // Validate the request line as soon as it is complete, so that garbage or
            // an HTTP/2 preface is refused at once instead of after 64 KiB.
            *line_checked = true;
            check_request_line(buf, start, nl)?;
        }
        let end = match (buf.get(nl + 1), buf.get(nl + 2)) {
            (None, _) | (Some(b'\r'), None) => {
                // The next line has not started or is undecided: rescan from `nl`.
                i = nl;
                break;
            }
            (Some(b'\n'), _) => nl + 2,
            (Some(b'\r'), Some(b'\n')) => nl + 3,
            _ => {
                i = nl + 1;
                continue;
            }
        };
        if end > limits.max_head_bytes {
            return Err(err(431, "request header section too large"));
        }
        match parse_complete_head(limits, buf, start, spare)? {
            Some(p) => return Ok(Some(p)),
            // httparse saw no end yet (cannot happen for well-formed input); go on.
            None => i = end,
        }
    }
    if !buf[i..].contains(&b'\n') {
        i = buf.len();
    }
    if buf.len() > limits.max_head_bytes {
        return Err(err(431, "request header section too large"));
    }
    *scanned = i;
    Ok(None)
}

fn map_httparse_error(e: httparse::Error, buf: &[u8], start: usize) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => err(431, "too many header fields"),
        httparse::Error::Version => version_error(buf, start),
        other => HttpError::bad_request(format!("malformed request: {other}")),
    }
}

/// httparse knows only HTTP/1.0 and 1.1. A well-formed higher version (including the
/// HTTP/2 preface `PRI * HTTP/2.0`) gets 505, anything else 400.
fn version_error(buf: &[u8], start: usize) -> HttpError {
    let rest = &buf[start.min(buf.len())..];
    let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let line = rest[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&rest[..line_end]);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or(b"");
    let higher = version
        .strip_prefix(b"HTTP/")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| {
            let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if !digits(major) || !digits(minor) {
                return None;
            }
            let major: u32 = major.parse().ok()?;
            let minor: u32 = minor.parse().ok()?;
            Some(major > 1 || (major == 1 && minor > 1))
        })
        .unwrap_or(false);
    if higher {
        err(505, "HTTP version not supported")
    } else {
        err(400, "malformed request: invalid HTTP version")
    }
}

/// Run httparse over a buffer whose request line (up to `nl`) is complete.
fn check_request_line(buf: &[u8], start: usize, nl: usize) -> Result<(), HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; 1];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&buf[..=nl]) {
        Ok(_) | Err(httparse::Error::TooManyHeaders) => Ok(()),
        Err(e) => Err(map_httparse_error(e, buf, start)),
    }
}

fn parse_complete_head(
    limits: &Limits,
    buf: &[u8],
    start: usize,
    spare: &mut Option<Box<Pending>>,
) -> Result<Option<Box<Pending>>, HttpError> {
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut heap;
    let slots: &mut [httparse::Header] = if limits.max_headers <= STACK_HEADERS {
        &mut stack[..limits.max_headers]
    } else {
        heap = vec![httparse::EMPTY_HEADER; limits.max_headers];
        &mut heap
    };
    let mut req = httparse::Request::new(slots);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(map_httparse_error(e, buf, start)),
    };
    if head_len > limits.max_head_bytes {
        return Err(err(431, "request header section too large"));
    }
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    // Into the buffers of a recycled request when there is one (every field is set).
    let mut pending = spare.take().unwrap_or_else(|| Box::new(Pending::blank()));
    let request = &mut pending.request;
    set_text(&mut request.method, req.method.unwrap_or("GET"));
    set_text(&mut request.path, path);
    set_text(&mut request.query, query);
    request.minor_version = req.version.unwrap_or(1);
    request.body.clear();
    let n = req.headers.len();
    request.headers.truncate(n);
    for (i, h) in req.headers.iter().enumerate() {
        let (name, value) = (lower_name(h.name), h.value.trim_ascii());
        match request.headers.get_mut(i) {
            Some(slot) => {
                slot.0 = name;
                slot.1.clear();
                slot.1.extend_from_slice(value);
            }
            None => request.headers.push((name, value.to_vec())),
        }
    }
    let request = &pending.request;
    let body = body_kind(limits, request, head_len)?;
    let has_body = match body {
        BodyKind::Length(n) => n > 0,
        BodyKind::Chunked(_) => true,
    };
    // Only HTTP/1.1 clients wait for 100 Continue (RFC 9110 10.1.1).
    let expect_continue = has_body
        && request.minor_version >= 1
        && request
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
    pending.head_len = head_len;
    pending.body = body;
    pending.expect_continue = expect_continue;
    Ok(Some(pending))
}

fn set_text(s: &mut String, text: &str) {
    s.clear();
    s.push_str(text);
}

impl Pending {
    fn blank() -> Pending {
        Pending {
            request: Request::default(),
            head_len: 0,
            body: BodyKind::Length(0),
            expect_continue: false,
        }
    }
}

/// A header name lower-cased: the names clients send on nearly every request are
/// borrowed (picked by length, then compared) instead of allocated each time.
fn lower_name(name: &str) -> Cow<'static, str> {
    let candidates: &[&'static str] = match name.len() {
        4 => &["host"],
        6 => &["accept", "origin", "cookie", "expect"],
        7 => &["referer"],
        10 => &["user-agent", "connection"],
        12 => &["content-type"],
        13 => &["authorization"],
        14 => &["content-length"],
        15 => &["accept-encoding", "accept-language"],
        16 => &["x-requested-with"],
        17 => &["transfer-encoding"],
        19 => &["x-luigid-rs-request"],
        _ => &[],
    };
    match candidates.iter().find(|c| is_lower_of(name, c)) {
        Some(c) => Cow::Borrowed(c),
        None => Cow::Owned(name.to_ascii_lowercase()),
    }
}

/// `name` lower-cased is `lower` (letters and `-` only). OR-ing 0x20 lower-cases a
/// letter; among other bytes only `-` and CR become a letter or `-` that way, and CR
/// is no header-name character (httparse refuses it), so this is exact for names and
/// cheaper than comparing case-insensitively.
fn is_lower_of(name: &str, lower: &str) -> bool {
    name.len() == lower.len() && name.bytes().zip(lower.bytes()).all(|(a, b)| a | 0x20 == b)
}

#[cfg(test)]
mod tests;

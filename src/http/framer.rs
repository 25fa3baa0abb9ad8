//! Request framing: head via httparse, body by Content-Length or chunked coding.
//!
//! The framer is fed the connection's whole unread buffer each time bytes arrive. It
//! keeps its place between calls (how far the head was scanned, the parsed head, how
//! much of a chunked body was decoded), so a large head or body costs linear time
//! however it is split. The buffer's front must not move until a `Frame::Request` is
//! returned; the caller then drops exactly `consumed` bytes.

use super::{HttpError, Limits, Request};

/// What the framer found at the front of the buffer.
#[derive(Debug)]
pub enum Frame {
    /// A whole request; `consumed` bytes of the buffer belong to it.
    Request { request: Request, consumed: usize },
    /// The head asked `Expect: 100-continue` and the body has not arrived: write
    /// `HTTP/1.1 100 Continue\r\n\r\n` once, then keep reading. Nothing consumed.
    Continue,
}

/// Longest chunk-size line (size, extensions, CRLF) accepted; real clients send a few bytes.
const MAX_CHUNK_LINE: usize = 4096;

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
}

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

#[derive(Debug)]
enum BodyKind {
    Length(usize),
    Chunked(Chunked),
}

#[derive(Debug)]
struct Chunked {
    /// Offset in the buffer of the first byte not yet decoded.
    pos: usize,
    phase: Phase,
    /// Bytes of framing (size lines, CRLFs, trailers) seen so far; bounded so that tiny
    /// chunks with long extensions cannot make the buffer grow without limit.
    overhead: usize,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Size,
    Data { remaining: usize },
    DataEnd,
    Trailers { bytes: usize },
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
                    match parse_head(&self.limits, buf, scanned, line_checked)? {
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
                                    p.request.body = body.to_vec();
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
) -> Result<Option<Box<Pending>>, HttpError> {
    // httparse skips empty lines before the request line (RFC 9112 2.2 allows them).
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let mut i = (*scanned).max(start);
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + off;
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
        match parse_complete_head(limits, buf, start)? {
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
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    let headers: Vec<(String, Vec<u8>)> = req
        .headers
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), h.value.trim_ascii().to_vec()))
        .collect();
    let request = Request {
        method: req.method.unwrap_or("GET").to_string(),
        path,
        query,
        minor_version: req.version.unwrap_or(1),
        headers,
        body: Vec::new(),
    };
    let body = body_kind(limits, &request, head_len)?;
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
    Ok(Some(Box::new(Pending {
        request,
        head_len,
        body,
        expect_continue,
    })))
}

/// Decide how the body is delimited (RFC 9112 6.3), refusing ambiguous framing that
/// could smuggle a second request past a proxy.
fn body_kind(limits: &Limits, req: &Request, head_len: usize) -> Result<BodyKind, HttpError> {
    let values = |name: &'static str| {
        req.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .flat_map(|(_, v)| v.split(|&b| b == b','))
            .map(|t| t.trim_ascii())
    };
    let has_te = req.headers.iter().any(|(n, _)| n == "transfer-encoding");
    let has_cl = req.headers.iter().any(|(n, _)| n == "content-length");
    if has_te {
        if has_cl {
            return Err(err(400, "both Transfer-Encoding and Content-Length"));
        }
        if req.minor_version == 0 {
            return Err(err(400, "Transfer-Encoding in an HTTP/1.0 request"));
        }
        let mut chunked = 0usize;
        let mut codings = 0usize;
        for coding in values("transfer-encoding").filter(|t| !t.is_empty()) {
            codings += 1;
            if coding.eq_ignore_ascii_case(b"chunked") {
                chunked += 1;
            } else {
                return Err(err(501, "unsupported transfer coding"));
            }
        }
        if codings == 0 || chunked != 1 {
            return Err(err(400, "invalid Transfer-Encoding"));
        }
        return Ok(BodyKind::Chunked(Chunked {
            pos: head_len,
            phase: Phase::Size,
            overhead: 0,
        }));
    }
    if !has_cl {
        // A request without either has no body (RFC 9112 6.3, rule 7).
        return Ok(BodyKind::Length(0));
    }
    let mut length: Option<&[u8]> = None;
    for v in values("content-length") {
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
            return Err(err(400, "invalid Content-Length"));
        }
        // Compare as numbers written without leading zeros ("05" equals "5").
        let v = &v[v.iter().take_while(|&&b| b == b'0').count()..];
        match length {
            None => length = Some(v),
            Some(prev) if prev == v => {}
            Some(_) => return Err(err(400, "conflicting Content-Length values")),
        }
    }
    let digits = std::str::from_utf8(length.unwrap_or(b"")).unwrap_or("");
    // Empty after stripping zeros means 0; too many digits for u64 is simply too large.
    let n = if digits.is_empty() {
        0
    } else {
        digits.parse::<u64>().unwrap_or(u64::MAX)
    };
    if n > limits.max_body_bytes as u64 {
        return Err(err(413, "request body too large"));
    }
    Ok(BodyKind::Length(n as usize))
}

/// Decode as much of a chunked body as the buffer holds. `Some(end)`: the body and its
/// trailers end at offset `end`.
fn decode_chunked(
    limits: &Limits,
    buf: &[u8],
    c: &mut Chunked,
    body: &mut Vec<u8>,
) -> Result<Option<usize>, HttpError> {
    let max_overhead = limits.max_body_bytes.saturating_add(limits.max_head_bytes);
    loop {
        if c.overhead > max_overhead {
            return Err(err(413, "chunked framing overhead too large"));
        }
        let avail = &buf[c.pos.min(buf.len())..];
        match c.phase {
            Phase::Size => {
                let Some(nl) = avail.iter().position(|&b| b == b'\n') else {
                    if avail.len() > MAX_CHUNK_LINE {
                        return Err(err(400, "chunk size line too long"));
                    }
                    return Ok(None);
                };
                if nl + 1 > MAX_CHUNK_LINE {
                    return Err(err(400, "chunk size line too long"));
                }
                let line = &avail[..nl];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let size = parse_chunk_size(line)?;
                if size > limits.max_body_bytes.saturating_sub(body.len()) {
                    return Err(err(413, "request body too large"));
                }
                c.pos += nl + 1;
                c.overhead += nl + 1;
                c.phase = if size == 0 {
                    Phase::Trailers { bytes: 0 }
                } else {
                    body.reserve(size.min(avail.len()));
                    Phase::Data { remaining: size }
                };
            }
            Phase::Data { remaining } => {
                if avail.is_empty() {
                    return Ok(None);
                }
                let take = remaining.min(avail.len());
                body.extend_from_slice(&avail[..take]);
                c.pos += take;
                c.phase = if take == remaining {
                    Phase::DataEnd
                } else {
                    Phase::Data {
                        remaining: remaining - take,
                    }
                };
            }
            Phase::DataEnd => {
                let used = match (avail.first(), avail.get(1)) {
                    (None, _) | (Some(b'\r'), None) => return Ok(None),
                    (Some(b'\n'), _) => 1,
                    (Some(b'\r'), Some(b'\n')) => 2,
                    _ => return Err(err(400, "chunk data not followed by CRLF")),
                };
                c.pos += used;
                c.overhead += used;
                c.phase = Phase::Size;
            }
            Phase::Trailers { bytes } => {
                let Some(nl) = avail.iter().position(|&b| b == b'\n') else {
                    if bytes + avail.len() > limits.max_head_bytes {
                        return Err(err(431, "trailer section too large"));
                    }
                    return Ok(None);
                };
                let bytes = bytes + nl + 1;
                if bytes > limits.max_head_bytes {
                    return Err(err(431, "trailer section too large"));
                }
                let line = &avail[..nl];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                c.pos += nl + 1;
                c.overhead += nl + 1;
                if line.is_empty() {
                    return Ok(Some(c.pos));
                }
                check_trailer(line)?;
                c.phase = Phase::Trailers { bytes };
            }
        }
    }
}

/// `1*HEXDIG [BWS ";" extensions]`; trailers and extensions are read and ignored.
fn parse_chunk_size(line: &[u8]) -> Result<usize, HttpError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(err(400, "invalid chunk size"));
    }
    let mut size: usize = 0;
    for &b in &line[..digits] {
        let d = (b as char).to_digit(16).unwrap_or(0) as usize;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(d))
            .ok_or_else(|| err(400, "chunk size overflows"))?;
    }
    let rest = &line[digits..];
    let rest = &rest[rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count()..];
    if !rest.is_empty() {
        if rest[0] != b';' {
            return Err(err(400, "invalid chunk size"));
        }
        if rest.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(err(400, "invalid chunk extension"));
        }
    }
    Ok(size)
}

fn check_trailer(line: &[u8]) -> Result<(), HttpError> {
    let name_len = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| err(400, "invalid trailer field"))?;
    let name_ok = name_len > 0
        && line[..name_len]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    let value_ok = line[name_len + 1..]
        .iter()
        .all(|&b| (b >= 0x20 && b != 0x7f) || b == b'\t');
    if name_ok && value_ok {
        Ok(())
    } else {
        Err(err(400, "invalid trailer field"))
    }
}

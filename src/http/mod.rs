//! Sans-IO HTTP/1.1: the framer turns bytes into [`Request`]s, the encoder turns
//! [`Response`]s into bytes. Nothing here touches a socket, so every byte boundary
//! can be unit-tested and fuzzed.
//!
//! Owner: the HTTP work item. The types below are the contract with `server` and `router`.

/// One complete request, owned (the connection's buffer is reused right after).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Method as sent, e.g. "GET".
    pub method: String,
    /// Raw path, still percent-encoded, without the query, e.g. "/api/p%69ng".
    pub path: String,
    /// Raw query string without the '?', "" when absent.
    pub query: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Header names lower-cased, values as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Request {
    /// First header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The header as text, when it is valid UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// A reply before encoding. `server` adds nothing; the encoder adds Date, Server,
/// Content-Length (or chunked) and Connection.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    /// Header names as they should be written.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// HEAD: write the headers (with the Content-Length of `body`) but not the body.
    pub head_only: bool,
    /// Close the connection after this reply (bad framing, shutdown).
    pub close: bool,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            ..Response::default()
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn with_body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        self.headers
            .push(("Content-Type".to_string(), content_type.to_string()));
        self.body = body.into();
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Limits the framer enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Request line + headers; over it -> 431.
    pub max_head_bytes: usize,
    /// Body (after de-chunking); over it -> 413.
    pub max_body_bytes: usize,
    /// Number of header lines; over it -> 431.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 64 * 1024,
            max_body_bytes: 16 * 1024 * 1024,
            max_headers: 100,
        }
    }
}

/// A request the framer refuses. The server answers `status` with `message` and closes.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpError {
    pub status: u16,
    pub message: String,
}

/// What the framer found at the front of the buffer.
#[derive(Debug)]
pub enum Frame {
    /// A whole request; `consumed` bytes of the buffer belong to it.
    Request { request: Request, consumed: usize },
    /// The head asked `Expect: 100-continue` and the body has not arrived: write
    /// `HTTP/1.1 100 Continue\r\n\r\n` once, then keep reading. Nothing consumed.
    Continue,
}

/// Incremental request framer for one connection. Feed it the connection's whole unread
/// buffer each time more bytes arrive; it remembers how far it got so a large body is
/// not re-parsed from the start.
#[derive(Debug, Default)]
pub struct Framer {
    pub limits: Limits,
    continue_sent: bool,
}

impl Framer {
    pub fn new(limits: Limits) -> Framer {
        Framer {
            limits,
            continue_sent: false,
        }
    }

    /// `Ok(None)`: need more bytes. `Err`: answer the error and close the connection.
    pub fn next_frame(&mut self, buf: &[u8]) -> Result<Option<Frame>, HttpError> {
        // Minimal placeholder: head only, Content-Length bodies. Replaced by the HTTP item.
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        let head_len = match req.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => {
                return Err(HttpError {
                    status: 400,
                    message: e.to_string(),
                })
            }
        };
        let target = req.path.unwrap_or("/");
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (target.to_string(), String::new()),
        };
        let hdrs: Vec<(String, Vec<u8>)> = req
            .headers
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
            .collect();
        let len = hdrs
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if buf.len() < head_len + len {
            if !self.continue_sent {
                self.continue_sent = true;
            }
            return Ok(None);
        }
        self.continue_sent = false;
        Ok(Some(Frame::Request {
            request: Request {
                method: req.method.unwrap_or("GET").to_string(),
                path,
                query,
                minor_version: req.version.unwrap_or(1),
                headers: hdrs,
                body: buf[head_len..head_len + len].to_vec(),
            },
            consumed: head_len + len,
        }))
    }
}

/// Whether the connection stays open after answering `req` (HTTP/1.0 needs
/// `Connection: keep-alive`; HTTP/1.1 stays open unless `Connection: close`).
pub fn keep_alive(req: &Request) -> bool {
    let conn = req
        .header_str("connection")
        .unwrap_or("")
        .to_ascii_lowercase();
    if req.minor_version == 0 {
        conn.contains("keep-alive")
    } else {
        !conn.contains("close")
    }
}

/// Append the encoded response to `out`: status line, the response's headers, then
/// `Date`, `Server`, `Content-Length`, `Connection: close` when `!keep_alive`, body.
pub fn write_response(resp: &Response, keep_alive: bool, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (n, v) in &resp.headers {
        let _ = write!(out, "{n}: {v}\r\n");
    }
    if resp.status != 204 && resp.status != 304 {
        let _ = write!(out, "Content-Length: {}\r\n", resp.body.len());
    }
    if !keep_alive || resp.close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !resp.head_only {
        out.extend_from_slice(&resp.body);
    }
}

/// Standard reason phrase.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

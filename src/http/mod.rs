//! Sans-IO HTTP/1.1: the framer turns bytes into [`Request`]s, the encoder turns
//! [`Response`]s into bytes. Nothing here touches a socket, so every byte boundary
//! can be unit-tested and fuzzed.
//!
//! Layout:
//! - [`framer`]: request heads (httparse) and bodies (Content-Length, chunked), limits.
//! - [`encode`]: status line, headers, Date, Server, Content-Length, Connection.
//! - [`date`]: IMF-fixdate formatting and parsing (Date, If-Modified-Since).
//! - [`gzip`]: luigid's response compression rule.
//! - [`form`]: query/form decoding and Tornado's `get_argument`.
//!
//! This module refers to nothing else in the crate (only `httparse` and `flate2`), so
//! the fuzz crate can compile it on its own.

pub mod date;
pub mod deflate;
pub mod encode;
pub mod form;
pub mod framer;
pub mod gzip;

pub use date::{http_date, parse_http_date};
pub use encode::{encode_response, CONTINUE, SERVER};
pub use form::{
    get_argument, get_arguments, parse_multipart, parse_urlencoded, percent_decode_path, Arguments,
};
pub use framer::{Frame, Framer};
pub use gzip::gzip_response;

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// One complete request, owned (the connection's buffer is reused right after).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Method as sent, e.g. "GET".
    pub method: String,
    /// Raw path, still percent-encoded, without the query, e.g. "/api/p%69ng".
    /// httparse only admits visible ASCII and valid UTF-8 here.
    pub path: String,
    /// Raw query string without the '?', "" when absent.
    pub query: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Header names lower-cased (the usual ones borrowed, not copied), values as sent
    /// (surrounding whitespace trimmed).
    pub headers: Vec<(Cow<'static, str>, Vec<u8>)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Request {
    /// An HTTP/1.1 request built in memory, as the framer would give it: `target` split
    /// at its `?` into path and query, header names lower-cased. For tests, benchmarks
    /// and tools that call `App::handle` without a socket.
    pub fn in_memory(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            minor_version: 1,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase().into(), v.as_bytes().to_vec()))
                .collect(),
            body: body.to_vec(),
        }
    }

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
/// Content-Length and Connection.
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
    /// Set when `body` is a copy of a reply cache's body: its ETag and gzip form are then
    /// computed once for all the replies that share it.
    pub shared: Option<Arc<SharedBody>>,
    /// The body is `shared`'s and was not copied into `body` (empty until
    /// [`Response::flatten`]): a cached reply of tens of megabytes that leaves gzipped
    /// is never copied whole.
    pub body_in_shared: bool,
    /// The request made a journal record: this reply may leave only once the record is
    /// kept (the server swaps it for a 503 when the group commit fails).
    pub needs_commit: bool,
    /// A kept part that belongs inside `body` (see [`Splice`]); [`gzip_response`]
    /// compresses around it, and [`Response::flatten`] copies it in.
    pub splice: Option<Splice>,
}

/// A long part of a body that stays the same from reply to reply (get_work's list of
/// a worker's running tasks), with its compressed form computed once.
pub trait KeptPart: Send + Sync + fmt::Debug {
    fn bytes(&self) -> &[u8];
    /// The part as a byte-aligned, non-final raw deflate segment and the CRC-32 of
    /// [`KeptPart::bytes`]: `make`'s result the first time, the same afterwards.
    fn deflated(&self, make: &dyn Fn(&[u8]) -> Option<DeflatedPart>) -> Option<&DeflatedPart>;
}

/// A kept part as a byte-aligned, non-final raw deflate segment, and the CRC-32 of
/// the part's bytes.
pub type DeflatedPart = (Vec<u8>, u32);

/// The body is `body[..at]`, then `part`, then `body[at..]`.
#[derive(Debug, Clone)]
pub struct Splice {
    pub at: usize,
    pub part: Arc<dyn KeptPart>,
}

/// A reply body kept by a cache, with what the reply rules derive from it, each computed
/// at most once.
#[derive(Debug, Default)]
pub struct SharedBody {
    pub body: Vec<u8>,
    /// The ETag header value (the router computes it).
    pub etag: OnceLock<String>,
    /// The gzip member of `body` (None when deflate failed).
    pub gzip: OnceLock<Option<Vec<u8>>>,
}

impl SharedBody {
    pub fn new(body: Vec<u8>) -> SharedBody {
        SharedBody {
            body,
            ..SharedBody::default()
        }
    }
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

    /// The shared body `body` is a copy of, if any (a body changed since is not one).
    pub fn shared_body(&self) -> Option<&SharedBody> {
        self.shared
            .as_deref()
            .filter(|s| self.body_in_shared || s.body.len() == self.body.len())
    }

    /// Make `body` the whole body: copy in a shared body left in `shared`, and a
    /// spliced part.
    pub fn flatten(&mut self) {
        if self.body_in_shared {
            self.body_in_shared = false;
            if let Some(shared) = &self.shared {
                self.body = shared.body.clone();
            }
        }
        self.flatten_splice();
    }

    /// Copy a spliced part into `body`.
    pub fn flatten_splice(&mut self) {
        if let Some(splice) = self.splice.take() {
            let part = splice.part.bytes();
            let at = splice.at.min(self.body.len());
            let mut whole = Vec::with_capacity(self.body.len() + part.len());
            whole.extend_from_slice(&self.body[..at]);
            whole.extend_from_slice(part);
            whole.extend_from_slice(&self.body[at..]);
            self.body = whole;
        }
    }

    /// The length of the whole body (a spliced part included).
    pub fn body_len(&self) -> usize {
        let shared = match (&self.shared, self.body_in_shared) {
            (Some(shared), true) => shared.body.len(),
            _ => 0,
        };
        self.body.len() + shared + self.splice.as_ref().map_or(0, |s| s.part.bytes().len())
    }

    /// Drop the body (a 304, a 204).
    pub fn clear_body(&mut self) {
        self.body.clear();
        self.body_in_shared = false;
        self.splice = None;
    }

    /// Replace every header of this name (case-insensitive) by one with `value`.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.into()));
    }
}

/// Limits the framer enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Request line + headers; over it -> 431. Also bounds a chunked body's trailers.
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

impl HttpError {
    pub fn new(status: u16, message: impl Into<String>) -> HttpError {
        HttpError {
            status,
            message: message.into(),
        }
    }

    /// 400 Bad Request with this message.
    pub fn bad_request(message: impl Into<String>) -> HttpError {
        HttpError::new(400, message)
    }

    /// The reply for this error: luigid's HTML error page (Tornado's `write_error`),
    /// marked to close the connection, since the framer cannot resynchronise.
    pub fn to_response(&self) -> Response {
        let mut resp = error_page(self.status);
        resp.close = true;
        resp
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            reason(self.status),
            self.message
        )
    }
}

impl std::error::Error for HttpError {}

/// luigid's error page for `status`: `<html><title>{code}: {reason}</title>...`, as
/// `text/html; charset=UTF-8`.
pub fn error_page(status: u16) -> Response {
    let r = reason(status);
    let body = format!("<html><title>{status}: {r}</title><body>{status}: {r}</body></html>");
    Response::new(status).with_body("text/html; charset=UTF-8", body)
}

/// Whether the connection stays open after answering `req` (HTTP/1.0 needs
/// `Connection: keep-alive`; HTTP/1.1 stays open unless `Connection: close`).
/// The header is a comma-separated token list, compared case-insensitively.
pub fn keep_alive(req: &Request) -> bool {
    let has = |token: &str| {
        req.headers
            .iter()
            .filter(|(n, _)| n == "connection")
            .flat_map(|(_, v)| v.split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    };
    if req.minor_version == 0 {
        has("keep-alive")
    } else {
        !has("close")
    }
}

/// Standard reason phrase ("Unknown" for codes without one).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// The first `needle` in `hay`, eight bytes at a time (a form body is one long field,
/// a request head a few long lines, that a byte loop crawled through).
pub(crate) fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let pattern = LOW * u64::from(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default()) ^ pattern;
        // The lowest high bit set marks the first zero byte (bits above it may be false
        // positives, never bits below).
        let zero = word.wrapping_sub(LOW) & !word & HIGH;
        if zero != 0 {
            return Some(base + (zero.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|p| base + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(minor: u8, conn: Option<&str>) -> Request {
        let mut r = Request {
            minor_version: minor,
            ..Request::default()
        };
        if let Some(c) = conn {
            r.headers.push(("connection".into(), c.as_bytes().to_vec()));
        }
        r
    }

    #[test]
    fn keep_alive_rules() {
        assert!(keep_alive(&req(1, None)));
        assert!(!keep_alive(&req(1, Some("close"))));
        assert!(!keep_alive(&req(1, Some("Upgrade, CLOSE"))));
        // A token that merely contains "close" is not "close".
        assert!(keep_alive(&req(1, Some("closed"))));
        assert!(!keep_alive(&req(0, None)));
        assert!(keep_alive(&req(0, Some("Keep-Alive"))));
        assert!(!keep_alive(&req(0, Some("close"))));
    }

    #[test]
    fn error_response_is_luigid_page_and_closes() {
        let r = HttpError::bad_request("x").to_response();
        assert_eq!(r.status, 400);
        assert!(r.close);
        assert_eq!(
            r.body,
            b"<html><title>400: Bad Request</title><body>400: Bad Request</body></html>"
        );
        assert_eq!(r.header("content-type"), Some("text/html; charset=UTF-8"));
        assert_eq!(
            HttpError::new(431, "big").to_string(),
            "431 Request Header Fields Too Large: big"
        );
    }

    #[test]
    fn set_header_replaces() {
        let mut r = Response::new(200).with_header("Vary", "Origin");
        r.set_header("vary", "Accept-Encoding");
        assert_eq!(
            r.headers,
            vec![("vary".to_string(), "Accept-Encoding".to_string())]
        );
    }
}

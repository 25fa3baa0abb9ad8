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

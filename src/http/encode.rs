//! Response encoding: status line, the handler's headers, then what HTTP needs.

use super::date::{write_http_date, HTTP_DATE_LEN};
use super::{reason, Response};
use std::cell::Cell;

/// `Server` header value.
pub const SERVER: &str = concat!("luigid-rs/", env!("CARGO_PKG_VERSION"));

thread_local! {
    // The Date text changes once a second; format it once per second, not per reply.
    static DATE_CACHE: Cell<(u64, [u8; HTTP_DATE_LEN])> = const { Cell::new((u64::MAX, [0; HTTP_DATE_LEN])) };
}

fn cached_date(unix_secs: u64) -> [u8; HTTP_DATE_LEN] {
    DATE_CACHE.with(|c| {
        let (secs, text) = c.get();
        if secs == unix_secs {
            return text;
        }
        let mut text = [0u8; HTTP_DATE_LEN];
        write_http_date(unix_secs, &mut text);
        c.set((unix_secs, text));
        text
    })
}

/// Whether a reply with this status carries no body and no Content-Length.
fn bodiless(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

/// Append the encoded response to `out`: `HTTP/1.1 <status> <reason>`, the response's
/// headers in order, then (unless the response already has them) `Date` for
/// `now_unix_secs`, `Server: luigid-rs/<version>`, `Content-Length` (never for 1xx, 204
/// and 304; a HEAD reply keeps the length of the body it would have sent), and
/// `Connection: close` when `!keep_alive || resp.close`, or `Connection: keep-alive`
/// for an HTTP/1.0 client (`minor_version == 0`) that keeps the connection. Then the
/// body, unless `head_only` or the status is bodiless.
pub fn encode_response(
    resp: &Response,
    keep_alive: bool,
    minor_version: u8,
    now_unix_secs: u64,
    out: &mut Vec<u8>,
) {
    // Writing into a Vec cannot fail; the results are ignored for that reason.
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(u64::from(resp.status), out);
    out.push(b' ');
    out.extend_from_slice(reason(resp.status).as_bytes());
    out.extend_from_slice(b"\r\n");
    let (mut has_date, mut has_server, mut has_length, mut has_conn) = (false, false, false, false);
    for (name, value) in &resp.headers {
        // A header name or value with CR/LF would split the reply; drop such headers.
        if name.is_empty() || has_crlf(name) || has_crlf(value) {
            continue;
        }
        has_date |= name.eq_ignore_ascii_case("date");
        has_server |= name.eq_ignore_ascii_case("server");
        has_length |= name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding");
        has_conn |= name.eq_ignore_ascii_case("connection");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_date {
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(&cached_date(now_unix_secs));
        out.extend_from_slice(b"\r\n");
    }
    if !has_server {
        out.extend_from_slice(b"Server: ");
        out.extend_from_slice(SERVER.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let bodiless = bodiless(resp.status);
    if !bodiless && !has_length {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(resp.body.len() as u64, out);
        out.extend_from_slice(b"\r\n");
    }
    if !has_conn {
        if !keep_alive || resp.close {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if minor_version == 0 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    if !resp.head_only && !bodiless {
        out.extend_from_slice(&resp.body);
    }
}

/// `n` in decimal (the formatting machinery cost more than the rest of a small reply's
/// head).
fn push_decimal(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn has_crlf(s: &str) -> bool {
    s.bytes().any(|b| b == b'\r' || b == b'\n')
}

/// The interim reply to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_match_the_formatter() {
        for n in [0, 1, 9, 10, 99, 100, 204, 4096, 65535, 1 << 40, u64::MAX] {
            let mut out = b"x".to_vec();
            push_decimal(n, &mut out);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    const NOW: u64 = 1_795_507_200;

    fn enc(resp: &Response, keep_alive: bool, minor: u8) -> String {
        let mut out = Vec::new();
        encode_response(resp, keep_alive, minor, NOW, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn full_reply_layout() {
        let r = Response::new(200).with_body("application/json; charset=UTF-8", "{}");
        assert_eq!(
            enc(&r, true, 1),
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\n\
                 Date: Tue, 24 Nov 2026 08:00:00 GMT\r\nServer: {SERVER}\r\n\
                 Content-Length: 2\r\n\r\n{{}}"
            )
        );
        assert!(SERVER.starts_with("luigid-rs/0."));
    }

    #[test]
    fn connection_headers() {
        let r = Response::new(200);
        assert!(enc(&r, false, 1).contains("\r\nConnection: close\r\n"));
        assert!(!enc(&r, true, 1).contains("Connection"));
        assert!(enc(&r, true, 0).contains("\r\nConnection: keep-alive\r\n"));
        assert!(enc(&r, false, 0).contains("\r\nConnection: close\r\n"));
        let mut closing = Response::new(400);
        closing.close = true;
        assert!(enc(&closing, true, 1).contains("\r\nConnection: close\r\n"));
    }

    #[test]
    fn bodiless_statuses_have_no_length_nor_body() {
        for status in [100, 204, 304] {
            let mut r = Response::new(status);
            r.body = b"ignored".to_vec();
            let s = enc(&r, true, 1);
            assert!(!s.contains("Content-Length"), "{s}");
            assert!(s.ends_with("\r\n\r\n"), "{s}");
        }
        // 200 with an empty body still says Content-Length: 0.
        assert!(enc(&Response::new(200), true, 1).contains("Content-Length: 0\r\n"));
    }

    #[test]
    fn head_keeps_length_without_body() {
        let mut r = Response::new(200).with_body("text/plain", "hello");
        r.head_only = true;
        let s = enc(&r, true, 1);
        assert!(s.contains("Content-Length: 5\r\n"));
        assert!(s.ends_with("\r\n\r\n"));
    }

    #[test]
    fn given_headers_win_and_crlf_is_dropped() {
        let r = Response::new(200)
            .with_header("Content-Length", "42")
            .with_header("Date", "x")
            .with_header("X-Bad", "a\r\nInjected: 1");
        let s = enc(&r, true, 1);
        assert_eq!(s.matches("Content-Length").count(), 1);
        assert!(s.contains("Content-Length: 42\r\n"));
        assert_eq!(s.matches("Date").count(), 1);
        assert!(!s.contains("Injected"));
    }

    #[test]
    fn appends_to_a_reused_buffer() {
        let mut out = b"prev".to_vec();
        encode_response(&Response::new(404), true, 1, NOW, &mut out);
        assert!(out.starts_with(b"prevHTTP/1.1 404 Not Found\r\n"));
        assert_eq!(cached_date(NOW), cached_date(NOW));
        assert_eq!(&cached_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
    }
}

//! Arbitrary bytes through the argument decoders, date parsing and gzip.
//!
//! Input layout: byte 0 picks a content type; the rest is split at the first two 0xFF
//! bytes into query, body and argument name. Checked: no panic, and the properties each
//! decoder promises (stripped values, no removed control characters, gzip round trip).
use std::io::Read;

use crate::http::{self, Request, Response};

pub fn check(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut fields = rest.splitn(3, |&b| b == 0xff);
    let query = fields.next().unwrap_or(b"");
    let body = fields.next().unwrap_or(b"");
    let name = String::from_utf8_lossy(fields.next().unwrap_or(b"data")).into_owned();
    let content_type = match sel % 5 {
        0 => "application/x-www-form-urlencoded".to_string(),
        1 => "multipart/form-data; boundary=B".to_string(),
        2 => format!(
            "multipart/form-data; boundary={}",
            String::from_utf8_lossy(query)
        ),
        3 => "application/json".to_string(),
        _ => String::from_utf8_lossy(query).into_owned(),
    };

    if let Ok(pairs) = http::parse_urlencoded(body) {
        assert!(pairs.len() <= http::form::MAX_URLENCODED_FIELDS);
    }
    let _ = http::parse_multipart(&content_type, body);
    let _ = http::percent_decode_path(&String::from_utf8_lossy(query));

    // httparse only yields ASCII/UTF-8 query strings; mimic that.
    let req = Request {
        method: "POST".into(),
        path: "/api/x".into(),
        query: String::from_utf8_lossy(query).into_owned(),
        minor_version: 1,
        headers: vec![("content-type".into(), content_type.into_bytes())],
        body: body.to_vec(),
    };
    if let Ok(Some(v)) = http::get_argument(&req, &name) {
        assert_eq!(v.trim(), v, "value not stripped");
        assert!(
            !v.chars()
                .any(|c| matches!(c, '\u{0}'..='\u{8}' | '\u{e}'..='\u{1f}')),
            "control character kept"
        );
    }

    let text = String::from_utf8_lossy(rest);
    if let Some(t) = http::parse_http_date(&text) {
        // Whatever parses formats back to a date that parses to the same instant.
        assert_eq!(http::parse_http_date(&http::http_date(t)), Some(t));
    }
    if rest.len() >= 8 {
        let mut secs = [0u8; 8];
        secs.copy_from_slice(&rest[..8]);
        let t = u64::from_le_bytes(secs) % 253_402_300_800;
        assert_eq!(http::parse_http_date(&http::http_date(t)), Some(t));
    }

    let mut resp = Response::new(200).with_body("application/json", body.to_vec());
    http::gzip_response(Some("gzip"), &mut resp);
    if resp.header("Content-Encoding") == Some("gzip") {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&resp.body[..])
            .read_to_end(&mut plain)
            .expect("our own gzip output decodes");
        assert_eq!(plain, body);
    }
    let mut out = Vec::new();
    http::encode_response(&resp, sel & 1 == 0, (sel >> 1) & 1, 0, &mut out);
    assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
}

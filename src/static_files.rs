//! `/static/<path>` (and `/favicon.ico`, `/robots.txt`) as Tornado's StaticFileHandler
//! serves them (`tornado/web.py`): content type by extension, SHA-512 ETag,
//! Last-Modified, 304, single byte ranges, `?v=` cache headers, HEAD.
//!
//! Files come from the repository's `static/` directory, embedded at build time by
//! `build.rs`, or from a directory named by `[luigid_rs] static_dir`.
//!
//! Hardened beyond Tornado: any `..` segment, encoded `/` or `\`, backslashes, NUL and
//! absolute paths are refused with 403 even when they would normalise inside the root,
//! and (for a directory root) symlinks that resolve outside the root are refused too.

use crate::http::{http_date, parse_http_date};
use crate::http::{Request, Response};
use crate::router::{error_page, if_none_match_matches};
use sha2::{Digest, Sha512};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

// `EMBEDDED: &[(&str, &[u8], u64)]`: (relative path, bytes, mtime), sorted by path.
include!(concat!(env!("OUT_DIR"), "/static_files.rs"));

/// `?v=...` asks for ten years of caching, as Tornado's `CACHE_MAX_AGE`.
const CACHE_MAX_AGE: u64 = 86400 * 365 * 10;

/// Where static files come from.
#[derive(Debug, Clone, PartialEq)]
pub enum StaticRoot {
    /// The files embedded at build time.
    Embedded,
    /// A directory on disk (`[luigid_rs] static_dir`).
    Dir(PathBuf),
}

/// Content type by extension, as Python's `mimetypes` answers (no charset parameter).
pub fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html",
        "js" | "mjs" => "text/javascript",
        "css" => "text/css",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "gif" => "image/gif",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/vnd.microsoft.icon",
        "json" | "map" => "application/json",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "eot" => "application/vnd.ms-fontobject",
        "txt" => "text/plain",
        "xml" => "application/xml",
        _ => "application/octet-stream",
    }
}

fn sha512_etag(bytes: &[u8]) -> String {
    let digest = Sha512::digest(bytes);
    let mut s = String::with_capacity(130);
    s.push('"');
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s.push('"');
    s
}

/// ETag of embedded file `i`, hashed on first use only (hashing every asset at startup
/// would slow down every `App::new`).
fn embedded_etag(i: usize) -> &'static str {
    static ETAGS: OnceLock<Vec<OnceLock<String>>> = OnceLock::new();
    let tags = ETAGS.get_or_init(|| EMBEDDED.iter().map(|_| OnceLock::new()).collect());
    match (tags.get(i), EMBEDDED.get(i)) {
        (Some(cell), Some((_, bytes, _))) => cell.get_or_init(|| sha512_etag(bytes)),
        _ => "",
    }
}

/// Check and normalise the decoded path below the root. `Err(status)` refuses it.
fn safe_relative(raw: &str) -> Result<String, u16> {
    let lower = raw.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains("%00") {
        return Err(403);
    }
    let decoded = crate::http::percent_decode_path(raw)
        .map_err(|e| e.status)?
        .into_owned();
    if decoded.is_empty()
        || decoded.starts_with('/')
        || decoded.contains('\\')
        || decoded.contains('\0')
    {
        return Err(403);
    }
    let mut parts = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(403),
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return Err(403);
    }
    Ok(parts.join("/"))
}

/// A file found below the root.
struct Found {
    bytes: Cow<'static, [u8]>,
    mtime: u64,
    etag: Cow<'static, str>,
}

fn lookup_embedded(rel: &str) -> Result<Found, u16> {
    match EMBEDDED.binary_search_by(|(p, _, _)| (*p).cmp(rel)) {
        Ok(i) => {
            let (_, bytes, mtime) = EMBEDDED[i];
            Ok(Found {
                bytes: Cow::Borrowed(bytes),
                mtime,
                etag: Cow::Borrowed(embedded_etag(i)),
            })
        }
        Err(_) => {
            let dir = format!("{rel}/");
            if EMBEDDED.iter().any(|(p, _, _)| p.starts_with(&dir)) {
                Err(403)
            } else {
                Err(404)
            }
        }
    }
}

fn lookup_dir(root: &Path, rel: &str) -> Result<Found, u16> {
    let root = root.canonicalize().map_err(|_| 404u16)?;
    let path = root.join(rel);
    let real = match path.canonicalize() {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(404),
        Err(_) => return Err(403),
    };
    if !real.starts_with(&root) {
        return Err(403);
    }
    let meta = std::fs::metadata(&real).map_err(|_| 404u16)?;
    if !meta.is_file() {
        return Err(403);
    }
    let bytes = std::fs::read(&real).map_err(|_| 403u16)?;
    let mtime = meta.modified().map_or(0, crate::clock::unix_secs);
    let etag = sha512_etag(&bytes);
    Ok(Found {
        bytes: Cow::Owned(bytes),
        mtime,
        etag: Cow::Owned(etag),
    })
}

/// Python's `int()` on a Range bound: blanks around, optional sign, `_` separators.
fn int_or_none(s: &str) -> Result<Option<i64>, ()> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return Err(());
    }
    s.replace('_', "").parse::<i64>().map(Some).map_err(|_| ())
}

/// Tornado's `_parse_request_range`: `(start, end)` with `end` exclusive; `-n` gives a
/// negative start. `None`: ignore the header.
fn parse_range(header: &str) -> Option<(Option<i64>, Option<i64>)> {
    let (unit, value) = header.split_once('=').unwrap_or((header, ""));
    if unit.trim() != "bytes" {
        return None;
    }
    let value = value.trim();
    let (a, b) = value.split_once('-').unwrap_or((value, ""));
    let mut start = int_or_none(a).ok()?;
    let mut end = int_or_none(b).ok()?;
    if let Some(e) = end {
        match start {
            None if e != 0 => {
                start = Some(-e);
                end = None;
            }
            None => {}
            Some(_) => end = Some(e.saturating_add(1)),
        }
    }
    Some((start, end))
}

fn has_v_argument(query: &str) -> bool {
    query
        .split('&')
        .any(|p| p.split_once('=').map(|(k, _)| k).unwrap_or(p) == "v")
}

/// Serve `raw` (the still percent-encoded path below the root) for `req` at `now`.
pub fn serve(root: &StaticRoot, raw: &str, req: &Request, now: f64) -> Response {
    let include_body = match req.method.as_str() {
        "GET" => true,
        "HEAD" => false,
        _ => return error_page(405).with_header("Allow", "GET, HEAD"),
    };
    let rel = match safe_relative(raw) {
        Ok(r) => r,
        Err(status) => return error_page(status),
    };
    let found = match root {
        StaticRoot::Embedded => lookup_embedded(&rel),
        StaticRoot::Dir(dir) => lookup_dir(dir, &rel),
    };
    let f = match found {
        Ok(f) => f,
        Err(status) => return error_page(status),
    };

    let mut resp = Response::new(200)
        .with_header("Accept-Ranges", "bytes")
        .with_header("Etag", f.etag.as_ref())
        .with_header("Last-Modified", http_date(f.mtime))
        .with_header("Content-Type", content_type(&rel));
    if has_v_argument(&req.query) {
        let expires = now.max(0.0) as u64 + CACHE_MAX_AGE;
        resp = resp
            .with_header("Expires", http_date(expires))
            .with_header("Cache-Control", format!("max-age={CACHE_MAX_AGE}"));
    }

    // Conditional: If-None-Match alone decides when present, else If-Modified-Since.
    let not_modified = match req.header_str("if-none-match").filter(|v| !v.is_empty()) {
        Some(inm) => if_none_match_matches(inm, &f.etag),
        None => req
            .header_str("if-modified-since")
            .and_then(parse_http_date)
            .is_some_and(|since| since >= f.mtime),
    };
    if not_modified {
        resp.status = 304;
        resp.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        return resp;
    }

    let size = f.bytes.len() as i64;
    let (mut start, mut end) = (None, None);
    if let Some(range) = req.header_str("range").and_then(parse_range) {
        (start, end) = range;
        if let Some(s) = start.filter(|s| *s < 0) {
            start = Some((s + size).max(0));
        }
        let unsatisfiable =
            start.is_some_and(|s| s >= size || end.is_some_and(|e| s >= e)) || end == Some(0);
        if unsatisfiable {
            resp.status = 416;
            resp.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
            return resp
                .with_header("Content-Type", "text/plain")
                .with_header("Content-Range", format!("bytes */{size}"));
        }
        if end.is_some_and(|e| e > size) {
            end = Some(size);
        }
        let (s, e) = (start.unwrap_or(0), end.unwrap_or(size));
        if e - s != size {
            resp.status = 206;
            resp = resp.with_header("Content-Range", format!("bytes {}-{}/{}", s, e - 1, size));
        }
    }
    // Tornado's arithmetic: a (start, end) pair with end < start cannot reach here,
    // because start >= end was refused above.
    let s = start.unwrap_or(0).clamp(0, size) as usize;
    let e = end.unwrap_or(size).clamp(0, size) as usize;
    resp.body = f.bytes.get(s..e.max(s)).unwrap_or_default().to_vec();
    resp.head_only = !include_body;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_parsing_follows_tornado() {
        assert_eq!(parse_range("bytes=0-9"), Some((Some(0), Some(10))));
        assert_eq!(parse_range("bytes=5-"), Some((Some(5), None)));
        assert_eq!(parse_range("bytes=-3"), Some((Some(-3), None)));
        assert_eq!(parse_range("bytes=-0"), Some((None, Some(0))));
        assert_eq!(parse_range("bytes = 1 - 2"), Some((Some(1), Some(3))));
        assert_eq!(parse_range("bytes=0-1,3-4"), None);
        assert_eq!(parse_range("items=0-1"), None);
        assert_eq!(parse_range("bytes=a-b"), None);
    }

    #[test]
    fn safe_relative_refuses_escapes() {
        assert_eq!(
            safe_relative("visualiser/./index.html"),
            Ok("visualiser/index.html".into())
        );
        for bad in [
            "",
            "..",
            "../x",
            "a/../b",
            "%2e%2e/x",
            "a%2fb",
            "a%5cb",
            "a\\b",
            "/etc/passwd",
            "%2fetc/passwd",
            "a%00b",
            ".",
        ] {
            assert!(safe_relative(bad).is_err(), "{bad:?}");
        }
        assert_eq!(safe_relative("%ff"), Err(400));
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("a/b.JS"), "text/javascript");
        assert_eq!(content_type("x.woff2"), "font/woff2");
        assert_eq!(content_type("noext"), "application/octet-stream");
        assert_eq!(content_type("a.map"), "application/json");
    }

    #[test]
    fn embedded_table_is_sorted_and_has_the_visualiser() {
        assert!(EMBEDDED.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(EMBEDDED
            .iter()
            .any(|(p, _, _)| *p == "visualiser/index.html"));
    }
}

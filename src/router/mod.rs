//! Path + method -> handler, as luigid's route table (protocol reference 1.2), plus the
//! cross-cutting reply rules of 1.3: SHA-1 ETag and 304 on 200 GET/HEAD replies,
//! `Vary: Accept-Encoding` and gzip, Tornado's HTML error pages.
//!
//! Deliberate differences from luigid (its 500s become client errors a user can act on):
//! a `data` that is not JSON or not an object, and bad arguments, give 400 with a JSON
//! body `{"error": "..."}`; an unknown RPC method gives 404 with such a body; an empty
//! `data=` means "no arguments" (the visualiser's pause toggle sends it); every 405
//! carries `Allow`; static paths are refused more strictly (see [`crate::static_files`]).
//!
//! Owner: the router work item.

mod cors;

pub use cors::CorsConfig;

use crate::api::ApiError;
use crate::app::{App, Peer};
use crate::auth::RouteClass;
use crate::config::Ini;
use crate::http::{Request, Response};
use crate::static_files::StaticRoot;
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

const HTML: &str = "text/html; charset=UTF-8";
const JSON: &str = "application/json; charset=UTF-8";

/// Router settings, parsed once from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterState {
    pub cors: CorsConfig,
    pub static_root: StaticRoot,
}

impl Default for RouterState {
    fn default() -> Self {
        RouterState {
            cors: CorsConfig::default(),
            static_root: StaticRoot::Embedded,
        }
    }
}

impl RouterState {
    /// `[cors]` and `[luigid_rs] static_dir`; errors name the bad setting (startup errors).
    pub fn from_ini(ini: &Ini) -> Result<RouterState, String> {
        let cors = CorsConfig::from_ini(ini)?;
        let static_root = match ini.get("luigid_rs", "static_dir") {
            None | Some("") => StaticRoot::Embedded,
            Some(dir) => {
                let path = std::path::PathBuf::from(dir);
                if !path.is_dir() {
                    return Err(format!(
                        "[luigid_rs] static_dir = {dir:?} is not a directory"
                    ));
                }
                StaticRoot::Dir(path)
            }
        };
        Ok(RouterState { cors, static_root })
    }

    /// As [`RouterState::from_ini`], but a bad setting is logged and the defaults used
    /// (for `App::new`, which cannot fail; `App::from_ini` reports the error instead).
    pub fn from_ini_lenient(ini: &Ini) -> RouterState {
        RouterState::from_ini(ini).unwrap_or_else(|e| {
            log::error!("{e}; using the default CORS and static settings");
            RouterState::default()
        })
    }
}

/// Which history page a path asks for; captures are percent-decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryRoute {
    /// `/tasklist`
    TaskList,
    /// `/tasklist/{name}` (the name may be empty or contain '/')
    TaskListName(String),
    /// `/history`
    Recent,
    /// `/history/by_name/{name}`
    ByName(String),
    /// `/history/by_id/{id}`
    ById(String),
    /// `/history/by_task_id/{task_id}`
    ByTaskId(String),
    /// `/history/by_params/{name}` (the `data` query argument holds the parameters)
    ByParams(String),
}

/// Tornado's error page, `Content-Type: text/html; charset=UTF-8`.
pub fn error_page(status: u16) -> Response {
    let reason = crate::http::reason(status);
    Response::new(status).with_body(
        HTML,
        format!("<html><title>{status}: {reason}</title><body>{status}: {reason}</body></html>"),
    )
}

/// `{"error": message}` for API client errors.
pub fn json_error(status: u16, message: &str) -> Response {
    let mut body = Vec::with_capacity(message.len() + 16);
    crate::json::write_py_json(&serde_json::json!({ "error": message }), &mut body);
    Response::new(status).with_body(JSON, body)
}

fn method_not_allowed(allow: &str) -> Response {
    error_page(405).with_header("Allow", allow)
}

/// Tornado's `check_etag_header`: tags are `*` or `(W/)?"..."`; `*` counts only first;
/// `W/` is ignored on both sides.
pub fn if_none_match_matches(header: &str, etag: &str) -> bool {
    let b = header.as_bytes();
    let mut tags: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'*' {
            tags.push("*");
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i;
        if b[j..].starts_with(b"W/") {
            j += 2;
        }
        if b.get(j) == Some(&b'"') {
            if let Some(close) = b[j + 1..].iter().position(|&c| c == b'"') {
                let end = j + 1 + close + 1;
                tags.push(&header[start..end]);
                i = end;
                continue;
            }
        }
        i += 1;
    }
    let weak = |t: &str| t.strip_prefix("W/").unwrap_or(t).to_string();
    match tags.first() {
        None => false,
        Some(&"*") => true,
        Some(_) => tags.iter().any(|t| weak(t) == weak(etag)),
    }
}

/// Tornado's `get_argument` clean-up: control characters other than \t\n\v\f\r become
/// spaces, then surrounding whitespace goes (as Python's `str.strip`).
pub fn clean_argument(s: &str) -> String {
    if !s.bytes().any(crate::http::form::is_replaced_control) {
        return s.trim().to_string();
    }
    let replaced: String = s
        .chars()
        .map(|c| match c {
            '\u{0}'..='\u{8}' | '\u{e}'..='\u{1f}' => ' ',
            c => c,
        })
        .collect();
    replaced.trim().to_string()
}

/// One of luigid's 39 RPC method names (the api's table). Checked before `data` is read,
/// as luigid does, so an unknown method is a 404 whatever its arguments.
pub fn is_rpc_method(name: &str) -> bool {
    crate::api::METHODS.iter().any(|(m, _, _)| *m == name)
}

/// Answer one request: dispatch, then ETag/304, HEAD, Vary and gzip.
pub fn route(app: &mut App, req: &Request, peer: &Peer, now: f64) -> Response {
    let decoded_method;
    let class = match req.path.as_str() {
        p if p.starts_with("/api/") && req.method != "OPTIONS" => {
            decoded_method = crate::http::percent_decode_path(&p[5..]).unwrap_or_default();
            if is_rpc_method(&decoded_method) {
                RouteClass::Api {
                    method: &decoded_method,
                }
            } else {
                RouteClass::Public
            }
        }
        "/metrics" => RouteClass::Metrics,
        p if p == "/tasklist"
            || p.starts_with("/tasklist/")
            || p == "/history"
            || p.starts_with("/history/") =>
        {
            RouteClass::Page
        }
        _ => RouteClass::Public,
    };
    let is_api = matches!(class, RouteClass::Api { .. });
    let mut resp = match app.auth.check(req, peer, class, now) {
        Ok(principal) => {
            let mut resp = dispatch(app, req, now);
            if is_api {
                if let Some((name, value)) = app.auth.role_header(&principal) {
                    resp.headers.push((name.to_string(), value.to_string()));
                }
            }
            resp
        }
        Err(refusal) => refusal,
    };
    finish(req, &mut resp);
    resp
}

/// The rules every reply goes through, whichever handler made it (reference 1.3).
fn finish(req: &Request, resp: &mut Response) {
    let get_or_head = req.method == "GET" || req.method == "HEAD";
    if resp.status == 200 && get_or_head && resp.header("etag").is_none() {
        let digest = Sha1::digest(&resp.body);
        let mut etag = String::with_capacity(42);
        etag.push('"');
        for b in digest {
            etag.push_str(&format!("{b:02x}"));
        }
        etag.push('"');
        let matched = req
            .header_str("if-none-match")
            .is_some_and(|inm| if_none_match_matches(inm, &etag));
        resp.headers.push(("Etag".to_string(), etag));
        if matched {
            resp.status = 304;
            resp.body.clear();
        }
    }
    if resp.status == 304 || resp.status == 204 {
        // Tornado drops the representation headers on bodiless replies.
        resp.headers.retain(|(n, _)| {
            !["content-type", "content-encoding", "content-language"]
                .iter()
                .any(|h| n.eq_ignore_ascii_case(h))
        });
        resp.body.clear();
    }
    if req.method == "HEAD" {
        resp.head_only = true;
    }
    // HEAD replies describe the plain body (its Content-Length), so they stay uncompressed.
    let accept = if req.method == "HEAD" {
        None
    } else {
        req.header_str("accept-encoding")
    };
    crate::http::gzip_response(accept, resp);
}

fn dispatch(app: &mut App, req: &Request, now: f64) -> Response {
    let path = req.path.as_str();
    if let Some(rest) = path.strip_prefix("/static/") {
        return crate::static_files::serve(&app.router.static_root, rest, req, now);
    }
    if path == "/favicon.ico" || path == "/robots.txt" {
        return crate::static_files::serve(&app.router.static_root, &path[1..], req, now);
    }
    if let Some(rest) = path.strip_prefix("/api/") {
        return api(app, rest, req, now);
    }
    match path {
        "/" => return root(req),
        "/metrics" => {
            if req.method != "GET" {
                return method_not_allowed("GET");
            }
            return metrics_page(app, req, now);
        }
        "/tasklist" => return history(app, req, Ok(HistoryRoute::TaskList)),
        "/history" => return history(app, req, Ok(HistoryRoute::Recent)),
        _ => {}
    }
    type Make = fn(String) -> HistoryRoute;
    let prefixed: [(&str, Make); 5] = [
        ("/tasklist/", HistoryRoute::TaskListName),
        ("/history/by_name/", HistoryRoute::ByName),
        ("/history/by_id/", HistoryRoute::ById),
        ("/history/by_task_id/", HistoryRoute::ByTaskId),
        ("/history/by_params/", HistoryRoute::ByParams),
    ];
    for (prefix, make) in prefixed {
        if let Some(rest) = path.strip_prefix(prefix) {
            let route = crate::http::percent_decode_path(rest).map(make);
            return history(app, req, route);
        }
    }
    error_page(404)
}

fn root(req: &Request) -> Response {
    match req.method.as_str() {
        // Relative on purpose: works behind a path-prefix proxy.
        "GET" => Response::new(302)
            .with_header("Location", "static/visualiser/index.html")
            .with_body(HTML, Vec::new()),
        "HEAD" => Response::new(204),
        _ => method_not_allowed("GET, HEAD"),
    }
}

fn history(
    app: &mut App,
    req: &Request,
    route: Result<HistoryRoute, crate::http::HttpError>,
) -> Response {
    if req.method != "GET" {
        return method_not_allowed("GET");
    }
    match route {
        Ok(route) => history_page(app, route, req),
        Err(e) => error_page(e.status),
    }
}

/// History pages; without history, luigid answers every one with a 500.
fn history_page(app: &mut App, route: HistoryRoute, req: &Request) -> Response {
    let path = match &route {
        HistoryRoute::TaskList => "/tasklist".to_string(),
        HistoryRoute::TaskListName(n) => format!("/tasklist/{n}"),
        HistoryRoute::Recent => "/history".to_string(),
        HistoryRoute::ByName(n) => format!("/history/by_name/{n}"),
        HistoryRoute::ById(n) => format!("/history/by_id/{n}"),
        HistoryRoute::ByTaskId(n) => format!("/history/by_task_id/{n}"),
        HistoryRoute::ByParams(n) => format!("/history/by_params/{n}"),
    };
    crate::history::handle_page(app.history.as_ref(), &path, req)
}

/// Prometheus exposition (always on; luigid needs `metrics_collector = prometheus`).
fn metrics_page(app: &mut App, _req: &Request, _now: f64) -> Response {
    app.metrics_response()
}

/// `/api/{method}` (reference 1.4).
fn api(app: &mut App, raw_method: &str, req: &Request, now: f64) -> Response {
    if !matches!(req.method.as_str(), "GET" | "POST" | "OPTIONS") {
        return method_not_allowed("GET, POST, OPTIONS");
    }
    let method = match crate::http::percent_decode_path(raw_method) {
        Ok(m) => m,
        Err(e) => return json_error(e.status, &e.message),
    };
    if req.method == "OPTIONS" {
        let mut resp = Response::new(204);
        app.router
            .cors
            .preflight(req.header_str("origin"), &mut resp);
        return resp;
    }
    if !is_rpc_method(&method) {
        return json_error(404, &format!("unknown RPC method {method:?}"));
    }
    let data = match crate::http::get_argument(req, "data") {
        // Already cleaned as Tornado's get_argument does ([`clean_argument`] of it is a no-op).
        Ok(d) => d,
        Err(e) => return json_error(e.status, &e.message),
    };
    let args = match data.as_deref() {
        None | Some("") => Map::new(),
        Some(text) => match crate::json::parse_py_json(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return json_error(400, "data must be a JSON object"),
            Err(e) => return json_error(400, &e),
        },
    };
    crate::api::want_raw_reply();
    let result = app.rpc_data(&method, args, Some(data.as_deref().unwrap_or("")), now);
    let raw = crate::api::take_raw_reply();
    match result {
        Ok(value) => {
            let mut body = Vec::with_capacity(raw.as_ref().map_or(64, |r| r.len() + 16));
            body.extend_from_slice(b"{\"response\": ");
            match raw {
                Some(raw) => body.extend_from_slice(&raw),
                None => crate::json::write_py_json(&value, &mut body),
            }
            body.push(b'}');
            let mut resp = Response::new(200).with_body(JSON, body);
            app.router.cors.actual(req.header_str("origin"), &mut resp);
            resp
        }
        Err(ApiError::UnknownMethod(m)) => json_error(404, &format!("unknown RPC method {m:?}")),
        Err(ApiError::BadArgument(m)) => json_error(400, &m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_table_is_sorted_and_complete() {
        assert_eq!(crate::api::METHODS.len(), 39);
        assert!(is_rpc_method("ping"));
        assert!(!is_rpc_method("load"));
        assert!(!is_rpc_method("resources"));
    }

    #[test]
    fn etag_matching_is_weak_and_lists() {
        let e = "\"abc\"";
        assert!(if_none_match_matches("\"abc\"", e));
        assert!(if_none_match_matches("W/\"abc\"", e));
        assert!(if_none_match_matches("\"x\", W/\"abc\"", e));
        assert!(if_none_match_matches("*", e));
        assert!(!if_none_match_matches("\"x\", *", e));
        assert!(!if_none_match_matches("abc", e));
        assert!(!if_none_match_matches("", e));
        assert!(!if_none_match_matches("\"abcd\"", e));
        assert!(if_none_match_matches("\"abc\"", "W/\"abc\""));
    }

    #[test]
    fn get_argument_output_needs_no_second_clean() {
        for raw in [
            "%00%1f+%7B%7D%1c%C2%A0",
            "%E2%80%A8a%0Bb%0C%E3%80%80",
            "%09x%01y%0A",
            "+%1e%1d%0e%08",
        ] {
            let req = Request {
                query: format!("data={raw}"),
                ..Request::default()
            };
            let got = crate::http::get_argument(&req, "data").unwrap().unwrap();
            assert_eq!(clean_argument(&got), got, "{raw}");
        }
    }

    #[test]
    fn clean_argument_like_tornado() {
        assert_eq!(clean_argument(" \u{1}{}\u{1f} "), "{}");
        assert_eq!(clean_argument("a\u{0}b"), "a b");
        assert_eq!(clean_argument("\t{\"a\":\t1}\n\u{a0}"), "{\"a\":\t1}");
        assert_eq!(clean_argument("a\u{b}\u{c}b"), "a\u{b}\u{c}b");
    }

    #[test]
    fn error_page_body_is_tornados() {
        let r = error_page(404);
        assert_eq!(
            r.body,
            b"<html><title>404: Not Found</title><body>404: Not Found</body></html>"
        );
        assert_eq!(r.header("content-type"), Some(HTML));
    }
}

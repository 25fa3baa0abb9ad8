//! Path + method -> handler, as luigid's route table (`luigi/server.py`, `app()`), plus
//! the reply rules Tornado applies to every handler: SHA-1 ETag and 304 on 200 GET/HEAD
//! replies, `Vary: Accept-Encoding` and gzip, Tornado's HTML error pages. Which RPC
//! methods exist, what role each needs and whether its reply may be cached is the api
//! table's (`crate::api::METHODS`).
//!
//! Deliberate differences from luigid (its 500s become client errors a user can act on):
//! a `data` that is not JSON or not an object, and bad arguments, give 400 with a JSON
//! body `{"error": "..."}`; an unknown RPC method gives 404 with such a body; an empty
//! `data=` means "no arguments" (the visualiser's pause toggle sends it); every 405
//! carries `Allow`; static paths are refused more strictly (see [`crate::static_files`]).

mod cors;

pub use cors::CorsConfig;

use crate::api::ApiError;
use crate::app::{App, Peer};
use crate::auth::RouteClass;
use crate::config::Ini;
use crate::http::{Request, Response};
use crate::scheduler::TasksVersion;
use crate::static_files::StaticRoot;
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
    crate::pyjson::write_py_json(&serde_json::json!({ "error": message }), &mut body);
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

/// Answer one request: dispatch, then ETag/304, HEAD, Vary and gzip.
pub fn route(app: &mut App, req: &Request, peer: &Peer, now: f64) -> Response {
    let decoded_method;
    let class = match req.path.as_str() {
        p if p.starts_with("/api/") && req.method != "OPTIONS" => {
            decoded_method = crate::http::percent_decode_path(&p[5..]).unwrap_or_default();
            if crate::api::method(&decoded_method).is_some()
                || crate::api::details::is_own_method(&decoded_method)
            {
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

/// The rules every reply goes through, whichever handler made it (Tornado's
/// `RequestHandler.finish` and its `GZipContentEncoding` transform).
fn finish(req: &Request, resp: &mut Response) {
    let get_or_head = req.method == "GET" || req.method == "HEAD";
    if get_or_head || resp.status != 200 {
        // The ETag, a 304 and HEAD's Content-Length read the whole body (a shared body
        // has its ETag kept beside it).
        resp.flatten_splice();
    }
    if resp.status == 200 && get_or_head && resp.header("etag").is_none() {
        let etag = match resp.shared_body() {
            Some(shared) => shared.etag.get_or_init(|| etag_of(&shared.body)).clone(),
            None => etag_of(&resp.body),
        };
        let matched = req
            .header_str("if-none-match")
            .is_some_and(|inm| if_none_match_matches(inm, &etag));
        resp.headers.push(("Etag".to_string(), etag));
        if matched {
            resp.status = 304;
            resp.clear_body();
        }
    }
    if resp.status == 304 || resp.status == 204 {
        // Tornado drops the representation headers on bodiless replies.
        resp.headers.retain(|(n, _)| {
            !["content-type", "content-encoding", "content-language"]
                .iter()
                .any(|h| n.eq_ignore_ascii_case(h))
        });
        resp.clear_body();
    }
    if req.method == "HEAD" {
        resp.head_only = true;
        resp.flatten();
    }
    // HEAD replies describe the plain body (its Content-Length), so they stay uncompressed.
    let accept = if req.method == "HEAD" {
        None
    } else {
        req.header_str("accept-encoding")
    };
    crate::http::gzip_response(accept, resp);
    resp.flatten();
}

/// get_work's running list, kept by the scheduler, is a part the gzip rule compresses
/// once (see `src/scheduler/running.rs`).
impl crate::http::KeptPart for crate::scheduler::RunningText {
    fn bytes(&self) -> &[u8] {
        &self.json
    }

    fn deflated(&self, make: &dyn Fn(&[u8]) -> Option<(Vec<u8>, u32)>) -> Option<&(Vec<u8>, u32)> {
        self.compressed.get_or_init(|| make(&self.json)).as_ref()
    }
}

/// From this size on, ETags are a fast 128-bit hash instead of SHA-1.
const FAST_ETAG_LENGTH: usize = 64 * 1024;

/// The ETag of a reply: Tornado's (the quoted hex SHA-1 of the body), except for replies
/// of [`FAST_ETAG_LENGTH`] and more (task lists of thousands of tasks), where SHA-1 cost
/// as much as building the reply: two seeded 64-bit foldhash passes. ETags are opaque to
/// clients; only this server compares them.
fn etag_of(body: &[u8]) -> String {
    if body.len() < FAST_ETAG_LENGTH {
        return sha1_etag(body);
    }
    use std::hash::BuildHasher;
    let a = foldhash::quality::FixedState::with_seed(0x6c75_6967_6964_2d72).hash_one(body);
    let b = foldhash::quality::FixedState::with_seed(0x6574_6167_2d76_3121).hash_one(body);
    format!("\"{a:016x}{b:016x}\"")
}

/// Tornado's ETag: the quoted hex SHA-1 of the body.
fn sha1_etag(body: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha1::digest(body);
    let mut etag = String::with_capacity(42);
    etag.push('"');
    for b in digest {
        etag.push(char::from(HEX[usize::from(b >> 4)]));
        etag.push(char::from(HEX[usize::from(b & 15)]));
    }
    etag.push('"');
    etag
}

/// The last large list replies (`task_list`, `task_search`: megabytes for 10,000s of
/// tasks, which the visualiser polls), valid while the scheduler state is unchanged:
/// a repeated poll then costs a copy, not a serialization, a SHA-1 and a gzip.
///
/// Exactness: these replies are a function of the task table and the arguments only,
/// except that the calls prune first; the cache is used only when that prune would change
/// nothing (`Scheduler::prune_needed`), and only while the table's
/// [`TasksVersion`](crate::scheduler::TasksVersion) is the one the reply was made at (it
/// changes with every change of a task, so pings and get_works that hand out nothing
/// leave it). Which methods: the api table's `cacheable`.
#[derive(Debug, Default)]
pub struct ReplyCache {
    version: Option<TasksVersion>,
    /// (method, data text, shared body), most recent last.
    entries: Vec<(String, String, std::sync::Arc<crate::http::SharedBody>)>,
}

impl ReplyCache {
    /// A visualiser polls task_list per status, a search and a graph: all of them fit.
    const MAX_ENTRIES: usize = 16;
    /// The bodies kept, in all (the newest is kept whatever its size): at 100,000 tasks
    /// a task_list of all of them (~40 MB) and a dep_graph at max_graph_nodes (~37 MB)
    /// fit together, so that polling both does not evict one with the other.
    const MAX_BYTES: usize = 128 << 20;
    /// Smaller replies are cheap to make again.
    const MIN_BODY: usize = 16 * 1024;

    fn get(
        &self,
        version: TasksVersion,
        method: &str,
        data: &str,
    ) -> Option<std::sync::Arc<crate::http::SharedBody>> {
        if self.version != Some(version) {
            return None;
        }
        self.entries
            .iter()
            .find(|(m, d, _)| m == method && d == data)
            .map(|(_, _, b)| b.clone())
    }

    fn put(
        &mut self,
        version: TasksVersion,
        method: &str,
        data: &str,
        body: std::sync::Arc<crate::http::SharedBody>,
    ) {
        if self.version != Some(version) {
            self.entries.clear();
            self.version = Some(version);
        }
        self.entries.retain(|(m, d, _)| !(m == method && d == data));
        self.entries
            .push((method.to_string(), data.to_string(), body));
        let size = |e: &(String, String, std::sync::Arc<crate::http::SharedBody>)| e.2.body.len();
        while self.entries.len() > 1
            && (self.entries.len() > Self::MAX_ENTRIES
                || self.entries.iter().map(size).sum::<usize>() > Self::MAX_BYTES)
        {
            self.entries.remove(0);
        }
    }
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
            let route = crate::http::percent_decode_path(rest).map(|d| make(d.into_owned()));
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

/// `/api/{method}`: luigid's `RPCHandler` (`luigi/server.py`).
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
    if crate::api::details::is_own_method(&method) {
        return task_details(app, req, now);
    }
    // Checked before `data` is read, as luigid does, so an unknown method is a 404
    // whatever its arguments.
    let Some(method) = crate::api::method(&method) else {
        return json_error(404, &format!("unknown RPC method {method:?}"));
    };
    let data = match crate::http::get_argument(req, "data") {
        // Already cleaned as Tornado's get_argument does ([`clean_argument`] of it is a no-op).
        Ok(d) => d,
        Err(e) => return json_error(e.status, &e.message),
    };
    let text = data.as_deref().unwrap_or("");
    let parsed = match crate::api::parse(method, text) {
        Ok(parsed) => parsed,
        Err(e) => return api_error(&e),
    };
    if method.cacheable && !app.scheduler.prune_needed(now) {
        if let Some(shared) = app
            .reply_cache
            .get(app.scheduler.tasks_version(), method.name, text)
        {
            let mut resp = Response::new(200).with_body(JSON, Vec::new());
            resp.shared = Some(shared);
            resp.body_in_shared = true;
            app.router.cors.actual(req.header_str("origin"), &mut resp);
            return resp;
        }
    }
    // What the journal records for the call (add_task: without its default arguments).
    let journaled = parsed.journal_text.as_deref().unwrap_or(text);
    match app.rpc(method, parsed.args, Some(journaled), now) {
        Ok(reply) => {
            let mut resp = match reply {
                crate::api::Reply::Spliced { body, at, middle } if !method.cacheable => {
                    let mut resp = Response::new(200).with_body(JSON, body);
                    resp.splice = Some(crate::http::Splice { at, part: middle });
                    resp
                }
                reply => Response::new(200).with_body(JSON, reply.into_body()),
            };
            if method.cacheable && resp.body.len() >= ReplyCache::MIN_BODY {
                let body = std::mem::take(&mut resp.body);
                let shared = std::sync::Arc::new(crate::http::SharedBody::new(body));
                resp.body_in_shared = true;
                app.reply_cache.put(
                    app.scheduler.tasks_version(),
                    method.name,
                    text,
                    shared.clone(),
                );
                resp.shared = Some(shared);
            }
            app.router.cors.actual(req.header_str("origin"), &mut resp);
            resp
        }
        Err(e) => api_error(&e),
    }
}

/// The reply for a failed call.
fn api_error(e: &ApiError) -> Response {
    match e {
        ApiError::UnknownMethod(_) => json_error(404, &e.to_string()),
        ApiError::InvalidJson(_) | ApiError::NotAnObject | ApiError::BadArgument(_) => {
            json_error(400, &e.to_string())
        }
        ApiError::Unavailable(_) => unavailable(&e.to_string()),
    }
}

/// `luigid_rs_task_details` (`crate::api::details`): read-only, so it bypasses the
/// journal and the reply cache; `data` is `{"task_id": "..."}` as for luigid's methods.
fn task_details(app: &mut App, req: &Request, now: f64) -> Response {
    let data = match crate::http::get_argument(req, "data") {
        Ok(d) => d,
        Err(e) => return json_error(e.status, &e.message),
    };
    let args = match crate::pyjson::parse_py_json(data.as_deref().unwrap_or("{}")) {
        Ok(serde_json::Value::Object(m)) => m,
        Ok(_) => return json_error(400, "data must be a JSON object"),
        Err(e) => return json_error(400, &e.to_string()),
    };
    let Some(task_id) = args.get("task_id").and_then(|v| v.as_str()) else {
        return json_error(400, "luigid_rs_task_details: task_id must be a string");
    };
    let reply = crate::api::details::task_details(&app.scheduler, task_id, now);
    let mut body = Vec::with_capacity(256);
    body.extend_from_slice(b"{\"response\": ");
    crate::pyjson::to_py_json(&reply, &mut body);
    body.push(b'}');
    let mut resp = Response::new(200).with_body(JSON, body);
    app.router.cors.actual(req.header_str("origin"), &mut resp);
    resp
}

/// 503 for a state-changing call while the saved state cannot be written. Luigi's
/// workers retry failed calls (`[core] rpc_retry_attempts`, `rpc_retry_wait`).
pub fn unavailable(message: &str) -> Response {
    json_error(503, message).with_header(
        "Retry-After",
        crate::persistence::RETRY_AFTER_SECS.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_replies_get_a_fast_etag_that_follows_the_content() {
        let small = vec![b'a'; FAST_ETAG_LENGTH - 1];
        assert_eq!(etag_of(&small), sha1_etag(&small));
        let mut big = vec![b'a'; FAST_ETAG_LENGTH];
        let e1 = etag_of(&big);
        assert_eq!(e1.len(), 34);
        assert_eq!(e1, etag_of(&big.clone()), "deterministic");
        big[FAST_ETAG_LENGTH / 2] = b'b';
        assert_ne!(etag_of(&big), e1, "any changed byte changes it");
        big.push(b'a');
        assert_ne!(etag_of(&big), etag_of(&big[..FAST_ETAG_LENGTH]));
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

    fn api_get(app: &mut App, method: &str, data: &str, now: f64) -> Response {
        let enc: String = data
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<Vec<_>>()
            .concat();
        let req = Request {
            method: "GET".into(),
            path: format!("/api/{method}"),
            query: format!("data={enc}"),
            minor_version: 1,
            headers: vec![("accept-encoding".into(), b"gzip".to_vec())],
            body: Vec::new(),
        };
        route(app, &req, &crate::app::Peer::default(), now)
    }

    fn add(app: &mut App, i: usize, now: f64) {
        let data = format!(
            r#"{{"task_id": "T{i}", "worker": "w", "status": "PENDING", "family": "F",
                "params": {{"n": "{i}"}}}}"#
        );
        let mut req = Request {
            method: "POST".into(),
            path: "/api/add_task".into(),
            minor_version: 1,
            headers: vec![(
                "content-type".into(),
                b"application/x-www-form-urlencoded".to_vec(),
            )],
            ..Request::default()
        };
        req.body = format!(
            "data={}",
            percent_encoding::utf8_percent_encode(&data, percent_encoding::NON_ALPHANUMERIC)
        )
        .into_bytes();
        assert_eq!(
            route(app, &req, &crate::app::Peer::default(), now).status,
            200
        );
    }

    fn gunzip(b: &[u8]) -> Vec<u8> {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(b)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn list_reply_cache_serves_unchanged_state_and_follows_changes() {
        let mut app = App::new(Ini::default());
        for i in 0..100 {
            add(&mut app, i, 1000.0);
        }
        let q = r#"{"status": "PENDING", "upstream_status": "", "search": ""}"#;
        let first = api_get(&mut app, "task_list", q, 1001.0);
        assert_eq!(first.status, 200);
        let plain = gunzip(&first.body);
        assert!(plain.len() >= ReplyCache::MIN_BODY, "{}", plain.len());
        let version = app.scheduler.tasks_version();
        // Unchanged state: the cached reply, the same bytes and ETag.
        let second = api_get(&mut app, "task_list", q, 1002.0);
        assert!(second.shared.is_some());
        assert_eq!(gunzip(&second.body), plain);
        assert_eq!(second.header("Etag"), Some(sha1_etag(&plain).as_str()));
        assert_eq!(second.header("Etag"), first.header("Etag"));
        assert_eq!(
            app.scheduler.tasks_version(),
            version,
            "reads leave the version"
        );
        // Pings and get_works that hand out nothing change no task: still cached.
        api_get(&mut app, "ping", r#"{"worker": "Z"}"#, 1002.0);
        api_get(
            &mut app,
            "get_work",
            r#"{"worker": "Z", "host": "h"}"#,
            1002.0,
        );
        let again = api_get(&mut app, "task_list", q, 1002.0);
        assert!(
            again.shared.is_some(),
            "a ping left the task table as it was"
        );
        assert_eq!(gunzip(&again.body), plain);
        // Another query is another entry.
        let all = api_get(&mut app, "task_list", "{}", 1002.0);
        assert!(gunzip(&all.body).len() >= plain.len());
        // A change is seen at once.
        add(&mut app, 100, 1003.0);
        assert_ne!(app.scheduler.tasks_version(), version);
        let third = api_get(&mut app, "task_list", q, 1003.0);
        let text = String::from_utf8(gunzip(&third.body)).unwrap();
        assert!(text.contains("\"T100\""));
        assert_ne!(third.header("Etag"), first.header("Etag"));
        assert_eq!(
            third.header("Etag"),
            Some(sha1_etag(text.as_bytes()).as_str())
        );
        // When a prune is due (the worker timed out), the call runs again and prunes.
        let late = 1003.0 + 10_000.0;
        assert!(app.scheduler.prune_needed(late));
        let before_prune = app.scheduler.tasks_version();
        let pruned = api_get(&mut app, "task_list", q, late);
        assert_ne!(app.scheduler.tasks_version(), before_prune);
        assert!(!std::sync::Arc::ptr_eq(
            pruned.shared.as_ref().unwrap(),
            again.shared.as_ref().unwrap()
        ));
        assert!(!app.scheduler.prune_needed(late));
    }

    /// After any mix of calls, a task_list reply (from the cache or not) is the one the
    /// scheduler makes afresh.
    #[test]
    fn cached_list_replies_equal_fresh_ones_after_any_call() {
        let mut app = App::new(Ini::default());
        for i in 0..120 {
            add(&mut app, i, 1000.0);
        }
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut now = 1001.0;
        let mut cached = 0;
        let mut last: [Option<std::sync::Arc<crate::http::SharedBody>>; 2] = [None, None];
        for step in 0..400 {
            now += next(3) as f64;
            let task = format!("T{}", next(130));
            let worker = ["w", "v", "Z"][next(3) as usize];
            let (method, data) = match next(8) {
                0 => ("ping", format!(r#"{{"worker": "{worker}"}}"#)),
                1 | 2 => (
                    "get_work",
                    format!(r#"{{"worker": "{worker}", "host": "h"}}"#),
                ),
                3 => (
                    "add_task",
                    format!(
                        r#"{{"task_id": "{task}", "worker": "{worker}", "status": "{}", "family": "F"}}"#,
                        ["DONE", "FAILED", "PENDING", "RUNNING"][next(4) as usize]
                    ),
                ),
                4 => (
                    "set_task_status_message",
                    format!(r#"{{"task_id": "{task}", "status_message": "m{step}"}}"#),
                ),
                5 => (
                    "add_worker",
                    format!(r#"{{"worker": "{worker}", "info": {{"n": {step}}}}}"#),
                ),
                _ => ("task_list", r#"{"status": "DONE"}"#.to_string()),
            };
            api_get(&mut app, method, &data, now);
            if app.scheduler.prune_needed(now) {
                continue;
            }
            let queries = [
                r#"{"status": "PENDING", "upstream_status": "", "search": ""}"#,
                "{}",
            ];
            for (k, q) in queries.into_iter().enumerate() {
                let got = api_get(&mut app, "task_list", q, now);
                if let (Some(a), Some(b)) = (&got.shared, &last[k]) {
                    cached += usize::from(std::sync::Arc::ptr_eq(a, b));
                }
                last[k] = got.shared.clone();
                let args = crate::api::parse(crate::api::method("task_list").unwrap(), q).unwrap();
                let fresh = crate::api::call(&mut app.scheduler, "task_list", args.args, now)
                    .unwrap()
                    .into_body();
                assert_eq!(
                    String::from_utf8_lossy(&gunzip(&got.body)),
                    String::from_utf8_lossy(&fresh),
                    "step {step}"
                );
            }
        }
        assert!(cached > 50, "the cache served {cached} replies");
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

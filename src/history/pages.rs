//! The history pages: `/tasklist`, `/tasklist/{name}`, `/history`,
//! `/history/by_name/{name}`, `/history/by_params/{name}?data={json}`,
//! `/history/by_id/{id}`, `/history/by_task_id/{task_id}`.
//!
//! Our own HTML (no external scripts; a duration chart as inline SVG), every value
//! escaped. JSON instead when the request sends `Accept: application/json` (or
//! `?format=json`). Long lists are paged with `?page=N` (100 rows a page).
//!
//! Differences from luigid, on purpose:
//! - `/tasklist` lists each task name once, with its number of records (luigid repeats a
//!   name per record).
//! - by_id / by_task_id that find nothing answer 404 with a message (luigid: 500);
//!   a malformed `data` or `page` answers 400 (luigid: 500 for bad `data`).
//! - by_params accepts string values only (luigid fails with 500 on any other type).
//! - Links are relative, so the pages work behind a path prefix.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};

use super::backend::{Conn, DbError};
use super::query::{self, NameRow, Page, RecordFilter, RecordRow, RunRow};
use super::time::{display, local_naive};
use super::History;
use crate::http::{Request, Response};

const HTML: &str = "text/html; charset=UTF-8";
const JSON: &str = "application/json; charset=UTF-8";

/// Unreserved characters stay; everything else in a link is percent-encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// HTML-escape text for element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// `application/x-www-form-urlencoded` pairs of a raw query string.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

struct PageError {
    status: u16,
    message: String,
}

fn err(status: u16, message: impl Into<String>) -> PageError {
    PageError {
        status,
        message: message.into(),
    }
}

/// What one request asks for, beyond the path.
struct Ctx {
    json: bool,
    page: u64,
    /// `../` repeated to reach the server root from this page.
    root: String,
    query: Vec<(String, String)>,
}

impl Ctx {
    /// Link to page `n` of this page, keeping the other query parameters.
    fn page_link(&self, n: u64) -> String {
        let mut q: Vec<String> = self
            .query
            .iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        q.push(format!("page={n}"));
        format!("?{}", q.join("&"))
    }
}

/// Answer a history page. `path` is the decoded path (e.g. "/history/by_name/Foo").
/// Without history (it is off by default, as in luigid), every page answers 500
/// "task history is disabled".
pub fn handle_page(history: Option<&History>, path: &str, req: &Request) -> Response {
    handle_page_at(history, path, req, crate::clock::unix_now())
}

/// [`handle_page`] with the clock passed in (`/history` shows the last 24 hours).
pub fn handle_page_at(history: Option<&History>, path: &str, req: &Request, now: f64) -> Response {
    let json = req
        .header_str("accept")
        .is_some_and(|a| a.to_ascii_lowercase().contains("application/json"));
    let query = query_pairs(&req.query);
    let json = json || query.iter().any(|(k, v)| k == "format" && v == "json");
    let raw = if req.path.is_empty() { path } else { &req.path };
    let depth = raw.matches('/').count().saturating_sub(1);
    let mut ctx = Ctx {
        json,
        page: 1,
        root: "../".repeat(depth),
        query,
    };
    let result = (|| {
        let Some(history) = history else {
            // A feature that is off, not a server error (luigid answers 500 here).
            return Err(err(
                404,
                "task history is disabled: set [scheduler] record_task_history = true and \
                 [task_history] db_connection (or start with --history-db PATH)",
            ));
        };
        if req.method != "GET" && req.method != "HEAD" {
            return Err(err(
                405,
                format!("method {} is not allowed here", req.method),
            ));
        }
        if let Some((_, p)) = ctx.query.iter().rev().find(|(k, _)| k == "page") {
            ctx.page = p
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| err(400, format!("page={p:?} is not a page number (1, 2, ...)")))?;
        }
        history.sync_for_read();
        let first = {
            let mut conn = history.reader().map_err(db)?;
            route(&mut *conn, path, &ctx, now)
        };
        match first {
            // A connection the server closed (idle timeout, a restart since the last
            // page) is made again at once; only a server that stays away answers 503.
            Err(e) if e.status == 503 => {
                let mut conn = history.reader().map_err(db)?;
                route(&mut *conn, path, &ctx, now)
            }
            r => r,
        }
    })();
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => error_response(&ctx, e),
    };
    if req.method == "HEAD" {
        resp.head_only = true;
    }
    resp
}

fn error_response(ctx: &Ctx, e: PageError) -> Response {
    let mut resp = if ctx.json {
        Response::new(e.status).with_body(JSON, json_bytes(&json!({ "error": e.message })))
    } else {
        let body = layout(
            ctx,
            "Error",
            &format!("<p class=\"error\">{}</p>", escape(&e.message)),
        );
        Response::new(e.status).with_body(HTML, body)
    };
    if e.status == 405 {
        resp = resp.with_header("Allow", "GET, HEAD");
    }
    resp
}

fn db(e: DbError) -> PageError {
    if e.transient {
        // The server is away; the writer holds the events meanwhile.
        return err(503, format!("task history database unavailable: {e}"));
    }
    log::warn!("task history: page query failed: {e}");
    err(500, format!("task history database error: {e}"))
}

fn route(conn: &mut dyn Conn, path: &str, ctx: &Ctx, now: f64) -> Result<Response, PageError> {
    if path == "/tasklist" {
        let page = query::task_names(conn, ctx.page).map_err(db)?;
        return Ok(task_names(ctx, &page));
    }
    if let Some(name) = path.strip_prefix("/tasklist/") {
        let page = query::runs(conn, name, ctx.page).map_err(db)?;
        return Ok(runs(ctx, name, &page));
    }
    if path == "/history" {
        let since = local_naive(now - 86_400.0);
        let page = query::records(conn, &RecordFilter::Since(&since), ctx.page).map_err(db)?;
        return Ok(records(ctx, "Task History: the last 24 hours", &page));
    }
    if let Some(name) = path.strip_prefix("/history/by_name/") {
        let page = query::records(conn, &RecordFilter::Name(name), ctx.page).map_err(db)?;
        return Ok(records(ctx, &format!("Task History: {name}"), &page));
    }
    if let Some(name) = path.strip_prefix("/history/by_params/") {
        let data = ctx
            .query
            .iter()
            .rev()
            .find(|(k, _)| k == "data")
            .map(|(_, v)| v.as_str())
            .unwrap_or("{}");
        let params = parse_params(data)?;
        let page =
            query::records(conn, &RecordFilter::Params(name, &params), ctx.page).map_err(db)?;
        return Ok(records(ctx, &format!("Task History: {name}"), &page));
    }
    if let Some(id) = path.strip_prefix("/history/by_id/") {
        let rid = id
            .trim()
            .parse::<i64>()
            .map_err(|_| err(404, format!("no task history record with id {id:?}")))?;
        return detail(
            conn,
            ctx,
            rid,
            &format!("no task history record with id {id:?}"),
        );
    }
    if let Some(task_id) = path.strip_prefix("/history/by_task_id/") {
        let missing = format!("no task history record for task id {task_id:?}");
        let rid = query::record_id_of_task(conn, task_id)
            .map_err(db)?
            .ok_or_else(|| err(404, missing.clone()))?;
        return detail(conn, ctx, rid, &missing);
    }
    Err(err(404, format!("no history page at {path:?}")))
}

fn parse_params(data: &str) -> Result<Vec<(String, String)>, PageError> {
    let v: Value =
        serde_json::from_str(data).map_err(|e| err(400, format!("data is not valid JSON: {e}")))?;
    let Value::Object(map) = v else {
        return Err(err(
            400,
            "data must be a JSON object of parameter names to values",
        ));
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            other => Err(err(
                400,
                format!("data: the value of {k:?} must be a string (parameters are stored as text), got {other}"),
            )),
        })
        .collect()
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn json_page<T>(
    page: &Page<T>,
    key: &str,
    items: Vec<Value>,
    extra: Map<String, Value>,
) -> Response {
    let mut obj = extra;
    obj.insert(key.to_string(), Value::Array(items));
    obj.insert("page".into(), json!(page.page));
    obj.insert("pages".into(), json!(page.pages()));
    obj.insert("total".into(), json!(page.total));
    Response::new(200).with_body(JSON, json_bytes(&Value::Object(obj)))
}

fn layout(ctx: &Ctx, title: &str, content: &str) -> String {
    let r = &ctx.root;
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Luigi History Viewer - {title}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <nav><a href=\"{r}static/visualiser/index.html\">Scheduler</a> \
         <a href=\"{r}history\">Recent runs</a> <a href=\"{r}tasklist\">Tasks</a></nav>\n\
         <main>\n<h2>{title}</h2>\n{content}</main>\n</body>\n</html>\n",
        title = escape(title),
    )
}

const STYLE: &str = "body{font-family:sans-serif;margin:0;color:#222}\
nav{background:#333;padding:8px 16px}nav a{color:#fff;margin-right:16px;text-decoration:none}\
main{padding:8px 16px}table{border-collapse:collapse;margin:8px 0}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#eee}table.params td{border:none;padding:0 8px 0 0}\
.DONE{color:#2e7d32}.FAILED{color:#c62828}.RUNNING{color:#1565c0}\
.error{color:#c62828}.pager a,.pager span{margin-right:8px}\n";

fn pager<T>(ctx: &Ctx, page: &Page<T>) -> String {
    let pages = page.pages();
    if pages <= 1 && page.page <= 1 {
        return String::new();
    }
    let mut s = String::from("<p class=\"pager\">");
    if page.page > 1 {
        s.push_str(&format!(
            "<a href=\"{}\">&larr; previous</a>",
            escape(&ctx.page_link((page.page - 1).min(pages)))
        ));
    }
    s.push_str(&format!("<span>page {} of {pages}</span>", page.page));
    if page.page < pages {
        s.push_str(&format!(
            "<a href=\"{}\">next &rarr;</a>",
            escape(&ctx.page_link(page.page + 1))
        ));
    }
    s.push_str("</p>\n");
    s
}

fn opt(s: &Option<String>) -> String {
    escape(s.as_deref().unwrap_or(""))
}

fn task_names(ctx: &Ctx, page: &Page<NameRow>) -> Response {
    if ctx.json {
        let items = page
            .items
            .iter()
            .map(|n| json!({"name": n.name, "records": n.records}))
            .collect();
        return json_page(page, "tasks", items, Map::new());
    }
    let mut c = String::new();
    if page.items.is_empty() {
        c.push_str("<p>No task has been recorded yet.</p>\n");
    } else {
        c.push_str("<table>\n<thead><tr><th>Task</th><th>Records</th></tr></thead>\n<tbody>\n");
        for n in &page.items {
            c.push_str(&format!(
                "<tr><td><a href=\"{}tasklist/{}\">{}</a></td><td>{}</td></tr>\n",
                ctx.root,
                escape(&enc(&n.name)),
                escape(&n.name),
                n.records
            ));
        }
        c.push_str("</tbody>\n</table>\n");
    }
    c.push_str(&pager(ctx, page));
    Response::new(200).with_body(HTML, layout(ctx, "Task History", &c))
}

fn fmt_secs(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.3} s")
    } else if s < 3600.0 {
        format!("{}m {:.0}s", (s / 60.0).floor(), s % 60.0)
    } else {
        format!(
            "{}h {}m",
            (s / 3600.0).floor(),
            ((s % 3600.0) / 60.0).floor()
        )
    }
}

/// A duration tick: precise enough that the ticks of short runs do not all read alike.
fn fmt_tick(v: f64, max: f64) -> String {
    if max < 1.0 {
        format!("{:.1} ms", v * 1000.0)
    } else if max < 60.0 {
        format!("{v:.1} s")
    } else {
        fmt_secs(v)
    }
}

/// Bars of run durations, oldest left; coloured by how the run ended. The y axis has
/// duration ticks, the x axis the start dates of a few runs, and a legend names the colours.
fn chart(runs: &[RunRow]) -> String {
    let done: Vec<&RunRow> = runs
        .iter()
        .rev()
        .filter(|r| r.duration_secs.is_some_and(|d| d.is_finite() && d >= 0.0))
        .collect();
    if done.is_empty() {
        return "<p>No finished runs on this page to chart.</p>\n".to_string();
    }
    let max = done
        .iter()
        .filter_map(|r| r.duration_secs)
        .fold(0.0f64, f64::max)
        .max(1e-6);
    let (w, h, left, top, bottom) = (860.0f64, 290.0f64, 90.0f64, 34.0f64, 66.0f64);
    let plot_w = w - left - 16.0;
    let plot_h = h - top - bottom;
    let y0 = top + plot_h;
    let slot = plot_w / done.len() as f64;
    let bar = (slot * 0.8).max(1.0);
    let mut s = format!(
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Run durations by start time\" \
         font-size=\"11\" font-family=\"sans-serif\">\n\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{y0}\" stroke=\"#888\"/>\n\
         <line x1=\"{left}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"#888\"/>\n\
         <text class=\"axis-title\" transform=\"translate(14 {my}) rotate(-90)\" \
         text-anchor=\"middle\">Duration</text>\n\
         <text class=\"axis-title\" x=\"{mx}\" y=\"{h2}\" text-anchor=\"middle\">Run started \
         (oldest left)</text>\n",
        x1 = w - 16.0,
        my = top + plot_h / 2.0,
        mx = left + plot_w / 2.0,
        h2 = h - 6.0,
    );
    // Duration ticks at 0, 1/4 ... max, with a faint grid line each.
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = y0 - plot_h * f64::from(i) / 4.0;
        let label = if i == 0 {
            "0".to_string()
        } else {
            fmt_tick(v, max)
        };
        s.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{x1}\" y2=\"{y:.1}\" stroke=\"#e4e4e4\"/>\
             <text class=\"y-tick\" x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\">{}</text>\n",
            escape(&label),
            x1 = w - 16.0,
            tx = left - 6.0,
            ty = y + 4.0,
        ));
    }
    for (i, r) in done.iter().enumerate() {
        let d = r.duration_secs.unwrap_or(0.0);
        let bh = (d / max * plot_h).max(1.0);
        let x = left + i as f64 * slot + (slot - bar) / 2.0;
        let y = top + plot_h - bh;
        let color = match r.outcome.as_deref() {
            Some("DONE") => "#43a047",
            Some("FAILED") => "#e53935",
            _ => "#9e9e9e",
        };
        s.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{bh:.1}\" fill=\"{color}\">\
             <title>{}</title></rect>\n",
            escape(&format!(
                "{}: {} after {}",
                display(&r.started),
                r.outcome.as_deref().unwrap_or("?"),
                fmt_secs(d)
            ))
        ));
    }
    // Start dates under at most 5 bars, spread from the oldest to the newest; date and
    // time on two lines so neighbours do not overlap.
    let n = done.len();
    let ticks = n.min(5);
    let mut last = usize::MAX;
    for k in 0..ticks {
        let i = if ticks == 1 {
            0
        } else {
            k * (n - 1) / (ticks - 1)
        };
        if i == last {
            continue;
        }
        last = i;
        let x = left + i as f64 * slot + slot / 2.0;
        let started = display(&done[i].started);
        let (day, time) = started.split_once(' ').unwrap_or((started, ""));
        let time = time.get(..8).unwrap_or(time);
        s.push_str(&format!(
            "<line x1=\"{x:.1}\" y1=\"{y0}\" x2=\"{x:.1}\" y2=\"{y4}\" stroke=\"#888\"/>\
             <text class=\"x-tick\" x=\"{x:.1}\" y=\"{ty}\" text-anchor=\"middle\">\
             <tspan x=\"{x:.1}\">{}</tspan><tspan x=\"{x:.1}\" dy=\"13\">{}</tspan></text>\n",
            escape(day),
            escape(time),
            y4 = y0 + 4.0,
            ty = y0 + 16.0,
        ));
    }
    // Legend, top right.
    let mut lx = w - 16.0 - 3.0 * 80.0;
    s.push_str("<g class=\"legend\">");
    for (color, name) in [
        ("#43a047", "Done"),
        ("#e53935", "Failed"),
        ("#9e9e9e", "Other"),
    ] {
        s.push_str(&format!(
            "<rect x=\"{lx}\" y=\"8\" width=\"12\" height=\"12\" fill=\"{color}\"/>\
             <text x=\"{tx}\" y=\"18\">{name}</text>",
            tx = lx + 17.0,
        ));
        lx += 80.0;
    }
    s.push_str("</g>\n</svg>\n");
    s
}

fn runs(ctx: &Ctx, name: &str, page: &Page<RunRow>) -> Response {
    if ctx.json {
        let items = page
            .items
            .iter()
            .map(|r| {
                json!({
                    "record_id": r.record_id,
                    "task_id": r.task_id,
                    "started": r.started,
                    "ended": r.ended,
                    "status": r.outcome,
                    "duration_secs": r.duration_secs,
                })
            })
            .collect();
        let mut extra = Map::new();
        extra.insert("name".into(), json!(name));
        return json_page(page, "runs", items, extra);
    }
    let mut c = chart(&page.items);
    if page.items.is_empty() {
        c.push_str("<p>No recorded runs.</p>\n");
    } else {
        c.push_str(
            "<table>\n<thead><tr><th>Started</th><th>Ended</th><th>Status</th><th>Duration</th>\
             <th>Record</th></tr></thead>\n<tbody>\n",
        );
        for r in &page.items {
            let status = r.outcome.as_deref().unwrap_or("");
            c.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td>\
                 <td><a href=\"{}history/by_id/{}\">{}</a></td></tr>\n",
                escape(display(&r.started)),
                escape(r.ended.as_deref().map(display).unwrap_or("")),
                escape(status),
                escape(status),
                r.duration_secs.map(fmt_secs).unwrap_or_default(),
                ctx.root,
                r.record_id,
                r.record_id,
            ));
        }
        c.push_str("</tbody>\n</table>\n");
    }
    c.push_str(&pager(ctx, page));
    c.push_str(&format!(
        "<p><a href=\"{}history/by_name/{}\">All records of this task</a></p>\n",
        ctx.root,
        escape(&enc(name))
    ));
    Response::new(200).with_body(HTML, layout(ctx, &format!("{name} History"), &c))
}

fn params_json(params: &[(String, Option<String>)]) -> Value {
    Value::Object(params.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

fn record_json(r: &RecordRow) -> Value {
    json!({
        "id": r.id,
        "task_id": r.task_id,
        "name": r.name,
        "host": r.host,
        "last_action": r.last_ts,
        "status": r.last_status,
        "parameters": params_json(&r.params),
    })
}

fn records(ctx: &Ctx, title: &str, page: &Page<RecordRow>) -> Response {
    if ctx.json {
        let items = page.items.iter().map(record_json).collect();
        return json_page(page, "records", items, Map::new());
    }
    let mut c = String::from(
        "<table>\n<thead><tr><th>Name</th><th>Host</th><th>Last Action</th><th>Status</th>\
         <th>Parameters</th></tr></thead>\n<tbody>\n",
    );
    for r in &page.items {
        let mut ps = String::new();
        if !r.params.is_empty() {
            ps.push_str("<table class=\"params\">");
            for (k, v) in &r.params {
                ps.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td></tr>",
                    escape(k),
                    opt(v)
                ));
            }
            ps.push_str("</table>");
        }
        let status = opt(&r.last_status);
        c.push_str(&format!(
            "<tr><td><a href=\"{}history/by_id/{}\">{}</a></td><td>{}</td><td>{}</td>\
             <td class=\"{status}\">{status}</td><td>{ps}</td></tr>\n",
            ctx.root,
            r.id,
            opt(&r.name),
            opt(&r.host),
            escape(r.last_ts.as_deref().map(display).unwrap_or("")),
        ));
    }
    c.push_str("</tbody>\n</table>\n");
    if page.items.is_empty() {
        c.push_str("<p>No records.</p>\n");
    }
    c.push_str(&pager(ctx, page));
    Response::new(200).with_body(HTML, layout(ctx, title, &c))
}

fn detail(conn: &mut dyn Conn, ctx: &Ctx, id: i64, missing: &str) -> Result<Response, PageError> {
    let (rec, events) = query::record(conn, id, ctx.page)
        .map_err(db)?
        .ok_or_else(|| err(404, missing.to_string()))?;
    if ctx.json {
        let mut extra = Map::new();
        for (k, v) in [
            ("id", json!(rec.id)),
            ("task_id", json!(rec.task_id)),
            ("name", json!(rec.name)),
            ("host", json!(rec.host)),
            ("parameters", params_json(&rec.params)),
        ] {
            extra.insert(k.into(), v);
        }
        let items = events
            .items
            .iter()
            .map(|e| json!({"id": e.id, "status": e.status, "ts": e.ts}))
            .collect();
        return Ok(json_page(&events, "events", items, extra));
    }
    let name = rec.name.clone().unwrap_or_default();
    let mut c = format!(
        "<h3>Info</h3>\n<table>\n<tbody>\n<tr><td>Task Id</td><td>{}</td></tr>\n\
         <tr><td>Luigi Task Id</td><td>{}</td></tr>\n<tr><td>Task Name</td><td>{}</td></tr>\n\
         <tr><td>Host</td><td>{}</td></tr>\n<tr><td>More</td><td><a href=\"{}history/by_name/{}\">\
         All &quot;{}&quot; runs</a></td></tr>\n</tbody>\n</table>\n",
        rec.id,
        opt(&rec.task_id),
        escape(&name),
        opt(&rec.host),
        ctx.root,
        escape(&enc(&name)),
        escape(&name),
    );
    c.push_str("<h3>Parameters</h3>\n<table>\n<thead><tr><th>Name</th><th>Value</th></tr></thead>\n<tbody>\n");
    for (k, v) in &rec.params {
        c.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>\n",
            escape(k),
            opt(v)
        ));
    }
    c.push_str("</tbody>\n</table>\n<h3>Actions</h3>\n<table>\n<thead><tr><th>Status</th><th>Action Time</th></tr></thead>\n<tbody>\n");
    for e in &events.items {
        let status = opt(&e.status);
        c.push_str(&format!(
            "<tr><td class=\"{status}\">{status}</td><td>{}</td></tr>\n",
            escape(display(&e.ts))
        ));
    }
    c.push_str("</tbody>\n</table>\n");
    c.push_str(&pager(ctx, &events));
    Ok(Response::new(200).with_body(HTML, layout(ctx, &format!("Task {}", rec.id), &c)))
}

#[cfg(test)]
mod chart_tests {
    use super::*;

    fn run(i: i64, started: &str, outcome: &str, secs: f64) -> RunRow {
        RunRow {
            record_id: i,
            task_id: None,
            started: started.into(),
            ended: None,
            outcome: Some(outcome.into()),
            duration_secs: Some(secs),
        }
    }

    #[test]
    fn chart_has_axis_labels_dates_and_a_legend() {
        // Newest first, as the runs query returns them.
        let runs = [
            run(3, "2026-11-24 10:00:00.000000", "DONE", 90.0),
            run(2, "2026-11-23 09:30:00.000000", "FAILED", 2.5),
            run(1, "2026-11-22 08:00:00.000000", "DONE", 30.0),
        ];
        let s = chart(&runs);
        for want in [
            ">Duration</text>",
            "Run started",
            ">1m 30s</text>", // the top tick is the longest run
            ">0</text>",
            "<tspan x=\"215.7\">2026-11-22</tspan><tspan x=\"215.7\" dy=\"13\">08:00:00</tspan>",
            ">2026-11-24</tspan>",
            ">Done</text>",
            ">Failed</text>",
            ">Other</text>",
        ] {
            assert!(s.contains(want), "missing {want:?} in {s}");
        }
        // Oldest left: the first date tick is the oldest run.
        assert!(s.find("2026-11-22").unwrap_or(usize::MAX) < s.find("2026-11-24").unwrap_or(0));
        assert_eq!(s.matches("class=\"x-tick\"").count(), 3);
        assert_eq!(s.matches("class=\"y-tick\"").count(), 5);
    }

    #[test]
    fn chart_of_one_run_or_none() {
        let s = chart(&[run(1, "2026-11-22 08:00:00.000000", "DONE", 5.0)]);
        assert_eq!(s.matches("class=\"x-tick\"").count(), 1);
        assert!(
            s.contains(">2.5 s</text>") && s.contains(">5.0 s</text>"),
            "{s}"
        );
        let s = chart(&[run(1, "2026-11-22 08:00:00.000000", "DONE", 0.002)]);
        assert!(
            s.contains(">0.5 ms</text>") && s.contains(">2.0 ms</text>"),
            "{s}"
        );
        assert!(chart(&[]).contains("No finished runs"));
    }
}

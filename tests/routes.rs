//! The route table through `App::handle`, with requests built in memory (no sockets):
//! every route and method, data decoding, CORS, ETag/304, gzip, static files.

use luigid_rs::app::{App, Peer};
use luigid_rs::config::Ini;
use luigid_rs::http::{Request, Response};
use sha1::Digest;
use std::io::Read;

const NOW: f64 = 1_795_509_999.5;
const JSON: &str = "application/json; charset=UTF-8";
const HTML: &str = "text/html; charset=UTF-8";

fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
    Request::in_memory(method, target, headers, body)
}

fn send(
    app: &mut App,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    app.handle(
        &request(method, target, headers, body),
        &Peer::default(),
        NOW,
    )
}

fn get(app: &mut App, target: &str) -> Response {
    send(app, "GET", target, &[], b"")
}

fn app() -> App {
    App::new(Ini::default())
}

fn body(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

const FORM: [(&str, &str); 1] = [("Content-Type", "application/x-www-form-urlencoded")];

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn sha1_etag(b: &[u8]) -> String {
    let d = sha1::Sha1::digest(b);
    format!(
        "\"{}\"",
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

// ---------------------------------------------------------------- root and misc routes

#[test]
fn root_redirects_relative_and_head_is_204() {
    let mut a = app();
    let r = get(&mut a, "/?x=1");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("Location"), Some("static/visualiser/index.html"));
    assert_eq!(r.header("Content-Type"), Some(HTML));
    assert!(r.body.is_empty());
    assert_eq!(r.header("Vary"), Some("Accept-Encoding"));
    assert!(r.header("Etag").is_none());

    let r = send(&mut a, "HEAD", "/", &[], b"");
    assert_eq!(r.status, 204);
    assert!(r.header("Content-Type").is_none());
    assert!(r.body.is_empty());

    for m in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO"] {
        let r = send(&mut a, m, "/", &[], b"");
        assert_eq!(r.status, 405, "{m} /");
        assert_eq!(r.header("Allow"), Some("GET, HEAD"));
        assert_eq!(
            body(&r),
            "<html><title>405: Method Not Allowed</title><body>405: Method Not Allowed</body></html>"
        );
    }
}

#[test]
fn unknown_routes_are_404_html() {
    let mut a = app();
    for p in [
        "/api",
        "/nope",
        "/history/",
        "/metrics/",
        "/static",
        "/favicon.ico",
        "/robots.txt",
        "//api/ping",
        "/API/ping",
    ] {
        let r = get(&mut a, p);
        assert_eq!(r.status, 404, "{p}");
        assert_eq!(r.header("Content-Type"), Some(HTML), "{p}");
        assert!(r.header("Etag").is_none());
    }
    assert_eq!(
        body(&get(&mut a, "/nope")),
        "<html><title>404: Not Found</title><body>404: Not Found</body></html>"
    );
}

#[test]
fn metrics_route() {
    let mut a = app();
    let r = get(&mut a, "/metrics");
    // Always the Prometheus exposition (luigid: empty unless metrics_collector = prometheus).
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Type"),
        Some(luigid_rs::metrics::CONTENT_TYPE)
    );
    let text = String::from_utf8_lossy(&r.body);
    assert!(
        text.contains("# TYPE luigid_workers_active gauge"),
        "{text}"
    );
    for m in ["POST", "HEAD", "OPTIONS", "PUT"] {
        let r = send(&mut a, m, "/metrics", &[], b"");
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.header("Allow"), Some("GET"));
    }
}

#[test]
fn history_routes_exist_and_say_not_found_while_history_is_off() {
    let mut a = app();
    for p in [
        "/tasklist",
        "/tasklist/",
        "/tasklist/a/b",
        "/history",
        "/history/by_name/Foo",
        "/history/by_id/1",
        "/history/by_task_id/Foo_x_123",
        "/history/by_params/Foo?data=%7B%7D",
    ] {
        let r = get(&mut a, p);
        assert_eq!(r.status, 404, "{p}");
        assert_eq!(r.header("Content-Type"), Some(HTML));
        assert!(String::from_utf8_lossy(&r.body).contains("task history is disabled"));
        let r = send(&mut a, "POST", p, &[], b"");
        assert_eq!(r.status, 405, "POST {p}");
        assert_eq!(r.header("Allow"), Some("GET"));
    }
    assert_eq!(get(&mut a, "/history/by_name/%ff").status, 400);
    assert_eq!(get(&mut a, "/history/by_nam").status, 404);
}

// ---------------------------------------------------------------- /api/{method}

#[test]
fn api_get_reply_shape_and_etag() {
    let mut a = app();
    let r = get(&mut a, "/api/ping?data=%7B%22worker%22%3A%20%22w%22%7D");
    assert_eq!(r.status, 200);
    assert_eq!(body(&r), r#"{"response": {"rpc_messages": []}}"#);
    assert_eq!(r.header("Content-Type"), Some(JSON));
    assert_eq!(r.header("Etag"), Some(sha1_etag(&r.body).as_str()));
    assert_eq!(r.header("Vary"), Some("Accept-Encoding"));
    assert!(r.header("Access-Control-Allow-Origin").is_none());
}

#[test]
fn api_post_has_no_etag() {
    let mut a = app();
    let r = send(&mut a, "POST", "/api/is_paused", &FORM, b"data=%7B%7D");
    assert_eq!(r.status, 200);
    assert!(r.header("Etag").is_none());
    let etag = sha1_etag(&r.body);
    let r = send(
        &mut a,
        "POST",
        "/api/is_paused",
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!(r.status, 200, "POST never 304s");
}

#[test]
fn api_if_none_match_gives_304() {
    let mut a = app();
    let etag = get(&mut a, "/api/is_paused")
        .header("Etag")
        .unwrap()
        .to_string();
    for inm in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"nope\", {etag}"),
        "*".to_string(),
    ] {
        let r = send(
            &mut a,
            "GET",
            "/api/is_paused",
            &[("If-None-Match", &inm)],
            b"",
        );
        assert_eq!(r.status, 304, "{inm}");
        assert!(r.body.is_empty());
        assert!(r.header("Content-Type").is_none());
        assert_eq!(r.header("Etag"), Some(etag.as_str()));
        assert_eq!(r.header("Vary"), Some("Accept-Encoding"));
    }
    for inm in ["\"nope\"", "\"nope\", *", "", "junk"] {
        let r = send(
            &mut a,
            "GET",
            "/api/is_paused",
            &[("If-None-Match", inm)],
            b"",
        );
        assert_eq!(r.status, 200, "{inm:?}");
    }
}

#[test]
fn api_methods_and_paths() {
    let mut a = app();
    for m in ["HEAD", "PUT", "DELETE", "PATCH", "TRACE"] {
        let r = send(&mut a, m, "/api/is_paused", &[], b"");
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.header("Allow"), Some("GET, POST, OPTIONS"));
    }
    assert_eq!(get(&mut a, "/api/").status, 404);
    assert_eq!(get(&mut a, "/api/is_paused/x").status, 404);
    assert_eq!(get(&mut a, "/api/is_p%61used").status, 200);
    assert_eq!(get(&mut a, "/api/is_paused+").status, 404, "+ stays a +");
    assert_eq!(get(&mut a, "/api/%ff").status, 400);
    assert_eq!(send(&mut a, "POST", "/api/is_paused", &[], b"").status, 200);
}

#[test]
fn api_unknown_method_is_404_json_before_reading_data() {
    let mut a = app();
    for m in ["nope", "load", "dump", "resources", "_state", "Ping"] {
        let r = get(&mut a, &format!("/api/{m}?data=not-json"));
        assert_eq!(r.status, 404, "{m}");
        assert_eq!(r.header("Content-Type"), Some(JSON));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(v["error"].as_str().unwrap().contains(m), "{v}");
    }
}

fn ping_with(a: &mut App, query: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    send(
        a,
        if body.is_empty() { "GET" } else { "POST" },
        &format!("/api/worker_list{query}"),
        headers,
        body,
    )
}

#[test]
fn data_decoding() {
    let mut a = app();
    let ok = |r: Response| r.status;
    // Absent, empty and blank data mean no arguments.
    assert_eq!(ok(ping_with(&mut a, "", &[], b"")), 200);
    assert_eq!(ok(ping_with(&mut a, "?data=", &[], b"")), 200);
    assert_eq!(ok(ping_with(&mut a, "?data", &[], b"")), 200);
    assert_eq!(ok(ping_with(&mut a, "?data=+%20%09", &[], b"")), 200);
    // Bad JSON, non-objects: 400 with a JSON error.
    for bad in [
        "{",
        "[1]",
        "1",
        "null",
        "\"s\"",
        "{'a': 1}",
        "{\"a\": 1,}",
        "{}{}",
    ] {
        let r = ping_with(&mut a, &format!("?data={}", enc(bad)), &[], b"");
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.header("Content-Type"), Some(JSON));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(v["error"].is_string());
        assert!(r.header("Etag").is_none());
    }
    let r = ping_with(&mut a, "?data=[1]", &[], b"");
    assert!(body(&r).contains("object"), "{}", body(&r));
    // Python literals.
    let inf = enc(r#"{"max_batch_size": Infinity, "p": -Infinity, "q": NaN}"#);
    assert_eq!(
        ok(ping_with(&mut a, &format!("?data={inf}"), &[], b"")),
        200
    );
    // Control characters outside \t\n\v\f\r become spaces (then stripped or harmless)...
    let ctl = enc("\u{1}{\"a\":\u{2}\"x\u{3}y\"}\u{1f}");
    assert_eq!(
        ok(ping_with(&mut a, &format!("?data={ctl}"), &[], b"")),
        200
    );
    // ...but a raw tab inside a JSON string is still invalid, as in Python.
    let tab = enc("{\"a\": \"x\ty\"}");
    assert_eq!(
        ok(ping_with(&mut a, &format!("?data={tab}"), &[], b"")),
        400
    );
    // Invalid UTF-8 in data.
    assert_eq!(ok(ping_with(&mut a, "?data=%ff", &[], b"")), 400);
    // Form bodies: '+' is a space.
    assert_eq!(ok(ping_with(&mut a, "", &FORM, b"data={+}")), 200);
}

#[test]
fn data_last_value_wins_query_then_body() {
    let mut a = app();
    let f = FORM;
    // Body value beats query value.
    assert_eq!(
        ping_with(&mut a, "?data=bad", &f, b"data=%7B%7D").status,
        200
    );
    assert_eq!(
        ping_with(&mut a, "?data=%7B%7D", &f, b"data=bad").status,
        400
    );
    // Within the query, the last one wins.
    assert_eq!(
        get(&mut a, "/api/is_paused?data=bad&data=%7B%7D").status,
        200
    );
    assert_eq!(
        get(&mut a, "/api/is_paused?data=%7B%7D&data=bad").status,
        400
    );
    // Multipart form fields count; file parts do not.
    let mp = [("Content-Type", "multipart/form-data; boundary=B")];
    let body = b"--B\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\nbad\r\n--B--\r\n";
    assert_eq!(ping_with(&mut a, "?data=%7B%7D", &mp, body).status, 400);
    let body = b"--B\r\nContent-Disposition: form-data; name=\"data\"; filename=\"x\"\r\n\r\nbad\r\n--B--\r\n";
    assert_eq!(ping_with(&mut a, "?data=%7B%7D", &mp, body).status, 200);
}

#[test]
fn json_request_body_is_not_parsed() {
    let mut a = app();
    let j = [("Content-Type", "application/json")];
    assert_eq!(ping_with(&mut a, "", &j, b"this is not json").status, 200);
    assert_eq!(ping_with(&mut a, "", &j, b"data=bad").status, 200);
    // The query still counts.
    assert_eq!(ping_with(&mut a, "?data=bad", &j, b"{}").status, 400);
}

// ---------------------------------------------------------------- CORS

fn cors_app(pairs: &[(&str, &str)]) -> App {
    let mut ini = Ini::default();
    for (k, v) in pairs {
        ini.set("cors", k, v);
    }
    App::from_ini(ini).unwrap()
}

fn cors_headers(r: &Response) -> Vec<(String, String)> {
    r.headers
        .iter()
        .filter(|(n, _)| n.starts_with("Access-Control-") || n == "Vary")
        .cloned()
        .collect()
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn cors_preflight_matrix() {
    let full = [
        ("Access-Control-Max-Age", "86400"),
        ("Access-Control-Allow-Methods", "GET, OPTIONS"),
        (
            "Access-Control-Allow-Headers",
            "Accept, Content-Type, Origin",
        ),
    ];
    let with = |origin: &str| {
        let mut v = vec![("Access-Control-Allow-Origin", origin)];
        v.extend_from_slice(&full);
        v.push(("Vary", "Accept-Encoding"));
        h(&v)
    };
    let none = h(&[("Vary", "Accept-Encoding")]);
    let origins = r#"["https://ok.example", "*", "null"]"#;
    // (config, Origin header, expected CORS headers)
    type Case<'a> = (
        Vec<(&'a str, &'a str)>,
        Option<&'a str>,
        Vec<(String, String)>,
    );
    let cases: Vec<Case> = vec![
        (vec![], Some("https://ok.example"), none.clone()),
        (vec![("enabled", "true")], None, none.clone()),
        (vec![("enabled", "true")], Some(""), none.clone()),
        (vec![("enabled", "true")], Some("https://x"), none.clone()),
        (
            vec![("enabled", "true"), ("allowed_origins", origins)],
            Some("https://ok.example"),
            with("https://ok.example"),
        ),
        (
            vec![("enabled", "true"), ("allowed_origins", origins)],
            Some("https://ok.example/"),
            none.clone(),
        ),
        (
            vec![("enabled", "true"), ("allowed_origins", origins)],
            Some("null"),
            none.clone(),
        ),
        (
            vec![("enabled", "true"), ("allowed_origins", origins)],
            Some("*"),
            none.clone(),
        ),
        (
            vec![("enabled", "true"), ("allow_null_origin", "true")],
            Some("null"),
            with("null"),
        ),
        (
            vec![("enabled", "true"), ("allow_any_origin", "true")],
            Some("null"),
            none.clone(),
        ),
        (
            vec![("enabled", "true"), ("allow_any_origin", "true")],
            Some("https://x"),
            with("*"),
        ),
        (
            vec![("enabled", "false"), ("allow_any_origin", "true")],
            Some("https://x"),
            none.clone(),
        ),
    ];
    for (cfg, origin, want) in cases {
        let mut a = cors_app(&cfg);
        let hdrs: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        for path in ["/api/is_paused", "/api/no_such_method", "/api/"] {
            let r = send(&mut a, "OPTIONS", path, &hdrs, b"");
            assert_eq!(r.status, 204);
            assert!(r.body.is_empty());
            assert_eq!(cors_headers(&r), want, "{cfg:?} {origin:?} {path}");
        }
    }
    // Credentials and exposed headers, custom values.
    let mut a = cors_app(&[
        ("enabled", "true"),
        ("allow_any_origin", "true"),
        ("allow_credentials", "true"),
        ("exposed_headers", "X-A"),
        ("max_age", "5"),
        ("allowed_methods", "GET"),
        ("allowed_headers", "X-B"),
    ]);
    let r = send(
        &mut a,
        "OPTIONS",
        "/api/is_paused",
        &[("Origin", "https://x")],
        b"",
    );
    assert_eq!(
        cors_headers(&r),
        h(&[
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Max-Age", "5"),
            ("Access-Control-Allow-Methods", "GET"),
            ("Access-Control-Allow-Headers", "X-B"),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Expose-Headers", "X-A"),
            ("Vary", "Accept-Encoding"),
        ])
    );
}

#[test]
fn cors_actual_requests() {
    let cfg = [
        ("enabled", "true"),
        ("allowed_origins", r#"["https://ok.example"]"#),
        ("allow_null_origin", "true"),
        ("allow_credentials", "true"),
        ("exposed_headers", "X-A"),
    ];
    let mut a = cors_app(&cfg);
    let r = send(
        &mut a,
        "GET",
        "/api/is_paused",
        &[("Origin", "https://ok.example")],
        b"",
    );
    assert_eq!(
        cors_headers(&r),
        h(&[
            ("Access-Control-Allow-Origin", "https://ok.example"),
            ("Vary", "Origin, Accept-Encoding"),
        ])
    );
    let r = send(&mut a, "POST", "/api/is_paused", &[("Origin", "null")], b"");
    assert_eq!(
        cors_headers(&r),
        h(&[
            ("Access-Control-Allow-Origin", "null"),
            ("Vary", "Accept-Encoding")
        ])
    );
    let r = send(
        &mut a,
        "GET",
        "/api/is_paused",
        &[("Origin", "https://evil")],
        b"",
    );
    assert_eq!(cors_headers(&r), h(&[("Vary", "Accept-Encoding")]));
    // Errors and non-API routes never carry CORS headers.
    for (m, p) in [
        ("GET", "/api/nope"),
        ("GET", "/api/is_paused?data=x"),
        ("PUT", "/api/is_paused"),
        ("GET", "/metrics"),
        ("GET", "/"),
    ] {
        let r = send(&mut a, m, p, &[("Origin", "https://ok.example")], b"");
        assert!(r.header("Access-Control-Allow-Origin").is_none(), "{m} {p}");
    }
    let mut a = cors_app(&[("enabled", "true"), ("allow_any_origin", "true")]);
    let r = send(
        &mut a,
        "GET",
        "/api/is_paused",
        &[("Origin", "https://x")],
        b"",
    );
    assert_eq!(
        cors_headers(&r),
        h(&[
            ("Access-Control-Allow-Origin", "*"),
            ("Vary", "Accept-Encoding")
        ])
    );
}

#[test]
fn bad_settings_are_startup_errors() {
    for (s, k, v) in [
        ("cors", "enabled", "maybe"),
        ("cors", "allowed_origins", "https://x"),
        ("cors", "max_age", "soon"),
        ("luigid_rs", "static_dir", "/nonexistent/luigid-rs-static"),
    ] {
        let mut ini = Ini::default();
        ini.set(s, k, v);
        assert!(App::from_ini(ini.clone()).is_err(), "[{s}] {k}={v}");
        // App::new falls back to the defaults instead of failing.
        let mut a = App::new(ini);
        assert_eq!(get(&mut a, "/api/is_paused").status, 200);
    }
}

// ---------------------------------------------------------------- gzip

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn gzip_threshold_on_api_replies() {
    let mut a = app();
    let gz = [("Accept-Encoding", "gzip, deflate")];
    // The 404 JSON body names the method: pick lengths around 1024 bytes.
    let long = "x".repeat(1100);
    let r = send(&mut a, "GET", &format!("/api/{long}"), &gz, b"");
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    let plain = gunzip(&r.body);
    assert!(plain.len() >= 1024);
    assert!(String::from_utf8(plain).unwrap().contains(&long));

    let short = "x".repeat(900);
    let r = send(&mut a, "GET", &format!("/api/{short}"), &gz, b"");
    assert!(r.body.len() < 1024);
    assert!(r.header("Content-Encoding").is_none());

    // No Accept-Encoding: never compressed.
    let r = get(&mut a, &format!("/api/{long}"));
    assert!(r.header("Content-Encoding").is_none());
    assert_eq!(r.header("Vary"), Some("Accept-Encoding"));
}

// ---------------------------------------------------------------- static files

#[test]
fn static_embedded_index() {
    let mut a = app();
    let r = get(&mut a, "/static/visualiser/index.html");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    let etag = r.header("Etag").unwrap().to_string();
    assert_eq!(etag.len(), 130);
    use sha2::Digest as _;
    let want: String = sha2::Sha512::digest(&r.body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(etag, format!("\"{want}\""));
    let lm = r.header("Last-Modified").unwrap().to_string();
    assert!(lm.ends_with(" GMT"));
    assert!(r.header("Cache-Control").is_none());
    assert!(r.body.starts_with(b"<!DOCTYPE html") || r.body.starts_with(b"<"));

    let h = send(&mut a, "HEAD", "/static/visualiser/index.html", &[], b"");
    assert_eq!(h.status, 200);
    assert!(h.head_only);
    assert_eq!(
        h.body.len(),
        r.body.len(),
        "Content-Length of the whole file"
    );

    let r2 = send(
        &mut a,
        "GET",
        "/static/visualiser/index.html",
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!(r2.status, 304);
    assert!(r2.header("Content-Type").is_none());
    assert_eq!(r2.header("Etag"), Some(etag.as_str()));
    assert_eq!(r2.header("Last-Modified"), Some(lm.as_str()));
    // If-None-Match decides alone when present.
    let r3 = send(
        &mut a,
        "GET",
        "/static/visualiser/index.html",
        &[("If-None-Match", "\"other\""), ("If-Modified-Since", &lm)],
        b"",
    );
    assert_eq!(r3.status, 200);
    let r4 = send(
        &mut a,
        "GET",
        "/static/visualiser/index.html",
        &[("If-Modified-Since", &lm)],
        b"",
    );
    assert_eq!(r4.status, 304);
    let r5 = send(
        &mut a,
        "GET",
        "/static/visualiser/index.html",
        &[("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")],
        b"",
    );
    assert_eq!(r5.status, 200);

    let v = get(&mut a, "/static/visualiser/index.html?v=abc");
    assert_eq!(v.header("Cache-Control"), Some("max-age=315360000"));
    assert_eq!(v.header("Expires"), Some("Fri, 21 Nov 2036 08:46:39 GMT"));

    for m in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let r = send(&mut a, m, "/static/visualiser/index.html", &[], b"");
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.header("Allow"), Some("GET, HEAD"));
    }
    assert_eq!(get(&mut a, "/static/visualiser/missing.js").status, 404);
    assert_eq!(get(&mut a, "/static/visualiser").status, 403, "directory");
    assert_eq!(get(&mut a, "/static/visualiser/").status, 403, "directory");
    assert_eq!(get(&mut a, "/static/").status, 403, "empty path");
}

fn static_dir_app(dir: &std::path::Path) -> App {
    let mut ini = Ini::default();
    ini.set("luigid_rs", "static_dir", dir.to_str().unwrap());
    App::from_ini(ini).unwrap()
}

fn fixture() -> (tempfile::TempDir, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let p = root.path();
    std::fs::create_dir_all(p.join("js")).unwrap();
    std::fs::create_dir_all(p.join("sub/deeper")).unwrap();
    std::fs::write(p.join("js/app.js"), "var x = 1;\n".repeat(300)).unwrap();
    std::fs::write(p.join("digits.txt"), "0123456789").unwrap();
    std::fs::write(p.join("img.png"), vec![0u8; 4000]).unwrap();
    std::fs::write(p.join("weird.xyz"), "?").unwrap();
    std::fs::write(p.join("favicon.ico"), "ico").unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), p.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), p.join("leakdir")).unwrap();
    std::os::unix::fs::symlink(p.join("digits.txt"), p.join("alias.txt")).unwrap();
    (root, outside)
}

#[test]
fn static_dir_serving_and_types() {
    let (root, _outside) = fixture();
    let mut a = static_dir_app(root.path());
    let r = get(&mut a, "/static/js/app.js");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/javascript"));
    assert_eq!(r.body.len(), 3300);
    assert_eq!(
        get(&mut a, "/static/img.png").header("Content-Type"),
        Some("image/png")
    );
    assert_eq!(
        get(&mut a, "/static/weird.xyz").header("Content-Type"),
        Some("application/octet-stream")
    );
    assert_eq!(
        get(&mut a, "/static/alias.txt").status,
        200,
        "symlink inside the root"
    );
    assert_eq!(body(&get(&mut a, "/favicon.ico")), "ico");
    assert_eq!(get(&mut a, "/robots.txt").status, 404);
    assert_eq!(get(&mut a, "/static/sub").status, 403);
    assert_eq!(get(&mut a, "/static/sub/deeper/").status, 403);
    assert_eq!(get(&mut a, "/static/none.js").status, 404);
    // Percent-encoded names are decoded.
    assert_eq!(get(&mut a, "/static/js/%61pp.js").status, 200);

    // Gzip: text types when accepted, never images.
    let gz = [("Accept-Encoding", "gzip")];
    let r = send(&mut a, "GET", "/static/js/app.js", &gz, b"");
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    assert_eq!(gunzip(&r.body).len(), 3300);
    let r = send(&mut a, "GET", "/static/img.png", &gz, b"");
    assert!(r.header("Content-Encoding").is_none());
    let r = send(&mut a, "HEAD", "/static/js/app.js", &gz, b"");
    assert!(r.header("Content-Encoding").is_none());
    assert_eq!(r.body.len(), 3300);
}

#[test]
fn static_hostile_paths() {
    let (root, _outside) = fixture();
    let mut dir_app = static_dir_app(root.path());
    let mut emb_app = app();
    let hostile = [
        "/static/..",
        "/static/../Cargo.toml",
        "/static/../../etc/passwd",
        "/static/js/../../etc/passwd",
        "/static/js/../digits.txt",
        "/static/%2e%2e/Cargo.toml",
        "/static/%2E%2E/%2E%2E/etc/passwd",
        "/static/.%2e/x",
        "/static/js%2fapp.js",
        "/static/js%2Fapp.js",
        "/static/%2fetc/passwd",
        "/static//etc/passwd",
        "/static/js\\app.js",
        "/static/js%5capp.js",
        "/static/..\\..\\etc\\passwd",
        "/static/digits.txt%00.png",
        "/static/a\0b",
        "/static/leak.txt",
        "/static/leakdir/secret.txt",
        "/static/.",
        "/static/./",
    ];
    for p in hostile {
        let r = get(&mut dir_app, p);
        assert_eq!(r.status, 403, "dir root: {p}");
        assert!(!body(&r).contains("secret"));
        let r = get(&mut emb_app, p);
        assert!(
            r.status == 403 || r.status == 404,
            "embedded: {p} -> {}",
            r.status
        );
    }
    assert_eq!(get(&mut dir_app, "/static/%ff.txt").status, 400);
}

fn range(a: &mut App, value: &str) -> Response {
    send(a, "GET", "/static/digits.txt", &[("Range", value)], b"")
}

#[test]
fn static_ranges() {
    let (root, _outside) = fixture();
    let mut a = static_dir_app(root.path());
    let cases: &[(&str, u16, &str, Option<&str>)] = &[
        ("bytes=0-3", 206, "0123", Some("bytes 0-3/10")),
        ("bytes=2-2", 206, "2", Some("bytes 2-2/10")),
        ("bytes=5-", 206, "56789", Some("bytes 5-9/10")),
        ("bytes=-3", 206, "789", Some("bytes 7-9/10")),
        ("bytes=8-100", 206, "89", Some("bytes 8-9/10")),
        ("bytes=0-", 200, "0123456789", None),
        ("bytes=0-9", 200, "0123456789", None),
        ("bytes=-20", 200, "0123456789", None),
        ("bytes=0-1,4-5", 200, "0123456789", None),
        ("bytes=x-y", 200, "0123456789", None),
        ("items=0-1", 200, "0123456789", None),
        ("bytes=10-", 416, "", Some("bytes */10")),
        ("bytes=10-20", 416, "", Some("bytes */10")),
        ("bytes=5-2", 416, "", Some("bytes */10")),
        ("bytes=-0", 416, "", Some("bytes */10")),
    ];
    for (value, status, content, crange) in cases {
        let r = range(&mut a, value);
        assert_eq!(r.status, *status, "{value}");
        assert_eq!(body(&r), *content, "{value}");
        assert_eq!(r.header("Content-Range"), *crange, "{value}");
        if *status == 416 {
            assert_eq!(r.header("Content-Type"), Some("text/plain"));
        } else {
            assert_eq!(r.header("Content-Type"), Some("text/plain"));
            assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
        }
    }
    // HEAD with a range: headers and length of the slice, no body on the wire.
    let r = send(
        &mut a,
        "HEAD",
        "/static/digits.txt",
        &[("Range", "bytes=0-3")],
        b"",
    );
    assert_eq!(r.status, 206);
    assert!(r.head_only);
    assert_eq!(r.body.len(), 4);
}

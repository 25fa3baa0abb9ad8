//! Access control through the auth module's public API: roles against methods, the GET and
//! cross-site rules, anonymous settings, trusted UNIX peers, credentials, the failed-login
//! limit with injected time, tokens, `hash-password`, config errors, and that no secret
//! reaches the log.

use luigid_rs::app::Peer;
use luigid_rs::auth::{
    hash_password, hash_password_with, required_role, Auth, Principal, Role, RouteClass, Via,
    CHALLENGE,
};
use luigid_rs::config::Ini;
use luigid_rs::http::{Request, Response};
use sha2::{Digest, Sha256};
use std::sync::{Mutex, OnceLock};

// Every secret this file uses; none may ever appear in a log line.
const VIEWER_PW: &str = "viewer-pw-Q1";
const WORKER_PW: &str = "worker-pw-Q2";
const ADMIN_PW: &str = "admin-pw-Q3";
const WRONG_PW: &str = "wrong-pw-Q4";
const TOKEN: &str = "ci-token-0123456789abcdef";
const WRONG_TOKEN: &str = "not-the-token-Q5";
const SECRETS: &[&str] = &[VIEWER_PW, WORKER_PW, ADMIN_PW, WRONG_PW, TOKEN, WRONG_TOKEN];

// ---- log capture ----------------------------------------------------------------------

struct Capture;
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        if let Ok(mut l) = LINES.lock() {
            l.push(format!("{} {}", record.level(), record.args()));
        }
    }
    fn flush(&self) {}
}

fn capture_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = log::set_boxed_logger(Box::new(Capture));
        log::set_max_level(log::LevelFilter::Trace);
    });
}

fn logged() -> Vec<String> {
    LINES.lock().map(|l| l.clone()).unwrap_or_default()
}

// ---- helpers ---------------------------------------------------------------------------

/// Hashes are slow on purpose: make each once for the whole file.
fn hashes() -> &'static (String, String, String) {
    static H: OnceLock<(String, String, String)> = OnceLock::new();
    H.get_or_init(|| {
        (
            hash_password(VIEWER_PW).unwrap(),
            hash_password(WORKER_PW).unwrap(),
            hash_password(ADMIN_PW).unwrap(),
        )
    })
}

fn token_digest(t: &str) -> String {
    Sha256::digest(t.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ini(text: &str) -> Ini {
    let mut ini = Ini::default();
    ini.read_ini_str(text, "test.cfg").unwrap();
    ini
}

/// A config with the three users and the token, plus `extra` lines.
fn auth_with(extra: &str) -> Auth {
    capture_logs();
    let (v, w, a) = hashes();
    let text = format!(
        "[luigid_rs_auth]\nenabled = true\nuser.vera = viewer {v}\nuser.wim = worker {w}\n\
         user.ada = admin {a}\ntoken.ci = worker sha256:{}\n{extra}",
        token_digest(TOKEN)
    );
    Auth::from_ini(&ini(&text)).unwrap()
}

fn b64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= n {
                out.push(A[(v >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn basic(user: &str, pw: &str) -> (String, String) {
    (
        "authorization".into(),
        format!("Basic {}", b64(format!("{user}:{pw}").as_bytes())),
    )
}

fn req(method: &str, headers: &[(String, String)]) -> Request {
    Request {
        method: method.to_string(),
        path: "/api/x".to_string(),
        minor_version: 1,
        headers: headers
            .iter()
            .map(|(n, v)| (n.clone().into(), v.as_bytes().to_vec()))
            .collect(),
        ..Request::default()
    }
}

fn post(headers: &[(String, String)]) -> Request {
    req("POST", headers)
}

fn tcp(addr: &str) -> Peer {
    Peer {
        addr: addr.to_string(),
        uid: None,
    }
}

fn peer() -> Peer {
    tcp("192.0.2.7:40000")
}

fn api(method: &str) -> RouteClass<'_> {
    RouteClass::Api { method }
}

fn err(r: Result<Principal, Response>) -> Response {
    match r {
        Ok(p) => panic!("expected a refusal, got {p:?}"),
        Err(resp) => resp,
    }
}

fn json_error(resp: &Response) -> String {
    assert_eq!(
        resp.header("Content-Type"),
        Some("application/json; charset=UTF-8")
    );
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    v["error"].as_str().unwrap().to_string()
}

fn assert_401(resp: &Response) {
    assert_eq!(resp.status, 401);
    assert_eq!(resp.header("WWW-Authenticate"), Some(CHALLENGE));
    assert!(CHALLENGE.starts_with("Basic realm=\"luigid-rs\""));
    assert!(!json_error(resp).is_empty());
}

// ---- tests -----------------------------------------------------------------------------

#[test]
fn disabled_allows_everything_as_luigid() {
    let mut auth = Auth::from_ini(&Ini::default()).unwrap();
    assert!(!auth.enabled());
    let browser_get = req("GET", &[("origin".into(), "http://evil.example".into())]);
    for m in luigid_rs::api::METHODS.iter().map(|m| m.name) {
        let p = auth.check(&browser_get, &peer(), api(m), 0.0).unwrap();
        assert_eq!(p.role, Role::Admin);
        assert_eq!(auth.role_header(&p), None);
    }
    // Even wrong credentials are ignored, as luigid ignores the header.
    let r = req("GET", &[basic("ada", WRONG_PW)]);
    assert!(auth.check(&r, &peer(), RouteClass::Page, 0.0).is_ok());
}

#[test]
fn each_role_against_each_method() {
    let mut auth = auth_with("");
    let users = [
        ("vera", VIEWER_PW, Role::Viewer),
        ("wim", WORKER_PW, Role::Worker),
        ("ada", ADMIN_PW, Role::Admin),
    ];
    for (user, pw, role) in users {
        let r = post(&[basic(user, pw)]);
        for (m, need) in luigid_rs::api::METHODS.iter().map(|m| (m.name, &m.role)) {
            assert_eq!(required_role(m), *need);
            let got = auth.check(&r, &peer(), api(m), 0.0);
            if role >= *need {
                let p = got.unwrap_or_else(|e| panic!("{user} {m}: {}", e.status));
                assert_eq!(p.name, user);
                assert_eq!(p.role, role);
                assert_eq!(p.via, Via::Password);
                assert_eq!(
                    auth.role_header(&p),
                    Some(("X-Luigid-Rs-Role", role.as_str()))
                );
            } else {
                let resp = err(got);
                assert_eq!(resp.status, 403, "{user} {m}");
                let msg = json_error(&resp);
                assert!(msg.contains(m) && msg.contains(need.as_str()), "{msg}");
            }
        }
        // Pages and metrics need viewer, which everyone has.
        assert!(auth.check(&r, &peer(), RouteClass::Page, 0.0).is_ok());
        assert!(auth.check(&r, &peer(), RouteClass::Metrics, 0.0).is_ok());
    }
    // An unknown method name (or one still percent-encoded) needs admin.
    let r = post(&[basic("wim", WORKER_PW)]);
    assert_eq!(
        err(auth.check(&r, &peer(), api("m%61rk_as_done"), 0.0)).status,
        403
    );
}

#[test]
fn state_changing_methods_need_post() {
    let mut auth = auth_with("");
    let get = req("GET", &[basic("ada", ADMIN_PW)]);
    for m in ["mark_as_done", "add_task", "get_work", "pause"] {
        let resp = err(auth.check(&get, &peer(), api(m), 0.0));
        assert_eq!(resp.status, 405, "{m}");
        assert_eq!(resp.header("Allow"), Some("POST"));
        assert!(json_error(&resp).contains("POST"));
    }
    // Reads stay available over GET, as the visualiser sends them.
    for m in ["task_list", "worker_list", "is_paused", "fetch_error"] {
        assert!(auth.check(&get, &peer(), api(m), 0.0).is_ok(), "{m}");
    }
    // Other verbs are not POST either.
    let put = req("PUT", &[basic("ada", ADMIN_PW)]);
    assert_eq!(
        err(auth.check(&put, &peer(), api("pause"), 0.0)).status,
        405
    );
}

#[test]
fn browser_posts_that_change_state_need_the_custom_header() {
    let mut auth = auth_with("");
    let creds = basic("ada", ADMIN_PW);
    // A cross-site form POST: the browser attaches the saved Basic password and an Origin.
    for marker in ["origin", "referer", "sec-fetch-site", "sec-fetch-mode"] {
        let r = post(&[creds.clone(), (marker.into(), "http://evil.example".into())]);
        let resp = err(auth.check(&r, &peer(), api("mark_as_done"), 0.0));
        assert_eq!(resp.status, 403, "{marker}");
        assert!(json_error(&resp).contains("X-Luigid-Rs-Request"));
    }
    let wrong_value = post(&[
        creds.clone(),
        ("origin".into(), "null".into()),
        ("x-luigid-rs-request".into(), "yes".into()),
    ]);
    assert_eq!(
        err(auth.check(&wrong_value, &peer(), api("pause"), 0.0)).status,
        403
    );
    // The visualiser's own POST sets the header.
    let ours = post(&[
        creds.clone(),
        ("origin".into(), "http://sched:8082".into()),
        ("x-luigid-rs-request".into(), "1".into()),
    ]);
    assert!(auth.check(&ours, &peer(), api("mark_as_done"), 0.0).is_ok());
    // A Luigi worker (python-requests: no Origin, no Referer) needs nothing extra.
    let worker = post(&[
        basic("wim", WORKER_PW),
        (
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ),
        ("user-agent".into(), "python-requests/2.32".into()),
    ]);
    assert!(auth.check(&worker, &peer(), api("add_task"), 0.0).is_ok());
    // Reads from a browser need no header.
    let read = req("GET", &[("origin".into(), "http://evil.example".into())]);
    assert!(auth.check(&read, &peer(), api("task_list"), 0.0).is_ok());
    // Anonymous workers too are protected from cross-site forms.
    let mut open = auth_with("anonymous_role = worker\n");
    let form = post(&[("origin".into(), "http://evil.example".into())]);
    assert_eq!(
        err(open.check(&form, &peer(), api("add_task"), 0.0)).status,
        403
    );
    assert!(open
        .check(&post(&[]), &peer(), api("add_task"), 0.0)
        .is_ok());
}

#[test]
fn anonymous_role_settings() {
    // Default when enabled: viewer.
    let mut auth = auth_with("");
    let anon = auth
        .check(&req("GET", &[]), &peer(), api("task_list"), 0.0)
        .unwrap();
    assert_eq!(
        (anon.name.as_str(), anon.role, anon.via),
        ("anonymous", Role::Viewer, Via::Anonymous)
    );
    assert_eq!(
        auth.role_header(&anon),
        Some(("X-Luigid-Rs-Role", "viewer"))
    );
    // Too low while anonymous: 401, so a browser asks for a password.
    assert_401(&err(auth.check(&post(&[]), &peer(), api("add_task"), 0.0)));

    let mut worker = auth_with("anonymous_role = worker\n");
    assert!(worker
        .check(&post(&[]), &peer(), api("get_work"), 0.0)
        .is_ok());
    assert_401(&err(worker.check(&post(&[]), &peer(), api("pause"), 0.0)));

    let mut admin = auth_with("anonymous_role = admin\n");
    assert!(admin.check(&post(&[]), &peer(), api("pause"), 0.0).is_ok());
    // Logging in as a lower role does not take rights away.
    let vera = post(&[basic("vera", VIEWER_PW)]);
    let p = worker.check(&vera, &peer(), api("add_task"), 0.0).unwrap();
    assert_eq!((p.name.as_str(), p.role), ("vera", Role::Worker));

    let mut none = auth_with("anonymous_role = none\n");
    for route in [api("task_list"), RouteClass::Page, RouteClass::Metrics] {
        assert_401(&err(none.check(&req("GET", &[]), &peer(), route, 0.0)));
    }
    // Public routes always work: health checks, the root, static files.
    let p = none
        .check(&req("HEAD", &[]), &peer(), RouteClass::Public, 0.0)
        .unwrap();
    assert_eq!(p.via, Via::Public);
    assert_eq!(none.role_header(&p), None);
    // With credentials it works again.
    let r = req("GET", &[basic("vera", VIEWER_PW)]);
    assert!(none.check(&r, &peer(), api("task_list"), 0.0).is_ok());
}

#[test]
fn metrics_public_setting() {
    let mut closed = auth_with("anonymous_role = none\n");
    assert_401(&err(closed.check(
        &req("GET", &[]),
        &peer(),
        RouteClass::Metrics,
        0.0,
    )));
    let mut open = auth_with("anonymous_role = none\nmetrics_public = true\n");
    assert!(open
        .check(&req("GET", &[]), &peer(), RouteClass::Metrics, 0.0)
        .is_ok());
    // Pages stay closed.
    assert_401(&err(open.check(
        &req("GET", &[]),
        &peer(),
        RouteClass::Page,
        0.0,
    )));
}

#[test]
fn trusted_unix_peers() {
    let mut auth = auth_with("anonymous_role = none\ntrust_unix_uids = 0, 1000\n");
    let local = |uid| Peer {
        addr: "unix".to_string(),
        uid: Some(uid),
    };
    let p = auth
        .check(&post(&[]), &local(1000), api("mark_as_done"), 0.0)
        .unwrap();
    assert_eq!(
        (p.name.as_str(), p.role, p.via),
        ("uid:1000", Role::Admin, Via::UnixPeer)
    );
    // Credentials from a trusted peer are not consulted, right or wrong.
    let wrong = post(&[basic("vera", WRONG_PW)]);
    assert_eq!(
        auth.check(&wrong, &local(0), api("pause"), 0.0)
            .unwrap()
            .role,
        Role::Admin
    );
    // An untrusted uid is anonymous (here: none).
    assert_401(&err(auth.check(
        &post(&[]),
        &local(1001),
        api("task_list"),
        0.0,
    )));
    // The GET and cross-site rules still hold for trusted peers.
    assert_eq!(
        err(auth.check(&req("GET", &[]), &local(0), api("pause"), 0.0)).status,
        405
    );

    let mut limited = auth_with("trust_unix_uids = 1000\nunix_peer_role = worker\n");
    assert!(limited
        .check(&post(&[]), &local(1000), api("add_task"), 0.0)
        .is_ok());
    assert_eq!(
        err(limited.check(&post(&[]), &local(1000), api("pause"), 0.0)).status,
        403
    );
}

#[test]
fn bad_and_missing_credentials() {
    let mut auth = auth_with("anonymous_role = none\nmax_failures = 0\n");
    let cases: Vec<Vec<(String, String)>> = vec![
        vec![],
        vec![basic("ada", WRONG_PW)],
        vec![basic("nobody", WRONG_PW)],
        vec![basic("ada", "")],
        vec![("authorization".into(), "Basic !!!".into())],
        vec![(
            "authorization".into(),
            format!("Basic {}", b64(b"no-colon")),
        )],
        vec![("authorization".into(), "Digest username=\"ada\"".into())],
        vec![("authorization".into(), format!("Bearer {WRONG_TOKEN}"))],
        vec![("authorization".into(), "Bearer".into())],
    ];
    for headers in cases {
        let resp = err(auth.check(&post(&headers), &peer(), api("task_list"), 0.0));
        assert_401(&resp);
    }
    // Wrong credentials are refused even where anonymous access would do.
    let mut anon = auth_with("max_failures = 0\n");
    let r = req("GET", &[basic("ada", WRONG_PW)]);
    assert_401(&err(anon.check(&r, &peer(), api("task_list"), 0.0)));
    // Public routes never look at them.
    assert!(anon.check(&r, &peer(), RouteClass::Public, 0.0).is_ok());
    // The scheme name is case-insensitive.
    let lower = format!("basic {}", b64(format!("ada:{ADMIN_PW}").as_bytes()));
    let r = post(&[("authorization".into(), lower)]);
    assert_eq!(
        anon.check(&r, &peer(), api("pause"), 0.0).unwrap().name,
        "ada"
    );
}

#[test]
fn failed_logins_are_rate_limited_per_address() {
    let mut auth = auth_with("max_failures = 5\nfailure_window = 60\nlockout = 300\n");
    let attacker = tcp("198.51.100.9:1111");
    let bad = post(&[basic("ada", WRONG_PW)]);
    let good = post(&[basic("ada", ADMIN_PW)]);
    for i in 0..5 {
        let now = 1000.0 + i as f64;
        assert_eq!(
            err(auth.check(&bad, &attacker, api("pause"), now)).status,
            401
        );
    }
    // Locked: even the right password gets 429 (a wrong/right difference would let the
    // guessing go on), from any port of that address.
    let other_port = tcp("198.51.100.9:2222");
    for r in [&bad, &good] {
        let resp = err(auth.check(r, &other_port, api("pause"), 1010.0));
        assert_eq!(resp.status, 429);
        assert_eq!(resp.header("Retry-After"), Some("294"));
        assert!(json_error(&resp).contains("too many"));
    }
    // Requests without credentials still get the anonymous role.
    assert!(auth
        .check(&req("GET", &[]), &attacker, api("task_list"), 1010.0)
        .is_ok());
    // Another address is not affected.
    assert!(auth.check(&good, &peer(), api("pause"), 1010.0).is_ok());
    // After the lockout the right password works again.
    assert!(auth.check(&good, &attacker, api("pause"), 1304.0).is_ok());

    // Failures spread wider than the window never lock.
    let mut slow = auth_with("max_failures = 3\nfailure_window = 10\n");
    for i in 0..10 {
        let now = i as f64 * 6.0;
        assert_eq!(
            err(slow.check(&bad, &attacker, api("pause"), now)).status,
            401
        );
    }
}

#[test]
fn tokens() {
    let mut auth = auth_with("anonymous_role = none\n");
    let bearer = post(&[("authorization".into(), format!("Bearer {TOKEN}"))]);
    let p = auth.check(&bearer, &peer(), api("get_work"), 0.0).unwrap();
    assert_eq!(
        (p.name.as_str(), p.role, p.via),
        ("ci", Role::Worker, Via::Token)
    );
    assert_eq!(
        err(auth.check(&bearer, &peer(), api("pause"), 0.0)).status,
        403
    );
    // As the password of Basic with the token's name, so a worker URL can carry it.
    let as_basic = post(&[basic("ci", TOKEN)]);
    assert_eq!(
        auth.check(&as_basic, &peer(), api("add_task"), 0.0)
            .unwrap()
            .via,
        Via::Token
    );
    // The right token under another name, a wrong token, or a token with trailing junk: no.
    for h in [
        basic("ada", TOKEN),
        basic("ci", WRONG_TOKEN),
        ("authorization".into(), format!("Bearer {TOKEN}x")),
    ] {
        assert_401(&err(auth.check(
            &post(&[h]),
            &peer(),
            api("task_list"),
            0.0,
        )));
    }
}

#[test]
fn hash_password_output_verifies() {
    capture_logs();
    let args: Vec<String> = ["--name", "eve", "--role", "admin"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let pw = format!("{ADMIN_PW}\n");
    assert_eq!(
        hash_password_with(&args, &mut pw.as_bytes(), &mut out, &mut errs),
        0
    );
    let line = String::from_utf8(out).unwrap();
    assert!(
        line.starts_with("user.eve = admin $argon2id$v=19$"),
        "{line}"
    );
    assert!(!line.contains(ADMIN_PW));
    let mut auth = Auth::from_ini(&ini(&format!(
        "[luigid_rs_auth]\nenabled = true\nanonymous_role = none\n{line}"
    )))
    .unwrap();
    let ok = post(&[basic("eve", ADMIN_PW)]);
    assert_eq!(
        auth.check(&ok, &peer(), api("pause"), 0.0).unwrap().name,
        "eve"
    );
    let no = post(&[basic("eve", WRONG_PW)]);
    assert_401(&err(auth.check(&no, &peer(), api("pause"), 0.0)));

    // Bare hash without --name/--role.
    let mut out = Vec::new();
    assert_eq!(
        hash_password_with(&[], &mut "x\n".as_bytes(), &mut out, &mut Vec::new()),
        0
    );
    assert!(String::from_utf8(out).unwrap().starts_with("$argon2id$"));

    // Token: the token goes to stderr, the digest line to stdout.
    let args: Vec<String> = ["--token", "--name", "bot", "--role", "worker"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut out = Vec::new();
    let mut errs = Vec::new();
    assert_eq!(
        hash_password_with(&args, &mut "".as_bytes(), &mut out, &mut errs),
        0
    );
    let line = String::from_utf8(out).unwrap();
    let shown = String::from_utf8(errs).unwrap();
    let token = shown.trim().rsplit(' ').next().unwrap().to_string();
    assert_eq!(token.len(), 64);
    assert!(
        !line.contains(&token),
        "the raw token must not be in the config line"
    );
    assert!(line.starts_with("token.bot = worker sha256:"), "{line}");
    let mut auth = Auth::from_ini(&ini(&format!(
        "[luigid_rs_auth]\nenabled = true\nanonymous_role = none\n{line}"
    )))
    .unwrap();
    let r = post(&[("authorization".into(), format!("Bearer {token}"))]);
    assert_eq!(
        auth.check(&r, &peer(), api("get_work"), 0.0).unwrap().name,
        "bot"
    );
}

#[test]
fn config_errors_name_the_key() {
    let (_, _, a) = hashes();
    let digest = token_digest(TOKEN);
    let cases: Vec<(String, &str)> = vec![
        ("enable = true".into(), "enable"),
        ("enabled = yes".into(), "enabled"),
        ("anonymous_role = root".into(), "anonymous_role"),
        ("unix_peer_role = none".into(), "unix_peer_role"),
        ("trust_unix_uids = 0, alice".into(), "trust_unix_uids"),
        ("max_failures = -1".into(), "max_failures"),
        ("failure_window = 0".into(), "failure_window"),
        ("lockout = -5".into(), "lockout"),
        ("user.bob = admin".into(), "user.bob"),
        ("user.bob = boss $argon2id$x".into(), "user.bob"),
        ("user.bob = admin not-a-hash".into(), "user.bob"),
        (
            "user.bob = admin $2b$12$abcdefghijklmnopqrstuu".into(),
            "user.bob",
        ),
        (format!("user.b!b = admin {a}"), "user.b!b"),
        ("token.ci = worker plain-token".into(), "token.ci"),
        (
            format!("token.ci = worker sha256:{}", &digest[..60]),
            "token.ci",
        ),
        (
            format!("user.ci = admin {a}\ntoken.ci = worker sha256:{digest}"),
            "ci",
        ),
    ];
    for (line, key) in cases {
        let text = if line.starts_with("enabled") {
            format!("[luigid_rs_auth]\n{line}\n")
        } else {
            format!("[luigid_rs_auth]\nenabled = true\n{line}\n")
        };
        let e = match Auth::from_ini(&ini(&text)) {
            Ok(_) => panic!("{line:?} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(key), "{line:?}: {e}");
        assert!(e.contains("luigid_rs_auth"), "{e}");
        // Never echo a secret value.
        assert!(!e.contains("plain-token") && !e.contains(a.as_str()), "{e}");
    }
    // The file and line are named for keys read from a file.
    let e = Auth::from_ini(&ini("[luigid_rs_auth]\nenabled = true\nenable = true\n"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.starts_with("test.cfg:3: [luigid_rs_auth] enable:"), "{e}");
}

#[test]
fn toml_dotted_keys() {
    let (_, _, a) = hashes();
    let text = format!(
        "[luigid_rs_auth]\nenabled = true\nanonymous_role = \"none\"\n\
         trust_unix_uids = [0, 1000]\nuser.ada = \"admin {a}\"\ntoken.ci = \"worker sha256:{}\"\n",
        token_digest(TOKEN)
    );
    let mut ini = Ini::default();
    ini.read_toml_str(&text, "t.toml").unwrap();
    let mut auth = Auth::from_ini(&ini).unwrap();
    let r = post(&[basic("ada", ADMIN_PW)]);
    assert_eq!(
        auth.check(&r, &peer(), api("pause"), 0.0).unwrap().name,
        "ada"
    );
    let r = post(&[("authorization".into(), format!("Bearer {TOKEN}"))]);
    assert_eq!(
        auth.check(&r, &peer(), api("ping"), 0.0).unwrap().name,
        "ci"
    );
}

#[test]
fn secrets_never_reach_the_log() {
    let mut auth = auth_with("max_failures = 2\n");
    let attempts = [
        post(&[basic("ada", WRONG_PW)]),
        post(&[basic("ghost", WRONG_PW)]),
        post(&[basic("ci", WRONG_TOKEN)]),
        post(&[("authorization".into(), format!("Bearer {WRONG_TOKEN}"))]),
        post(&[basic("ada", ADMIN_PW)]),
        post(&[basic("vera", VIEWER_PW)]),
        post(&[("authorization".into(), format!("Bearer {TOKEN}"))]),
    ];
    let who = tcp("203.0.113.5:999");
    for r in &attempts {
        let _ = auth.check(r, &who, api("task_list"), 50.0);
        let _ = auth.check(r, &peer(), api("task_list"), 50.0);
    }
    let lines = logged();
    // The failures were logged with the address; a configured user's name is shown, an
    // unknown one is not (it is often a secret typed into the wrong field).
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"ada\"") && l.contains("wrong password")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("unknown user name") && l.contains("203.0.113.5")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("ghost")), "{lines:?}");
    assert!(lines
        .iter()
        .any(|l| l.contains("failed logins from 203.0.113.5")));
    let header_values: Vec<String> = attempts
        .iter()
        .filter_map(|r| r.header_str("authorization").map(str::to_string))
        .collect();
    for l in &lines {
        for v in &header_values {
            let encoded = v.split(' ').nth(1).unwrap_or(v);
            assert!(!l.contains(encoded), "credentials in log line {l:?}");
        }
        for s in SECRETS {
            assert!(!l.contains(s), "secret in log line {l:?}");
        }
        assert!(!l.to_ascii_lowercase().contains("authorization:"), "{l:?}");
    }
}

/// The headers Luigi 3.8's two fetchers really send (captured from RemoteScheduler with
/// `http://etl:pa.ss-1@host/`): Basic from the URL, no browser markers.
#[test]
fn luigi_worker_requests_pass() {
    capture_logs();
    let phc = hash_password("pa.ss-1").unwrap();
    let text = format!(
        "[luigid_rs_auth]\nenabled = true\nanonymous_role = none\nuser.etl = worker {phc}\n"
    );
    let mut auth = Auth::from_ini(&ini(&text)).unwrap();
    let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    let requests = h(&[
        ("host", "127.0.0.1:8082"),
        ("user-agent", "python-requests/2.34.2"),
        ("accept-encoding", "gzip, deflate"),
        ("accept", "*/*"),
        ("connection", "keep-alive"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", "Basic ZXRsOnBhLnNzLTE="),
    ]);
    let urllib = h(&[
        ("accept-encoding", "identity"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("host", "127.0.0.1:8082"),
        ("user-agent", "Python-urllib/3.11"),
        ("authorization", "Basic ZXRsOnBhLnNzLTE="),
        ("connection", "close"),
    ]);
    for headers in [requests, urllib] {
        for m in [
            "add_worker",
            "add_task",
            "get_work",
            "ping",
            "count_pending",
        ] {
            let p = auth.check(&post(&headers), &peer(), api(m), 0.0).unwrap();
            assert_eq!((p.name.as_str(), p.role), ("etl", Role::Worker));
        }
    }
}

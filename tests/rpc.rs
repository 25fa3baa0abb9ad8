//! RPC calls to the real binary over HTTP: a client's strings come back as it sent them,
//! also after a restart from the snapshot and after one from the journal alone.

mod common;

use common::{Conn, Reply, Server};
use std::time::Duration;

fn post(c: &mut Conn, method: &str, data: &str) -> Reply {
    let body = format!(
        "data={}",
        percent_encoding::utf8_percent_encode(data, percent_encoding::NON_ALPHANUMERIC)
    );
    c.send(
        format!(
            "POST /api/{method} HTTP/1.1\r\nHost: t\r\nContent-Type: \
             application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let reply = c.read_reply(false).expect("reply");
    assert_eq!(reply.status, 200, "{method} {data}");
    reply
}

fn text(r: &Reply) -> String {
    String::from_utf8(r.body.clone()).expect("utf-8 body")
}

/// The state a restart must bring back: the task list and the status message.
fn observed(s: &Server) -> (String, String) {
    let mut c = s.connect();
    let list = text(&post(
        &mut c,
        "task_list",
        r#"{"status": "", "upstream_status": ""}"#,
    ));
    let msg = text(&post(
        &mut c,
        "get_task_status_message",
        r#"{"task_id": "\ufdd0NaN"}"#,
    ));
    (list, msg)
}

/// U+FDD0 marks the numbers JSON-in-memory cannot hold (NaN, Infinity, big integers);
/// a client's string that starts with it must never come back as a bare number.
#[test]
fn a_string_starting_with_u_fdd0_is_echoed_as_a_string() {
    let keep = tempfile::tempdir().expect("tempdir");
    let state = keep.path().join("state.json");
    let state = state.to_str().expect("utf-8 path");
    let args = ["--port", "0", "--state-path", state];
    let s = Server::start("", &args);
    let mut c = s.connect();
    post(
        &mut c,
        "add_task",
        r#"{"task_id": "\ufdd0NaN", "worker": "w", "family": "F", "status": "PENDING",
            "params": {"p": "\ufdd0NaN", "\ufdd0q": "\ufdd0Infinity"}}"#,
    );
    // Parameters that are not all plain values take the parser's other path.
    post(
        &mut c,
        "add_task",
        r#"{"task_id": "G_1", "worker": "w", "family": "G", "expl": "\ufdd0-Infinity",
            "params": {"l": ["\ufdd0123", 1.5]}}"#,
    );
    post(
        &mut c,
        "set_task_status_message",
        r#"{"task_id": "\ufdd0NaN", "status_message": "\ufdd0NaN"}"#,
    );
    let (list, msg) = observed(&s);
    for sent in [
        r#""\ufdd0NaN": {"#,
        r#""p": "\ufdd0NaN""#,
        r#""\ufdd0q": "\ufdd0Infinity""#,
        r#""l": ["\ufdd0123", 1.5]"#,
        r#""display_name": "F(p=\ufdd0NaN, \ufdd0q=\ufdd0Infinity)""#,
    ] {
        assert!(list.contains(sent), "{sent} not in {list}");
    }
    for bare in [": NaN", ": Infinity", "[123", ": -Infinity"] {
        assert!(!list.contains(bare), "{bare} in {list}");
    }
    assert!(
        msg.contains(r#""\ufdd0NaN""#) && !msg.contains(": NaN"),
        "{msg}"
    );

    // A stop writes a snapshot; the restart reads it.
    s.signal(libc::SIGTERM);
    let mut s = s;
    assert!(s
        .wait_exit(Duration::from_secs(20))
        .is_some_and(|st| st.success()));
    drop(s);
    let s = Server::start("", &args);
    assert_eq!(
        observed(&s),
        (list.clone(), msg.clone()),
        "after a snapshot"
    );

    // Killed: the next start replays the journal.
    let mut c = s.connect();
    post(
        &mut c,
        "add_task",
        r#"{"task_id": "H_1", "worker": "w", "family": "H", "params": {"h": "\ufdd0NaN"}}"#,
    );
    let (list, msg) = observed(&s);
    assert!(list.contains(r#""h": "\ufdd0NaN""#), "{list}");
    s.signal(libc::SIGKILL);
    drop(s);
    let s = Server::start("", &args);
    assert_eq!(observed(&s), (list, msg), "after a journal replay");
}

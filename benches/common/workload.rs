//! What Luigi sends: worker ids, task ids and the `data` objects of RemoteScheduler's
//! calls (every add_task argument filled in, as its rpc_method wrapper does), encoded
//! the way python-requests posts a form.

use serde_json::{json, Map, Value};

/// A worker id shaped like Luigi's `Worker(salt=..., workers=..., host=..., ...)`.
pub fn worker_id(n: usize) -> String {
    format!(
        "Worker(salt={:09}, workers=1, host=bench-host-{n}, username=bench, pid={})",
        (n as u64).wrapping_mul(2_654_435_761) % 1_000_000_000,
        4000 + n
    )
}

/// A task id shaped like Luigi's `Family_param_values_hash10`.
pub fn task_id(family: &str, i: usize) -> String {
    // FNV-1a over the index stands in for Luigi's md5 of the parameters.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in (i as u64).to_le_bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{family}_2026_11_24_{i}_{:010x}", h & 0xff_ffff_ffff)
}

/// add_task's `data` as RemoteScheduler sends it for a task with two parameters.
pub fn add_task_args(
    worker: &str,
    family: &str,
    i: usize,
    status: &str,
    deps: &[String],
) -> Map<String, Value> {
    let deps_v: Value = if status == "PENDING" {
        Value::Array(deps.iter().map(|d| Value::String(d.clone())).collect())
    } else {
        Value::Null
    };
    let v = json!({
        "task_id": task_id(family, i),
        "status": status,
        "runnable": status == "PENDING",
        "deps": deps_v,
        "new_deps": null,
        "expl": null,
        "resources": {},
        "priority": 0,
        "family": family,
        "module": "bench.tasks",
        "params": {"date": "2026-11-24", "n": i.to_string()},
        "param_visibilities": {"date": 0, "n": 0},
        "accepts_messages": false,
        "assistant": false,
        "tracking_url": null,
        "worker": worker,
        "batchable": false,
        "batch_id": null,
        "retry_policy_dict": {},
        "owners": [],
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// add_task(status=DONE) for a task the worker got from get_work, as after a run.
pub fn done_args(worker: &str, task: &str) -> Map<String, Value> {
    let v = json!({
        "task_id": task, "status": "DONE", "runnable": true, "deps": null, "new_deps": null,
        "expl": null, "resources": null, "priority": 0, "family": "", "module": null,
        "params": null, "param_visibilities": null, "accepts_messages": false,
        "assistant": false, "tracking_url": null, "worker": worker, "batchable": null,
        "batch_id": null, "retry_policy_dict": null, "owners": null,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub fn get_work_args(worker: &str) -> Map<String, Value> {
    // current_tasks is left out (None): every call then hands out a fresh PENDING task
    // instead of handing back the running ones the load generator does not track.
    let mut m = Map::new();
    m.insert("host".into(), json!("bench-host"));
    m.insert("assistant".into(), json!(false));
    m.insert("worker".into(), json!(worker));
    m
}

pub fn ping_args(worker: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("worker".into(), json!(worker));
    m
}

/// The visualiser's task_list query for one status.
pub fn task_list_args(status: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("status".into(), json!(status));
    m.insert("upstream_status".into(), json!(""));
    m.insert("search".into(), json!(""));
    m
}

/// Python's json.dumps of the object (", " and ": " separators).
pub fn py_json(m: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    luigid_rs::json::to_py_json(&Value::Object(m.clone()), &mut out);
    out
}

/// urllib's quote_plus: what requests does to a form value.
pub fn quote_plus(raw: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in raw {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => {
                out.push(b'%');
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
        }
    }
}

/// POST /api/{method} with a `data=<json>` form body, headers as python-requests sends.
pub fn post_rpc(method: &str, args: &Map<String, Value>, host: &str, out: &mut Vec<u8>) {
    let mut body = b"data=".to_vec();
    quote_plus(&py_json(args), &mut body);
    out.extend_from_slice(format!(
        "POST /api/{method} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: python-requests/2.32.3\r\nAccept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\nContent-Length: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n",
        body.len()
    ).as_bytes());
    out.extend_from_slice(&body);
}

/// GET /api/{method}?data=<json> as the visualiser's jQuery does.
pub fn get_rpc(method: &str, args: &Map<String, Value>, host: &str, out: &mut Vec<u8>) {
    let mut q = Vec::new();
    quote_plus(&py_json(args), &mut q);
    out.extend_from_slice(format!("GET /api/{method}?data=").as_bytes());
    out.extend_from_slice(&q);
    out.extend_from_slice(format!(
        " HTTP/1.1\r\nHost: {host}\r\nAccept: application/json, text/javascript, */*; q=0.01\r\nX-Requested-With: XMLHttpRequest\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n"
    ).as_bytes());
}

pub fn head_root(host: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(
        format!("HEAD / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: python-requests/2.32.3\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n").as_bytes(),
    );
}

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

/// The add_task requests of [`add_task_args`] + [`post_rpc`], made from a template:
/// the same bytes with the task id, its index and its dependency spliced in. Building
/// each request afresh cost the load generator about 7 µs, as much as the server spends
/// on it, so the generator's core ran out before the server's did; this costs well
/// under 1 µs. Checked against the slow path when made (and that path used on a mismatch).
pub struct AddTaskRequests {
    host: String,
    worker: String,
    family: String,
    status: String,
    /// Without and with one dependency: literal pieces, each followed (but the last) by
    /// the value of the placeholder named in `slots`.
    plain: Option<(Vec<Vec<u8>>, Vec<u8>)>,
    dep: Option<(Vec<Vec<u8>>, Vec<u8>)>,
    head: String,
}

const MARK: &[u8] = b"~~";

impl AddTaskRequests {
    pub fn new(host: &str, worker: &str, family: &str, status: &str) -> AddTaskRequests {
        let mut r = AddTaskRequests {
            host: host.to_string(),
            worker: worker.to_string(),
            family: family.to_string(),
            status: status.to_string(),
            plain: None,
            dep: None,
            head: format!(
                "POST /api/add_task HTTP/1.1\r\nHost: {host}\r\nUser-Agent: python-requests/2.32.3\r\nAccept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\nContent-Length: "
            ),
        };
        let template = |deps: &[String]| {
            // Placeholders ~~X~~: `~` passes JSON and quote_plus as it is, and appears in
            // no other value here.
            let mut args = add_task_args(worker, family, 0, status, deps);
            args.insert("task_id".into(), Value::String("~~I~~".into()));
            if let Some(Value::Object(p)) = args.get_mut("params") {
                p.insert("n".into(), Value::String("~~N~~".into()));
            }
            let mut body = b"data=".to_vec();
            quote_plus(&py_json(&args), &mut body);
            let mut pieces = Vec::new();
            let mut slots = Vec::new();
            let mut rest = &body[..];
            while let Some(at) = find(rest, MARK) {
                pieces.push(rest[..at].to_vec());
                let after = &rest[at + MARK.len()..];
                let close = find(after, MARK)?;
                if close != 1 {
                    return None;
                }
                slots.push(after[0]);
                rest = &after[close + MARK.len()..];
            }
            pieces.push(rest.to_vec());
            Some((pieces, slots))
        };
        r.plain = template(&[]);
        r.dep = template(&["~~D~~".to_string()]);
        for i in [0usize, 1, 9, 12_345] {
            for dep in [false, true] {
                let (mut fast, mut slow) = (Vec::new(), Vec::new());
                r.write(i, dep, &mut fast);
                r.write_slow(i, dep, &mut slow);
                if fast != slow {
                    eprintln!("add_task template differs from the request it stands for; building each request instead");
                    r.plain = None;
                    r.dep = None;
                }
            }
        }
        r
    }

    /// The request for task `i`, depending on task `i - 1` when `dep` (and `i > 0`).
    pub fn write(&self, i: usize, dep: bool, out: &mut Vec<u8>) {
        let dep = dep && i > 0;
        let Some((pieces, slots)) = (if dep { &self.dep } else { &self.plain }) else {
            return self.write_slow(i, dep, out);
        };
        let id = task_id(&self.family, i);
        let prev = if dep {
            task_id(&self.family, i - 1)
        } else {
            String::new()
        };
        let n = i.to_string();
        let value = |slot: u8| match slot {
            b'I' => id.as_bytes(),
            b'N' => n.as_bytes(),
            _ => prev.as_bytes(),
        };
        // Ids and numbers need neither JSON nor form escaping.
        if [&id, &prev]
            .iter()
            .any(|s| !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        {
            return self.write_slow(i, dep, out);
        }
        let len: usize = pieces.iter().map(Vec::len).sum::<usize>()
            + slots.iter().map(|&s| value(s).len()).sum::<usize>();
        out.extend_from_slice(self.head.as_bytes());
        out.extend_from_slice(len.to_string().as_bytes());
        out.extend_from_slice(b"\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n");
        for (k, piece) in pieces.iter().enumerate() {
            out.extend_from_slice(piece);
            if let Some(&s) = slots.get(k) {
                out.extend_from_slice(value(s));
            }
        }
    }

    fn write_slow(&self, i: usize, dep: bool, out: &mut Vec<u8>) {
        let deps = if dep && i > 0 {
            vec![task_id(&self.family, i - 1)]
        } else {
            Vec::new()
        };
        let args = add_task_args(&self.worker, &self.family, i, &self.status, &deps);
        post_rpc("add_task", &args, &self.host, out);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
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
    luigid_rs::pyjson::to_py_json(&Value::Object(m.clone()), &mut out);
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

//! `add_worker`: a worker describes itself (host, username, pid, workers, ...).

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;
use serde_json::Value;

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    let worker = a.req_str("worker")?;
    let not_info = || a.wrong("info", "an object or a list of [key, value] pairs");
    let info = match a.req("info")? {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Value::Array(pairs) => {
            let mut out = Vec::with_capacity(pairs.len());
            for p in pairs {
                match p.as_array().map(|x| x.as_slice()) {
                    Some([Value::String(k), v]) => out.push((k.clone(), v.clone())),
                    _ => return Err(not_info()),
                }
            }
            out
        }
        _ => return Err(not_info()),
    };
    s.add_worker(worker, info, now);
    Ok(Reply::null())
}

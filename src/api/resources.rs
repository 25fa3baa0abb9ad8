//! `resource_list`, `update_resource` and `update_resources`: the scheduler's resources
//! (`[resources]` in luigi.cfg) with their use, and an operator's changes to them.

use super::{ApiError, Args, Reply, MESSAGE_ID_ARG};
use crate::scheduler::Scheduler;
use serde_json::Value;

pub(super) fn list(s: &mut Scheduler, _a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    Ok(Reply::Value(s.resource_list(now)))
}

pub(super) fn update_one(s: &mut Scheduler, a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    let resource = a.req_str("resource")?;
    Ok(Reply::Value(s.update_resource(resource, a.req("amount")?)))
}

/// `update_resources(**resources)`: every argument is a resource and its amount.
pub(super) fn update(s: &mut Scheduler, a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    let mut updates = Vec::new();
    for (k, v) in a.entries() {
        if k == MESSAGE_ID_ARG {
            continue;
        }
        if !matches!(v, Value::Number(_) | Value::Bool(_)) {
            return Err(a.wrong(k, "a number"));
        }
        updates.push((k.to_string(), v.clone()));
    }
    s.update_resources(updates);
    Ok(Reply::null())
}

//! `get_work`: a worker asks for its next task. The reply (with the worker's running
//! tasks, when asked) is written straight into the body.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;
use serde_json::Value;

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    let worker = a.req_str_not_null("worker")?;
    let host = a.get("host").cloned().unwrap_or(Value::Null);
    let assistant = a.get("assistant").cloned().unwrap_or(Value::Bool(false));
    let current = a.opt_str_list("current_tasks")?;
    Ok(Reply::written_spliced(|out| {
        s.get_work_json(host, assistant, current, worker, now, out)
    }))
}

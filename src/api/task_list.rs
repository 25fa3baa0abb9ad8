//! `task_list`: the tasks of a status (and upstream status, and search), as the
//! visualiser lists them; past `max_shown_tasks` only their number. Written straight
//! into the body: a list of thousands of tasks is megabytes.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;
use serde_json::Value;

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    let status = a.opt_str("status")?.unwrap_or("");
    let upstream = a.opt_str("upstream_status")?.unwrap_or("");
    let limit = a.truthy_or("limit", true);
    let search = a.opt_str("search")?;
    let max_shown = match a.opt("max_shown_tasks") {
        None => None,
        Some(Value::Bool(b)) => Some(i64::from(*b)),
        Some(v) => Some(
            crate::scheduler::types::py_num(v)
                // `count > NaN` and `count > inf` are never true in Python.
                .map(|f| if f.is_nan() { i64::MAX } else { f as i64 })
                .ok_or_else(|| a.wrong("max_shown_tasks", "a number or null"))?,
        ),
    };
    Ok(Reply::written(|out| {
        s.task_list_json(status, upstream, limit, search, max_shown, now, out)
    }))
}

//! `task_search`: tasks whose id contains a text, by status (the visualiser's search
//! box). Written straight into the body.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    let task_str = a.req_str("task_str")?;
    Ok(Reply::written(|out| s.task_search_json(task_str, now, out)))
}

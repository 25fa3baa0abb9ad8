//! `report_task_statistics`: a worker reports a task's statistics, which luigid passes
//! to its metrics collector and does not keep; the arguments are checked, nothing more.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(_s: &mut Scheduler, a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    a.task_id("task_id")?;
    a.req("statistics")?;
    Ok(Reply::null())
}

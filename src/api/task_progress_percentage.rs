//! `set_task_progress_percentage` and `get_task_progress_percentage`: a running task's
//! progress bar in the visualiser.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn set(s: &mut Scheduler, a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    let id = a.task_id("task_id")?;
    s.set_task_field(id, a.req("progress_percentage")?.clone(), true);
    Ok(Reply::null())
}

pub(super) fn get(s: &mut Scheduler, a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    Ok(Reply::Value(
        s.get_task_progress_percentage(a.task_id("task_id")?),
    ))
}

//! `set_task_status_message` and `get_task_status_message`: a running task's status
//! line in the visualiser.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn set(s: &mut Scheduler, a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    let id = a.task_id("task_id")?;
    s.set_task_field(id, a.req("status_message")?.clone(), false);
    Ok(Reply::null())
}

pub(super) fn get(s: &mut Scheduler, a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    Ok(Reply::Value(
        s.get_task_status_message(a.task_id("task_id")?),
    ))
}

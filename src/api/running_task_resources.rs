//! `decrease_running_task_resources` and `get_running_task_resources`: a running task
//! gives back part of its resources early (and what it still holds).

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn decrease(s: &mut Scheduler, a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    let id = a.task_id("task_id")?;
    a.req("decrease_resources")?;
    let dec = a.numeric_map("decrease_resources")?;
    s.decrease_running_task_resources(id, &dec.cloned().unwrap_or_default());
    Ok(Reply::null())
}

pub(super) fn get(s: &mut Scheduler, a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    Ok(Reply::Value(
        s.get_running_task_resources(a.task_id("task_id")?),
    ))
}

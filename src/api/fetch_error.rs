//! `fetch_error`: a failed task's error message (the visualiser's error view).

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    Ok(Reply::Value(s.fetch_error(a.task_id("task_id")?)))
}

//! `re_enable_task`: an operator sets a DISABLED task back to FAILED, to be retried.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    Ok(Reply::Value(s.re_enable_task(a.task_id("task_id")?, now)))
}

//! `forgive_failures`: an operator sets a FAILED task back to PENDING.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    Ok(Reply::Value(
        s.forgive_failures(a.task_id_or_null("task_id")?, now),
    ))
}

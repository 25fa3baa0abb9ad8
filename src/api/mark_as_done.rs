//! `mark_as_done`: an operator marks a task DONE without running it.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    Ok(Reply::Value(
        s.mark_as_done(a.task_id_or_null("task_id")?, now),
    ))
}

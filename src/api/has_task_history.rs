//! `has_task_history`: whether the task history database is on (the visualiser shows
//! its links then).

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(s: &mut Scheduler, _a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    Ok(Reply::Value(s.has_task_history()))
}

//! `worker_list`: the workers with their info, task counts and (optionally) running
//! tasks: the visualiser's Workers tab.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    Ok(Reply::Value(
        s.worker_list(a.truthy_or("include_running", true), now),
    ))
}

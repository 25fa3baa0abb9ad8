//! `count_pending`: a worker's pending, running and unique pending tasks (it asks
//! before it exits, to report what is left).

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    Ok(Reply::Value(s.count_pending(a.req_str("worker")?, now)))
}

//! `disable_worker`: an operator stops a worker from getting work.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    s.disable_worker(a.req_str("worker")?, now);
    Ok(Reply::null())
}

//! `ping`: a worker's heartbeat; the reply carries the RPC messages queued for it.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    Ok(Reply::Value(s.ping(a.req_str_not_null("worker")?, now)))
}

//! `update_metrics_task_started`: luigid's hook for its metrics collector, exposed as an
//! RPC method though no Luigi client calls it. Ours counts task starts from the
//! scheduler's own events, so the call only checks its argument.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(_s: &mut Scheduler, a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    a.req("task")?;
    Ok(Reply::null())
}

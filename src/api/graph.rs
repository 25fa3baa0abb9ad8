//! `graph`: every task with its dependencies (luigid's whole-graph view).

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(s: &mut Scheduler, _a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    Ok(Reply::written(|out| s.graph_json(now, out)))
}

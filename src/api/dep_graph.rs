//! `dep_graph` and `inverse_dep_graph`: a task with everything it depends on, or
//! everything that depends on it (the visualiser's graph of one task).

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    graph_of(s, a, false, now)
}

pub(super) fn inverse(s: &mut Scheduler, a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    graph_of(s, a, true, now)
}

fn graph_of(s: &mut Scheduler, a: Args<'_>, inverse: bool, now: f64) -> Result<Reply, ApiError> {
    let id = a.task_id("task_id")?;
    let include_done = a.truthy_or("include_done", true);
    Ok(Reply::written(|out| {
        s.dep_graph_json(id, include_done, inverse, now, out)
    }))
}

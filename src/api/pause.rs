//! `pause`, `unpause`, `is_paused` and `is_pause_enabled`: while paused, get_work hands
//! out nothing (the visualiser's pause toggle).

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn pause(s: &mut Scheduler, _a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    s.set_paused(true);
    Ok(Reply::null())
}

pub(super) fn unpause(s: &mut Scheduler, _a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    s.set_paused(false);
    Ok(Reply::null())
}

pub(super) fn is_paused(s: &mut Scheduler, _a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    Ok(Reply::Value(s.is_paused()))
}

pub(super) fn is_pause_enabled(
    s: &mut Scheduler,
    _a: Args<'_>,
    _now: f64,
) -> Result<Reply, ApiError> {
    Ok(Reply::Value(s.is_pause_enabled()))
}

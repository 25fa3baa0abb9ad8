//! `prune`: luigid's periodic clean-up (timed-out workers, removable tasks, retries and
//! re-enables that are due); the server also runs it every 60 s.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(s: &mut Scheduler, _a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    s.prune(now);
    Ok(Reply::null())
}

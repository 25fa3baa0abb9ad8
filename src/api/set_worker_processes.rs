//! `set_worker_processes`: an operator changes how many processes a worker runs (the
//! worker picks the number up with its next ping's messages).

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    let worker = a.req_str("worker")?;
    s.set_worker_processes(worker, a.req("n")?.clone(), now);
    Ok(Reply::null())
}

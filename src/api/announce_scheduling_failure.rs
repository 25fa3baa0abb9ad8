//! `announce_scheduling_failure`: a worker could not schedule a task (its `complete()` or
//! `requires()` raised); with `[batch_email]` on, the error goes into the batch e-mails.

use super::args::owner_list;
use super::{ApiError, Args, Reply};
use crate::scheduler::pyfmt::py_str;
use crate::scheduler::Scheduler;
use serde_json::{Map, Value};

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    for k in ["task_name", "family", "params", "expl", "owners"] {
        a.req(k)?;
    }
    if s.config.batch_emails {
        let worker = a.req_str("worker")?;
        let text = |k| a.opt(k).map(py_str);
        let params = match a.opt("params") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        s.announce_scheduling_failure(
            worker,
            text("task_name").unwrap_or_default(),
            text("family").unwrap_or_default(),
            &params,
            text("expl").unwrap_or_default(),
            owner_list(a.opt("owners")),
        );
    }
    Ok(Reply::null())
}

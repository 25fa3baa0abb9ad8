//! `add_task_batcher`: a worker declares that tasks of a family may run in batches,
//! with the parameters that are batched and the largest batch.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;
use serde_json::Value;

pub(super) fn call(s: &mut Scheduler, a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    let worker = a.req_str("worker")?;
    let family = a.req_str("task_family")?;
    let names = match a.req("batched_args")? {
        Value::Array(v) => v
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| a.wrong("batched_args", "a list of strings"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(a.wrong("batched_args", "a list of strings")),
    };
    // Infinity may arrive as a huge number, a string, or null, depending on the JSON
    // writer: all mean "no limit".
    let max = match a.get("max_batch_size") {
        None | Some(Value::Null) => None,
        Some(Value::String(x)) if matches!(x.as_str(), "Infinity" | "inf" | "Inf" | "infinity") => {
            None
        }
        Some(v) => match crate::scheduler::types::py_num(v) {
            Some(f) if f.is_finite() && f < f64::MAX => Some(f),
            Some(_) => None,
            None => return Err(a.wrong("max_batch_size", "a number")),
        },
    };
    s.add_task_batcher(worker, family, names, max);
    Ok(Reply::null())
}

//! `send_scheduler_message`, `add_scheduler_message_response` and
//! `get_scheduler_message_response`: the visualiser sends a message to a running task's
//! worker (delivered with its next ping), the task answers, the visualiser collects the
//! answer (which removes it).

use super::{ApiError, Args, Reply, MESSAGE_ID_ARG};
use crate::scheduler::Scheduler;
use serde_json::Value;

pub(super) fn send(s: &mut Scheduler, a: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    let worker = a.req_str("worker")?;
    let task = a.req("task")?.clone();
    let content = a.req("content")?.clone();
    // Chosen by App::rpc before the call is journaled, so that a replay uses the same id.
    let message_id = match a.get(MESSAGE_ID_ARG) {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.clone()),
        Some(_) => return Err(a.wrong(MESSAGE_ID_ARG, "a string")),
    };
    Ok(Reply::Value(s.send_scheduler_message(
        worker, task, content, message_id, now,
    )))
}

pub(super) fn add_response(s: &mut Scheduler, a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    let id = a.task_id("task_id")?;
    let message_id = a.req_str("message_id")?;
    s.add_scheduler_message_response(id, message_id, a.req("response")?.clone());
    Ok(Reply::null())
}

pub(super) fn get_response(s: &mut Scheduler, a: Args<'_>, _now: f64) -> Result<Reply, ApiError> {
    let id = a.task_id("task_id")?;
    let message_id = a.req_str("message_id")?;
    Ok(Reply::Value(
        s.get_scheduler_message_response(id, message_id),
    ))
}

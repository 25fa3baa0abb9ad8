//! The RPC table: maps `/api/{method}` to scheduler calls. Decodes the `data` object into
//! typed arguments with luigid's defaults, calls the scheduler, returns the `response` value.
//!
//! Owner: the scheduler work item (it knows every method's arguments).

use crate::scheduler::Scheduler;
use serde_json::Value;

/// Why a call failed; the router turns it into a status code and a JSON message.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// Not one of luigid's RPC methods -> 404.
    UnknownMethod(String),
    /// Bad or missing arguments -> 400, message names the argument.
    BadArgument(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::UnknownMethod(m) => write!(f, "unknown RPC method {m:?}"),
            ApiError::BadArgument(m) => f.write_str(m),
        }
    }
}

/// True for the methods that can change scheduler state (journaled, access-controlled).
pub fn is_mutating(method: &str) -> bool {
    !matches!(
        method,
        "ping" // ping touches the worker only; see persistence for how it is kept
            | "count_pending"
            | "graph"
            | "dep_graph"
            | "inverse_dep_graph"
            | "task_list"
            | "worker_list"
            | "resource_list"
            | "task_search"
            | "fetch_error"
            | "get_task_status_message"
            | "get_task_progress_percentage"
            | "get_running_task_resources"
            | "get_scheduler_message_response"
            | "is_pause_enabled"
            | "is_paused"
            | "has_task_history"
    )
}

/// Call `method` with the decoded `data` object at time `now`.
pub fn call(
    _scheduler: &mut Scheduler,
    method: &str,
    _args: &serde_json::Map<String, Value>,
    _now: f64,
) -> Result<Value, ApiError> {
    match method {
        "ping" => Ok(serde_json::json!({"rpc_messages": []})),
        _ => Err(ApiError::UnknownMethod(method.to_string())),
    }
}

//! luigid's RPC methods: `/api/{method}` with a `data` object of arguments.
//!
//! - `table.rs`: the one table of the 39 methods, [`METHODS`] (parameters with luigid's
//!   defaults, `**kwargs`, role, effect on state, prune, cacheable).
//! - `args.rs`: a call's arguments, [`Args`], and their typed reading.
//! - one file per method or small family, named after it (`get_work.rs`, `add_task.rs`,
//!   `task_list.rs`, `pause.rs` for the four pause methods, ...): its decoding and its
//!   call into the scheduler.
//!
//! [`parse`] reads a request's `data` text, [`call`] (or [`Method::call`]) runs a call and
//! gives a [`Reply`]; the server, journal replay, tests and benchmarks all go through it.
//! The reserved key `_message_id` (a string) is accepted by every method: `App::rpc`
//! puts a fresh uuid4 there so that `send_scheduler_message` replays with the same id.

mod args;
pub mod details;
mod table;

mod add_task;
mod add_task_batcher;
mod add_worker;
mod announce_scheduling_failure;
mod count_pending;
mod dep_graph;
mod disable_worker;
mod fetch_error;
mod forgive_failures;
mod get_work;
mod graph;
mod has_task_history;
mod mark_as_done;
mod pause;
mod ping;
mod prune;
mod re_enable_task;
mod report_task_statistics;
mod resources;
mod running_task_resources;
mod scheduler_message;
mod set_worker_processes;
mod task_list;
mod task_progress_percentage;
mod task_search;
mod task_status_message;
mod update_metrics_task_started;
mod worker_list;

pub use args::{parse_add_task_args, Args, ObjectTexts, OBJECT_TEXT_ARGS};
pub use table::{method, DefaultValue, Effect, Method, Param, Role, METHODS};

use crate::pyjson::JsonError;
use crate::scheduler::{RunningText, Scheduler};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Why a call failed; the router turns it into a status code and a JSON message.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// Not one of luigid's RPC methods -> 404.
    UnknownMethod(String),
    /// `data` is not JSON as Python reads it -> 400.
    InvalidJson(JsonError),
    /// `data` is JSON but not an object -> 400.
    NotAnObject,
    /// Bad or missing arguments -> 400, the message names the method and the argument.
    BadArgument(String),
    /// The call would change state but the saved state cannot be written -> 503 with
    /// Retry-After; nothing was changed.
    Unavailable(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::UnknownMethod(m) => write!(f, "unknown RPC method {m:?}"),
            ApiError::InvalidJson(e) => write!(f, "{e}"),
            ApiError::NotAnObject => f.write_str("data must be a JSON object"),
            ApiError::BadArgument(m) => f.write_str(m),
            ApiError::Unavailable(why) => write!(
                f,
                "the scheduler cannot save state changes right now ({why}); nothing was \
                 changed, retry later"
            ),
        }
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApiError::InvalidJson(e) => Some(e),
            _ => None,
        }
    }
}

/// Reserved argument carrying a message id for `send_scheduler_message`.
pub const MESSAGE_ID_ARG: &str = "_message_id";

/// What a call answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// luigid's `response` value.
    Value(Value),
    /// The whole body, `{"response": ...}`, written straight from the scheduler's state:
    /// the large lists (`task_list`, `task_search`, the graphs) and `get_work`, where
    /// building a `Value` per task cost about ten times the writing.
    Body(Vec<u8>),
    /// A written body with a long text kept by the scheduler in the middle: the reply
    /// is `body[..at]`, `middle`, `body[at..]` (get_work's running list; the text and
    /// its compressed form are reused by every reply until the list changes).
    Spliced {
        body: Vec<u8>,
        at: usize,
        middle: Arc<RunningText>,
    },
}

/// How a reply body starts.
const RESPONSE_PREFIX: &[u8] = b"{\"response\": ";

/// The size of the last body written by [`Reply::written`]: the next one starts that
/// large, so a big reply is not grown (and copied) a doubling at a time.
static BODY_HINT: AtomicUsize = AtomicUsize::new(0);

impl Reply {
    /// `null`, the reply of most writes.
    pub fn null() -> Reply {
        Reply::Value(Value::Null)
    }

    /// A reply whose `response` value `write` writes as JSON into the body.
    pub(crate) fn written(write: impl FnOnce(&mut Vec<u8>)) -> Reply {
        Reply::written_spliced(|out| {
            write(out);
            None
        })
    }

    /// A reply whose `response` value `write` writes, except for a kept text it returns
    /// with its place in what it wrote (see [`Reply::Spliced`]).
    pub(crate) fn written_spliced(
        write: impl FnOnce(&mut Vec<u8>) -> Option<(usize, Arc<RunningText>)>,
    ) -> Reply {
        let mut body = Vec::with_capacity(BODY_HINT.load(Ordering::Relaxed).max(256));
        body.extend_from_slice(RESPONSE_PREFIX);
        let splice = write(&mut body);
        body.push(b'}');
        BODY_HINT.store(body.len() + body.len() / 8 + 1, Ordering::Relaxed);
        match splice {
            Some((at, middle)) => Reply::Spliced { body, at, middle },
            None => Reply::Body(body),
        }
    }

    /// The HTTP body: `{"response": ...}` as luigid writes it (`json.dumps`, then
    /// Tornado's `</` escape).
    pub fn into_body(self) -> Vec<u8> {
        match self {
            Reply::Body(body) => body,
            Reply::Spliced { body, at, middle } => {
                let mut whole = Vec::with_capacity(body.len() + middle.json.len());
                whole.extend_from_slice(&body[..at]);
                whole.extend_from_slice(&middle.json);
                whole.extend_from_slice(&body[at..]);
                whole
            }
            Reply::Value(value) => {
                let mut body = Vec::with_capacity(64);
                body.extend_from_slice(RESPONSE_PREFIX);
                crate::pyjson::to_py_json(&value, &mut body);
                body.push(b'}');
                body
            }
        }
    }

    /// The `response` value (a written body is read back: tests and tools).
    pub fn into_value(self) -> Value {
        let body = match self {
            Reply::Value(value) => return value,
            spliced @ Reply::Spliced { .. } => spliced.into_body(),
            Reply::Body(body) => body,
        };
        let parsed = std::str::from_utf8(&body)
            .ok()
            .and_then(|text| crate::pyjson::parse_py_json(text).ok());
        match parsed {
            Some(Value::Object(mut m)) => m.remove("response").unwrap_or(Value::Null),
            _ => {
                log::error!("a written reply does not read back as JSON");
                Value::Null
            }
        }
    }
}

/// A call's arguments read from its `data` text.
pub struct Parsed<'a> {
    pub args: Args<'a>,
    /// What the journal should copy instead of the text, when shorter and equivalent
    /// (add_task without the arguments sent at their defaults).
    pub journal_text: Option<String>,
}

/// Read `data` (`""`: no arguments) for a call of `method` as Python's `json.loads`
/// does; the members of the object become the call's [`Args`].
pub fn parse<'a>(method: &Method, text: &'a str) -> Result<Parsed<'a>, ApiError> {
    if text.is_empty() {
        return Ok(Parsed {
            args: Args::none(),
            journal_text: None,
        });
    }
    if method.name == "add_task" {
        return add_task::parse(text);
    }
    match crate::pyjson::parse_members(text) {
        Ok(Some(members)) => Ok(Parsed {
            args: Args::new(members, Default::default()),
            journal_text: None,
        }),
        Ok(None) => Err(ApiError::NotAnObject),
        Err(e) => Err(ApiError::InvalidJson(e)),
    }
}

/// Call the method named `method` with `args` at time `now`: [`Method::call`] of the
/// table's entry, or [`ApiError::UnknownMethod`].
pub fn call(s: &mut Scheduler, method: &str, args: Args<'_>, now: f64) -> Result<Reply, ApiError> {
    match table::method(method) {
        Some(m) => m.call(s, args, now),
        None => Err(ApiError::UnknownMethod(method.to_string())),
    }
}

/// [`call`] with the arguments as a decoded map and the reply as its `response` value:
/// the same path, for tests and tools that hold maps.
pub fn call_map(
    s: &mut Scheduler,
    method: &str,
    args: &serde_json::Map<String, Value>,
    now: f64,
) -> Result<Value, ApiError> {
    call(s, method, Args::from_map(args.clone()), now).map(Reply::into_value)
}

impl Method {
    /// Run a call at time `now`: the names are checked against luigid's signature, then
    /// the method's own file decodes the arguments and calls the scheduler.
    pub fn call(&self, s: &mut Scheduler, mut args: Args<'_>, now: f64) -> Result<Reply, ApiError> {
        args.method = self.name;
        if !self.kwargs {
            if let Some(k) = args
                .names()
                .find(|&k| k != MESSAGE_ID_ARG && self.param(k).is_none())
            {
                return Err(args.bad(format!("unexpected argument {k:?}")));
            }
        }
        if args.names().any(|k| k == "self") {
            // Python binds `self` positionally; luigid fails such a call.
            return Err(args.bad("\"self\" is not an argument".into()));
        }
        (self.handler)(s, args, now)
    }
}

#[cfg(test)]
mod tests;

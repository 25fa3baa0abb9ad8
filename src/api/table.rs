//! The one table of luigid's RPC methods: every fact about a method that code outside
//! its own file needs. The router reads it (is this a method? may its reply be cached?),
//! access control reads the role, `App::rpc` reads the effect to decide what to journal
//! and when the reply cache goes stale. Nothing else keeps a list of method names.
//!
//! Parameters and defaults are luigid 3.8's (`luigi/scheduler.py`, the `@rpc_method`
//! functions of `Scheduler`); `tests/rpc_table.rs` compares them with the installed luigi.

use super::{ApiError, Args, Reply};
use crate::scheduler::Scheduler;

use super::{
    add_task, add_task_batcher, add_worker, announce_scheduling_failure, count_pending, dep_graph,
    disable_worker, fetch_error, forgive_failures, get_work, graph, has_task_history, mark_as_done,
    pause, ping, prune, re_enable_task, report_task_statistics, resources, running_task_resources,
    scheduler_message, set_worker_processes, task_list, task_progress_percentage, task_search,
    task_status_message, update_metrics_task_started, worker_list,
};

/// What a principal may do. Ordered: `Viewer < Worker < Admin`; a role includes every
/// right of the roles below it. With access control on, methods needing more than
/// `Viewer` must come as POST (crate::auth).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Read-only methods, the visualiser's pages, the history pages.
    Viewer,
    /// What a Luigi worker process needs to schedule, run and report tasks.
    Worker,
    /// Operator actions: mark done, re-enable, forgive, disable workers, pause, resources.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Worker => "worker",
            Role::Admin => "admin",
        }
    }

    /// `viewer`, `worker` or `admin` (exact, lower case).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "worker" => Some(Role::Worker),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a call does to the scheduler state: what must be journaled so that a restart
/// rebuilds the same state, and what keeps cached replies valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads only, apart from the prune of a method that [`Method::prunes`]: journaled
    /// (verbatim, so that task_list's early "too many" reply, which skips its prune,
    /// replays exactly) only when that prune would change something.
    Read,
    /// `ping`: refreshes the worker's liveness and hands out its queued messages.
    /// Journaled when it creates the worker or collects messages, otherwise at most every
    /// few seconds per worker, so that a restarted server does not prune it early.
    Heartbeat,
    /// A read with a side effect a replay must repeat (count_pending creates an unknown
    /// worker; get_scheduler_message_response removes the response it returns).
    ReadWithSideEffect,
    /// Changes state: always journaled.
    Write,
}

/// A parameter's default in luigid's signature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue {
    Required,
    None,
    Bool(bool),
    Int(i64),
    Str(&'static str),
    /// `float("inf")`.
    Infinity,
}

impl DefaultValue {
    /// Whether `raw`, a member's value as sent, is this default as `json.dumps` writes it
    /// (what a worker sends for an argument it left alone).
    pub fn is_written_as(self, raw: &str) -> bool {
        match self {
            DefaultValue::Required | DefaultValue::Infinity => false,
            DefaultValue::None => raw == "null",
            DefaultValue::Bool(true) => raw == "true",
            DefaultValue::Bool(false) => raw == "false",
            DefaultValue::Int(i) => is_decimal_text(raw, i),
            // The table's strings need no escape.
            DefaultValue::Str(s) => raw
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .is_some_and(|inner| inner == s),
        }
    }
}

/// Whether `raw` is `i` as Python writes it: no sign unless negative, no leading zero.
/// (This runs for add_task's priority on every add_task; no formatting.)
fn is_decimal_text(raw: &str, i: i64) -> bool {
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, raw),
    };
    negative == (i < 0)
        && !digits.is_empty()
        && (digits == "0" || !digits.starts_with('0'))
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.parse::<u64>().ok() == Some(i.unsigned_abs())
}

/// One parameter of an RPC method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Param {
    pub name: &'static str,
    pub default: DefaultValue,
}

impl Param {
    pub const fn new(name: &'static str, default: DefaultValue) -> Param {
        Param { name, default }
    }
}

const fn param(name: &'static str, default: DefaultValue) -> Param {
    Param::new(name, default)
}

/// Runs a call: checks the arguments and calls the scheduler (each method's own file).
pub(super) type Handler = fn(&mut Scheduler, Args<'_>, f64) -> Result<Reply, ApiError>;

/// One of luigid's RPC methods.
pub struct Method {
    pub name: &'static str,
    /// luigid's parameters after `self`, with their defaults.
    pub params: &'static [Param],
    /// Takes `**kwargs`: other names are accepted (and ignored unless the method reads
    /// them); without it an unknown name is a bad argument.
    pub kwargs: bool,
    /// The role `/api/{name}` needs when access control is on.
    pub role: Role,
    pub effect: Effect,
    /// Runs luigid's full prune (timed-out workers, removable tasks) before its work.
    /// (get_work also prunes when `[scheduler] prune_on_get_work` is set; that is the
    /// scheduler's business, and get_work is journaled anyway.)
    pub prunes: bool,
    /// Its replies may be served from the reply cache while the task table is unchanged:
    /// they depend only on the tasks and the arguments (and the prune, which the cache
    /// checks).
    pub cacheable: bool,
    pub(super) handler: Handler,
}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Method").field("name", &self.name).finish()
    }
}

impl Method {
    /// The call may change state other than through its prune (journaled whatever the
    /// time); the reads, the heartbeat and the reads with a side effect are not.
    pub fn is_mutating(&self) -> bool {
        self.effect == Effect::Write
    }

    /// The call can change some persistent state (its prune included): a journal that
    /// keeps every such call rebuilds the state exactly.
    pub fn changes_state(&self) -> bool {
        self.effect != Effect::Read || self.prunes
    }

    /// The parameter of that name, if luigid's signature has it.
    pub fn param(&self, name: &str) -> Option<&'static Param> {
        self.params.iter().find(|p| p.name == name)
    }
}

/// The method called `name`, if it is one of luigid's.
pub fn method(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

use DefaultValue::{Bool, Required as Req, Str};
use Effect::{Heartbeat, Read, ReadWithSideEffect, Write};
use Role::{Admin, Viewer, Worker};

const NONE: DefaultValue = DefaultValue::None;

/// Every one of luigid 3.8's 39 RPC methods.
///
/// Roles worth a word:
/// - `ping` is `Worker`: it refreshes a worker's liveness and hands out the RPC messages
///   queued for that worker id, which a viewer must not be able to consume.
/// - `count_pending` is `Viewer`: it only counts (a worker needs it too, and has it).
/// - `get_scheduler_message_response` is `Admin`: it *removes* the stored response, and
///   it is the second half of `send_scheduler_message`, which is `Admin`.
/// - `update_metrics_task_started` is `Admin`: no Luigi client calls it (an internal
///   hook luigid happens to expose), so nobody below admin needs it.
/// - `set_worker_processes` is `Admin`: the visualiser's operator control, never sent by
///   a worker about itself.
pub static METHODS: [Method; 39] = [
    Method {
        name: "add_task",
        params: &add_task::PARAMS,
        kwargs: true,
        role: Worker,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: add_task::call,
    },
    Method {
        name: "add_task_batcher",
        params: &[
            param("worker", Req),
            param("task_family", Req),
            param("batched_args", Req),
            param("max_batch_size", DefaultValue::Infinity),
        ],
        kwargs: false,
        role: Worker,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: add_task_batcher::call,
    },
    Method {
        name: "add_worker",
        params: &[param("worker", Req), param("info", Req)],
        kwargs: true,
        role: Worker,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: add_worker::call,
    },
    Method {
        name: "announce_scheduling_failure",
        params: &[
            param("task_name", Req),
            param("family", Req),
            param("params", Req),
            param("expl", Req),
            param("owners", Req),
        ],
        kwargs: true,
        role: Worker,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: announce_scheduling_failure::call,
    },
    Method {
        name: "count_pending",
        params: &[param("worker", Req)],
        kwargs: false,
        role: Viewer,
        effect: ReadWithSideEffect,
        prunes: false,
        cacheable: false,
        handler: count_pending::call,
    },
    Method {
        name: "get_work",
        params: &[
            param("host", NONE),
            param("assistant", Bool(false)),
            param("current_tasks", NONE),
            param("worker", NONE),
        ],
        kwargs: true,
        role: Worker,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: get_work::call,
    },
    Method {
        name: "ping",
        params: &[],
        kwargs: true,
        role: Worker,
        effect: Heartbeat,
        prunes: false,
        cacheable: false,
        handler: ping::call,
    },
    Method {
        name: "set_task_status_message",
        params: &[param("task_id", Req), param("status_message", Req)],
        kwargs: false,
        role: Worker,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: task_status_message::set,
    },
    Method {
        name: "get_task_status_message",
        params: &[param("task_id", Req)],
        kwargs: false,
        role: Viewer,
        effect: Read,
        prunes: false,
        cacheable: false,
        handler: task_status_message::get,
    },
    Method {
        name: "set_task_progress_percentage",
        params: &[param("task_id", Req), param("progress_percentage", Req)],
        kwargs: false,
        role: Worker,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: task_progress_percentage::set,
    },
    Method {
        name: "get_task_progress_percentage",
        params: &[param("task_id", Req)],
        kwargs: false,
        role: Viewer,
        effect: Read,
        prunes: false,
        cacheable: false,
        handler: task_progress_percentage::get,
    },
    Method {
        name: "decrease_running_task_resources",
        params: &[param("task_id", Req), param("decrease_resources", Req)],
        kwargs: false,
        role: Worker,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: running_task_resources::decrease,
    },
    Method {
        name: "get_running_task_resources",
        params: &[param("task_id", Req)],
        kwargs: false,
        role: Viewer,
        effect: Read,
        prunes: false,
        cacheable: false,
        handler: running_task_resources::get,
    },
    Method {
        name: "report_task_statistics",
        params: &[param("task_id", Req), param("statistics", Req)],
        kwargs: false,
        role: Worker,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: report_task_statistics::call,
    },
    Method {
        name: "send_scheduler_message",
        params: &[
            param("worker", Req),
            param("task", Req),
            param("content", Req),
        ],
        kwargs: false,
        role: Admin,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: scheduler_message::send,
    },
    Method {
        name: "add_scheduler_message_response",
        params: &[
            param("task_id", Req),
            param("message_id", Req),
            param("response", Req),
        ],
        kwargs: false,
        role: Worker,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: scheduler_message::add_response,
    },
    Method {
        name: "get_scheduler_message_response",
        params: &[param("task_id", Req), param("message_id", Req)],
        kwargs: false,
        role: Admin,
        effect: ReadWithSideEffect,
        prunes: false,
        cacheable: false,
        handler: scheduler_message::get_response,
    },
    Method {
        name: "graph",
        params: &[],
        kwargs: true,
        role: Viewer,
        effect: Read,
        prunes: true,
        cacheable: true,
        handler: graph::call,
    },
    Method {
        name: "dep_graph",
        params: &[param("task_id", Req), param("include_done", Bool(true))],
        kwargs: true,
        role: Viewer,
        effect: Read,
        prunes: true,
        cacheable: true,
        handler: dep_graph::call,
    },
    Method {
        name: "inverse_dep_graph",
        params: &[param("task_id", Req), param("include_done", Bool(true))],
        kwargs: true,
        role: Viewer,
        effect: Read,
        prunes: true,
        cacheable: true,
        handler: dep_graph::inverse,
    },
    Method {
        name: "task_list",
        params: &[
            param("status", Str("")),
            param("upstream_status", Str("")),
            param("limit", Bool(true)),
            param("search", NONE),
            param("max_shown_tasks", NONE),
        ],
        kwargs: true,
        role: Viewer,
        effect: Read,
        prunes: true,
        cacheable: true,
        handler: task_list::call,
    },
    Method {
        name: "worker_list",
        params: &[param("include_running", Bool(true))],
        kwargs: true,
        role: Viewer,
        effect: Read,
        prunes: true,
        cacheable: false,
        handler: worker_list::call,
    },
    Method {
        name: "resource_list",
        params: &[],
        kwargs: false,
        role: Viewer,
        effect: Read,
        prunes: true,
        cacheable: false,
        handler: resources::list,
    },
    Method {
        name: "task_search",
        params: &[param("task_str", Req)],
        kwargs: true,
        role: Viewer,
        effect: Read,
        prunes: true,
        cacheable: true,
        handler: task_search::call,
    },
    Method {
        name: "re_enable_task",
        params: &[param("task_id", Req)],
        kwargs: false,
        role: Admin,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: re_enable_task::call,
    },
    Method {
        name: "fetch_error",
        params: &[param("task_id", Req)],
        kwargs: true,
        role: Viewer,
        effect: Read,
        prunes: false,
        cacheable: false,
        handler: fetch_error::call,
    },
    Method {
        name: "forgive_failures",
        params: &[param("task_id", NONE)],
        kwargs: false,
        role: Admin,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: forgive_failures::call,
    },
    Method {
        name: "mark_as_done",
        params: &[param("task_id", NONE)],
        kwargs: false,
        role: Admin,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: mark_as_done::call,
    },
    Method {
        name: "disable_worker",
        params: &[param("worker", Req)],
        kwargs: false,
        role: Admin,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: disable_worker::call,
    },
    Method {
        name: "set_worker_processes",
        params: &[param("worker", Req), param("n", Req)],
        kwargs: false,
        role: Admin,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: set_worker_processes::call,
    },
    Method {
        name: "is_pause_enabled",
        params: &[],
        kwargs: false,
        role: Viewer,
        effect: Read,
        prunes: false,
        cacheable: false,
        handler: pause::is_pause_enabled,
    },
    Method {
        name: "is_paused",
        params: &[],
        kwargs: false,
        role: Viewer,
        effect: Read,
        prunes: false,
        cacheable: false,
        handler: pause::is_paused,
    },
    Method {
        name: "pause",
        params: &[],
        kwargs: false,
        role: Admin,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: pause::pause,
    },
    Method {
        name: "unpause",
        params: &[],
        kwargs: false,
        role: Admin,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: pause::unpause,
    },
    Method {
        name: "has_task_history",
        params: &[],
        kwargs: false,
        role: Viewer,
        effect: Read,
        prunes: false,
        cacheable: false,
        handler: has_task_history::call,
    },
    Method {
        name: "update_resource",
        params: &[param("resource", Req), param("amount", Req)],
        kwargs: false,
        role: Admin,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: resources::update_one,
    },
    Method {
        name: "update_resources",
        params: &[],
        kwargs: true,
        role: Admin,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: resources::update,
    },
    Method {
        name: "prune",
        params: &[],
        kwargs: false,
        role: Admin,
        effect: Write,
        prunes: true,
        cacheable: false,
        handler: prune::call,
    },
    Method {
        name: "update_metrics_task_started",
        params: &[param("task", Req)],
        kwargs: false,
        role: Admin,
        effect: Write,
        prunes: false,
        cacheable: false,
        handler: update_metrics_task_started::call,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// luigid 3.8.1's `luigi.rpc.RPC_METHODS`, sorted (`tests/rpc_table.rs` also asks the
    /// installed luigi for them, with their parameters).
    const LUIGID_METHODS: [&str; 39] = [
        "add_scheduler_message_response",
        "add_task",
        "add_task_batcher",
        "add_worker",
        "announce_scheduling_failure",
        "count_pending",
        "decrease_running_task_resources",
        "dep_graph",
        "disable_worker",
        "fetch_error",
        "forgive_failures",
        "get_running_task_resources",
        "get_scheduler_message_response",
        "get_task_progress_percentage",
        "get_task_status_message",
        "get_work",
        "graph",
        "has_task_history",
        "inverse_dep_graph",
        "is_pause_enabled",
        "is_paused",
        "mark_as_done",
        "pause",
        "ping",
        "prune",
        "re_enable_task",
        "report_task_statistics",
        "resource_list",
        "send_scheduler_message",
        "set_task_progress_percentage",
        "set_task_status_message",
        "set_worker_processes",
        "task_list",
        "task_search",
        "unpause",
        "update_metrics_task_started",
        "update_resource",
        "update_resources",
        "worker_list",
    ];

    #[test]
    fn the_table_has_luigids_39_methods_once() {
        let mut names: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        assert_eq!(names, LUIGID_METHODS);
        for name in LUIGID_METHODS {
            assert_eq!(method(name).map(|m| m.name), Some(name));
        }
        for other in [
            "",
            "load",
            "resources",
            "Ping",
            "ping ",
            "m%61rk_as_done",
            "self",
        ] {
            assert!(method(other).is_none(), "{other:?}");
        }
    }

    #[test]
    fn flags_that_depend_on_each_other_agree() {
        for m in &METHODS {
            // The cache is exact only for pure reads (their prune is checked apart).
            if m.cacheable {
                assert!(m.effect == Effect::Read && m.prunes, "{}", m.name);
            }
            // Anything that changes state outside a prune needs more than a viewer.
            if m.is_mutating() {
                assert!(m.role > Role::Viewer, "{}", m.name);
            }
            let mut names: Vec<&str> = m.params.iter().map(|p| p.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), m.params.len(), "{}", m.name);
        }
    }

    #[test]
    fn every_method_a_worker_sends_is_at_most_worker() {
        // The calls luigi.worker and its status reporter make (luigi/worker.py,
        // luigi/rpc.py's RemoteScheduler).
        for m in [
            "add_task",
            "add_task_batcher",
            "add_worker",
            "announce_scheduling_failure",
            "count_pending",
            "get_work",
            "ping",
            "set_task_status_message",
            "set_task_progress_percentage",
            "decrease_running_task_resources",
            "report_task_statistics",
            "add_scheduler_message_response",
        ] {
            assert!(method(m).is_some_and(|m| m.role <= Role::Worker), "{m}");
        }
    }

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::Viewer < Role::Worker && Role::Worker < Role::Admin);
        for r in [Role::Viewer, Role::Worker, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse("none"), None);
    }

    #[test]
    fn defaults_know_their_json_text() {
        assert!(DefaultValue::None.is_written_as("null"));
        assert!(DefaultValue::Bool(true).is_written_as("true"));
        assert!(!DefaultValue::Bool(true).is_written_as("1"));
        assert!(DefaultValue::Int(0).is_written_as("0"));
        for other in ["0.0", "-0", "00", "+0", "1", "", "-", "0 "] {
            assert!(!DefaultValue::Int(0).is_written_as(other), "{other}");
        }
        assert!(DefaultValue::Int(-12).is_written_as("-12"));
        assert!(DefaultValue::Int(i64::MIN).is_written_as("-9223372036854775808"));
        for other in ["12", "-012", "-12.0", "--12"] {
            assert!(!DefaultValue::Int(-12).is_written_as(other), "{other}");
        }
        assert!(DefaultValue::Str("PENDING").is_written_as("\"PENDING\""));
        assert!(DefaultValue::Str("").is_written_as("\"\""));
        assert!(!DefaultValue::Str("PENDING").is_written_as("\"PEND\\u0049NG\""));
        assert!(!DefaultValue::Required.is_written_as("null"));
    }
}

//! Events the scheduler emits for task history and metrics. The scheduler pushes them
//! into a buffer; the caller drains it after each call (`Scheduler::drain_events`).

use serde::{Deserialize, Serialize};

/// One task-history event, emitted at the moments luigid's history hook is called
/// (protocol reference 6.2) and the metrics hooks (section 7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// A status recorded for history: "PENDING", "RUNNING", "DONE", "FAILED", "DISABLED".
    /// `params` are the task's full params (hidden ones included), `host` the worker host
    /// when the event carries one (get_work's `host`).
    TaskStatus {
        task_id: String,
        family: String,
        params: Vec<(String, String)>,
        status: String,
        host: Option<String>,
        now: f64,
    },
    /// Metrics hooks: task started / failed / disabled / done, with the family and, for
    /// done/failed, the execution time in seconds when known.
    TaskStarted {
        family: String,
    },
    TaskFailed {
        family: String,
        execution_secs: Option<f64>,
    },
    TaskDisabled {
        family: String,
    },
    TaskDone {
        family: String,
        execution_secs: Option<f64>,
    },
}

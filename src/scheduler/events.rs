//! Events the scheduler emits for task history and metrics. The scheduler pushes them
//! into a buffer; the caller drains it after each call (`Scheduler::drain_events`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Arc;

/// One task-history event, emitted at the moments luigid's history hook is called
/// (`_update_task_history` in luigi/scheduler.py) and the metrics hooks (luigi/metrics.py).
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
    /// done/failed, the execution time in seconds when known. `task_id` lets a consumer
    /// look up the task's params (Datadog tags, Prometheus parameter labels).
    TaskStarted {
        family: String,
        #[serde(with = "arc_str")]
        task_id: Arc<str>,
    },
    TaskFailed {
        family: String,
        execution_secs: Option<f64>,
        #[serde(with = "arc_str")]
        task_id: Arc<str>,
    },
    TaskDisabled {
        family: String,
        #[serde(with = "arc_str")]
        task_id: Arc<str>,
    },
    TaskDone {
        family: String,
        execution_secs: Option<f64>,
        #[serde(with = "arc_str")]
        task_id: Arc<str>,
    },
    /// The scheduler disabled a task for excessive failures (luigid's
    /// `SimpleTaskState.set_status`, where it sends its disable e-mail unless
    /// `batch_emails`): the task's own retry policy, for the e-mail text.
    ExcessiveFailures {
        task_id: String,
        retry_count: f64,
        disable_window: f64,
    },
    /// add_task reported FAILED with `[scheduler] batch_emails` on (luigid's
    /// `Scheduler.add_task` feeding its BatchNotifier): `expl` is the explanation
    /// decoded as luigid does (None when luigid would not record it), `disabled` whether
    /// the task ended up DISABLED.
    BatchFailure {
        pretty_id: String,
        family: String,
        unbatched_params: Vec<(String, String)>,
        expl: Option<String>,
        owners: Vec<String>,
        disabled: bool,
    },
    /// announce_scheduling_failure with `batch_emails` on.
    SchedulingFailure {
        task_name: String,
        family: String,
        unbatched_params: Vec<(String, String)>,
        expl: String,
        owners: Vec<String>,
    },
    /// A prune ran (luigid checks whether its batch e-mails are due at each prune).
    Pruned,
}

/// Serde for `Arc<str>` without serde's `rc` feature.
mod arc_str {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
        String::deserialize(d).map(Arc::from)
    }
}

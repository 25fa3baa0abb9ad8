//! The scheduler: all task, worker, resource and batcher state, and every RPC method of
//! Luigi 3.8's scheduler with luigid's semantics. Pure: no IO, no clock; every method
//! takes `now` (seconds since the epoch, as a float).
//!
//! Owner: the scheduler work item.

pub mod events;

use serde::{Deserialize, Serialize};

/// `[scheduler]` settings with luigid's defaults (protocol reference 4.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulerConfig {
    pub retry_delay: f64,
    pub remove_delay: f64,
    pub worker_disconnect_delay: f64,
    pub disable_window: f64,
    pub retry_count: f64,
    pub disable_hard_timeout: f64,
    pub disable_persist: f64,
    pub max_shown_tasks: i64,
    pub max_graph_nodes: i64,
    pub record_task_history: bool,
    pub prune_on_get_work: bool,
    pub pause_enabled: bool,
    pub send_messages: bool,
    pub stable_done_cooldown_secs: f64,
    pub batch_emails: bool,
    /// `[resources]`: name -> capacity.
    pub resources: Vec<(String, i64)>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            retry_delay: 900.0,
            remove_delay: 600.0,
            worker_disconnect_delay: 60.0,
            disable_window: 3600.0,
            retry_count: 999999999.0,
            disable_hard_timeout: 999999999.0,
            disable_persist: 86400.0,
            max_shown_tasks: 100000,
            max_graph_nodes: 100000,
            record_task_history: false,
            prune_on_get_work: false,
            pause_enabled: true,
            send_messages: true,
            stable_done_cooldown_secs: 10.0,
            batch_emails: false,
            resources: Vec::new(),
        }
    }
}

/// All scheduler state. Serializable as a whole for snapshots.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Scheduler {}

impl Scheduler {
    pub fn new(_config: SchedulerConfig) -> Scheduler {
        Scheduler {}
    }

    pub fn rebuild_indexes(&mut self) {}

    pub fn apply_config(&mut self, _config: SchedulerConfig) {}

    pub fn prune_needed(&self, _now: f64) -> bool {
        true
    }

    pub fn worker_has_messages(&self, _worker: &str) -> bool {
        false
    }

    pub fn drain_events(&mut self) -> Vec<events::Event> {
        Vec::new()
    }

    pub fn status_counts(&self) -> Vec<(String, usize)> {
        Vec::new()
    }

    pub fn worker_count(&self) -> usize {
        0
    }
}

impl SchedulerConfig {
    pub fn from_ini(
        _ini: &crate::config::Ini,
    ) -> Result<SchedulerConfig, crate::config::ConfigError> {
        Ok(SchedulerConfig::default())
    }
}

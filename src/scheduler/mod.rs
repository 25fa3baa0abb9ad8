//! The scheduler: all task, worker, resource and batcher state, and every RPC method of
//! Luigi 3.8's scheduler with luigid's semantics. Pure: no IO, no clock; every method
//! takes `now` (seconds since the epoch, as a float).
//!
//! Owner: the scheduler work item.

pub mod events;

use serde::{Deserialize, Serialize};

/// `[scheduler]` settings with luigid's defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SchedulerConfig {
    pub retry_delay: f64,
    pub remove_delay: f64,
    pub worker_disconnect_delay: f64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            retry_delay: 900.0,
            remove_delay: 600.0,
            worker_disconnect_delay: 60.0,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Scheduler {}

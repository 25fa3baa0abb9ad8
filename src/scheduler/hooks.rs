//! What the App needs to know about the scheduler beyond the RPC methods: whether a
//! prune would change anything (so unchanged prunes stay out of the journal), whether a
//! heartbeat collects messages, and how a loaded state meets a new configuration.

use serde_json::Value;

use super::types::Status;
use super::{Scheduler, SchedulerConfig};

impl Scheduler {
    /// Conservative: true whenever `prune(now)` might change state. A false answer must
    /// be exact, because such a prune is not journaled.
    pub fn prune_needed(&self, now: f64) -> bool {
        let delay = self.config.worker_disconnect_delay;
        if self
            .workers
            .iter()
            .flatten()
            .any(|w| w.last_active + delay < now)
        {
            return true;
        }
        let assistant = |id: u32| {
            self.workers
                .get(id as usize)
                .and_then(|w| w.as_ref())
                .is_some_and(|w| w.assistant())
        };
        for status in [Status::Running, Status::BatchRunning] {
            for slot in self.bucket(status) {
                if let Some(t) = self.task(slot) {
                    if let Some(wr) = t.worker_running {
                        if !t.stakeholders.contains(&wr) && !assistant(wr) {
                            return true;
                        }
                    }
                }
            }
        }
        if self
            .ix
            .no_stake
            .iter()
            .any(|&s| self.task(s).is_some_and(|t| t.status != Status::Running))
        {
            return true;
        }
        let persist = self.config.disable_persist;
        if self
            .ix
            .auto_disabled
            .first()
            .is_some_and(|&(at, _)| now - at.0 > persist)
        {
            return true;
        }
        if self.config.retry_delay >= 0.0
            && self.ix.retry_at.first().is_some_and(|&(at, _)| at.0 < now)
        {
            return true;
        }
        self.ix
            .remove_at
            .first()
            .is_some_and(|&(at, _)| now >= at.0)
    }

    /// True when this worker has scheduler messages that a ping would hand over.
    pub fn worker_has_messages(&self, worker: &str) -> bool {
        self.ix
            .worker_ids
            .get(worker)
            .and_then(|&id| self.workers.get(id as usize))
            .and_then(|w| w.as_ref())
            .is_some_and(|w| !w.rpc_messages.is_empty())
    }

    /// A loaded state meets the current configuration: settings come from the config;
    /// a `[resources]` entry whose configured value changed since the snapshot takes the
    /// new value, others keep their run-time value (update_resource survives restarts).
    pub fn apply_config(&mut self, config: SchedulerConfig) {
        let old = std::mem::replace(&mut self.config, config);
        for (name, cap) in &self.config.resources {
            let before = old
                .resources
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| *v);
            if before == Some(*cap) {
                continue;
            }
            match self.resources.iter_mut().find(|(n, _)| n == name) {
                Some(entry) => entry.1 = Value::from(*cap),
                None => self.resources.push((name.clone(), Value::from(*cap))),
            }
        }
    }
}

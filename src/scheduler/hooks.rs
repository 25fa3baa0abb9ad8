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
        if self.prunes_held {
            return false;
        }
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

fn f64_opt(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn obj(v: &Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl Scheduler {
    /// Build a scheduler from luigid's state as `persistence::pickle::luigid` exports it
    /// from luigid's pickle (luigid's own field names, JSON containers;
    /// `resources_running_is_resources` when both attributes were one dict).
    pub fn from_luigi_export(v: &Value, config: SchedulerConfig) -> Result<Scheduler, String> {
        use super::types::{RetryPolicy, Task, TaskRecord, Worker, WorkerIndex};
        let mut s = Scheduler::new(config);
        let none = Vec::new();
        let workers = v.get("workers").and_then(Value::as_array).unwrap_or(&none);
        for (seq, w) in workers.iter().enumerate() {
            let name = w
                .get("id")
                .and_then(Value::as_str)
                .ok_or("a worker without an id")?;
            let id = s.intern_worker(name);
            let now = w.get("started").and_then(f64_opt).unwrap_or(0.0);
            s.workers[id as usize] = Some(Worker {
                id,
                reference: w.get("reference").filter(|r| !r.is_null()).cloned(),
                last_active: w.get("last_active").and_then(f64_opt).unwrap_or(now),
                last_get_work: w.get("last_get_work").and_then(f64_opt),
                started: now,
                info: obj(w.get("info").unwrap_or(&Value::Null)),
                disabled: w.get("disabled").and_then(Value::as_bool).unwrap_or(false),
                rpc_messages: w
                    .get("rpc_messages")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                seq: seq as u64,
                ix: WorkerIndex::default(),
            });
            s.worker_counter = seq as u64 + 1;
        }
        let tasks = v.get("tasks").and_then(Value::as_array).unwrap_or(&none);
        let default_policy = s.config.retry_policy();
        for (seq, t) in tasks.iter().enumerate() {
            let get = |k: &str| t.get(k).cloned().unwrap_or(Value::Null);
            let id = t
                .get("id")
                .and_then(Value::as_str)
                .ok_or("a task without an id")?
                .to_string();
            let status_text = t.get("status").and_then(Value::as_str).unwrap_or("PENDING");
            let status = match status_text {
                "SUSPENDED" => Status::Pending,
                other => Status::parse(other)
                    .ok_or_else(|| format!("task {id}: unknown status {other:?}"))?,
            };
            let stakeholders = names(&get("stakeholders"))
                .iter()
                .map(|n| s.intern_worker(n))
                .collect();
            let task_workers = names(&get("workers"))
                .iter()
                .map(|n| s.intern_worker(n))
                .collect();
            let worker_running = t
                .get("worker_running")
                .and_then(Value::as_str)
                .map(|n| s.intern_worker(n));
            let policy = match t.get("retry_policy") {
                Some(p) if p.is_object() => RetryPolicy {
                    retry_count: p["retry_count"]
                        .as_f64()
                        .unwrap_or(default_policy.retry_count),
                    disable_hard_timeout: p["disable_hard_timeout"]
                        .as_f64()
                        .unwrap_or(default_policy.disable_hard_timeout),
                    disable_window: p["disable_window"]
                        .as_f64()
                        .unwrap_or(default_policy.disable_window),
                },
                _ => default_policy,
            };
            let priority = match get("priority") {
                Value::Null => Value::from(0),
                p => p,
            };
            let time = t.get("time").and_then(f64_opt).unwrap_or(0.0);
            let params = obj(&get("params"));
            let vis = obj(&get("param_visibilities"));
            let record = TaskRecord {
                id: id.clone(),
                stakeholders,
                workers: task_workers,
                deps: names(&get("deps")).into_iter().collect(),
                status,
                status_seq: seq as u64,
                time,
                dep_rank: 0,
                updated: t.get("updated").and_then(f64_opt).unwrap_or(time),
                retry: t.get("retry").and_then(f64_opt),
                remove: t.get("remove").and_then(f64_opt),
                worker_running,
                time_running: t.get("time_running").and_then(f64_opt),
                expl: get("expl"),
                prio: Some(super::types::py_num(&priority).unwrap_or(0.0)),
                priority,
                resources: obj(&get("resources")),
                resources_running: t
                    .get("resources_running")
                    .and_then(|r| r.as_object().cloned()),
                rr_alias: t
                    .get("resources_running_is_resources")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                family: t
                    .get("family")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                module: get("module"),
                params: serde_json::Map::new(),
                param_visibilities: vis.clone(),
                public_params: None,
                // Kept as sent (luigid echoes it as it came).
                accepts_messages: t
                    .get("accepts_messages")
                    .cloned()
                    .unwrap_or(Value::Bool(false)),
                retry_policy: policy,
                failures: t
                    .get("failures")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default(),
                first_failure_time: t.get("first_failure_time").and_then(f64_opt),
                tracking_url: get("tracking_url"),
                status_message: get("status_message"),
                progress_percentage: get("progress_percentage"),
                scheduler_message_responses: obj(&get("scheduler_message_responses")),
                scheduler_disable_time: t.get("scheduler_disable_time").and_then(f64_opt),
                runnable: t.get("runnable").and_then(Value::as_bool).unwrap_or(false),
                batchable: t.get("batchable").and_then(Value::as_bool).unwrap_or(false),
                batch_id: t
                    .get("batch_id")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            };
            let mut task = Task::from(record);
            task.set_params(&params, &vis);
            s.tasks.push(Some(Box::new(task)));
        }
        if let Some(b) = v.get("task_batchers").and_then(Value::as_object) {
            for (worker, fams) in b {
                let Some(fams) = fams.as_object() else {
                    continue;
                };
                for (family, spec) in fams {
                    let args = names(spec.get(0).unwrap_or(&Value::Null));
                    // Unlimited: None, or luigid's float("inf") default.
                    let max = spec.get(1).and_then(super::types::py_num);
                    let max = max.filter(|m| m.is_finite());
                    s.batchers.entry(worker.clone()).or_default().insert(
                        family.clone(),
                        super::Batcher {
                            args,
                            max_batch_size: max,
                        },
                    );
                }
            }
        }
        s.rebuild_indexes();
        Ok(s)
    }
}

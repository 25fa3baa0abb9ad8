//! Small helpers so that each test reads like the RPC conversation it models.

pub use luigid_rs::api::{self, ApiError};
pub use luigid_rs::scheduler::{Scheduler, SchedulerConfig};
pub use serde_json::{json, Map, Value};
pub use std::collections::BTreeSet;

/// The worker id Luigi's own suite uses.
pub const W: &str = "myworker";

/// The configuration of Luigi's scheduler API tests.
pub fn test_config() -> SchedulerConfig {
    SchedulerConfig {
        retry_delay: 100.0,
        remove_delay: 1000.0,
        worker_disconnect_delay: 10.0,
        disable_persist: 10.0,
        disable_window: 10.0,
        retry_count: 3.0,
        disable_hard_timeout: 3600.0,
        stable_done_cooldown_secs: 0.0,
        ..Default::default()
    }
}

/// A scheduler plus its clock.
pub struct T {
    pub s: Scheduler,
    pub now: f64,
    pinned: bool,
}

impl T {
    /// Scheduler with the Luigi test configuration.
    pub fn new() -> T {
        T::with(test_config())
    }

    /// Scheduler with an explicit configuration.
    pub fn with(config: SchedulerConfig) -> T {
        T {
            s: Scheduler::new(config),
            now: 1_700_000_000.0,
            pinned: false,
        }
    }

    /// Pin the clock at `t` (like the Python suite's setTime).
    pub fn at(&mut self, t: f64) -> &mut T {
        self.now = t;
        self.pinned = true;
        self
    }

    /// Raw call: the args value must be a JSON object.
    pub fn raw(&mut self, method: &str, args: Value) -> Result<Value, ApiError> {
        if !self.pinned {
            self.now += 0.001;
        }
        let empty = Map::new();
        let map = args.as_object().unwrap_or(&empty);
        api::call_map(&mut self.s, method, map, self.now)
    }

    /// Call that must succeed; returns luigid's `response` value.
    pub fn c(&mut self, method: &str, args: Value) -> Value {
        match self.raw(method, args.clone()) {
            Ok(v) => v,
            Err(e) => panic!("{method}({args}) failed: {e:?}"),
        }
    }

    /// Call that must fail with BadArgument; returns the message.
    pub fn bad(&mut self, method: &str, args: Value) -> String {
        match self.raw(method, args.clone()) {
            Err(ApiError::BadArgument(m)) => m,
            other => panic!("{method}({args}): expected BadArgument, got {other:?}"),
        }
    }

    /// add_task by `worker` of `task_id` with extra keyword arguments.
    pub fn add(&mut self, worker: &str, task_id: &str, extra: Value) -> Value {
        let mut args = Map::new();
        args.insert("worker".into(), json!(worker));
        args.insert("task_id".into(), json!(task_id));
        if let Value::Object(m) = extra {
            args.extend(m);
        }
        self.c("add_task", Value::Object(args))
    }

    /// add_task of a plain pending task.
    pub fn add1(&mut self, worker: &str, task_id: &str) -> Value {
        self.add(worker, task_id, json!({}))
    }

    /// add_task with a status.
    pub fn set(&mut self, worker: &str, task_id: &str, status: &str) -> Value {
        self.add(worker, task_id, json!({ "status": status }))
    }

    /// Full get_work reply.
    pub fn gw(&mut self, worker: &str, extra: Value) -> Value {
        let mut args = Map::new();
        args.insert("worker".into(), json!(worker));
        if let Value::Object(m) = extra {
            args.extend(m);
        }
        self.c("get_work", Value::Object(args))
    }

    /// The task id get_work hands out (None when it hands out nothing or a batch).
    pub fn work(&mut self, worker: &str) -> Option<String> {
        self.gw(worker, json!({}))["task_id"]
            .as_str()
            .map(str::to_string)
    }

    /// The task id an assistant gets.
    pub fn assist(&mut self, worker: &str) -> Option<String> {
        self.gw(worker, json!({"assistant": true}))["task_id"]
            .as_str()
            .map(str::to_string)
    }

    pub fn ping(&mut self, worker: &str) -> Value {
        self.c("ping", json!({ "worker": worker }))
    }

    pub fn prune(&mut self) {
        self.c("prune", json!({}));
    }

    pub fn add_worker(&mut self, worker: &str, info: Value) {
        self.c("add_worker", json!({"worker": worker, "info": info}));
    }

    pub fn disable_worker(&mut self, worker: &str) {
        self.c("disable_worker", json!({ "worker": worker }));
    }

    pub fn update_resources(&mut self, res: Value) {
        self.c("update_resources", res);
    }

    pub fn batcher(&mut self, worker: &str, family: &str, args: &[&str], max: Option<i64>) {
        let mut a = json!({"worker": worker, "task_family": family, "batched_args": args});
        if let Some(m) = max {
            a["max_batch_size"] = json!(m);
        }
        self.c("add_task_batcher", a);
    }

    /// task_list(status, upstream_status).
    pub fn tl(&mut self, status: &str, upstream: &str) -> Value {
        self.c(
            "task_list",
            json!({"status": status, "upstream_status": upstream}),
        )
    }

    /// Ids of task_list(status, upstream_status).
    pub fn ids(&mut self, status: &str, upstream: &str) -> BTreeSet<String> {
        keys(&self.tl(status, upstream))
    }

    /// Status of one task as task_list("", "") shows it.
    pub fn status(&mut self, task_id: &str) -> Value {
        self.tl("", "")[task_id]["status"].clone()
    }

    /// Luigi's check_task_order: get_work hands out `order` one by one (each then reported
    /// DONE) and nothing after.
    pub fn order(&mut self, order: &[&str]) {
        for id in order {
            assert_eq!(self.work(W).as_deref(), Some(*id), "expected {id} next");
            self.set(W, id, "DONE");
        }
        assert_eq!(self.work(W), None, "expected no more work");
    }

    pub fn count_pending(&mut self, worker: &str) -> Value {
        self.c("count_pending", json!({ "worker": worker }))
    }
}

/// The keys of a JSON object as a set.
pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// A set of ids from a literal list.
pub fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Strings of a JSON array, sorted.
pub fn sorted_strs(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Compare numbers by value (Python's 100 and 100.0 are the same number).
pub fn assert_num(v: &Value, expected: f64) {
    assert_eq!(v.as_f64(), Some(expected), "expected {expected}, got {v}");
}

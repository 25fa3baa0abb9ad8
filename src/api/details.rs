//! `luigid_rs_task_details`: a read-only method of luigid-rs's own (luigid has no such
//! method) that tells the visualiser who disabled a task and when the scheduler will
//! re-enable it. luigid's replies stay as luigid's: `task_list` and the other 39 methods
//! carry none of this (their replies are compared with the real luigid's), so the page
//! asks here for the one task it shows.
//!
//! Answers `null` for an unknown task, otherwise:
//! - `status`; `disabled_by`: `"scheduler"` (DISABLED after too many failures: luigi's
//!   scheduler.py `set_status` sets `scheduler_disable_time`), `"worker"` (a worker sent
//!   DISABLED, which clears it) or `null` (not disabled);
//! - `scheduler_disable_time`, `disable_persist` (the `[scheduler]` setting) and
//!   `re_enable_time` = their sum: the first prune after it re-enables the task
//!   (luigi's scheduler.py `update_status`: strictly more than `disable_persist` later);
//! - `disable_reason`: `"failures"` (`failures_at_disable` failures within
//!   `disable_window` reached `retry_count`) or `"hard_timeout"` (failing for
//!   `disable_hard_timeout` since `first_failure_time`);
//! - `retry_policy` (the task's, as its worker sent it), `failures_in_window` now.

use serde_json::{json, Value};

use crate::scheduler::{Scheduler, Status};

/// The method's name under `/api/`.
pub const TASK_DETAILS: &str = "luigid_rs_task_details";

/// Whether `name` is one of luigid-rs's own read-only methods (not luigid's 39).
pub fn is_own_method(name: &str) -> bool {
    name == TASK_DETAILS
}

fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// The reply for `task_id` at time `now` (reads only; no prune).
pub fn task_details(s: &Scheduler, task_id: &str, now: f64) -> Value {
    let Some(t) = s.task_by_id(task_id) else {
        return Value::Null;
    };
    let x = t.x();
    let policy = *t.retry_policy;
    let in_window = |end: f64| {
        x.failures
            .iter()
            .filter(|&&f| f >= end - policy.disable_window && f <= end)
            .count()
    };
    let disabled = t.status == Status::Disabled;
    let sdt = x.scheduler_disable_time.filter(|_| disabled);
    let persist = s.config.disable_persist;
    let (by, reason, at_disable) = match (disabled, sdt) {
        (false, _) => (Value::Null, Value::Null, Value::Null),
        (true, None) => (json!("worker"), Value::Null, Value::Null),
        (true, Some(at)) => {
            let n = in_window(at);
            let reason = if n as f64 >= policy.retry_count {
                "failures"
            } else {
                "hard_timeout"
            };
            (json!("scheduler"), json!(reason), json!(n))
        }
    };
    json!({
        "task_id": task_id,
        "status": t.status.as_str(),
        "disabled_by": by,
        "scheduler_disable_time": sdt.map_or(Value::Null, num),
        "disable_persist": num(persist),
        "re_enable_time": sdt.map_or(Value::Null, |at| num(at + persist)),
        "disable_reason": reason,
        "failures_at_disable": at_disable,
        "failures_in_window": in_window(now),
        "first_failure_time": x.first_failure_time.map_or(Value::Null, num),
        "retry_policy": {
            "retry_count": num(policy.retry_count),
            "disable_window": num(policy.disable_window),
            "disable_hard_timeout": num(policy.disable_hard_timeout),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::SchedulerConfig;

    fn call(s: &mut Scheduler, method: &str, args: Value, now: f64) -> Value {
        let Value::Object(args) = args else {
            panic!("arguments must be an object")
        };
        match crate::api::call_map(s, method, &args, now) {
            Ok(v) => v,
            Err(e) => panic!("{method}: {e}"),
        }
    }

    fn scheduler(persist: f64) -> Scheduler {
        Scheduler::new(SchedulerConfig {
            disable_persist: persist,
            ..SchedulerConfig::default()
        })
    }

    fn fail(s: &mut Scheduler, id: &str, now: f64) {
        let policy =
            json!({"retry_count": 2, "disable_window": 100, "disable_hard_timeout": 10000});
        call(
            s,
            "add_task",
            json!({"task_id": id, "worker": "w", "status": "FAILED", "family": "F",
                   "retry_policy_dict": policy}),
            now,
        );
    }

    #[test]
    fn scheduler_disable_after_failures_in_the_window() {
        let mut s = scheduler(600.0);
        fail(&mut s, "F_1", 1000.0);
        assert_eq!(task_details(&s, "F_1", 1001.0)["disabled_by"], Value::Null);
        assert_eq!(task_details(&s, "F_1", 1001.0)["failures_in_window"], 1);
        fail(&mut s, "F_1", 1050.0);
        let d = task_details(&s, "F_1", 1060.0);
        assert_eq!(d["status"], "DISABLED");
        assert_eq!(d["disabled_by"], "scheduler");
        assert_eq!(d["disable_reason"], "failures");
        assert_eq!(d["failures_at_disable"], 2);
        assert_eq!(d["scheduler_disable_time"], 1050.0);
        assert_eq!(d["disable_persist"], 600.0);
        assert_eq!(d["re_enable_time"], 1650.0);
        assert_eq!(d["retry_policy"]["retry_count"], 2.0);
        // later the failures leave the window; the count at the disable stays
        let d = task_details(&s, "F_1", 1200.0);
        assert_eq!(d["failures_in_window"], 0);
        assert_eq!(d["failures_at_disable"], 2);
        // the scheduler re-enables it after disable_persist, as reported
        call(&mut s, "prune", json!({}), 1650.5);
        let d = task_details(&s, "F_1", 1651.0);
        assert_ne!(d["status"], "DISABLED");
        assert_eq!(d["disabled_by"], Value::Null);
    }

    #[test]
    fn disabled_for_failing_longer_than_the_hard_timeout() {
        let mut s = scheduler(600.0);
        let policy = json!({"retry_count": 5, "disable_window": 50, "disable_hard_timeout": 100});
        for now in [1000.0, 1200.0] {
            call(
                &mut s,
                "add_task",
                json!({"task_id": "H_1", "worker": "w", "status": "FAILED", "family": "H",
                       "retry_policy_dict": policy}),
                now,
            );
        }
        let d = task_details(&s, "H_1", 1201.0);
        assert_eq!(d["disabled_by"], "scheduler");
        assert_eq!(d["disable_reason"], "hard_timeout");
        assert_eq!(d["failures_at_disable"], 1);
        assert_eq!(d["first_failure_time"], 1000.0);
        assert_eq!(d["re_enable_time"], 1800.0);
    }

    #[test]
    fn a_worker_disable_and_an_unknown_task() {
        let mut s = scheduler(600.0);
        call(
            &mut s,
            "add_task",
            json!({"task_id": "M_1", "worker": "w", "status": "DISABLED", "family": "M"}),
            5.0,
        );
        let d = task_details(&s, "M_1", 6.0);
        assert_eq!(d["disabled_by"], "worker");
        assert_eq!(d["scheduler_disable_time"], Value::Null);
        assert_eq!(d["re_enable_time"], Value::Null);
        assert_eq!(task_details(&s, "nope", 6.0), Value::Null);
    }
}

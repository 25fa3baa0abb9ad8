//! `[scheduler]` and `[resources]` read into the scheduler's plain [`SchedulerConfig`]:
//! the scheduler itself knows nothing of configuration files.

use super::{ConfigError, Ini};
use crate::scheduler::SchedulerConfig;

/// Read `[scheduler]` and `[resources]` with luigid's types: floats for the delays,
/// Python `int()` for the counts (as luigid's IntParameter), strict bools.
pub fn scheduler_config(ini: &Ini) -> Result<SchedulerConfig, ConfigError> {
    let d = SchedulerConfig::default();
    let s = "scheduler";
    let int = |key: &str, def: f64| -> Result<f64, ConfigError> {
        ini.get_i64(s, key, def as i64).map(|v| v as f64)
    };
    let mut resources = Vec::new();
    // In file order, without keys inherited from [DEFAULT] (luigid's getintdict).
    for (key, _) in ini.section("resources") {
        resources.push((key.clone(), ini.get_i64("resources", &key, 0)?));
    }
    Ok(SchedulerConfig {
        retry_delay: ini.get_f64(s, "retry_delay", d.retry_delay)?,
        remove_delay: ini.get_f64(s, "remove_delay", d.remove_delay)?,
        worker_disconnect_delay: ini.get_f64(
            s,
            "worker_disconnect_delay",
            d.worker_disconnect_delay,
        )?,
        disable_window: int("disable_window", d.disable_window)?,
        retry_count: int("retry_count", d.retry_count)?,
        disable_hard_timeout: int("disable_hard_timeout", d.disable_hard_timeout)?,
        disable_persist: int("disable_persist", d.disable_persist)?,
        max_shown_tasks: ini.get_i64(s, "max_shown_tasks", d.max_shown_tasks)?,
        max_graph_nodes: ini.get_i64(s, "max_graph_nodes", d.max_graph_nodes)?,
        record_task_history: ini.get_bool(s, "record_task_history", false)?,
        prune_on_get_work: ini.get_bool(s, "prune_on_get_work", false)?,
        pause_enabled: ini.get_bool(s, "pause_enabled", true)?,
        send_messages: ini.get_bool(s, "send_messages", true)?,
        stable_done_cooldown_secs: int("stable_done_cooldown_secs", d.stable_done_cooldown_secs)?,
        batch_emails: ini.get_bool(s, "batch_emails", false)?,
        resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_ini() {
        let mut ini = Ini::default();
        ini.set("scheduler", "retry-delay", "5.5");
        ini.set("scheduler", "retry_count", " 3");
        ini.set("scheduler", "record_task_history", "True");
        ini.set("resources", "gpu", "2");
        ini.set("resources", "shared", "1");
        ini.set("DEFAULT", "shared", "1");
        let c = scheduler_config(&ini).unwrap();
        assert_eq!(c.retry_delay, 5.5);
        assert_eq!(c.retry_count, 3.0);
        assert!(c.record_task_history);
        assert_eq!(c.resources, vec![("gpu".to_string(), 2)]);
        ini.set("scheduler", "disable_window", "5.0");
        assert!(scheduler_config(&ini).is_err());
        ini.set("scheduler", "disable_window", "5");
        ini.set("scheduler", "pause_enabled", "yes");
        assert!(scheduler_config(&ini).is_err());
    }
}

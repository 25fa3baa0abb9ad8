//! Roles and the one table that says which role each RPC method needs.

/// What a principal may do. Ordered: `Viewer < Worker < Admin`; a role includes every
/// right of the roles below it.
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

/// Every one of luigid's 39 RPC methods and the role it needs. Methods needing more than
/// `Viewer` change state, so with access control on they must come as POST.
///
/// Choices worth a word:
/// - `ping` is `Worker`: it refreshes a worker's liveness and hands out the RPC messages
///   queued for that worker id, which a viewer must not be able to consume.
/// - `count_pending` is `Viewer`: it only counts (a worker needs it too, and has it).
/// - `get_scheduler_message_response` is `Admin`: it *removes* the stored response, and it is
///   the second half of `send_scheduler_message`, which is `Admin`.
/// - `update_metrics_task_started` is `Admin`: no Luigi client calls it (an internal hook
///   luigid happens to expose), so nobody below admin needs it.
/// - `set_worker_processes` is `Admin`: the visualiser's operator control, never sent by a
///   worker about itself.
pub const METHOD_ROLES: &[(&str, Role)] = &[
    // Read-only: the visualiser, luigi-grep, scripts.
    ("count_pending", Role::Viewer),
    ("dep_graph", Role::Viewer),
    ("fetch_error", Role::Viewer),
    ("get_running_task_resources", Role::Viewer),
    ("get_task_progress_percentage", Role::Viewer),
    ("get_task_status_message", Role::Viewer),
    ("graph", Role::Viewer),
    ("has_task_history", Role::Viewer),
    ("inverse_dep_graph", Role::Viewer),
    ("is_pause_enabled", Role::Viewer),
    ("is_paused", Role::Viewer),
    ("resource_list", Role::Viewer),
    ("task_list", Role::Viewer),
    ("task_search", Role::Viewer),
    ("worker_list", Role::Viewer),
    // What luigi.worker sends while scheduling and running tasks.
    ("add_scheduler_message_response", Role::Worker),
    ("add_task", Role::Worker),
    ("add_task_batcher", Role::Worker),
    ("add_worker", Role::Worker),
    ("announce_scheduling_failure", Role::Worker),
    ("decrease_running_task_resources", Role::Worker),
    ("get_work", Role::Worker),
    ("ping", Role::Worker),
    ("report_task_statistics", Role::Worker),
    ("set_task_progress_percentage", Role::Worker),
    ("set_task_status_message", Role::Worker),
    // Operator actions.
    ("disable_worker", Role::Admin),
    ("forgive_failures", Role::Admin),
    ("get_scheduler_message_response", Role::Admin),
    ("mark_as_done", Role::Admin),
    ("pause", Role::Admin),
    ("prune", Role::Admin),
    ("re_enable_task", Role::Admin),
    ("send_scheduler_message", Role::Admin),
    ("set_worker_processes", Role::Admin),
    ("unpause", Role::Admin),
    ("update_metrics_task_started", Role::Admin),
    ("update_resource", Role::Admin),
    ("update_resources", Role::Admin),
];

/// luigid-rs's own methods (luigid has none of these), kept apart from luigid's 39.
/// `luigid_rs_task_details` only reads (see `crate::api::details`).
pub const OWN_METHOD_ROLES: &[(&str, Role)] = &[("luigid_rs_task_details", Role::Viewer)];

/// The role `/api/{method}` needs; `method` is the percent-decoded name the router
/// dispatches. A name not in [`METHOD_ROLES`] or [`OWN_METHOD_ROLES`] needs `Admin`:
/// failing closed means a method added to the API later, or a name spelled differently
/// from what the API dispatches, is never open to everyone by accident (the API answers
/// 404 for real unknown names).
pub fn required_role(method: &str) -> Role {
    METHOD_ROLES
        .iter()
        .chain(OWN_METHOD_ROLES)
        .find(|(m, _)| *m == method)
        .map(|(_, r)| *r)
        .unwrap_or(Role::Admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_methods_are_apart_and_readable_by_a_viewer() {
        assert_eq!(required_role("luigid_rs_task_details"), Role::Viewer);
        for (m, _) in OWN_METHOD_ROLES {
            assert!(!METHOD_ROLES.iter().any(|(l, _)| l == m), "{m}");
        }
    }

    #[test]
    fn table_has_the_39_methods_once() {
        assert_eq!(METHOD_ROLES.len(), 39);
        let mut names: Vec<&str> = METHOD_ROLES.iter().map(|(m, _)| *m).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 39);
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
    fn unknown_and_encoded_names_fail_closed() {
        assert_eq!(required_role("nope"), Role::Admin);
        assert_eq!(required_role("m%61rk_as_done"), Role::Admin);
        assert_eq!(required_role(""), Role::Admin);
        assert_eq!(required_role("task_list"), Role::Viewer);
        assert_eq!(required_role("get_work"), Role::Worker);
    }

    #[test]
    fn every_method_a_worker_sends_is_at_most_worker() {
        // The calls luigi.worker and its status reporter make (protocol reference 2.1, "W").
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
            assert!(required_role(m) <= Role::Worker, "{m}");
        }
    }
}

//! The role each RPC method needs: the api table's (`crate::api::METHODS`).

pub use crate::api::Role;

/// luigid-rs's own methods (luigid has none of these), kept apart from luigid's 39.
/// `luigid_rs_task_details` only reads (see `crate::api::details`).
pub const OWN_METHOD_ROLES: &[(&str, Role)] = &[("luigid_rs_task_details", Role::Viewer)];

/// The role `/api/{method}` needs; `method` is the percent-decoded name the router
/// dispatches. A name that is neither one of the api table's methods nor one of
/// [`OWN_METHOD_ROLES`] needs `Admin`: failing closed means a name spelled differently
/// from what the api dispatches is never open to everyone by accident (the api answers
/// 404 for real unknown names).
pub fn required_role(method: &str) -> Role {
    crate::api::method(method)
        .map(|m| m.role)
        .or_else(|| {
            OWN_METHOD_ROLES
                .iter()
                .find(|(m, _)| *m == method)
                .map(|(_, r)| *r)
        })
        .unwrap_or(Role::Admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_methods_are_apart_and_readable_by_a_viewer() {
        assert_eq!(required_role("luigid_rs_task_details"), Role::Viewer);
        for (m, _) in OWN_METHOD_ROLES {
            assert!(crate::api::method(m).is_none(), "{m}");
        }
    }

    #[test]
    fn unknown_and_encoded_names_fail_closed() {
        assert_eq!(required_role("nope"), Role::Admin);
        assert_eq!(required_role("m%61rk_as_done"), Role::Admin);
        assert_eq!(required_role(""), Role::Admin);
        assert_eq!(required_role("task_list"), Role::Viewer);
        assert_eq!(required_role("get_work"), Role::Worker);
    }
}

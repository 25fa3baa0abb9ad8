//! The role each RPC method needs: the api table's (`crate::api::METHODS`).

pub use crate::api::Role;

/// The role `/api/{method}` needs; `method` is the percent-decoded name the router
/// dispatches. A name that is not one of the api table's methods needs `Admin`: failing
/// closed means a name spelled differently from what the api dispatches is never open
/// to everyone by accident (the api answers 404 for real unknown names).
pub fn required_role(method: &str) -> Role {
    crate::api::method(method).map_or(Role::Admin, |m| m.role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_encoded_names_fail_closed() {
        assert_eq!(required_role("nope"), Role::Admin);
        assert_eq!(required_role("m%61rk_as_done"), Role::Admin);
        assert_eq!(required_role(""), Role::Admin);
        assert_eq!(required_role("task_list"), Role::Viewer);
        assert_eq!(required_role("get_work"), Role::Worker);
    }
}

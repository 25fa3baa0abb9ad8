//! Placeholder; filled by its work item.

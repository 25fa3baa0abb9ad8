//! Code shared by the bench targets (each includes this file with `#[path]`):
//! the trivial ceiling server and the request bodies a Luigi worker sends.
#![allow(dead_code)]

pub mod trivial;
pub mod workload;

//! libFuzzer entry for `checks/rpc_args.rs` (tests/hostile_regressions.rs runs the same check
//! on the seeds and on every finding).
#![no_main]

#[path = "../checks/rpc_args.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));

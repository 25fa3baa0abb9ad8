//! libFuzzer entry for `checks/pickle.rs` (tests/hostile_regressions.rs runs the same check
//! on the seeds and on every finding).
#![no_main]

#[path = "../checks/pickle.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));

//! libFuzzer entry for `checks/journal.rs` (tests/hostile_regressions.rs runs the same check
//! on the seeds and on every finding).
#![no_main]

#[path = "../checks/journal.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));

//! libFuzzer entry for `checks/forms.rs` (the fallback driver runs the same check).
#![no_main]

// Only the sans-IO HTTP module is compiled, not the daemon (no SQLite build).
#[allow(dead_code, unused_imports)]
#[path = "../../src/http/mod.rs"]
mod http;

#[path = "../checks/forms.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));

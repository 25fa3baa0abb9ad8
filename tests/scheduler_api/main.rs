//! Scheduler behaviour through the RPC layer, one rule per test.
//!
//! These re-express, in our own words, the cases of Luigi's scheduler test-suite
//! (test/scheduler_api_test.py, test/scheduler_test.py) plus rules of luigid found by
//! running its Scheduler in-process. Every call goes through `api::call` with the keyword
//! arguments a worker would send; time is driven through `now` instead of a patched clock.
//!
//! Clock model (the same as the Python suite's): until a test pins the time with `at(t)`,
//! every call happens 1 ms after the previous one, so tasks added one after another have
//! increasing creation times. After `at(t)` the clock stands still at `t`.

mod common;

mod add_task;
mod batching;
mod errors;
mod failures;
mod get_work;
mod lists;
mod misc;
mod pruning;
mod resources;
mod scale;

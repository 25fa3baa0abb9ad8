//! luigid-rs: a drop-in replacement for `luigid`, the central scheduler of Luigi.
//!
//! # Layout
//! One request, from socket to scheduler and back, goes through these modules in this
//! order (ARCHITECTURE.md walks it step by step):
//! - [`server`]: the only module that touches sockets: the mio loop, timer wheel, signals.
//! - [`http`]: sans-IO HTTP/1.1: bytes in, [`http::Request`] out; [`http::Response`] in,
//!   bytes out.
//! - [`app`]: what the loop owns and calls: `handle` per request, the journal's group
//!   commit, timers, shutdown; [`app::App::rpc`] journals and runs one RPC call.
//! - [`router`]: path + method -> handler; CORS, the reply cache, static files, error pages.
//! - [`auth`]: access control (the role each RPC method needs is the api table's).
//! - [`api`]: the one table of luigid's 39 RPC methods ([`api::METHODS`]), one file per
//!   method with its decoding, and the one call path ([`api::call`]) into the scheduler.
//! - [`scheduler`]: pure task/worker state, every method takes `now`. No IO; it names
//!   only [`pyjson`] and [`clock`] (`tests/layout.rs` checks the import directions).
//! - [`persistence`]: snapshots and the write-ahead journal.
//! - [`ha`]: with `[luigid_rs] state_store`, the journal and snapshots in PostgreSQL
//!   instead, and the leader election of an active/standby pair.
//!
//! Beside the request path:
//! - [`pyjson`]: JSON the way Python's `json` reads and writes it (NaN, Infinity,
//!   separators), and Python's `repr(float)` ([`pyjson::float`]); a leaf that imports
//!   nothing of the crate.
//! - [`history`]: task history (SQLite, PostgreSQL, MySQL) and its pages.
//! - [`metrics`]: counters and the Prometheus exposition.
//! - [`notify`]: e-mail (SMTP) and Datadog (DogStatsD) notifications.
//! - [`static_files`]: the visualiser's files, embedded at build time.
//! - [`config`]: luigi.cfg reading and typed settings (the scheduler's included).
//! - [`clock`]: the wall clock, read in one place.
//! - [`logfile`]: the daily-rotated server log file.

pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod ha;
pub mod history;
pub mod http;
pub mod logfile;
pub mod metrics;
pub mod notify;
pub mod persistence;
pub mod pyjson;
pub mod router;
pub mod scheduler;
pub mod server;
pub mod static_files;
#[cfg(test)]
mod test_rng;

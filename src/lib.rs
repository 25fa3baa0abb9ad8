//! luigid-rs: a drop-in replacement for `luigid`, the central scheduler of Luigi.
//!
//! # Layout
//! - [`http`]: sans-IO HTTP/1.1: bytes in, [`http::Request`] out; [`http::Response`] in, bytes out.
//! - [`server`]: the only module that touches sockets: the mio loop, timer wheel, signals.
//! - [`router`]: path + method -> handler; CORS, static files, error pages.
//! - [`api`]: the table of RPC methods: decodes `data`, calls the scheduler, encodes the reply.
//! - [`json`]: JSON the way Python's `json` reads and writes it (NaN, Infinity, separators).
//! - [`scheduler`]: pure task/worker state, every method takes `now`. No IO.
//! - [`persistence`]: snapshots and the write-ahead journal.
//! - [`history`]: task history in SQLite and its pages.
//! - [`metrics`]: counters and the Prometheus exposition.
//! - [`notify`]: e-mail (SMTP) and Datadog (DogStatsD) notifications.
//! - [`auth`]: access control.
//! - [`config`]: luigi.cfg reading and typed settings.
//! - [`logfile`]: the daily-rotated server log file.
//! - [`app`]: ties the pieces together for one request; owned by the server loop.

pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod history;
pub mod http;
pub mod json;
pub mod logfile;
pub mod metrics;
pub mod notify;
pub mod persistence;
pub mod pyfloat;
pub mod router;
pub mod scheduler;
pub mod server;
pub mod static_files;
#[cfg(test)]
mod test_rng;

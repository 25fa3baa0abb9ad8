//! The application state one server loop owns, and the hooks the loop calls:
//! `handle` per request, `on_tick` from the timer wheel, `before_flush` once per loop
//! iteration (journal group commit), `shutdown` on a stop signal.

use crate::config::Ini;
use crate::http::{Request, Response};
use crate::scheduler::Scheduler;

/// Who is on the other end of a connection (for logs, rate limits and peer credentials).
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// "127.0.0.1:5555" for TCP, "unix" for a UNIX socket.
    pub addr: String,
    /// Peer uid from SO_PEERCRED on a UNIX socket.
    pub uid: Option<u32>,
}

pub struct App {
    pub ini: Ini,
    pub scheduler: Scheduler,
    /// Router settings ([cors], static root), parsed once. (Added by the router item.)
    pub router: crate::router::RouterState,
}

impl App {
    /// Build everything from the merged configuration (command-line flags are already
    /// applied to `ini` as overrides). Errors are startup errors a user can act on.
    pub fn from_ini(ini: Ini) -> Result<App, String> {
        // Router item: a bad [cors] or [luigid_rs] static_dir is a startup error.
        crate::router::RouterState::from_ini(&ini)?;
        Ok(App::new(ini))
    }

    pub fn new(ini: Ini) -> App {
        App {
            router: crate::router::RouterState::from_ini_lenient(&ini),
            ini,
            scheduler: Scheduler::default(),
        }
    }

    /// Answer one request at time `now` (seconds since the epoch).
    pub fn handle(&mut self, req: &Request, peer: &Peer, now: f64) -> Response {
        crate::router::route(self, req, peer, now)
    }

    /// Called by the loop once per iteration, after all requests of the iteration were
    /// handled and before their replies are written (group commit point).
    pub fn before_flush(&mut self, _now: f64) {}

    /// The periodic prune, every 60 s as luigid (first one 60 s after start).
    pub fn on_prune_timer(&mut self, _now: f64) {}

    /// Called about once a second by the timer wheel: journal fsync (`everysec`),
    /// periodic snapshots, history batch commits.
    pub fn on_tick(&mut self, _now: f64) {}

    /// The loop reports its number of open connections (for /metrics).
    pub fn set_open_connections(&mut self, _open: usize) {}

    /// A stop signal arrived: save state. Called once, before the loop exits.
    pub fn shutdown(&mut self, _now: f64) {}
}

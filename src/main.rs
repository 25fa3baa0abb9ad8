//! `luigid-rs`: command line, configuration, logging, daemonizing; then the server loop.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::exit;

use luigid_rs::app::App;
use luigid_rs::config::{self, Ini, ServerConfig};
use luigid_rs::server::{self, Bound};

const VERSION: &str = env!("CARGO_PKG_VERSION");

const USAGE: &str = "\
usage: luigid-rs [--help] [--version] [--background] [--pidfile PIDFILE] [--logdir LOGDIR]
                 [--state-path STATE_PATH] [--address ADDRESS] [--unix-socket UNIX_SOCKET]
                 [--port PORT] [--config FILE] [--history-db PATH] [--static-dir DIR]
                 [--start-empty]";

const HELP: &str = "
Central scheduler for Luigi workers, a drop-in replacement for luigid.

options (as luigid):
  --help                    show this help and exit
  --version                 show the version and exit
  --background              run in the background (needs --logdir or /var/log/luigi)
  --pidfile PIDFILE         with --background: write the daemon's pid here, and refuse
                            to start when it names a live process
  --logdir LOGDIR           log to LOGDIR/luigi-server.log (rotated daily, 7 kept;
                            SIGHUP reopens it)
  --state-path STATE_PATH   state file; overrides [scheduler] state_path
  --address ADDRESS         address to listen on (default 127.0.0.1; luigid listens on
                            every interface by default)
  --unix-socket PATH        listen on a UNIX socket instead of TCP
  --port PORT               TCP port (default 8082; 0 picks a free one)

options (luigid-rs):
  --config FILE             read this configuration file after all others
  --history-db PATH         record task history in the SQLite file PATH
  --static-dir DIR          serve the visualiser from DIR
  --start-empty             do not load the saved state

Configuration is read as Luigi reads it: /etc/luigi/luigi.cfg, ./luigi.cfg, then
$LUIGI_CONFIG_PATH (LUIGI_CONFIG_PARSER=toml reads luigi.toml files). Logging: RUST_LOG.
After binding, one line `luigid-rs listening on ADDRESS:PORT` (or `unix:PATH`) is
printed to stdout.

subcommands:
  luigid-rs check-state STATE_PATH [--repair NEW_STATE_PATH]
                            what a start on this state would do; a repaired copy
  luigid-rs state dump STATE_PATH [--pretty]
                            the saved state as JSON, for a person to read
  luigid-rs hash-password   access-control password and token hashes";

#[derive(Debug, Default)]
struct Options {
    background: bool,
    pidfile: Option<PathBuf>,
    logdir: Option<PathBuf>,
    state_path: Option<String>,
    address: Option<String>,
    unix_socket: Option<PathBuf>,
    port: Option<String>,
    config: Option<PathBuf>,
    history_db: Option<String>,
    static_dir: Option<String>,
    start_empty: bool,
}

enum Parsed {
    Run(Box<Options>),
    Help,
    Version,
}

/// Hand-written, argparse-like: `--flag value` or `--flag=value`.
fn parse_args(args: &[String]) -> Result<Parsed, String> {
    let mut o = Options::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |flag: &str| -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            match args.get(i) {
                Some(v) if !v.starts_with("--") || v == "--" => {
                    i += 1;
                    Ok(v.clone())
                }
                _ => Err(format!("argument {flag}: expected one argument")),
            }
        };
        let switch = |flag: &str| -> Result<(), String> {
            match inline {
                Some(_) => Err(format!("argument {flag}: ignored explicit argument")),
                None => Ok(()),
            }
        };
        match name {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--version" => return Ok(Parsed::Version),
            "--background" => {
                switch(name)?;
                o.background = true
            }
            "--start-empty" => {
                switch(name)?;
                o.start_empty = true
            }
            "--pidfile" => o.pidfile = Some(value(name)?.into()),
            "--logdir" => o.logdir = Some(value(name)?.into()),
            "--state-path" => o.state_path = Some(value(name)?),
            "--address" => o.address = Some(value(name)?),
            "--unix-socket" => o.unix_socket = Some(value(name)?.into()),
            "--port" => o.port = Some(value(name)?),
            "--config" => o.config = Some(value(name)?.into()),
            "--history-db" => o.history_db = Some(value(name)?),
            "--static-dir" => o.static_dir = Some(value(name)?),
            _ => return Err(format!("unrecognized arguments: {arg}")),
        }
    }
    Ok(Parsed::Run(Box::new(o)))
}

fn fail(msg: impl std::fmt::Display) -> ! {
    log::error!("{msg}");
    eprintln!("luigid-rs: error: {msg}");
    exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Subcommands; everything else is luigid's command line.
    match args.first().map(String::as_str) {
        Some("hash-password") => exit(luigid_rs::auth::hash_password_main(&args[1..])),
        Some("check-state") => exit(luigid_rs::persistence::check::check_state_main(&args[1..])),
        Some("state") => exit(luigid_rs::persistence::dump::state_main(&args[1..])),
        // Gone: luigid's state file is now imported natively at startup.
        Some("import-luigi-state") => fail(
            "import-luigi-state is no longer needed: start luigid-rs with luigid's state \
             file as --state-path; it is imported at startup and the original kept aside",
        ),
        _ => {}
    }
    let opts = match parse_args(&args) {
        Ok(Parsed::Run(o)) => *o,
        Ok(Parsed::Help) => {
            println!("{USAGE}\n{HELP}");
            exit(0)
        }
        Ok(Parsed::Version) => {
            println!("luigid-rs {VERSION}");
            exit(0)
        }
        Err(e) => {
            eprintln!("{USAGE}\nluigid-rs: error: {e}");
            exit(2)
        }
    };

    let logdir = match (&opts.logdir, opts.background) {
        (Some(d), _) => Some(d.clone()),
        (None, true) => Some(PathBuf::from("/var/log/luigi")),
        (None, false) => None,
    };
    if let (Some(dir), true) = (&logdir, opts.background) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!(
                "luigid-rs: error: cannot create log directory {}: {e}",
                dir.display()
            );
            exit(1);
        }
    }
    init_logging(logdir.as_deref());

    let mut warnings = Vec::new();
    let mut ini = config::load(opts.config.as_deref(), &mut warnings).unwrap_or_else(|e| fail(e));
    for w in &warnings {
        log::warn!("{w}");
    }
    apply_flags(&mut ini, &opts);
    for k in config::unknown_luigid_rs_keys(&ini) {
        log::warn!(
            "{}: unknown key [{}] {k} (ignored)",
            ini.origin(config::SECTION, &k),
            config::SECTION
        );
    }
    let server_cfg = ServerConfig::from_ini(&ini).unwrap_or_else(|e| fail(e));

    if opts.background {
        if let Some(pidfile) = &opts.pidfile {
            if let Some(pid) = live_pid(pidfile) {
                fail(format!(
                    "a server is already running with pid {pid} (pidfile {})",
                    pidfile.display()
                ));
            }
        }
    }

    let bound = match &opts.unix_socket {
        Some(path) => server::bind_unix(path, server_cfg.socket_mode),
        None => {
            let port_text = opts.port.as_deref().unwrap_or("8082");
            let port: u16 = port_text.trim().parse().unwrap_or_else(|_| {
                fail(format!(
                    "--port {port_text:?} is not a port number (0-65535)"
                ))
            });
            server::bind_tcp(opts.address.as_deref().unwrap_or("127.0.0.1"), port)
        }
    }
    .unwrap_or_else(|e| fail(e));
    let listening = format!("luigid-rs listening on {}", bound.describe());

    // In the background the daemon reports readiness (or its startup error) through a pipe,
    // so the command still fails visibly when the state cannot be loaded.
    let ready_pipe = if opts.background {
        let dir = logdir.clone().unwrap_or_default();
        Some(daemonize(&dir, opts.pidfile.as_deref()))
    } else {
        None
    };

    let addresses = bound.describe_all().join(", ");
    let unix = matches!(bound, Bound::Unix { .. });
    let prepared = server::prepare(bound).unwrap_or_else(|e| fail(format!("event loop: {e}")));
    let mut app = match App::from_ini(ini.clone()) {
        Ok(app) => app,
        Err(e) => {
            prepared.abandon();
            if let Some(mut p) = ready_pipe {
                let _ = writeln!(p, "error: {e}");
            }
            fail(e)
        }
    };
    log::info!(
        "luigid-rs {VERSION} starting: listening on {}, state path {}, config files read: {}",
        addresses,
        ini.get_str(
            "scheduler",
            "state_path",
            "/var/lib/luigi-server/state.pickle"
        ),
        if ini.files().is_empty() {
            "none".to_string()
        } else {
            ini.files().join(", ")
        }
    );
    match ready_pipe {
        Some(mut p) => {
            let _ = writeln!(p, "{listening}");
        }
        None => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{listening}");
            let _ = out.flush();
        }
    }

    match server::run_prepared(prepared, &mut app, server_cfg) {
        Ok(()) if app.final_save_failed() => {
            log::error!("luigid-rs stopped without saving its final snapshot (see above)");
            exit(1)
        }
        Ok(()) => {
            log::info!("luigid-rs stopped");
            exit(0)
        }
        Err(e) => fail(format!(
            "server loop failed{}: {e}",
            if unix { " (unix socket)" } else { "" }
        )),
    }
}

/// Command-line flags become overrides on the merged configuration.
fn apply_flags(ini: &mut Ini, o: &Options) {
    if let Some(p) = &o.state_path {
        ini.set("scheduler", "state_path", p);
    }
    if let Some(p) = &o.history_db {
        ini.set("scheduler", "record_task_history", "true");
        ini.set("task_history", "db_connection", &format!("sqlite:///{p}"));
    }
    if let Some(d) = &o.static_dir {
        ini.set(config::SECTION, "static_dir", d);
    }
    if o.start_empty {
        ini.set(config::SECTION, "start_empty", "true");
    }
}

/// RUST_LOG (default info) to stderr, or to `<logdir>/luigi-server.log`, rotated daily
/// as luigid's and reopened on SIGHUP (see [`luigid_rs::logfile`]).
fn init_logging(logdir: Option<&Path>) {
    let mut b = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if let Some(dir) = logdir {
        let reopen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGHUP, reopen.clone()) {
            eprintln!("luigid-rs: warning: SIGHUP will not reopen the log file: {e}");
        }
        match luigid_rs::logfile::RotatingLog::open(dir, reopen) {
            Ok(log) => {
                b.target(env_logger::Target::Pipe(Box::new(log)));
            }
            Err(e) => {
                eprintln!(
                    "luigid-rs: error: cannot open log file {}: {e}",
                    dir.join(luigid_rs::logfile::FILE_NAME).display()
                );
                exit(1);
            }
        }
    }
    b.init();
}

/// The pid in `pidfile` when that process is alive.
fn live_pid(pidfile: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(pidfile).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    if pid <= 0 {
        return None;
    }
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    let alive = rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    alive.then_some(pid)
}

/// Today's local date as YYYY-MM-DD (for the daemon's output file names, as luigid).
fn local_date() -> String {
    // SAFETY: time and localtime_r write only into the locals passed.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return "unknown-date".to_string();
        }
        format!(
            "{:04}-{:02}-{:02}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday
        )
    }
}

/// Double fork and setsid, stdout/stderr to `<logdir>/luigi-server-DATE.{out,err}`, pidfile.
/// The original process waits on a pipe for the daemon's first line: the listening line
/// (printed, exit 0) or an error (exit 1). Returns the daemon's end of that pipe.
fn daemonize(logdir: &Path, pidfile: Option<&Path>) -> std::fs::File {
    use std::io::Read;
    use std::os::unix::io::{AsRawFd, FromRawFd};
    let date = local_date();
    let open = |ext: &str| {
        let path = logdir.join(format!("luigi-server-{date}.{ext}"));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| fail(format!("cannot open {}: {e}", path.display())))
    };
    let (out, err) = (open("out"), open("err"));
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe() writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        fail(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    for fd in fds {
        // SAFETY: fd is one of the descriptors pipe() just returned. Close-on-exec keeps a
        // child process from holding the parent's wait open.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // SAFETY: pipe() returned two fresh descriptors that we now own.
    let (mut reader, writer) = unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    };
    let _ = std::io::stdout().flush();
    // SAFETY: single-threaded here; the child only continues with ordinary Rust code.
    match unsafe { libc::fork() } {
        -1 => fail(format!("fork: {}", std::io::Error::last_os_error())),
        0 => {}
        child => {
            drop(writer);
            let mut status = 0;
            // SAFETY: reaping our own child.
            unsafe { libc::waitpid(child, &mut status, 0) };
            let mut text = String::new();
            let _ = reader.read_to_string(&mut text);
            let first = text.lines().next().unwrap_or("");
            if first.starts_with("luigid-rs listening on ") {
                println!("{first}");
                exit(0);
            }
            eprintln!(
                "luigid-rs: error: the background server did not start: {}",
                first
                    .strip_prefix("error: ")
                    .unwrap_or(if first.is_empty() {
                        "it exited (see the log directory)"
                    } else {
                        first
                    })
            );
            exit(1);
        }
    }
    drop(reader);
    // SAFETY: setsid in the child detaches it from the terminal's session.
    unsafe { libc::setsid() };
    // SAFETY: as above; the intermediate process exits at once.
    match unsafe { libc::fork() } {
        -1 => fail(format!("fork: {}", std::io::Error::last_os_error())),
        0 => {}
        _ => exit(0),
    }
    let devnull = std::fs::File::open("/dev/null").ok();
    // SAFETY: dup2 onto the standard descriptors of this process.
    unsafe {
        if let Some(n) = &devnull {
            libc::dup2(n.as_raw_fd(), 0);
        }
        libc::dup2(out.as_raw_fd(), 1);
        libc::dup2(err.as_raw_fd(), 2);
    }
    if let Some(pidfile) = pidfile {
        if let Some(parent) = pidfile.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(parent);
        }
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        if let Err(e) = std::fs::write(pidfile, format!("{pid}\n")) {
            let mut w = &writer;
            let _ = writeln!(w, "error: cannot write pidfile {}: {e}", pidfile.display());
            fail(format!("cannot write pidfile {}: {e}", pidfile.display()));
        }
    }
    writer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_and_values() {
        let Ok(Parsed::Run(o)) = parse_args(&args(&[
            "--port=0",
            "--address",
            "::1",
            "--state-path",
            "/s",
            "--background",
            "--start-empty",
        ])) else {
            panic!("parse failed")
        };
        assert_eq!(o.port.as_deref(), Some("0"));
        assert_eq!(o.address.as_deref(), Some("::1"));
        assert_eq!(o.state_path.as_deref(), Some("/s"));
        assert!(o.background && o.start_empty);
        assert!(matches!(
            parse_args(&args(&["--version"])),
            Ok(Parsed::Version)
        ));
        assert!(matches!(parse_args(&args(&["-h"])), Ok(Parsed::Help)));
    }

    #[test]
    fn bad_command_lines() {
        assert!(parse_args(&args(&["--nope"])).is_err());
        assert!(parse_args(&args(&["stray"])).is_err());
        assert!(parse_args(&args(&["--port"])).is_err());
        assert!(parse_args(&args(&["--port", "--background"])).is_err());
        assert!(parse_args(&args(&["--background=1"])).is_err());
    }

    #[test]
    fn flags_override_config() {
        let mut ini = Ini::default();
        ini.read_ini_str("[scheduler]\nstate_path = /old\n", "a.cfg")
            .unwrap();
        let o = Options {
            state_path: Some("/new".into()),
            history_db: Some("/var/h.db".into()),
            start_empty: true,
            ..Options::default()
        };
        apply_flags(&mut ini, &o);
        assert_eq!(ini.get("scheduler", "state_path"), Some("/new"));
        assert_eq!(ini.get("scheduler", "record_task_history"), Some("true"));
        assert_eq!(
            ini.get("task_history", "db_connection"),
            Some("sqlite:////var/h.db")
        );
        assert_eq!(ini.get("luigid_rs", "start_empty"), Some("true"));
    }
}

//! Configuration: Luigi's config files (INI in Python ConfigParser's dialect, or TOML),
//! read in Luigi's order, and typed getters whose errors name the file, section and key.
//!
//! Other modules build their typed settings from [`Ini`] (the scheduler's by
//! [`scheduler_config`], which lives here so that the scheduler reads no configuration). The server's own settings live in `[luigid_rs]` and
//! are parsed into [`ServerConfig`].

mod ini;
mod scheduler;

pub use ini::{parse_py_float, parse_py_int, ConfigError, Ini};
pub use scheduler::scheduler_config;

use std::path::{Path, PathBuf};

/// Which reader Luigi uses (`LUIGI_CONFIG_PARSER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Ini,
    Toml,
}

/// The files to read, in order (lowest priority first), and warnings to log.
#[derive(Debug, Clone, PartialEq)]
pub struct Sources {
    pub dialect: Dialect,
    /// (path, dialect to read it with, whether a missing file is an error).
    pub files: Vec<(PathBuf, Dialect, bool)>,
    pub warnings: Vec<String>,
}

fn dialect_of_ext(path: &Path) -> Option<Dialect> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("cfg") | Some("conf") | Some("ini") => Some(Dialect::Ini),
        Some("toml") => Some(Dialect::Toml),
        _ => None,
    }
}

/// Luigi's search list (`luigi/configuration/core.py`, `get_config`) from the values of
/// `LUIGI_CONFIG_PARSER` and `LUIGI_CONFIG_PATH`, plus our `--config FILE`, read last.
pub fn luigi_sources(
    parser_env: Option<&str>,
    config_path_env: Option<&str>,
    extra: Option<&Path>,
) -> Sources {
    let mut warnings = Vec::new();
    let dialect = match parser_env {
        None | Some("cfg") | Some("conf") | Some("ini") => Dialect::Ini,
        Some("toml") => Dialect::Toml,
        Some(other) => {
            warnings.push(format!(
                "LUIGI_CONFIG_PARSER={other:?} is not cfg, conf, ini or toml; using cfg"
            ));
            Dialect::Ini
        }
    };
    let defaults: &[&str] = match dialect {
        Dialect::Ini => &[
            "/etc/luigi/client.cfg",
            "/etc/luigi/luigi.cfg",
            "client.cfg",
            "luigi.cfg",
        ],
        Dialect::Toml => &["/etc/luigi/luigi.toml", "luigi.toml"],
    };
    let mut files: Vec<(PathBuf, Dialect, bool)> = defaults
        .iter()
        .map(|p| (PathBuf::from(p), dialect, false))
        .collect();
    if let Some(p) = config_path_env.filter(|p| !p.is_empty()) {
        let path = PathBuf::from(p);
        let d = dialect_of_ext(&path).unwrap_or(dialect);
        if !path.is_file() {
            warnings.push(format!("LUIGI_CONFIG_PATH: config file {p} does not exist"));
        } else if d != dialect {
            // Luigi hands the file to the other parser, which luigid never consults.
            warnings.push(format!(
                "LUIGI_CONFIG_PATH={p} is for the {} parser but the {} parser is in use \
                 (set LUIGI_CONFIG_PARSER); the file is ignored",
                name(d),
                name(dialect)
            ));
        } else {
            files.push((path, d, false));
        }
    }
    if let Some(path) = extra {
        let d = dialect_of_ext(path).unwrap_or(dialect);
        files.push((path.to_path_buf(), d, true));
    }
    Sources {
        dialect,
        files,
        warnings,
    }
}

fn name(d: Dialect) -> &'static str {
    match d {
        Dialect::Ini => "cfg",
        Dialect::Toml => "toml",
    }
}

/// Read every existing file of `sources` into one [`Ini`]. A required file that is missing
/// and any parse error are errors naming the file; deprecated `client.cfg` names are
/// reported in `warnings`.
pub fn read_sources(sources: &Sources, warnings: &mut Vec<String>) -> Result<Ini, ConfigError> {
    let mut ini = Ini::default();
    for (path, dialect, required) in &sources.files {
        let shown = path.display().to_string();
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8(bytes)
                .map_err(|_| ConfigError(format!("{shown}: not valid UTF-8")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(e) => return Err(ConfigError(format!("{shown}: {e}"))),
        };
        if path.file_name().and_then(|n| n.to_str()) == Some("client.cfg") {
            warnings.push(format!(
                "config file name client.cfg is deprecated, rename {shown} to luigi.cfg"
            ));
        }
        match dialect {
            Dialect::Ini => ini.read_ini_str(&text, &shown)?,
            Dialect::Toml => ini.read_toml_str(&text, &shown)?,
        }
    }
    Ok(ini)
}

/// Read the configuration as luigid does, from the process environment and `--config`.
pub fn load(extra: Option<&Path>, warnings: &mut Vec<String>) -> Result<Ini, ConfigError> {
    let parser = std::env::var("LUIGI_CONFIG_PARSER").ok();
    let path = std::env::var("LUIGI_CONFIG_PATH").ok();
    let sources = luigi_sources(parser.as_deref(), path.as_deref(), extra);
    warnings.extend(sources.warnings.iter().cloned());
    read_sources(&sources, warnings)
}

/// Our own section.
pub const SECTION: &str = "luigid_rs";

/// Keys of `[luigid_rs]` some module reads; anything else there is logged as a warning.
/// Modules adding a key add it here.
pub const LUIGID_RS_KEYS: &[&str] = &[
    "max_connections",
    "idle_timeout",
    "header_timeout",
    "shutdown_timeout",
    "max_body_bytes",
    "max_head_bytes",
    "max_headers",
    "output_cap_bytes",
    "socket_mode",
    "static_dir",
    "start_empty",
    "durability",
    "snapshot_interval",
    "snapshot_journal_bytes",
    "fork_snapshots",
    "history_retention_days",
];

/// Keys in `[luigid_rs]` no module knows (likely typos).
pub fn unknown_luigid_rs_keys(ini: &Ini) -> Vec<String> {
    ini.section(SECTION)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| !LUIGID_RS_KEYS.contains(&k.replace('-', "_").as_str()))
        .collect()
}

/// The event loop's settings, from `[luigid_rs]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Open connections at most; at the cap new ones wait in the listen backlog.
    pub max_connections: usize,
    /// Seconds without any progress (bytes read or written) before a connection is closed.
    pub idle_timeout: f64,
    /// Seconds a client has to complete a request head once its first byte arrived.
    pub header_timeout: f64,
    /// Seconds a stop signal waits for replies in flight to be written.
    pub shutdown_timeout: f64,
    /// Unsent reply bytes above which a connection's further requests wait.
    pub output_cap_bytes: usize,
    /// Permission bits of the UNIX socket file.
    pub socket_mode: u32,
    /// The framer's limits (see [`ServerConfig::limits`]).
    pub max_head_bytes: usize,
    pub max_body_bytes: usize,
    pub max_headers: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let limits = crate::http::Limits::default();
        ServerConfig {
            max_connections: 10_000,
            idle_timeout: 60.0,
            header_timeout: 10.0,
            shutdown_timeout: 1.0,
            output_cap_bytes: 4 * 1024 * 1024,
            socket_mode: 0o600,
            max_head_bytes: limits.max_head_bytes,
            max_body_bytes: limits.max_body_bytes,
            max_headers: limits.max_headers,
        }
    }
}

impl ServerConfig {
    pub fn from_ini(ini: &Ini) -> Result<ServerConfig, ConfigError> {
        let d = ServerConfig::default();
        let positive_int = |key: &str, default: usize| -> Result<usize, ConfigError> {
            let v = ini.get_i64(SECTION, key, default as i64)?;
            if v < 1 {
                return Err(ConfigError(format!(
                    "{}: [{SECTION}] {key} = {v} must be at least 1",
                    ini.origin(SECTION, key)
                )));
            }
            Ok(v as usize)
        };
        let seconds = |key: &str, default: f64| -> Result<f64, ConfigError> {
            let v = ini.get_f64(SECTION, key, default)?;
            if !(v > 0.0 && v.is_finite()) {
                return Err(ConfigError(format!(
                    "{}: [{SECTION}] {key} = {v} must be a positive number of seconds",
                    ini.origin(SECTION, key)
                )));
            }
            Ok(v)
        };
        let socket_mode = match ini.get_checked(SECTION, "socket_mode")? {
            None => d.socket_mode,
            Some(v) => {
                let t = v.trim();
                let digits = t.strip_prefix("0o").unwrap_or(t);
                match u32::from_str_radix(digits, 8) {
                    Ok(m) if m <= 0o777 => m,
                    _ => {
                        return Err(ConfigError(format!(
                            "{}: [{SECTION}] socket_mode = {v:?} is not an octal mode such as 0600",
                            ini.origin(SECTION, "socket_mode")
                        )))
                    }
                }
            }
        };
        Ok(ServerConfig {
            max_connections: positive_int("max_connections", d.max_connections)?,
            idle_timeout: seconds("idle_timeout", d.idle_timeout)?,
            header_timeout: seconds("header_timeout", d.header_timeout)?,
            shutdown_timeout: seconds("shutdown_timeout", d.shutdown_timeout)?,
            output_cap_bytes: positive_int("output_cap_bytes", d.output_cap_bytes)?,
            socket_mode,
            max_head_bytes: positive_int("max_head_bytes", d.max_head_bytes)?,
            max_body_bytes: positive_int("max_body_bytes", d.max_body_bytes)?,
            max_headers: positive_int("max_headers", d.max_headers)?,
        })
    }

    /// The framer's limits.
    pub fn limits(&self) -> crate::http::Limits {
        crate::http::Limits {
            max_head_bytes: self.max_head_bytes,
            max_body_bytes: self.max_body_bytes,
            max_headers: self.max_headers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_list_in_luigi_order() {
        let s = luigi_sources(None, None, None);
        let names: Vec<_> = s.files.iter().map(|f| f.0.display().to_string()).collect();
        assert_eq!(
            names,
            [
                "/etc/luigi/client.cfg",
                "/etc/luigi/luigi.cfg",
                "client.cfg",
                "luigi.cfg"
            ]
        );
        let s = luigi_sources(Some("toml"), None, Some(Path::new("x.cfg")));
        let names: Vec<_> = s.files.iter().map(|f| f.0.display().to_string()).collect();
        assert_eq!(names, ["/etc/luigi/luigi.toml", "luigi.toml", "x.cfg"]);
        assert_eq!(s.files[2], (PathBuf::from("x.cfg"), Dialect::Ini, true));
        let s = luigi_sources(Some("yaml"), None, None);
        assert_eq!(s.dialect, Dialect::Ini);
        assert_eq!(s.warnings.len(), 1);
    }

    #[test]
    fn config_path_env_is_last_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("my.cfg");
        std::fs::write(&cfg, "[scheduler]\nretry_delay = 3\n").unwrap();
        let s = luigi_sources(None, cfg.to_str(), None);
        assert_eq!(s.files.last().unwrap().0, cfg);
        let mut w = Vec::new();
        let ini = read_sources(&s, &mut w).unwrap();
        assert_eq!(ini.get("scheduler", "retry_delay"), Some("3"));
        assert!(ini.files().contains(&cfg.display().to_string()));

        let toml = dir.path().join("my.toml");
        std::fs::write(&toml, "[scheduler]\nretry_delay = 3\n").unwrap();
        let s = luigi_sources(None, toml.to_str(), None);
        assert!(
            !s.files.iter().any(|f| f.0 == toml),
            "toml ignored by the cfg parser"
        );
        assert_eq!(s.warnings.len(), 1);

        let s = luigi_sources(None, Some("/nonexistent/x.cfg"), None);
        assert_eq!(s.warnings.len(), 1);

        let s = luigi_sources(None, None, Some(Path::new("/nonexistent/y.cfg")));
        let e = read_sources(&s, &mut w).unwrap_err().0;
        assert!(e.starts_with("/nonexistent/y.cfg:"), "{e}");
    }

    #[test]
    fn server_config_defaults_and_errors() {
        let mut ini = Ini::default();
        assert_eq!(
            ServerConfig::from_ini(&ini).unwrap(),
            ServerConfig::default()
        );
        ini.read_ini_str(
            "[luigid_rs]\nmax_connections = 5\nheader_timeout = 0.5\nsocket_mode = 0660\nbogus = 1\n",
            "a.cfg",
        )
        .unwrap();
        let c = ServerConfig::from_ini(&ini).unwrap();
        assert_eq!(c.max_connections, 5);
        assert_eq!(c.header_timeout, 0.5);
        assert_eq!(c.socket_mode, 0o660);
        assert_eq!(unknown_luigid_rs_keys(&ini), ["bogus"]);

        let mut bad = Ini::default();
        bad.read_ini_str("[luigid_rs]\nidle_timeout = -1\n", "b.cfg")
            .unwrap();
        let e = ServerConfig::from_ini(&bad).unwrap_err().0;
        assert!(e.starts_with("b.cfg:2: [luigid_rs] idle_timeout"), "{e}");
        let mut bad = Ini::default();
        bad.read_ini_str("[luigid_rs]\nsocket_mode = 999\n", "c.cfg")
            .unwrap();
        assert!(ServerConfig::from_ini(&bad).is_err());
        let mut bad = Ini::default();
        bad.read_ini_str("[luigid_rs]\nmax_connections = lots\n", "d.cfg")
            .unwrap();
        let e = ServerConfig::from_ini(&bad).unwrap_err().0;
        assert_eq!(
            e,
            "d.cfg:2: [luigid_rs] max_connections = \"lots\" is not an integer"
        );
    }
}

//! `[task_history] db_connection`: the SQLAlchemy URLs luigid accepts
//! (`dialect[+driver]://user:password@host:port/database?options`, as SQLAlchemy's
//! `make_url` splits them: user and password percent-decoded, the rest as written).
//!
//! The password never leaves this module in clear text except towards the database
//! client: [`DbUrl`]'s `Display` and every error message show `***` instead.

use std::fmt;
use std::path::PathBuf;

use percent_encoding::percent_decode_str;

/// The schemes we accept, as listed in error messages.
pub const SUPPORTED: &str = "sqlite:///, postgresql://, postgresql+psycopg2://, \
     postgresql+pg8000://, postgresql+psycopg://, mysql://, mysql+pymysql://, \
     mysql+mysqldb://, mysql+mysqlconnector://, mariadb://, mariadb+pymysql://, \
     mariadb+mysqldb://, mariadb+mariadbconnector://";

const POSTGRES_DRIVERS: [&str; 4] = ["", "psycopg2", "pg8000", "psycopg"];
const MYSQL_DRIVERS: [&str; 5] = [
    "",
    "pymysql",
    "mysqldb",
    "mysqlconnector",
    "mariadbconnector",
];

/// Which server a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Mysql,
}

/// A server URL, split. `password` is kept private so that it cannot be printed by
/// accident; [`NetUrl::password`] hands it to the client.
#[derive(Clone, PartialEq)]
pub struct NetUrl {
    pub engine: Engine,
    /// The scheme as written (`postgresql+psycopg2`), for messages.
    pub scheme: String,
    pub user: Option<String>,
    password: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database: Option<String>,
    /// `?key=value` options in order (values percent-decoded, as `parse_qsl`).
    pub options: Vec<(String, String)>,
}

impl NetUrl {
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The last value of option `key`.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A password-bearing option name (libpq's and the MySQL drivers' spellings).
fn secret_option(key: &str) -> bool {
    matches!(key, "password" | "passwd")
}

impl fmt::Display for NetUrl {
    /// The URL with `***` for the password (in the user part and in options).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if self.user.is_some() || self.password.is_some() {
            f.write_str(self.user.as_deref().unwrap_or(""))?;
            if self.password.is_some() {
                f.write_str(":***")?;
            }
            f.write_str("@")?;
        }
        if let Some(h) = &self.host {
            if h.contains('/') {
                f.write_str(&h.replace('%', "%25").replace('/', "%2F"))?;
            } else if h.contains(':') {
                write!(f, "[{h}]")?;
            } else {
                f.write_str(h)?;
            }
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        if let Some(d) = &self.database {
            write!(f, "/{d}")?;
        }
        for (i, (k, v)) in self.options.iter().enumerate() {
            let v = if secret_option(k) { "***" } else { v.as_str() };
            write!(f, "{}{k}={v}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

impl fmt::Debug for NetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetUrl({self})")
    }
}

/// Where task history lives.
#[derive(Debug, Clone, PartialEq)]
pub enum DbUrl {
    Sqlite(PathBuf),
    Net(NetUrl),
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbUrl::Sqlite(p) => write!(f, "sqlite:///{}", p.display()),
            DbUrl::Net(n) => n.fmt(f),
        }
    }
}

/// `raw` with whatever stands between `://` and the last `@` of the authority replaced
/// by `user:***`, and password options masked, for messages about URLs we could not
/// parse (they must not leak a password either).
pub fn mask_raw(raw: &str) -> String {
    let (prefix, rest) = match raw.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        // Not a URL, but it may still hold `user:password@`.
        None => (String::new(), raw),
    };
    let (auth_end, tail_start) = match rest.find(['/', '?']) {
        Some(i) => (i, i),
        None => (rest.len(), rest.len()),
    };
    let authority = &rest[..auth_end];
    let mut out = prefix;
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.split_once(':') {
                Some((u, _)) => out.push_str(&format!("{u}:***")),
                None => out.push_str(userinfo),
            }
            out.push_str(&authority[at..]);
        }
        // `user:password` with the '@' missing would read as host:port: a "port" that
        // is not a number may be a password.
        None => match authority.rsplit_once(':') {
            Some((h, p)) if !p.bytes().all(|c| c.is_ascii_digit()) => {
                out.push_str(&format!("{h}:***"))
            }
            _ => out.push_str(authority),
        },
    }
    let tail = &rest[tail_start..];
    match tail.split_once('?') {
        Some((path, q)) => {
            out.push_str(path);
            out.push('?');
            let masked: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if secret_option(k) => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            out.push_str(&masked.join("&"));
        }
        None => out.push_str(tail),
    }
    out
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `parse_qsl`: `+` is a space, then percent-decoding.
fn decode_q(s: &str) -> String {
    decode(&s.replace('+', " "))
}

const KEY: &str = "[task_history] db_connection";

/// Parse `db_connection`. Errors name the setting, show the URL masked, and list the
/// supported schemes when the engine is not one of them.
pub fn parse(url: &str) -> Result<DbUrl, String> {
    let url = url.trim();
    let shown = mask_raw(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "{KEY} = {shown:?} is not a database URL; supported schemes: {SUPPORTED}"
        ));
    };
    let scheme_l = scheme.to_ascii_lowercase();
    let (dialect, driver) = scheme_l.split_once('+').unwrap_or((&scheme_l, ""));
    let engine = match dialect {
        "sqlite" if driver.is_empty() || driver == "pysqlite" => {
            return parse_sqlite(url, &shown).map(DbUrl::Sqlite)
        }
        "postgresql" if POSTGRES_DRIVERS.contains(&driver) => Engine::Postgres,
        "mysql" | "mariadb" if MYSQL_DRIVERS.contains(&driver) => Engine::Mysql,
        "postgresql" | "mysql" | "mariadb" | "sqlite" => {
            return Err(format!(
                "{KEY} = {shown:?}: the driver {driver:?} is not supported (the scheme \
                 only picks the Python driver luigid would load; luigid-rs has its own \
                 client); supported schemes: {SUPPORTED}"
            ))
        }
        _ => {
            return Err(format!(
                "{KEY} = {shown:?}: the database engine {dialect:?} is not supported; \
                 supported schemes: {SUPPORTED}"
            ))
        }
    };
    let bad = |what: String| format!("{KEY} = {shown:?}: {what}");
    let (before_q, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (authority, database) = match before_q.split_once('/') {
        Some((a, d)) => (a, Some(d)),
        None => (before_q, None),
    };
    // The user part ends at the last '@' (SQLAlchemy requires '@' in a password to be
    // percent-encoded; taking the last one is the forgiving reading of a raw one).
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(ui) => match ui.split_once(':') {
            Some((u, p)) => (Some(decode(u)), Some(decode(p))),
            None => (Some(decode(ui)), None),
        },
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let Some((h, after)) = v6.split_once(']') else {
            return Err(bad("an IPv6 host misses its closing ']'".into()));
        };
        (Some(h.to_string()), after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (Some(h.to_string()), Some(p)),
            None => (Some(hostport.to_string()), None),
        }
    };
    // libpq decodes the whole authority, so a UNIX socket directory can be written as
    // the host: `postgresql://user@%2Fvar%2Frun%2Fpostgresql/db`.
    let host = host.filter(|h| !h.is_empty()).map(|h| decode(&h));
    let port = match port.filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|n| *n > 0)
                // The value is not shown: with the '@' missing it is the password.
                .ok_or_else(|| bad("the port is not a number from 1 to 65535".into()))?,
        ),
    };
    let database = database.filter(|d| !d.is_empty()).map(str::to_string);
    let mut options = Vec::new();
    for kv in query.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        options.push((decode_q(k), decode_q(v)));
    }
    let net = NetUrl {
        engine,
        scheme: scheme.to_string(),
        user: user.filter(|u| !u.is_empty()),
        password,
        host,
        port,
        database,
        options,
    };
    check_options(&net).map_err(bad)?;
    Ok(DbUrl::Net(net))
}

/// Options we act on; anything else is refused rather than silently ignored.
fn check_options(u: &NetUrl) -> Result<(), String> {
    let known: &[&str] = match u.engine {
        Engine::Postgres => &[
            "host",
            "port",
            "sslmode",
            "sslrootcert",
            "sslcert",
            "sslkey",
            "channel_binding",
            "connect_timeout",
            "application_name",
            "user",
            "password",
            "dbname",
            "options",
            "client_encoding",
        ],
        Engine::Mysql => &[
            "unix_socket",
            "charset",
            "connect_timeout",
            "read_timeout",
            "write_timeout",
            "ssl_mode",
            "ssl",
            "ssl_disabled",
            "ssl_ca",
            "ssl_cert",
            "ssl_key",
            "ssl_verify_cert",
            "ssl_verify_identity",
            "ssl_check_hostname",
        ],
    };
    for (k, v) in &u.options {
        if !known.contains(&k.as_str()) {
            let hint = match k.as_str() {
                "sslpassword" => " (an encrypted client key cannot be used; decrypt it to a file readable by luigid-rs only)",
                "ssl_capath" => " (name one file of root certificates with ssl_ca)",
                "ssl_key_password" => " (an encrypted client key cannot be used; decrypt it to a file readable by luigid-rs only)",
                _ => "",
            };
            return Err(format!(
                "the option {k:?} is not supported here{hint} (supported: {})",
                known.join(", ")
            ));
        }
        let ok = match (u.engine, k.as_str()) {
            (Engine::Postgres, "client_encoding") => {
                matches!(
                    v.to_ascii_lowercase().as_str(),
                    "utf8" | "utf-8" | "unicode"
                )
            }
            (Engine::Postgres, "channel_binding") => {
                matches!(v.as_str(), "disable" | "prefer" | "require")
            }
            (Engine::Mysql, "charset") => matches!(v.as_str(), "utf8" | "utf8mb4" | "utf8mb3"),
            (_, "port") => v.parse::<u16>().is_ok(),
            (_, "connect_timeout" | "read_timeout" | "write_timeout") => {
                v.parse::<u64>().is_ok_and(|n| n > 0)
            }
            // TLS values are checked by `tls_request` below, with their own messages.
            _ => true,
        };
        if !ok {
            let v = if secret_option(k) { "***" } else { v.as_str() };
            let allowed = match k.as_str() {
                "channel_binding" => "disable, prefer or require",
                "charset" | "client_encoding" => "the character set is always UTF-8",
                "port" => "a number from 1 to 65535",
                _ => "a positive number of seconds",
            };
            return Err(format!("{k}={v} is not supported ({allowed})"));
        }
    }
    u.tls_request()?;
    Ok(())
}

/// When TLS is used towards the server (libpq's `sslmode` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsUse {
    Disable,
    /// Without TLS first; with TLS when the server refuses the plain connection.
    Allow,
    /// With TLS when the server offers it, else without (also when the TLS attempt is
    /// refused).
    Prefer,
    /// TLS or no connection.
    Require,
}

/// What is checked of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Nothing: the connection is encrypted, the server not authenticated.
    None,
    /// The chain up to a trusted root (libpq's `verify-ca`, MySQL's `VERIFY_CA`).
    Chain,
    /// The chain and that the certificate names the host (`verify-full`,
    /// `VERIFY_IDENTITY`).
    Full,
}

/// The root certificates a server certificate is verified against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// A PEM file (one or more certificates).
    File(PathBuf),
    /// The public web roots built into luigid-rs (libpq's `sslrootcert=system`; for
    /// MySQL, verification asked for without `ssl_ca`).
    System,
}

/// The TLS settings of a server URL, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub usage: TlsUse,
    pub verify: Verify,
    /// Set whenever `verify` is not `None`.
    pub roots: Option<Roots>,
    /// A client certificate (PEM chain) and its key, presented when the server asks.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// libpq's spelling of a boolean connection option, also SQLAlchemy's `asbool`.
fn boolean(k: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "y" | "t" => Ok(true),
        "0" | "false" | "no" | "off" | "n" | "f" => Ok(false),
        _ => Err(format!("{k}={v} is not a boolean (true or false)")),
    }
}

impl NetUrl {
    /// The TLS settings the options ask for, before PostgreSQL's default files are
    /// looked at ([`NetUrl::tls`]). Errors name the option.
    fn tls_request(&self) -> Result<Tls, String> {
        match self.engine {
            Engine::Postgres => self.pg_tls_request(),
            Engine::Mysql => self.my_tls_request(),
        }
    }

    /// libpq's `sslmode` (default `prefer`), `sslrootcert`, `sslcert`, `sslkey`.
    fn pg_tls_request(&self) -> Result<Tls, String> {
        let mode = self.option("sslmode").unwrap_or("prefer");
        let (usage, verify) = match mode {
            "disable" => (TlsUse::Disable, Verify::None),
            "allow" => (TlsUse::Allow, Verify::None),
            "prefer" => (TlsUse::Prefer, Verify::None),
            "require" => (TlsUse::Require, Verify::None),
            "verify-ca" => (TlsUse::Require, Verify::Chain),
            "verify-full" => (TlsUse::Require, Verify::Full),
            other => {
                return Err(format!(
                    "sslmode={other} is not supported (disable, allow, prefer, require, \
                     verify-ca or verify-full)"
                ))
            }
        };
        let roots = match self.option("sslrootcert").filter(|r| !r.is_empty()) {
            None => None,
            Some("system") => {
                // As libpq: the public roots vouch for any name they signed, so only
                // a check of the name makes them mean something.
                if verify != Verify::Full && usage != TlsUse::Disable {
                    return Err(format!(
                        "sslrootcert=system needs sslmode=verify-full (not {mode})"
                    ));
                }
                Some(Roots::System)
            }
            Some(path) => Some(Roots::File(PathBuf::from(path))),
        };
        let cert = self.option("sslcert").filter(|c| !c.is_empty());
        let key = self.option("sslkey").filter(|k| !k.is_empty());
        if key.is_some() && cert.is_none() {
            return Err("sslkey is set without sslcert (the client certificate it \
                        belongs to)"
                .into());
        }
        Ok(Tls {
            usage,
            verify,
            roots,
            // A certificate file may hold its key too (as OpenSSL reads it).
            client_cert: cert.map(|c| (PathBuf::from(c), PathBuf::from(key.unwrap_or(c)))),
        })
    }

    /// The MySQL drivers' options: `ssl_mode` (mysqlclient, MySQL's names) decides when
    /// given; otherwise, as PyMySQL reads SQLAlchemy's `ssl_*` options, `ssl_ca` turns
    /// on verification of the chain and the host name (`ssl_check_hostname=false` or
    /// `ssl_verify_identity=false` keep the chain only), any `ssl_*` file or
    /// `ssl=true` requires TLS, and with none of them TLS is used when the server
    /// offers it (PyMySQL's default). `ssl_disabled=true` or `ssl=false` turn it off.
    fn my_tls_request(&self) -> Result<Tls, String> {
        let flag = |k: &str| self.option(k).map(|v| boolean(k, v)).transpose();
        let ca = self.option("ssl_ca").filter(|v| !v.is_empty());
        let cert = self.option("ssl_cert").filter(|v| !v.is_empty());
        let key = self.option("ssl_key").filter(|v| !v.is_empty());
        let verify_cert = flag("ssl_verify_cert")?;
        let verify_identity = match (flag("ssl_verify_identity")?, flag("ssl_check_hostname")?) {
            (Some(a), Some(b)) if a != b => {
                return Err(
                    "ssl_verify_identity and ssl_check_hostname disagree (they mean the \
                     same; give one)"
                        .into(),
                )
            }
            (a, b) => a.or(b),
        };
        let ssl = flag("ssl")?;
        let disabled = flag("ssl_disabled")?.unwrap_or(false) || ssl == Some(false);
        let mode = self.option("ssl_mode").map(str::to_ascii_uppercase);
        let (usage, verify) = match mode.as_deref() {
            Some("DISABLED") => (TlsUse::Disable, Verify::None),
            Some(_) if disabled => {
                return Err("ssl_mode asks for TLS but ssl_disabled=true or ssl=false \
                            turns it off"
                    .into())
            }
            Some("PREFERRED") => (TlsUse::Prefer, Verify::None),
            Some("REQUIRED") => (TlsUse::Require, Verify::None),
            Some("VERIFY_CA") => (TlsUse::Require, Verify::Chain),
            Some("VERIFY_IDENTITY") => (TlsUse::Require, Verify::Full),
            Some(_) => {
                return Err(format!(
                    "ssl_mode={} is not supported (DISABLED, PREFERRED, REQUIRED, \
                     VERIFY_CA or VERIFY_IDENTITY)",
                    self.option("ssl_mode").unwrap_or("")
                ))
            }
            None if disabled => (TlsUse::Disable, Verify::None),
            None => {
                let chain = verify_cert.unwrap_or(ca.is_some());
                let name = verify_identity.unwrap_or(ca.is_some() && chain);
                let verify = match (chain || name, name) {
                    (_, true) => Verify::Full,
                    (true, false) => Verify::Chain,
                    (false, _) => Verify::None,
                };
                let asked = ca.is_some()
                    || cert.is_some()
                    || key.is_some()
                    || ssl == Some(true)
                    || verify != Verify::None;
                let usage = if asked {
                    TlsUse::Require
                } else {
                    TlsUse::Prefer
                };
                (usage, verify)
            }
        };
        if key.is_some() && cert.is_none() {
            return Err(
                "ssl_key is set without ssl_cert (the client certificate it \
                        belongs to)"
                    .into(),
            );
        }
        let roots = match verify {
            Verify::None => None,
            _ => Some(ca.map_or(Roots::System, |c| Roots::File(PathBuf::from(c)))),
        };
        Ok(Tls {
            usage,
            verify,
            roots,
            client_cert: cert.map(|c| (PathBuf::from(c), PathBuf::from(key.unwrap_or(c)))),
        })
    }

    /// The TLS settings to connect with. For PostgreSQL, as libpq: `pg_dir` is
    /// `~/.postgresql`, whose `root.crt` (when the option `sslrootcert` is not set) makes
    /// every TLS mode verify the chain, and whose `postgresql.crt` / `postgresql.key` are
    /// the client certificate when `sslcert` is not set; `verify-ca` and `verify-full`
    /// without any root certificate are an error. A UNIX socket never uses TLS (the
    /// server offers none there).
    pub fn tls(&self, pg_dir: Option<&std::path::Path>) -> Result<Tls, String> {
        let mut t = self.tls_request()?;
        if self.engine == Engine::Mysql {
            if self.option("unix_socket").is_some() {
                t.usage = TlsUse::Disable;
            }
        } else if self.pg_socket() {
            t.usage = TlsUse::Disable;
        }
        if t.usage == TlsUse::Disable {
            return Ok(Tls {
                usage: TlsUse::Disable,
                verify: Verify::None,
                roots: None,
                client_cert: None,
            });
        }
        if self.engine == Engine::Postgres {
            let default = |name: &str| pg_dir.map(|d| d.join(name)).filter(|p| p.is_file());
            if t.roots.is_none() && self.option("sslrootcert").is_none_or(str::is_empty) {
                t.roots = default("root.crt").map(Roots::File);
            }
            if t.roots.is_some() && t.verify == Verify::None {
                t.verify = Verify::Chain;
            }
            if t.verify != Verify::None && t.roots.is_none() {
                return Err(format!(
                    "sslmode={} needs root certificates to verify the server with: \
                     sslrootcert=/path/to/root.crt, a file {}, or sslrootcert=system",
                    self.option("sslmode").unwrap_or(""),
                    pg_dir.map_or("~/.postgresql/root.crt".into(), |d| d
                        .join("root.crt")
                        .display()
                        .to_string())
                ));
            }
            if t.client_cert.is_none() {
                if let Some(cert) = default("postgresql.crt") {
                    let key = pg_dir
                        .map(|d| d.join("postgresql.key"))
                        .unwrap_or_else(|| cert.clone());
                    t.client_cert = Some((cert, key));
                }
            }
        }
        Ok(t)
    }

    /// The PostgreSQL host is a UNIX socket directory (libpq: a host starting with '/').
    pub fn pg_socket(&self) -> bool {
        let host = self.option("host").or(self.host.as_deref());
        host.is_none_or(|h| h.starts_with('/') || h.starts_with('@'))
    }
}

fn parse_sqlite(url: &str, shown: &str) -> Result<PathBuf, String> {
    let usage = "use sqlite:///relative/path.db or sqlite:////absolute/path.db";
    let rest = ["sqlite:///", "sqlite+pysqlite:///"].iter().find_map(|p| {
        url.get(..p.len())
            .filter(|h| h.eq_ignore_ascii_case(p))
            .map(|_| &url[p.len()..])
    });
    let Some(rest) = rest else {
        return Err(format!(
            "{KEY} = {shown:?} is an in-memory database, which luigid-rs does not support; {usage}"
        ));
    };
    if rest.is_empty() {
        return Err(format!(
            "{KEY} = {shown:?} names no file (an in-memory database), \
             which luigid-rs does not support; {usage}"
        ));
    }
    if rest.contains('?') {
        return Err(format!(
            "{KEY} = {shown:?}: URL options are not supported; {usage}"
        ));
    }
    Ok(PathBuf::from(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(u: &str) -> NetUrl {
        match parse(u) {
            Ok(DbUrl::Net(n)) => n,
            other => panic!("{u}: {other:?}"),
        }
    }

    #[test]
    fn postgres_urls_split_as_sqlalchemy() {
        let n = net("postgresql+psycopg2://luigi:s%40cr%3At@db.example:6543/hist?sslmode=disable");
        assert_eq!(n.engine, Engine::Postgres);
        assert_eq!(n.user.as_deref(), Some("luigi"));
        assert_eq!(n.password(), Some("s@cr:t"));
        assert_eq!(n.host.as_deref(), Some("db.example"));
        assert_eq!(n.port, Some(6543));
        assert_eq!(n.database.as_deref(), Some("hist"));
        assert_eq!(n.option("sslmode"), Some("disable"));
        let n = net("postgresql://u@/hist?host=/var/run/postgresql");
        assert_eq!(n.host, None);
        assert_eq!(n.password(), None);
        assert_eq!(n.option("host"), Some("/var/run/postgresql"));
        let n = net("postgresql://[::1]:5432/x");
        assert_eq!(n.host.as_deref(), Some("::1"));
        assert_eq!(n.port, Some(5432));
        assert_eq!(n.to_string(), "postgresql://[::1]:5432/x");
    }

    #[test]
    fn mysql_and_mariadb_schemes() {
        for s in [
            "mysql",
            "mysql+pymysql",
            "mysql+mysqldb",
            "mariadb",
            "MariaDB+PyMySQL",
        ] {
            let n = net(&format!(
                "{s}://root:pw@127.0.0.1:3307/luigi?charset=utf8mb4"
            ));
            assert_eq!(n.engine, Engine::Mysql, "{s}");
            assert_eq!(n.port, Some(3307));
            assert_eq!(n.password(), Some("pw"));
        }
        let n = net("mysql+pymysql://u:p@localhost/db?unix_socket=/tmp/my.sock");
        assert_eq!(n.option("unix_socket"), Some("/tmp/my.sock"));
    }

    #[test]
    fn display_masks_the_password() {
        let n = net("postgresql://luigi:hunter2@h/db?password=hunter3&sslmode=prefer");
        let shown = n.to_string();
        assert_eq!(
            shown,
            "postgresql://luigi:***@h/db?password=***&sslmode=prefer"
        );
        assert!(!format!("{n:?}").contains("hunter"));
        assert!(!DbUrl::Net(n).to_string().contains("hunter"));
        // a user without password shows no colon
        assert_eq!(net("mysql://u@h/d").to_string(), "mysql://u@h/d");
    }

    #[test]
    fn errors_never_show_the_password() {
        for u in [
            "mssql+pyodbc://sa:hunter2@h/db",
            "oracle://scott:hunter2@h:1521/orcl",
            "postgresql+asyncpg://u:hunter2@h/db",
            "postgresql://u:hunter2@h:notaport/db",
            "postgresql://u:hunter2@h/db?sslmode=bogus",
            "postgresql://u:hunter2@h/db?sslrootcert=system&sslmode=require",
            "mysql://u:hunter2@h/db?ssl_verify_cert=maybe",
            "postgresql://u:hunter2@h/db?frobnicate=1",
            "mysql://u:hunter2@h/db?password=hunter2&bogus=1",
            "mysql://u:hunter2@[::1/db",
            "postgresql://u:hunter2/db",
            "postgresql://u:hunter2",
            "u:hunter2@h/db",
        ] {
            let e = parse(u).unwrap_err();
            assert!(!e.contains("hunter2"), "{e}");
            assert!(e.contains("[task_history] db_connection"), "{e}");
        }
        let e = parse("mssql+pyodbc://sa:hunter2@h/db").unwrap_err();
        assert!(e.contains("\"mssql\" is not supported"), "{e}");
        assert!(
            e.contains("postgresql://") && e.contains("mysql+pymysql://"),
            "{e}"
        );
        assert!(e.contains("sa:***@h"), "{e}");
    }

    fn tls(u: &str, pg_dir: Option<&std::path::Path>) -> Tls {
        match net(u).tls(pg_dir) {
            Ok(t) => t,
            Err(e) => panic!("{u}: {e}"),
        }
    }

    fn tls_err(u: &str) -> String {
        let e = match parse(u) {
            Ok(DbUrl::Net(n)) => n.tls(None).unwrap_err(),
            Ok(other) => panic!("{u}: {other:?}"),
            Err(e) => e,
        };
        assert!(!e.contains("hunter2"), "{e}");
        e
    }

    #[test]
    fn percent_encoded_socket_host() {
        let n = net("postgresql://luigi:hunter2@%2Fvar%2Frun%2Fpostgresql/hist");
        assert_eq!(n.host.as_deref(), Some("/var/run/postgresql"));
        assert_eq!(n.database.as_deref(), Some("hist"));
        assert!(n.pg_socket());
        assert_eq!(
            n.to_string(),
            "postgresql://luigi:***@%2Fvar%2Frun%2Fpostgresql/hist"
        );
        // TLS never on a socket, whatever sslmode says (libpq ignores it there)
        let t = tls(
            "postgresql://u@%2Ftmp%2Fpg:5433/d?sslmode=verify-full",
            None,
        );
        assert_eq!(t.usage, TlsUse::Disable);
        let n = net("postgresql://u@h/d?host=/run/pg");
        assert!(n.pg_socket());
        assert!(!net("postgresql://u@db.example/d").pg_socket());
        assert!(net("postgresql:///d").pg_socket());
    }

    #[test]
    fn postgres_sslmodes_as_libpq() {
        let empty = tempfile::tempdir().unwrap();
        let none = Some(empty.path());
        let t = tls("postgresql://u@h/d", none);
        assert_eq!(
            (t.usage, t.verify, t.roots),
            (TlsUse::Prefer, Verify::None, None)
        );
        for (mode, usage) in [
            ("disable", TlsUse::Disable),
            ("allow", TlsUse::Allow),
            ("prefer", TlsUse::Prefer),
            ("require", TlsUse::Require),
        ] {
            let t = tls(&format!("postgresql://u@h/d?sslmode={mode}"), none);
            assert_eq!((t.usage, t.verify), (usage, Verify::None), "{mode}");
        }
        // a root certificate makes require (and prefer) check the chain, as libpq
        let t = tls(
            "postgresql://u@h/d?sslmode=require&sslrootcert=/ca.crt",
            none,
        );
        assert_eq!(t.verify, Verify::Chain);
        assert_eq!(t.roots, Some(Roots::File("/ca.crt".into())));
        let t = tls(
            "postgresql://u@h/d?sslmode=verify-ca&sslrootcert=/ca.crt",
            none,
        );
        assert_eq!((t.usage, t.verify), (TlsUse::Require, Verify::Chain));
        let t = tls(
            "postgresql://u@h/d?sslmode=verify-full&sslrootcert=/ca.crt",
            none,
        );
        assert_eq!((t.usage, t.verify), (TlsUse::Require, Verify::Full));
        let t = tls(
            "postgresql://u@h/d?sslmode=verify-full&sslrootcert=system",
            none,
        );
        assert_eq!(t.roots, Some(Roots::System));
        // verification without roots is refused, naming the option to set
        let e = net("postgresql://u:hunter2@h/d?sslmode=verify-ca")
            .tls(none)
            .unwrap_err();
        assert!(e.contains("sslrootcert") && e.contains("verify-ca"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        // client certificate; the key defaults to the certificate's file
        let t = tls(
            "postgresql://u@h/d?sslmode=require&sslcert=/c.crt&sslkey=/c.key",
            none,
        );
        assert_eq!(t.client_cert, Some(("/c.crt".into(), "/c.key".into())));
        let t = tls("postgresql://u@h/d?sslmode=require&sslcert=/both.pem", none);
        assert_eq!(
            t.client_cert,
            Some(("/both.pem".into(), "/both.pem".into()))
        );
        // disable: nothing else matters
        let t = tls(
            "postgresql://u@h/d?sslmode=disable&sslrootcert=/ca.crt&sslcert=/c",
            none,
        );
        assert_eq!(t.roots, None);
        assert_eq!(t.client_cert, None);
    }

    #[test]
    fn postgres_default_files_in_dot_postgresql() {
        let dir = tempfile::tempdir().unwrap();
        let d = Some(dir.path());
        std::fs::write(dir.path().join("root.crt"), "x").unwrap();
        std::fs::write(dir.path().join("postgresql.crt"), "x").unwrap();
        let t = tls("postgresql://u@h/d?sslmode=verify-full", d);
        assert_eq!(t.roots, Some(Roots::File(dir.path().join("root.crt"))));
        assert_eq!(
            t.client_cert,
            Some((
                dir.path().join("postgresql.crt"),
                dir.path().join("postgresql.key")
            ))
        );
        // the default root file makes prefer verify the chain (libpq loads it always)
        let t = tls("postgresql://u@h/d", d);
        assert_eq!((t.usage, t.verify), (TlsUse::Prefer, Verify::Chain));
        // an explicit sslrootcert wins over the default file
        let t = tls(
            "postgresql://u@h/d?sslmode=verify-ca&sslrootcert=/mine.crt",
            d,
        );
        assert_eq!(t.roots, Some(Roots::File("/mine.crt".into())));
    }

    #[test]
    fn postgres_tls_option_errors_name_the_key() {
        let e = tls_err("postgresql://u:hunter2@h/d?sslmode=bogus");
        assert!(
            e.contains("sslmode=bogus") && e.contains("verify-full"),
            "{e}"
        );
        let e = tls_err("postgresql://u:hunter2@h/d?sslmode=require&sslrootcert=system");
        assert!(
            e.contains("sslrootcert=system") && e.contains("verify-full"),
            "{e}"
        );
        let e = tls_err("postgresql://u:hunter2@h/d?sslkey=/k");
        assert!(e.contains("sslkey"), "{e}");
        let e = tls_err("postgresql://u:hunter2@h/d?sslpassword=x");
        assert!(
            e.contains("\"sslpassword\"") && e.contains("encrypted"),
            "{e}"
        );
        let e = tls_err("postgresql://u:hunter2@h/d?channel_binding=maybe");
        assert!(e.contains("channel_binding=maybe"), "{e}");
        let e = tls_err("postgresql://u:hunter2@h/d?sslcrl=/x");
        assert!(e.contains("\"sslcrl\""), "{e}");
    }

    #[test]
    fn mysql_ssl_options_as_the_python_drivers() {
        let m = "mysql+pymysql://u:p@h/d";
        let t = tls(m, None);
        assert_eq!((t.usage, t.verify), (TlsUse::Prefer, Verify::None));
        let t = tls(&format!("{m}?ssl_ca=/ca.pem"), None);
        assert_eq!((t.usage, t.verify), (TlsUse::Require, Verify::Full));
        assert_eq!(t.roots, Some(Roots::File("/ca.pem".into())));
        for k in ["ssl_check_hostname", "ssl_verify_identity"] {
            let t = tls(&format!("{m}?ssl_ca=/ca.pem&{k}=false"), None);
            assert_eq!((t.usage, t.verify), (TlsUse::Require, Verify::Chain), "{k}");
        }
        let t = tls(&format!("{m}?ssl_ca=/ca.pem&ssl_verify_cert=false"), None);
        assert_eq!((t.usage, t.verify), (TlsUse::Require, Verify::None));
        let t = tls(&format!("{m}?ssl_verify_cert=true"), None);
        assert_eq!((t.verify, t.roots), (Verify::Chain, Some(Roots::System)));
        let t = tls(&format!("{m}?ssl_verify_identity=1"), None);
        assert_eq!(t.verify, Verify::Full);
        let t = tls(&format!("{m}?ssl=true"), None);
        assert_eq!((t.usage, t.verify), (TlsUse::Require, Verify::None));
        let t = tls(&format!("{m}?ssl_cert=/c.pem&ssl_key=/k.pem"), None);
        assert_eq!((t.usage, t.verify), (TlsUse::Require, Verify::None));
        assert_eq!(t.client_cert, Some(("/c.pem".into(), "/k.pem".into())));
        for off in ["ssl_disabled=true", "ssl=false", "ssl_mode=DISABLED"] {
            let t = tls(&format!("{m}?ssl_ca=/ca.pem&{off}"), None);
            assert_eq!(t.usage, TlsUse::Disable, "{off}");
        }
        // mysqlclient's ssl_mode decides when given
        for (mode, usage, verify) in [
            ("preferred", TlsUse::Prefer, Verify::None),
            ("REQUIRED", TlsUse::Require, Verify::None),
            ("VERIFY_CA", TlsUse::Require, Verify::Chain),
            ("VERIFY_IDENTITY", TlsUse::Require, Verify::Full),
        ] {
            let t = tls(
                &format!("mysql+mysqldb://u@h/d?ssl_mode={mode}&ssl_ca=/ca.pem"),
                None,
            );
            assert_eq!((t.usage, t.verify), (usage, verify), "{mode}");
        }
        // a UNIX socket is never encrypted (the driver does not ask for it there)
        let t = tls(
            &format!("{m}?unix_socket=/tmp/my.sock&ssl_ca=/ca.pem"),
            None,
        );
        assert_eq!(t.usage, TlsUse::Disable);
    }

    #[test]
    fn mysql_ssl_option_errors_name_the_key() {
        let e = tls_err("mysql://u:hunter2@h/d?ssl_verify_cert=maybe");
        assert!(e.contains("ssl_verify_cert=maybe"), "{e}");
        let e = tls_err("mysql://u:hunter2@h/d?ssl_mode=VERIFY_ALL");
        assert!(
            e.contains("ssl_mode=VERIFY_ALL") && e.contains("VERIFY_IDENTITY"),
            "{e}"
        );
        let e = tls_err("mysql://u:hunter2@h/d?ssl_mode=REQUIRED&ssl_disabled=true");
        assert!(e.contains("ssl_disabled"), "{e}");
        let e = tls_err("mysql://u:hunter2@h/d?ssl_capath=/etc/ssl");
        assert!(e.contains("\"ssl_capath\"") && e.contains("ssl_ca"), "{e}");
        let e = tls_err("mysql://u:hunter2@h/d?ssl_key=/k.pem");
        assert!(e.contains("ssl_key") && e.contains("ssl_cert"), "{e}");
        let e = tls_err("mysql://u:hunter2@h/d?ssl_verify_identity=true&ssl_check_hostname=false");
        assert!(e.contains("disagree"), "{e}");
    }

    #[test]
    fn mask_raw_handles_odd_shapes() {
        assert_eq!(mask_raw("x://a:b@c@d/e"), "x://a:***@d/e");
        assert_eq!(mask_raw("x://a@d"), "x://a@d");
        assert_eq!(mask_raw("x://h:5432/d"), "x://h:5432/d");
        assert_eq!(mask_raw("x://u:secret/d"), "x://u:***/d");
        assert_eq!(
            mask_raw("x://d/e?password=z&k=v"),
            "x://d/e?password=***&k=v"
        );
        assert_eq!(mask_raw("no url"), "no url");
    }

    #[test]
    fn sqlite_urls() {
        assert_eq!(
            parse("sqlite:///rel.db"),
            Ok(DbUrl::Sqlite(PathBuf::from("rel.db")))
        );
        assert_eq!(
            parse("sqlite:////abs/h.db"),
            Ok(DbUrl::Sqlite(PathBuf::from("/abs/h.db")))
        );
        assert!(parse("sqlite://").is_err());
        assert!(parse("sqlite:///").is_err());
        assert!(parse("sqlite:///x.db?mode=ro").is_err());
    }
}

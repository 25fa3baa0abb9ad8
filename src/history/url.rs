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
            if h.contains(':') {
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
    let host = host.filter(|h| !h.is_empty());
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
            "ssl_disabled",
        ],
    };
    for (k, v) in &u.options {
        if !known.contains(&k.as_str()) {
            return Err(format!(
                "the option {k:?} is not supported here (supported: {})",
                known.join(", ")
            ));
        }
        let ok = match (u.engine, k.as_str()) {
            // No TLS client is built in: say so instead of connecting in the clear.
            (Engine::Postgres, "sslmode") => matches!(v.as_str(), "disable" | "allow" | "prefer"),
            (Engine::Postgres, "client_encoding") => {
                matches!(
                    v.to_ascii_lowercase().as_str(),
                    "utf8" | "utf-8" | "unicode"
                )
            }
            (Engine::Mysql, "charset") => matches!(v.as_str(), "utf8" | "utf8mb4" | "utf8mb3"),
            (Engine::Mysql, "ssl_disabled") => {
                matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes")
            }
            (_, "port") => v.parse::<u16>().is_ok(),
            (_, "connect_timeout" | "read_timeout" | "write_timeout") => {
                v.parse::<u64>().is_ok_and(|n| n > 0)
            }
            _ => true,
        };
        if !ok {
            let v = if secret_option(k) { "***" } else { v.as_str() };
            return Err(format!(
                "{k}={v} is not supported (luigid-rs connects without TLS; sslmode may be \
                 disable, allow or prefer; the character set is always UTF-8)"
            ));
        }
    }
    Ok(())
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
            "postgresql://u:hunter2@h/db?sslmode=require",
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

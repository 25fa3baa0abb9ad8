//! MySQL and MariaDB through the `mysql` client.

use super::super::tls;
use super::super::url::{Engine, NetUrl, Roots, Tls, TlsUse, Verify};
use super::{Conn, DbError, Dialect, Link, Rows, Val, CONNECT_TIMEOUT, PAGE_STATEMENT_TIMEOUT};
use std::time::Duration;

/// The `mysql` crate's TLS options for `tls`: no verification (REQUIRED, PREFERRED),
/// the chain only (VERIFY_CA), or the chain and the host name (VERIFY_IDENTITY). Its
/// rustls backend adds the public web roots to `ssl_ca`'s.
fn my_ssl_opts(tls: &Tls) -> Option<mysql::SslOpts> {
    if tls.usage == TlsUse::Disable {
        return None;
    }
    let root = match &tls.roots {
        Some(Roots::File(p)) => Some(p.clone()),
        _ => None,
    };
    let identity = tls
        .client_cert
        .as_ref()
        .map(|(cert, key)| mysql::ClientIdentity::new(cert.clone(), key.clone()));
    Some(
        mysql::SslOpts::default()
            .with_root_cert_path(root)
            .with_client_identity(identity)
            .with_danger_accept_invalid_certs(tls.verify == Verify::None)
            .with_danger_skip_domain_validation(tls.verify == Verify::Chain),
    )
}

/// MySQL and MariaDB through the `mysql` client.
pub struct MyConn {
    opts: mysql::Opts,
    /// `PREFERRED`: the same without TLS, for a server that offers none.
    plain: Option<mysql::Opts>,
    conn: Option<mysql::Conn>,
    link: Link,
}

fn my_transient(e: &mysql::Error) -> bool {
    match e {
        mysql::Error::IoError(_) | mysql::Error::CodecError(_) | mysql::Error::DriverError(_) => {
            true
        }
        mysql::Error::MySqlError(m) => matches!(
            m.code,
            // too many connections, shutdown in progress, lock wait timeout, deadlock,
            // connection killed, server gone / lost, network errors, handshake
            1040 | 1053 | 1205 | 1213 | 1927 | 2006 | 2013 | 1152 | 1158..=1161 | 1043
        ),
        _ => false,
    }
}

fn my_err(e: mysql::Error) -> DbError {
    let data = matches!(&e, mysql::Error::MySqlError(m) if matches!(m.code,
        // duplicate key, NULL in NOT NULL, data too long, out of range, bad string or
        // date value, foreign key
        1062 | 1048 | 1406 | 1264 | 1366 | 1292 | 1452));
    DbError {
        transient: my_transient(&e),
        data,
        message: e.to_string(),
    }
}

pub(super) fn my_value(v: &Val) -> mysql::Value {
    match v {
        Val::Null => mysql::Value::NULL,
        Val::Int(i) => mysql::Value::Int(*i),
        Val::Float(f) => mysql::Value::Double(*f),
        Val::Text(t) => mysql::Value::Bytes(t.as_bytes().to_vec()),
    }
}

pub(super) fn my_val(v: mysql::Value) -> Val {
    match v {
        mysql::Value::NULL => Val::Null,
        mysql::Value::Bytes(b) => Val::Text(String::from_utf8_lossy(&b).into_owned()),
        mysql::Value::Int(i) => Val::Int(i),
        mysql::Value::UInt(u) => Val::Int(i64::try_from(u).unwrap_or(i64::MAX)),
        mysql::Value::Float(f) => Val::Float(f.into()),
        mysql::Value::Double(f) => Val::Float(f),
        mysql::Value::Date(y, mo, d, h, mi, s, us) => Val::Text(format!(
            "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}"
        )),
        mysql::Value::Time(neg, d, h, mi, s, us) => Val::Text(format!(
            "{}{} {h:02}:{mi:02}:{s:02}.{us:06}",
            if neg { "-" } else { "" },
            d
        )),
    }
}

impl MyConn {
    pub fn new(u: &NetUrl, for_pages: bool) -> Result<MyConn, DbError> {
        debug_assert_eq!(u.engine, Engine::Mysql);
        let secs = |k: &str, d: Duration| {
            u.option(k)
                .and_then(|t| t.parse().ok())
                .map(Duration::from_secs)
                .unwrap_or(d)
        };
        let io = if for_pages {
            PAGE_STATEMENT_TIMEOUT
        } else {
            Duration::from_secs(30)
        };
        let b = mysql::OptsBuilder::new()
            .ip_or_hostname(Some(u.host.clone().unwrap_or_else(|| "localhost".into())))
            .tcp_port(u.port.unwrap_or(3306))
            .socket(u.option("unix_socket"))
            // As the Python drivers: TCP unless a socket is named.
            .prefer_socket(false)
            .user(u.user.clone())
            .pass(u.password().map(str::to_string))
            .db_name(u.database.clone())
            .tcp_connect_timeout(Some(secs("connect_timeout", CONNECT_TIMEOUT)))
            .read_timeout(Some(secs("read_timeout", io)))
            .write_timeout(Some(secs("write_timeout", io)));
        let tls = u.tls(None).map_err(DbError::permanent)?;
        tls::check_mysql_files(&tls).map_err(DbError::permanent)?;
        let plain = (tls.usage == TlsUse::Prefer).then(|| mysql::Opts::from(b.clone()));
        let b = b.ssl_opts(my_ssl_opts(&tls));
        Ok(MyConn {
            opts: mysql::Opts::from(b),
            plain,
            conn: None,
            link: Link::new(for_pages),
        })
    }

    fn conn(&mut self) -> Result<&mut mysql::Conn, DbError> {
        self.conn
            .as_mut()
            .ok_or_else(|| DbError::transient("not connected"))
    }

    fn after<T>(&mut self, r: Result<T, mysql::Error>) -> Result<T, DbError> {
        let r = r.map_err(my_err);
        if matches!(&r, Err(e) if e.transient) {
            self.reset();
        }
        r
    }
}

impl Conn for MyConn {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        use mysql::prelude::Queryable;
        let r = self.conn()?.query_drop(sql);
        self.after(r)
    }

    fn exec(&mut self, sql: &str, args: &[Val]) -> Result<u64, DbError> {
        use mysql::prelude::Queryable;
        let params = mysql::Params::Positional(args.iter().map(my_value).collect());
        let c = self.conn()?;
        let r = c.exec_drop(sql, params).map(|_| c.affected_rows());
        self.after(r)
    }

    fn query(&mut self, sql: &str, args: &[Val]) -> Result<Rows, DbError> {
        use mysql::prelude::Queryable;
        let params = if args.is_empty() {
            mysql::Params::Empty
        } else {
            mysql::Params::Positional(args.iter().map(my_value).collect())
        };
        let r = self.conn()?.exec::<mysql::Row, _, _>(sql, params);
        let rows = self.after(r)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.as_ref(i).cloned().map_or(Val::Null, my_val))
                    .collect()
            })
            .collect())
    }

    fn insert_id(&mut self, sql: &str, args: &[Val]) -> Result<i64, DbError> {
        use mysql::prelude::Queryable;
        let params = mysql::Params::Positional(args.iter().map(my_value).collect());
        let c = self.conn()?;
        let r = c.exec_drop(sql, params).map(|_| c.last_insert_id());
        let id = self.after(r)?;
        i64::try_from(id).map_err(|_| DbError::permanent("id out of range"))
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.batch("START TRANSACTION")
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.batch("COMMIT")
    }

    fn rollback(&mut self) {
        use mysql::prelude::Queryable;
        if let Some(c) = self.conn.as_mut() {
            if c.query_drop("ROLLBACK").is_err() {
                self.reset();
            }
        }
    }

    fn check(&mut self) -> Result<bool, DbError> {
        if self.conn.is_some() {
            return Ok(false);
        }
        let (opts, plain) = (&self.opts, &self.plain);
        let open = || {
            match mysql::Conn::new(opts.clone()) {
                Err(mysql::Error::DriverError(mysql::DriverError::TlsNotSupported)) => {
                    match plain {
                        Some(plain) => mysql::Conn::new(plain.clone()),
                        None => Err(mysql::Error::DriverError(
                            mysql::DriverError::TlsNotSupported,
                        )),
                    }
                }
                other => other,
            }
            .map_err(my_err)
        };
        let conn = self.link.connect(open, |_| Ok(()))?;
        self.conn = Some(conn);
        Ok(false)
    }

    fn reset(&mut self) {
        self.conn = None;
    }
}

//! Handing e-mails to an SMTP server, the way luigi's `send_email_smtp`
//! (`luigi/notifications.py`) connects: SMTPS with `ssl`, otherwise plain SMTP upgraded
//! with STARTTLS when the server offers it (unless `no_tls`), and a login when both a
//! username and a password are set. Runs on the notifier thread only.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Mailboxes, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, Message, SmtpTransport, Transport};

use super::email::{get_with_core, Email};
use crate::config::Ini;

/// `[smtp]`, with luigi's fallbacks to the old `[core] smtp_*` names.
#[derive(Debug, Clone, PartialEq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ssl: bool,
    pub no_tls: bool,
    pub local_hostname: Option<String>,
    /// None: no timeout of our own (luigi's `timeout = 0`); lettre then waits 60 s.
    pub timeout: Option<Duration>,
}

impl SmtpConfig {
    pub fn from_ini(ini: &Ini) -> Result<SmtpConfig, String> {
        let get = |key: &str, core: &str| get_with_core(ini, "smtp", key, core);
        let boolean = |key: &str, core: &str| -> Result<bool, String> {
            match get(key, core)? {
                None => Ok(false),
                Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err(format!("[smtp] {key} = {v:?} is not true or false")),
                },
            }
        };
        let port = match get("port", "smtp_port")? {
            None => 0,
            Some(v) => crate::config::parse_py_int(v)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("[smtp] port = {v:?} is not a port number"))?,
        };
        let timeout = match get("timeout", "smtp_timeout")? {
            None => 10.0,
            Some(v) => crate::config::parse_py_float(v)
                .filter(|t| t.is_finite() && *t >= 0.0)
                .ok_or_else(|| format!("[smtp] timeout = {v:?} is not a number of seconds"))?,
        };
        let mut host = get("host", "smtp_host")?.unwrap_or("localhost").to_string();
        let mut port = port;
        // smtplib takes "host:port" when no port is given (one colon: not IPv6).
        if port == 0 && host.matches(':').count() == 1 {
            if let Some((h, p)) = host.split_once(':') {
                let p = p
                    .trim()
                    .parse::<u16>()
                    .map_err(|_| format!("[smtp] host = {host:?} has a bad port"))?;
                port = p;
                host = h.to_string();
            }
        }
        let ssl = boolean("ssl", "smtp_ssl")?;
        if port == 0 {
            port = if ssl { 465 } else { 25 };
        }
        Ok(SmtpConfig {
            host,
            port,
            username: get("username", "smtp_login")?.map(str::to_string),
            password: get("password", "smtp_password")?.map(str::to_string),
            ssl,
            no_tls: boolean("no_tls", "smtp_without_tls")?,
            local_hostname: get("local_hostname", "smtp_local_hostname")?.map(str::to_string),
            timeout: (timeout > 0.0).then(|| Duration::from_secs_f64(timeout)),
        })
    }

    fn transport(&self) -> Result<SmtpTransport, String> {
        // smtplib's STARTTLS and SMTP_SSL use an unverified TLS context; so do we, or a
        // relay with a self-signed certificate that luigid reached would get nothing.
        let tls = || {
            TlsParameters::builder(self.host.clone())
                .dangerous_accept_invalid_certs(true)
                .dangerous_accept_invalid_hostnames(true)
                .build()
                .map_err(|e| format!("TLS setup for {}: {e}", self.host))
        };
        let tls = if self.ssl {
            Tls::Wrapper(tls()?)
        } else if self.no_tls {
            Tls::None
        } else {
            Tls::Opportunistic(tls()?)
        };
        let hello = self
            .local_hostname
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(super::email::hostname);
        let mut b = SmtpTransport::builder_dangerous(self.host.clone())
            .port(self.port)
            .tls(tls)
            .timeout(self.timeout)
            .hello_name(ClientId::Domain(hello));
        if let (Some(u), Some(p)) = (&self.username, &self.password) {
            if !u.is_empty() && !p.is_empty() {
                b = b.credentials(Credentials::new(u.clone(), p.clone()));
            }
        }
        Ok(b.build())
    }
}

/// The MIME message luigi builds (`generate_email`): multipart/related around one
/// UTF-8 text part, `To` the recipients joined by commas.
pub fn message(e: &Email) -> Result<(Envelope, Vec<u8>), String> {
    let bad = |what: &str, v: &str| format!("{what} {v:?} is not an e-mail address");
    let from: Mailbox = e.sender.parse().map_err(|_| bad("sender", &e.sender))?;
    let mut to = Mailboxes::new();
    let mut rcpt: Vec<Address> = Vec::new();
    for r in &e.recipients {
        let m: Mailbox = r.parse().map_err(|_| bad("recipient", r))?;
        rcpt.push(m.email.clone());
        to.push(m);
    }
    let content_type = if e.html {
        ContentType::TEXT_HTML
    } else {
        ContentType::TEXT_PLAIN
    };
    let msg = Message::builder()
        .from(from.clone())
        .mailbox(lettre::message::header::To::from(to))
        .subject(e.subject.clone())
        .multipart(
            MultiPart::related().singlepart(
                // As bytes: base64 like luigi's MIMEText, and the text's own line
                // endings kept (a String body would get CRLF).
                SinglePart::builder()
                    .header(content_type)
                    .body(e.body.clone().into_bytes()),
            ),
        )
        .map_err(|err| format!("building the e-mail: {err}"))?;
    let envelope =
        Envelope::new(Some(from.email), rcpt).map_err(|err| format!("envelope: {err}"))?;
    Ok((envelope, msg.formatted()))
}

/// Send one e-mail, trying `attempts` times with growing pauses (1 s, 2 s, ...).
/// Errors are returned (the caller logs them once).
pub fn send(cfg: &SmtpConfig, e: &Email, attempts: u32) -> Result<(), String> {
    let (envelope, raw) = message(e)?;
    let transport = cfg.transport()?;
    let mut last = String::new();
    for attempt in 0..attempts.max(1) {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(u64::from(attempt)));
        }
        match transport.send_raw(&envelope, &raw) {
            Ok(_) => return Ok(()),
            Err(err) => {
                last = err.to_string();
                // A permanent refusal (5xx) will not change on a retry.
                if err.is_permanent() {
                    break;
                }
            }
        }
    }
    Err(format!(
        "could not send the e-mail {:?} to {:?} through {}:{}: {last}",
        e.subject, e.recipients, cfg.host, cfg.port
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_keys_and_defaults() {
        let mut ini = Ini::default();
        let c = SmtpConfig::from_ini(&ini).expect("defaults");
        assert_eq!(
            (c.host.as_str(), c.port, c.ssl, c.no_tls),
            ("localhost", 25, false, false)
        );
        assert_eq!(c.timeout, Some(Duration::from_secs(10)));
        ini.set("smtp", "ssl", "True");
        ini.set("core", "smtp_host", "mail.example.com:2525");
        ini.set("smtp", "timeout", "0");
        let c = SmtpConfig::from_ini(&ini).expect("ok");
        assert_eq!(
            (c.host.as_str(), c.port, c.ssl),
            ("mail.example.com", 2525, true)
        );
        assert_eq!(c.timeout, None);
        ini.set("smtp", "port", "x");
        assert!(SmtpConfig::from_ini(&ini).is_err());
    }

    #[test]
    fn message_is_multipart_related_with_the_text() {
        let e = Email {
            subject: "Luigi: 1 failure in the last 1 minutes".into(),
            body: "- A() (1 failure)\n\n      boom é".into(),
            sender: "luigi@example.com".into(),
            recipients: vec!["a@example.com".into(), "b@example.com".into()],
            html: false,
        };
        let (env, raw) = message(&e).expect("built");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("multipart/related"), "{text}");
        assert!(text.contains("text/plain; charset=utf-8"), "{text}");
        assert!(text.contains("To: a@example.com, b@example.com"), "{text}");
        assert_eq!(env.to().len(), 2);
        let bad = Email {
            sender: "not an address".into(),
            ..e
        };
        assert!(message(&bad).is_err());
    }
}

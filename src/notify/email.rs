//! The e-mails luigid's scheduler sends, built without IO: the disable e-mail
//! (`luigi/scheduler.py`, `SimpleTaskState.set_status`) and the batch summaries
//! (`luigi/batch_notifier.py`, `BatchNotifier`), with the recipient and subject rules of
//! `luigi/notifications.py` (`send_error_email`, `send_email`, `_prefix`).

use indexmap::IndexMap;

use crate::config::Ini;

/// `[email] format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Html,
    None,
}

/// `[email]`, with luigi's fallbacks to the old `[core]` names.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    pub receiver: String,
    pub sender: String,
    pub format: Format,
    pub prefix: String,
    pub method: String,
    pub force_send: bool,
    pub traceback_max_length: i64,
}

/// A value from `[section] key`, else from the old `[core] old_key` luigi also reads.
pub fn get_with_core<'a>(
    ini: &'a Ini,
    section: &str,
    key: &str,
    core_key: &str,
) -> Result<Option<&'a str>, String> {
    match ini.get_checked(section, key).map_err(|e| e.to_string())? {
        Some(v) => Ok(Some(v)),
        None => ini.get_checked("core", core_key).map_err(|e| e.to_string()),
    }
}

/// This machine's host name (Python's `socket.gethostname()`).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into the buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

impl EmailConfig {
    pub fn from_ini(ini: &Ini) -> Result<EmailConfig, String> {
        let format = match get_with_core(ini, "email", "format", "email-type")? {
            None => Format::Plain,
            Some(v) => match v {
                "plain" => Format::Plain,
                "html" => Format::Html,
                "none" => Format::None,
                other => {
                    return Err(format!(
                        "[email] format = {other:?} is not one of plain, html, none"
                    ))
                }
            },
        };
        // The old name is `[email] type`.
        let method = match ini
            .get_checked("email", "method")
            .map_err(|e| e.to_string())?
        {
            Some(v) => v,
            None => ini
                .get_checked("email", "type")
                .map_err(|e| e.to_string())?
                .unwrap_or("smtp"),
        };
        if !matches!(method, "smtp" | "sendgrid" | "ses" | "sns") {
            return Err(format!(
                "[email] method = {method:?} is not one of smtp, sendgrid, ses, sns"
            ));
        }
        let traceback_max_length = ini
            .get_i64("email", "traceback_max_length", 5000)
            .map_err(|e| e.to_string())?;
        Ok(EmailConfig {
            receiver: get_with_core(ini, "email", "receiver", "error-email")?
                .unwrap_or("")
                .to_string(),
            sender: match get_with_core(ini, "email", "sender", "email-sender")? {
                Some(s) => s.to_string(),
                None => format!("luigi-client@{}", hostname()),
            },
            format,
            prefix: get_with_core(ini, "email", "prefix", "email-prefix")?
                .unwrap_or("")
                .to_string(),
            method: method.to_string(),
            force_send: ini
                .get_bool("email", "force_send", false)
                .map_err(|e| e.to_string())?,
            traceback_max_length,
        })
    }
}

/// One e-mail to hand to the SMTP server.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub subject: String,
    pub body: String,
    pub sender: String,
    /// Cleaned addresses (split at commas, trimmed, blanks dropped).
    pub recipients: Vec<String>,
    pub html: bool,
}

/// luigi's `send_email` up to the transport: the prefixed subject, the cleaned
/// recipients; None when nothing would be sent (no recipients, format `none`, or
/// `on_tty` without `force_send`, luigi's `_email_disabled_reason`).
pub fn compose(
    cfg: &EmailConfig,
    on_tty: bool,
    subject: &str,
    body: String,
    recipients: &[String],
) -> Option<Email> {
    let subject = if cfg.prefix.is_empty() {
        subject.to_string()
    } else {
        format!("{} {}", cfg.prefix, subject)
    };
    if recipients.is_empty() {
        return None;
    }
    let reason = if cfg.format == Format::None {
        Some("email format is 'none'")
    } else if cfg.force_send {
        None
    } else if on_tty {
        Some("running from a tty")
    } else {
        None
    };
    if let Some(reason) = reason {
        log::info!("Not sending email to {recipients:?} because {reason}");
        return None;
    }
    let recipients: Vec<String> = recipients
        .iter()
        .flat_map(|r| r.split(','))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    log::info!("Sending email to {recipients:?}");
    Some(Email {
        subject,
        body,
        sender: cfg.sender.clone(),
        recipients,
        html: cfg.format == Format::Html,
    })
}

/// A number as Python prints the int it normally is (retry_count, windows).
pub fn py_int_text(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.0}")
    } else {
        crate::pyjson::float::repr(v)
    }
}

/// The e-mail luigid sends to `[email] receiver` when it disables a task for
/// excessive failures (not with `batch_emails`, which counts it in the summary).
pub fn disable_email(
    cfg: &EmailConfig,
    on_tty: bool,
    task_id: &str,
    retry_count: f64,
    disable_window: f64,
    disable_persist: f64,
) -> Option<Email> {
    let subject = format!("Luigi Scheduler: DISABLED {task_id} due to excessive failures");
    let body = format!(
        "{task_id} failed {} times in the last {} seconds, so it is being disabled for {} \
         seconds",
        py_int_text(retry_count),
        py_int_text(disable_window),
        py_int_text(disable_persist)
    );
    let recipients: Vec<String> = if cfg.receiver.is_empty() {
        Vec::new()
    } else {
        vec![cfg.receiver.clone()]
    };
    compose(cfg, on_tty, &subject, body, &recipients)
}

/// `[batch_email] batch_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchMode {
    Family,
    All,
    UnbatchedParams,
}

/// `[batch_email]` (old names in `[batch-notifier]` for the interval).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchConfig {
    pub email_interval_minutes: i64,
    pub batch_mode: BatchMode,
    pub error_lines: i64,
    pub error_messages: i64,
    pub group_by_error_messages: bool,
}

impl BatchConfig {
    pub fn from_ini(ini: &Ini) -> Result<BatchConfig, String> {
        let int = |key: &str, default: i64| ini.get_i64("batch_email", key, default);
        let interval = match ini
            .get_checked("batch_email", "email_interval")
            .map_err(|e| e.to_string())?
        {
            Some(_) => int("email_interval", 60),
            None => ini.get_i64("batch-notifier", "email-interval-minutes", 60),
        }
        .map_err(|e| e.to_string())?;
        let batch_mode = match ini
            .get("batch_email", "batch_mode")
            .unwrap_or("unbatched_params")
        {
            "family" => BatchMode::Family,
            "all" => BatchMode::All,
            "unbatched_params" => BatchMode::UnbatchedParams,
            other => {
                return Err(format!(
                    "[batch_email] batch_mode = {other:?} is not one of family, all, \
                     unbatched_params"
                ))
            }
        };
        Ok(BatchConfig {
            email_interval_minutes: interval,
            batch_mode,
            error_lines: int("error_lines", 20).map_err(|e| e.to_string())?,
            error_messages: int("error_messages", 1).map_err(|e| e.to_string())?,
            group_by_error_messages: ini
                .get_bool("batch_email", "group_by_error_messages", true)
                .map_err(|e| e.to_string())?,
        })
    }
}

/// Counts per grouping key, in first-seen order (Python's `Counter`).
type Counts = IndexMap<String, u64>;

/// The batch notifier's state between two sends: per owner, per key.
#[derive(Debug)]
pub struct Batch {
    cfg: BatchConfig,
    email: EmailConfig,
    /// `[email] receiver` split at commas (not trimmed, as luigi).
    default_owners: Vec<String>,
    fails: IndexMap<String, Counts>,
    disables: IndexMap<String, Counts>,
    scheduling: IndexMap<String, Counts>,
    /// The last `error_messages` distinct explanations, oldest first.
    expls: IndexMap<String, IndexMap<String, Vec<String>>>,
}

fn plural(template_one: &str, template_many: &str, n: u64) -> String {
    match n {
        0 => String::new(),
        1 => template_one.replace("{}", "1"),
        n => template_many.replace("{}", &n.to_string()),
    }
}

fn count_parts(fails: u64, disables: u64, scheduling: u64) -> String {
    let parts = [
        plural("{} failure", "{} failures", fails),
        plural("{} disable", "{} disables", disables),
        plural(
            "{} scheduling failure",
            "{} scheduling failures",
            scheduling,
        ),
    ];
    let parts: Vec<&str> = parts
        .iter()
        .map(String::as_str)
        .filter(|p| !p.is_empty())
        .collect();
    parts.join(", ")
}

/// One line of the summary: the key and its counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    name: String,
    fails: u64,
    disables: u64,
    scheduling: u64,
}

/// Sort key of a group of rows: most failures first, then most disables, then name.
fn group_key(rows: &[&Row]) -> (i128, i128, String) {
    let failures: u64 = rows.iter().map(|r| r.fails + r.scheduling).sum();
    let disables: u64 = rows.iter().map(|r| r.disables).sum();
    let min_name = rows
        .iter()
        .map(|r| r.name.clone())
        .min()
        .unwrap_or_default();
    (-(failures as i128), -(disables as i128), min_name)
}

impl Batch {
    pub fn new(cfg: BatchConfig, email: EmailConfig) -> Batch {
        let default_owners = email
            .receiver
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        Batch {
            cfg,
            email,
            default_owners,
            fails: IndexMap::new(),
            disables: IndexMap::new(),
            scheduling: IndexMap::new(),
            expls: IndexMap::new(),
        }
    }

    pub fn interval_secs(&self) -> f64 {
        60.0 * self.cfg.email_interval_minutes as f64
    }

    fn key(&self, task_name: &str, family: &str, unbatched: &[(String, String)]) -> String {
        match self.cfg.batch_mode {
            BatchMode::All => task_name.to_string(),
            BatchMode::Family => family.to_string(),
            BatchMode::UnbatchedParams => {
                let params: Vec<String> =
                    unbatched.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{family}({})", params.join(", "))
            }
        }
    }

    /// The default owners and the task's owners, each once.
    fn owners(&self, owners: &[String]) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for o in self.default_owners.iter().chain(owners) {
            if !all.contains(o) {
                all.push(o.clone());
            }
        }
        all
    }

    fn enqueue(&mut self, owner: &str, key: &str, expl: &str) {
        let max = usize::try_from(self.cfg.error_messages).unwrap_or(0);
        let q = self
            .expls
            .entry(owner.to_string())
            .or_default()
            .entry(key.to_string())
            .or_default();
        q.retain(|e| e != expl);
        q.push(expl.to_string());
        while q.len() > max {
            q.remove(0);
        }
    }

    fn bump(map: &mut IndexMap<String, Counts>, owner: &str, key: &str, by: u64) {
        *map.entry(owner.to_string())
            .or_default()
            .entry(key.to_string())
            .or_insert(0) += by;
    }

    pub fn add_failure(
        &mut self,
        task_name: &str,
        family: &str,
        unbatched: &[(String, String)],
        expl: &str,
        owners: &[String],
    ) {
        self.add_explained(false, task_name, family, unbatched, expl, owners);
    }

    pub fn add_disable(
        &mut self,
        task_name: &str,
        family: &str,
        unbatched: &[(String, String)],
        owners: &[String],
    ) {
        let key = self.key(task_name, family, unbatched);
        for owner in self.owners(owners) {
            Self::bump(&mut self.disables, &owner, &key, 1);
            Self::bump(&mut self.fails, &owner, &key, 0);
        }
    }

    pub fn add_scheduling_fail(
        &mut self,
        task_name: &str,
        family: &str,
        unbatched: &[(String, String)],
        expl: &str,
        owners: &[String],
    ) {
        self.add_explained(true, task_name, family, unbatched, expl, owners);
    }

    /// One failure (or, with `scheduling`, one scheduling failure) counted for each
    /// owner, with its explanation queued. Every such task also has a failure count, at
    /// 0 when it only failed to schedule, so that it is listed in the failures table.
    fn add_explained(
        &mut self,
        scheduling: bool,
        task_name: &str,
        family: &str,
        unbatched: &[(String, String)],
        expl: &str,
        owners: &[String],
    ) {
        let key = self.key(task_name, family, unbatched);
        for owner in self.owners(owners) {
            let counts = if scheduling {
                &mut self.scheduling
            } else {
                &mut self.fails
            };
            Self::bump(counts, &owner, &key, 1);
            self.enqueue(&owner, &key, expl);
            Self::bump(&mut self.fails, &owner, &key, 0);
        }
    }

    fn html(&self) -> bool {
        self.email.format == Format::Html
    }

    fn format_expl(&self, expl: &str) -> String {
        let lines: Vec<&str> = expl.trim_end().split('\n').collect();
        let n = self.cfg.error_lines;
        // Python's lines[-n:]: the last n lines; all of them for 0 (and for n < 0,
        // all but the first -n).
        let from = if n > 0 {
            lines.len().saturating_sub(n as usize)
        } else if n == 0 {
            0
        } else {
            (n.unsigned_abs() as usize).min(lines.len())
        };
        let lines = &lines[from..];
        if self.html() {
            format!("<pre>{}</pre>", lines.join("\n"))
        } else {
            let indented: Vec<String> = lines.iter().map(|l| format!("      {l}")).collect();
            format!("\n{}", indented.join("\n"))
        }
    }

    fn expl_body(&self, expls: &[String]) -> String {
        let mut lines: Vec<String> = expls.iter().map(|e| self.format_expl(e)).collect();
        if !lines.is_empty() && !self.html() {
            lines.push(String::new());
        }
        lines.join("\n")
    }

    fn format_tasks(&self, rows: &[&Row]) -> String {
        let mut rows: Vec<&Row> = rows.to_vec();
        rows.sort_by_key(|r| group_key(&[r]));
        let lines: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{} ({})",
                    r.name,
                    count_parts(r.fails, r.disables, r.scheduling)
                )
            })
            .collect();
        if self.html() {
            format!("<li>{}", lines.join("\n<br>"))
        } else {
            format!("- {}", lines.join("\n  "))
        }
    }

    fn email_body(&self, owner: &str) -> String {
        let empty = Counts::new();
        let fails = self.fails.get(owner).unwrap_or(&empty);
        let disables = self.disables.get(owner).unwrap_or(&empty);
        let scheduling = self.scheduling.get(owner).unwrap_or(&empty);
        let expls = self.expls.get(owner);
        let rows: Vec<(Row, String)> = fails
            .iter()
            .map(|(name, &f)| {
                let row = Row {
                    name: name.clone(),
                    fails: f,
                    disables: disables.get(name).copied().unwrap_or(0),
                    scheduling: scheduling.get(name).copied().unwrap_or(0),
                };
                let msgs = expls
                    .and_then(|m| m.get(name))
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                (row, self.expl_body(msgs))
            })
            .collect();
        // Groups of rows sharing one explanation text (or one row each), in first-seen
        // order, then sorted stably.
        let mut groups: Vec<(Vec<&Row>, &str)> = Vec::new();
        for (row, msg) in &rows {
            let existing = if self.cfg.group_by_error_messages {
                groups.iter_mut().find(|(_, m)| *m == msg.as_str())
            } else {
                None
            };
            match existing {
                Some((members, _)) => members.push(row),
                None => groups.push((vec![row], msg.as_str())),
            }
        }
        groups.sort_by_key(|(members, _)| group_key(members));
        let mut parts: Vec<String> = Vec::new();
        for (members, msg) in &groups {
            parts.push(self.format_tasks(members));
            if !msg.is_empty() {
                parts.push(msg.to_string());
            }
        }
        let body = parts.join("\n").trim_end().to_string();
        if self.html() {
            format!("<ul>\n{body}\n</ul>")
        } else {
            body
        }
    }

    /// The summaries due now, one per owner, and a fresh start (luigi's
    /// `BatchNotifier.send_email`).
    pub fn take_emails(&mut self, on_tty: bool) -> Vec<Email> {
        let mut out = Vec::new();
        for owner in self.fails.keys() {
            let total =
                |m: &IndexMap<String, Counts>| m.get(owner).map_or(0, |c| c.values().sum::<u64>());
            let base = count_parts(
                total(&self.fails),
                total(&self.disables),
                total(&self.scheduling),
            );
            if base.is_empty() {
                continue;
            }
            let prefix = if self.default_owners.contains(owner) {
                ""
            } else {
                "Your tasks have "
            };
            let subject = format!(
                "Luigi: {prefix}{base} in the last {} minutes",
                self.cfg.email_interval_minutes
            );
            let body = self.email_body(owner);
            if let Some(e) = compose(
                &self.email,
                on_tty,
                &subject,
                body,
                std::slice::from_ref(owner),
            ) {
                out.push(e);
            }
        }
        self.fails.clear();
        self.disables.clear();
        self.scheduling.clear();
        self.expls.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(receiver: &str) -> EmailConfig {
        EmailConfig {
            receiver: receiver.into(),
            sender: "luigi@example.com".into(),
            format: Format::Plain,
            prefix: String::new(),
            method: "smtp".into(),
            force_send: false,
            traceback_max_length: 5000,
        }
    }

    fn batch(receiver: &str, mode: BatchMode) -> Batch {
        Batch::new(
            BatchConfig {
                email_interval_minutes: 60,
                batch_mode: mode,
                error_lines: 20,
                error_messages: 1,
                group_by_error_messages: true,
            },
            cfg(receiver),
        )
    }

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn disable_email_text_and_rules() {
        let e = disable_email(&cfg("ops@example.com"), false, "T_1", 3.0, 3600.0, 86400.0)
            .expect("sent");
        assert_eq!(
            e.subject,
            "Luigi Scheduler: DISABLED T_1 due to excessive failures"
        );
        assert_eq!(
            e.body,
            "T_1 failed 3 times in the last 3600 seconds, so it is being disabled for 86400 seconds"
        );
        assert_eq!(e.recipients, vec!["ops@example.com".to_string()]);
        // No receiver, a terminal, format none: nothing; force_send overrides the tty.
        assert!(disable_email(&cfg(""), false, "T", 1.0, 1.0, 1.0).is_none());
        assert!(disable_email(&cfg("a@b"), true, "T", 1.0, 1.0, 1.0).is_none());
        let mut c = cfg("a@b, c@d,");
        c.format = Format::None;
        assert!(disable_email(&c, false, "T", 1.0, 1.0, 1.0).is_none());
        c.format = Format::Html;
        c.force_send = true;
        c.prefix = "[prod]".into();
        let e = disable_email(&c, true, "T", 1.0, 2.5, 1.0).expect("forced");
        assert!(e.subject.starts_with("[prod] Luigi Scheduler"));
        assert_eq!(e.recipients, vec!["a@b".to_string(), "c@d".to_string()]);
        assert!(e.html);
        assert!(e.body.contains("last 2.5 seconds"));
    }

    #[test]
    fn batch_summary_plain() {
        let mut b = batch("ops@example.com", BatchMode::UnbatchedParams);
        let owners = vec!["owner@example.com".to_string()];
        b.add_failure(
            "A(x=1)",
            "A",
            &p(&[("x", "1")]),
            "Traceback\n  boom\n",
            &owners,
        );
        b.add_failure(
            "A(x=1)",
            "A",
            &p(&[("x", "1")]),
            "Traceback\n  boom\n",
            &owners,
        );
        b.add_disable("A(x=1)", "A", &p(&[("x", "1")]), &owners);
        b.add_failure("B()", "B", &[], "other", &[]);
        b.add_scheduling_fail("C()", "C", &[], "other", &[]);
        let mails = b.take_emails(false);
        assert_eq!(mails.len(), 2);
        let ops = &mails[0];
        assert_eq!(
            ops.subject,
            "Luigi: 3 failures, 1 disable, 1 scheduling failure in the last 60 minutes"
        );
        assert_eq!(
            ops.body,
            "- A(x=1) (2 failures, 1 disable)\n\n      Traceback\n        boom\n\n\
             - B() (1 failure)\n  C() (1 scheduling failure)\n\n      other"
        );
        let own = &mails[1];
        assert_eq!(own.recipients, vec!["owner@example.com".to_string()]);
        assert_eq!(
            own.subject,
            "Luigi: Your tasks have 2 failures, 1 disable in the last 60 minutes"
        );
        // Sent means forgotten.
        assert!(b.take_emails(false).is_empty());
    }

    #[test]
    fn batch_modes_lines_and_html() {
        let mut b = batch("ops", BatchMode::Family);
        b.cfg.error_lines = 2;
        b.cfg.error_messages = 2;
        b.cfg.group_by_error_messages = false;
        b.email.format = Format::Html;
        b.add_failure("A(x=1)", "A", &p(&[("x", "1")]), "l1\nl2\nl3", &[]);
        b.add_failure("A(x=2)", "A", &p(&[("x", "2")]), "m1", &[]);
        b.add_failure("A(x=3)", "A", &p(&[("x", "3")]), "l1\nl2\nl3", &[]);
        let mails = b.take_emails(false);
        assert_eq!(mails.len(), 1);
        assert_eq!(
            mails[0].body,
            "<ul>\n<li>A (3 failures)\n<pre>m1</pre>\n<pre>l2\nl3</pre>\n</ul>"
        );
        assert!(mails[0].html);
    }
}

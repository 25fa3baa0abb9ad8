//! Notifications luigid sends from its scheduler: the disable e-mail, the batch
//! e-mails (`[scheduler] batch_emails`) and, with `metrics_collector = datadog`, the
//! Datadog metrics and events.
//!
//! The pure scheduler emits events ([`crate::scheduler::events::Event`]); the App
//! hands each batch of them to [`Notifier::on_events`] on the loop. That formats what
//! is cheap and queues e-mails to one helper thread, which talks SMTP (with retries)
//! and keeps the batch summaries; nothing here blocks the loop or fails an RPC.
//! DogStatsD datagrams are non-blocking UDP sends from the loop.
//!
//! - [`email`]: e-mail texts and the batch notifier, without IO.
//! - [`smtp`]: the SMTP client side.
//! - [`datadog`]: DogStatsD datagrams.

pub mod datadog;
pub mod email;
pub mod smtp;

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::Ini;
use crate::metrics::Delivery;
use crate::scheduler::events::Event;
use crate::scheduler::{Scheduler, SchedulerConfig};
use email::{Batch, BatchConfig, Email, EmailConfig};
use smtp::SmtpConfig;

/// Messages the notifier thread can hold before new ones are dropped (and counted).
const QUEUE: usize = 4096;
/// Tries per e-mail before it is given up (logged once, counted).
const SMTP_ATTEMPTS: u32 = 3;
/// How long shutdown waits for the last e-mails (luigid sends its final batch
/// before exiting too).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);

/// `[scheduler] metrics_collector`: the values luigi accepts that we serve, or a
/// startup error naming the key and what luigid-rs supports.
pub fn check_metrics_collector(ini: &Ini) -> Result<bool, String> {
    let value = ini
        .get_checked("scheduler", "metrics_collector")
        .map_err(|e| e.to_string())?;
    match value.unwrap_or("default") {
        "default" | "none" | "prometheus" => Ok(false),
        "datadog" => Ok(true),
        other => {
            let what = if other == "custom" {
                "loads a Python class (metrics_custom_import), which luigid-rs cannot do".into()
            } else {
                format!("{other:?} is not a metrics collector")
            };
            Err(format!(
                "[scheduler] metrics_collector = {other}: {what}; luigid-rs supports default, \
                 none, prometheus (GET /metrics is always served) and datadog (DogStatsD)"
            ))
        }
    }
}

enum Msg {
    Send(Email),
    /// A scheduler event for the batch e-mails, as it came: `BatchFailure` (with an
    /// explanation), `SchedulingFailure`, or `Pruned` (send the summaries if they are due).
    Batch(Event),
    /// Send what the batch holds, then stop.
    Shutdown,
}

/// The App's side of the notifications.
pub struct Notifier {
    email: Option<EmailConfig>,
    batch_emails: bool,
    on_tty: bool,
    /// `[scheduler]` disable settings, for the disable e-mail and Datadog's text.
    scheduler: SchedulerConfig,
    tx: Option<SyncSender<Msg>>,
    done: Option<Receiver<()>>,
    thread: Option<JoinHandle<()>>,
    statsd: Option<datadog::Statsd>,
    delivery: Arc<Delivery>,
}

impl Notifier {
    /// No notifications (tests, and Apps built without a configuration).
    pub fn disabled() -> Notifier {
        Notifier {
            email: None,
            batch_emails: false,
            on_tty: false,
            scheduler: SchedulerConfig::default(),
            tx: None,
            done: None,
            thread: None,
            statsd: None,
            delivery: Arc::default(),
        }
    }

    /// Read `[email]`, `[smtp]`, `[batch_email]`, `[datadog]` and
    /// `[scheduler] metrics_collector`; start the sender thread when e-mail can go out.
    pub fn from_ini(
        ini: &Ini,
        scheduler: &SchedulerConfig,
        delivery: Arc<Delivery>,
    ) -> Result<Notifier, String> {
        let datadog_on = check_metrics_collector(ini)?;
        let email = EmailConfig::from_ini(ini)?;
        let smtp = SmtpConfig::from_ini(ini)?;
        let batch = BatchConfig::from_ini(ini)?;
        // SAFETY: isatty only inspects the descriptor.
        let on_tty = unsafe { libc::isatty(1) } == 1;
        let mut n = Notifier::disabled();
        n.scheduler = scheduler.clone();
        n.batch_emails = scheduler.batch_emails;
        n.on_tty = on_tty;
        n.delivery = delivery.clone();
        if datadog_on {
            let cfg = datadog::DatadogConfig::from_ini(ini)?;
            // luigid starts even when the agent's address does not resolve (its client
            // resolves lazily); so do we, loudly.
            match datadog::Statsd::open(cfg, delivery.clone()) {
                Ok(s) => n.statsd = Some(s),
                Err(e) => log::error!("{e}: no Datadog metrics will be sent"),
            }
        }
        let wants_mail = !email.receiver.is_empty() || scheduler.batch_emails;
        if email.method != "smtp" && wants_mail {
            log::warn!(
                "[email] method = {}: luigid-rs sends e-mail over SMTP only (the [smtp] \
                 settings); no e-mail will be sent",
                email.method
            );
            return Ok(n);
        }
        if !wants_mail {
            return Ok(n);
        }
        if on_tty && !email.force_send && email.format != email::Format::None {
            log::info!(
                "stdout is a terminal: e-mails are not sent (as luigid); set [email] \
                 force_send = true to send them anyway"
            );
        }
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let (done_tx, done_rx) = mpsc::channel();
        let worker = Worker {
            smtp,
            batch: scheduler
                .batch_emails
                .then(|| Batch::new(batch, email.clone())),
            on_tty,
            delivery,
        };
        let thread = std::thread::Builder::new()
            .name("notify".into())
            .spawn(move || {
                worker.run(rx);
                let _ = done_tx.send(());
            })
            .map_err(|e| format!("cannot start the notification thread: {e}"))?;
        n.email = Some(email);
        n.tx = Some(tx);
        n.done = Some(done_rx);
        n.thread = Some(thread);
        Ok(n)
    }

    fn queue(&self, msg: Msg) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                Delivery::add(&self.delivery.notifications_dropped);
                log::warn!("notification queue full: a notification was dropped");
            }
            Err(TrySendError::Disconnected(_)) => {
                Delivery::add(&self.delivery.notifications_dropped);
            }
        }
    }

    /// The scheduler's events of one call. `scheduler` is the state after the call
    /// (for the tasks' params).
    pub fn on_events(&mut self, events: &[Event], scheduler: &Scheduler) {
        if self.tx.is_none() && self.statsd.is_none() {
            return;
        }
        for e in events {
            self.statsd_event(e, scheduler);
            match e {
                Event::ExcessiveFailures {
                    task_id,
                    retry_count,
                    disable_window,
                } if !self.batch_emails => {
                    let Some(cfg) = &self.email else { continue };
                    if let Some(mail) = email::disable_email(
                        cfg,
                        self.on_tty,
                        task_id,
                        *retry_count,
                        *disable_window,
                        self.scheduler.disable_persist,
                    ) {
                        self.queue(Msg::Send(mail));
                    }
                }
                Event::BatchFailure { expl: Some(_), .. }
                | Event::SchedulingFailure { .. }
                | Event::Pruned
                    if self.batch_emails =>
                {
                    self.queue(Msg::Batch(e.clone()))
                }
                _ => {}
            }
        }
    }

    fn statsd_event(&self, e: &Event, scheduler: &Scheduler) {
        let Some(statsd) = &self.statsd else { return };
        let int = email::py_int_text;
        let (ev, family, task_id) = match e {
            Event::TaskStarted { family, task_id } => {
                (datadog::TaskEvent::Started, family, task_id)
            }
            Event::TaskFailed {
                family, task_id, ..
            } => (datadog::TaskEvent::Failed, family, task_id),
            Event::TaskDisabled { family, task_id } => (
                datadog::TaskEvent::Disabled {
                    retry_count: int(self.scheduler.retry_count),
                    disable_window: int(self.scheduler.disable_window),
                    disable_persist: int(self.scheduler.disable_persist),
                },
                family,
                task_id,
            ),
            Event::TaskDone {
                family,
                task_id,
                execution_secs: Some(secs),
            } => (
                datadog::TaskEvent::Done {
                    execution_secs: *secs,
                },
                family,
                task_id,
            ),
            _ => return,
        };
        let params = scheduler.task_params(task_id).unwrap_or_default();
        for d in datadog::datagrams(&statsd.cfg, &ev, family, &params) {
            statsd.send(&d);
        }
    }

    /// Stop: the batch notifier sends what it holds (as luigid on exit), bounded
    /// in time.
    pub fn shutdown(&mut self) {
        let Some(tx) = self.tx.take() else { return };
        if tx.try_send(Msg::Shutdown).is_err() {
            // Full queue: dropping the sender ends the thread's loop after the queue.
            log::warn!("notification queue full at shutdown");
        }
        drop(tx);
        if let Some(done) = self.done.take() {
            match done.recv_timeout(SHUTDOWN_WAIT) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                    if let Some(t) = self.thread.take() {
                        let _ = t.join();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    log::warn!(
                        "gave up waiting for the last e-mails after {}s",
                        SHUTDOWN_WAIT.as_secs()
                    );
                }
            }
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        // Tests drop Apps without a shutdown: let the thread end on its own.
        self.tx.take();
    }
}

/// The helper thread's state.
struct Worker {
    smtp: SmtpConfig,
    batch: Option<Batch>,
    on_tty: bool,
    delivery: Arc<Delivery>,
}

impl Worker {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut next_send = self
            .batch
            .as_ref()
            .map(|b| Instant::now() + Duration::from_secs_f64(b.interval_secs().max(0.0)));
        while let Ok(msg) = rx.recv() {
            match msg {
                Msg::Send(mail) => self.send(&mail),
                Msg::Batch(Event::BatchFailure {
                    pretty_id,
                    family,
                    unbatched_params,
                    expl: Some(expl),
                    owners,
                    disabled,
                }) => {
                    if let Some(b) = &mut self.batch {
                        b.add_failure(&pretty_id, &family, &unbatched_params, &expl, &owners);
                        if disabled {
                            b.add_disable(&pretty_id, &family, &unbatched_params, &owners);
                        }
                    }
                }
                Msg::Batch(Event::SchedulingFailure {
                    task_name,
                    family,
                    unbatched_params,
                    expl,
                    owners,
                }) => {
                    if let Some(b) = &mut self.batch {
                        b.add_scheduling_fail(
                            &task_name,
                            &family,
                            &unbatched_params,
                            &expl,
                            &owners,
                        );
                    }
                }
                Msg::Batch(Event::Pruned) => {
                    if next_send.is_some_and(|t| Instant::now() >= t) {
                        self.flush_batch();
                        next_send = self.batch.as_ref().map(|b| {
                            Instant::now() + Duration::from_secs_f64(b.interval_secs().max(0.0))
                        });
                    }
                }
                Msg::Shutdown => {
                    self.flush_batch();
                    return;
                }
                Msg::Batch(_) => {}
            }
        }
    }

    fn flush_batch(&mut self) {
        let mails = match &mut self.batch {
            Some(b) => b.take_emails(self.on_tty),
            None => return,
        };
        for m in &mails {
            self.send(m);
        }
    }

    fn send(&self, mail: &Email) {
        match smtp::send(&self.smtp, mail, SMTP_ATTEMPTS) {
            Ok(()) => Delivery::add(&self.delivery.emails_sent),
            Err(e) => {
                Delivery::add(&self.delivery.emails_failed);
                log::error!("{e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A minimal SMTP server on a loopback port: accepts `sessions` sessions and returns
    /// each message's DATA text. Reads are bounded by a timeout.
    fn fake_smtp(sessions: usize) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let h = std::thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..sessions {
                let Ok((s, _)) = l.accept() else { break };
                s.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let mut w = s.try_clone().expect("clone");
                let mut r = BufReader::new(s);
                let _ = w.write_all(b"220 fake\r\n");
                let mut data: Option<String> = None;
                for _ in 0..10_000 {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if let Some(d) = data.as_mut() {
                        if line == ".\r\n" {
                            got.push(data.take().unwrap_or_default());
                            let _ = w.write_all(b"250 queued\r\n");
                        } else {
                            d.push_str(&line);
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 fake\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go\r\n"
                        }
                        "QUIT" => {
                            let _ = w.write_all(b"221 bye\r\n");
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    let _ = w.write_all(reply);
                }
            }
            got
        });
        (port, h)
    }

    fn ini_for(port: u16, batch: bool) -> (Ini, SchedulerConfig) {
        let mut ini = Ini::default();
        ini.set("email", "receiver", "ops@example.com");
        ini.set("email", "sender", "luigi@example.com");
        ini.set("email", "force_send", "true");
        ini.set("smtp", "host", "127.0.0.1");
        ini.set("smtp", "port", &port.to_string());
        ini.set("batch_email", "email_interval", "0");
        let sc = SchedulerConfig {
            batch_emails: batch,
            disable_persist: 60.0,
            ..SchedulerConfig::default()
        };
        (ini, sc)
    }

    #[test]
    fn disable_email_goes_out_from_the_thread() {
        let (port, server) = fake_smtp(1);
        let (ini, sc) = ini_for(port, false);
        let delivery = Arc::new(Delivery::default());
        let mut n = Notifier::from_ini(&ini, &sc, delivery.clone()).expect("notifier");
        let s = Scheduler::new(sc);
        let ev = [Event::ExcessiveFailures {
            task_id: "T_1".into(),
            retry_count: 3.0,
            disable_window: 10.0,
        }];
        let t0 = Instant::now();
        n.on_events(&ev, &s);
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "on_events waited"
        );
        n.shutdown();
        let got = server.join().expect("server");
        assert_eq!(got.len(), 1);
        assert!(
            got[0].contains("Subject: Luigi Scheduler: DISABLED T_1 due to excessive failures"),
            "{}",
            got[0]
        );
        assert_eq!(
            delivery
                .emails_sent
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }

    #[test]
    fn batch_email_on_prune_and_unreachable_server_counted() {
        let (port, server) = fake_smtp(1);
        let (ini, sc) = ini_for(port, true);
        let delivery = Arc::new(Delivery::default());
        let mut n = Notifier::from_ini(&ini, &sc, delivery.clone()).expect("notifier");
        let s = Scheduler::new(sc.clone());
        let fail = Event::BatchFailure {
            pretty_id: "A(x=1)".into(),
            family: "A".into(),
            unbatched_params: vec![("x".into(), "1".into())],
            expl: Some("boom".into()),
            owners: vec![],
            disabled: true,
        };
        n.on_events(&[fail.clone(), Event::Pruned], &s);
        n.shutdown();
        let got = server.join().expect("server");
        assert_eq!(got.len(), 1, "one summary, none left for the shutdown");
        assert!(got[0].contains("Subject: Luigi: 1 failure, 1 disable in the last 0 minutes"));

        // Nothing listens on the port now: tried, given up, counted; never blocking.
        let (ini, sc) = ini_for(port, true);
        let delivery = Arc::new(Delivery::default());
        let mut n = Notifier::from_ini(&ini, &sc, delivery.clone()).expect("notifier");
        let t0 = Instant::now();
        n.on_events(&[fail, Event::Pruned], &s);
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "on_events waited"
        );
        n.shutdown();
        assert_eq!(
            delivery
                .emails_failed
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        assert_eq!(
            delivery
                .emails_sent
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }

    #[test]
    fn metrics_collector_values() {
        let mut ini = Ini::default();
        assert_eq!(check_metrics_collector(&ini), Ok(false));
        ini.set("scheduler", "metrics_collector", "datadog");
        assert_eq!(check_metrics_collector(&ini), Ok(true));
        ini.set("scheduler", "metrics_collector", "prometheus");
        assert_eq!(check_metrics_collector(&ini), Ok(false));
        for bad in ["custom", "statsd"] {
            ini.set("scheduler", "metrics_collector", bad);
            let e = check_metrics_collector(&ini).expect_err("refused");
            assert!(e.contains("[scheduler] metrics_collector"), "{e}");
            assert!(e.contains("datadog"), "{e}");
        }
    }
}

//! `[scheduler] metrics_collector = datadog`: the metrics and events of luigi's
//! `luigi/contrib/datadog_metric.py` (`DatadogMetricsCollector`) as DogStatsD
//! datagrams to `[datadog] statsd_host:statsd_port`.
//!
//! The metrics are the datagrams the `datadog` package's DogStatsd client writes
//! (`<name>:<value>|<type>|#<tags>`). luigid posts its events to Datadog's HTTP API
//! with `api_key`/`app_key`; we send them as DogStatsD event datagrams
//! (`_e{<title len>,<text len>}:<title>|<text>|p:<priority>|t:<alert type>|#<tags>`)
//! to the same agent, which forwards them. Sends are non-blocking UDP from the loop.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;

use crate::config::Ini;
use crate::metrics::Delivery;

#[derive(Debug, Clone, PartialEq)]
pub struct DatadogConfig {
    pub default_tags: String,
    pub environment: String,
    pub metric_namespace: String,
    pub statsd_host: String,
    pub statsd_port: u16,
}

impl DatadogConfig {
    pub fn from_ini(ini: &Ini) -> Result<DatadogConfig, String> {
        let s = |k: &str, d: &str| ini.get_str("datadog", k, d);
        let port = ini
            .get_i64("datadog", "statsd_port", 8125)
            .map_err(|e| e.to_string())?;
        Ok(DatadogConfig {
            default_tags: s("default_tags", "application:luigi"),
            environment: s("environment", "development"),
            metric_namespace: s("metric_namespace", "luigi"),
            statsd_host: s("statsd_host", "localhost"),
            statsd_port: u16::try_from(port)
                .map_err(|_| format!("[datadog] statsd_port = {port} is not a port number"))?,
        })
    }

    /// `environment:<env>`, then `default_tags` split at commas (as the collector's
    /// `default_tags` property).
    fn default_tag_list(&self) -> Vec<String> {
        let mut tags = vec![format!("environment:{}", self.environment)];
        if !self.default_tags.is_empty() {
            tags.extend(self.default_tags.split(',').map(str::to_string));
        }
        tags
    }
}

/// What happened to a task, with what the collector needs to describe it.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskEvent {
    Started,
    Failed,
    /// With `[scheduler]` retry_count, disable_window and disable_persist.
    Disabled {
        retry_count: String,
        disable_window: String,
        disable_persist: String,
    },
    /// With the execution time; a DONE without one sends nothing (the collector
    /// skips tasks that were already complete).
    Done {
        execution_secs: f64,
    },
}

/// The datagrams for one task event (metrics first, then the event).
pub fn datagrams(
    cfg: &DatadogConfig,
    ev: &TaskEvent,
    family: &str,
    params: &[(String, String)],
) -> Vec<String> {
    let mut tags = vec![format!("task_name:{family}")];
    tags.extend(params.iter().map(|(k, v)| format!("{k}:{v}")));
    let defaults = cfg.default_tag_list();
    let metric = |name: &str, value: &str, ty: &str| {
        let all: Vec<String> = tags
            .iter()
            .chain(&defaults)
            .map(|t| normalize_tag(t))
            .collect();
        format!(
            "{}.{name}:{value}|{ty}|#{}",
            cfg.metric_namespace,
            all.join(",")
        )
    };
    let event = |title: &str, text: &str, state: &str, alert: &str, priority: &str| {
        let state_tag = format!("task_state:{state}");
        let all: Vec<String> = tags
            .iter()
            .chain(std::iter::once(&state_tag))
            .chain(&defaults)
            .map(|t| normalize_tag(t))
            .collect();
        let (title, text) = (title.replace('\n', "\\n"), text.replace('\n', "\\n"));
        format!(
            "_e{{{},{}}}:{title}|{text}|p:{priority}|t:{alert}|#{}",
            title.len(),
            text.len(),
            all.join(",")
        )
    };
    match ev {
        TaskEvent::Started => vec![
            metric("task.started", "1", "c"),
            event(
                "Luigi: A task has been started!",
                &format!("A task has been started in the pipeline named: {family}"),
                "STARTED",
                "info",
                "low",
            ),
        ],
        TaskEvent::Failed => vec![
            metric("task.failed", "1", "c"),
            event(
                "Luigi: A task has failed!",
                &format!("A task has failed in the pipeline named: {family}"),
                "FAILED",
                "error",
                "normal",
            ),
        ],
        TaskEvent::Disabled {
            retry_count,
            disable_window,
            disable_persist,
        } => vec![
            metric("task.disabled", "1", "c"),
            event(
                "Luigi: A task has been disabled!",
                &format!(
                    "A task has been disabled in the pipeline named: {family}. The task has \
                     failed {retry_count} times in the last {disable_window} seconds, so it \
                     is being disabled for {disable_persist} seconds."
                ),
                "DISABLED",
                "error",
                "normal",
            ),
        ],
        TaskEvent::Done { execution_secs } => vec![
            metric("task.done", "1", "c"),
            metric(
                "task.execution_time",
                &crate::pyjson::float::repr(*execution_secs),
                "g",
            ),
            event(
                "Luigi: A task has been completed!",
                &format!("A task has completed in the pipeline named: {family}"),
                "DONE",
                "info",
                "low",
            ),
        ],
    }
}

/// The DogStatsD client's tag clean-up: characters other than letters, digits, `_`,
/// `-`, `:`, `/` and `.` become `_` (they would break the datagram).
pub fn normalize_tag(tag: &str) -> String {
    tag.chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | ':' | '/' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A non-blocking UDP socket aimed at the agent.
pub struct Statsd {
    pub cfg: DatadogConfig,
    socket: UdpSocket,
    target: SocketAddr,
    delivery: Arc<Delivery>,
}

impl Statsd {
    pub fn open(cfg: DatadogConfig, delivery: Arc<Delivery>) -> Result<Statsd, String> {
        let where_ = format!("{}:{}", cfg.statsd_host, cfg.statsd_port);
        let target = (cfg.statsd_host.as_str(), cfg.statsd_port)
            .to_socket_addrs()
            .map_err(|e| format!("[datadog] statsd_host {where_}: {e}"))?
            .next()
            .ok_or_else(|| format!("[datadog] statsd_host {where_}: no address"))?;
        let local: SocketAddr = if target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket =
            UdpSocket::bind(local).map_err(|e| format!("DogStatsD socket for {where_}: {e}"))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| format!("DogStatsD socket for {where_}: {e}"))?;
        Ok(Statsd {
            cfg,
            socket,
            target,
            delivery,
        })
    }

    /// Send without waiting; a failure is counted (and logged at debug level: an
    /// absent agent must not flood the log).
    pub fn send(&self, datagram: &str) {
        match self.socket.send_to(datagram.as_bytes(), self.target) {
            Ok(_) => Delivery::add(&self.delivery.statsd_datagrams),
            Err(e) => {
                Delivery::add(&self.delivery.statsd_errors);
                log::debug!("DogStatsD datagram to {} not sent: {e}", self.target);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DatadogConfig {
        DatadogConfig::from_ini(&Ini::default()).expect("defaults")
    }

    #[test]
    fn metrics_and_events_as_the_collector_sends_them() {
        let params = vec![("date".to_string(), "2026-12-07".to_string())];
        let d = datagrams(&cfg(), &TaskEvent::Started, "Fam", &params);
        assert_eq!(
            d[0],
            "luigi.task.started:1|c|#task_name:Fam,date:2026-12-07,environment:development,application:luigi"
        );
        assert_eq!(
            d[1],
            "_e{31,50}:Luigi: A task has been started!|A task has been started in the pipeline \
             named: Fam|p:low|t:info|#task_name:Fam,date:2026-12-07,task_state:STARTED,\
             environment:development,application:luigi"
        );
        let d = datagrams(
            &cfg(),
            &TaskEvent::Done {
                execution_secs: 2.5,
            },
            "Fam",
            &[],
        );
        assert_eq!(d.len(), 3);
        assert!(d[1].starts_with("luigi.task.execution_time:2.5|g|#task_name:Fam,"));
        assert_eq!(normalize_tag("a b|c,d:é/x.y"), "a_b_c_d:é/x.y");
    }

    #[test]
    fn udp_datagrams_arrive() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let mut c = cfg();
        c.statsd_host = "127.0.0.1".into();
        c.statsd_port = rx.local_addr().expect("addr").port();
        let delivery = Arc::new(Delivery::default());
        let s = Statsd::open(c, delivery.clone()).expect("open");
        s.send("x:1|c");
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).expect("datagram");
        assert_eq!(&buf[..n], b"x:1|c");
        assert_eq!(
            delivery
                .statsd_datagrams
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }
}

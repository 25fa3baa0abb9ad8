"""Notifications side by side: the real luigid (the oracle) and luigid-rs get the same
luigi.cfg and the same RPC sequence, each with its own SMTP server, DogStatsD listener
(and, for luigid, a stand-in for Datadog's event API); what they send is compared:
decoded MIME bodies, subjects and recipients; metric names, types and tags; event texts.

Both servers write their stdout to a file, as a service does (luigid sends no e-mail
to a terminal)."""
import json
import os
import sys
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from notifylib import (  # noqa: E402
    EventApiSink,
    SmtpSink,
    UdpSink,
    need,
    parse_statsd,
    self_signed_cert,
    wait_for,
)
from servers import oracle_only, start_luigid, start_luigid_rs  # noqa: E402

# aiosmtpd cannot tell that an SMTPS session is encrypted and warns about AUTH there.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

CLEAN_ENV = {"DD_ENV": "", "DD_SERVICE": "", "DD_VERSION": "", "DD_TAGS": "", "DD_ENTITY_ID": ""}


def kinds():
    return ["luigid"] if oracle_only() else ["luigid", "luigid-rs"]


class Side:
    """One server with its own receivers."""

    def __init__(self, kind, tmp_path, config, datadog=False, smtp=None):
        self.kind = kind
        self.smtp = SmtpSink(**(smtp or {}))
        self.udp = UdpSink()
        self.api = EventApiSink() if datadog and kind == "luigid" else None
        cfg = {k: dict(v) for k, v in config.items()}
        cfg.setdefault("smtp", {}).update({"host": "127.0.0.1", "port": str(self.smtp.port)})
        if datadog:
            cfg.setdefault("datadog", {}).update({"statsd_host": "127.0.0.1", "statsd_port": str(self.udp.port)})
        env = dict(CLEAN_ENV)
        if self.api:
            env["DATADOG_HOST"] = "http://127.0.0.1:%d" % self.api.port
        workdir = tmp_path / kind
        start = start_luigid if kind == "luigid" else start_luigid_rs
        self.server = start(workdir, config=cfg, env=env)

    def rpc(self, method, **data):
        return self.server.rpc(method, data)

    def stop(self):
        self.server.stop()

    def close(self):
        self.server.kill()
        self.smtp.stop()
        self.udp.stop()
        if self.api:
            self.api.stop()


@pytest.fixture
def sides(tmp_path):
    made = []

    def make(config, datadog=False, smtp=None):
        for kind in kinds():
            made.append(Side(kind, tmp_path, config, datadog, smtp))
        return made

    yield make
    for s in made:
        s.close()


def add(side, task_id, family, params, status="PENDING", **extra):
    data = {
        "worker": "W1",
        "task_id": task_id,
        "status": status,
        "family": family,
        "module": "tests",
        "params": params,
        "param_visibilities": {k: 0 for k in params},
        "runnable": True,
        "deps": [],
        "priority": 0,
        "retry_policy_dict": {},
    }
    data.update(extra)
    side.rpc("add_task", **data)


def expl(text):
    # The worker sends the traceback JSON-encoded.
    return json.dumps(text)


TRACE_A = "Traceback (most recent call last):\n  File \"x.py\", line 1, in run\nValueError: boom A\n"
TRACE_B = "Traceback (most recent call last):\nKeyError: 'b'\n"


def test_disable_email_and_datadog(sides):
    config = {
        "scheduler": {"retry_count": "2", "disable_persist": "120", "metrics_collector": "datadog"},
        "email": {"receiver": "ops@example.com, oncall@example.com", "sender": "luigi@example.com", "prefix": "[prod]"},
        "datadog": {"environment": "test", "default_tags": "application:luigi,team:data", "metric_namespace": "lg"},
    }
    all_sides = sides(config, datadog=True)
    for s in all_sides:
        add(s, "A_x_1", "A", {"x": "1"})
        work = s.rpc("get_work", worker="W1", host="h1")
        assert work["task_id"] == "A_x_1"
        add(s, "A_x_1", "A", {"x": "1"}, status="DONE")
        add(s, "B_y_2", "B", {"y": "2", "when": "2026-12-07"})
        assert s.rpc("get_work", worker="W1", host="h1")["task_id"] == "B_y_2"
        add(s, "B_y_2", "B", {"y": "2", "when": "2026-12-07"}, status="FAILED", expl=expl(TRACE_B))
        add(s, "B_y_2", "B", {"y": "2", "when": "2026-12-07"}, status="FAILED", expl=expl(TRACE_B))
        assert s.rpc("task_list", status="DISABLED", upstream_status="")
    got = {}
    for s in all_sides:
        mails = wait_for(lambda: s.smtp.received(), what="%s disable e-mail" % s.kind)
        # The metrics: started, done + execution time, started, failed, disabled.
        wait_for(lambda: len(parse_statsd(s.udp.received())[0]) >= 6, what="%s datagrams" % s.kind)
        metrics, events = parse_statsd(s.udp.received())
        if s.api:
            events = wait_for(lambda: len(s.api.received()) >= 5 and s.api.received(), what="luigid's events")
            events = [{k: e.get(k) for k in ("title", "text", "tags", "priority", "alert_type")} for e in events]
        else:
            wait_for(lambda: len(parse_statsd(s.udp.received())[1]) >= 5, what="luigid-rs events")
            metrics, events = parse_statsd(s.udp.received())
        masked = [(n, t, "<t>" if n.endswith("execution_time") else v, tags) for n, t, v, tags in metrics]
        exec_times = [float(v) for n, _, v, _ in metrics if n.endswith("execution_time")]
        assert exec_times and all(x >= 0 for x in exec_times)
        got[s.kind] = {"mails": [m.summary() for m in mails], "metrics": masked, "events": events}
    oracle = got["luigid"]
    m = oracle["mails"]
    assert len(m) == 1
    assert m[0]["subject"] == "[prod] Luigi Scheduler: DISABLED B_y_2 due to excessive failures"
    assert m[0]["parts"][0][2].strip() == (
        "B_y_2 failed 2 times in the last 3600 seconds, so it is being disabled for 120 seconds"
    )
    assert m[0]["rcpt_tos"] == ["oncall@example.com", "ops@example.com"]
    names = [x[0] for x in oracle["metrics"]]
    assert names == ["lg.task.started", "lg.task.done", "lg.task.execution_time", "lg.task.started", "lg.task.failed", "lg.task.disabled"], names
    assert ["task_name:B", "y:2", "when:2026-12-07", "environment:test", "application:luigi", "team:data"] == oracle["metrics"][-1][3]
    if "luigid-rs" in got:
        ours = got["luigid-rs"]
        assert ours["mails"] == oracle["mails"]
        assert ours["metrics"] == oracle["metrics"]
        assert ours["events"] == oracle["events"]


@pytest.mark.parametrize("tls", ["starttls", "smtps"])
def test_tls_and_login(sides, tmp_path, tls):
    """STARTTLS offered and required, or SMTPS, with a login; a self-signed certificate,
    which luigid's smtplib accepts (it does not verify), so ours must too."""
    cert = self_signed_cert(str(tmp_path))
    config = {
        "scheduler": {"retry_count": "1"},
        "email": {"receiver": "ops@example.com", "sender": "luigi@example.com", "format": "html"},
        "smtp": {"username": "luigi", "password": "s3cret", "ssl": "true" if tls == "smtps" else "false"},
    }
    all_sides = sides(config, smtp={"tls": tls, "cert": cert, "login": ("luigi", "s3cret")})
    got = {}
    for s in all_sides:
        add(s, "T_1", "T", {}, status="FAILED", expl=expl("x"))
        mails = wait_for(lambda: s.smtp.received(), what="%s e-mail over %s" % (s.kind, tls))
        assert s.smtp.sessions == [{"tls": True, "authenticated": True}]
        got[s.kind] = [m.summary() for m in mails]
    assert got["luigid"][0]["parts"][0][0] == "text/html"
    if "luigid-rs" in got:
        assert got["luigid-rs"] == got["luigid"]


def batch_scenario(s):
    add(s, "A_x_1", "A", {"x": "1"}, status="FAILED", expl=expl(TRACE_A), owners=["alice@example.com"])
    add(s, "A_x_2", "A", {"x": "2"}, status="FAILED", expl=expl(TRACE_A), owners=["alice@example.com"])
    add(s, "B_y_2", "B", {"y": "2"}, status="FAILED", expl=expl(TRACE_B), owners=[])
    add(s, "B_y_2", "B", {"y": "2"}, status="FAILED", expl=expl(TRACE_B + "second\n"), owners=[])
    s.rpc(
        "announce_scheduling_failure",
        worker="W1",
        task_name="C(z=3)",
        family="C",
        params={"z": "3"},
        expl="Traceback:\nscheduling broke",
        owners=["bob@example.com"],
    )


@pytest.mark.parametrize(
    "batch_mode,fmt,group",
    [("unbatched_params", "plain", "true"), ("family", "html", "true"), ("all", "plain", "false")],
)
def test_batch_emails(sides, batch_mode, fmt, group):
    config = {
        "scheduler": {"retry_count": "2", "batch_emails": "true"},
        "email": {"receiver": "ops@example.com", "sender": "luigi@example.com", "format": fmt},
        "batch_email": {
            "email_interval": "0",
            "batch_mode": batch_mode,
            "error_lines": "2",
            "error_messages": "2",
            "group_by_error_messages": group,
        },
    }
    all_sides = sides(config)
    got = {}
    for s in all_sides:
        batch_scenario(s)
        # Due at once (interval 0): the next prune sends them.
        s.rpc("prune")
        first = wait_for(lambda: len(s.smtp.received()) >= 3 and s.smtp.received(), what="%s batch e-mails" % s.kind)
        # More failures, sent when the server stops (as luigid does on exit).
        add(s, "D_1", "D", {}, status="FAILED", expl=expl("late failure"), owners=["alice@example.com"])
        s.stop()
        everything = wait_for(lambda: len(s.smtp.received()) >= 5 and s.smtp.received(), what="%s final e-mails" % s.kind)
        got[s.kind] = (
            sorted((json.dumps(m.summary(), sort_keys=True) for m in first)),
            sorted((json.dumps(m.summary(), sort_keys=True) for m in everything[len(first):])),
        )
    oracle_first, oracle_last = got["luigid"]
    subjects = sorted(json.loads(x)["subject"] for x in oracle_first)
    assert any("Your tasks have" in x for x in subjects), subjects
    assert len(oracle_last) == 2
    if "luigid-rs" in got:
        ours_first, ours_last = got["luigid-rs"]
        for a, b in zip(ours_first, oracle_first):
            assert json.loads(a) == json.loads(b)
        assert len(ours_first) == len(oracle_first)
        assert ours_last == oracle_last


def metric_samples(side):
    parser = need("prometheus_client.parser")
    with urllib.request.urlopen(side.server.url + "/metrics", timeout=10) as r:
        text = r.read().decode("utf-8")
    out = {}
    for fam in parser.text_string_to_metric_families(text):
        for smp in fam.samples:
            if smp.name.startswith("luigi_task_") and not smp.name.endswith("_created"):
                value = "<t>" if "execution_time" in smp.name else smp.value
                out[(smp.name, tuple(sorted(smp.labels.items())))] = value
    return out


@pytest.mark.parametrize("family_label", ["true", "false"])
def test_prometheus_label_options(sides, family_label):
    config = {
        "scheduler": {"metrics_collector": "prometheus"},
        "prometheus": {"use_task_family_in_labels": family_label, "task_parameters_to_use_in_labels": '["x", "missing"]'},
    }
    all_sides = sides(config)
    got = {}
    for s in all_sides:
        add(s, "A_x_1", "A", {"x": "1"})
        s.rpc("get_work", worker="W1", host="h")
        add(s, "A_x_1", "A", {"x": "1"}, status="DONE")
        add(s, "A_x_2", "A", {"x": "2"})
        s.rpc("get_work", worker="W1", host="h")
        add(s, "A_x_2", "A", {"x": "2"}, status="FAILED", expl=expl("no"))
        got[s.kind] = metric_samples(s)
    oracle = got["luigid"]
    assert any(("x", "2") in labels for (_, labels) in oracle)
    if "luigid-rs" in got:
        assert got["luigid-rs"] == oracle


@pytest.mark.skipif(oracle_only(), reason="luigid-rs only")
@pytest.mark.parametrize(
    "config,expected",
    [
        ({"scheduler": {"metrics_collector": "custom"}}, "metrics_collector"),
        ({"scheduler": {"metrics_collector": "statsd"}}, "datadog"),
        ({"prometheus": {"use_task_family_in_labels": "false"}}, "use_task_family_in_labels"),
    ],
)
def test_unsupported_settings_are_startup_errors(tmp_path, config, expected):
    with pytest.raises(RuntimeError) as e:
        start_luigid_rs(tmp_path, config=config)
    assert expected in str(e.value)


@pytest.mark.skipif(oracle_only(), reason="luigid-rs only")
def test_unreachable_smtp_is_retried_counted_and_never_blocks(tmp_path):
    from notifylib import free_port

    dead_port = free_port()  # nothing listens there
    config = {
        "scheduler": {"retry_count": "1"},
        "email": {"receiver": "ops@example.com", "sender": "luigi@example.com", "method": "sendgrid"},
        "smtp": {"host": "127.0.0.1", "port": str(dead_port), "timeout": "2"},
    }
    # sendgrid: a startup warning, nothing sent.
    srv = start_luigid_rs(tmp_path / "sg", config=config, env={"RUST_LOG": "warn"})
    try:
        wait_for(lambda: "SMTP only" in srv.log_tail(), what="the sendgrid warning")
    finally:
        srv.stop()
    config["email"]["method"] = "smtp"
    srv = start_luigid_rs(tmp_path / "smtp", config=config)
    try:
        import time

        t0 = time.monotonic()
        srv.rpc("add_task", {"worker": "W", "task_id": "T_1", "status": "FAILED", "family": "T", "expl": '"x"'})
        assert time.monotonic() - t0 < 2.0, "the RPC waited for SMTP"
        assert srv.rpc("task_list", {"status": "DISABLED", "upstream_status": ""})

        def failures():
            with urllib.request.urlopen(srv.url + "/metrics", timeout=10) as r:
                for line in r.read().decode().splitlines():
                    if line.startswith("luigid_email_failures_total "):
                        return float(line.split()[1]) >= 1
            return False

        wait_for(failures, timeout=30, what="the failed e-mail counted")
        assert srv.log_tail().count("could not send the e-mail") == 1
    finally:
        srv.stop()

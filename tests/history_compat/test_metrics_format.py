"""/metrics: the exposition luigid-rs renders parses with prometheus_client's own parser
and carries luigi's prometheus collector names, labels and values.

metrics_golden.txt is what `Metrics::render` produces for a known sequence of events
(the Rust unit test `metrics::tests::golden_exposition` keeps it in sync); the live test
reads /metrics of a running luigid-rs after a real worker-like sequence of calls.
"""
import os
import sys
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

parser = pytest.importorskip("prometheus_client.parser")

HERE = os.path.dirname(os.path.abspath(__file__))


def samples(text):
    out = {}
    types = {}
    for fam in parser.text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out, types


def test_golden_exposition_parses_with_expected_values():
    with open(os.path.join(HERE, "metrics_golden.txt")) as f:
        text = f.read()
    got, types = samples(text)
    fam_b = 'B"x\\'  # label escaping round-trips
    assert got[("luigi_task_started_total", (("family", "A"),))] == 2.0
    assert got[("luigi_task_started_total", (("family", fam_b),))] == 1.0
    assert got[("luigi_task_failed_total", (("family", fam_b),))] == 1.0
    assert got[("luigi_task_disabled_total", (("family", fam_b),))] == 1.0
    assert got[("luigi_task_done_total", (("family", "C"),))] == 1.0
    assert got[("luigi_task_execution_time_seconds", (("family", "A"),))] == 2.5
    assert ("luigi_task_execution_time_seconds", (("family", "C"),)) not in got
    assert got[("luigi_task_started_created", (("family", "A"),))] == 1795000000.25
    assert types["luigi_task_started"] == "counter"
    assert types["luigi_task_execution_time_seconds"] == "gauge"
    assert got[("luigid_tasks", (("status", "PENDING"),))] == 4.0
    assert got[("luigid_workers_active", ())] == 2.0
    assert got[("luigid_open_connections", ())] == 3.0
    assert got[("luigid_http_requests_total", (("code", "200"), ("method", "add_task")))] == 2.0
    assert types["luigid_http_request_duration_seconds"] == "histogram"
    key = lambda le: ("luigid_http_request_duration_seconds_bucket", (("le", le), ("method", "add_task")))
    assert got[key("0.001")] == 1.0 and got[key("0.025")] == 2.0 and got[key("+Inf")] == 2.0
    assert got[("luigid_http_request_duration_seconds_count", (("method", "get_work"),))] == 1.0
    assert got[("luigid_history_write_errors_total", ())] == 7.0
    assert got[("luigid_journal_syncs_total", ())] == 1.0
    assert types["luigid_snapshot_duration_seconds"] == "summary"


def test_golden_matches_prometheus_client_layout_for_luigi_metrics():
    """The luigi_* part reads line for line as prometheus_client writes the same registry
    after the same events (only the _created timestamps differ)."""
    pc = pytest.importorskip("prometheus_client")
    reg = pc.CollectorRegistry()
    names = [("started", "number of started luigi tasks"), ("failed", "number of failed luigi tasks"),
             ("disabled", "number of disabled luigi tasks"), ("done", "number of done luigi tasks")]
    c = {n: pc.Counter("luigi_task_%s_total" % n, h, ["family"], registry=reg) for n, h in names}
    gauge = pc.Gauge("luigi_task_execution_time_seconds", "luigi task execution time in seconds",
                     ["family"], registry=reg)
    b = 'B"x\\'
    # the sequence of metrics::tests::evs()
    c["started"].labels(family="A").inc()
    gauge.labels(family="A")
    c["started"].labels(family="A").inc()
    c["done"].labels(family="A").inc()
    gauge.labels(family="A").set(2.5)
    c["started"].labels(family=b).inc()
    gauge.labels(family=b)
    c["failed"].labels(family=b).inc()
    gauge.labels(family=b).set(0.125)
    c["disabled"].labels(family=b).inc()
    c["done"].labels(family="C").inc()
    theirs = pc.generate_latest(reg).decode()
    with open(os.path.join(HERE, "metrics_golden.txt")) as f:
        ours = f.read()

    def luigi_part(text):
        out = []
        for line in text.splitlines():
            if "luigi_task_" not in line.split(" ")[0 if not line.startswith("#") else 2]:
                continue
            if not line.startswith("#") and "_created{" in line:
                line = line.rsplit(" ", 1)[0]  # the timestamp differs
            out.append(line)
        return out

    assert luigi_part(ours) == luigi_part(theirs)


def _rs_binary():
    from servers import rs_binary
    path = rs_binary()
    if not os.path.exists(path):
        pytest.skip("luigid-rs binary not built: %s" % path)
    return path


def test_live_metrics_after_a_run(tmp_path):
    """A known sequence of calls through the real binary, then /metrics parsed by
    prometheus_client with every affected value checked."""
    _rs_binary()
    from servers import start_luigid_rs
    srv = start_luigid_rs(tmp_path, extra_args=["--history-db", str(tmp_path / "h.db")])
    try:
        def add(tid, fam, status, worker="w1"):
            srv.rpc("add_task", {"worker": worker, "task_id": tid, "family": fam, "status": status,
                                 "params": {"p": tid}})
        add("M_1", "M", "PENDING")
        add("F_1", 'F"\\', "PENDING")
        add("X_1", "X", "PENDING", worker="w2")
        got_ids = set()
        for _ in range(2):
            work = srv.rpc("get_work", {"worker": "w1", "host": "h"})
            got_ids.add(work["task_id"])
        assert got_ids == {"M_1", "F_1"}
        add("M_1", "M", "DONE")
        add("F_1", 'F"\\', "FAILED")
        with urllib.request.urlopen(srv.url + "/metrics", timeout=10) as resp:
            ctype = resp.headers.get("Content-Type", "")
            text = resp.read().decode()
        assert ctype.startswith("text/plain") and "version=0.0.4" in ctype, ctype
        got, types = samples(text)
        fam_f = 'F"\\'
        assert got[("luigi_task_started_total", (("family", "M"),))] == 1.0
        assert got[("luigi_task_started_total", (("family", fam_f),))] == 1.0
        assert ("luigi_task_started_total", (("family", "X"),)) not in got
        assert got[("luigi_task_done_total", (("family", "M"),))] == 1.0
        assert got[("luigi_task_failed_total", (("family", fam_f),))] == 1.0
        assert ("luigi_task_done_total", (("family", fam_f),)) not in got
        assert got[("luigi_task_execution_time_seconds", (("family", "M"),))] >= 0.0
        assert got[("luigid_tasks", (("status", "DONE"),))] == 1.0
        assert got[("luigid_tasks", (("status", "FAILED"),))] == 1.0
        assert got[("luigid_tasks", (("status", "PENDING"),))] == 1.0
        assert got[("luigid_workers_active", ())] == 2.0
        assert got[("luigid_http_requests_total", (("code", "200"), ("method", "add_task")))] == 5.0
        assert got[("luigid_http_requests_total", (("code", "200"), ("method", "get_work")))] == 2.0
        assert got[("luigid_http_request_duration_seconds_count", (("method", "add_task"),))] == 5.0
        assert got[("luigid_history_write_errors_total", ())] == 0.0
        assert types["luigi_task_started"] == "counter"
        assert types["luigid_http_request_duration_seconds"] == "histogram"
    finally:
        srv.stop()

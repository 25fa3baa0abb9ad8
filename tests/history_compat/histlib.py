"""Helpers for the history tests: run the pipeline as a real worker process, read the
rows a server left, fetch pages. (Kept here, not in tests/lib, which other work extends.)"""
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from servers import rs_binary, start_luigid, start_luigid_rs  # noqa: E402,F401

HISTORY_CFG = {
    "scheduler": {"record_task_history": "true"},
    "task_history": {"db_connection": "sqlite:///hist.db"},
}


def run_pipeline(srv, workdir):
    """`python -m luigi --module hist_pipeline HistAll` against `srv`, as a user would, in
    `workdir` (outputs in its out/: the worker sends out_dir too, so every run uses the
    same relative value)."""
    os.makedirs(str(workdir), exist_ok=True)
    cfg = os.path.join(str(workdir), "client.cfg")
    with open(cfg, "w") as f:
        f.write("[core]\nno_lock = true\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
    env["LUIGI_CONFIG_PATH"] = cfg
    cmd = [sys.executable, "-m", "luigi", "--module", "hist_pipeline", "HistAll",
           "--out-dir", "out", "--scheduler-url", srv.url + "/", "--workers", "1"]
    p = subprocess.run(cmd, env=env, cwd=str(workdir), capture_output=True, text=True, timeout=60)
    log = p.stdout + p.stderr
    assert "planned failure" in log, log[-3000:]
    return log


def db_records(path):
    """Every record: dict(id, task_id, name, host, events=[(name, ts, event id)], params={})."""
    con = sqlite3.connect(str(path))
    try:
        out = []
        for rid, task_id, name, host in con.execute("SELECT id, task_id, name, host FROM tasks ORDER BY id"):
            evs = list(con.execute("SELECT event_name, ts, id FROM task_events WHERE task_id = ? ORDER BY id", (rid,)))
            params = dict(con.execute("SELECT name, value FROM task_parameters WHERE task_id = ?", (rid,)))
            out.append(dict(id=rid, task_id=task_id, name=name, host=host, events=evs, params=params))
        return out
    finally:
        con.close()


def shape(records):
    """Per task (family + parameters): the event names in order and whether a host is set."""
    out = {}
    for r in records:
        key = (r["name"], json.dumps(r["params"], sort_keys=True))
        assert key not in out, "two records for %s in one run" % (key,)
        out[key] = ([e[0] for e in r["events"]], r["host"] is not None)
    return out


def schema(path):
    con = sqlite3.connect(str(path))
    try:
        return list(con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"))
    finally:
        con.close()


def get(srv, path, accept=None):
    req = urllib.request.Request(srv.url + path)
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def get_json(srv, path):
    status, ctype, body = get(srv, path, accept="application/json")
    assert status == 200 and ctype.startswith("application/json"), (path, status, body[:300])
    return json.loads(body)


def poll(fn, timeout=10.0, what="condition"):
    """Call fn until it returns a true value, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def metric(srv, name, labels=None):
    from prometheus_client.parser import text_string_to_metric_families
    with urllib.request.urlopen(srv.url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and s.labels == (labels or {}):
                return s.value
    return None


def luigid_has_working_history():
    try:
        import sqlalchemy
    except ImportError:
        return False
    return int(sqlalchemy.__version__.split(".")[0]) < 2

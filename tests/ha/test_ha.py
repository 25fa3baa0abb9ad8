"""An active/standby luigid-rs pair sharing its state through a real PostgreSQL, with
real luigi workers behind a real HAProxy: the leader is SIGKILLed, or its database
sessions are cut, and nothing acknowledged may be lost."""
import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from hacluster import (HAProxy, Node, health, leader_sessions, request, rpc,  # noqa: E402
                       terminate_leader_sessions, wait_for)
from servers import _spawn, free_port  # noqa: E402

# The bound: a standby serves within 5 s of the leader's death.
FAILOVER_LIMIT = 5.0


def add_task(port, task_id, worker="w1", status="PENDING"):
    return rpc(port, "add_task", {"task_id": task_id, "worker": worker, "status": status,
                                  "family": "T", "params": {}})


def task_ids(port, status):
    st, body = rpc(port, "task_list", {"status": status, "upstream_status": ""})
    assert st == 200, body
    return set(body["response"])


def test_standby_is_unavailable_but_serves_pages(nodes):
    a = nodes("a").start()
    assert a.is_leader()
    b = nodes("b").start()
    assert health(b.port) == 503
    st, headers, body = request(b.port, "POST", "/api/add_task", "data=%7B%7D")
    assert st == 503
    assert headers.get("retry-after") == "1"
    doc = json.loads(body)
    assert doc["standby"] is True and "standby" in doc["error"]
    assert request(b.port, "GET", "/api/task_list?data=%7B%7D")[0] == 503
    # The visualiser is still served, so that it can say "standby".
    st, headers, _ = request(b.port, "GET", "/")
    assert st == 302
    assert request(b.port, "GET", "/" + headers["location"])[0] == 200
    assert b.metrics()["luigid_rs_ha_role"] == 0
    m = a.metrics()
    assert m["luigid_rs_ha_role"] == 1
    assert m["luigid_rs_ha_leadership_changes_total"] == 1
    # The leader answers; the standby never took a write.
    assert add_task(a.port, "A1")[0] == 200
    assert a.metrics()["luigid_rs_ha_commit_seconds_count"] >= 1


def test_sigkill_loses_no_acknowledged_call_and_standby_takes_over(nodes):
    a = nodes("a").start()
    b = nodes("b").start()
    assert a.is_leader() and not b.is_leader()
    acked, stop = [], threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            try:
                st, _ = add_task(a.port, "W%05d" % i)
            except OSError:
                return
            if st == 200:
                acked.append("W%05d" % i)
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    wait_for(lambda: len(acked) >= 200, 30, "200 acknowledged add_task calls")
    a.srv.proc.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    a.srv.proc.wait()
    stop.set()
    t.join(10)
    wait_for(b.is_leader, FAILOVER_LIMIT + 5, "the standby to lead")
    failover = time.monotonic() - killed_at
    assert failover <= FAILOVER_LIMIT, "failover took %.2f s" % failover
    print("sigkill: failover %.2f s after %d acknowledged add_task" % (failover, len(acked)))
    missing = set(acked) - task_ids(b.port, "PENDING")
    assert not missing, "acknowledged add_task calls lost: %s" % sorted(missing)[:10]
    assert b.metrics()["luigid_rs_ha_role"] == 1
    # The old leader comes back as a standby: the other one holds the lock.
    a.start()
    assert health(a.port) == 503
    assert b.is_leader()
    # It leads again, with the state, once the new leader stops.
    assert add_task(b.port, "AFTER")[0] == 200
    b.stop()
    wait_for(a.is_leader, FAILOVER_LIMIT + 5, "the restarted server to lead")
    assert set(acked) | {"AFTER"} <= task_ids(a.port, "PENDING")


def test_cut_sessions_fence_the_old_leader(store, nodes):
    pg, db, _ = store
    a = nodes("a").start()
    b = nodes("b").start()
    assert add_task(a.port, "BEFORE")[0] == 200
    assert len(leader_sessions(pg, db)) == 1
    terminate_leader_sessions(pg, db)
    # The very next write to the old leader is refused: it cannot commit any more.
    st, body = add_task(a.port, "REFUSED")
    assert st == 503, body
    # It steps down at once and gives the standby the first chance.
    assert health(a.port) == 503
    wait_for(b.is_leader, FAILOVER_LIMIT + 5, "the standby to lead")
    assert health(a.port) == 503
    ids = task_ids(b.port, "PENDING")
    assert "BEFORE" in ids and "REFUSED" not in ids
    assert a.metrics()["luigid_rs_ha_commit_failures_total"] >= 1
    assert "leadership lost" in a.log()


def run_pipeline(tmp_path, proxy_port, env_extra):
    out = tmp_path / "out"
    out.mkdir()
    cfg = tmp_path / "client.cfg"
    cfg.write_text(
        "[core]\nrpc-retry-attempts = 60\nrpc-retry-wait = 1\nrpc-connect-timeout = 2\n"
        "[worker]\nwait_interval = 0.1\nwait_jitter = 0.1\nping_interval = 0.5\n"
        "keep_alive = false\n"
        "[retcode]\nalready_running = 10\nmissing_data = 20\nnot_run = 25\n"
        "task_failed = 30\nscheduling_error = 35\nunhandled_exception = 40\n"
    )
    env = dict(os.environ)
    env.update({
        "LUIGI_CONFIG_PATH": str(cfg),
        "PYTHONPATH": HERE,
        "HA_RUN_LOG": str(tmp_path / "runs.log"),
        "HA_ACK_LOG": str(tmp_path / "acks.log"),
        "HA_OUT": str(out),
    })
    env.update(env_extra)
    cmd = [sys.executable, "-m", "luigi", "--module", "pipeline", "Final", "--workers", "4",
           "--scheduler-url", "http://127.0.0.1:%d/" % proxy_port]
    log = open(tmp_path / "worker.log", "wb")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), out


def read_lines(path):
    try:
        with open(path) as f:
            return [l.rstrip("\n") for l in f if l.strip()]
    except FileNotFoundError:
        return []


@pytest.mark.parametrize("failure", ["sigkill", "cut_sessions"])
def test_pipeline_survives_leader_failure(tmp_path, store, nodes, failure):
    pg, db, _ = store
    a = nodes("a").start()
    b = nodes("b").start()
    proxy = HAProxy(tmp_path / "haproxy", [a.port, b.port])
    try:
        leaves = 60
        worker, out = run_pipeline(tmp_path, proxy.port, {"HA_LEAVES": str(leaves)})
        runs_log = tmp_path / "runs.log"
        wait_for(lambda: len(read_lines(runs_log)) >= 15 and worker.poll() is None, 60,
                 "15 task runs before the failure")
        running = {l for l in read_lines(runs_log)}
        if failure == "sigkill":
            a.kill()
        else:
            terminate_leader_sessions(pg, db)
        failed_at = time.monotonic()
        wait_for(b.is_leader, FAILOVER_LIMIT + 5, "the standby to lead")
        failover = time.monotonic() - failed_at
        assert failover <= FAILOVER_LIMIT, "failover took %.2f s" % failover
        worker.wait(120)
        wlog = (tmp_path / "worker.log").read_text(errors="replace")
        assert worker.returncode == 0, wlog[-4000:]
        assert (out / "final").exists(), wlog[-4000:]
        # Every task ran, exactly once, except those running at the failure: at most twice.
        runs = collections.Counter(read_lines(runs_log))
        assert len(runs) == leaves + 1
        twice = {t for t, n in runs.items() if n > 1}
        print("%s: failover %.2f s, %d task runs, %d tasks ran twice"
              % (failure, failover, sum(runs.values()), len(twice)))
        assert all(n <= 2 for n in runs.values()), runs
        assert len(twice) <= 4 and twice <= running, (twice, running)
        # No acknowledged add_task was lost: the new leader knows every task a worker
        # was told was added, and every status it acknowledged, or a later one.
        acks = [json.loads(l) for l in read_lines(tmp_path / "acks.log")]
        added = {a["data"]["task_id"]: a["data"].get("status") for a in acks
                 if a["method"] == "add_task"}
        assert len(added) >= leaves + 1
        done = task_ids(b.port, "DONE")
        for task_id, status in added.items():
            if status == "DONE":
                assert task_id in done, task_id
        assert set(added) <= done | task_ids(b.port, "PENDING") | task_ids(b.port, "RUNNING")
        # Never two leaders acknowledging writes: the old one is dead or a standby.
        if failure == "cut_sessions":
            assert health(a.port) == 503
            assert add_task(a.port, "LATE")[0] == 503
    finally:
        proxy.stop()


def journal_rows(pg, db):
    c = pg.connect(db)
    try:
        cur = c.cursor()
        cur.execute("SELECT count(*) FROM luigid_rs_journal")
        rows = cur.fetchone()[0]
        cur.execute("SELECT count(DISTINCT id) FROM luigid_rs_snapshot")
        return rows, cur.fetchone()[0]
    finally:
        c.close()


@pytest.mark.parametrize("durability", ["always", "everysec"])
def test_takeover_from_snapshot_and_journal(store, nodes, durability):
    pg, db, _ = store
    a = nodes("a", ha_snapshot_records="40", durability=durability).start()
    b = nodes("b", ha_snapshot_records="40", durability=durability).start()
    for i in range(100):
        assert add_task(a.port, "S%03d" % i)[0] == 200
    # A snapshot is stored and the journal rows it covers are gone.
    wait_for(lambda: a.metrics()["luigid_rs_ha_snapshots_total"] >= 1, 15, "a stored snapshot",
             step=0.1)
    rows, snapshots = journal_rows(pg, db)
    assert snapshots == 1
    assert rows < 100, rows
    for i in range(100, 110):
        assert add_task(a.port, "S%03d" % i)[0] == 200
    if durability == "everysec":
        # Committed at least once a second: wait until it is, then nothing may be lost.
        wait_for(lambda: a.metrics()["luigid_rs_ha_uncommitted_bytes"] == 0, 5,
                 "the everysec commit", step=0.1)
        assert journal_rows(pg, db)[0] > rows
    a.kill()
    wait_for(b.is_leader, FAILOVER_LIMIT + 5, "the standby to lead")
    assert task_ids(b.port, "PENDING") == {"S%03d" % i for i in range(110)}
    assert "snapshot covering journal rows" in b.log()


def test_bad_or_unreachable_store(tmp_path):
    # Not a PostgreSQL URL: a startup error naming the key, never a silent local state.
    cfg = {"luigid_rs": {"state_store": "sqlite:////tmp/x.db"}}
    bad = _spawn("luigid-rs", tmp_path / "bad", cfg, None, (), None)
    assert bad.proc.wait(30) != 0
    assert "state_store" in bad.log_tail()
    # Nothing listening: it starts as a standby and keeps trying.
    url = "postgresql://luigi:s3cr3t-pw@127.0.0.1:%d/db" % free_port()
    n = Node(tmp_path / "away", url).start()
    try:
        assert health(n.port) == 503
        assert rpc(n.port, "add_task", {"task_id": "X"})[0] == 503
        assert "cannot take part in the leader election" in n.log()
        assert "s3cr3t" not in n.log()
    finally:
        n.stop()

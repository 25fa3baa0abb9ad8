"""Crash tests for durable state: no acknowledged change is lost.

A client sends a long, seeded mix of state-changing calls over one keep-alive connection
and records which were acknowledged. The server is SIGKILLed at random moments while a
second, never-restarted luigid-rs (durability off) receives exactly the acknowledged
calls as a reference. After each restart the recovered state must equal the reference's:
every task of every status, workers, resources, errors and the pause flag.

The one call in flight when the kill lands may or may not have been applied (it was
journaled but not answered): when the states differ, it is fed to the reference and the
comparison must then hold.
"""
import http.client
import json
import os
import random
import signal
import threading
import urllib.parse

import pytest

from servers import start_luigid_rs

STATUSES = ["PENDING", "RUNNING", "BATCH_RUNNING", "DONE", "FAILED", "DISABLED", "UNKNOWN"]
TIME_KEYS = {"time_running", "start_time", "last_updated", "last_active", "started"}


class Client:
    """One keep-alive connection posting form-encoded `data=`, as RemoteScheduler does."""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def call(self, method, args):
        body = urllib.parse.urlencode({"data": json.dumps(args)})
        self.conn.request(
            "POST",
            "/api/" + method,
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise AssertionError("%s %s -> %s %s" % (method, args, resp.status, data))
        return json.loads(data)["response"]

    def close(self):
        self.conn.close()


def call_stream(seed):
    """An endless, seeded sequence of state-changing calls touching every kind of state."""
    rng = random.Random(seed)
    n = 0
    ids = []
    workers = ["w%d" % i for i in range(4)]
    while True:
        w = rng.choice(workers)
        r = rng.random()
        if r < 0.35 or not ids:
            tid = "T%d" % n
            n += 1
            deps = rng.sample(ids, min(len(ids), rng.randint(0, 2)))
            ids.append(tid)
            yield "add_task", {
                "worker": w, "task_id": tid, "family": "F%d" % (n % 5),
                "params": {"n": str(n)}, "deps": deps, "status": "PENDING",
                "priority": rng.randint(0, 9), "resources": {"r": 1} if rng.random() < 0.2 else None,
            }
        elif r < 0.50:
            yield "get_work", {"worker": w, "host": "host-" + w}
        elif r < 0.62:
            status = rng.choice(["DONE", "FAILED"])
            args = {"worker": w, "task_id": rng.choice(ids), "status": status}
            if status == "FAILED":
                args["expl"] = "Traceback: boom %d" % rng.randint(0, 99)
            yield "add_task", args
        elif r < 0.66:
            yield "re_enable_task", {"task_id": rng.choice(ids)}
        elif r < 0.70:
            yield "forgive_failures", {"task_id": rng.choice(ids)}
        elif r < 0.73:
            yield "mark_as_done", {"task_id": rng.choice(ids)}
        elif r < 0.76:
            yield rng.choice(["pause", "unpause"]), {}
        elif r < 0.82:
            yield "set_task_status_message", {"task_id": rng.choice(ids), "status_message": "m%d" % n}
        elif r < 0.86:
            yield "set_task_progress_percentage", {"task_id": rng.choice(ids), "progress_percentage": rng.randint(0, 100)}
        elif r < 0.90:
            yield "add_worker", {"worker": w, "info": {"host": "host-" + w, "pid": rng.randint(1, 999)}}
        elif r < 0.93:
            yield "update_resource", {"resource": "r", "amount": rng.randint(1, 3)}
        elif r < 0.95:
            yield "add_task_batcher", {"worker": w, "task_family": "F1", "batched_args": ["n"], "max_batch_size": 5}
        else:
            yield "ping", {"worker": w}


def mask(value):
    if isinstance(value, dict):
        return {k: ("<t>" if k in TIME_KEYS else mask(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def snapshot_of(client):
    """Everything a user can read about the state, with times masked."""
    state = {}
    for s in STATUSES:
        state[s] = mask(client.call("task_list", {"status": s, "upstream_status": ""}))
    workers = client.call("worker_list", {})
    state["workers"] = sorted((mask(w) for w in workers), key=lambda w: w["name"])
    state["resources"] = sorted(mask(client.call("resource_list", {})), key=lambda r: r["name"])
    state["paused"] = client.call("is_paused", {})
    state["errors"] = {
        t: client.call("fetch_error", {"task_id": t}) for t in sorted(state["FAILED"])
    }
    return state


def diff_summary(a, b):
    out = []
    for k in a:
        if a[k] != b.get(k):
            out.append(k)
    return out


CONFIG_BASE = {
    # Large delays: nothing time-dependent happens during the test.
    "scheduler": {"retry_delay": 100000, "worker_disconnect_delay": 100000, "remove_delay": 100000},
    "resources": {"r": 2},
}


def run_rounds(tmp_path, durability, rounds, kill_signal, fork, seed):
    config = {k: dict(v) for k, v in CONFIG_BASE.items()}
    config["luigid_rs"] = {
        "durability": durability,
        # Frequent snapshots so that kills also land during snapshot writing.
        "snapshot_interval": 0.3,
        "snapshot_journal_bytes": 20000,
        "fork_snapshots": "true" if fork else "false",
    }
    ref_config = {k: dict(v) for k, v in CONFIG_BASE.items()}
    ref_config["luigid_rs"] = {"durability": "off"}
    ref = start_luigid_rs(tmp_path / "ref", config=ref_config)
    ref_client = Client(ref.url)
    stream = call_stream(seed)
    rng = random.Random(seed + 1)
    workdir = tmp_path / "victim"
    srv = start_luigid_rs(workdir, config=config)
    total_acked = 0
    try:
        for rnd in range(rounds):
            client = Client(srv.url)
            budget = rng.randint(50, 400)
            in_flight = None
            killer = None
            if kill_signal == signal.SIGKILL:
                # Kill from another thread at a random moment while calls are flowing.
                delay = rng.uniform(0.02, 0.3)
                killer = threading.Timer(delay, lambda: os.kill(srv.proc.pid, signal.SIGKILL))
                killer.start()
            try:
                for _ in range(budget):
                    method, args = next(stream)
                    in_flight = (method, args)
                    client.call(method, args)
                    in_flight = None
                    ref_client.call(method, args)
                    total_acked += 1
            except (ConnectionError, http.client.HTTPException, OSError):
                pass
            finally:
                client.close()
                if killer:
                    killer.cancel()
            if kill_signal == signal.SIGKILL:
                srv.kill()
            else:
                assert srv.stop(kill_signal) == 0
                assert in_flight is None
            srv = start_luigid_rs(workdir, config=config)
            client = Client(srv.url)
            got = snapshot_of(client)
            want = snapshot_of(ref_client)
            if got != want and in_flight is not None:
                # The unanswered call was journaled before the kill: it counts.
                ref_client.call(*in_flight)
                want = snapshot_of(ref_client)
            assert got == want, "round %d: recovered state differs in %s" % (
                rnd, diff_summary(got, want))
            client.close()
        assert total_acked > rounds * 5, "the load did not flow"
    finally:
        srv.stop()
        ref.stop()
        ref_client.close()


@pytest.mark.parametrize("fork", [True, False])
def test_sigkill_always_loses_nothing(tmp_path, fork):
    run_rounds(tmp_path, "always", rounds=6, kill_signal=signal.SIGKILL, fork=fork, seed=7 + fork)


def test_sigkill_everysec_loses_nothing_on_process_crash(tmp_path):
    # everysec writes before replying; only the fsync is deferred, so a process crash
    # (unlike a power cut) loses nothing either.
    run_rounds(tmp_path, "everysec", rounds=5, kill_signal=signal.SIGKILL, fork=True, seed=21)


def test_sigterm_always_ends_with_snapshot_and_zero_loss(tmp_path):
    run_rounds(tmp_path, "off", rounds=3, kill_signal=signal.SIGTERM, fork=True, seed=33)
    # After a clean stop only the snapshot is left (and the lock file), no journal.
    left = sorted(p.name for p in (tmp_path / "victim").iterdir() if p.name.startswith("state"))
    assert left == ["state.json", "state.json.lock"], left


def test_sigterm_everysec_stops_on_the_journal_and_loses_nothing(tmp_path):
    # No final snapshot in the journaled modes: the next start replays the journal.
    run_rounds(tmp_path, "everysec", rounds=3, kill_signal=signal.SIGTERM, fork=True, seed=41)


def test_torn_journal_tail_is_dropped_and_reported(tmp_path):
    config = {"luigid_rs": {"durability": "always", "snapshot_interval": 100000}}
    workdir = tmp_path / "s"
    srv = start_luigid_rs(workdir, config=config)
    c = Client(srv.url)
    for i in range(20):
        c.call("add_task", {"worker": "w", "task_id": "A%d" % i, "status": "PENDING"})
    c.close()
    srv.kill()
    journals = [p for p in workdir.iterdir() if ".journal." in p.name]
    assert len(journals) == 1
    with open(journals[0], "ab") as f:
        f.write(b"\x40\x00\x00\x00\x01\x02\x03\x04{\"m\": \"add_ta")  # a torn append
    srv = start_luigid_rs(workdir, config=config)
    c = Client(srv.url)
    assert len(c.call("task_list", {"status": "PENDING", "upstream_status": ""})) == 20
    c.call("add_task", {"worker": "w", "task_id": "after", "status": "PENDING"})
    c.close()
    srv.kill()
    srv = start_luigid_rs(workdir, config=config)
    c = Client(srv.url)
    assert len(c.call("task_list", {"status": "PENDING", "upstream_status": ""})) == 21
    c.close()
    srv.stop()
    log = (workdir / "server.log").read_text()
    assert "dropped an incomplete last record" in log


def test_corrupt_snapshot_refuses_start_then_moves_aside(tmp_path):
    workdir = tmp_path / "c"
    workdir.mkdir()
    (workdir / "state.json").write_text('{"format": "luigid-rs-state", "vers')
    with pytest.raises(RuntimeError):
        start_luigid_rs(workdir)
    assert (workdir / "state.json").read_text().startswith('{"format"'), "never overwritten"
    assert "--start-empty" in (workdir / "server.log").read_text()
    srv = start_luigid_rs(workdir, extra_args=["--start-empty"])
    srv.stop()
    aside = [p.name for p in workdir.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].startswith("state.json.corrupt-")

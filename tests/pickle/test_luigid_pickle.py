"""luigid's state pickle, read natively: the real luigid is driven into a varied state over
its RPC API and stopped with SIGTERM (so it pickles its state); then the real luigid and
luigid-rs are each started on their own copy of that file, and every list call must answer
the same. luigid-rs keeps the original bytes aside and writes its own format from then on.

Older luigid releases (luigi 2.8.13, whose tasks keep their failures in a Failures object)
run from their own virtualenv: `make old-luigid` creates it (tests/pickle/old_luigid.sh)."""
import glob
import math
import os
import shutil
import signal
import subprocess

import pytest

from servers import (REPO, Server, _env, _spawn, _wait_ready, free_port, start_luigid,
                     start_luigid_rs, write_cfg)

STATUSES = ["", "PENDING", "RUNNING", "BATCH_RUNNING", "DONE", "FAILED", "DISABLED", "UNKNOWN"]
UPSTREAMS = ["", "UPSTREAM_FAILED", "UPSTREAM_DISABLED", "UPSTREAM_MISSING_INPUT", "UPSTREAM_RUNNING"]

# Nothing times out or is pruned while the test runs; 2 failures disable a task.
CFG = {"scheduler": {"retry_delay": "100000", "worker_disconnect_delay": "100000",
                     "remove_delay": "100000", "retry_count": "2", "disable_window": "100000",
                     "disable_persist": "100000"},
       "resources": {"r": "3", "gpu": "1"}}

OLD_VENVS = {"2.8.13": os.path.join(REPO, ".venv-luigi-2.8.13")}


def add(s, worker, task_id, **kw):
    args = {"worker": worker, "task_id": task_id, "family": task_id.split("(")[0]}
    args.update(kw)
    return s.rpc("add_task", args)


def scenario_statuses(s, modern=True):
    """Every status, failures within the window, an automatic disable, a batch."""
    s.rpc("add_worker", {"worker": "w1", "info": {"host": "h1", "pid": 7, "user": "u"}})
    s.rpc("add_worker", {"worker": "w2", "info": {"host": "h2", "assistant": True}})
    add(s, "w1", "A(x=1)", params={"x": "1"}, deps=["B()", "C()", "Missing()"], priority=5,
        resources={"r": 1})
    add(s, "w1", "B()", status="DONE")
    add(s, "w1", "C()", status="FAILED", expl="Traceback: boom")
    add(s, "w1", "D()", status="FAILED", expl="e1")
    add(s, "w1", "D()", status="FAILED", expl="e2")  # second failure: disabled
    add(s, "w1", "X()", status="DISABLED")
    add(s, "w1", "S()", status="SUSPENDED")
    add(s, "w1", "R()", priority=9, resources={"r": 2})
    add(s, "w2", "R()")
    assert s.rpc("get_work", {"worker": "w1", "host": "h1"})["task_id"] == "R()"
    s.rpc("set_task_status_message", {"task_id": "R()", "status_message": "half way"})
    s.rpc("set_task_progress_percentage", {"task_id": "R()", "progress_percentage": 50})
    add(s, "w1", "Up(a=1)", deps=["D()"])
    add(s, "w1", "Up2()", deps=["R()"])
    if modern:
        # A batch: the batchable tasks run together under one batch id, sharing the
        # first one's resources (luigid aliases resources_running to resources).
        s.rpc("add_task_batcher", {"worker": "w3", "task_family": "E", "batched_args": ["n"],
                                   "max_batch_size": 3})
        for n in (1, 2, 3, 4):
            add(s, "w3", "E(n=%d)" % n, params={"n": str(n)}, batchable=True, priority=100,
                resources={"gpu": 1})
        work = s.rpc("get_work", {"worker": "w3", "host": "h3"})
        assert len(work.get("batch_task_ids") or []) == 3, work
        add(s, "w3", "E(n=1,2,3)", params={"n": "1,2,3"}, status="RUNNING",
            batch_id=work["batch_id"], resources={"gpu": 1})
        s.rpc("add_task_batcher", {"worker": "w2", "task_family": "F", "batched_args": ["a", "b"]})
    s.rpc("disable_worker", {"worker": "w2"})


def scenario_values(s, modern=True):
    """Hidden and private params, unicode, big integers, NaN and float priorities,
    nested values, scheduler messages."""
    s.rpc("add_worker", {"worker": "wv", "info": {"host": "h\u00e9", "salt": "\u4e2d\u6587"}})
    add(s, "wv", "P(pub=1)", params={"pub": "1", "hid": "secret", "priv": "p"},
        param_visibilities={"pub": 0, "hid": 1, "priv": 2}, priority=2 ** 80,
        tracking_url="http://track/1", module="my.module")
    add(s, "wv", "U(\u00e9=\u2603)", params={"\u00e9": "\u2603"}, priority=-(2 ** 70))
    add(s, "wv", "F(p=1.5)", priority=1.5, params={"p": "1.5"})
    add(s, "wv", "Big()", priority=123456789012345678901234567890, resources={"r": 2 ** 40})
    add(s, "wv", "Nested()", params={"l": [1, [2, {"k": None}]], "d": {"x": True}})
    add(s, "wv", "M()", accepts_messages=True)
    assert s.rpc("get_work", {"worker": "wv", "host": "h"})["task_id"] == "P(pub=1)"
    if modern:
        s.rpc("send_scheduler_message", {"worker": "wv", "task": "P(pub=1)", "content": "hi \u2603"})
    s.rpc("set_task_status_message", {"task_id": "P(pub=1)", "status_message": "\u00e9t\u00e9"})


def scenario_nan(s, modern=True):
    """A NaN priority (Python's json sends it bare) and an infinite one. The NaN task
    belongs to a worker that next_steps does not ask for work: how luigid ranks a NaN
    priority depends on its sort's comparison order, which this test does not cover."""
    s.rpc_raw("add_task", raw_data='{"worker": "wnan", "task_id": "N()", "family": "N", '
                                   '"priority": NaN}')
    s.rpc_raw("add_task", raw_data='{"worker": "wn", "task_id": "I()", "family": "I", '
                                   '"priority": Infinity}')
    add(s, "wn", "Z()", priority=1)


def scenario_empty(s, modern=True):
    pass


SCENARIOS = {"statuses": scenario_statuses, "values": scenario_values, "nan": scenario_nan,
             "empty": scenario_empty}


def snapshot_api(srv, task_ids):
    """Every read-only view a user or worker sees."""
    out = {}
    for st in STATUSES:
        for up in UPSTREAMS:
            out["task_list %s %s" % (st, up)] = srv.rpc("task_list", {"status": st,
                                                                       "upstream_status": up})
    out["task_list search"] = srv.rpc("task_list", {"status": "", "upstream_status": "",
                                                    "search": "E"})
    out["worker_list"] = srv.rpc("worker_list")
    out["resource_list"] = srv.rpc("resource_list")
    out["task_search"] = srv.rpc("task_search", {"task_str": ""})
    for t in sorted(task_ids):
        out["fetch_error " + t] = srv.rpc("fetch_error", {"task_id": t})
        out["dep_graph " + t] = srv.rpc("dep_graph", {"task_id": t})
        out["inverse_dep_graph " + t] = srv.rpc("inverse_dep_graph", {"task_id": t})
        out["status_message " + t] = srv.rpc("get_task_status_message", {"task_id": t})
        out["progress " + t] = srv.rpc("get_task_progress_percentage", {"task_id": t})
        out["running_resources " + t] = srv.rpc("get_running_task_resources", {"task_id": t})
    out["graph"] = srv.rpc("graph")
    return out


def next_steps(srv):
    """What the workers get next: scheduling from the loaded state."""
    out = {}
    for w in ("w1", "w3", "wv", "wn", "w4"):
        out["get_work " + w] = srv.rpc("get_work", {"worker": w, "host": "h"})
        out["ping " + w] = srv.rpc("ping", {"worker": w})
    return out


def norm(x):
    """NaN is not equal to itself: compare its text. A task's deps are a set in luigid,
    listed in string-hash order, which Python randomizes per process: compare them sorted."""
    if isinstance(x, float) and math.isnan(x):
        return "NaN"
    if isinstance(x, dict):
        return {k: sorted(v) if k == "deps" and isinstance(v, list) else norm(v)
                for k, v in x.items()}
    if isinstance(x, list):
        return [norm(v) for v in x]
    return x


def write_pickle(tmp_path, scenario, luigid_cmd=None, modern=True):
    """Drive a real luigid through `scenario`, SIGTERM it, return its pickle's bytes."""
    workdir = tmp_path / "writer"
    if luigid_cmd is None:
        py = start_luigid(workdir, config=CFG)
    else:
        py = start_old_luigid(workdir, luigid_cmd)
    try:
        SCENARIOS[scenario](py, modern)
    finally:
        assert py.stop(signal.SIGTERM) == 0, py.log_tail()
    data = (workdir / "state.pickle").read_bytes()
    assert data[:1] == b"\x80", data[:20]
    return data


def start_old_luigid(workdir, luigid_cmd):
    """An older luigid release from its own virtualenv, set up as servers.py does."""
    workdir = str(workdir)
    os.makedirs(workdir, exist_ok=True)
    cfg = os.path.join(workdir, "luigi.cfg")
    write_cfg(cfg, CFG)
    port = free_port()
    args = [luigid_cmd, "--state-path", os.path.join(workdir, "state.pickle"),
            "--port", str(port), "--address", "127.0.0.1"]
    log = open(os.path.join(workdir, "server.log"), "ab")
    proc = subprocess.Popen(args, cwd=workdir, env=_env(workdir, cfg), stdout=log, stderr=log)
    log.close()
    return _wait_ready(Server(proc, "http://127.0.0.1:%d" % port, workdir, None, "luigid", port))


def start_both(tmp_path, data, oracle_cmd=None):
    (tmp_path / "py").mkdir()
    (tmp_path / "py" / "state.pickle").write_bytes(data)
    (tmp_path / "rs").mkdir()
    (tmp_path / "rs" / "state.json").write_bytes(data)
    if oracle_cmd is None:
        py = start_luigid(tmp_path / "py", config=CFG)
    else:
        py = start_old_luigid(tmp_path / "py", oracle_cmd)
    try:
        rs = start_luigid_rs(tmp_path / "rs", config=CFG, env={"RUST_LOG": "info"})
    except Exception:
        py.stop()
        raise
    return py, rs


def task_ids(srv):
    return list(srv.rpc("task_list", {"status": "", "upstream_status": ""}).keys())


def check_kept_aside(rs_dir, data):
    aside = glob.glob(str(rs_dir / "state.json.luigid-*"))
    assert len(aside) == 1, os.listdir(rs_dir)
    with open(aside[0], "rb") as f:
        assert f.read() == data
    with open(rs_dir / "state.json", "rb") as f:
        assert f.readline() == b"luigid-rs-state 3\n"  # our own (binary) snapshot


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_luigid_381_pickle_serves_the_same(tmp_path, scenario):
    data = write_pickle(tmp_path, scenario)
    py, rs = start_both(tmp_path, data)
    try:
        ids = task_ids(py)
        assert sorted(task_ids(rs)) == sorted(ids)
        before_py = norm(snapshot_api(py, ids))
        before_rs = norm(snapshot_api(rs, ids))
        diff = [k for k in before_py if before_py[k] != before_rs.get(k)]
        assert not diff, "\n".join("%s\n  luigid:    %r\n  luigid-rs: %r" % (
            k, before_py[k], before_rs.get(k)) for k in diff[:5])
        steps_py, steps_rs = norm(next_steps(py)), norm(next_steps(rs))
        for k in steps_py:
            # The batch id of a new batch is random in both.
            for d in (steps_py[k], steps_rs[k]):
                if isinstance(d, dict) and d.get("batch_id"):
                    d["batch_id"] = "<batch>"
        assert steps_rs == steps_py
        assert "imported luigid's state file" in rs.log_tail(20000)
    finally:
        py.stop()
        assert rs.stop() == 0
    check_kept_aside(tmp_path / "rs", data)
    # Restarted on its own format, luigid-rs serves the same state again.
    rs = start_luigid_rs(tmp_path / "rs", config=CFG)
    try:
        assert sorted(task_ids(rs)) == sorted(ids)
    finally:
        rs.stop()
    assert len(glob.glob(str(tmp_path / "rs" / "state.json.luigid-*"))) == 1


@pytest.mark.parametrize("proto", [2, 3, 5])
def test_other_protocols(tmp_path, proto):
    """The same objects pickled with protocols 2, 3 and 5 (by luigi's own classes)."""
    data = write_pickle(tmp_path, "statuses")
    src = tmp_path / "p4.pickle"
    src.write_bytes(data)
    out = tmp_path / "other.pickle"
    script = ("import pickle, sys; s = pickle.load(open(sys.argv[1], 'rb')); "
              "pickle.dump(s, open(sys.argv[2], 'wb'), protocol=int(sys.argv[3]))")
    subprocess.run([os.path.join(os.path.dirname(os.sys.executable), "python"), "-c", script,
                    str(src), str(out), str(proto)], check=True)
    other = out.read_bytes()
    assert other[1] == proto
    py, rs = start_both(tmp_path, other)
    try:
        ids = task_ids(py)
        assert norm(snapshot_api(rs, ids)) == norm(snapshot_api(py, ids))
    finally:
        py.stop()
        rs.stop()


def test_hostile_pickle_is_refused_and_left_untouched(tmp_path):
    """A pickle naming os.system: refused by name, nothing runs, nothing is moved."""
    marker = tmp_path / "ran"
    payload = (b"\x80\x04cos\nsystem\n\x8c" + bytes([len("touch %s" % marker)]) +
               ("touch %s" % marker).encode() + b"\x85R.")
    (tmp_path / "rs").mkdir()
    state = tmp_path / "rs" / "state.json"
    state.write_bytes(payload)
    srv = _spawn("luigid-rs", tmp_path / "rs", CFG, None, (), None)
    assert srv.proc.wait(timeout=30) != 0
    log = srv.log_tail()
    assert "os.system" in log and "untouched" in log, log
    assert not marker.exists()
    assert state.read_bytes() == payload
    # Only the server's lock file is new.
    assert sorted(os.listdir(tmp_path / "rs")) == ["luigi.cfg", "server.log", "state.json",
                                                   "state.json.lock"]


def old_luigid(version):
    cmd = os.path.join(OLD_VENVS[version], "bin", "luigid")
    if not os.path.exists(cmd):
        msg = "luigi %s is not installed in %s: run `make old-luigid`" % (version,
                                                                        OLD_VENVS[version])
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return cmd


@pytest.mark.parametrize("scenario", ["statuses", "values"])
def test_luigid_2_8_pickle(tmp_path, scenario):
    """luigi 2.8.13 writes the pickle; luigid 2.8.13 restarted from it is the oracle for
    what the state holds. Its replies have fewer fields than 3.8.1's, so the fields both
    have are compared."""
    cmd = old_luigid("2.8.13")
    data = write_pickle(tmp_path, scenario, luigid_cmd=cmd, modern=False)
    assert b"Failures" in data  # the 2.x failure record, which 3.x no longer has
    py, rs = start_both(tmp_path, data, oracle_cmd=cmd)
    try:
        ids = task_ids(py)
        assert sorted(task_ids(rs)) == sorted(ids)
        for st in STATUSES:
            a = py.rpc("task_list", {"status": st, "upstream_status": ""})
            b = rs.rpc("task_list", {"status": st, "upstream_status": ""})
            assert sorted(a) == sorted(b), st
            for tid, t in a.items():
                common = {k: norm(v) for k, v in t.items() if k in b[tid]}
                assert common == {k: norm(b[tid][k]) for k in common}, tid
        for t in ids:
            a = py.rpc("fetch_error", {"task_id": t})
            b = rs.rpc("fetch_error", {"task_id": t})
            assert a == {k: b[k] for k in a}, t
        wa = {w["name"]: w for w in py.rpc("worker_list")}
        wb = {w["name"]: w for w in rs.rpc("worker_list")}
        assert sorted(wa) == sorted(wb)
        for name, w in wa.items():
            common = {k: v for k, v in w.items() if k in wb[name]}
            assert common == {k: wb[name][k] for k in common}, name
    finally:
        py.stop()
        rs.stop()
    check_kept_aside(tmp_path / "rs", data)
    shutil.rmtree(tmp_path / "py", ignore_errors=True)

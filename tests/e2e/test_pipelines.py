"""End-to-end: real `luigi` worker processes against the real luigid and luigid-rs.

Each pipeline runs against both schedulers at the same time (own directories, own workers),
asserts luigid's behaviour, and returns an outcome (statuses, exit codes, summaries, orders)
that must be equal for both."""
import os
import re
from collections import Counter

import pytest

from driver import RETCODES, run_both
from servers import start_pair


@pytest.fixture
def pair_factory(tmp_path):
    pairs = []

    def make(config=None, unix=False):
        p = start_pair(tmp_path / ("srv%d" % len(pairs)), config or {}, unix=unix)
        pairs.append(p)
        return p

    yield make
    for p in pairs:
        p.stop()


KEEP_ALIVE = {"worker": {"keep_alive": "true"}}


def starts(run, family=None):
    return Counter(e["task"] for e in run.events()
                   if e["event"] == "start" and (family is None or e["task"].startswith(family + "_")))


def benign(rcs, ws):
    """Several workers racing: which one reports "run by another worker" (already_running)
    or "not granted run permission" (not_run) is luck; only failures are an outcome."""
    ok = {0, RETCODES["already_running"], RETCODES["not_run"]}
    assert all(rc in ok for rc in rcs), (rcs, [w.stderr()[-1500:] for w in ws])
    assert all(":(" not in str(verdict(w)) for w in ws)
    return "ok"


def verdict(w):
    s = w.summary()
    return s and s["verdict"]


# ---------------------------------------------------------------- (1) DAG, two workers x 4

def p_dag(run):
    ws = [run.start("Top", workers=4, cfg=KEEP_ALIVE) for _ in range(2)]
    rcs = run.wait_workers(ws, timeout=90)
    st = run.statuses()
    c = starts(run)
    assert len(c) == 51 and set(c.values()) == {1}, c.most_common(3)
    assert st == {"DONE": sorted(c)}, st
    ends = [e for e in run.events() if e["event"] == "end"]
    assert len(ends) == 51
    workers = run.rpc("worker_list")
    return {"rcs": benign(rcs, ws), "statuses": st, "n_workers": len(workers)}


def test_dag_two_workers(pair_factory, tmp_path):
    run_both(pair_factory(), tmp_path, p_dag)


def test_dag_over_unix_socket(pair_factory, tmp_path):
    pair = pair_factory(unix=True)
    assert pair.oracle.url.startswith("http+unix://%2F")
    run_both(pair, tmp_path, p_dag)


# ---------------------------------------------------------------- (2) failures

FAIL_CFG = {"scheduler": {"retry_delay": "1", "retry_count": "2", "disable_window": "60"}}


def p_failures(run):
    w1 = run.start("FailRoot", cfg=KEEP_ALIVE)
    (rc1,) = run.wait_workers([w1], poke=True)
    st1 = run.statuses()
    flaky, always, root = run.task_ids("FlakyOnce")[0], run.task_ids("AlwaysFails")[0], run.task_ids("FailRoot")[0]
    assert st1 == {"DONE": [flaky], "DISABLED": [always], "PENDING": [root]}, st1
    err = run.rpc("fetch_error", task_id=always)
    assert "always-fails-marker" in err["error"] and "Traceback" in err["error"], err
    up = sorted(run.rpc("task_list", status="PENDING", upstream_status="UPSTREAM_DISABLED"))
    dis = run.rpc("task_list", status="DISABLED")[always]
    assert dis["re_enable_able"] is True
    again = run.rpc("re_enable_task", task_id=always)
    assert again["status"] == "FAILED"
    run.touch("allow_always")
    run.poll(lambda: run.status_of(always) == "PENDING", "retry_delay after re_enable")
    w2 = run.start("FailRoot")
    (rc2,) = run.wait_workers([w2])
    st2 = run.statuses()
    assert st2 == {"DONE": sorted([flaky, always, root])}, st2

    w3 = run.start("ForgiveMe")
    (rc3,) = run.wait_workers([w3])
    forgive = run.task_ids("ForgiveMe")[0]
    fg = run.rpc("forgive_failures", task_id=forgive)
    assert fg == {"task_id": forgive, "status": "PENDING"}, fg
    run.touch("allow_forgive")
    w4 = run.start("ForgiveMe")
    (rc4,) = run.wait_workers([w4])
    assert run.status_of(forgive) == "DONE"
    c = starts(run)
    assert (c[flaky], c[always], c[root], c[forgive]) == (2, 3, 1, 2), c
    return {"rcs": [rc1, rc2, rc3, rc4], "st1": st1, "st2": st2, "upstream_disabled": up,
            "re_enable": {k: again[k] for k in ("status", "deps", "name", "re_enable_able") if k in again},
            "forgive": fg, "starts": sorted(c.items()),
            "summaries": [w.summary() for w in (w2, w3, w4)], "verdict1": verdict(w1)}


def test_failures_retry_disable_reenable_forgive(pair_factory, tmp_path):
    (out, *_) = run_both(pair_factory(FAIL_CFG), tmp_path, p_failures)
    assert out["rcs"][1] == 0 and out["rcs"][2] == RETCODES["task_failed"] and out["rcs"][3] == 0


# ---------------------------------------------------------------- (3) capacity-1 resource

def p_locks(run):
    ws = [run.start("LockRoot", workers=3, cfg=KEEP_ALIVE) for _ in range(2)]
    rcs = run.wait_workers(ws, timeout=90)
    spans = {}
    for e in run.events():
        if e["task"].startswith("Locked_"):
            spans.setdefault(e["task"], {})[e["event"]] = e["t"]
    assert len(spans) == 6 and all(len(v) == 2 for v in spans.values()), spans
    ordered = sorted(spans.values(), key=lambda v: v["start"])
    for a, b in zip(ordered, ordered[1:]):
        assert b["start"] >= a["end"], "two Locked tasks overlapped: %r %r" % (a, b)
    st = run.statuses()
    assert list(st) == ["DONE"] and len(st["DONE"]) == 7
    rl = run.rpc("resource_list")
    return {"rcs": benign(rcs, ws), "statuses": st, "starts": sorted(starts(run).items()),
            "resources": [(r["name"], r["num_total"], r["num_used"]) for r in rl]}


def test_resource_capacity_one(pair_factory, tmp_path):
    run_both(pair_factory({"resources": {"lock": "1"}}), tmp_path, p_locks)


def test_resource_capacity_one_over_unix_socket(pair_factory, tmp_path):
    run_both(pair_factory({"resources": {"lock": "1"}}, unix=True), tmp_path, p_locks)


# ---------------------------------------------------------------- (4) batching

def _runner_free(st, runner):
    return {k: sorted("<runner>" if t == runner else t for t in v) for k, v in st.items()}


def p_batch(run):
    w = run.start("BatchRoot")

    def batch_visible():
        members = run.rpc("task_list", status="BATCH_RUNNING")
        running = run.rpc("task_list", status="RUNNING")
        return (members, running) if len(members) == 5 and len(running) == 1 else None

    members, running = run.poll(batch_visible, "BATCH_RUNNING members and a RUNNING runner")
    runner = list(running)[0]
    ds = sorted(running[runner]["params"]["d"].split(","))
    assert ds == list("abcde"), ds
    run.touch("release_batch")
    (rc,) = run.wait_workers([w])
    st = run.statuses()
    assert sorted(st) == ["DONE"] and len(st["DONE"]) == 7, st
    batch_starts = [e for e in run.events() if e["event"] == "start" and e["task"].startswith("Batchy_")]
    assert len(batch_starts) == 1
    return {"rc": rc, "members": sorted(members), "runner_d": ds, "runner_family": running[runner]["name"],
            "statuses": _runner_free(st, runner), "summary": w.summary()}


def test_batching(pair_factory, tmp_path):
    run_both(pair_factory(), tmp_path, p_batch)


# ---------------------------------------------------------------- (5) external task missing

def p_external(run):
    w = run.start("NeedsMissing")
    (rc,) = run.wait_workers([w])
    st = run.statuses()
    missing = run.rpc("task_list", status="PENDING", upstream_status="UPSTREAM_MISSING_INPUT")
    needs = run.task_ids("NeedsMissing")[0]
    assert needs in missing, missing
    assert all(v["workers"] == [] for k, v in missing.items() if k.startswith("Missing_"))
    return {"rc": rc, "statuses": st, "missing_input": sorted(missing), "summary": w.summary(),
            "starts": sorted(starts(run).items())}


def test_external_missing(pair_factory, tmp_path):
    (out, *_) = run_both(pair_factory(), tmp_path, p_external)
    assert out["rc"] == RETCODES["missing_data"]


# ---------------------------------------------------------------- (6) dynamic deps, message, progress

def p_dynamic(run):
    w = run.start("Dyn")
    run.poll(lambda: run.exists("dyn_ready"), "Dyn to reach its wait")
    dyn = run.task_ids("Dyn")[0]
    msg = run.server.rpc("get_task_status_message", {"task_id": dyn}, via="get")
    prog = run.server.rpc("get_task_progress_percentage", {"task_id": dyn}, via="get")
    running = sorted(run.rpc("task_list", status="RUNNING"))
    assert msg == {"taskId": dyn, "statusMessage": "waiting for go"} and prog["progressPercentage"] == 42
    run.touch("dyn_go")
    (rc,) = run.wait_workers([w])
    st = run.statuses()
    g = run.rpc("dep_graph", task_id=dyn)
    deps = sorted(g[dyn]["deps"])
    assert len(deps) == 3 and all(d.startswith("DynChild_") for d in deps)
    assert list(st) == ["DONE"] and len(st["DONE"]) == 4
    return {"rc": rc, "msg": msg, "prog": prog, "running": running, "statuses": st, "deps": deps,
            "starts": sorted(starts(run).items()), "summary": w.summary()}


def test_dynamic_deps_status_message(pair_factory, tmp_path):
    run_both(pair_factory(), tmp_path, p_dynamic)


# ---------------------------------------------------------------- (7) worker death

DEATH_CFG = {"scheduler": {"worker_disconnect_delay": "2", "retry_delay": "2"}}


def p_death(run):
    wa = run.start("Slow")
    run.poll(lambda: any(n.startswith("slow_started_") for n in os.listdir(run.dir)), "Slow to start")
    slow = run.task_ids("Slow")[0]
    assert run.status_of(slow) == "RUNNING"
    wa.kill()
    seen = []

    def back_to_pending():
        run.rpc("prune")
        st = run.status_of(slow)
        if not seen or seen[-1] != st:
            seen.append(st)
        return st == "PENDING"

    run.poll(back_to_pending, "the dead worker's task to be available again", interval=0.2)
    run.touch("slow_release")
    wb = run.start("Slow")
    (rc,) = run.wait_workers([wb])
    assert run.status_of(slow) == "DONE"
    ev = [e for e in run.events() if e["task"] == slow]
    assert [e["event"] for e in ev] == ["start", "start", "end"] and ev[0]["pid"] != ev[1]["pid"]
    return {"rc_killed": wa.proc.returncode, "rc": rc, "saw_failed": "FAILED" in seen, "events": [e["event"] for e in ev],
            "summary": wb.summary()}


def test_worker_death(pair_factory, tmp_path):
    (out, *_) = run_both(pair_factory(DEATH_CFG), tmp_path, p_death)
    assert out["rc_killed"] == -9 and out["saw_failed"]


# ---------------------------------------------------------------- (8) assistant

def p_assistant(run):
    wa = run.start("AssistRoot", workers=0)
    (rc_a,) = run.wait_workers([wa])
    st0 = run.statuses()
    wb = run.start("Noop", workers=2, assistant=True)
    (rc_b,) = run.wait_workers([wb])
    st = run.statuses()
    assert list(st) == ["DONE"] and len(st["DONE"]) == 6, st  # 5 + the assistant's Noop
    assistants = [w for w in run.rpc("worker_list") if w.get("assistant")]
    assert len(assistants) == 1
    return {"rc_a": rc_a, "rc_b": rc_b, "st0": st0, "statuses": st, "starts": sorted(starts(run).items()),
            "n_assistants": len(assistants)}


def test_assistant(pair_factory, tmp_path):
    run_both(pair_factory(), tmp_path, p_assistant)


# ---------------------------------------------------------------- (9) priorities, one slot

def p_priorities(run):
    w = run.start("PrioRoot")
    (rc,) = run.wait_workers([w])
    order = [int(re.search(r"_(\d+)_", e["task"]).group(1)) for e in run.events()
             if e["event"] == "start" and e["task"].startswith("Prio_")]
    assert order == [9, 7, 5, 3, 2, 1], order
    return {"rc": rc, "order": order, "statuses": run.statuses(), "summary": w.summary()}


def test_priorities(pair_factory, tmp_path):
    run_both(pair_factory(), tmp_path, p_priorities)


# ---------------------------------------------------------------- pause

def p_pause(run):
    run.rpc("pause")
    assert run.rpc("is_paused") == {"paused": True}
    w = run.start("PauseRoot", workers=2, cfg=KEEP_ALIVE)
    # the worker has scheduled its 4 tasks and asks for work in a loop; nothing may start
    run.poll(lambda: any(x.get("num_pending") == 4 for x in run.rpc("worker_list")), "tasks scheduled")
    first = run.rpc("worker_list")[0]["last_active"]
    run.poll(lambda: run.rpc("worker_list")[0]["last_active"] > first + 0.5, "the worker to keep asking")
    assert run.events() == [] and run.rpc("task_list", status="RUNNING") == {}
    st_paused = run.statuses()
    run.rpc("unpause")
    (rc,) = run.wait_workers([w])
    st = run.statuses()
    assert list(st) == ["DONE"] and len(st["DONE"]) == 4
    return {"rc": rc, "st_paused": st_paused, "statuses": st, "summary": w.summary()}


def test_pause_then_unpause(pair_factory, tmp_path):
    run_both(pair_factory(), tmp_path, p_pause)

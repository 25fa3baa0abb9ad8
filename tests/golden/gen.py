#!/usr/bin/env python3
"""Record golden vectors of luigid's scheduler for tests/golden_replay.rs.

Runs scripted scenarios -- lists of (method, kwargs, now) steps -- against
luigi.scheduler.Scheduler in-process, with time.time patched to the step's `now`,
and writes one JSON file per scenario next to this script:

    {"name": ..., "config": {<SchedulerConfig field>: value, ...},
     "steps": [{"method": m, "args": {...}, "now": t, "reply": <value>, "error": null | "error" | "unknown_method"}]}

"reply" is what luigid would put in {"response": ...}, after normalize() below (the replay
applies the same normalisation to our replies). A luigid 500 is recorded as "error": "error",
a 404 for an unknown method as "error": "unknown_method".

Determinism: the generator runs itself twice with different PYTHONHASHSEED values and keeps
only scenarios whose replies agree; it also refuses get_work calls where two candidate tasks
tie on (priority, creation time), because luigid then breaks the tie by set iteration order.
Hand-written scenarios must be deterministic (the generator fails loudly); randomized ones
that are not are skipped and the next seed is tried.

Usage: /tmp/venvtest/venv/bin/python tests/golden/gen.py   (needs luigi==3.8.x)
"""

import copy
import json
import os
import random
import subprocess
import sys
import tempfile
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
N_RANDOM = 14

# Configs, keyed by the Rust SchedulerConfig field names (the same as luigid's [scheduler] keys).
LUIGI_TEST_CONF = {
    "retry_delay": 100.0,
    "remove_delay": 1000.0,
    "worker_disconnect_delay": 10.0,
    "disable_persist": 10.0,
    "disable_window": 10.0,
    "retry_count": 3.0,
    "disable_hard_timeout": 3600.0,
    "stable_done_cooldown_secs": 0.0,
}


def normalize(v, key=None):
    """Remove what luigid itself leaves to chance: the order of its sets (`deps`,
    `running_tasks`) and the uuid4 message ids."""
    if isinstance(v, dict):
        return {k: normalize(x, k) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        items = [normalize(x) for x in v]
        if key in ("deps", "running_tasks"):
            items.sort(key=lambda x: json.dumps(x, sort_keys=True))
        return items
    if key == "message_id" and isinstance(v, str):
        return "<message_id>"
    return v


class Tie(Exception):
    pass


class Run:
    def __init__(self, name, config=None, t0=1000.0):
        from luigi.scheduler import Scheduler

        self.name = name
        self.config = dict(config or {})
        self.now = t0
        self.steps = []
        kwargs = {k: v for k, v in self.config.items() if k != "resources"}
        resources = dict(self.config.get("resources", []))
        self.sch = Scheduler(resources=resources or None, **kwargs)
        # Scheduler(resources={}) falls back to luigi.cfg; make sure it is really empty.
        if not resources:
            self.sch._resources = {}

    def at(self, t):
        self.now = float(t)

    def check_ties(self, args):
        """Refuse a get_work whose answer would depend on set iteration order."""
        from luigi.scheduler import PENDING, RUNNING

        st = self.sch._state
        ranks = {}
        for task in st.get_active_tasks_by_status(PENDING, RUNNING):
            if task.status == PENDING and not self.sch._schedulable(task):
                continue
            ranks.setdefault((task.priority, task.time), []).append(task.id)
        ties = [ids for ids in ranks.values() if len(ids) > 1]
        if ties:
            raise Tie("%s: get_work tie at step %d: %s" % (self.name, len(self.steps), ties))

    def __call__(self, method, dt=1.0, **args):
        """Advance the clock by dt, call method(**args), record and return the reply."""
        from luigi.scheduler import RPC_METHODS

        self.now += dt
        args = copy.deepcopy(args)
        step = {"method": method, "args": args, "now": self.now, "reply": None, "error": None}
        if method not in RPC_METHODS:
            step["error"] = "unknown_method"
            reply = None
        else:
            if method == "get_work":
                self.check_ties(args)
            with mock.patch("time.time", lambda: self.now):
                try:
                    reply = getattr(self.sch, method)(**copy.deepcopy(args))
                    step["reply"] = normalize(json.loads(json.dumps(reply)))
                except Exception:
                    step["error"] = "error"
                    reply = None
        self.steps.append(step)
        return reply

    def dump(self):
        return {"name": self.name, "config": self.config, "steps": self.steps}


SCENARIOS = []


def scenario(config=None):
    def deco(fn):
        SCENARIOS.append((fn.__name__, config if config is not None else LUIGI_TEST_CONF, fn))
        return fn

    return deco


W = "myworker"

# ---------------------------------------------------------------- add_task / get_work basics


@scenario()
def dep_chain(r):
    r("add_task", worker=W, task_id="B", deps=["A"])
    r("add_task", worker=W, task_id="A")
    r("get_work", worker=W)
    r("add_task", worker=W, task_id="A", status="DONE")
    r("get_work", worker=W)
    r("add_task", worker=W, task_id="B", status="DONE")
    r("get_work", worker=W)
    r("task_list", status="", upstream_status="")
    r("graph")


@scenario()
def failed_dep_and_retry(r):
    r("add_task", worker=W, task_id="B", deps=["A"])
    r("add_task", worker=W, task_id="A")
    r("get_work", worker=W)
    r("add_task", worker=W, task_id="A", status="FAILED", expl='"boom"')
    r("get_work", worker=W)
    r("task_list", status="PENDING", upstream_status="UPSTREAM_FAILED")
    r("fetch_error", task_id="A")
    r("ping", worker=W, dt=50)
    r("prune")
    r("get_work", worker=W)
    r("ping", worker=W, dt=5)
    r("ping", worker=W, dt=5)
    r("ping", worker=W, dt=5)
    r("ping", worker=W, dt=5)
    r("ping", worker=W, dt=5)
    r("ping", worker=W, dt=5)
    r("ping", worker=W, dt=5)
    r("ping", worker=W, dt=5)
    r("ping", worker=W, dt=5)
    r("ping", worker=W, dt=5)
    r("prune")
    r("get_work", worker=W)
    r("add_task", worker=W, task_id="A", status="DONE")
    r("get_work", worker=W)
    r("task_list", status="", upstream_status="")


@scenario()
def two_workers_share_dep(r):
    r("add_task", worker="X", task_id="A")
    r("add_task", worker="Y", task_id="A")
    r("add_task", worker="X", task_id="B", deps=["A"])
    r("add_task", worker="Y", task_id="C", deps=["A"])
    r("get_work", worker="X")
    r("get_work", worker="Y")
    r("add_task", worker="Y", task_id="A", status="UNKNOWN")
    r("task_list", status="RUNNING", upstream_status="")
    r("add_task", worker="X", task_id="A", status="DONE")
    r("get_work", worker="Y")
    r("get_work", worker="X")
    r("count_pending", worker="X")
    r("worker_list")


@scenario()
def resend_tasks(r):
    for t in "ABC":
        r("add_task", worker=W, task_id=t)
    r("get_work", worker=W)
    r("get_work", worker=W)
    r("get_work", worker=W, current_tasks=[])
    r("get_work", worker=W, current_tasks=["B"])
    r("get_work", worker=W, current_tasks=["A"])
    r("get_work", worker=W, current_tasks=["A", "B"])
    r("task_list", status="RUNNING", upstream_status="")


@scenario()
def disconnect_running(r):
    r("add_task", task_id="A", worker="X")
    r("add_task", task_id="A", worker="Y")
    r("get_work", worker="X")
    for _ in range(6):
        r("ping", worker="Y", dt=5)
        r("prune")
    r("task_list", status="", upstream_status="")
    r("worker_list")
    r("ping", worker="Y", dt=100)
    r("prune")
    r("get_work", worker="Y")


@scenario()
def timeout_then_done(r):
    r("add_task", task_id="A", worker="X")
    r("get_work", worker="X")
    r("add_task", task_id="A", worker="Y", dt=10000)
    for _ in range(5):
        r("ping", worker="Y", dt=400)
        r("prune")
    r("add_task", task_id="A", status="DONE", worker="Y")
    r("task_list", status="", upstream_status="")


# ---------------------------------------------------------------- batching


def start_batch(r, use_max=False, mark_running=True, resources=None):
    r("add_task_batcher", worker=W, task_family="A", batched_args=["a"])
    r("add_task", worker=W, task_id="A_1", family="A", params={"a": "1"}, batchable=True, resources=resources)
    r("add_task", worker=W, task_id="A_2", family="A", params={"a": "2"}, batchable=True, resources=resources)
    resp = r("get_work", worker=W)
    if mark_running and resp and resp.get("batch_id"):
        tid, params = ("A_2", {"a": "2"}) if use_max else ("A_1_2", {"a": "1,2"})
        r("add_task", worker=W, task_id=tid, task_family="A", params=params, batch_id=resp["batch_id"], status="RUNNING")
        return resp["batch_id"], tid
    return None, None


@scenario()
def batch_basic(r):
    r("add_task_batcher", worker=W, task_family="A", batched_args=["a"])
    for i in (1, 2, 3):
        r("add_task", worker=W, task_id="A_a_%d" % i, family="A", module="mod", params={"a": str(i)}, batchable=True)
    r("get_work", worker=W)
    r("task_list", status="BATCH_RUNNING", upstream_status="")
    r("count_pending", worker=W)
    r("get_work", worker=W)
    r("get_work", worker=W, current_tasks=[])


@scenario()
def batch_limited_and_nonbatchable(r):
    r("add_task_batcher", worker=W, task_family="A", batched_args=["a"], max_batch_size=2)
    r("add_task", worker=W, task_id="A_a_1", family="A", params={"a": "1"}, batchable=True, priority=1)
    r("add_task", worker=W, task_id="A_a_2", family="A", params={"a": "2"}, batchable=True)
    r("add_task", worker=W, task_id="A_a_3", family="A", params={"a": "3"}, batchable=True, priority=2)
    r("add_task", worker=W, task_id="A_a_4", family="A", params={"a": "4"}, batchable=False, priority=3)
    r("get_work", worker=W)
    r("get_work", worker=W)
    r("get_work", worker=W)
    r("task_list", status="", upstream_status="")


@scenario()
def batch_group_non_batch_params(r):
    r("add_task_batcher", worker=W, task_family="A", batched_args=["b"])
    for a in (1, 2):
        for b in (1, 2):
            for c in (1, 2):
                r("add_task", worker=W, task_id="A_%d_%d_%d" % (a, b, c), family="A", params={"a": str(a), "b": str(b), "c": str(c)}, batchable=True, priority=9 * a + 3 * c + b)
    for _ in range(5):
        r("get_work", worker=W)


@scenario()
def batch_not_ready_items(r):
    r("add_task_batcher", worker=W, task_family="A", batched_args=["a"])
    r("add_task", worker=W, task_id="A_a_1", family="A", params={"a": "1"}, batchable=True, deps=["NOT_DONE"])
    r("add_task", worker=W, task_id="A_a_2", family="A", params={"a": "2"}, batchable=True, deps=["DONE"])
    r("add_task", worker=W, task_id="A_a_3", family="A", params={"a": "3"}, batchable=True)
    r("add_task", worker=W, task_id="A_a_4", family="A", params={"a": "4"}, batchable=True, deps=["DONE"])
    r("add_task", worker=W, task_id="NOT_DONE", runnable=False)
    r("add_task", worker=W, task_id="DONE", status="DONE")
    r("get_work", worker=W)
    r("task_list", status="PENDING", upstream_status="")


@scenario()
def batch_runner_new_task_done(r):
    start_batch(r)
    r("task_list", status="", upstream_status="")
    r("set_task_status_message", task_id="A_1_2", status_message="half")
    r("set_task_progress_percentage", task_id="A_1_2", progress_percentage=50)
    r("get_task_status_message", task_id="A_1")
    r("get_task_progress_percentage", task_id="A_2")
    r("add_task", worker=W, task_id="A_1_2", tracking_url="http://t/", expl="e")
    r("task_list", status="", upstream_status="")
    r("add_task", worker=W, task_id="A_1_2", status="DONE")
    r("task_list", status="DONE", upstream_status="")


@scenario()
def batch_runner_max_fail(r):
    start_batch(r, use_max=True)
    r("task_list", status="", upstream_status="")
    r("add_task", worker=W, task_id="A_2", status="FAILED", expl="bad max failure")
    r("task_list", status="", upstream_status="")
    r("fetch_error", task_id="A_1")
    r("prune", dt=200)
    r("task_list", status="", upstream_status="")


@scenario()
def batch_runner_fail_removes_runner(r):
    start_batch(r)
    r("add_task", worker=W, task_id="A_1_2", status="FAILED", expl="bad failure")
    r("task_list", status="", upstream_status="")
    r("ping", worker=W)
    r("prune")
    r("task_list", status="", upstream_status="")


@scenario()
def batch_dead_worker(r):
    start_batch(r, mark_running=False)
    r("prune", dt=600)
    r("task_list", status="", upstream_status="")


@scenario()
def batch_decrease_resources(r):
    r("update_resources", x=3)
    start_batch(r, resources={"x": 3})
    r("decrease_running_task_resources", task_id="A_1_2", decrease_resources={"x": 1})
    r("get_running_task_resources", task_id="A_1")
    r("get_running_task_resources", task_id="A_1_2")
    r("resource_list")
    r("task_list", status="", upstream_status="")


@scenario()
def batch_orphan_reset_and_resend(r):
    start_batch(r, mark_running=False)
    r("get_work", worker=W, current_tasks=[])
    r("task_list", status="", upstream_status="")
    start_batch(r)
    r("get_work", worker=W, current_tasks=[])
    r("get_work", worker=W, current_tasks=["A_1_2"])
    r("add_task", worker=W, task_id="A_1", family="A", params={"a": "1"}, batchable=True, status="DISABLED")
    r("task_list", status="", upstream_status="")


@scenario()
def batch_stowaway_resources(r):
    r("add_task_batcher", worker=W, task_family="A", batched_args=["a"])
    r("add_task", worker=W, task_id="A1", resources={"r1": 1}, family="A", params={"a": "1"}, batchable=True, priority=1)
    r("add_task", worker=W, task_id="A2", resources={"r1": 2}, family="A", params={"a": "2"}, batchable=True)
    r("add_task", worker=W, task_id="A3", resources={"r2": 1}, family="A", params={"a": "3"}, batchable=True)
    r("add_task", worker=W, task_id="A4", resources={"r1": 1}, family="A", params={"a": "4"}, batchable=True)
    r("get_work", worker=W)
    r("resource_list")


@scenario()
def batch_assistant_different_resources(r):
    r("add_task_batcher", worker="assistant", task_family="A", batched_args=["a"], max_batch_size=2)
    for i in (1, 2, 3):
        r("add_task", worker=W, task_id="A%d" % i, resources={"a": 1}, family="A", params={"a": str(i)}, batchable=True, priority=i)
    res = r("get_work", worker="assistant", assistant=True)
    r("add_task", worker="assistant", task_id="A3", status="RUNNING", batch_id=res["batch_id"], resources={"b": 1})
    r("get_work", worker=W)
    r("task_list", status="", upstream_status="")


# ---------------------------------------------------------------- tracking url, times


@scenario()
def tracking_url_rules(r):
    r("add_task", task_id="A", worker="X", status="RUNNING", tracking_url="trackme")
    r("add_task", task_id="A", worker="Y", status="PENDING")
    r("task_list", status="RUNNING", upstream_status="")
    r("add_task", task_id="A", worker="X", status="RUNNING", tracking_url="stage_2")
    r("add_task", task_id="A", worker="X", status="DONE")
    r("task_list", status="DONE", upstream_status="")
    r("add_task", task_id="A", worker="Y", status="PENDING")
    r("task_list", status="PENDING", upstream_status="")
    r("add_task", task_id="B", worker="X", status="PENDING", tracking_url="t2")
    r("add_task", task_id="B", worker="Y", status="RUNNING")
    r("task_list", status="", upstream_status="")


@scenario()
def times_and_last_updated(r):
    r.at(100)
    r("add_task", worker=W, task_id="A", dt=0)
    r.at(200)
    r("add_task", worker=W, task_id="A", dt=0)
    r("get_work", worker=W)
    r("task_list", status="RUNNING", upstream_status="")
    r.at(300)
    r("add_task", worker=W, task_id="A", status="PENDING", dt=0)
    r("add_task", worker=W, task_id="A", status="FAILED")
    r("task_list", status="FAILED", upstream_status="")
    r.at(1000)
    r("prune", dt=0)
    r("task_list", status="", upstream_status="")
    r("add_task", worker=W, task_id="A", status="DISABLED", dt=0)
    r("add_task", worker=W, task_id="A", status="DISABLED", dt=100)
    r("task_list", status="", upstream_status="")


# ---------------------------------------------------------------- assistants, pruning


@scenario()
def assistant_runs_and_dies(r):
    r.at(0)
    r("add_task", worker="X", task_id="A")
    r("add_worker", worker="Y", info=[])
    r("get_work", worker="Y", assistant=True)
    r("task_list", status="RUNNING", upstream_status="")
    r("worker_list")
    r.at(50)
    r("ping", worker="X", dt=0)
    r("task_list", status="", upstream_status="")


@scenario()
def assistant_external_and_runnable(r):
    r.at(0)
    r("add_task", worker="X", task_id="A", runnable=False)
    r("add_task", worker="X", task_id="B", runnable=True)
    r("get_work", worker="Y", assistant=True)
    r("get_work", worker="Y", assistant=True)
    r("count_pending", worker="Y")


@scenario()
def prune_done_tasks_with_assistant(r):
    r.at(0)
    r("get_work", worker="HELPER", assistant=True, dt=0)
    for _ in range(4):
        r("add_task", worker=W, task_id="D", status="FAILED")
    r("add_task", worker=W, task_id="E", status="DISABLED")
    r("add_task", worker=W, task_id="A", status="DONE")
    r("add_task", worker=W, task_id="B", deps=["A"], status="DONE")
    r("add_task", worker=W, task_id="C", deps=["B"])
    r("task_list", status="DISABLED", upstream_status="")
    r.at(600)
    r("ping", worker="HELPER", dt=0)
    r("prune")
    r("task_list", status="", upstream_status="")
    r.at(2000)
    r("ping", worker="HELPER", dt=0)
    r("prune")
    r("task_list", status="", upstream_status="")
    r("worker_list")


@scenario(config={"retry_delay": 100000000000.0})
def assistant_nurtures_only_running(r):
    r.at(1)
    r("add_worker", worker="assistant", info=[["assistant", True]], dt=0)
    r("ping", worker="assistant", dt=0)
    r("add_task", worker="uploader", task_id="running", status="PENDING")
    r("get_work", worker="assistant", assistant=True)
    r.at(2)
    for st in ("done", "disabled", "pending", "failed", "unknown"):
        r("add_task", worker="uploader", task_id=st, status=st.upper(), dt=0)
    r.at(100000)
    r("ping", worker="assistant", dt=0)
    r("prune", dt=0)
    r("task_list", status="", upstream_status="")
    r.at(200000)
    r("ping", worker="assistant", dt=0)
    r("prune", dt=0)
    r("task_list", status="", upstream_status="")


@scenario()
def failed_task_of_assistant_retries(r):
    r.at(0)
    r("add_worker", worker="X", info=[["assistant", True]], dt=0)
    r("add_task", worker="X", task_id="A", status="FAILED", assistant=True)
    r("task_list", status="", upstream_status="")
    r.at(101)
    r("ping", worker="X", dt=0)
    r("task_list", status="", upstream_status="")


@scenario()
def remove_delay_and_worker_prune(r):
    r.at(0)
    r("add_worker", worker=W, info={"host": "h", "workers": 2}, dt=0)
    r("add_task", worker=W, task_id="A", deps=["B"])
    r("worker_list")
    r.at(50)
    r("prune", dt=0)
    r("worker_list")
    r("task_list", status="", upstream_status="")
    r.at(1049)
    r("prune", dt=0)
    r("task_list", status="", upstream_status="")
    r.at(1051)
    r("prune", dt=0)
    r("task_list", status="", upstream_status="")
    r("add_task", worker="Z", task_id="A")
    r("task_list", status="", upstream_status="")


# ---------------------------------------------------------------- count_pending


@scenario()
def count_pending_rules(r):
    r("add_task", worker=W, task_id="A", status="PENDING")
    r("add_task", worker=W, task_id="A", status="FAILED")
    r("add_task", worker=W, task_id="B", status="PENDING", deps=["A"])
    r("add_task", worker=W, task_id="C", status="DISABLED")
    r("add_task", worker=W, task_id="D", deps=["C"])
    r("add_task", worker=W, task_id="E")
    r("add_task", worker="other", task_id="E")
    r("add_task", worker=W, task_id="F", status="DONE")
    r("count_pending", worker=W)
    r("count_pending", worker="other")
    r("count_pending", worker="nobody")
    r("get_work", worker="other")
    r("count_pending", worker=W)
    r("disable_worker", worker=W)
    r("count_pending", worker=W)
    r("get_work", worker=W)


@scenario()
def running_tasks_info(r):
    r("add_worker", worker="X", info=[["host", "hx"], ["workers", 3]])
    r("add_task", worker="X", task_id="A")
    r("add_task", worker="Y", task_id="A")
    r("get_work", worker="X", host="hx")
    r("get_work", worker="Y")
    r("count_pending", worker="Y")


# ---------------------------------------------------------------- resources


@scenario()
def resources_basic(r):
    r("add_task", worker="X", task_id="A", resources={"R1": 1})
    r("add_task", worker="X", task_id="B", resources={"R2": 2})
    r("get_work", worker="X")
    r("get_work", worker="X")
    r("update_resources", R2=2, R3=5)
    r("get_work", worker="X")
    r("resource_list")
    r("update_resource", resource="R1", amount=0)
    r("update_resource", resource="R1", amount=-1)
    r("update_resource", resource="R1", amount=1.5)
    r("update_resource", resource="R1", amount="1")
    r("update_resource", resource="R1", amount=None)
    r("update_resource", resource="R4", amount=7)
    r("resource_list")


@scenario(config=dict(LUIGI_TEST_CONF, resources=[["R", 1]]))
def resources_greedy_reservation(r):
    r("get_work", worker="X")
    r("add_task", worker="X", task_id="A", priority=10)
    r("add_task", worker="X", task_id="B", resources={"R": 1}, priority=5)
    r("add_task", worker="Y", task_id="C", resources={"R": 1}, priority=1)
    r("add_worker", worker="X", info=[["workers", 2]])
    r("add_worker", worker="Y", info=[])
    r("get_work", worker="Y")
    r("add_task", worker="Y", task_id="D", priority=0)
    r("get_work", worker="Y")
    r("get_work", worker="X")
    r("get_work", worker="X")
    r("resource_list")
    r("get_work", worker="Y", dt=30)
    r("add_task", worker="X", task_id="B", status="DONE")
    r("get_work", worker="Y")


@scenario()
def resources_multiple_lock(r):
    r("get_work", worker="X")
    r("update_resources", r1=1, r2=1)
    r("add_task", worker="X", task_id="A", resources={"r1": 1, "r2": 1}, priority=10)
    r("add_task", worker=W, task_id="B", resources={"r2": 1})
    r("add_task", worker=W, task_id="C", resources={"r1": 1})
    r("get_work", worker=W)
    r("add_task", worker=W, task_id="Z", resources={"r1": 2}, priority=20)
    r("get_work", worker=W, dt=30)
    r("get_work", worker=W)


@scenario()
def resources_running_change(r):
    r("add_task", worker=W, task_id="A1", resources={"a": 1}, priority=10)
    r("add_task", worker=W, task_id="A2", resources={"a": 1}, priority=1)
    r("get_work", worker=W)
    r("get_work", worker=W)
    r("add_task", worker="other", task_id="A1", resources={"b": 1}, priority=1)
    r("get_work", worker=W)
    r("resource_list")
    r("task_list", status="RUNNING", upstream_status="")
    r("get_running_task_resources", task_id="A1")
    r("decrease_running_task_resources", task_id="A1", decrease_resources={"a": 5, "zz": 1})
    r("get_running_task_resources", task_id="A1")
    r("get_running_task_resources", task_id="nope")


# ---------------------------------------------------------------- priorities


@scenario()
def priorities_and_propagation(r):
    r("add_task", worker=W, task_id="A", priority=10, deps=["B"])
    r("add_task", worker=W, task_id="B", priority=5, deps=["C"])
    r("add_task", worker=W, task_id="C", priority=1)
    r("add_task", worker=W, task_id="D", priority=6)
    r("add_task", worker=W, task_id="E", priority=-20)
    r("add_task", worker=W, task_id="F")
    r("add_task", worker=W, task_id="D", priority=3)
    r("task_list", status="", upstream_status="")
    for t in ("C", "B", "A", "D", "F", "E"):
        r("get_work", worker=W)
        r("add_task", worker=W, task_id=t, status="DONE")
    r("get_work", worker=W)


@scenario()
def priority_after_prune(r):
    r.at(0)
    r("add_task", task_id="A", worker="X", dt=0)
    r.at(50)
    r("prune", dt=0)
    r("add_task", task_id="B", deps=["A"], worker="X", dt=0)
    r.at(2000)
    r("prune", dt=0)
    r("task_list", status="", upstream_status="")
    r("add_task", worker=W, task_id="C", deps=["B"], priority=100)
    r("add_task", worker=W, task_id="B", deps=["A"])
    r("add_task", worker=W, task_id="A")
    r("add_task", worker=W, task_id="D", priority=10)
    r("task_list", status="", upstream_status="")
    for t in "ABCD":
        r("get_work", worker=W)
        r("add_task", worker=W, task_id=t, status="DONE")


# ---------------------------------------------------------------- failures, disabling


@scenario()
def disable_and_reenable(r):
    r("add_task", worker=W, task_id="A")
    for _ in range(3):
        r("add_task", worker=W, task_id="A", status="FAILED")
    r("task_list", status="DISABLED", upstream_status="")
    r("add_task", worker=W, task_id="A")
    r("get_work", worker=W)
    r("re_enable_task", task_id="A")
    r("re_enable_task", task_id="A")
    r("add_task", worker=W, task_id="A")
    r("get_work", worker=W)
    r("add_task", worker=W, task_id="A", status="FAILED")
    r("task_list", status="", upstream_status="")
    r("add_task", worker=W, task_id="A")
    r("get_work", worker=W)
    r("add_task", worker=W, task_id="A", status="FAILED")
    r("add_task", worker=W, task_id="A", status="FAILED")
    r("task_list", status="", upstream_status="")
    r("add_task", worker=W, task_id="A", status="DONE")
    r("task_list", status="", upstream_status="")


@scenario(config={"retry_count": 2.0, "disable_persist": 100.0})
def auto_reenable(r):
    r.at(0)
    r("add_task", worker=W, task_id="A", status="FAILED", dt=0)
    r("add_task", worker=W, task_id="A", status="FAILED", dt=0)
    r("add_task", worker=W, task_id="M", status="DISABLED", dt=0)
    r("add_task", worker=W, task_id="N", status="FAILED", dt=0)
    r("add_task", worker=W, task_id="N", status="FAILED", dt=0)
    r("add_task", worker=W, task_id="N", status="DISABLED", dt=0)
    r("add_task", worker=W, task_id="A", status="PENDING", dt=1)
    r("task_list", status="", upstream_status="")
    r.at(99)
    r("task_list", status="", upstream_status="", dt=0)
    r.at(101)
    r("task_list", status="", upstream_status="", dt=0)


@scenario(config={"retry_delay": 5.0, "disable_hard_timeout": 100.0})
def disable_hard_timeout(r):
    r.at(1)
    r("add_task", worker=W, task_id="A", dt=0)
    r("add_task", worker=W, task_id="B", deps=["A"])
    r("get_work", worker=W)
    r("add_task", worker=W, task_id="A", status="FAILED")
    r.at(10)
    r("prune", dt=0)
    r("get_work", worker=W)
    r("add_task", worker=W, task_id="A", status="DONE")
    r.at(150)
    r("add_task", worker=W, task_id="A", status="FAILED", dt=0)
    r("task_list", status="", upstream_status="")


@scenario(config={"retry_count": 3.0, "disable_window": 10.0, "retry_delay": 1.0})
def disable_window_and_retry_policy(r):
    r.at(0)
    r("add_task", worker=W, task_id="A", dt=0)
    r("add_task", worker=W, task_id="A", status="FAILED", dt=0)
    r("add_task", worker=W, task_id="A", status="FAILED", dt=6)
    r("add_task", worker=W, task_id="A", status="FAILED", dt=6)
    r("task_list", status="", upstream_status="")
    r("add_task", worker=W, task_id="B", retry_policy_dict={"retry_count": 1})
    r("add_task", worker=W, task_id="B", status="FAILED")
    r("add_task", worker=W, task_id="C", status="FAILED", retry_policy_dict={"retry_count": 1})
    r("add_task", worker=W, task_id="D", retry_policy_dict={"retry_count": None, "disable_window": None, "disable_hard_timeout": 5})
    r("add_task", worker=W, task_id="D", status="FAILED", dt=10)
    r("add_task", worker=W, task_id="D", status="FAILED", dt=10)
    r("add_task", worker=W, task_id="E", retry_policy_dict={"bogus": 1})
    r("task_list", status="", upstream_status="")


@scenario()
def forgive_and_mark_done(r):
    r.at(0)
    r("add_task", worker=W, task_id="A", dt=0)
    r("get_work", worker=W)
    r("add_task", worker=W, task_id="A", status="FAILED")
    r("get_work", worker=W)
    r("forgive_failures", task_id="A")
    r("forgive_failures", task_id="A")
    r("forgive_failures", task_id="nope")
    r("forgive_failures")
    r("get_work", worker=W)
    r("mark_as_done", task_id="A")
    r("mark_as_done", task_id="nope")
    r("add_task", worker=W, task_id="A", status="FAILED")
    r("task_list", status="", upstream_status="")
    r("add_task", worker=W, task_id="P")
    r("mark_as_done", task_id="P")
    r("add_task", worker=W, task_id="Q", status="DISABLED")
    r("mark_as_done", task_id="Q")
    r("task_list", status="", upstream_status="")


@scenario(config=dict(LUIGI_TEST_CONF, retry_delay=-1.0))
def negative_retry_delay(r):
    r("add_task", worker=W, task_id="A", status="FAILED")
    r("ping", worker=W, dt=5000)
    r("prune")
    r("task_list", status="", upstream_status="")


@scenario(config=dict(LUIGI_TEST_CONF, retry_delay=0.0))
def zero_retry_delay(r):
    r("add_task", worker=W, task_id="A", status="FAILED")
    r("prune", dt=0.5)
    r("task_list", status="", upstream_status="")


# ---------------------------------------------------------------- disable_worker, pause


@scenario()
def disabled_worker_rules(r):
    r("add_task", worker=W, task_id="A")
    r("get_work", worker=W)
    r("add_task", worker=W, task_id="B")
    r("disable_worker", worker=W)
    r("task_list", status="", upstream_status="")
    r("worker_list")
    r("add_task", worker=W, task_id="C")
    r("add_task", worker=W, task_id="B", status="DONE")
    r("add_task", worker=W, task_id="A", status="PENDING", new_deps=["X1"])
    r("task_list", status="", upstream_status="")
    r("get_work", worker=W)
    r("get_work", worker="helper", assistant=True)
    r("add_task", worker="third", task_id="C")
    r("get_work", worker="helper", assistant=True)


@scenario()
def pause_rules(r):
    r("add_task", worker=W, task_id="A")
    r("add_task", worker=W, task_id="B")
    r("get_work", worker=W)
    r("is_paused")
    r("is_pause_enabled")
    r("pause")
    r("is_paused")
    r("get_work", worker=W)
    r("get_work", worker=W, current_tasks=[])
    r("unpause")
    r("get_work", worker=W)


@scenario(config={"pause_enabled": False, "send_messages": False})
def pause_and_messages_disabled(r):
    r("pause")
    r("is_paused")
    r("is_pause_enabled")
    r("add_task", worker=W, task_id="A", accepts_messages=True)
    r("get_work", worker=W)
    r("task_list", status="", upstream_status="")
    r("send_scheduler_message", worker=W, task="A", content="hi")
    r("ping", worker=W)


# ---------------------------------------------------------------- task_list, search, graphs


@scenario(config=dict(LUIGI_TEST_CONF, max_shown_tasks=3))
def task_list_limits(r):
    for c in "ABCD":
        r("add_task", worker=W, task_id=c, status="DONE", family="Test", params={"p": c})
    for c in "EFG":
        r("add_task", worker=W, task_id=c, family="Test", params={"p": c})
    r("task_list", status="PENDING", upstream_status="")
    r("task_list", status="DONE", upstream_status="")
    r("task_list", status="DONE", upstream_status="", limit=False)
    r("task_list", status="DONE", upstream_status="UPSTREAM_FAILED")
    r("task_list", status="PENDING", upstream_status="", max_shown_tasks=2)
    r("task_list", status="DONE", upstream_status="", max_shown_tasks=4)
    r("task_list", status="", upstream_status="")
    r("task_list", status="", upstream_status="", search="test")
    r("task_list", status="", upstream_status="", search="p=A")
    r("task_list", status="NOSUCH", upstream_status="")
    r("task_list")


@scenario()
def task_list_search(r):
    r("add_task", worker=W, task_id="t1", family="MySpecialTask", params={})
    r("add_task", worker=W, task_id="t2", family="OtherSpecialTask", params={"day": "2016-02-01"})
    r("add_task", worker=W, task_id="t3", family="ClassA", params={"day": "2016-02-01", "num": "5"})
    r("add_task", worker=W, task_id="t4", family="ClassA", params={"hour": "2016-02-01T12", "secret": "s"}, param_visibilities={"secret": 1})
    for term in ("Special", "My", "other", "day", "T12", "classa 2016-02-01 num", "t1", "secret", "", "num=5"):
        r("task_list", status="PENDING", upstream_status="", search=term)
    r("task_search", task_str="t")
    r("task_search", task_str="T")
    r("task_search", task_str="")
    r("task_search", task_str=None)


@scenario()
def upstream_status_filters(r):
    r("add_task", worker=W, task_id="F", status="FAILED")
    r("add_task", worker=W, task_id="D", status="DISABLED")
    r("add_task", worker=W, task_id="R")
    r("get_work", worker=W)
    r("add_task", worker=W, task_id="P1", deps=["F"])
    r("add_task", worker=W, task_id="P2", deps=["D"])
    r("add_task", worker=W, task_id="P3", deps=["R"])
    r("add_task", worker=W, task_id="P4", deps=["P1"])
    r("add_task", worker=W, task_id="P5")
    r("add_task", worker=W, task_id="DONE1", status="DONE")
    r("add_task", worker=W, task_id="P6", deps=["DONE1"])
    for up in ("UPSTREAM_FAILED", "UPSTREAM_DISABLED", "UPSTREAM_RUNNING", "UPSTREAM_MISSING_INPUT", ""):
        r("task_list", status="PENDING", upstream_status=up)
    r("count_pending", worker=W)


@scenario(config=dict(LUIGI_TEST_CONF, max_graph_nodes=3))
def graphs_truncated(r):
    r("add_task", worker=W, task_id="A", family="A", params={"x": "1"}, deps=["B", "C"])
    r("add_task", worker=W, task_id="B", family="B", deps=["D"])
    r("add_task", worker=W, task_id="C", family="C", status="DONE")
    r("add_task", worker=W, task_id="D", family="D", deps=["E"])
    r("dep_graph", task_id="A")
    r("dep_graph", task_id="B")
    r("inverse_dep_graph", task_id="D")
    r("graph")


@scenario()
def graphs(r):
    r("add_task", worker=W, task_id="Top_1", family="Top", params={"x": "1", "h": "2"}, param_visibilities={"h": 1}, deps=["Mid_1", "Done_1"])
    r("add_task", worker=W, task_id="Mid_1", family="Mid", deps=["Leaf(a=1)"])
    r("add_task", worker=W, task_id="Done_1", family="Done", status="DONE")
    r("add_task", worker=W, task_id="Other", family="", deps=["Mid_1"])
    r("dep_graph", task_id="Top_1")
    r("dep_graph", task_id="Top_1", include_done=False)
    r("dep_graph", task_id="Done_1", include_done=False)
    r("dep_graph", task_id="nope")
    r("inverse_dep_graph", task_id="Leaf(a=1)")
    r("inverse_dep_graph", task_id="Mid_1", include_done=False)
    r("inverse_dep_graph", task_id="nope")
    r("graph")
    r("fetch_error", task_id="Top_1")
    r("fetch_error", task_id="nope")


# ---------------------------------------------------------------- workers, messages, misc


@scenario()
def worker_list_info(r):
    r("add_worker", worker="W1", info=[["salt", "s"], ["workers", 2], ["host", "h1"], ["first_task", "T_1"]])
    r("add_task", worker="W1", task_id="T_1", family="T", params={"a": "1"})
    r("add_worker", worker="W2", info={"first_task": None, "username": "u"})
    r("add_worker", worker="W3", info={"first_task": "missing_task"})
    r("add_task", worker="W2", task_id="T_1", family="T")
    r("add_task", worker="W2", task_id="U")
    r("get_work", worker="W1")
    r("worker_list")
    r("worker_list", include_running=False)
    r("add_worker", worker="W1", info={"workers": 4})
    r("worker_list")
    r("set_worker_processes", worker="W1", n=3)
    r("worker_list")
    r("ping", worker="W1")
    r("ping", worker="W1")


@scenario()
def scheduler_messages(r):
    r("add_task", worker=W, task_id="A", accepts_messages=True)
    r("get_work", worker=W)
    r("task_list", status="RUNNING", upstream_status="")
    r("send_scheduler_message", worker=W, task="A", content="hello")
    r("send_scheduler_message", worker="ghost", task="A", content="x")
    r("worker_list")
    r("ping", worker=W)
    r("ping", worker=W)
    r("add_scheduler_message_response", task_id="A", message_id="m1", response="yes")
    r("add_scheduler_message_response", task_id="nope", message_id="m1", response="yes")
    r("get_scheduler_message_response", task_id="A", message_id="m1")
    r("get_scheduler_message_response", task_id="A", message_id="m1")
    r("get_scheduler_message_response", task_id="nope", message_id="m1")
    r("add_task", worker=W, task_id="A", tracking_url="u")
    r("task_list", status="RUNNING", upstream_status="")


@scenario()
def status_message_progress(r):
    r("add_task", worker=W, task_id="A")
    r("set_task_status_message", task_id="A", status_message="working")
    r("set_task_progress_percentage", task_id="A", progress_percentage=42)
    r("get_task_status_message", task_id="A")
    r("get_task_progress_percentage", task_id="A")
    r("get_task_status_message", task_id="nope")
    r("get_task_progress_percentage", task_id="nope")
    r("set_task_status_message", task_id="nope", status_message="x")
    r("report_task_statistics", task_id="A", statistics={"a": 1})
    r("task_list", status="", upstream_status="")


@scenario()
def misc_and_errors(r):
    r("has_task_history")
    r("announce_scheduling_failure", task_name="T(a=1)", family="T", params={"a": "1"}, expl="e", owners=["o"], worker=W)
    r("update_metrics_task_started", task="A")
    r("add_task", task_id="A")
    r("add_task", task_id="A", worker=None)
    r("no_such_method")
    r("get_work")
    r("ping")
    r("fetch_error")
    r("task_search")
    r("add_task_batcher", worker=W, task_family="A")
    r("update_resource", resource="x")
    r("dep_graph")
    r("send_scheduler_message", worker=W, task="A")
    r("add_task", worker=W, task_id="A", unexpected_key=1, task_family="ignored")
    r("task_list", status="", upstream_status="", some_extra=1)
    r("worker_list", extra=2)
    r("disable_worker")
    r("set_worker_processes", worker=W)
    r("add_worker", worker=W)
    r("mark_as_done")
    r("get_task_status_message")
    r("task_list", status="", upstream_status="")


@scenario(config=dict(LUIGI_TEST_CONF, stable_done_cooldown_secs=10.0))
def done_cooldown(r):
    r.at(0)
    r("add_task", worker="X", task_id="A", dt=0)
    r("get_work", worker="X")
    r("add_task", worker="X", task_id="A", status="DONE")
    r("add_task", worker="Y", task_id="A", status="PENDING", priority=5, deps=["Z"], dt=5)
    r("task_list", status="", upstream_status="")
    r("add_task", worker="Y", task_id="A", status="PENDING", dt=6)
    r("task_list", status="", upstream_status="")


@scenario()
def add_task_fields(r):
    r("add_task", worker=W, task_id="A", family="", module=None, params={})
    r("add_task", worker=W, task_id="A", family="Fam", module="m1", params={"p": "1", "h": "x", "v": "y"}, param_visibilities={"h": 1, "v": 2})
    r("add_task", worker=W, task_id="A", family="Other", module="m2", params={"p": "2"})
    r("task_list", status="", upstream_status="")
    r("get_work", worker=W)
    r("fetch_error", task_id="A")
    r("add_task", worker=W, task_id="B", status="SUSPENDED")
    r("add_task", worker=W, task_id="C", status="UNKNOWN")
    r("add_task", worker=W, task_id="D", runnable=False)
    r("add_task", worker=W, task_id="E", status="FAILED", runnable=True)
    r("add_task", worker=W, task_id="F", params={"n": 1, "l": [1, 2], "d": {"k": "v"}, "b": True, "z": None}, family="F")
    r("task_list", status="", upstream_status="")
    r("count_pending", worker=W)


@scenario()
def deps_replace_and_new_deps(r):
    r("add_task", task_id="A", worker="X", runnable=False)
    r("add_task", task_id="B", deps=["A"], worker="X")
    r("get_work", worker="X")
    r("add_task", task_id="B", deps=["C"], worker="Y")
    r("add_task", task_id="C", worker="Y", status="DONE")
    r("get_work", worker="Y")
    r("add_task", task_id="B", worker="Y", status="PENDING", new_deps=["N1", "N2"])
    r("dep_graph", task_id="B")
    r("task_list", status="", upstream_status="")
    r("add_task", task_id="B", worker="Y", deps=None, new_deps=["N3"])
    r("dep_graph", task_id="B")


@scenario()
def running_elsewhere(r):
    r("add_task", worker="X", task_id="A", resources={"r": 1})
    r("get_work", worker="X")
    r("add_task", worker="Y", task_id="A", status="PENDING", expl="y-expl", priority=3)
    r("add_task", worker="Y", task_id="A", status="FAILED")
    r("add_task", worker="Y", task_id="A", status="DONE")
    r("add_task", worker="Y", task_id="A", status="DISABLED")
    r("task_list", status="", upstream_status="")
    r("add_task", worker="X", task_id="A", status="DISABLED")
    r("add_task", worker="X", task_id="A", status="RUNNING", tracking_url="t")
    r("add_task", worker="X", task_id="A", status="DONE")
    r("task_list", status="", upstream_status="")
    r("fetch_error", task_id="A")


@scenario(config=dict(LUIGI_TEST_CONF, prune_on_get_work=True))
def prune_on_get_work(r):
    r.at(0)
    r("add_task", worker="X", task_id="A", dt=0)
    r("get_work", worker="X")
    r("add_task", worker="Y", task_id="A", dt=100)
    r("get_work", worker="Y", dt=1)
    r("task_list", status="", upstream_status="")


@scenario()
def update_resources_and_list(r):
    r("resource_list")
    r("update_resources", a=2, b=0)
    r("update_resource", resource="c", amount=True)
    r("add_task", worker=W, task_id="A", resources={"a": 1, "b": 1})
    r("add_task", worker=W, task_id="B", resources={"a": 2})
    r("add_task", worker=W, task_id="C", resources={"c": 1})
    r("get_work", worker=W)
    r("get_work", worker=W)
    r("resource_list")


# ---------------------------------------------------------------- randomized


def random_scenario(seed):
    def run(r):
        rng = random.Random(seed)
        workers = ["w%d" % i for i in range(rng.randint(1, 3))]
        ids = ["T%d" % i for i in range(rng.randint(3, 8))]
        res = ["ra", "rb"]
        if rng.random() < 0.5:
            r("update_resources", **{x: rng.randint(1, 2) for x in res})
        for w in workers:
            if rng.random() < 0.4:
                r("add_worker", worker=w, info=[["workers", rng.randint(1, 2)]])
        for _ in range(rng.randint(25, 45)):
            w = rng.choice(workers)
            roll = rng.random()
            dt = rng.choice([0.5, 1.0, 1.0, 2.0, 7.0, 30.0])
            if roll < 0.35:
                t = rng.choice(ids)
                kw = dict(worker=w, task_id=t, family="F", params={"n": t})
                if rng.random() < 0.4:
                    kw["deps"] = [rng.choice(ids)]
                if rng.random() < 0.3:
                    kw["priority"] = rng.randint(0, 3)
                if rng.random() < 0.2:
                    kw["resources"] = {rng.choice(res): 1}
                if rng.random() < 0.15:
                    kw["runnable"] = False
                if rng.random() < 0.3:
                    kw["status"] = rng.choice(["PENDING", "DONE", "FAILED", "DISABLED", "RUNNING"])
                r("add_task", dt=dt, **kw)
            elif roll < 0.6:
                kw = dict(worker=w)
                if rng.random() < 0.2:
                    kw["current_tasks"] = []
                if rng.random() < 0.1:
                    kw["assistant"] = True
                rep = r("get_work", dt=dt, **kw)
                if rep and rep.get("task_id") and rng.random() < 0.7:
                    st = rng.choice(["DONE", "DONE", "FAILED"])
                    r("add_task", dt=rng.choice([1.0, 3.0]), worker=w, task_id=rep["task_id"], status=st, expl='"x"')
            elif roll < 0.7:
                r("ping", worker=w, dt=dt)
            elif roll < 0.78:
                r("prune", dt=dt)
            elif roll < 0.86:
                r("task_list", status=rng.choice(["", "PENDING", "DONE", "FAILED", "DISABLED", "RUNNING"]), upstream_status="", dt=dt)
            elif roll < 0.9:
                r("count_pending", worker=w, dt=dt)
            elif roll < 0.93:
                r("worker_list", dt=dt)
            elif roll < 0.96:
                r("re_enable_task", task_id=rng.choice(ids), dt=dt)
            elif roll < 0.98:
                r("resource_list", dt=dt)
            else:
                r("graph", dt=dt)
        r("task_list", status="", upstream_status="")
        r("worker_list")

    return run


RANDOM_CONFIGS = [
    LUIGI_TEST_CONF,
    dict(LUIGI_TEST_CONF, retry_delay=5.0, worker_disconnect_delay=40.0, remove_delay=60.0),
    {"retry_delay": 3.0, "retry_count": 2.0, "disable_persist": 30.0, "stable_done_cooldown_secs": 2.0},
]


def run_one(name, config, fn):
    r = Run(name, config)
    fn(r)
    return r.dump()


def child(out_dir):
    """Run every scenario once; write name -> dump (or the failure) to out_dir."""
    import luigi.notifications

    luigi.notifications.DEBUG = True
    results = {}
    for name, config, fn in SCENARIOS:
        try:
            results[name] = run_one(name, config, fn)
        except Tie as e:
            results[name] = {"tie": str(e)}
    for seed in range(N_RANDOM * 4):
        name = "random_%02d" % seed
        try:
            results[name] = run_one(name, RANDOM_CONFIGS[seed % len(RANDOM_CONFIGS)], random_scenario(seed))
        except Tie as e:
            results[name] = {"tie": str(e)}
    with open(os.path.join(out_dir, "all.json"), "w") as f:
        json.dump(results, f)


def main():
    if os.environ.get("GOLDEN_CHILD"):
        child(os.environ["GOLDEN_CHILD"])
        return
    runs = []
    for hashseed in ("1", "2", "3"):
        d = tempfile.mkdtemp()
        cfg = os.path.join(d, "empty.cfg")
        open(cfg, "w").close()  # no luigi.cfg from the environment may leak in
        env = dict(os.environ, GOLDEN_CHILD=d, PYTHONHASHSEED=hashseed, LUIGI_CONFIG_PATH=cfg)
        subprocess.check_call([sys.executable, os.path.abspath(__file__)], env=env, cwd=d)
        with open(os.path.join(d, "all.json")) as f:
            runs.append(json.load(f))
    for old in os.listdir(HERE):
        if old.endswith(".json"):
            os.remove(os.path.join(HERE, old))
    failed = False
    kept_random = 0
    for name in runs[0]:
        dumps = [run[name] for run in runs]
        bad = None
        if "tie" in dumps[0]:
            bad = dumps[0]["tie"]
        elif any(d != dumps[0] for d in dumps[1:]):
            bad = "replies differ between hash seeds"
        if name.startswith("random_"):
            if bad or kept_random >= N_RANDOM:
                continue
            kept_random += 1
        elif bad:
            print("NONDETERMINISTIC scenario %s: %s" % (name, bad), file=sys.stderr)
            failed = True
            continue
        with open(os.path.join(HERE, name + ".json"), "w") as f:
            json.dump(dumps[0], f, indent=None, separators=(",", ":"))
            f.write("\n")
    print("scenarios written: %d (random: %d)" % (len([n for n in os.listdir(HERE) if n.endswith(".json")]), kept_random))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Differential fuzzing of our scheduler against luigi's, on wider random scenarios.

Writes N scenarios in gen.py's format to OUT_DIR (not committed; tests/golden holds the
curated set). Replay them with

    GOLDEN_DIR=OUT_DIR cargo test --test golden_replay golden_vectors_replay

Each scenario is run under four PYTHONHASHSEED values and kept only when the replies agree
and no get_work depends on a tie (gen.py's rules). A failing seed can be rerun alone with
FUZZ_SEEDS=seed.

Usage: /tmp/venvtest/venv/bin/python tests/golden/fuzz.py OUT_DIR [N] [FIRST_SEED]
"""

import json
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gen  # noqa: E402

CONFIGS = [
    gen.LUIGI_TEST_CONF,
    dict(gen.LUIGI_TEST_CONF, retry_delay=5.0, worker_disconnect_delay=40.0, remove_delay=60.0),
    {"retry_delay": 3.0, "retry_count": 2.0, "disable_persist": 30.0, "stable_done_cooldown_secs": 2.0},
    dict(gen.LUIGI_TEST_CONF, max_shown_tasks=4, max_graph_nodes=3, prune_on_get_work=True),
    {"retry_delay": 2.0, "disable_hard_timeout": 20.0, "retry_count": 50.0, "send_messages": False,
     "pause_enabled": False, "resources": [["ra", 1]]},
    dict(gen.LUIGI_TEST_CONF, batch_emails=True, retry_count=2.0, remove_delay=30.0),
]


def ghost_check(run):
    """Refuse states where a worker still holds a task object that left the task table.

    luigid keeps such "ghost" tasks in Worker.tasks after pruning them; later count_pending
    counts them and get_work may even pick one and fail. We answer from live state instead,
    so those scenarios say nothing about our scheduler."""
    st = run.sch._state
    for w in st.get_active_workers():
        for t in w.tasks:
            if st.get_task(t.id) is not t:
                raise gen.Tie("%s: ghost task %s in worker %s" % (run.name, t.id, w.id))


def wide_scenario(seed):
    def run(rr):
        def r(method, dt=1.0, **kwargs):
            if method == "add_task":
                # As a real worker does: owners always, an explanation with every failure
                # (luigid's failure e-mails need both).
                kwargs.setdefault("owners", [])
                if kwargs.get("status") == "FAILED":
                    kwargs.setdefault("expl", '"f"')
            reply = rr(method, dt=dt, **kwargs)
            ghost_check(rr)
            return reply

        rng = random.Random(seed)
        long_run = seed % 3 == 0  # every third scenario: more workers, more steps
        workers = ["w%d" % i for i in range(rng.randint(1, 5 if long_run else 3))]
        ids = ["T%d" % i for i in range(rng.randint(3, 7))]
        bids = ["B%d" % i for i in range(rng.randint(0, 4))]
        res = ["ra", "rb"]
        running = {}  # worker -> list of task ids it was handed
        if rng.random() < 0.5:
            r("update_resources", **{x: rng.randint(1, 2) for x in res})
        for w in workers:
            if rng.random() < 0.4:
                r("add_worker", worker=w, info=[["workers", rng.randint(1, 2)]])
            if rng.random() < 0.15:
                r("add_worker", worker=w, info={"assistant": True, "first_task": rng.choice(ids)})
            if bids and rng.random() < 0.5:
                r("add_task_batcher", worker=w, task_family="B", batched_args=["n"],
                  max_batch_size=rng.choice([2, 3, 100]))
        for _ in range(rng.randint(80, 150) if long_run else rng.randint(30, 60)):
            w = rng.choice(workers)
            roll = rng.random()
            dt = rng.choice([0.5, 1.0, 1.0, 2.0, 7.0, 30.0, 90.0])
            if roll < 0.30:
                if bids and rng.random() < 0.3:
                    t = rng.choice(bids)
                    kw = dict(worker=w, task_id=t, family="B", params={"n": t[1:], "k": "x"}, batchable=True)
                else:
                    t = rng.choice(ids)
                    kw = dict(worker=w, task_id=t, family="F", params={"n": t})
                # Dependencies only point "down" the id list: real task graphs have no cycles
                # (and luigid's upstream-status walk gives order-dependent answers on cycles).
                later = ids[ids.index(t) + 1:] if t in ids else ids
                if later and rng.random() < 0.35:
                    kw["deps"] = rng.sample(later, min(len(later), rng.choice([1, 1, 1, 2, 3])))
                if later and rng.random() < 0.05:
                    kw["new_deps"] = [rng.choice(later)]
                if rng.random() < 0.3:
                    kw["priority"] = rng.randint(0, 3)
                if rng.random() < 0.2:
                    kw["resources"] = {rng.choice(res): 1}
                if rng.random() < 0.1:
                    kw["runnable"] = False
                if rng.random() < 0.3:
                    kw["status"] = rng.choice(["PENDING", "DONE", "FAILED", "DISABLED", "RUNNING", "SUSPENDED", "UNKNOWN"])
                if rng.random() < 0.1:
                    kw["tracking_url"] = "http://t/%d" % rng.randint(0, 9)
                if rng.random() < 0.1:
                    kw["accepts_messages"] = True
                if rng.random() < 0.1:
                    kw["retry_policy_dict"] = {"retry_count": rng.randint(1, 3)}
                if rng.random() < 0.05:
                    kw["assistant"] = True
                if rng.random() < 0.1:
                    kw["expl"] = '"e%d"' % rng.randint(0, 9)
                r("add_task", dt=dt, **kw)
            elif roll < 0.55:
                kw = dict(worker=w)
                if rng.random() < 0.25:
                    mine = running.get(w, [])
                    kw["current_tasks"] = rng.sample(mine, rng.randint(0, len(mine))) if mine else []
                if rng.random() < 0.1:
                    kw["assistant"] = True
                if rng.random() < 0.2:
                    kw["host"] = "h-" + w
                rep = r("get_work", dt=dt, **kw)
                if not rep:
                    continue
                if rep.get("batch_id") and rng.random() < 0.7:
                    runner = rng.choice(rep["batch_task_ids"] + ["B_runner"])
                    r("add_task", dt=1.0, worker=w, task_id=runner, family="B", params={"n": "all", "k": "x"},
                      batch_id=rep["batch_id"], status="RUNNING")
                    if rng.random() < 0.7:
                        r("add_task", dt=rng.choice([1.0, 3.0]), worker=w, task_id=runner,
                          status=rng.choice(["DONE", "FAILED"]), expl='"batch"')
                elif rep.get("task_id"):
                    running.setdefault(w, []).append(rep["task_id"])
                    if rng.random() < 0.7:
                        st = rng.choice(["DONE", "DONE", "FAILED", "SUSPENDED"])
                        kw2 = {}
                        tid = rep["task_id"]
                        later = ids[ids.index(tid) + 1:] if tid in ids else ids
                        if later and rng.random() < 0.2:
                            kw2["new_deps"] = [rng.choice(later)]
                            st = "PENDING"
                        r("add_task", dt=rng.choice([1.0, 3.0]), worker=w, task_id=rep["task_id"], status=st,
                          expl='"x"', **kw2)
            elif roll < 0.62:
                r("ping", worker=w, dt=dt)
            elif roll < 0.67:
                r("prune", dt=dt)
            elif roll < 0.73:
                kw = dict(status=rng.choice(["", "PENDING", "DONE", "FAILED", "DISABLED", "RUNNING", "BATCH_RUNNING"]),
                          upstream_status=rng.choice(["", "", "UPSTREAM_FAILED", "UPSTREAM_DISABLED",
                                                      "UPSTREAM_RUNNING", "UPSTREAM_MISSING_INPUT"]))
                if rng.random() < 0.2:
                    kw["search"] = rng.choice(["F", "n=T1", "b", "t2"])
                if rng.random() < 0.1:
                    kw["limit"] = False
                r("task_list", dt=dt, **kw)
            elif roll < 0.76:
                r("count_pending", worker=w, dt=dt)
            elif roll < 0.78:
                r("worker_list", dt=dt, include_running=rng.random() < 0.8)
            elif roll < 0.80:
                r("re_enable_task", task_id=rng.choice(ids), dt=dt)
            elif roll < 0.82:
                r("resource_list", dt=dt)
            elif roll < 0.84:
                r(rng.choice(["dep_graph", "inverse_dep_graph"]), task_id=rng.choice(ids + bids),
                  include_done=rng.random() < 0.6, dt=dt)
            elif roll < 0.85:
                r("task_search", task_str=rng.choice(["T", "T1", "B", "x"]), dt=dt)
            elif roll < 0.87:
                r(rng.choice(["forgive_failures", "mark_as_done"]), task_id=rng.choice(ids + bids), dt=dt)
            elif roll < 0.88:
                if rng.random() < 0.3:
                    r("disable_worker", worker=w, dt=dt)
            elif roll < 0.89:
                r(rng.choice(["pause", "unpause", "is_paused"]), dt=dt)
            elif roll < 0.91:
                t = rng.choice(ids + bids)
                m = rng.choice(["set_task_status_message", "set_task_progress_percentage",
                                "decrease_running_task_resources"])
                if m == "set_task_status_message":
                    r(m, task_id=t, status_message="s%d" % rng.randint(0, 9), dt=dt)
                elif m == "set_task_progress_percentage":
                    r(m, task_id=t, progress_percentage=rng.randint(0, 100), dt=dt)
                else:
                    # Only tasks that went through get_work: for a task reported RUNNING without
                    # it, luigid fails on the missing resources_running (we answer null).
                    handed = sorted({x for xs in running.values() for x in xs
                                     if hasattr(rr.sch._state.get_task(x), "resources_running")})
                    if handed:
                        r(m, task_id=rng.choice(handed), decrease_resources={rng.choice(res): 1}, dt=dt)
            elif roll < 0.93:
                t = rng.choice(ids + bids)
                r(rng.choice(["get_task_status_message", "get_task_progress_percentage",
                              "get_running_task_resources", "fetch_error"]), task_id=t, dt=dt)
            elif roll < 0.95:
                m = rng.choice(["send_scheduler_message", "set_worker_processes", "update_resource"])
                if m == "send_scheduler_message":
                    r(m, worker=w, task=rng.choice(ids), content="c", dt=dt)
                elif m == "set_worker_processes":
                    r(m, worker=w, n=rng.randint(1, 4), dt=dt)
                else:
                    r(m, resource=rng.choice(res), amount=rng.choice([0, 1, 2, 3, -1]), dt=dt)
            elif roll < 0.96:
                t = rng.choice(ids)
                r("add_scheduler_message_response", task_id=t, message_id="m1", response="ok", dt=dt)
                r("get_scheduler_message_response", task_id=t, message_id="m1", dt=dt)
            else:
                r("graph", dt=dt)
        r("task_list", status="", upstream_status="")
        r("worker_list")
        r("graph")

    return run


def child(out_dir, seeds):
    import luigi.notifications

    luigi.notifications.DEBUG = True
    results = {}
    for seed in seeds:
        name = "fuzz_%05d" % seed
        try:
            results[name] = gen.run_one(name, CONFIGS[seed % len(CONFIGS)], wide_scenario(seed))
        except gen.Tie as e:
            results[name] = {"tie": str(e)}
    with open(os.path.join(out_dir, "all.json"), "w") as f:
        json.dump(results, f)


def main():
    if os.environ.get("FUZZ_CHILD"):
        seeds = [int(s) for s in os.environ["FUZZ_SEEDS_LIST"].split(",")]
        child(os.environ["FUZZ_CHILD"], seeds)
        return
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    first = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    seeds = [int(s) for s in os.environ["FUZZ_SEEDS"].split(",")] if os.environ.get("FUZZ_SEEDS") else list(range(first, first + n))
    os.makedirs(out, exist_ok=True)
    runs = []
    for hashseed in ("1", "2", "3", "4"):
        d = tempfile.mkdtemp()
        cfg = os.path.join(d, "empty.cfg")
        open(cfg, "w").close()
        env = dict(os.environ, FUZZ_CHILD=d, FUZZ_SEEDS_LIST=",".join(map(str, seeds)),
                   PYTHONHASHSEED=hashseed, LUIGI_CONFIG_PATH=cfg)
        subprocess.check_call([sys.executable, os.path.abspath(__file__)], env=env, cwd=d)
        with open(os.path.join(d, "all.json")) as f:
            runs.append(json.load(f))
    kept = 0
    for name in runs[0]:
        a = runs[0][name]
        if any("tie" in run[name] or run[name] != a for run in runs):
            continue
        kept += 1
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(a, f, separators=(",", ":"))
            f.write("\n")
    print("fuzz scenarios kept: %d of %d" % (kept, len(seeds)))


if __name__ == "__main__":
    main()

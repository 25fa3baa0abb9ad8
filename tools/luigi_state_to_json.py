#!/usr/bin/env python3
"""Export a luigid state pickle (`[scheduler] state_path`, written by luigid at shutdown)
as plain JSON that `luigid-rs import-luigi-state` turns into a luigid-rs snapshot.

Usage: python3 tools/luigi_state_to_json.py STATE.pickle OUT.json

Needs the `luigi` package importable (the pickle references luigi.scheduler classes),
e.g. the test virtualenv: .venv/bin/python tools/luigi_state_to_json.py ...

The export keeps luigid's own field names, turning Python containers into JSON ones:
sets become sorted lists, the workers OrderedSet keeps its insertion order, the failures
deque becomes a list, RetryPolicy becomes an object, and an infinite batch size becomes null.
"""
import json
import math
import pickle
import sys


def ordered(oset):
    """Items of luigi.scheduler.OrderedSet in insertion order (it iterates in order)."""
    try:
        return list(oset)
    except Exception:
        return []


def num(x):
    if isinstance(x, float) and (math.isinf(x) or math.isnan(x)):
        return None
    return x


def task_json(task):
    d = dict(task.__dict__)
    rp = d.get("retry_policy")
    out = {
        "id": d.get("id"),
        "status": d.get("status"),
        "deps": sorted(d.get("deps") or []),
        "stakeholders": sorted(d.get("stakeholders") or []),
        "workers": ordered(d.get("workers") or []),
        "time": d.get("time"),
        "updated": d.get("updated"),
        "retry": d.get("retry"),
        "remove": d.get("remove"),
        "worker_running": d.get("worker_running"),
        "time_running": d.get("time_running"),
        "expl": d.get("expl"),
        "priority": num(d.get("priority", 0)),
        "resources": d.get("resources") or {},
        "family": d.get("family", ""),
        "module": d.get("module"),
        "param_visibilities": d.get("param_visibilities") or {},
        "params": d.get("params") or {},
        "public_params": d.get("public_params") or {},
        "hidden_params": d.get("hidden_params") or {},
        "accepts_messages": bool(d.get("accepts_messages", False)),
        "retry_policy": None if rp is None else {
            "retry_count": rp.retry_count,
            "disable_hard_timeout": rp.disable_hard_timeout,
            "disable_window": rp.disable_window,
        },
        "failures": list(d.get("failures") or []),
        "first_failure_time": d.get("first_failure_time"),
        "tracking_url": d.get("tracking_url"),
        "status_message": d.get("status_message"),
        "progress_percentage": d.get("progress_percentage"),
        "scheduler_message_responses": d.get("scheduler_message_responses") or {},
        "scheduler_disable_time": d.get("scheduler_disable_time"),
        "runnable": bool(d.get("runnable", False)),
        "batchable": bool(d.get("batchable", False)),
        "batch_id": d.get("batch_id"),
        "owners": d.get("owners"),
    }
    if "resources_running" in d:
        out["resources_running"] = d["resources_running"]
    return out


def worker_json(worker):
    d = dict(worker.__dict__)
    return {
        "id": d.get("id"),
        "reference": d.get("reference"),
        "last_active": d.get("last_active"),
        "last_get_work": d.get("last_get_work"),
        "started": d.get("started"),
        "tasks": sorted(t.id for t in (d.get("tasks") or [])),
        "info": d.get("info") or {},
        "disabled": bool(d.get("disabled", False)),
        "rpc_messages": d.get("rpc_messages") or [],
    }


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], "rb") as f:
        state = pickle.load(f)
    tasks, workers = state[0], state[1]
    batchers = state[2] if len(state) > 2 else {}
    export = {
        "format": "luigid-state-export",
        "version": 1,
        "tasks": [task_json(t) for t in tasks.values()],
        "workers": [worker_json(w) for w in workers.values()],
        "task_batchers": {
            wid: {fam: [list(args), num(size)] for fam, (args, size) in fams.items()}
            for wid, fams in batchers.items()
        },
    }
    with open(argv[2], "w") as f:
        json.dump(export, f, indent=1, default=str)
    print("exported %d tasks, %d workers to %s" % (len(tasks), len(workers), argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

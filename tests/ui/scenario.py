"""Scheduler state for the browser tests, built only through real RPC calls, the way
Luigi workers build it: tasks in every status, a failure with a traceback, an automatically
disabled task (re-enable-able) and a manually disabled one, pending tasks in every upstream
state, a graph of a few hundred nodes, two workers, and a resource in use."""

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/jobs/etl.py", line 42, in run\n'
    "    load(rows)\n"
    "ValueError: bad row 17: <script>alert(1)</script>\n"
)

W1 = "Worker(salt=111, workers=2, host=alpha, username=ana, pid=4242)"
W2 = "Worker(salt=222, workers=1, host=beta, username=bob, pid=4343)"

# Graph: Report -> 12 Mid -> 25 Leaf each = 313 tasks, with a mix of statuses.
GRAPH_ROOT = "Report_2026_01_01"
GRAPH_MIDS = 12
GRAPH_LEAVES = 25


def add(srv, task_id, family, params=None, status="PENDING", worker=W1, deps=None, **kw):
    data = {
        "worker": worker, "task_id": task_id, "family": family, "params": params or {},
        "status": status, "runnable": True, "deps": deps, "priority": kw.pop("priority", 0),
    }
    data.update(kw)
    srv.rpc("add_task", data)


def build(srv, big_fanout=0):
    """Fill `srv` (a tests/lib/servers.Server) and return the ids the tests look at."""
    srv.rpc("add_worker", {"worker": W1, "info": {"host": "alpha", "username": "ana", "pid": 4242, "workers": 2}})
    srv.rpc("add_worker", {"worker": W2, "info": {"host": "beta", "username": "bob", "pid": 4343, "workers": 1}})

    ids = {}
    add(srv, "Extract_a", "Extract", {"day": "2026-01-01"}, "DONE")
    add(srv, "Crunch_fail", "Crunch", {"day": "2026-01-01", "n": "3"}, "FAILED",
        expl='"%s"' % TRACEBACK.replace("\n", "\\n").replace('"', '\\"'))
    ids["failed"] = "Crunch_fail"
    # Fails once with a retry policy of one: the scheduler disables it by itself.
    # (The policy is stored after the status change, so declare it first, then fail.)
    add(srv, "Flaky_x", "Flaky", {"x": "1"}, retry_policy_dict={"retry_count": 1})
    add(srv, "Flaky_x", "Flaky", {"x": "1"}, "FAILED", retry_policy_dict={"retry_count": 1},
        expl='"boom"')
    ids["auto_disabled"] = "Flaky_x"
    add(srv, "Manual_off", "Manual", {}, "DISABLED")
    ids["manual_disabled"] = "Manual_off"
    add(srv, "Loader_run", "Loader", {"table": "users"}, "RUNNING", resources={"db": 1},
        tracking_url="http://tracker.example/job/1")
    srv.rpc("set_task_status_message", {"task_id": "Loader_run", "status_message": "copying rows"})
    srv.rpc("set_task_progress_percentage", {"task_id": "Loader_run", "progress_percentage": 40})
    ids["running"] = "Loader_run"
    add(srv, "Batch_1", "Batch", {"n": "1"}, "BATCH_RUNNING", worker=W2)
    ids["batch_running"] = "Batch_1"
    # Pending tasks in each upstream state.
    add(srv, "Wait_fail", "Wait", {"on": "fail"}, deps=["Crunch_fail"])
    add(srv, "Wait_off", "Wait", {"on": "off"}, deps=["Manual_off"])
    add(srv, "Wait_run", "Wait", {"on": "run"}, deps=["Loader_run"])
    add(srv, "Lonely", "Lonely", {"q": "42"}, worker=W2)  # no deps: missing input
    add(srv, "Wait_unknown", "Wait", {"on": "unknown"}, deps=["Ghost_dep"])  # UNKNOWN placeholder

    mids = []
    for i in range(GRAPH_MIDS):
        leaves = []
        for j in range(GRAPH_LEAVES):
            lid = "Leaf_%02d_%02d" % (i, j)
            st = "DONE" if (i + j) % 3 else "PENDING"
            if i == 3 and j == 4:
                st = "FAILED"
            add(srv, lid, "Leaf", {"i": str(i), "j": str(j)}, st, worker=W1 if j % 2 else W2)
            leaves.append(lid)
        mid = "Mid_%02d" % i
        add(srv, mid, "Mid", {"i": str(i)}, deps=leaves)
        mids.append(mid)
    add(srv, GRAPH_ROOT, "Report", {"date": "2026-01-01"}, deps=mids, priority=5)
    ids["graph_root"] = GRAPH_ROOT
    ids["graph_size"] = 1 + GRAPH_MIDS * (1 + GRAPH_LEAVES)

    if big_fanout:
        # A wide graph: one root over `big_fanout` mids of 49 leaves each.
        per = 49
        mids = []
        n = 0
        for i in range(big_fanout):
            leaves = []
            for j in range(per):
                lid = "BigLeaf_%03d_%02d" % (i, j)
                add(srv, lid, "BigLeaf", {"i": str(i), "j": str(j)}, "DONE" if j % 4 else "PENDING")
                leaves.append(lid)
                n += 1
            mid = "BigMid_%03d" % i
            add(srv, mid, "BigMid", {"i": str(i)}, deps=leaves)
            mids.append(mid)
            n += 1
        add(srv, "BigRoot", "BigRoot", {}, deps=mids)
        ids["big_root"] = "BigRoot"
        ids["big_size"] = n + 1
    return ids

"""Scheduler state for the browser tests, built only through real RPC calls, the way
Luigi workers build it: tasks in every status, a failure with a traceback, an automatically
disabled task (re-enable-able) and a manually disabled one, pending tasks in every upstream
state, a graph of a few hundred nodes, a 60-task pipeline with Luigi-style long ids, two
workers, and a resource in use."""
import hashlib
import json

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


def build(srv, big_fanout=0, with_pipeline=True):
    """Fill `srv` (a tests/lib/servers.Server) and return the ids the tests look at.
    `with_pipeline`: add the 60-task pipeline (see pipeline())."""
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

    if with_pipeline:
        ids.update(pipeline(srv))

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


# A 60-task pipeline named the way real Luigi tasks are: long families, dates and regions,
# ids of up to 80 characters (family, parameter summary, hash). Siblings differ only in
# their parameters, which is what the graph labels must show.
DATES = ["2024-06-0%d" % d for d in range(1, 6)]
REGIONS = ["eu", "us", "apac"]
LONG_TRACE_LINE = (
    '  File "/srv/pipelines/analytics/events/cleaning/normalise_and_deduplicate_events.py", '
    "line 1187, in _merge_sessions_with_late_arriving_events_from_the_backfill_partition_of_yesterday\n")
CLEAN_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/usr/lib/python3/dist-packages/luigi/worker.py", line 210, in run\n'
    "    new_deps = self._run_get_new_deps()\n"
    + LONG_TRACE_LINE
    + "    raise DuplicateEventError(f'{len(dupes)} duplicate event ids in partition {self.date}/{self.region}"
      " (first: {dupes[0]!r}); refusing to overwrite s3://analytics-clean/events/')\n"
    "DuplicateEventError: 1204 duplicate event ids in partition 2024-06-02/eu (first: 'evt_8c1f0a'); "
    "refusing to overwrite s3://analytics-clean/events/\n"
)
CLEAN_ID = "CleanEvents_2024_06_02_eu_d17abacc2c"


def luigi_id(family, params):
    """An id shaped like luigi.task.task_id_str builds them (family, up to three values
    cut to 16 characters, a 10-digit hash)."""
    summary = "_".join(str(params[k])[:16] for k in sorted(params)[:3])
    summary = "".join(c if c.isalnum() or c == "_" else "_" for c in summary)
    digest = hashlib.md5(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    return "%s_%s_%s" % (family, summary, digest)


def pipeline(srv):
    ids = {}
    module = "analytics.pipelines"
    raw, clean, agg = {}, {}, {}
    for d in DATES:
        ref = luigi_id("LoadReferenceData", {"date": d})
        add(srv, ref, "LoadReferenceData", {"date": d}, "DONE", module=module)
        for r in REGIONS:
            p = {"date": d, "region": r, "source": "s3://raw-events/%s/%s/" % (r, d)}
            raw[d, r] = luigi_id("ExtractRawEvents", p)
            add(srv, raw[d, r], "ExtractRawEvents", p, "DONE", module=module)
            p = {"date": d, "region": r}
            clean[d, r] = CLEAN_ID if (d, r) == ("2024-06-02", "eu") else luigi_id("CleanEvents", p)
            st = "FAILED" if clean[d, r] == CLEAN_ID else "DONE" if d < "2024-06-04" else "PENDING"
            extra = {"expl": json.dumps(CLEAN_TRACEBACK)} if st == "FAILED" else {}
            add(srv, clean[d, r], "CleanEvents", p, st, deps=[raw[d, r], ref], module=module, **extra)
            agg[d, r] = luigi_id("AggregateMetrics", p)
            st = "DONE" if d == "2024-06-01" else "PENDING"
            add(srv, agg[d, r], "AggregateMetrics", p, st, deps=[clean[d, r]], module=module)
    # The longest: an 80-character id with long parameter values.
    cohorts = []
    for i, lb in enumerate([7, 14, 28, 56, 90, 120, 180, 270, 365]):
        p = {"date": "2024-06-05", "lookback_days": str(lb), "attribution_model": "time_decay_half_life_7d"}
        tid = luigi_id("ComputeRetentionCohortsForAttribution", p)
        st = ["DONE", "PENDING", "DISABLED"][i % 3]
        add(srv, tid, "ComputeRetentionCohortsForAttribution", p, st,
            deps=[agg["2024-06-05", r] for r in REGIONS], module=module)
        cohorts.append(tid)
    ids["long_id"] = max(cohorts, key=len)
    root_params = {"week": "2024-W23"}
    root = luigi_id("PublishWeeklyDashboard", root_params)
    add(srv, root, "PublishWeeklyDashboard", root_params,
        deps=sorted(agg.values()) + cohorts, priority=10, module=module)
    # One of the aggregations runs on the second worker with a message and progress.
    running = agg["2024-06-03", "us"]
    add(srv, running, "AggregateMetrics", {"date": "2024-06-03", "region": "us"}, "RUNNING", worker=W2,
        deps=[clean["2024-06-03", "us"]], module=module)
    srv.rpc("set_task_status_message", {"task_id": running, "status_message": "aggregating 3 of 7 metrics"})
    srv.rpc("set_task_progress_percentage", {"task_id": running, "progress_percentage": 43})
    ids.update(dash_root=root, dash_size=60, clean_failed=CLEAN_ID, dash_running=running, module=module)
    return ids

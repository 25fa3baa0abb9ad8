"""The differential scenarios. Each one is a function of a `Side` (tests/lib/difftool.py).

`@scenario()` runs on the shared pair of servers (replies scoped to the scenario's own ids);
`@scenario(config={...})` gets a fresh pair started with that luigi.cfg.
Assertions state luigid 3.8 behaviour (luigi/scheduler.py).
"""
import time

REGISTRY = []

NOPOLICY = {"retry_count": None, "disable_hard_timeout": None, "disable_window": None}


def scenario(config=None):
    def deco(fn):
        REGISTRY.append((fn.__name__, fn, config))
        return fn

    return deco


def T(s, fam, x="1"):
    return "%s%s_%s" % (s.p, fam, x)


def W(s, n=1):
    return "%sw%d" % (s.p, n)


def gw(s, worker, current=None, **kw):
    """get_work as a Luigi worker sends it."""
    return s.w.get_work(worker=worker, host="hostx", assistant=kw.pop("assistant", False),
                        current_tasks=current if current is not None else [], **kw)


def status_of(s, tid):
    for st in ("PENDING", "RUNNING", "DONE", "FAILED", "DISABLED", "UNKNOWN", "BATCH_RUNNING"):
        r = s.get("task_list", status=st, search="")
        if tid in r:
            return st
    return None


def fail(s, tid, worker, expl='"Traceback: boom"', **kw):
    """A failure report as the worker sends it (no deps, runnable null)."""
    return s.add(tid, worker, status="FAILED", runnable=None, deps=None, expl=expl, **kw)


def done(s, tid, worker, **kw):
    return s.add(tid, worker, status="DONE", runnable=None, deps=None, expl='"null"', **kw)


# ---------------------------------------------------------------- add_task

@scenario()
def add_basic(s):
    a, b, c = T(s, "A"), T(s, "B"), T(s, "C")
    s.add(a, W(s), deps=[b, c], params={"x": "1"})
    s.add(b, W(s))
    r = s.tasks(status="PENDING")
    assert a in r and b in r and r[a]["display_name"] == s.p + "A(x=1)"
    assert r[a]["workers"] == [W(s)] and r[a]["params"] == {"x": "1"}
    u = s.tasks(status="UNKNOWN")
    assert c in u and u[c]["name"] == ""
    s.get("dep_graph", task_id=a)
    s.get("task_list", status="", search=s.p + "A")


@scenario()
def add_placeholder_priority(s):
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s), deps=[b], priority=7)
    u = s.tasks(status="UNKNOWN")
    assert u[b]["priority"] == 7
    g = s.get("dep_graph", task_id=a)
    # placeholder node: empty family -> guessed name, params {"task_id": id}
    assert g[b]["status"] == "UNKNOWN" and g[b]["params"] == {"task_id": b}
    assert g[b]["name"] == s.p + "B" and "display_name" not in g[b]
    s.get("inverse_dep_graph", task_id=b)


@scenario()
def add_done_cooldown(s):
    a = T(s, "A")
    s.add(a, W(s, 1))
    done(s, a, W(s, 1))
    s.add(a, W(s, 2), priority=5)  # PENDING within stable_done_cooldown_secs: ignored
    r = s.tasks(status="DONE")
    assert r[a]["workers"] == [W(s, 1)] and r[a]["priority"] == 0


@scenario()
def add_priority_propagation(s):
    a, b, c = T(s, "A"), T(s, "B"), T(s, "C")
    s.add(c, W(s))
    s.add(b, W(s), deps=[c], priority=1)
    s.add(a, W(s), deps=[b], priority=10)
    s.add(a, W(s), deps=[b], priority=3)  # never decreases
    r = s.tasks(status="PENDING")
    assert r[a]["priority"] == 10 and r[b]["priority"] == 10 and r[c]["priority"] == 10


@scenario()
def add_param_visibility(s):
    a = T(s, "A")
    s.add(a, W(s), params={"pub": "1", "hid": "2", "priv": "3", "novis": "4"},
          param_visibilities={"pub": 0, "hid": 1, "priv": 2})
    r = s.tasks(status="PENDING")
    assert r[a]["params"] == {"pub": "1", "novis": "4"}
    assert r[a]["display_name"] == s.p + "A(novis=4, pub=1)"
    e = s.get("fetch_error", task_id=a)
    assert e["taskParams"]["hid"] == "2"
    g = gw(s, W(s))
    assert g["task_params"]["hid"] == "2"


@scenario()
def add_fill_empty_fields(s):
    a = T(s, "A")
    s.w.add_task(task_id=a, worker=W(s))  # no family/module/params
    s.add(a, W(s), family=s.p + "Fam", module="m1", params={"k": "v"})
    s.add(a, W(s), family=s.p + "Other", module="m2", params={"k": "other"})
    r = s.tasks(status="PENDING")
    assert r[a]["name"] == s.p + "Fam" and r[a]["params"] == {"k": "v"}
    assert s.get("fetch_error", task_id=a)["taskModule"] == "m1"


@scenario()
def add_resources_replaced(s):
    a = T(s, "A")
    s.add(a, W(s), resources={s.p + "r": 1})
    assert s.tasks(status="PENDING")[a]["resources"] == {s.p + "r": 1}
    s.w.add_task(task_id=a, worker=W(s), status="PENDING")  # no resources -> {}
    assert s.tasks(status="PENDING")[a]["resources"] == {}


@scenario()
def add_tracking_url(s):
    a = T(s, "A")
    s.add(a, W(s), tracking_url="http://t/1")
    assert s.tasks(status="PENDING")[a]["tracking_url"] == "http://t/1"
    s.add(a, W(s))  # not running, null url -> cleared
    assert s.tasks(status="PENDING")[a]["tracking_url"] is None
    gw(s, W(s))
    s.w.add_task(task_id=a, worker=W(s), status="RUNNING", tracking_url="http://t/2")
    s.add(a, W(s, 2))  # running: null url ignored
    r = s.tasks(status="RUNNING")
    assert r[a]["tracking_url"] == "http://t/2"


@scenario()
def add_accepts_messages(s):
    a = T(s, "A")
    s.add(a, W(s), accepts_messages=True)
    assert "accepts_messages" not in s.tasks(status="PENDING")[a]
    gw(s, W(s))
    assert s.tasks(status="RUNNING")[a]["accepts_messages"] is True
    s.w.add_task(task_id=a, worker=W(s), status="RUNNING", tracking_url="http://x")
    assert s.tasks(status="RUNNING")[a]["accepts_messages"] is False


@scenario()
def add_failed_then_pending(s):
    a = T(s, "A")
    fail(s, a, W(s), '"boom"')
    r = s.tasks(status="FAILED")
    assert r[a]["workers"] == []  # FAILED reports do not register the worker
    s.add(a, W(s))
    assert status_of(s, a) == "PENDING"
    s.get("fetch_error", task_id=a)


@scenario()
def add_manual_disable(s):
    a = T(s, "A")
    s.add(a, W(s), status="DISABLED")
    r = s.tasks(status="DISABLED")
    assert r[a]["re_enable_able"] is False
    assert s.get("re_enable_task", task_id=a) == {}
    s.add(a, W(s))  # a manual disable can be overridden
    assert status_of(s, a) == "PENDING"


@scenario()
def add_suspended_and_unknown(s):
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s), status="SUSPENDED")
    s.add(b, W(s), status="UNKNOWN", runnable=False, deps=None)
    assert status_of(s, a) == "PENDING" and status_of(s, b) == "UNKNOWN"


@scenario()
def add_not_runnable(s):
    a = T(s, "A")
    s.add(a, W(s), runnable=False, deps=None)
    assert s.tasks(status="PENDING")[a]["workers"] == []
    g = gw(s, W(s))
    assert g["task_id"] is None and g["n_pending_tasks"] == 0


@scenario()
def add_new_deps_running(s):
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s))
    gw(s, W(s))
    s.add(b, W(s))
    s.add(a, W(s), status="PENDING", runnable=None, deps=None, new_deps=[b], expl='"null"')
    r = s.get("dep_graph", task_id=a)
    assert r[a]["status"] == "PENDING" and r[a]["deps"] == [b]
    g = gw(s, W(s), current=[])
    assert g["task_id"] == b


@scenario()
def add_other_worker_ignored(s):
    a = T(s, "A")
    s.add(a, W(s, 1))
    s.add(a, W(s, 2))
    g = gw(s, W(s, 1))
    assert g["task_id"] == a
    done(s, a, W(s, 2))  # not the runner: ignored
    s.add(a, W(s, 2), status="FAILED", expl='"x"')
    assert status_of(s, a) == "RUNNING"
    done(s, a, W(s, 1))
    assert status_of(s, a) == "DONE"


@scenario()
def add_retry_policy_after_status(s):
    a = T(s, "A")
    pol = {"retry_count": 1, "disable_hard_timeout": None, "disable_window": None}
    s.add(a, W(s), status="FAILED", expl='"1"', retry_policy_dict=pol)
    assert status_of(s, a) == "FAILED"  # judged by the config's default policy, not the task's
    s.add(a, W(s), status="FAILED", expl='"2"', retry_policy_dict=pol)
    r = s.tasks(status="DISABLED")
    assert r[a]["re_enable_able"] is True
    s.add(a, W(s))  # auto-disabled ignores PENDING
    assert status_of(s, a) == "DISABLED"
    done(s, a, W(s))  # DONE re-enables
    assert status_of(s, a) == "DONE"


@scenario()
def add_assistant_flag(s):
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s), deps=[b], assistant=True)
    assert b not in s.tasks(status="UNKNOWN")
    r = s.tasks(status="PENDING")
    assert r[a]["workers"] == [W(s)]


@scenario()
def add_python_str_params(s):
    a = T(s, "A")
    s.add(a, W(s), params={"a": [1, 2], "b": 1, "c": None, "d": {"k": "v"}, "e": True, "f": 1.5})
    r = s.tasks(status="PENDING")
    assert r[a]["display_name"] == s.p + "A(a=[1, 2], b=1, c=None, d={'k': 'v'}, e=True, f=1.5)"
    s.get("task_list", search="a=[1, 2]")
    s.get("task_list", search="A(A=[1")


@scenario()
def add_unicode_ids(s):
    a = s.p + "Ü_</script>é😀"
    s.add(a, W(s), family=s.p + "Ü", params={"ß": "ẞ"})
    r = s.tasks(status="PENDING")
    assert a in r
    s.get("fetch_error", task_id=a)
    s.post("task_search", task_str="</script>")


@scenario()
def add_deps_replace_and_union(s):
    a, b, c, d = T(s, "A"), T(s, "B"), T(s, "C"), T(s, "D")
    s.add(a, W(s), deps=[b, c])
    s.add(a, W(s), deps=[d])
    g = s.get("dep_graph", task_id=a)
    assert sorted(g[a]["deps"]) == [d]
    s.add(a, W(s), deps=None, new_deps=[b])
    g = s.get("dep_graph", task_id=a)
    assert sorted(g[a]["deps"]) == sorted([b, d])


@scenario()
def add_status_running_direct(s):
    a = T(s, "A")
    s.add(a, W(s), status="RUNNING")
    r = s.tasks(status="RUNNING")
    assert r[a]["worker_running"] == W(s) and r[a]["resources_running"] is None
    s.get("get_running_task_resources", task_id=a)
    s.add(a, W(s), status="DISABLED")  # running tasks cannot be disabled
    assert status_of(s, a) == "RUNNING"


@scenario()
def add_strings_starting_with_u_fdd0(s):
    """luigid-rs marks the numbers it cannot keep as JSON numbers (NaN, Infinity, big
    integers) with U+FDD0 in memory; a client's string that starts with that character
    must still come back as the string it was, never as a bare number."""
    a, b = "\ufdd0NaN" + T(s, "A"), T(s, "B")
    params = {"p": "\ufdd0NaN", "\ufdd0q": "\ufdd0Infinity"}
    s.add(a, W(s), family=s.p + "F", params=params)
    # Not plain values only (a list): the parameters take the parser's other path. (Not
    # the mark inside the list: Python's repr escapes it there, ours does not.)
    other = {"l": ["x", 1.5], "m": "\ufdd0123"}
    s.add(b, W(s), params=other, expl="\ufdd0-Infinity")
    s.w.set_task_status_message(a, "\ufdd0NaN")
    r = s.tasks(status="PENDING")
    assert r[a]["params"] == params and r[b]["params"] == other
    assert r[a]["display_name"] == s.p + "F(p=\ufdd0NaN, \ufdd0q=\ufdd0Infinity)"
    assert s.get("get_task_status_message", task_id=a)["statusMessage"] == "\ufdd0NaN"
    s.get("fetch_error", task_id=b)
    s.get("task_search", task_str="\ufdd0NaN")


# ---------------------------------------------------------------- get_work

@scenario()
def get_work_basic(s):
    a = T(s, "A")
    s.add(a, W(s), params={"x": "1"}, resources={s.p + "r": 1})
    g = gw(s, W(s))
    assert g["task_id"] == a and g["task_family"] == s.p + "A" and g["task_module"] == "diffmod"
    assert g["n_pending_tasks"] == 1 and g["running_tasks"] == []
    r = s.tasks(status="RUNNING")
    assert r[a]["worker_running"] == W(s) and r[a]["resources_running"] == {s.p + "r": 1}
    g = gw(s, W(s), current=[a])
    assert g["task_id"] is None
    done(s, a, W(s))
    gw(s, W(s))


@scenario()
def get_work_dependency_order(s):
    a, b, c = T(s, "A"), T(s, "B"), T(s, "C")
    s.add(a, W(s), deps=[b, c])
    s.add(b, W(s))
    s.add(c, W(s), deps=[b])
    order = []
    for _ in range(3):
        g = gw(s, W(s))
        assert g["task_id"] is not None
        order.append(g["task_id"])
        done(s, g["task_id"], W(s))
    assert order == [b, c, a]
    assert gw(s, W(s))["task_id"] is None


@scenario()
def get_work_priority_order(s):
    ids = [T(s, "P", str(i)) for i in range(4)]
    for i, t in enumerate(ids):
        s.add(t, W(s), priority=[1, 5, 5, 0][i])
    order = []
    for _ in range(4):
        g = gw(s, W(s))
        order.append(g["task_id"])
        done(s, g["task_id"], W(s))
    assert order == [ids[1], ids[2], ids[0], ids[3]]


@scenario()
def get_work_resend(s):
    a = T(s, "A")
    s.add(a, W(s))
    assert gw(s, W(s))["task_id"] == a
    g = gw(s, W(s), current=[])  # the worker lost the reply: resent
    assert g["task_id"] == a
    g = s.w.get_work(worker=W(s), host="hostx", current_tasks=None)
    assert g["task_id"] is None


@scenario()
def get_work_only_own_tasks(s):
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s, 1))
    s.add(b, W(s, 2))
    assert gw(s, W(s, 1))["task_id"] == a
    g = gw(s, W(s, 1), current=[a])
    assert g["task_id"] is None and g["n_pending_tasks"] == 0
    g = gw(s, W(s, 2))
    assert g["task_id"] == b


@scenario()
def get_work_batching(s):
    fam = s.p + "B"
    s.w.add_task_batcher(worker=W(s), task_family=fam, batched_args=["d"])  # max_batch_size=Infinity
    ids = [T(s, "B", str(i)) for i in range(3)]
    for i, t in enumerate(ids):
        s.add(t, W(s), family=fam, params={"d": str(i), "k": "same"}, batchable=True)
    g = gw(s, W(s))
    assert g["task_id"] is None and sorted(g["batch_task_ids"]) == sorted(ids)
    assert g["task_params"]["k"] == "same" and sorted(g["task_params"]["d"]) == ["0", "1", "2"]
    r = s.tasks(status="BATCH_RUNNING")
    assert sorted(r) == sorted(ids)
    runner = s.p + "B_runner"
    s.w.add_task(task_id=runner, worker=W(s), status="RUNNING", family=fam, module="diffmod",
                 params={"d": "0,1,2", "k": "same"}, batch_id=g["batch_id"])
    s.tasks(status="RUNNING")
    s.get("task_list", status="BATCH_RUNNING", upstream_status="")
    s.w.set_task_status_message(runner, "batch msg")
    s.w.set_task_progress_percentage(runner, 40)
    for t in ids:
        s.get("get_task_status_message", task_id=t)
        s.get("get_task_progress_percentage", task_id=t)
    done(s, runner, W(s), family=fam, params={"d": "0,1,2", "k": "same"})
    r = s.tasks(status="DONE")
    assert all(t in r for t in ids)


@scenario()
def get_work_batch_max_size(s):
    fam = s.p + "B"
    s.w.add_task_batcher(worker=W(s), task_family=fam, batched_args=["d"], max_batch_size=2)
    ids = [T(s, "B", str(i)) for i in range(3)]
    for i, t in enumerate(ids):
        s.add(t, W(s), family=fam, params={"d": str(i)}, batchable=True, priority=i)
    g = gw(s, W(s))
    assert g["batch_task_ids"] == [ids[2], ids[1]]
    s.tasks(status="BATCH_RUNNING")
    s.tasks(status="PENDING")


@scenario()
def get_work_batch_unbatched_mismatch(s):
    fam = s.p + "B"
    s.w.add_task_batcher(worker=W(s), task_family=fam, batched_args=["d"])
    s.add(T(s, "B", "1"), W(s), family=fam, params={"d": "1", "k": "x"}, batchable=True)
    s.add(T(s, "B", "2"), W(s), family=fam, params={"d": "2", "k": "y"}, batchable=True)
    s.add(T(s, "B", "3"), W(s), family=fam, params={"d": "3", "k": "x"}, batchable=False)
    g = gw(s, W(s))
    assert g["task_id"] == T(s, "B", "1") and "batch_id" not in g


@scenario()
def get_work_orphan_batch_reset(s):
    fam = s.p + "B"
    s.w.add_task_batcher(worker=W(s), task_family=fam, batched_args=["d"])
    ids = [T(s, "B", str(i)) for i in range(2)]
    for i, t in enumerate(ids):
        s.add(t, W(s), family=fam, params={"d": str(i)}, batchable=True)
    g1 = gw(s, W(s))
    assert g1["batch_id"]
    g2 = gw(s, W(s), current=[])  # runner never reported RUNNING: members reset, then re-batched
    assert sorted(g2["batch_task_ids"]) == sorted(ids)
    s.tasks(status="BATCH_RUNNING")


@scenario()
def get_work_disabled_worker(s):
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s))
    s.w.disable_worker(worker=W(s))
    g = gw(s, W(s))
    assert g == {"n_pending_tasks": 0, "running_tasks": [], "task_id": None,
                 "n_unique_pending": 0, "worker_state": "disabled"}
    s.add(b, W(s))  # disabled workers cannot create tasks
    assert status_of(s, b) is None
    s.get("worker_list")
    s.w.count_pending(worker=W(s))


@scenario()
def get_work_running_tasks_info(s):
    a, b = T(s, "A"), T(s, "B")
    s.w.add_worker(worker=W(s, 1), info=[["host", "h1"], ["workers", 2], ["salt", "001"]])
    s.add(a, W(s, 1))
    s.add(a, W(s, 2))
    s.add(b, W(s, 2))
    assert gw(s, W(s, 1))["task_id"] == a
    g = gw(s, W(s, 2))
    assert g["task_id"] == b
    assert g["running_tasks"] == [{"task_id": a, "worker": W(s, 1), "host": "h1", "workers": 2, "salt": "001"}]


@scenario()
def get_work_assistant_info(s):
    # an assistant's get_work marks info.assistant; with no runnable task of its own here
    # the reply carries nothing for it (other scenarios' tasks are filtered by scope only
    # in task maps, so only the shape is compared: task_id may be another scenario's)
    s.w.add_worker(worker=W(s), info={"workers": 1})
    s.w.count_pending(worker=W(s))
    wl = s.get("worker_list")
    assert wl[0]["workers"] == 1


# ---------------------------------------------------------------- count_pending

@scenario()
def count_pending_counts(s):
    a, b, c, d = T(s, "A"), T(s, "B"), T(s, "C"), T(s, "D")
    s.add(a, W(s, 1))
    s.add(a, W(s, 2))
    s.add(b, W(s, 1))
    s.add(c, W(s, 2))
    s.add(c, W(s, 1))
    s.add(d, W(s, 1), status="FAILED", expl='"x"')
    s.add(d, W(s, 1))
    s.add(d, W(s, 1), status="FAILED", expl='"x"')
    r = s.w.count_pending(worker=W(s, 1))
    assert r["n_pending_tasks"] == 4 and r["n_unique_pending"] == 2
    assert r["n_pending_last_scheduled"] == 3 and r["worker_state"] == "active"
    s.w.count_pending(worker=W(s, 2))
    s.w.count_pending(worker=W(s, 3))


@scenario()
def count_pending_upstream_disabled(s):
    a, b, c = T(s, "A"), T(s, "B"), T(s, "C")
    s.add(a, W(s), deps=[b])
    s.add(b, W(s), status="DISABLED")
    s.add(c, W(s), deps=[a])
    r = s.w.count_pending(worker=W(s))
    assert r["n_pending_tasks"] == 0
    s.get("task_list", status="PENDING", upstream_status="UPSTREAM_DISABLED")


# ---------------------------------------------------------------- ping, workers

@scenario()
def ping_set_worker_processes(s):
    assert s.w.ping(worker=W(s)) == {"rpc_messages": []}
    s.w.set_worker_processes(worker=W(s), n=3)
    s.w.set_worker_processes(worker=W(s), n=0)
    wl = s.get("worker_list")
    assert wl[0]["num_unread_rpc_messages"] == 2
    r = s.w.ping(worker=W(s))
    assert r["rpc_messages"] == [{"name": "set_worker_processes", "kwargs": {"n": 3}},
                                 {"name": "set_worker_processes", "kwargs": {"n": 0}}]
    assert s.w.ping(worker=W(s)) == {"rpc_messages": []}


@scenario()
def scheduler_messages_round_trip(s):
    a = T(s, "A")
    s.add(a, W(s), accepts_messages=True)
    gw(s, W(s))
    r = s.get("send_scheduler_message", worker=W(s), task=a, content="hello")
    mid = r["message_id"]
    assert isinstance(mid, str) and len(mid) == 36
    p = s.w.ping(worker=W(s))
    assert p["rpc_messages"][0]["name"] == "dispatch_scheduler_message"
    assert p["rpc_messages"][0]["kwargs"]["message_id"] == mid
    assert p["rpc_messages"][0]["kwargs"]["content"] == "hello"
    assert s.get("get_scheduler_message_response", task_id=a, message_id=mid) == {"response": None}
    s.w.add_scheduler_message_response(task_id=a, message_id=mid, response={"ok": [1, 2]})
    assert s.get("get_scheduler_message_response", task_id=a, message_id=mid) == {"response": {"ok": [1, 2]}}
    assert s.get("get_scheduler_message_response", task_id=a, message_id=mid) == {"response": None}
    s.get("get_scheduler_message_response", task_id=s.p + "nope", message_id=mid)
    s.w.add_scheduler_message_response(task_id=s.p + "nope", message_id=mid, response=1)


@scenario()
def add_worker_info(s):
    s.w.add_worker(worker=W(s, 1), info=[["salt", "0123"], ["workers", 4], ["host", "h"],
                                         ["username", "u"], ["pid", 42], ["first_task", T(s, "A")]])
    s.add(T(s, "A"), W(s, 1), params={"p": "q"})
    s.w.add_worker(worker=W(s, 2), info={"workers": 2, "first_task": "nope"})
    s.w.add_worker(worker=W(s, 2), info={"extra": [1, 2]})
    s.w.add_worker(worker=W(s, 3), info=[["first_task", None]])
    wl = s.get("worker_list")
    by = {w["name"]: w for w in wl}
    assert by[W(s, 1)]["first_task_display_name"] == s.p + "A(p=q)"
    assert by[W(s, 2)]["first_task_display_name"] == "nope" and by[W(s, 2)]["extra"] == [1, 2]
    assert by[W(s, 3)]["first_task_display_name"] is None
    s.get("worker_list", include_running=False)


@scenario()
def worker_list_running(s):
    a, b, c = T(s, "A"), T(s, "B"), T(s, "C")
    s.add(a, W(s, 1))
    s.add(b, W(s, 1))
    s.add(c, W(s, 2))
    s.add(b, W(s, 2))
    gw(s, W(s, 1))
    wl = s.get("worker_list")
    by = {w["name"]: w for w in wl}
    assert by[W(s, 1)]["num_running"] == 1 and list(by[W(s, 1)]["running"]) == [a]
    assert by[W(s, 2)]["num_pending"] == 2 and by[W(s, 2)]["num_uniques"] == 1
    assert [w["name"] for w in wl] == [W(s, 2), W(s, 1)]  # started, newest first


@scenario()
def disable_worker_effects(s):
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s, 1))
    s.add(b, W(s, 1))
    s.add(b, W(s, 2))
    assert gw(s, W(s, 1))["task_id"] == a
    s.get("disable_worker", worker=W(s, 1))
    r = s.tasks(status="PENDING")
    assert r[b]["workers"] == [W(s, 2)]
    done(s, a, W(s, 1))  # a disabled worker may still finish its running task
    assert status_of(s, a) == "DONE"
    s.get("disable_worker", worker=W(s, 9))  # unknown: created disabled
    s.get("worker_list")


# ---------------------------------------------------------------- task_list and friends

@scenario()
def task_list_upstream(s):
    root, mid, f, dis, run, leaf = (T(s, x) for x in ("Root", "Mid", "Fail", "Dis", "Run", "Leaf"))
    s.add(run, W(s, 2))
    gw(s, W(s, 2))
    fail(s, f, W(s), '"e"')
    s.add(dis, W(s), status="DISABLED")
    s.add(leaf, W(s))
    s.add(mid, W(s), deps=[f, run])
    s.add(root, W(s), deps=[mid, leaf])
    s.add(T(s, "Q"), W(s), deps=[dis, run])
    s.add(T(s, "R"), W(s), deps=[run])
    for up in ("", "UPSTREAM_RUNNING", "UPSTREAM_MISSING_INPUT", "UPSTREAM_FAILED", "UPSTREAM_DISABLED"):
        s.get("task_list", status="PENDING", upstream_status=up)
    r = s.get("task_list", status="PENDING", upstream_status="UPSTREAM_FAILED")
    assert sorted(r) == sorted([root, mid])
    r = s.get("task_list", status="PENDING", upstream_status="UPSTREAM_MISSING_INPUT")
    assert sorted(r) == [leaf]
    s.get("task_list", status="", upstream_status="UPSTREAM_RUNNING")


@scenario()
def task_list_search(s):
    s.add(T(s, "Alpha", "1"), W(s), family=s.p + "Alpha", params={"day": "2016-02-01", "num": "5"})
    s.add(T(s, "Beta", "1"), W(s), family=s.p + "Beta", params={"day": "2016-02-02"})
    r = s.get("task_list", search="alpha DAY=2016")
    assert list(r) == [T(s, "Alpha", "1")]
    s.get("task_list", search="num=5 ")
    s.get("task_list", search=s.p.lower())
    assert s.get("task_list", search="Alpha_1") == {}  # the id is not searched
    s.get("task_list", status="PENDING", search="2016-02")
    s.get("task_list", status="NOSUCH")
    s.post("task_list", status="PENDING", search="beta", limit=False)


@scenario()
def task_search_by_id(s):
    s.add(T(s, "A", "x"), W(s))
    s.add(T(s, "A", "y"), W(s), status="DONE")
    s.add(T(s, "B", "x"), W(s), status="FAILED")
    r = s.get("task_search", task_str=s.p + "A")
    assert sorted(r) == ["DONE", "PENDING"]
    s.get("task_search", task_str="_x")
    s.get("task_search", task_str=s.p.lower())


@scenario()
def dep_graph_variants(s):
    a, b, c, d = T(s, "A"), T(s, "B"), T(s, "C"), T(s, "D")
    s.add(a, W(s), deps=[b, c])
    s.add(b, W(s), deps=[d])
    s.add(c, W(s), deps=[d])
    s.add(d, W(s))
    done(s, d, W(s))
    g = s.get("dep_graph", task_id=a)
    assert sorted(g) == sorted([a, b, c, d]) and "display_name" in g[a] and "display_name" not in g[b]
    g = s.get("dep_graph", task_id=a, include_done=False)
    assert d not in g
    s.get("dep_graph", task_id=d, include_done=False)
    s.get("inverse_dep_graph", task_id=d)
    s.get("inverse_dep_graph", task_id=d, include_done=False)
    assert s.get("dep_graph", task_id=s.p + "nope") == {}
    assert s.get("inverse_dep_graph", task_id=s.p + "nope") == {}
    s.w.dep_graph(task_id=b)


@scenario()
def dep_graph_cycle_and_empty_family(s):
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s), deps=[b])
    s.add(b, W(s), deps=[a])
    s.get("dep_graph", task_id=a)
    s.w.add_task(task_id=s.p + "NoFam_1", worker=W(s), deps=[a])
    g = s.get("dep_graph", task_id=s.p + "NoFam_1")
    assert g[s.p + "NoFam_1"]["start_time"] == "UNKNOWN"
    s.get("inverse_dep_graph", task_id=a)


# ---------------------------------------------------------------- errors, re-enable, forgive, done

@scenario()
def fetch_error_shapes(s):
    a = T(s, "A")
    s.add(a, W(s), params={"x": "1"})
    s.get("fetch_error", task_id=a)
    s.add(a, W(s), status="FAILED", expl='"Traceback (most recent call last):\\n boom"')
    e = s.get("fetch_error", task_id=a)
    assert e["error"] == '"Traceback (most recent call last):\\n boom"' and e["taskFamily"] == s.p + "A"
    assert s.get("fetch_error", task_id=s.p + "nope") == {"taskId": s.p + "nope", "error": ""}
    s.post("fetch_error", task_id=a, extra_ignored=1)


@scenario(config={"scheduler": {"retry_count": "2", "disable_window": "3600"}})
def re_enable_auto_disabled(s):
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s), deps=[b])
    fail(s, a, W(s), '"1"')
    fail(s, a, W(s), '"2"')
    r = s.get("task_list", status="DISABLED")
    assert r[a]["re_enable_able"] is True
    fail(s, a, W(s), '"3"')  # ignored by an auto disable
    r = s.get("re_enable_task", task_id=a)
    assert r["status"] == "FAILED" and r["deps"] == [b]
    assert s.get("re_enable_task", task_id=a) == {}
    assert s.get("re_enable_task", task_id="nope") == {}
    s.get("task_list", status="FAILED")
    fail(s, a, W(s), '"4"')  # failures were cleared: one more is not enough
    assert s.get("task_list", status="FAILED")[a]


@scenario()
def forgive_failures_cases(s):
    a, b = T(s, "A"), T(s, "B")
    fail(s, a, W(s), '"x"')
    s.add(b, W(s))
    assert s.get("forgive_failures", task_id=a) == {"task_id": a, "status": "PENDING"}
    assert s.get("forgive_failures", task_id=b) == {"task_id": b, "status": "PENDING"}
    assert s.get("forgive_failures", task_id=s.p + "n") == {"task_id": s.p + "n", "status": None}
    s.get("forgive_failures")


@scenario()
def mark_as_done_cases(s):
    a, b, c, d = T(s, "A"), T(s, "B"), T(s, "C"), T(s, "D")
    fail(s, a, W(s), '"x"')
    s.add(b, W(s))
    s.add(c, W(s), status="DISABLED")
    s.add(d, W(s))
    s.add(T(s, "Z"), W(s, 2))
    assert gw(s, W(s))["task_id"] in (b, d)
    for t in (a, b, c, d, s.p + "nope"):
        s.get("mark_as_done", task_id=t)
    s.get("mark_as_done")
    s.tasks(status="DONE")
    s.tasks(status="PENDING")


# ---------------------------------------------------------------- status message, progress, resources

@scenario()
def status_message_progress(s):
    a = T(s, "A")
    assert s.get("get_task_status_message", task_id=a) == {"taskId": a, "statusMessage": ""}
    assert s.get("get_task_progress_percentage", task_id=a) == {"taskId": a, "progressPercentage": None}
    s.add(a, W(s))
    s.get("get_task_status_message", task_id=a)
    gw(s, W(s))
    s.w.set_task_status_message(a, "working 50%")
    s.w.set_task_progress_percentage(a, 50)
    assert s.get("get_task_status_message", task_id=a)["statusMessage"] == "working 50%"
    assert s.get("get_task_progress_percentage", task_id=a)["progressPercentage"] == 50
    s.w.set_task_status_message(a, {"structured": [1]})
    s.w.set_task_progress_percentage(a, 99.5)
    s.get("get_task_status_message", task_id=a)
    done(s, a, W(s))
    r = s.tasks(status="DONE")
    assert r[a]["status_message"] == {"structured": [1]} and r[a]["progress_percentage"] == 99.5
    s.w.set_task_status_message(s.p + "nope", "x")


@scenario()
def running_task_resources(s):
    a, b = T(s, "A"), T(s, "B")
    res = {s.p + "r1": 3, s.p + "r2": 2}
    s.w.update_resource(s.p + "r1", 5)
    s.w.update_resource(s.p + "r2", 5)
    s.add(a, W(s), resources=res)
    assert s.get("get_running_task_resources", task_id=a) == {"taskId": a, "resources": None}
    gw(s, W(s))
    assert s.get("get_running_task_resources", task_id=a)["resources"] == res
    s.w.decrease_running_task_resources(a, {s.p + "r1": 1, s.p + "r2": 5, s.p + "zz": 1})
    assert s.get("get_running_task_resources", task_id=a)["resources"] == {s.p + "r1": 2, s.p + "r2": 0}
    s.get("resource_list")
    s.tasks(status="RUNNING")
    s.w.decrease_running_task_resources(b, {s.p + "r1": 1})
    s.w.report_task_statistics(a, {"rows": 3})
    done(s, a, W(s))
    s.get("get_running_task_resources", task_id=a)
    s.get("resource_list")


@scenario()
def update_resource_validation(s):
    r = s.p + "res"
    for amount in (3, 1.3, -1, "2", None, True, 0):
        s.get("update_resource", resource=r, amount=amount)
        s.get("resource_list")
    assert s.w.update_resource(r, 4) is True
    assert s.w.update_resource(r, 2.5) is False
    s.post("update_resources", **{s.p + "x": 2, s.p + "y": 7})
    rl = s.get("resource_list")
    assert [x["name"] for x in rl] == [r, s.p + "x", s.p + "y"]


@scenario()
def resource_list_running(s):
    r = s.p + "cpu"
    s.w.update_resource(r, 4)
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s), resources={r: 1})
    s.add(b, W(s), resources={r: 2})
    gw(s, W(s))
    g = gw(s, W(s), current=[a])
    assert g["task_id"] == b
    rl = s.get("resource_list")
    assert rl[0]["num_used"] == 3 and rl[0]["num_consumer"] == 2
    s.w.add_task(task_id=a, worker=W(s), status="RUNNING", tracking_url="http://u")  # declared resources always replaced
    rl = s.get("resource_list")
    assert rl[0]["num_used"] == 3 and rl[0]["num_consumer"] == 1


# ---------------------------------------------------------------- misc

@scenario()
def misc_flags(s):
    assert s.get("has_task_history") is False
    assert s.get("is_pause_enabled") == {"enabled": True}
    s.w.is_paused()
    assert s.post("prune") is None
    assert s.post("update_metrics_task_started", task={"x": 1}) is None
    s.w.announce_scheduling_failure(task_name="T(x=1)", family="T", params={"x": "1"},
                                    expl="boom", owners=[], worker=W(s))
    s.post("announce_scheduling_failure", task_name="T", family="T", params={}, expl="", owners=[])
    s.w.report_task_statistics(s.p + "nope", {})


@scenario()
def rpc_infinity_and_nan(s):
    s.w.add_task_batcher(worker=W(s), task_family=s.p + "F", batched_args=["a"], max_batch_size=float("inf"))
    a = T(s, "A")
    s.add(a, W(s), params={"a": "1"})
    s.w.set_task_progress_percentage(a, float("inf"))
    s.get("get_task_progress_percentage", task_id=a)
    s.w.set_task_status_message(a, float("-inf"))
    s.get("get_task_status_message", task_id=a)


@scenario()
def visualiser_get_vs_post(s):
    a = T(s, "A")
    s.post("add_task", task_id=a, worker=W(s), family=s.p + "A", params={"q": "1"})
    s.get("add_task", task_id=T(s, "B"), worker=W(s), family=s.p + "B", deps=[a])
    s.get("task_list", status="PENDING")
    s.post("task_list", status="PENDING")
    s.get("task_list", status="PENDING", upstream_status="", search=None, max_shown_tasks=None, limit=True)


# ---------------------------------------------------------------- isolated: global state

@scenario(config={})
def pause_blocks_get_work(s):
    a = T(s, "A")
    s.add(a, W(s))
    assert s.get("is_paused") == {"paused": False}
    s.post("pause")
    assert s.get("is_paused") == {"paused": True}
    g = gw(s, W(s))
    assert g["task_id"] is None and g["n_pending_tasks"] == 1
    s.post("unpause")
    assert s.get("is_paused") == {"paused": False}
    assert gw(s, W(s))["task_id"] == a
    s.post("pause")
    g = gw(s, W(s), current=[])  # resends still happen while paused
    assert g["task_id"] == a


@scenario(config={"scheduler": {"pause_enabled": "false"}})
def pause_disabled(s):
    assert s.get("is_pause_enabled") == {"enabled": False}
    s.post("pause")
    assert s.get("is_paused") == {"paused": False}


@scenario(config={"scheduler": {"send_messages": "false"}})
def send_messages_disabled(s):
    a = T(s, "A")
    s.add(a, W(s), accepts_messages=True)
    gw(s, W(s))
    assert "accepts_messages" not in s.get("task_list", status="RUNNING")[a]
    assert s.get("send_scheduler_message", worker=W(s), task=a, content="x") == {"message_id": None}
    assert s.w.ping(worker=W(s)) == {"rpc_messages": []}


@scenario(config={"scheduler": {"max_shown_tasks": "3"}})
def task_list_limits(s):
    for i in range(5):
        s.add(T(s, "A", str(i)), W(s))
    s.add(T(s, "B", "1"), W(s), status="DONE")
    assert s.get("task_list", status="PENDING") == {"num_tasks": 5}
    assert s.get("task_list", status="PENDING", upstream_status="UPSTREAM_MISSING_INPUT") == {"num_tasks": -1}
    assert s.get("task_list", status="") == {"num_tasks": 6}
    assert len(s.get("task_list", status="PENDING", limit=False)) == 5
    s.get("task_list", status="PENDING", max_shown_tasks=10)
    s.get("task_list", status="DONE")
    s.get("task_list", status="PENDING", search="A")
    s.get("task_list", status="PENDING", search="_3")
    s.get("task_list", status="", search=s.p + "B")


@scenario(config={"scheduler": {"max_graph_nodes": "3"}})
def graph_limits(s):
    ids = [T(s, "C", str(i)) for i in range(6)]
    for i, t in enumerate(ids):
        s.add(t, W(s), deps=[ids[i + 1]] if i + 1 < len(ids) else [])
    g = s.get("dep_graph", task_id=ids[0])
    assert len(g) == 3
    s.get("inverse_dep_graph", task_id=ids[5])
    s.get("graph")
    s.w.graph()


@scenario(config={})
def graph_whole(s):
    a, b, c = T(s, "A"), T(s, "B"), T(s, "C")
    s.add(a, W(s), deps=[b])
    s.add(c, W(s), deps=[b])
    s.add(b, W(s))
    g = s.get("graph")
    assert sorted(g) == sorted([a, b, c])
    s.get("worker_list")
    s.get("task_search", task_str="")
    s.get("task_list")


@scenario(config={"resources": {"cpu": "2", "mem": "10"}})
def resources_config(s):
    ids = [T(s, "R", str(i)) for i in range(3)]
    for t in ids:
        s.add(t, W(s), resources={"cpu": 1, "mem": 3})
    got = [gw(s, W(s), current=[])["task_id"]]
    got.append(gw(s, W(s), current=got)["task_id"])
    g = gw(s, W(s), current=got)
    assert g["task_id"] is None and len(set(got)) == 2
    rl = s.get("resource_list")
    assert [(x["name"], x["num_total"], x["num_used"]) for x in rl] == [("cpu", 2, 2), ("mem", 10, 6)]
    done(s, got[0], W(s), resources={"cpu": 1, "mem": 3})
    assert gw(s, W(s), current=got[1:])["task_id"] not in (None, got[0], got[1])
    s.get("update_resource", resource="cpu", amount=0)
    s.get("resource_list")


@scenario(config={})
def resources_undeclared_capacity_one(s):
    a, b, c = T(s, "A"), T(s, "B"), T(s, "C")
    s.add(a, W(s, 1), resources={"undeclared": 1}, priority=2)
    s.add(b, W(s, 2), resources={"undeclared": 1}, priority=1)
    s.add(c, W(s, 2), resources={"undeclared": 2}, priority=3)
    assert gw(s, W(s, 1))["task_id"] == a
    assert gw(s, W(s, 2))["task_id"] is None
    s.get("resource_list")


@scenario(config={})
def greedy_reservation(s):
    hi, lo = T(s, "Hi"), T(s, "Lo")
    s.w.add_worker(worker=W(s, 2), info={"workers": 1})
    s.add(hi, W(s, 2), resources={"gpu": 1}, priority=10)
    s.add(lo, W(s, 1), resources={"gpu": 1}, priority=1)
    gw(s, W(s, 2), current=["other"])  # W2 recently asked for work: it reserves gpu for hi
    s.add(T(s, "Blocker"), W(s, 2), priority=0)
    g = gw(s, W(s, 1))
    assert g["task_id"] is None
    s.tasks(status="PENDING")


@scenario(config={})
def assistant_gets_any_runnable(s):
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s, 1))
    s.add(b, W(s, 1), runnable=False, deps=None)
    g = gw(s, W(s, 9), assistant=True)
    assert g["task_id"] == a
    s.get("worker_list")
    assert gw(s, W(s, 9), current=[a], assistant=True)["task_id"] is None


# ---------------------------------------------------------------- isolated: time-dependent

FAST = {"retry_delay": "1", "worker_disconnect_delay": "2", "remove_delay": "3",
        "disable_persist": "2", "stable_done_cooldown_secs": "0"}


@scenario(config={"scheduler": dict(FAST)})
def retry_delay_failed_to_pending(s):
    a = T(s, "A")
    s.add(a, W(s))
    gw(s, W(s))
    s.add(a, W(s), status="FAILED", runnable=None, deps=None, expl='"x"')
    s.get("task_list", status="FAILED")
    s.poll("task_list", {"status": "PENDING"}, lambda r: a in r)
    assert gw(s, W(s))["task_id"] == a


@scenario(config={"scheduler": dict(FAST, retry_delay="30")})
def worker_disconnect_fails_running(s):
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s, 1))
    s.add(a, W(s, 2))
    s.add(b, W(s, 1))
    gw(s, W(s, 1))
    # w2 keeps pinging, w1 goes silent: after worker_disconnect_delay prune fails a
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        s.server.rpc("ping", {"worker": W(s, 2)})
        if a in s._raw("task_list", {"status": "FAILED"}, "get", record=False):
            break
        time.sleep(0.1)
    r = s.get("task_list", status="FAILED")
    assert r[a]["worker_running"] is None
    wl = s.get("worker_list")
    assert [w["name"] for w in wl] == [W(s, 2)]
    r = s.get("task_list", status="PENDING")
    assert r[b]["workers"] == []


@scenario(config={"scheduler": dict(FAST)})
def remove_delay_drops_tasks(s):
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s), deps=[b])
    done(s, a, W(s))
    s.post("prune")
    s.poll("task_list", {"status": ""}, lambda r: a not in r and b not in r)
    s.get("worker_list")
    s.get("dep_graph", task_id=a)


@scenario(config={"scheduler": dict(FAST, retry_count="1")})
def disable_persist_reenables(s):
    a = T(s, "A")
    s.add(a, W(s))
    fail(s, a, W(s), '"x"')
    assert s.get("task_list", status="DISABLED")[a]["re_enable_able"] is True
    # keep the worker alive while waiting for disable_persist (2 s) and retry_delay (1 s)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        s.server.rpc("ping", {"worker": W(s)})
        if a in s._raw("task_list", {"status": "PENDING"}, "get", record=False):
            break
        time.sleep(0.1)
    s.get("task_list", status="PENDING")


@scenario(config={"scheduler": dict(FAST, stable_done_cooldown_secs="1")})
def done_cooldown_expires(s):
    a = T(s, "A")
    s.add(a, W(s))
    done(s, a, W(s))
    s.add(a, W(s))
    assert a in s.get("task_list", status="DONE")
    time.sleep(1.2)  # the cooldown is wall-clock time; nothing else to wait on
    s.add(a, W(s))
    assert a in s.get("task_list", status="PENDING")


@scenario(config={"scheduler": dict(FAST, retry_count="2", disable_window="1", retry_delay="100")})
def disable_window_forgets_old_failures(s):
    a = T(s, "A")
    s.add(a, W(s))
    fail(s, a, W(s), '"1"')
    time.sleep(1.2)  # let the first failure leave the 1 s window
    fail(s, a, W(s), '"2"')
    assert a in s.get("task_list", status="FAILED")
    fail(s, a, W(s), '"3"')
    assert a in s.get("task_list", status="DISABLED")


@scenario(config={"scheduler": dict(FAST, disable_hard_timeout="1", retry_delay="100")})
def disable_hard_timeout(s):
    a = T(s, "A")
    s.add(a, W(s))
    fail(s, a, W(s), '"1"')
    done(s, a, W(s))
    time.sleep(1.2)  # first_failure_time + hard timeout must pass (kept across a DONE)
    s.add(a, W(s))
    fail(s, a, W(s), '"2"')
    assert s.get("task_list", status="DISABLED")[a]["re_enable_able"] is True


@scenario(config={"scheduler": dict(FAST)})
def prune_keeps_assistant_running(s):
    a = T(s, "A")
    s.add(a, W(s, 1))
    g = gw(s, W(s, 9), assistant=True)
    assert g["task_id"] == a
    # w1 goes away, the assistant keeps pinging: its running task survives the prune
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        s.server.rpc("ping", {"worker": W(s, 9)})
        wl = s._raw("worker_list", {}, "get", record=False)
        if [w["name"] for w in wl] == [W(s, 9)]:
            break
        time.sleep(0.1)
    s.get("worker_list")
    assert a in s.get("task_list", status="RUNNING")


# ---------------------------------------------------------------- more edges (batches, resources, lifecycle)

def _batch(s, n=3, res=None, fam="B"):
    family = s.p + fam
    s.w.add_task_batcher(worker=W(s), task_family=family, batched_args=["d"])
    ids = [T(s, fam, str(i)) for i in range(n)]
    for i, t in enumerate(ids):
        s.add(t, W(s), family=family, params={"d": str(i)}, batchable=True, resources=res)
    g = gw(s, W(s))
    runner = s.p + fam + "_runner"
    s.w.add_task(task_id=runner, worker=W(s), status="RUNNING", family=family, module="diffmod",
                 params={"d": ",".join(str(i) for i in range(n))}, batch_id=g["batch_id"])
    return ids, runner, g


@scenario()
def batch_failure_propagates(s):
    ids, runner, g = _batch(s)
    fail(s, runner, W(s), family=s.p + "B", params={"d": "0,1,2"})
    r = s.tasks(status="FAILED")
    assert all(t in r for t in ids)
    for t in ids:
        s.get("fetch_error", task_id=t)
    s.get("task_list", status="FAILED", upstream_status="")


@scenario()
def batch_running_resources_shared(s):
    res = {s.p + "r": 1}
    s.w.update_resource(s.p + "r", 5)
    ids, runner, g = _batch(s, res=res)
    s.get("get_running_task_resources", task_id=runner)
    s.w.decrease_running_task_resources(runner, {s.p + "r": 1})
    for t in ids + [runner]:
        s.get("get_running_task_resources", task_id=t)
    s.tasks(status="BATCH_RUNNING")  # the batch members' declared resources shrink too
    s.get("resource_list")


@scenario()
def batch_tracking_url_and_mark_done(s):
    ids, runner, g = _batch(s, n=2)
    s.w.add_task(task_id=runner, worker=W(s), status="RUNNING", tracking_url="http://batch/1")
    r = s.tasks(status="BATCH_RUNNING")
    assert all(r[t]["tracking_url"] == "http://batch/1" for t in ids)
    assert s.get("mark_as_done", task_id=runner) == {"task_id": runner, "status": "DONE"}
    r = s.tasks(status="DONE")
    assert all(t in r for t in ids)


@scenario()
def batch_with_priority_and_deps(s):
    family = s.p + "B"
    s.w.add_task_batcher(worker=W(s), task_family=family, batched_args=["d"], max_batch_size=10)
    dep = T(s, "Dep")
    s.add(dep, W(s))
    ids = [T(s, "B", str(i)) for i in range(4)]
    for i, t in enumerate(ids):
        s.add(t, W(s), family=family, params={"d": str(i)}, batchable=True, priority=[1, 2, 1, 0][i],
              deps=[dep] if i == 3 else [])
    g = gw(s, W(s))  # the dependent member is not schedulable yet
    assert g["batch_task_ids"] == [ids[1], ids[0], ids[2]]
    s.tasks(status="PENDING")


@scenario()
def new_deps_unlock_running_other_worker(s):
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s, 1))
    s.add(a, W(s, 2))
    gw(s, W(s, 1))
    s.add(b, W(s, 2))
    s.add(a, W(s, 2), status="PENDING", deps=None, new_deps=[b])  # new_deps forces the update
    g = s.get("dep_graph", task_id=a)
    assert g[a]["status"] == "PENDING"
    s.w.count_pending(worker=W(s, 1))


@scenario()
def done_to_failed_and_unknown(s):
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s))
    done(s, a, W(s))
    fail(s, a, W(s))
    assert status_of(s, a) == "FAILED"
    s.add(b, W(s), status="UNKNOWN", runnable=False, deps=None)
    s.add(b, W(s))
    s.add(b, W(s), status="UNKNOWN", runnable=False, deps=None)
    assert status_of(s, b) == "UNKNOWN"
    s.get("task_list", status="UNKNOWN", upstream_status="UPSTREAM_MISSING_INPUT")


@scenario()
def failed_repeat_counts_and_placeholders(s):
    a, b = T(s, "A"), T(s, "B")
    s.add(a, W(s), deps=[b], priority=4)
    fail(s, a, W(s))
    fail(s, a, W(s))
    s.get("task_list", status="FAILED")
    s.get("task_list", status="UNKNOWN")
    s.add(b, W(s), priority=1)  # a placeholder keeps the higher inherited priority
    assert s.tasks(status="PENDING")[b]["priority"] == 4


@scenario()
def get_work_resources_trivial_vs_not(s):
    a, b, c = T(s, "A"), T(s, "B"), T(s, "C")
    r = s.p + "one"
    s.add(a, W(s, 1), resources={r: 1}, priority=5)
    s.add(b, W(s, 1), resources={r: 1}, priority=4)
    s.add(c, W(s, 1), priority=1)
    assert gw(s, W(s, 1))["task_id"] == a
    assert gw(s, W(s, 1), current=[a])["task_id"] == c  # b waits for the resource
    done(s, a, W(s, 1), resources={r: 1})
    assert gw(s, W(s, 1), current=[c])["task_id"] == b
    s.get("resource_list")


@scenario()
def worker_list_assistant_and_messages(s):
    s.w.add_worker(worker=W(s, 1), info={"workers": 2})
    s.w.get_work(worker=W(s, 1), host="h", assistant=True, current_tasks=[])
    s.get("send_scheduler_message", worker=W(s, 1), task=s.p + "T", content="c")
    s.w.set_worker_processes(worker=W(s, 1), n=5)
    wl = s.get("worker_list")
    assert wl[0]["assistant"] is True and wl[0]["num_unread_rpc_messages"] == 2
    p = s.w.ping(worker=W(s, 1))
    assert [m["name"] for m in p["rpc_messages"]] == ["dispatch_scheduler_message", "set_worker_processes"]


@scenario()
def task_list_status_buckets_after_changes(s):
    ids = [T(s, "S", str(i)) for i in range(4)]
    for t in ids:
        s.add(t, W(s))
    done(s, ids[2], W(s))
    done(s, ids[0], W(s))
    s.add(ids[1], W(s), status="DISABLED")
    s.get("task_list", status="DONE")
    s.get("task_list", status="")
    s.get("task_search", task_str=s.p)
    s.get("forgive_failures", task_id=ids[1])
    s.get("mark_as_done", task_id=ids[1])
    s.get("task_list", status="DONE")

"""Differential runner: play one scenario against the real luigid and luigid-rs, record every
reply, normalise only what is truly volatile, and compare the two transcripts step by step.

A scenario is a function `scenario(s)` where `s` is a `Side`:
  * `s.w.<rpc>(...)`   calls through luigi.rpc.RemoteScheduler (POST, every declared
                       parameter filled in, exactly as a Luigi worker does);
  * `s.get(m, **data)` calls as the visualiser does (GET ?data=<json>);
  * `s.post(m, **data)` a raw POST with exactly `data` (no parameter filling);
  * `s.poll(m, data, pred)` repeats an unrecorded call until `pred(reply)` holds (bounded),
                       then records the final reply once;
  * `s.p` is a per-scenario prefix for task, family, worker and resource names.
Assertions inside a scenario state luigid's behaviour (as luigi/scheduler.py has it); they
must hold on the oracle. On our side a failing assertion or error is recorded into the
transcript, so the comparison reports the first step where the two servers differ.
"""
import json
import os
import threading
import time

TIME_KEYS = {"last_active", "started", "time_running", "start_time", "last_updated"}
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "artifacts", "diff")


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _sort_key(v):
    return json.dumps(v, sort_keys=True)


def normalize(v, key=None):
    """Mask timestamps and message ids; compare deps as sets, running_tasks as multisets."""
    if key in TIME_KEYS and _is_num(v):
        return "<time>"
    if key == "message_id" and isinstance(v, str):
        return "<uuid>"
    if isinstance(v, dict):
        return {k: normalize(x, k) for k, x in v.items()}
    if isinstance(v, list):
        items = [normalize(x) for x in v]
        if key in ("deps", "running_tasks"):
            items.sort(key=_sort_key)
        return items
    if isinstance(v, float) and v != v:
        return "<NaN>"
    return v


def key_order(v):
    """Only the order of object keys, recursively (luigid's replies have a defined order)."""
    if isinstance(v, dict):
        return [[k, key_order(x)] for k, x in v.items()]
    if isinstance(v, list):
        return [key_order(x) for x in v]
    return 0


class Side:
    def __init__(self, server, prefix, scope=None, strict_order=False):
        self.strict_order = strict_order
        self.server = server
        self.p = prefix
        self.kind = server.kind
        self.oracle = server.is_oracle
        self.transcript = []
        self._scope = scope
        self.w = _Remote(self, server.remote())

    # --- recording ---
    def _scoped(self, method, reply):
        """On a shared server, keep only this scenario's tasks/workers/resources in replies."""
        if not self._scope or not isinstance(reply, (dict, list)):
            return reply
        p = self.p

        def tasks(m):
            return {k: v for k, v in m.items() if p in k} if isinstance(m, dict) else m

        if method in ("task_list", "graph") and isinstance(reply, dict) and "num_tasks" not in reply:
            return tasks(reply)
        if method == "task_search" and isinstance(reply, dict):
            out = {st: tasks(m) for st, m in reply.items()}
            return {st: m for st, m in out.items() if m}
        if method == "worker_list" and isinstance(reply, list):
            return [w for w in reply if p in str(w.get("name"))]
        if method == "resource_list" and isinstance(reply, list):
            return [r for r in reply if p in str(r.get("name"))]
        return reply

    def record(self, what, reply):
        entry = {"call": normalize(what), "reply": normalize(reply)}
        if self.strict_order:
            entry["key_order"] = key_order(entry["reply"])
        self.transcript.append(entry)

    def note(self, label, value):
        """Record a derived value (e.g. a computed set) for comparison."""
        self.record(["note", label], value)
        return value

    # --- calls ---
    def get(self, method, **data):
        return self._raw(method, data, "get")

    def post(self, method, **data):
        return self._raw(method, data, "post")

    def _raw(self, method, data, via, record=True):
        r = self.server.rpc_raw(method, data, via)
        if r.status == 200:
            reply = r.json()["response"]
            out = self._scoped(method, reply)
        else:
            reply = None
            out = {"http_status": r.status}
        if record:
            self.record([via, method, data], out)
        return out

    def status(self, method, data=None, via="post"):
        """Only the HTTP status of a call (used where the body is not compared)."""
        r = self.server.rpc_raw(method, data or {}, via)
        self.record(["status", via, method, data], r.status)
        return r.status

    def poll(self, method, data, pred, timeout=20.0, via="get"):
        deadline = time.monotonic() + timeout
        while True:
            reply = self._raw(method, data, via, record=False)
            if pred(reply):
                break
            if time.monotonic() > deadline:
                self.record(["poll-timeout", method, data], self._scoped(method, reply))
                raise AssertionError("%s: poll of %s %r timed out; last %r" % (self.kind, method, data, reply))
            time.sleep(0.05)
        self.record(["poll", via, method, data], self._scoped(method, reply))
        return reply

    # --- helpers building worker-style add_task calls ---
    def add(self, task_id, worker, family=None, params=None, module="diffmod", **kw):
        """add_task as a Luigi worker sends it (family/module/params always present)."""
        if family is None:
            family = task_id.split("_")[0] if "_" in task_id else task_id
        kw.setdefault("status", "PENDING")
        kw.setdefault("deps", [])
        kw.setdefault("runnable", True)
        params = params if params is not None else {}
        if params:
            kw.setdefault("param_visibilities", {k: 0 for k in params})
        kw.setdefault("retry_policy_dict", {"retry_count": None, "disable_hard_timeout": None, "disable_window": None})
        kw.setdefault("owners", [])
        return self.w.add_task(task_id=task_id, worker=worker, family=family, module=module, params=params, **kw)

    def tasks(self, **data):
        """task_list (visualiser style) with this scenario's ids only."""
        return self.get("task_list", **data)


class _Remote:
    """Proxy for luigi.rpc.RemoteScheduler that records each call and its reply."""

    def __init__(self, side, remote):
        self._side = side
        self._remote = remote

    def __getattr__(self, name):
        fn = getattr(self._remote, name)

        def call(*args, **kwargs):
            what = ["rpc", name, list(args), kwargs]
            try:
                reply = fn(*args, **kwargs)
            except Exception as e:  # RPCError: HTTP failure after the client's retries
                sub = getattr(e, "sub_exception", None)
                resp = getattr(sub, "response", None)
                status = getattr(resp, "status_code", None)
                self._side.record(what, {"rpc_error": status})
                return {"rpc_error": status}
            reply = self._side._scoped(name, reply)
            self._side.record(what, reply)
            return reply

        return call


def _run_side(scenario, side):
    try:
        scenario(side)
    except Exception as e:  # recorded; judged by comparison (ours) or raised (oracle)
        side.error = e
        side.transcript.append({"call": ["exception"], "reply": "%s: %s" % (type(e).__name__, e)})
    else:
        side.error = None


def _fmt(v):
    s = json.dumps(v, sort_keys=True, default=str)
    return s if len(s) < 3000 else s[:3000] + "...(truncated)"


def compare(name, a, b, max_shown=3):
    """Return None when the transcripts agree, else a precise description of the first
    differing steps (up to `max_shown`; later ones may be consequences of the first)."""
    out = []
    n = max(len(a.transcript), len(b.transcript))
    for i in range(n):
        ea = a.transcript[i] if i < len(a.transcript) else None
        eb = b.transcript[i] if i < len(b.transcript) else None
        if ea != eb:
            call = (ea or eb)["call"]
            what = "reply"
            if ea and eb and ea["reply"] == eb["reply"]:
                what = "key_order"  # same values, keys in another order
            out.append("step %d, call %s\n  expected (luigid) %s: %s\n  got (luigid-rs) %s: %s"
                       % (i, _fmt(call), what, _fmt(ea and ea[what]), what, _fmt(eb and eb[what])))
            if len(out) >= max_shown:
                break
    if not out:
        return None
    return "scenario %s differs at %s" % (name, "\n".join(out))


def _dump(name, sides):
    os.makedirs(ARTIFACTS, exist_ok=True)
    for s in sides:
        with open(os.path.join(ARTIFACTS, "%s.%s.json" % (name, s.kind)), "w") as f:
            json.dump(s.transcript, f, indent=1, default=str)


def run_scenario(name, scenario, pair, prefix=None, scope=False, strict_order=False):
    """Play `scenario` on every server of `pair` concurrently and compare the transcripts
    (with `strict_order`, the order of object keys too)."""
    prefix = prefix or name
    sides = [Side(srv, prefix, scope, strict_order) for srv in pair]
    threads = [threading.Thread(target=_run_side, args=(scenario, s), daemon=True) for s in sides]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    oracle = sides[0]
    if any(t.is_alive() for t in threads):
        _dump(name, sides)
        raise AssertionError("scenario %s did not finish within 120 s" % name)
    if oracle.error is not None:
        _dump(name, sides)
        tail = "\n".join(_fmt(e) for e in oracle.transcript[-4:])
        raise AssertionError(
            "scenario %s is wrong against the real luigid: %r\nlast steps:\n%s" % (name, oracle.error, tail)
        ) from oracle.error
    for srv in pair:
        if srv.proc.poll() is not None:
            raise AssertionError("%s exited with %s during scenario %s; log tail:\n%s"
                                 % (srv.kind, srv.proc.returncode, name, srv.log_tail()))
    if len(sides) > 1:
        diff = compare(name, oracle, sides[1])
        if diff:
            _dump(name, sides)
            raise AssertionError(diff)
    return sides

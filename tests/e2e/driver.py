"""Run real `luigi` worker processes against a scheduler and read the outcome back.

`Run(server, workdir)` owns one scheduler's run: a directory ($E2E_DIR) for outputs and
events, a worker-side luigi.cfg (LUIGI_CONFIG_PATH) with small waits, and helpers to start
workers, wait for them (bounded), read the API and parse the execution summary.
`run_both(pair, tmp, fn)` plays `fn(run)` against every scheduler of the pair at the same
time and returns their outcomes, raising when the oracle's run itself is wrong.
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from servers import write_cfg

HERE = os.path.dirname(os.path.abspath(__file__))

RETCODES = {"already_running": 10, "missing_data": 20, "not_run": 25, "task_failed": 30,
            "scheduling_error": 35, "unhandled_exception": 40}

WORKER_CFG = {
    "core": {"rpc_retry_wait": "1", "rpc_retry_attempts": "2", "rpc_connect_timeout": "10",
             "no_lock": "true", "log_level": "INFO", "autoload_range": "false"},
    "worker": {"ping_interval": "0.2", "wait_interval": "0.1", "wait_jitter": "0.05",
               "keep_alive": "false", "max_reschedules": "1"},
    "retcode": {k: str(v) for k, v in RETCODES.items()},
}

STATUSES = ("PENDING", "RUNNING", "BATCH_RUNNING", "DONE", "FAILED", "DISABLED", "UNKNOWN")


class Worker:
    def __init__(self, proc, out_path, err_path, label):
        self.proc = proc
        self.out_path = out_path
        self.err_path = err_path
        self.label = label

    @property
    def pid(self):
        return self.proc.pid

    def wait(self, timeout=90):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("worker %s did not finish within %s s:\n%s" % (self.label, timeout, self.stderr()[-3000:]))

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait()

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def summary(self):
        """The execution summary's bullet lines ("* 3 ran successfully:") and verdict line."""
        text = self.stderr()
        m = re.search(r"===== Luigi Execution Summary =====\n(.*?)===== Luigi Execution Summary =====", text, re.S)
        if not m:
            return None
        lines = [ln.strip() for ln in m.group(1).splitlines()]
        bullets = [re.sub(r"\s+", " ", ln) for ln in lines if ln.startswith("* ")]
        verdict = [ln for ln in lines if ln.startswith("This progress looks")]
        return {"bullets": bullets, "verdict": verdict[0] if verdict else None}


class Run:
    def __init__(self, server, workdir, worker_cfg=None):
        self.server = server
        self.kind = server.kind
        self.dir = str(workdir)
        os.makedirs(os.path.join(self.dir, "out"), exist_ok=True)
        self.workers = []
        self.cfg_overrides = worker_cfg or {}

    def _cfg(self, overrides):
        cfg = {s: dict(v) for s, v in WORKER_CFG.items()}
        for extra in (self.cfg_overrides, overrides or {}):
            for sec, vals in extra.items():
                cfg.setdefault(sec, {}).update(vals)
        path = os.path.join(self.dir, "client-%d.cfg" % len(self.workers))
        write_cfg(path, cfg)
        return path

    def start(self, task, *task_args, workers=1, assistant=False, cfg=None):
        """Start `python -m luigi --module pipelines <task> --scheduler-url URL --workers N`."""
        label = "%s-%d-%s" % (task, len(self.workers), self.kind)
        cfg_path = self._cfg(cfg)
        env = dict(os.environ)
        env.update({"PYTHONPATH": HERE + os.pathsep + env.get("PYTHONPATH", ""),
                    "LUIGI_CONFIG_PATH": cfg_path, "E2E_DIR": self.dir})
        args = [sys.executable, "-m", "luigi", "--module", "pipelines", task, *task_args,
                "--scheduler-url", self.server.url + "/", "--workers", str(workers), "--no-lock"]
        if assistant:
            args.append("--assistant")
        out = os.path.join(self.dir, label + ".out")
        err = os.path.join(self.dir, label + ".err")
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen(args, cwd=self.dir, env=env, stdout=fo, stderr=fe, start_new_session=True)
        w = Worker(proc, out, err, label)
        self.workers.append(w)
        return w

    def cleanup(self):
        for w in self.workers:
            w.kill()

    # --- API reads ---
    def rpc(self, method, **data):
        return self.server.rpc(method, data)

    def statuses(self):
        """{status: sorted task ids} over every status."""
        out = {}
        for st in STATUSES:
            ids = sorted(self.rpc("task_list", status=st, upstream_status="", limit=False))
            if ids:
                out[st] = ids
        return out

    def status_of(self, task_id):
        for st, ids in self.statuses().items():
            if task_id in ids:
                return st
        return None

    def task_ids(self, family):
        return sorted(t for ids in self.statuses().values() for t in ids if t.startswith(family + "_"))

    def poll(self, pred, what, timeout=45.0, interval=0.1):
        deadline = time.monotonic() + timeout
        while True:
            v = pred()
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError("%s: timed out waiting for %s" % (self.kind, what))
            time.sleep(interval)

    def wait_workers(self, workers, timeout=60, poke=False):
        """Wait for the workers to exit; with `poke`, call task_list meanwhile (it prunes, so
        FAILED tasks return to PENDING after retry_delay as luigid's 60 s timer would)."""
        deadline = time.monotonic() + timeout
        while any(w.proc.poll() is None for w in workers):
            if time.monotonic() > deadline:
                for w in workers:
                    w.kill()
                raise AssertionError("%s: workers did not finish:\n%s" % (
                    self.kind, "\n".join(w.stderr()[-2000:] for w in workers)))
            if poke:
                self.rpc("task_list", status="FAILED")
            time.sleep(0.1)
        return [w.proc.returncode for w in workers]

    def events(self):
        path = os.path.join(self.dir, "events.log")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(ln) for ln in f if ln.strip()]

    def touch(self, name):
        with open(os.path.join(self.dir, name), "a"):
            pass

    def exists(self, name):
        return os.path.exists(os.path.join(self.dir, name))


def run_both(pair, tmp_path, fn, worker_cfg=None):
    """Play `fn(run)` on each scheduler of `pair` concurrently; return [(kind, outcome)]."""
    runs = [Run(srv, os.path.join(str(tmp_path), "run-" + srv.kind), worker_cfg) for srv in pair]
    results = [None] * len(runs)
    errors = [None] * len(runs)

    def go(i):
        try:
            results[i] = fn(runs[i])
        except BaseException as e:  # reported below
            errors[i] = e

    threads = [threading.Thread(target=go, args=(i,), daemon=True) for i in range(len(runs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    for r in runs:
        r.cleanup()
    if errors[0] is not None:
        raise AssertionError("pipeline is wrong against the real luigid: %r" % errors[0]) from errors[0]
    if len(runs) > 1:
        if errors[1] is not None:
            raise AssertionError("luigid-rs run failed: %r (luigid outcome: %s)" % (
                errors[1], json.dumps(results[0], sort_keys=True, default=str)[:3000])) from errors[1]
        if results[0] != results[1]:
            raise AssertionError("outcomes differ\n  expected (luigid): %s\n  got (luigid-rs): %s" % (
                json.dumps(results[0], sort_keys=True, default=str)[:4000],
                json.dumps(results[1], sort_keys=True, default=str)[:4000]))
    return results

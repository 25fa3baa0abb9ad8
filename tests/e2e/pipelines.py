"""Luigi tasks run by real `luigi` worker processes in the e2e suite.

Every task writes its output and its events under $E2E_DIR (one directory per scheduler
under test), so task ids are the same against both schedulers and the outcomes compare.
Events are JSON lines appended to $E2E_DIR/events.log: {"task", "event", "t", "pid", ...}.
Tasks that must block (batch, status message, worker death) wait for a file the test
creates, with a bound, never for a fixed time.
"""
import json
import os
import time

import luigi


def _dir():
    return os.environ["E2E_DIR"]


def log_event(task, event, **extra):
    rec = dict(task=task.task_id, event=event, t=time.time(), pid=os.getpid(), **extra)
    line = (json.dumps(rec) + "\n").encode()
    fd = os.open(os.path.join(_dir(), "events.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # one O_APPEND write: atomic for short lines
    finally:
        os.close(fd)


def wait_for_file(name, timeout=60.0):
    path = os.path.join(_dir(), name)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for %s" % name)
        time.sleep(0.02)


def touch(name):
    with open(os.path.join(_dir(), name), "a"):
        pass


class Logged(luigi.Task):
    """Output under $E2E_DIR/out/<task_id>; logs start and end around `work()`."""

    def output(self):
        return luigi.LocalTarget(os.path.join(_dir(), "out", self.task_id))

    def work(self):
        pass

    def run(self):
        log_event(self, "start")
        self.work()
        with self.output().open("w") as f:
            f.write("done")
        log_event(self, "end")


class Noop(luigi.Task):
    """Always complete: lets an assistant start without scheduling anything."""

    def complete(self):
        return True


# ---- (1) a DAG of 51 tasks with fan-out and fan-in

class Leaf(Logged):
    i = luigi.IntParameter()

    def work(self):
        time.sleep(0.01)


class Mid(Logged):
    j = luigi.IntParameter()

    def requires(self):
        return [Leaf(i=self.j), Leaf(i=(self.j + 1) % 20), Leaf(i=(self.j + 7) % 20)]


class Agg(Logged):
    k = luigi.IntParameter()

    def requires(self):
        return [Mid(j=2 * self.k), Mid(j=2 * self.k + 1)]


class Top(Logged):
    def requires(self):
        return [Agg(k=k) for k in range(10)]


# ---- (2) failures

class FlakyOnce(Logged):
    def work(self):
        marker = os.path.join(_dir(), "flaky_failed_once")
        if not os.path.exists(marker):
            touch("flaky_failed_once")
            raise RuntimeError("flaky-once-marker: first attempt fails")


class AlwaysFails(Logged):
    def work(self):
        if not os.path.exists(os.path.join(_dir(), "allow_always")):
            raise RuntimeError("always-fails-marker")


class FailRoot(Logged):
    def requires(self):
        return [FlakyOnce(), AlwaysFails()]


class ForgiveMe(Logged):
    def work(self):
        if not os.path.exists(os.path.join(_dir(), "allow_forgive")):
            raise RuntimeError("forgive-me-marker")


# ---- (3) a capacity-1 resource

class Locked(Logged):
    i = luigi.IntParameter()
    resources = {"lock": 1}

    def work(self):
        time.sleep(0.15)


class LockRoot(Logged):
    def requires(self):
        return [Locked(i=i) for i in range(6)]


# ---- (4) batching

class Batchy(luigi.Task):
    d = luigi.Parameter(batch_method=",".join)

    def output(self):
        return [luigi.LocalTarget(os.path.join(_dir(), "out", "Batchy-" + d)) for d in self.d.split(",")]

    def run(self):
        log_event(self, "start", d=self.d)
        wait_for_file("release_batch")
        for t in self.output():
            with t.open("w") as f:
                f.write("done")
        log_event(self, "end", d=self.d)


class BatchRoot(Logged):
    def requires(self):
        return [Batchy(d=d) for d in "abcde"]


# ---- (5) an external dependency that does not exist

class Missing(luigi.ExternalTask):
    def output(self):
        return luigi.LocalTarget(os.path.join(_dir(), "never-there"))


class NeedsMissing(Logged):
    def requires(self):
        return Missing()


# ---- (6) dynamic dependencies, status message and progress

class DynChild(Logged):
    n = luigi.IntParameter()


class Dyn(Logged):
    def run(self):
        log_event(self, "start")
        yield [DynChild(n=n) for n in range(3)]
        self.set_status_message("waiting for go")
        self.set_progress_percentage(42)
        touch("dyn_ready")
        wait_for_file("dyn_go")
        with self.output().open("w") as f:
            f.write("done")
        log_event(self, "end")


# ---- (7) a worker killed mid-task

class Slow(Logged):
    def work(self):
        touch("slow_started_%d" % os.getpid())
        wait_for_file("slow_release", timeout=120)


# ---- (8) tasks for an assistant

class AssistMe(Logged):
    i = luigi.IntParameter()


class AssistRoot(Logged):
    def requires(self):
        return [AssistMe(i=i) for i in range(4)]


# ---- (9) priorities with one slot

class Prio(Logged):
    p = luigi.IntParameter()

    @property
    def priority(self):
        return self.p


class PrioRoot(Logged):
    def requires(self):
        return [Prio(p=p) for p in (1, 5, 3, 9, 2, 7)]


# ---- pause

class PauseLeaf(Logged):
    i = luigi.IntParameter()


class PauseRoot(Logged):
    def requires(self):
        return [PauseLeaf(i=i) for i in range(3)]

"""The state on a real, tiny filesystem that fills up: nothing acknowledged is ever lost.

Each test mounts a size-limited tmpfs (CI runs as root). Where mounting is impossible the
test fails under CI=true and is skipped elsewhere, saying why: it never passes silently.

- In `always` and `everysec`, add_task calls are sent until the disk is full: every call
  is answered 200 or 503 (with Retry-After and a JSON error); reads keep working; after
  kill -9 and a restart the state holds exactly the acknowledged tasks, none refused.
- Space comes back without a restart: writes resume on their own (a fresh journal
  generation), one log line when writes fail and one when they recover.
- `off` (luigid's mode): nothing is journaled, a failed final snapshot is an error exit
  that leaves the previous snapshot in place.
- A damaged journal stops the start (file, byte offset); a second server on one state
  exits non-zero naming the state and the first server's PID.
- Real luigi workers run a pipeline across a 20 s full-disk window and finish, every task
  run once.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.parse

import pytest

from servers import rs_binary, start_luigid_rs, write_cfg

PAD = "x" * 2000  # a large parameter: the journal fills in hundreds of calls, not thousands


class TinyFs:
    """A tmpfs of `size` mounted on a fresh directory; `fill()` takes what is left."""

    def __init__(self, size):
        self.path = tempfile.mkdtemp(prefix="luigid-rs-fullfs-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", self.path],
                           capture_output=True, text=True)
        if r.returncode != 0:
            os.rmdir(self.path)
            why = "cannot mount a tmpfs (%s): %s" % (r.returncode, r.stderr.strip())
            if os.environ.get("CI"):
                pytest.fail(why + " -- CI runs as root and must be able to")
            pytest.skip(why)
        self.filler = os.path.join(self.path, "filler")

    def fill(self):
        """Write a filler file until the disk is full (bounded by the fs size)."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for n in (65536, 4096, 512, 64, 1):
                while True:
                    try:
                        os.write(fd, b"\0" * n)
                    except OSError:
                        break
        finally:
            os.close(fd)

    def free(self):
        os.unlink(self.filler)

    def close(self):
        subprocess.run(["umount", "-l", self.path], capture_output=True)
        try:
            os.rmdir(self.path)
        except OSError:
            pass


@pytest.fixture
def tinyfs():
    fss = []

    def make(size="1m"):
        fs = TinyFs(size)
        fss.append(fs)
        return fs

    yield make
    for fs in fss:
        fs.close()


class Client:
    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, method, args):
        body = urllib.parse.urlencode({"data": json.dumps(args)})
        self.conn.request("POST", "/api/" + method, body=body,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = self.conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()

    def get(self, path, method="GET"):
        self.conn.request(method, path)
        r = self.conn.getresponse()
        return r.status, r.read()

    def close(self):
        self.conn.close()


def add(c, i):
    return c.post("add_task", {"worker": "w", "task_id": "T%05d" % i, "family": "T",
                               "params": {"i": str(i), "pad": PAD}, "status": "PENDING"})


def task_ids(c):
    st, body = c.get("/api/task_list?data=" + urllib.parse.quote(json.dumps({"status": "PENDING"})))
    assert st == 200, body
    return set(json.loads(body)["response"])


def metric(c, name):
    st, body = c.get("/metrics")
    assert st == 200
    m = re.search(r"^%s (\S+)$" % re.escape(name), body.decode(), re.M)
    assert m, name
    return float(m.group(1))


def start(tmp_path, fs, durability, name="rs"):
    cfg = {"luigid_rs": {"durability": durability}}
    return start_luigid_rs(tmp_path / name, config=cfg,
                           extra_args=["--state-path", os.path.join(fs.path, "state.json")],
                           env={"RUST_LOG": "info"})


def fill_until_refused(c, limit=5000):
    """add_task until the first 503 (bounded); returns (acknowledged ids, refused ids)."""
    acked, refused = set(), set()
    for i in range(limit):
        st, hdrs, body = add(c, i)
        tid = "T%05d" % i
        if st == 200:
            acked.add(tid)
            continue
        assert st == 503, (st, body)
        assert hdrs.get("Retry-After") == "1", hdrs
        assert "error" in json.loads(body), body
        refused.add(tid)
        if len(refused) >= 20:
            return acked, refused
    raise AssertionError("the disk never filled after %d adds" % limit)


@pytest.mark.parametrize("durability", ["always", "everysec"])
def test_full_disk_refuses_and_loses_nothing_acknowledged(tmp_path, tinyfs, durability):
    fs = tinyfs("1m")
    srv = start(tmp_path, fs, durability)
    c = Client(srv.port)
    try:
        fs.fill()
        acked, refused = fill_until_refused(c)
        assert acked, "some adds fit in the reserved journal space"
        # Reads keep working while writes are refused.
        assert c.get("/", "HEAD")[0] == 204
        assert task_ids(c) == acked, "refused calls were never applied"
        assert metric(c, "luigid_state_writes_blocked") == 1.0
        assert metric(c, "luigid_state_write_refused_total") >= len(refused)
        st, _ = c.get("/static/visualiser/index.html")
        assert st == 200
    finally:
        c.close()
        srv.kill()  # kill -9, on a full disk
    srv2 = start(tmp_path, fs, durability, name="rs2")
    c = Client(srv2.port)
    try:
        assert task_ids(c) == acked, "after kill -9: exactly the acknowledged tasks"
    finally:
        c.close()
        srv2.kill()
    log = srv.log_tail(200000)
    assert log.count("state writes failing") == 1, log[-3000:]


def test_writes_resume_when_space_returns_without_a_restart(tmp_path, tinyfs):
    fs = tinyfs("1m")
    srv = start(tmp_path, fs, "always")
    c = Client(srv.port)
    try:
        fs.fill()
        acked, refused = fill_until_refused(c)
        fs.free()
        # The retry timer runs every second: bounded wait for the first 200.
        deadline = time.monotonic() + 15
        i = 100000
        while True:
            st, _, body = add(c, i)
            if st == 200:
                acked.add("T%05d" % i)
                break
            assert st == 503, body
            assert time.monotonic() < deadline, "writes never resumed"
            time.sleep(0.2)
        for j in range(i + 1, i + 50):
            st, _, body = add(c, j)
            assert st == 200, body
            acked.add("T%05d" % j)
        assert metric(c, "luigid_state_writes_blocked") == 0.0
        assert task_ids(c) == acked
    finally:
        c.close()
        srv.kill()
    log = srv.log_tail(400000)
    assert log.count("state writes failing") == 1, log[-3000:]
    assert log.count("state writes work again") == 1, log[-3000:]
    srv2 = start(tmp_path, fs, "always", name="rs2")
    c = Client(srv2.port)
    try:
        assert task_ids(c) == acked
        assert "dropped" not in srv2.log_tail(), "no torn record anywhere"
    finally:
        c.close()
        srv2.kill()


def test_off_mode_reports_a_failed_final_snapshot_and_keeps_the_old_one(tmp_path, tinyfs):
    fs = tinyfs("1m")
    srv = start(tmp_path, fs, "off")
    c = Client(srv.port)
    for i in range(3):
        assert add(c, i)[0] == 200
    c.close()
    assert srv.stop() == 0
    srv = start(tmp_path, fs, "off", name="rs2")
    c = Client(srv.port)
    for i in range(3, 400):
        assert add(c, i)[0] == 200, "off: nothing is journaled, nothing refused"
    c.close()
    fs.fill()
    assert srv.stop() == 1, "a failed final snapshot is an error exit"
    assert "without saving its final snapshot" in srv.log_tail()
    srv = start(tmp_path, fs, "off", name="rs3")
    c = Client(srv.port)
    try:
        assert task_ids(c) == {"T%05d" % i for i in range(3)}, "the previous snapshot is intact"
    finally:
        c.close()
        srv.kill()


def test_damaged_journal_stops_the_start_and_check_state_repairs(tmp_path):
    state = tmp_path / "state" / "state.json"
    state.parent.mkdir()
    srv = start_luigid_rs(tmp_path / "a", config={"luigid_rs": {"durability": "always"}},
                          extra_args=["--state-path", str(state)])
    c = Client(srv.port)
    for i in range(20):
        assert add(c, i)[0] == 200
    c.close()
    srv.kill()
    journal = str(state) + ".journal.0"
    data = bytearray(open(journal, "rb").read())
    off = len(data) // 2
    data[off] ^= 0x40
    open(journal, "wb").write(bytes(data))
    before = sorted(os.listdir(state.parent))
    env = dict(os.environ, LUIGI_CONFIG_PATH=str(tmp_path / "none.cfg"))
    r = subprocess.run([rs_binary(), "--state-path", str(state), "--port", "0"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode != 0
    assert "state.json.journal.0" in r.stderr and "byte " in r.stderr, r.stderr
    assert bytes(data) == open(journal, "rb").read(), "left untouched"
    assert sorted(os.listdir(state.parent)) == before
    r = subprocess.run([rs_binary(), "check-state", str(state)], capture_output=True, text=True)
    assert r.returncode == 1 and "DAMAGED" in r.stdout, r.stdout
    fixed = tmp_path / "fixed" / "state.json"
    fixed.parent.mkdir()
    r = subprocess.run([rs_binary(), "check-state", str(state), "--repair", str(fixed)],
                       capture_output=True, text=True)
    assert "kept 19 records" in r.stdout, r.stdout
    srv = start_luigid_rs(tmp_path / "b", extra_args=["--state-path", str(fixed)])
    c = Client(srv.port)
    try:
        assert len(task_ids(c)) == 19
    finally:
        c.close()
        srv.kill()


def test_a_second_server_on_the_same_state_exits_and_the_first_is_unaffected(tmp_path):
    state = tmp_path / "state.json"
    first = start_luigid_rs(tmp_path / "a", extra_args=["--state-path", str(state)])
    env = dict(os.environ, LUIGI_CONFIG_PATH=str(tmp_path / "none.cfg"))
    r = subprocess.run([rs_binary(), "--state-path", str(state), "--port", "0"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode != 0
    assert str(first.proc.pid) in r.stderr and str(state) in r.stderr, r.stderr
    c = Client(first.port)
    try:
        assert add(c, 1)[0] == 200
        assert task_ids(c) == {"T00001"}
    finally:
        c.close()
    first.kill()
    # kill -9 leaves nothing to clean up: the next server starts.
    again = start_luigid_rs(tmp_path / "b", extra_args=["--state-path", str(state)])
    c = Client(again.port)
    try:
        assert task_ids(c) == {"T00001"}
    finally:
        c.close()
        again.kill()


def test_an_empty_state_file_is_an_empty_state(tmp_path):
    state = tmp_path / "state.pickle"
    state.write_bytes(b"")
    srv = start_luigid_rs(tmp_path / "a", extra_args=["--state-path", str(state)])
    c = Client(srv.port)
    try:
        assert task_ids(c) == set()
    finally:
        c.close()
        srv.kill()


PIPELINE = textwrap.dedent('''
    import os, sys, time
    import luigi

    OUT = os.environ["PIPE_OUT"]

    class Step(luigi.Task):
        n = luigi.IntParameter()
        pad = luigi.Parameter(default="%s")

        def requires(self):
            return [Step(n=self.n - 1)] if self.n %% 5 else []

        def output(self):
            return luigi.LocalTarget(os.path.join(OUT, "step-%%d" %% self.n))

        def run(self):
            with open(os.path.join(OUT, "runs.log"), "a") as f:
                f.write("%%d\\n" %% self.n)
            time.sleep(0.3)
            with self.output().open("w") as f:
                f.write("done")

    if __name__ == "__main__":
        ok = luigi.build([Step(n=i) for i in range(30)], workers=3, detailed_summary=False)
        sys.exit(0 if ok else 1)
''') % PAD


def test_luigi_pipeline_survives_a_20_second_full_disk(tmp_path, tinyfs):
    fs = tinyfs("2m")
    srv = start(tmp_path, fs, "always")
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "pipeline.py"
    script.write_text(PIPELINE)
    cfg = tmp_path / "worker.cfg"
    write_cfg(str(cfg), {"core": {"scheduler_url": srv.url, "rpc_retry_attempts": "60",
                                  "rpc_retry_wait": "1", "no_lock": "true"},
                         "worker": {"ping_interval": "1", "wait_interval": "0.2",
                                    "keep_alive": "true"}})
    env = dict(os.environ, LUIGI_CONFIG_PATH=str(cfg), PIPE_OUT=str(out))
    log_path = tmp_path / "worker.log"
    log = open(log_path, "wb")
    worker = subprocess.Popen([sys.executable, str(script)], env=env, cwd=str(tmp_path),
                              stdout=log, stderr=subprocess.STDOUT)
    log.close()
    window = {}

    def outage():
        runs = out / "runs.log"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if runs.exists() and len(runs.read_text().split()) >= 3:
                break
            time.sleep(0.05)
        fs.fill()
        window["start"] = time.monotonic()
        time.sleep(20)
        fs.free()
        window["end"] = time.monotonic()

    t = threading.Thread(target=outage)
    t.start()
    try:
        rc = worker.wait(timeout=240)
        c = Client(srv.port)
        refused = metric(c, "luigid_state_write_refused_total")
        c.close()
    finally:
        if worker.poll() is None:
            worker.kill()
        t.join(timeout=60)
        srv.kill()
    output = log_path.read_text(errors="replace")
    assert rc == 0, output[-4000:]
    runs = (out / "runs.log").read_text().split()
    assert sorted(int(r) for r in runs) == list(range(30)), "every task run exactly once"
    assert refused > 0, "the window refused calls (the reserve ran out)"
    assert "end" in window

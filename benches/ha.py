#!/usr/bin/env python3
"""High-availability benchmark (`make bench-ha`, also run by `make bench`):

1. add_task cost with the state in local files against the state in PostgreSQL
   (`[luigid_rs] state_store`), for durability = always and everysec;
2. failover time: a pair sharing a PostgreSQL state store holding FILL tasks, the leader
   SIGKILLed, time until the standby answers the health check (HEAD / -> 204) as leader.

PostgreSQL is a throwaway server in a temp dir on a free port (tests/history_db/
dbservers.py; `make db-servers` installs it), restarted with fsync on (the default). Environment: LUIGID_RS_BIN, LOADGEN (the
loadgen bench executable), BENCH_QUICK=1 (2 s runs, 2,000 tasks, 2 failovers).
Results are appended to bench-results/ha-<time>.jsonl and printed as a table.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "history_db"))

import dbservers  # noqa: E402

RS_BIN = os.environ.get("LUIGID_RS_BIN", os.path.join(REPO, "target", "release", "luigid-rs"))
LOADGEN = os.environ["LOADGEN"]
QUICK = os.environ.get("BENCH_QUICK", "0") == "1"
DURATION = 2 if QUICK else 8
FILL = 2000 if QUICK else 20000
FAILOVERS = 2 if QUICK else 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("HEAD", "/")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def wait_health(port, want, limit=60.0, step=0.005):
    """Seconds until HEAD / answers one of `want`; fails after `limit` seconds."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if health(port) in want:
            return time.monotonic() - t0
        time.sleep(step)
    raise SystemExit("ha.py: port %d did not answer %s within %.0f s" % (port, want, limit))


class Node:
    def __init__(self, tmp, name, lines):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        cfg = os.path.join(self.dir, "luigi.cfg")
        with open(cfg, "w") as f:
            f.write("[luigid_rs]\nsnapshot_interval = 100000\n" + "".join(l + "\n" for l in lines))
        env = dict(os.environ, LUIGI_CONFIG_PATH=cfg, RUST_LOG="warn", TMPDIR=self.dir)
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen(
            [RS_BIN, "--address", "127.0.0.1", "--port", str(self.port),
             "--state-path", os.path.join(self.dir, "state.json")],
            env=env, stdout=self.log, stderr=self.log)
        wait_health(self.port, (204, 503))

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def load(node, name, workload, out, *args):
    p = subprocess.run([LOADGEN, "run", "--addr", "127.0.0.1:%d" % node.port, "--pid",
                        str(node.proc.pid), "--server", "luigid-rs", "--name", name,
                        "--workload", workload, "--out", out] + list(args),
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise SystemExit("loadgen failed: " + p.stderr[-2000:])
    with open(out) as f:
        return json.loads(f.read().splitlines()[-1])


def main():
    os.makedirs(os.path.join(REPO, "bench-results"), exist_ok=True)
    out = os.path.join(REPO, "bench-results", "ha-%s.jsonl" % time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    pg = dbservers.start("postgresql")
    # The test servers run with fsync=off; a commit here must reach the disk, as the
    # local journal's fdatasync does, or the comparison says nothing.
    pg.stop()
    pg._run(["pg_ctl", "-D", pg.data, "-o", "-p %d -k %s -c listen_addresses=127.0.0.1"
             % (pg.port, pg.dir), "-l", os.path.join(pg.dir, "log"), "-w", "-t", "60", "start"],
            timeout=90)
    tmp = tempfile.mkdtemp(prefix="bench-ha-")
    rows = []
    try:
        def store():
            db = "bench_" + uuid.uuid4().hex[:8]
            pg.create_db(db)
            return "state_store = " + pg.url(db, scheme="postgresql")

        for mode in ("always", "everysec"):
            for where in ("files", "postgresql"):
                lines = ["durability = " + mode]
                if where == "postgresql":
                    lines.append(store())
                n = Node(tmp, "%s_%s" % (where, mode), lines)
                try:
                    r = load(n, "add_task_%s_%s" % (where, mode), "add_task", out,
                             "--duration", str(DURATION))
                finally:
                    n.stop()
                rows.append("add_task  %-10s %-9s %8.0f req/s  p50 %6s us  p99 %7s us" % (
                    where, mode, r["req_per_s"], r["lat_us"]["p50"], r["lat_us"]["p99"]))
        # Failover: the pair shares one store holding FILL tasks; the leader is killed.
        url = store()
        a = Node(tmp, "pair_a", ["durability = always", url, "ha_check_interval = 1"])
        b = Node(tmp, "pair_b", ["durability = always", url, "ha_check_interval = 1"])
        load(a, "ha_fill", "fill", out, "--tasks", str(FILL))
        times = []
        for i in range(FAILOVERS):
            leader, standby = (a, b) if health(a.port) == 204 else (b, a)
            leader.stop(signal.SIGKILL)
            times.append(wait_health(standby.port, (204,)))
            with open(out, "a") as f:
                f.write(json.dumps({"server": "luigid-rs", "workload": "ha_failover",
                                    "tasks": FILL, "failover_s": times[-1]}) + "\n")
            # The killed one comes back as the standby of the next round.
            again = Node(tmp, "pair_%d" % i, ["durability = always", url, "ha_check_interval = 1"])
            if leader is a:
                a = again
            else:
                b = again
        a.stop()
        b.stop()
        rows.append("failover  %d tasks, ha_check_interval 1 s: %s s (max %.2f s)" % (
            FILL, " ".join("%.2f" % t for t in times), max(times)))
    finally:
        pg.destroy()
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(rows))
    print("results: " + out)


if __name__ == "__main__":
    main()

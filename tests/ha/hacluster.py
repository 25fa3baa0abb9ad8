"""Parts of an active/standby luigid-rs pair for the tests: the servers sharing a
PostgreSQL state store, and HAProxy in front of them, each started in a temp dir on free
loopback ports (Debian's `haproxy`; `make db-servers` installs it with PostgreSQL).

A test that cannot get HAProxy or PostgreSQL FAILS when CI=true and is skipped otherwise.
"""
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "history_db"))

import dbservers  # noqa: E402
from servers import _spawn, free_port  # noqa: E402


def wait_for(fn, timeout, what, step=0.02):
    """Poll `fn` until it returns a true value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # not there yet
            last = e
        time.sleep(step)
    raise AssertionError("timed out after %.1f s waiting for %s (last error: %r)" % (timeout, what, last))


def request(port, method, path, body=None, timeout=5):
    """(status, headers dict with lower-case names, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def rpc(port, method, data, timeout=5):
    """POST /api/<method> as luigi's RemoteScheduler does: (status, decoded body or None)."""
    body = urllib.parse.urlencode({"data": json.dumps(data)})
    status, _, raw = request(port, "POST", "/api/" + method, body, timeout)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, None


def health(port):
    """The status of the load balancer's check, HEAD /."""
    return request(port, "HEAD", "/", timeout=2)[0]


class Node:
    """One luigid-rs with the shared state store."""

    def __init__(self, workdir, store_url, extra=None):
        self.workdir = str(workdir)
        self.store_url = store_url
        self.extra = extra or {}
        self.srv = None

    def start(self):
        cfg = {
            "luigid_rs": dict({
                "state_store": self.store_url,
                "durability": "always",
                "ha_check_interval": "0.2",
            }, **self.extra),
        }
        # TMPDIR: the snapshot spool goes with the test's directory, even after a SIGKILL.
        self.srv = _spawn("luigid-rs", self.workdir, cfg, None, (),
                          {"RUST_LOG": "info", "TMPDIR": self.workdir})
        # Up when it answers the health check at all: 204 as leader, 503 as standby.
        wait_for(lambda: self.alive() and health(self.port) in (204, 503), 30,
                 "luigid-rs to listen")
        return self

    def alive(self):
        if self.srv.proc.poll() is not None:
            raise AssertionError("luigid-rs exited with %s; log:\n%s"
                                 % (self.srv.proc.returncode, self.srv.log_tail()))
        return True

    @property
    def port(self):
        return self.srv.port

    def is_leader(self):
        return health(self.port) == 204

    def kill(self):
        self.srv.kill()

    def stop(self):
        if self.srv is not None:
            self.srv.stop()

    def metrics(self):
        status, _, body = request(self.port, "GET", "/metrics")
        assert status == 200
        out = {}
        for line in body.decode().splitlines():
            if line.startswith("luigid_rs_ha_") and " " in line:
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def log(self):
        return self.srv.log_tail(20000)


class HAProxy:
    """HAProxy in front of the nodes, health-checking them with HEAD / (204 = leader)."""

    def __init__(self, dir, node_ports):
        exe = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
        if not exe:
            dbservers.unavailable("HAProxy is not installed (make db-servers)")
        self.port = free_port()
        self.dir = str(dir)
        os.makedirs(self.dir, exist_ok=True)
        servers = "\n".join("    server n%d 127.0.0.1:%d check" % (i, p) for i, p in enumerate(node_ports))
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(REFERENCE_CONFIG % {"port": self.port, "servers": servers})
        self.log = open(os.path.join(self.dir, "haproxy.log"), "ab")
        self.proc = subprocess.Popen([exe, "-db", "-f", self.cfg], stdout=self.log, stderr=self.log)
        wait_for(lambda: self._up(), 15, "HAProxy to listen")

    def _up(self):
        if self.proc.poll() is not None:
            with open(os.path.join(self.dir, "haproxy.log"), "rb") as f:
                raise AssertionError("haproxy exited: " + f.read()[-3000:].decode("utf-8", "replace"))
        return request(self.port, "HEAD", "/", timeout=2)[0] == 204

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# The README's reference deployment, with fast checks for the tests.
REFERENCE_CONFIG = """\
global
    maxconn 256

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch

frontend luigid
    bind 127.0.0.1:%(port)d
    default_backend luigid_rs

backend luigid_rs
    option httpchk HEAD /
    http-check expect status 204
    default-server inter 200ms fall 1 rise 1
%(servers)s
"""


def leader_sessions(pg, db):
    """Backend pids of the sessions holding an advisory lock in `db` (the leader's)."""
    c = pg.connect(db)
    try:
        cur = c.cursor()
        cur.execute("SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = %s", (db,))
        return [r[0] for r in cur.fetchall()]
    finally:
        c.close()


def terminate_leader_sessions(pg, db):
    """Cut every session of the database's lock holder (pg_terminate_backend)."""
    pids = leader_sessions(pg, db)
    assert pids, "no session holds the leadership lock"
    c = pg.connect(db)
    try:
        cur = c.cursor()
        for pid in pids:
            cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    finally:
        c.close()
    return pids

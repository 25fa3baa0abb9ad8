"""Start and stop luigid-rs and the real luigid for tests.

Both servers get their own directory with a luigi.cfg (written from `config`, a dict of
section -> {key: value}), are started on a free loopback port (or a UNIX socket), and are
ready when `HEAD /` answers 204. No sleeps for ordering: readiness is polled with a bound.

`start_pair` starts the real luigid (the oracle) and luigid-rs side by side with the same
configuration; with `LUIGID_RS_ONLY_ORACLE=1` only the oracle is started, so the scenarios
themselves can be validated before our binary serves them.
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
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def oracle_only():
    """True when only the real luigid side must run (LUIGID_RS_ONLY_ORACLE=1)."""
    return os.environ.get("LUIGID_RS_ONLY_ORACLE", "") not in ("", "0", "false", "no")


def self_check():
    """LUIGID_RS_SELF_CHECK=1: compare luigid with a second luigid instead of luigid-rs."""
    return os.environ.get("LUIGID_RS_SELF_CHECK", "") not in ("", "0", "false", "no")


def rs_binary():
    path = os.environ.get("LUIGID_RS_BIN")
    if path:
        return path
    return os.path.join(REPO, "target", "release", "luigid-rs")


def luigid_binary():
    return os.path.join(os.path.dirname(sys.executable), "luigid")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def short_tempdir(prefix="lrs"):
    """A short directory under /tmp: UNIX socket paths are limited to ~107 bytes."""
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


def write_cfg(path, config):
    lines = []
    for section, values in (config or {}).items():
        lines.append("[%s]" % section)
        for k, v in values.items():
            lines.append("%s = %s" % (k, v))
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._unix_path)
        self.sock = s


class Reply:
    """One raw HTTP exchange: status, headers (lower-cased names, in order) and body bytes."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def header_names(self):
        return [k for k, _ in self.headers]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Reply(%d, %r, %r)" % (self.status, self.headers, self.body[:300])


class Server:
    def __init__(self, proc, url, workdir, unix_socket=None, kind="rs", port=None):
        self.proc = proc
        self.url = url  # base URL, no trailing slash
        self.workdir = workdir
        self.unix_socket = unix_socket
        self.kind = kind
        self.port = port

    @property
    def is_oracle(self):
        return self.kind == "luigid"

    # --- raw HTTP (http.client over TCP or the UNIX socket) ---
    def _conn(self, timeout=30):
        if self.unix_socket:
            return _UnixHTTPConnection(self.unix_socket, timeout=timeout)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def http(self, method, path, headers=None, body=None, timeout=30):
        conn = self._conn(timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            hdrs = [(k.lower(), v) for k, v in resp.getheaders()]
            return Reply(resp.status, hdrs, data)
        finally:
            conn.close()

    def rpc_raw(self, method, data=None, via="post", raw_data=None, headers=None):
        """Call /api/<method> as RemoteScheduler (POST form) or the visualiser (GET ?data=).

        `raw_data` sends that exact string as the `data` value (for malformed input)."""
        payload = raw_data if raw_data is not None else json.dumps(data if data is not None else {})
        hdrs = dict(headers or {})
        if via == "post":
            body = urllib.parse.urlencode({"data": payload}).encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
            return self.http("POST", "/api/" + method, hdrs, body)
        q = urllib.parse.urlencode({"data": payload})
        return self.http("GET", "/api/" + method + "?" + q, hdrs)

    def rpc(self, method, data=None, via="post"):
        r = self.rpc_raw(method, data, via)
        if r.status != 200:
            raise RuntimeError("%s %s -> HTTP %d: %r" % (self.kind, method, r.status, r.body[:300]))
        return r.json()["response"]

    def remote(self):
        """A real luigi.rpc.RemoteScheduler talking to this server (fills every parameter)."""
        import luigi.rpc

        return luigi.rpc.RemoteScheduler(self.url, connect_timeout=30)

    def log_tail(self, n=4000):
        try:
            with open(os.path.join(self.workdir, "server.log"), "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _probe(srv):
    if srv.unix_socket:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(1)
        try:
            s.connect(srv.unix_socket)
            s.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 204")
        finally:
            s.close()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=1)
    try:
        conn.request("HEAD", "/")
        return conn.getresponse().status == 204
    finally:
        conn.close()


def _wait_ready(srv, timeout=30.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if srv.proc.poll() is not None:
            raise RuntimeError(
                "%s exited early with %s; log:\n%s" % (srv.kind, srv.proc.returncode, srv.log_tail())
            )
        try:
            if _probe(srv):
                return srv
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.02)
    srv.kill()
    raise RuntimeError("%s did not become ready: %r" % (srv.kind, last))


def _env(workdir, cfg_path, extra=None):
    env = dict(os.environ)
    env["LUIGI_CONFIG_PATH"] = cfg_path
    env.setdefault("RUST_LOG", "warn")
    env.update(extra or {})
    return env


def _spawn(kind, workdir, config, unix_socket, extra_args, env):
    workdir = str(workdir)
    os.makedirs(workdir, exist_ok=True)
    cfg = os.path.join(workdir, "luigi.cfg")
    write_cfg(cfg, config)
    if kind == "luigid-rs" and self_check():
        # validation mode: a second real luigid stands in for ours (finds nondeterminism)
        args = [luigid_binary(), "--state-path", os.path.join(workdir, "state.pickle")]
    elif kind == "luigid-rs":
        binary = rs_binary()
        if not os.path.exists(binary):
            raise RuntimeError(
                "luigid-rs binary %s not found: build it (cargo build --release) or set "
                "LUIGID_RS_BIN, or run only the oracle with LUIGID_RS_ONLY_ORACLE=1" % binary
            )
        args = [binary, "--state-path", os.path.join(workdir, "state.json")]
    else:
        args = [luigid_binary(), "--state-path", os.path.join(workdir, "state.pickle")]
    port = None
    if unix_socket:
        args += ["--unix-socket", unix_socket]
        url = "http+unix://" + urllib.parse.quote(unix_socket, safe="")
    else:
        port = free_port()
        args += ["--port", str(port), "--address", "127.0.0.1"]
        url = "http://127.0.0.1:%d" % port
    args += list(extra_args)
    log = open(os.path.join(workdir, "server.log"), "ab")
    proc = subprocess.Popen(args, cwd=workdir, env=_env(workdir, cfg, env), stdout=log, stderr=log)
    log.close()
    return Server(proc, url, workdir, unix_socket, kind, port)


def start_luigid_rs(workdir, config=None, unix_socket=None, extra_args=(), env=None):
    return _wait_ready(_spawn("luigid-rs", workdir, config, unix_socket, extra_args, env))


def start_luigid(workdir, config=None, unix_socket=None, env=None):
    return _wait_ready(_spawn("luigid", workdir, config, unix_socket, (), env))


class Pair:
    """The oracle (real luigid) and, unless oracle-only, luigid-rs with the same config."""

    def __init__(self, servers, sockdirs=()):
        self.servers = servers
        self._sockdirs = list(sockdirs)

    @property
    def oracle(self):
        return self.servers[0]

    @property
    def ours(self):
        return self.servers[1] if len(self.servers) > 1 else None

    def __iter__(self):
        return iter(self.servers)

    def stop(self):
        for s in self.servers:
            s.stop()
        for d in self._sockdirs:
            shutil.rmtree(d, ignore_errors=True)


def start_pair(basedir, config=None, unix=False, rs_args=(), env=None):
    """Start luigid and luigid-rs at once (both spawned, then both awaited)."""
    basedir = str(basedir)
    kinds = ["luigid"] if oracle_only() else ["luigid", "luigid-rs"]
    spawned, sockdirs = [], []
    try:
        for kind in kinds:
            sock = None
            if unix:
                d = short_tempdir()
                sockdirs.append(d)
                sock = os.path.join(d, "s.sock")
            extra = rs_args if kind == "luigid-rs" else ()
            spawned.append(_spawn(kind, os.path.join(basedir, kind), config, sock, extra, env))
        for s in spawned:
            _wait_ready(s)
    except Exception:
        for s in spawned:
            s.kill()
        for d in sockdirs:
            shutil.rmtree(d, ignore_errors=True)
        raise
    return Pair(spawned, sockdirs)

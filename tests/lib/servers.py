"""Start and stop luigid-rs and the real luigid for tests.

Both servers get their own directory with a luigi.cfg (written from `config`, a dict of
section -> {key: value}), are started on a free loopback port (or a UNIX socket), and are
ready when `HEAD /` answers 204. No sleeps for ordering: readiness is polled with a bound.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


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


def write_cfg(path, config):
    lines = []
    for section, values in (config or {}).items():
        lines.append("[%s]" % section)
        for k, v in values.items():
            lines.append("%s = %s" % (k, v))
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


class Server:
    def __init__(self, proc, url, workdir, unix_socket=None, kind="rs"):
        self.proc = proc
        self.url = url  # base URL, no trailing slash
        self.workdir = workdir
        self.unix_socket = unix_socket
        self.kind = kind

    # --- plain HTTP over TCP (urllib, no extra deps) ---
    def rpc(self, method, data=None, via="post"):
        """Call an RPC as RemoteScheduler (POST form) or the visualiser (GET ?data=)."""
        payload = json.dumps(data if data is not None else {})
        if via == "post":
            body = urllib.parse.urlencode({"data": payload}).encode()
            req = urllib.request.Request(self.url + "/api/" + method, data=body, method="POST")
        else:
            q = urllib.parse.urlencode({"data": payload})
            req = urllib.request.Request(self.url + "/api/" + method + "?" + q, method="GET")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read().decode())["response"]

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


def _wait_ready(srv, timeout=20.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if srv.proc.poll() is not None:
            raise RuntimeError("%s exited early with %s" % (srv.kind, srv.proc.returncode))
        try:
            if srv.unix_socket:
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(1)
                s.connect(srv.unix_socket)
                s.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
                ok = s.recv(64).startswith(b"HTTP/1.1 204")
                s.close()
            else:
                req = urllib.request.Request(srv.url + "/", method="HEAD")
                with urllib.request.urlopen(req, timeout=1) as resp:
                    ok = resp.status == 204
            if ok:
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


def start_luigid_rs(workdir, config=None, unix_socket=None, extra_args=(), env=None):
    workdir = str(workdir)
    os.makedirs(workdir, exist_ok=True)
    cfg = os.path.join(workdir, "luigi.cfg")
    write_cfg(cfg, config)
    args = [rs_binary(), "--state-path", os.path.join(workdir, "state.json")]
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
    return _wait_ready(Server(proc, url, workdir, unix_socket, "luigid-rs"))


def start_luigid(workdir, config=None, unix_socket=None, env=None):
    workdir = str(workdir)
    os.makedirs(workdir, exist_ok=True)
    cfg = os.path.join(workdir, "luigi.cfg")
    write_cfg(cfg, config)
    args = [luigid_binary(), "--state-path", os.path.join(workdir, "state.pickle")]
    if unix_socket:
        args += ["--unix-socket", unix_socket]
        url = "http+unix://" + urllib.parse.quote(unix_socket, safe="")
    else:
        port = free_port()
        args += ["--port", str(port), "--address", "127.0.0.1"]
        url = "http://127.0.0.1:%d" % port
    log = open(os.path.join(workdir, "server.log"), "ab")
    proc = subprocess.Popen(args, cwd=workdir, env=_env(workdir, cfg, env), stdout=log, stderr=log)
    return _wait_ready(Server(proc, url, workdir, unix_socket, "luigid"))

"""Helpers of the security suite: luigid-rs (the release binary) with access control on.

Passwords are hashed by the binary itself (`luigid-rs hash-password`), tokens are random per
run, and every secret is distinctive so the server log can be searched for it."""
import base64
import hashlib
import http.client
import json
import os
import secrets
import subprocess
import sys
import urllib.parse

import pytest

from servers import oracle_only, rs_binary, start_luigid_rs

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> (role, password). Passwords only use characters that need no escaping in a URL.
USERS = {
    "admin1": ("admin", "Adm1n-" + secrets.token_hex(8)),
    "work1": ("worker", "W0rk-" + secrets.token_hex(8)),
    "view1": ("viewer", "V1ew-" + secrets.token_hex(8)),
}
# name -> (role, token)
TOKENS = {
    "ci": ("worker", "tokci" + secrets.token_hex(16)),
    "ops": ("admin", "tokops" + secrets.token_hex(16)),
    "dash": ("viewer", "tokdash" + secrets.token_hex(16)),
}


def hash_password(password, name=None, role=None):
    """Run `luigid-rs hash-password` (password on stdin); returns its stdout, stripped."""
    args = [rs_binary(), "hash-password"]
    if name:
        args += ["--name", name, "--role", role]
    p = subprocess.run(args, input=password + "\n", capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def token_digest(token):
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def bearer(token):
    return "Bearer " + token


def auth_for(who):
    """Authorization value for a user name, a token name (as Bearer) or None (anonymous)."""
    if who is None:
        return None
    if who in USERS:
        return basic(who, USERS[who][1])
    return bearer(TOKENS[who][1])


_HASHED = {}


def users_section():
    """`user.*` and `token.*` keys for [luigid_rs_auth]; hashes made once per session."""
    keys = {}
    for name, (role, pw) in USERS.items():
        if name not in _HASHED:
            line = hash_password(pw, name, role)
            key, _, value = line.partition(" = ")
            assert key == "user." + name, line
            _HASHED[name] = value
        keys["user." + name] = _HASHED[name]
    for name, (role, tok) in TOKENS.items():
        keys["token." + name] = "%s %s" % (role, token_digest(tok))
    return keys


def auth_config(**extra):
    sec = {"enabled": "true"}
    sec.update(users_section())
    sec.update({k: str(v) for k, v in extra.items()})
    return {"luigid_rs_auth": sec}


def call(srv, method, data=None, who=None, via="post", headers=None, authorization=None):
    """One RPC over HTTP as `who` (see auth_for) or with an explicit Authorization value."""
    hdrs = dict(headers or {})
    value = authorization if authorization is not None else auth_for(who)
    if value is not None:
        hdrs["Authorization"] = value
    return srv.rpc_raw(method, data if data is not None else {}, via=via, headers=hdrs)


def get(srv, path, who=None, headers=None, authorization=None):
    hdrs = dict(headers or {})
    value = authorization if authorization is not None else auth_for(who)
    if value is not None:
        hdrs["Authorization"] = value
    return srv.http("GET", path, hdrs)


def assert_json_error(r, status):
    assert r.status == status, r
    assert r.header("content-type", "").startswith("application/json"), r
    body = r.json()
    assert isinstance(body.get("error"), str) and body["error"], r
    if status == 401:
        assert r.header("www-authenticate", "").startswith("Basic realm="), r
    return body["error"]


def start(tmp, config, **kw):
    if oracle_only():
        pytest.skip("LUIGID_RS_ONLY_ORACLE=1: luigid-rs is not started")
    return start_luigid_rs(tmp, config=config, **kw)


def run_worker(srv_url, workdir, task="Top", timeout=60, extra_args=()):
    """`python -m luigi --module authtasks <task>` against `srv_url`; returns (rc, stderr)."""
    workdir = str(workdir)
    out = os.path.join(workdir, "out")
    os.makedirs(out, exist_ok=True)
    cfg = os.path.join(workdir, "worker.cfg")
    with open(cfg, "w") as f:
        f.write(
            "[core]\nrpc_retry_attempts = 1\nrpc_retry_wait = 0\nrpc_connect_timeout = 10\n"
            "no_lock = true\nautoload_range = false\n"
            "[worker]\nping_interval = 0.2\nwait_interval = 0.1\nwait_jitter = 0.05\n"
            "keep_alive = false\n"
        )
    env = dict(os.environ)
    env.update({
        "LUIGI_CONFIG_PATH": cfg,
        "AUTH_TASKS_DIR": out,
        "PYTHONPATH": HERE + os.pathsep + env.get("PYTHONPATH", ""),
    })
    args = [sys.executable, "-m", "luigi", "--module", "authtasks", task,
            "--scheduler-url", srv_url, "--workers", "1"] + list(extra_args)
    p = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stderr, out


def with_credentials(url, user, secret):
    parts = urllib.parse.urlsplit(url)
    return parts._replace(netloc="%s:%s@%s" % (user, secret, parts.netloc)).geturl()


def raw_exchange(port, request, source="127.0.0.1", timeout=10):
    """Send raw bytes over TCP from `source`; returns the status code of the reply."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request(*request)
        r = conn.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        conn.close()


def state_of(srv, task_id):
    """A task's status as the admin sees it (task_search covers every status)."""
    r = call(srv, "task_search", {"task_str": task_id}, who="admin1")
    assert r.status == 200, r
    for status, tasks in r.json()["response"].items():
        if task_id in tasks:
            return status
    return None


def json_response(r):
    assert r.status == 200, r
    return json.loads(r.body)["response"]

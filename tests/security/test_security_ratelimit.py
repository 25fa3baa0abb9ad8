"""Failed logins are rate-limited per client address, and no secret ever reaches the log.

The server runs with RUST_LOG=info (and again with trace) so every login line, accepted and
refused, is written to workdir/server.log, which is then searched for every secret sent."""
import base64
import os

import pytest

from sechelp import (TOKENS, USERS, assert_json_error, auth_config, basic, bearer, call, raw_exchange,
                      start)

MAX = 3
LOCKOUT = 300


def _log(srv):
    with open(os.path.join(srv.workdir, "server.log"), "rb") as f:
        return f.read().decode("utf-8", "replace")


def _secrets_in(text, secrets):
    return [s for s in secrets if s and s in text]


@pytest.fixture
def srv(tmp_path):
    s = start(tmp_path, auth_config(anonymous_role="viewer", max_failures=MAX, failure_window=60,
                                    lockout=LOCKOUT), env={"RUST_LOG": "info"})
    yield s
    s.stop()


def test_lockout_after_n_failures_even_for_the_right_password(srv):
    good = basic("admin1", USERS["admin1"][1])
    # A good login first: it is remembered, and must be refused during the lockout anyway.
    assert call(srv, "is_paused", {}, authorization=good).status == 200
    bad = ["Wr0ng-pass-%d" % i for i in range(MAX)]
    for pw in bad:
        assert_json_error(call(srv, "task_list", {}, authorization=basic("admin1", pw)), 401)
    for authorization in (good, basic("work1", USERS["work1"][1]), bearer(TOKENS["ops"][1]),
                          basic("admin1", "Wr0ng-again")):
        r = call(srv, "pause", {}, authorization=authorization)
        assert_json_error(r, 429)
        retry = int(r.header("retry-after"))
        assert 0 < retry <= LOCKOUT, r
    assert call(srv, "is_paused", {}).json()["response"]["paused"] is False
    # Without credentials the anonymous role still applies.
    r = call(srv, "task_list", {"status": "", "upstream_status": ""})
    assert r.status == 200 and r.header("x-luigid-rs-role") == "viewer", r
    # Another client address is not locked out (the limit is per address).
    status, headers, body = raw_exchange(srv.port, (
        "POST", "/api/pause", "data=%7B%7D",
        {"Authorization": good, "Content-Type": "application/x-www-form-urlencoded"}),
        source="127.0.0.2")
    assert status == 200, (status, body)


def test_failures_below_the_limit_do_not_lock(srv):
    for i in range(MAX - 1):
        assert_json_error(call(srv, "ping", {"worker": "w"}, authorization=bearer("bad-token-%d" % i)), 401)
    r = call(srv, "ping", {"worker": "w"}, who="ci")
    assert r.status == 200, r


@pytest.mark.parametrize("level", ["info", "trace"])
def test_log_never_contains_secrets(tmp_path, level):
    srv = start(tmp_path, auth_config(anonymous_role="viewer", max_failures=MAX, failure_window=60,
                                      lockout=LOCKOUT), env={"RUST_LOG": level})
    try:
        _log_secrets_scenario(srv)
    finally:
        srv.stop()


def _log_secrets_scenario(srv):
    used = []
    # Successful logins of every kind.
    for name in USERS:
        assert call(srv, "is_paused", {}, who=name).status == 200
        used.append(USERS[name][1])
    for name, (_, tok) in TOKENS.items():
        assert call(srv, "is_paused", {}, authorization=bearer(tok)).status == 200
        assert call(srv, "is_paused", {}, authorization=basic(name, tok)).status == 200
        used.append(tok)
    # Failures: wrong password, token sent as a user name with no password (as
    # http://TOKEN@host/ would), password typed into the user field, unknown bearer.
    wrong_pw = "Secr3t-typo-" + USERS["admin1"][1]
    failures = [
        basic("admin1", wrong_pw),
        basic(TOKENS["ops"][1], ""),
        basic(USERS["work1"][1], "x"),
    ]
    for a in failures:
        r = call(srv, "is_paused", {}, authorization=a)
        assert r.status in (401, 429), r
    used += [wrong_pw]
    srv.stop()
    text = _log(srv)
    assert "logged in" in text, text[-2000:]  # the log does record logins...
    assert "refused credentials" in text, text[-2000:]  # ...and failures
    leaked = _secrets_in(text, used)
    authz_values = [basic(n, USERS[n][1]) for n in USERS] + failures
    leaked += _secrets_in(text, [a.split(" ", 1)[1] for a in authz_values])
    assert not leaked, "secrets in the server log: %r\n%s" % (leaked, text[-3000:])

"""`luigid-rs hash-password` makes config values the server accepts."""
import re
import subprocess

from sechelp import assert_json_error, basic, bearer, call, start
from servers import rs_binary


def run(args, stdin=""):
    return subprocess.run([rs_binary(), "hash-password"] + args, input=stdin, capture_output=True,
                          text=True, timeout=30)


def test_password_hash_is_accepted_by_the_server(tmp_path):
    pw = "Cli-pass-7f3e9a"
    p = run([], pw + "\n")
    assert p.returncode == 0, p.stderr
    phc = p.stdout.strip()
    assert phc.startswith("$argon2id$") and pw not in p.stdout + p.stderr
    # Salted: the same password hashes differently each time.
    assert run([], pw + "\n").stdout.strip() != phc
    line = run(["--name", "ops2", "--role", "worker"], "Other-pass-1\n").stdout.strip()
    assert re.fullmatch(r"user\.ops2 = worker \$argon2id\$\S+", line), line
    key, _, value = line.partition(" = ")
    cfg = {"luigid_rs_auth": {"enabled": "true", "anonymous_role": "none", "max_failures": "0",
                              "user.cli": "admin " + phc, key: value}}
    s = start(tmp_path, cfg)
    try:
        r = call(s, "pause", {}, authorization=basic("cli", pw))
        assert r.status == 200 and r.header("x-luigid-rs-role") == "admin", r
        r = call(s, "add_task", {"task_id": "H", "worker": "w"}, authorization=basic("ops2", "Other-pass-1"))
        assert r.status == 200 and r.header("x-luigid-rs-role") == "worker", r
        assert_json_error(call(s, "pause", {}, authorization=basic("cli", pw + "x")), 401)
        assert_json_error(call(s, "pause", {}, authorization=basic("ops2", pw)), 401)
        assert_json_error(call(s, "is_paused", {}), 401)
    finally:
        s.stop()


def test_token_digest_is_accepted_by_the_server(tmp_path):
    p = run(["--token", "--name", "bot", "--role", "admin"])
    assert p.returncode == 0, p.stderr
    line = p.stdout.strip()
    m = re.fullmatch(r"token\.bot = admin (sha256:[0-9a-f]{64})", line)
    assert m, line
    tokens = re.findall(r"\b[0-9a-f]{64}\b", p.stderr)
    assert len(tokens) == 1, p.stderr
    token = tokens[0]
    assert token not in p.stdout  # only the digest goes to the config
    cfg = {"luigid_rs_auth": {"enabled": "true", "anonymous_role": "none", "max_failures": "0",
                              "token.bot": "admin " + m.group(1)}}
    s = start(tmp_path, cfg)
    try:
        r = call(s, "pause", {}, authorization=bearer(token))
        assert r.status == 200 and r.header("x-luigid-rs-role") == "admin", r
        r = call(s, "unpause", {}, authorization=basic("bot", token))
        assert r.status == 200, r
        near = token[:-1] + ("1" if token.endswith("0") else "0")
        assert_json_error(call(s, "pause", {}, authorization=bearer(near)), 401)
        # The digest itself is not a credential.
        assert_json_error(call(s, "pause", {}, authorization=bearer(m.group(1))), 401)
    finally:
        s.stop()


def test_bad_usage_exits_2():
    for args in (["--role", "admin"], ["--name", "x y", "--role", "admin"], ["--role", "root", "--name", "a"],
                 ["--bogus"]):
        p = run(args, "pw\n")
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert p.stdout == ""


def test_server_refuses_a_raw_password_or_token_in_the_config(tmp_path):
    # A secret pasted where the hash belongs is a startup error that does not echo it.
    for key, value in (("user.bad", "admin PlainSecret123"), ("token.bad", "admin PlainSecret123")):
        cfg = {"luigid_rs_auth": {"enabled": "true", key: value}}
        try:
            s = start(tmp_path / key, cfg)
        except RuntimeError as e:
            msg = str(e)
            assert key in msg and "PlainSecret123" not in msg, msg
        else:
            s.stop()
            raise AssertionError("%s = %s was accepted" % (key, value))

"""Access control details seen only through the real binary: connections, TOML configs."""
import http.client
import json
import os
import urllib.parse

from sechelp import (TOKENS, USERS, assert_json_error, auth_config, basic, call, start,
                      token_digest, users_section)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_credentials_are_per_request_not_per_connection(tmp_path):
    s = start(tmp_path, auth_config(anonymous_role="viewer", max_failures=0))
    try:
        body = urllib.parse.urlencode({"data": "{}"})
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        try:
            sock_ids = set()
            for hdrs, status, role in [
                (dict(FORM, Authorization=basic("admin1", USERS["admin1"][1])), 200, "admin"),
                (FORM, 401, None),  # same connection, no credentials: anonymous again
                (dict(FORM, Authorization=basic("work1", USERS["work1"][1])), 403, None),
                (dict(FORM, Authorization=basic("admin1", USERS["admin1"][1])), 200, "admin"),
            ]:
                conn.request("POST", "/api/unpause", body=body, headers=hdrs)
                r = conn.getresponse()
                r.read()
                sock_ids.add(id(conn.sock))
                assert r.status == status, (hdrs, r.status)
                assert r.getheader("X-Luigid-Rs-Role") == role
            assert len(sock_ids) == 1, "the connection was not kept alive"
        finally:
            conn.close()
    finally:
        s.stop()


def test_toml_config(tmp_path):
    """`user.alice = "admin $argon2id$..."` and a uid array, as the README shows for TOML."""
    keys = users_section()
    lines = ["[luigid_rs_auth]", "enabled = true", 'anonymous_role = "none"', "max_failures = 0",
             "trust_unix_uids = [%d]" % (os.getuid() + 1)]
    for k, v in keys.items():
        lines.append("%s = %s" % (k, json.dumps(v)))
    path = tmp_path / "luigi.toml"
    path.write_text("\n".join(lines) + "\n")
    s = start(tmp_path / "srv", None, env={"LUIGI_CONFIG_PARSER": "toml", "LUIGI_CONFIG_PATH": str(path)})
    try:
        assert_json_error(call(s, "is_paused", {}), 401)
        r = call(s, "pause", {}, who="admin1")
        assert r.status == 200 and r.header("x-luigid-rs-role") == "admin", r
        r = call(s, "add_task", {"task_id": "T", "worker": "w"}, who="ci")
        assert r.status == 200 and r.header("x-luigid-rs-role") == "worker", r
        assert_json_error(call(s, "pause", {}, who="view1"), 403)
    finally:
        s.stop()


def test_typo_in_the_section_stops_the_server(tmp_path):
    cfg = {"luigid_rs_auth": {"enable": "true", "user.a": "admin " + users_section()["user.admin1"].split()[1]}}
    try:
        s = start(tmp_path, cfg)
    except RuntimeError as e:
        assert "enable" in str(e) and "unknown key" in str(e), e
    else:
        s.stop()
        raise AssertionError("a misspelt key left the server open")


def test_token_and_user_names_are_distinct(tmp_path):
    cfg = auth_config()
    cfg["luigid_rs_auth"]["token.admin1"] = "viewer " + token_digest(TOKENS["dash"][1])
    try:
        s = start(tmp_path, cfg)
    except RuntimeError as e:
        assert "token.admin1" in str(e), e
    else:
        s.stop()
        raise AssertionError("a name used as both user and token was accepted")

"""UNIX-socket peers: a uid in trust_unix_uids (read by the kernel, SO_PEERCRED) gets
unix_peer_role without a password; any other local user is treated as anonymous."""
import os
import shutil
import urllib.parse

import pytest

from sechelp import (USERS, assert_json_error, auth_config, basic, call, json_response, run_worker,
                      start, state_of)
from servers import short_tempdir

UID = os.getuid()


def _start_unix(tmp_path, **auth):
    d = short_tempdir("lrsauth")
    try:
        s = start(tmp_path, auth_config(**auth), unix_socket=os.path.join(d, "s.sock"))
    except BaseException:
        shutil.rmtree(d, ignore_errors=True)
        raise
    return s, d


@pytest.fixture
def trusted(tmp_path):
    s, d = _start_unix(tmp_path, anonymous_role="viewer", trust_unix_uids="%d, 4242" % UID,
                       unix_peer_role="admin", max_failures=0)
    yield s
    s.stop()
    shutil.rmtree(d, ignore_errors=True)


def test_trusted_uid_gets_unix_peer_role_without_password(trusted):
    r = call(trusted, "pause", {})
    assert r.status == 200, r
    assert r.header("x-luigid-rs-role") == "admin"
    assert json_response(call(trusted, "is_paused", {}))["paused"] is True
    r = call(trusted, "add_task", {"task_id": "U1", "worker": "u", "status": "FAILED"})
    assert r.status == 200, r
    assert call(trusted, "mark_as_done", {"task_id": "U1"}).status == 200
    assert state_of(trusted, "U1") == "DONE"


def test_trusted_uid_ignores_credentials_it_sends(trusted):
    # Even wrong ones: the kernel's word about the uid is what counts.
    r = call(trusted, "unpause", {}, authorization=basic("view1", "wrong"))
    assert r.status == 200 and r.header("x-luigid-rs-role") == "admin", r


def test_trusted_uid_still_needs_post_and_the_browser_marker(trusted):
    assert_json_error(call(trusted, "pause", {}, via="get"), 405)
    assert_json_error(call(trusted, "pause", {}, headers={"Origin": "http://evil.example"}), 403)


def test_real_worker_over_the_socket_needs_no_password(trusted, tmp_path):
    url = "http+unix://" + urllib.parse.quote(trusted.unix_socket, safe="")
    rc, err, out = run_worker(url, tmp_path / "w", task="Leaf", extra_args=["--n", "9"])
    assert rc == 0, err[-3000:]
    assert os.listdir(out) == ["leaf-9"]


def test_unix_peer_role_is_configurable(tmp_path):
    s, d = _start_unix(tmp_path, anonymous_role="none", trust_unix_uids=str(UID),
                       unix_peer_role="worker", max_failures=0)
    try:
        r = call(s, "add_task", {"task_id": "W1", "worker": "u"})
        assert r.status == 200 and r.header("x-luigid-rs-role") == "worker", r
        r = call(s, "pause", {})
        assert_json_error(r, 403)
    finally:
        s.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_untrusted_uid_is_anonymous(tmp_path):
    s, d = _start_unix(tmp_path, anonymous_role="viewer", trust_unix_uids=str(UID + 1),
                       max_failures=0)
    try:
        r = call(s, "task_list", {"status": "", "upstream_status": ""})
        assert r.status == 200 and r.header("x-luigid-rs-role") == "viewer", r
        assert_json_error(call(s, "pause", {}), 401)
        assert_json_error(call(s, "add_task", {"task_id": "X", "worker": "u"}), 401)
        # Credentials work as over TCP.
        r = call(s, "add_task", {"task_id": "X", "worker": "u"}, who="work1")
        assert r.status == 200 and r.header("x-luigid-rs-role") == "worker", r
        r = call(s, "pause", {}, authorization=basic("admin1", USERS["admin1"][1]))
        assert r.status == 200 and r.header("x-luigid-rs-role") == "admin", r
    finally:
        s.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_no_trusted_uids_means_anonymous_on_the_socket(tmp_path):
    s, d = _start_unix(tmp_path, anonymous_role="none", max_failures=0)
    try:
        assert_json_error(call(s, "task_list", {"status": "", "upstream_status": ""}), 401)
        r = call(s, "task_list", {"status": "", "upstream_status": ""}, who="view1")
        assert r.status == 200 and r.header("x-luigid-rs-role") == "viewer", r
    finally:
        s.stop()
        shutil.rmtree(d, ignore_errors=True)

"""State-changing requests with access control on: POST only, and a browser's POST must carry
`X-Luigid-Rs-Request: 1`, so a hostile page cannot use a browser's saved credentials."""
import json
import urllib.parse

import pytest

from sechelp import (USERS, assert_json_error, auth_config, basic, call, json_response, start,
                      state_of)

CSRF = {"X-Luigid-Rs-Request": "1"}
# What a browser adds to a form another site submits to us.
CROSS_SITE_FORM = {
    "Origin": "http://evil.example",
    "Referer": "http://evil.example/page.html",
    "Sec-Fetch-Site": "cross-site",
    "Sec-Fetch-Mode": "navigate",
    "Content-Type": "application/x-www-form-urlencoded",
}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start(tmp_path_factory.mktemp("csrf-srv"), auth_config(anonymous_role="viewer", max_failures=0))
    yield s
    s.stop()


def paused(srv):
    return json_response(call(srv, "is_paused", {}, who="view1"))["paused"]


def fresh_task(srv, task_id):
    """A FAILED task: one that mark_as_done turns DONE."""
    r = call(srv, "add_task", {"task_id": task_id, "worker": "wk", "status": "FAILED"}, who="work1")
    assert r.status == 200, r
    assert state_of(srv, task_id) == "FAILED"


def test_mutating_method_over_get_is_405(srv):
    call(srv, "unpause", {}, who="admin1")
    for method, data, who in [("pause", {}, "admin1"), ("mark_as_done", {"task_id": "G1"}, "admin1"),
                              ("add_task", {"task_id": "G1", "worker": "wk"}, "work1"),
                              ("ping", {"worker": "wk"}, "ci")]:
        r = call(srv, method, data, who=who, via="get")
        assert_json_error(r, 405)
        assert r.header("allow") == "POST", r
    assert paused(srv) is False
    assert state_of(srv, "G1") is None
    # Read-only methods stay available over GET (the visualiser uses GET for them).
    r = call(srv, "task_list", {"status": "", "upstream_status": ""}, who="admin1", via="get")
    assert r.status == 200, r


def test_browser_post_without_marker_is_403_with_marker_ok(srv):
    call(srv, "unpause", {}, who="admin1")
    browser = {"Origin": "http://127.0.0.1:%d" % srv.port}  # even same-origin
    r = call(srv, "pause", {}, who="admin1", headers=browser)
    msg = assert_json_error(r, 403)
    assert "X-Luigid-Rs-Request" in msg
    assert paused(srv) is False
    r = call(srv, "pause", {}, who="admin1", headers=dict(browser, **CSRF))
    assert r.status == 200 and r.header("x-luigid-rs-role") == "admin", r
    assert paused(srv) is True
    call(srv, "unpause", {}, who="admin1", headers=CSRF)
    assert paused(srv) is False


@pytest.mark.parametrize("hdr", ["Origin", "Referer", "Sec-Fetch-Site", "Sec-Fetch-Mode"])
def test_each_browser_header_triggers_the_rule(srv, hdr):
    fresh_task(srv, "Csrf_" + hdr)
    value = {"Origin": "null", "Referer": "http://x.example/", "Sec-Fetch-Site": "same-origin",
             "Sec-Fetch-Mode": "cors"}[hdr]
    r = call(srv, "mark_as_done", {"task_id": "Csrf_" + hdr}, who="admin1", headers={hdr: value})
    assert_json_error(r, 403)
    assert state_of(srv, "Csrf_" + hdr) == "FAILED"
    # The marker must be exactly 1.
    r = call(srv, "mark_as_done", {"task_id": "Csrf_" + hdr}, who="admin1",
             headers={hdr: value, "X-Luigid-Rs-Request": "yes"})
    assert_json_error(r, 403)
    r = call(srv, "mark_as_done", {"task_id": "Csrf_" + hdr}, who="admin1",
             headers={hdr: value, "X-Luigid-Rs-Request": "1"})
    assert r.status == 200, r
    assert state_of(srv, "Csrf_" + hdr) == "DONE"


def test_scripts_need_no_marker(srv):
    # python-requests / curl style: no browser headers, credentials only.
    fresh_task(srv, "Script_1")
    r = call(srv, "mark_as_done", {"task_id": "Script_1"}, who="ops")
    assert r.status == 200, r
    assert state_of(srv, "Script_1") == "DONE"


def test_cross_site_form_post_cannot_change_state(srv):
    """A page elsewhere submits <form method=post action=http://scheduler/api/...> while the
    browser holds the admin's Basic credentials: nothing may change."""
    fresh_task(srv, "Victim_1")
    call(srv, "unpause", {}, who="admin1")
    before = {
        "task": state_of(srv, "Victim_1"),
        "paused": paused(srv),
        "workers": sorted(w["name"] for w in json_response(call(srv, "worker_list", who="view1"))),
        "resources": json_response(call(srv, "resource_list", who="view1")),
    }
    attacks = [
        ("mark_as_done", {"task_id": "Victim_1"}),
        ("pause", {}),
        ("disable_worker", {"worker": "wk"}),
        ("update_resource", {"resource": "gpu", "amount": 99}),
        ("add_task", {"task_id": "Injected_1", "worker": "evil"}),
        ("set_worker_processes", {"worker": "wk", "n": 50}),
    ]
    saved_credentials = {"Authorization": basic("admin1", USERS["admin1"][1])}
    for method, data in attacks:
        body = urllib.parse.urlencode({"data": json.dumps(data)}).encode()
        r = srv.http("POST", "/api/" + method, dict(CROSS_SITE_FORM, **saved_credentials), body)
        assert_json_error(r, 403)
        # Without credentials, too (anonymous is a viewer here): refused before anything runs.
        r = srv.http("POST", "/api/" + method, CROSS_SITE_FORM, body)
        assert r.status == 401, r
        # A cross-site "simple" GET (an <img src=...>) is refused as well.
        q = urllib.parse.urlencode({"data": json.dumps(data)})
        r = srv.http("GET", "/api/%s?%s" % (method, q), dict(CROSS_SITE_FORM, **saved_credentials))
        assert r.status == 405, r
    after = {
        "task": state_of(srv, "Victim_1"),
        "paused": paused(srv),
        "workers": sorted(w["name"] for w in json_response(call(srv, "worker_list", who="view1"))),
        "resources": json_response(call(srv, "resource_list", who="view1")),
    }
    assert after == before
    assert state_of(srv, "Injected_1") is None


def test_cors_preflight_does_not_allow_other_sites(srv):
    # A script elsewhere would need this preflight to set the marker header; the default
    # [cors] (off) grants nothing.
    r = srv.http("OPTIONS", "/api/pause", {
        "Origin": "http://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-luigid-rs-request, authorization",
    })
    assert r.status < 400, r  # public route, no credentials needed
    names = r.header_names()
    assert "access-control-allow-origin" not in names, r
    assert "access-control-allow-headers" not in names, r


def test_anonymous_admin_is_still_protected_from_cross_site_posts(tmp_path):
    # anonymous_role = admin (a trusted network): scripts need no credentials, but a
    # browser-driven cross-site POST still needs the marker.
    s = start(tmp_path, auth_config(anonymous_role="admin", max_failures=0))
    try:
        fresh_task(s, "Open_1")
        body = urllib.parse.urlencode({"data": json.dumps({"task_id": "Open_1"})}).encode()
        r = s.http("POST", "/api/mark_as_done", CROSS_SITE_FORM, body)
        assert_json_error(r, 403)
        assert state_of(s, "Open_1") == "FAILED"
        r = call(s, "mark_as_done", {"task_id": "Open_1"})
        assert r.status == 200 and r.header("x-luigid-rs-role") == "admin", r
        assert state_of(s, "Open_1") == "DONE"
        assert_json_error(call(s, "pause", {}, via="get"), 405)
    finally:
        s.stop()

"""Every role against every RPC method, over HTTP, through the release binary.

The method -> role table is read from the README section (src/auth/README-snippet.md), so
the documentation and the server cannot drift apart: a method documented as `admin` that a
worker could call fails here, and so does a documented method the server refuses."""
import os
import re
import urllib.parse

import pytest

from sechelp import USERS, assert_json_error, auth_config, basic, call, start, state_of

HERE = os.path.dirname(os.path.abspath(__file__))
SNIPPET = os.path.join(HERE, "..", "..", "src", "auth", "README-snippet.md")
RANK = {"viewer": 0, "worker": 1, "admin": 2}


def documented_roles():
    """{method: role} from the "Roles of the RPC methods" table of the README section."""
    with open(SNIPPET, encoding="utf-8") as f:
        text = f.read()
    roles = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`(viewer|worker|admin)`[^|]*\|(.*)\|\s*$", line)
        if m:
            for name in re.findall(r"`([a-z_]+)`", m.group(2)):
                assert name not in roles, "%s documented twice" % name
                roles[name] = m.group(1)
    return roles


ROLES = documented_roles()

# Arguments that make each method succeed (200) on a scheduler that knows task "T" and
# worker "w".
ARGS = {
    "add_scheduler_message_response": {"task_id": "T", "message_id": "m1", "response": "ok"},
    "add_task": {"task_id": "T", "worker": "w", "status": "PENDING", "runnable": True},
    "add_task_batcher": {"worker": "w", "task_family": "Fam", "batched_args": ["a"], "max_batch_size": 10},
    "add_worker": {"worker": "w", "info": {"host": "h"}},
    "announce_scheduling_failure": {"task_name": "Fam(a=1)", "family": "Fam", "params": {"a": "1"},
                                    "expl": "boom", "owners": [], "worker": "w"},
    "count_pending": {"worker": "w"},
    "decrease_running_task_resources": {"task_id": "T", "decrease_resources": {}},
    "dep_graph": {"task_id": "T"},
    "disable_worker": {"worker": "w-disabled"},
    "fetch_error": {"task_id": "T"},
    "forgive_failures": {"task_id": "T"},
    "get_running_task_resources": {"task_id": "T"},
    "get_scheduler_message_response": {"task_id": "T", "message_id": "m1"},
    "get_task_progress_percentage": {"task_id": "T"},
    "get_task_status_message": {"task_id": "T"},
    "get_work": {"worker": "w", "host": "h"},
    "graph": {},
    "has_task_history": {},
    "inverse_dep_graph": {"task_id": "T"},
    "is_pause_enabled": {},
    "is_paused": {},
    "mark_as_done": {"task_id": "T-done"},
    "pause": {},
    "ping": {"worker": "w"},
    "prune": {},
    "re_enable_task": {"task_id": "T"},
    "report_task_statistics": {"task_id": "T", "statistics": {}},
    "resource_list": {},
    "send_scheduler_message": {"worker": "w", "task": "T", "content": "hi"},
    "set_task_progress_percentage": {"task_id": "T", "progress_percentage": 50},
    "set_task_status_message": {"task_id": "T", "status_message": "half"},
    "set_worker_processes": {"worker": "w", "n": 2},
    "task_list": {"status": "", "upstream_status": ""},
    "task_search": {"task_str": "T"},
    "unpause": {},
    "update_metrics_task_started": {"task": {"task_id": "T"}},
    "update_resource": {"resource": "r", "amount": 3},
    "update_resources": {"r2": 4},
    "worker_list": {},
}
# Internal hook whose argument is a scheduler object in luigid: any non-auth reply proves the
# call got past access control.
LOOSE = {"update_metrics_task_started"}
AUTH_STATUSES = {401, 403, 405, 429}

# (label, who, role): users via Basic, tokens via Bearer, and nobody.
PRINCIPALS = [
    ("anonymous", None, "viewer"),
    ("view1", "view1", "viewer"),
    ("work1", "work1", "worker"),
    ("admin1", "admin1", "admin"),
    ("dash-token", "dash", "viewer"),
    ("ci-token", "ci", "worker"),
    ("ops-token", "ops", "admin"),
]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start(tmp_path_factory.mktemp("roles-srv"), auth_config(anonymous_role="viewer", max_failures=0))
    assert call(s, "add_task", ARGS["add_task"], who="admin1").status == 200
    assert call(s, "add_task", {"task_id": "T-done", "worker": "w"}, who="admin1").status == 200
    yield s
    s.stop()


def test_the_documented_table_covers_exactly_luigids_39_methods():
    import luigi.scheduler

    assert set(ROLES) == set(luigi.scheduler.RPC_METHODS), set(ROLES) ^ set(luigi.scheduler.RPC_METHODS)
    assert len(ROLES) == 39
    assert set(ARGS) == set(ROLES)


@pytest.mark.parametrize("label,who,role", PRINCIPALS, ids=[p[0] for p in PRINCIPALS])
def test_role_matrix(srv, label, who, role):
    wrong = []
    for method in sorted(ROLES):
        need = ROLES[method]
        r = call(srv, method, ARGS[method], who=who)
        if RANK[role] >= RANK[need]:
            ok = (r.status not in AUTH_STATUSES) if method in LOOSE else r.status == 200
            if ok and r.status == 200 and r.header("x-luigid-rs-role") != role:
                ok = False
        elif who is None:
            ok = r.status == 401 and r.header("www-authenticate", "").startswith("Basic realm=")
        else:
            ok = r.status == 403 and role in r.json()["error"] and need in r.json()["error"]
        if ok and r.status >= 400:
            ok = r.header("content-type", "").startswith("application/json") and "error" in r.json()
        if not ok:
            wrong.append("%s (needs %s): %d %r" % (method, need, r.status, r.body[:200]))
    # The pause / unpause calls above leave the scheduler unpaused for the next principal.
    call(srv, "unpause", {}, who="admin1")
    assert not wrong, "%s (%s):\n%s" % (label, role, "\n".join(wrong))


def test_refused_calls_change_nothing(srv):
    call(srv, "unpause", {}, who="admin1")
    for who in (None, "view1", "work1", "ci", "dash"):
        r = call(srv, "pause", {}, who=who)
        assert r.status in (401, 403), r
    r = call(srv, "is_paused", {}, who="view1")
    assert r.json()["response"] == {"paused": False}
    r = call(srv, "add_task", {"task_id": "Refused_1", "worker": "x"}, who="view1")
    assert_json_error(r, 403)
    r = call(srv, "task_search", {"task_str": "Refused_1"}, who="admin1")
    assert all(not v for v in r.json()["response"].values())
    r = call(srv, "disable_worker", {"worker": "w"}, who="work1")
    assert_json_error(r, 403)
    workers = {w["name"]: w for w in call(srv, "worker_list", who="view1").json()["response"]}
    assert workers["w"]["state"] == "active"


@pytest.mark.parametrize("authorization", [
    basic("admin1", "wrong-password"),
    basic("nobody", USERS["admin1"][1]),
    basic("admin1", ""),
    "Basic !!!not-base64!!!",
    "Basic " + "YWRtaW4x",  # "admin1" without a colon
    "Bearer not-a-token",
    "Digest username=admin1",
    "Basic",
], ids=["wrong-password", "unknown-user", "empty-password", "bad-base64", "no-colon",
        "unknown-bearer", "other-scheme", "empty-basic"])
def test_bad_credentials_are_401_even_for_read_only_methods(srv, authorization):
    # Wrong credentials never fall back to the anonymous role.
    r = call(srv, "task_list", ARGS["task_list"], authorization=authorization)
    assert_json_error(r, 401)


def test_missing_credentials_401_with_challenge(srv):
    r = call(srv, "get_work", {"worker": "w"})
    msg = assert_json_error(r, 401)
    assert "worker" in msg
    assert r.header("www-authenticate") == 'Basic realm="luigid-rs", charset="UTF-8"'


def test_a_read_only_method_over_get_is_fine_for_anonymous(srv):
    r = call(srv, "task_list", ARGS["task_list"], via="get")
    assert r.status == 200 and r.header("x-luigid-rs-role") == "viewer"


def test_percent_encoded_method_names_are_checked_as_dispatched(srv):
    # /api/m%61rk_as_done dispatches mark_as_done, so it needs admin, not the fallback.
    for path in ("m%61rk_as_done", "mark%5Fas%5Fdone"):
        r = call(srv, urllib.parse.unquote(path), {"task_id": "T"}, who="work1")
        assert_json_error(r, 403)
        body = urllib.parse.urlencode({"data": '{"task_id": "T"}'}).encode()
        hdrs = {"Content-Type": "application/x-www-form-urlencoded",
                "Authorization": basic("work1", USERS["work1"][1])}
        r = srv.http("POST", "/api/" + path, hdrs, body)
        assert_json_error(r, 403)
        r = srv.http("POST", "/api/" + path, {"Content-Type": "application/x-www-form-urlencoded"}, body)
        assert_json_error(r, 401)
    assert state_of(srv, "T") in ("PENDING", "RUNNING")


def test_unknown_method_is_404_not_an_auth_error(srv):
    r = call(srv, "no_such_method", {}, who=None)
    assert r.status == 404, r


def test_logging_in_never_lowers_the_anonymous_role(tmp_path):
    # anonymous_role = worker: a viewer who logs in still has worker rights.
    s = start(tmp_path, auth_config(anonymous_role="worker", max_failures=0))
    try:
        r = call(s, "add_task", {"task_id": "A", "worker": "w"}, who="view1")
        assert r.status == 200 and r.header("x-luigid-rs-role") == "worker", r
        r = call(s, "add_task", {"task_id": "B", "worker": "w"})
        assert r.status == 200 and r.header("x-luigid-rs-role") == "worker", r
        assert_json_error(call(s, "pause", {}), 401)
        assert_json_error(call(s, "pause", {}, who="view1"), 403)
        assert call(s, "pause", {}, who="admin1").status == 200
    finally:
        s.stop()


def test_access_control_off_is_luigid(tmp_path):
    # Users configured but enabled missing: everything allowed, no role header (as luigid).
    cfg = auth_config()
    del cfg["luigid_rs_auth"]["enabled"]
    s = start(tmp_path, cfg)
    try:
        r = call(s, "pause", {})
        assert r.status == 200 and r.header("x-luigid-rs-role") is None, r
        r = call(s, "pause", {}, via="get", headers={"Origin": "http://elsewhere.example"})
        assert r.status == 200, r
    finally:
        s.stop()

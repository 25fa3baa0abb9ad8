"""Real Luigi workers (`python -m luigi`, luigi 3.8.1) against luigid-rs with access control on.

Luigi's RemoteScheduler sends the scheduler URL's user and password as HTTP Basic (requests
takes them from the URL), so credentials go into `--scheduler-url`. Anonymous requests have
the viewer role here, which is not enough to schedule."""
import os

import pytest

from sechelp import (TOKENS, USERS, assert_json_error, auth_config, basic, bearer, call, json_response,
                      run_worker, start, with_credentials)

EXPECTED = {"leaf-0", "leaf-1", "leaf-2", "top"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start(tmp_path_factory.mktemp("worker-srv"),
              auth_config(anonymous_role="viewer", max_failures=0),
              env={"RUST_LOG": "info"})
    yield s
    s.stop()


def done_tasks(srv):
    r = call(srv, "task_list", {"status": "DONE", "upstream_status": ""}, who="view1")
    return set(json_response(r))


def test_worker_with_password_in_url_completes_the_pipeline(srv, tmp_path):
    rc, err, out = run_worker(with_credentials(srv.url, "work1", USERS["work1"][1]), tmp_path)
    assert rc == 0, err[-3000:]
    assert set(os.listdir(out)) == EXPECTED
    assert "4 ran successfully" in err
    done = done_tasks(srv)
    assert len([t for t in done if t.startswith("Leaf_")]) >= 3, done
    assert len([t for t in done if t.startswith("Top_")]) == 1, done
    workers = json_response(call(srv, "worker_list", who="view1"))
    assert workers, "the worker never reached the scheduler"


def test_worker_without_credentials_cannot_schedule(srv, tmp_path):
    before = done_tasks(srv)
    rc, err, out = run_worker(srv.url, tmp_path, task="Leaf", extra_args=["--n", "77"])
    assert rc != 0, err[-3000:]
    assert "401" in err and "Unauthorized" in err, err[-3000:]
    assert os.listdir(out) == []
    # Nothing reached the scheduler: the task is unknown.
    r = call(srv, "task_search", {"task_str": "Leaf_77"}, who="admin1")
    assert all(not v for v in json_response(r).values()), r
    assert done_tasks(srv) == before


def test_worker_with_wrong_password_cannot_schedule(srv, tmp_path):
    rc, err, out = run_worker(with_credentials(srv.url, "work1", "not-the-password"), tmp_path,
                              task="Leaf", extra_args=["--n", "78"])
    assert rc != 0
    assert "401" in err, err[-3000:]
    assert os.listdir(out) == []


def test_viewer_user_in_url_cannot_schedule(srv, tmp_path):
    # Logged in, but the role is too low: 403, not 401.
    rc, err, out = run_worker(with_credentials(srv.url, "view1", USERS["view1"][1]), tmp_path,
                              task="Leaf", extra_args=["--n", "79"])
    assert rc != 0
    assert "403" in err and "Forbidden" in err, err[-3000:]
    assert os.listdir(out) == []


def test_worker_with_token_as_basic_password_completes(srv, tmp_path):
    # The documented form for workers: user = token name, password = the token.
    rc, err, out = run_worker(with_credentials(srv.url, "ci", TOKENS["ci"][1]), tmp_path,
                              task="Leaf", extra_args=["--n", "5"])
    assert rc == 0, err[-3000:]
    assert os.listdir(out) == ["leaf-5"]


def test_token_under_another_name_is_refused(srv):
    # Basic `name:token` only matches that name's token.
    r = call(srv, "add_task", {"task_id": "T-wrongname", "worker": "s"},
             authorization=basic("ops", TOKENS["ci"][1]))
    assert_json_error(r, 401)


def test_bearer_token_for_a_script(srv):
    tok = TOKENS["ci"][1]
    r = call(srv, "add_task", {"task_id": "ScriptTask_1", "worker": "script-1", "status": "PENDING"},
             authorization=bearer(tok))
    assert r.status == 200, r
    assert r.header("x-luigid-rs-role") == "worker"
    r = call(srv, "get_work", {"worker": "script-1"}, authorization=bearer(tok))
    assert json_response(r)["task_id"] == "ScriptTask_1"
    # The scheme name is case-insensitive (RFC 7235).
    r = call(srv, "ping", {"worker": "script-1"}, authorization="bearer " + tok)
    assert r.status == 200, r
    # A worker token is not enough for operator actions.
    r = call(srv, "mark_as_done", {"task_id": "ScriptTask_1"}, authorization=bearer(tok))
    assert_json_error(r, 403)
    # The admin token is.
    r = call(srv, "mark_as_done", {"task_id": "ScriptTask_1"}, authorization=bearer(TOKENS["ops"][1]))
    assert r.status == 200, r
    assert r.header("x-luigid-rs-role") == "admin"
    r = call(srv, "task_list", {"status": "DONE", "upstream_status": ""}, who="view1")
    assert "ScriptTask_1" in json_response(r)
    # Unknown and empty tokens are 401s.
    assert_json_error(call(srv, "ping", {"worker": "x"}, authorization=bearer("nope" + tok)), 401)
    assert_json_error(call(srv, "ping", {"worker": "x"}, authorization="Bearer "), 401)


def test_remote_scheduler_in_process_with_token_url(srv):
    # The same client class the worker uses, called directly as a script would.
    import luigi.rpc

    rs = luigi.rpc.RemoteScheduler(with_credentials(srv.url, "ci", TOKENS["ci"][1]), connect_timeout=10)
    try:
        rs.add_task(worker="rs-script", task_id="RsTask_1", status="PENDING", runnable=True)
        work = rs.get_work(worker="rs-script")
        assert work["task_id"] == "RsTask_1"
    finally:
        rs.close()


def test_luigis_urllib_fallback_sends_the_url_credentials_too(srv):
    # Without requests installed, Luigi uses URLLibFetcher, which builds the Basic header
    # itself from the URL's (undecoded) user part.
    import json
    from urllib.error import HTTPError

    import luigi.rpc

    fetcher = luigi.rpc.URLLibFetcher()
    url = with_credentials(srv.url, "ci", TOKENS["ci"][1]) + "/api/add_task"
    body = {"data": json.dumps({"task_id": "UrllibTask_1", "worker": "urllib-w"})}
    assert json.loads(fetcher.fetch(url, body, 10)) == {"response": None}
    url = with_credentials(srv.url, "work1", USERS["work1"][1]) + "/api/ping"
    assert json.loads(fetcher.fetch(url, {"data": json.dumps({"worker": "urllib-w"})}, 10))
    with pytest.raises(HTTPError) as e:
        fetcher.fetch(srv.url + "/api/add_task", body, 10)
    assert e.value.code == 401

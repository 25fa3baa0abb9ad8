"""Routes other than the API: history pages need viewer, /metrics needs viewer unless
metrics_public = true, and the health check, the visualiser's files and CORS preflights are
always open (and never look at credentials)."""
import pytest

from sechelp import (TOKENS, assert_json_error, auth_config, basic, bearer, call, get,
                      start)

# (path, status for a viewer on an empty history)
PAGES = [("/tasklist", 200), ("/tasklist/Leaf", 200), ("/history", 200), ("/history/by_name/Leaf", 200),
         ("/history/by_task_id/Leaf_1_x", 404), ("/history/by_params/Leaf?data=%7B%7D", 200)]


def _start(tmp_path, **auth):
    return start(tmp_path, auth_config(**auth),
                 extra_args=["--history-db", str(tmp_path / "hist.db")])


@pytest.fixture(scope="module")
def closed(tmp_path_factory):
    """anonymous_role = none, metrics_public = false."""
    s = _start(tmp_path_factory.mktemp("closed"), anonymous_role="none", max_failures=2)
    yield s
    s.stop()


def test_public_routes_need_nothing(closed):
    assert closed.http("HEAD", "/").status == 204
    r = closed.http("GET", "/")
    assert r.status == 302, r
    r = closed.http("GET", "/static/visualiser/index.html")
    assert r.status == 200 and b"<html" in r.body.lower(), r
    r = closed.http("OPTIONS", "/api/task_list", {"Origin": "http://127.0.0.1"})
    assert r.status not in (401, 403), r


def test_public_routes_ignore_credentials_and_never_count_failures(closed):
    # max_failures = 2: if these wrong credentials counted, the login below would get 429.
    for _ in range(4):
        r = closed.http("HEAD", "/", {"Authorization": basic("admin1", "wrong")})
        assert r.status == 204, r
        r = closed.http("GET", "/static/visualiser/index.html", {"Authorization": "Bearer nope"})
        assert r.status == 200, r
    r = call(closed, "is_paused", {}, who="view1")
    assert r.status == 200, r


def test_metrics_needs_viewer_when_not_public(closed):
    r = get(closed, "/metrics")
    assert_json_error(r, 401)
    for who in ("view1", "work1", "admin1", "dash"):
        r = get(closed, "/metrics", who=who)
        assert r.status == 200, (who, r)
        assert r.header("content-type", "").startswith("text/plain"), r
    # A Prometheus scrape config with `authorization: {credentials: TOKEN}` sends Bearer.
    r = get(closed, "/metrics", authorization=bearer(TOKENS["dash"][1]))
    assert r.status == 200, r


@pytest.mark.parametrize("path,status", PAGES, ids=[p for p, _ in PAGES])
def test_history_pages_need_viewer(closed, path, status):
    r = get(closed, path)
    assert_json_error(r, 401)
    r = get(closed, path, who="view1")
    assert r.status == status, r
    assert r.header("content-type", "").startswith("text/html"), r


def test_api_is_closed_to_anonymous(closed):
    assert_json_error(call(closed, "task_list", {"status": "", "upstream_status": ""}), 401)
    assert_json_error(call(closed, "task_list", {"status": "", "upstream_status": ""}, via="get"), 401)


def test_metrics_public(tmp_path):
    s = _start(tmp_path, anonymous_role="none", metrics_public="true", max_failures=0)
    try:
        r = get(s, "/metrics")
        assert r.status == 200 and r.header("content-type", "").startswith("text/plain"), r
        # Public means credentials are not looked at, not even wrong ones.
        r = get(s, "/metrics", authorization=basic("admin1", "wrong"))
        assert r.status == 200, r
        # The rest stays closed.
        assert_json_error(get(s, "/tasklist"), 401)
        assert_json_error(call(s, "task_list", {}), 401)
    finally:
        s.stop()


def test_default_anonymous_viewer_keeps_scrapers_and_pages_working(tmp_path):
    s = _start(tmp_path, max_failures=0)  # anonymous_role defaults to viewer
    try:
        assert get(s, "/metrics").status == 200
        assert get(s, "/tasklist").status == 200
        assert get(s, "/history").status == 200
        r = call(s, "task_list", {"status": "", "upstream_status": ""}, via="get")
        assert r.status == 200 and r.header("x-luigid-rs-role") == "viewer", r
        assert_json_error(call(s, "add_task", {"task_id": "A", "worker": "w"}), 401)
    finally:
        s.stop()

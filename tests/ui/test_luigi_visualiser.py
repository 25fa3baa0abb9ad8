"""Luigi's own visualiser (the luigi/static directory of the installed luigi package) served
by our binary with --static-dir must load without a JavaScript error, show the scheduler's
task counts, and draw a dependency graph. With UI_TEST_AGAINST=luigid the same checks run
against luigid, which serves that directory itself (this proves the test)."""
import os

import pytest

from conftest import AGAINST, SERVER_CONFIG, js_errors, wait_for
import scenario
from servers import rs_binary, start_luigid, start_luigid_rs

import conftest


def luigi_static_dir():
    # find_spec locates the package without importing it (importing luigi warns).
    import importlib.util
    spec = importlib.util.find_spec("luigi")
    return os.path.join(spec.submodule_search_locations[0], "static")


@pytest.fixture(scope="module")
def luigi_ui(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("luigi-ui")
    # Luigi's page lists every task, so keep max_shown_tasks at its default here.
    config = {k: dict(v) for k, v in SERVER_CONFIG.items()}
    del config["scheduler"]["max_shown_tasks"]
    if AGAINST == "luigid":
        srv = start_luigid(workdir, config=config)
    else:
        if not os.access(rs_binary(), os.X_OK):
            pytest.skip("luigid-rs binary not built (%s)" % rs_binary())
        try:
            srv = start_luigid_rs(workdir, config=config, extra_args=["--static-dir", luigi_static_dir()])
        except RuntimeError as e:
            pytest.skip("luigid-rs cannot start with --static-dir yet (%s: %s)" % (e, conftest._log_tail(workdir)))
        if not conftest.api_works(srv.url):
            srv.stop()
            pytest.skip("luigid-rs does not serve /api/task_list yet (needs the router in main)")
    try:
        # The state this test's expected counts were written for (without the pipeline).
        ids = scenario.build(srv, with_pipeline=False)
    except Exception:
        srv.stop()
        raise
    yield srv, ids
    srv.stop()


def page_errors(driver):
    """JavaScript errors and failed local loads. Luigi's page also asks an outside font
    host, which this sandbox cannot reach, and the browser asks /favicon.ico by itself;
    those network failures are not the page's."""
    return [e for e in js_errors(driver)
            if not (e.get("source") == "network" and (not e["message"].startswith("http://127.0.0.1")
                                                      or "/favicon.ico " in e["message"]))]


def expected_counts(srv):
    """What Luigi's boxes show: each pending task counted once, under its most severe
    upstream category (UPSTREAM_DISABLED, UPSTREAM_FAILED), otherwise as PENDING."""
    def ids(status, upstream=""):
        return set(srv.rpc("task_list", {"status": status, "upstream_status": upstream, "search": ""}))
    out = {s: len(ids(s)) for s in ("RUNNING", "BATCH_RUNNING", "DONE", "FAILED", "DISABLED")}
    ud = ids("PENDING", "UPSTREAM_DISABLED")
    uf = ids("PENDING", "UPSTREAM_FAILED") - ud
    out["UPSTREAM_DISABLED"] = len(ud)
    out["UPSTREAM_FAILED"] = len(uf)
    out["PENDING"] = len(ids("PENDING") - ud - uf)
    return out


def test_luigi_visualiser_loads_counts_and_graph(browser, luigi_ui):
    srv, ids = luigi_ui
    page = srv.url + "/static/visualiser/index.html"
    browser.get("about:blank")
    js_errors(browser)  # drain
    browser.get(page)
    expected = expected_counts(srv)

    def counts():
        return browser.execute_script(
            "const o={};document.querySelectorAll('.status-info').forEach(b=>"
            "{o[b.dataset.category]=b.querySelector('.info-box-number').textContent.trim()});return o")

    wait_for(lambda: all(counts().get(k) == str(v) for k, v in expected.items()), 20,
             "Luigi's boxes to show %r" % expected)
    assert page_errors(browser) == []
    conftest.screenshot(browser, "luigi-visualiser-tasks")

    browser.get(page + "#tab=graph&taskId=" + ids["graph_root"])
    reply = srv.rpc("dep_graph", {"task_id": ids["graph_root"], "include_done": True})
    # Each node of Luigi's SVG graph is a link carrying the task id and status.
    def drawn():
        return browser.execute_script(
            "const o={};document.querySelectorAll('#graphPlaceholder svg a[data-task-id]').forEach(a=>"
            "{o[a.dataset.taskId]=a.dataset.taskStatus});return o")
    wait_for(lambda: drawn() == {k: v["status"] for k, v in reply.items()}, 20,
             "Luigi's graph to draw the %d tasks of dep_graph" % len(reply))
    assert page_errors(browser) == []
    conftest.screenshot(browser, "luigi-visualiser-graph")

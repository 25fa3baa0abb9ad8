"""Browser tests of our visualiser (static/visualiser) against a scheduler filled through
real RPC calls. These read only; the tests that change state are in test_actions.py."""
import json
import os

import pytest

pytest.importorskip("selenium", reason="selenium is not installed (pip install -r tests/requirements.txt)")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from conftest import ARTIFACTS, ZOOM_JS, js_errors, open_view, refresh_and_wait, screenshot, wait_for  # noqa: E402

STATUSES = ["PENDING", "RUNNING", "BATCH_RUNNING", "DONE", "FAILED", "DISABLED", "UNKNOWN"]
UPSTREAM = ["UPSTREAM_RUNNING", "UPSTREAM_MISSING_INPUT", "UPSTREAM_FAILED", "UPSTREAM_DISABLED"]
COLORS = {
    "FAILED": "#d9302b", "DONE": "#2e9e44", "RUNNING": "#2f6fd6", "PENDING": "#f0c419",
    "DISABLED": "#8a8f98", "BATCH_RUNNING": "#8e44ad", "UNKNOWN": "#111111", "TRUNCATED": "#d61fc6",
}


def all_tasks(srv, status="", upstream="", search=""):
    """task_list without the max_shown_tasks cap, as a dict id -> task."""
    reply = srv.rpc("task_list", {"status": status, "upstream_status": upstream,
                                  "search": search, "limit": False})
    assert "num_tasks" not in reply
    return reply


# Read in one script call each, so a re-render between two reads cannot go stale.
def box_counts(driver):
    return driver.execute_script(
        "const o={};document.querySelectorAll('.boxes .box').forEach(b=>"
        "{o[b.dataset.status]=b.querySelector('.count').textContent});return o")


def table_ids(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('#task-table tbody tr[data-task-id]')].map(r=>r.dataset.taskId)")


def families(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('#family-list .fam')].map(b=>b.dataset.family)")


def test_status_boxes_equal_task_list_counts(browser, target):
    open_view(browser, target)
    counts = box_counts(browser)
    expected = {s: str(len(all_tasks(target.srv, s))) for s in STATUSES}
    expected.update({u: str(len(all_tasks(target.srv, "PENDING", u))) for u in UPSTREAM})
    assert counts == expected
    # Every status is present in the scenario, so no box is zero but the sums are real.
    assert all(int(v) > 0 for v in counts.values()), counts
    # More tasks than max_shown_tasks (1000): the table says so instead of listing them.
    note = browser.find_element(By.ID, "table-note").text
    assert "Too many tasks" in note and "max_shown_tasks" in note
    assert table_ids(browser) == []
    # Families with counts are listed for what the table holds; none here.
    assert browser.find_element(By.ID, "last-updated").text != "never"
    screenshot(browser, "tasks-too-many")
    assert js_errors(browser) == []


def test_status_box_filters_rows(browser, target):
    open_view(browser, target)
    browser.find_element(By.CSS_SELECTOR, '.box[data-status="FAILED"]').click()
    expected = sorted(all_tasks(target.srv, "FAILED"))
    wait_for(lambda: sorted(table_ids(browser)) == expected, 10, "failed rows")
    assert "status=FAILED" in browser.current_url
    box = browser.find_element(By.CSS_SELECTOR, '.box[data-status="FAILED"]')
    assert box.get_attribute("aria-pressed") == "true"
    # Adding an upstream filter shows the union.
    browser.find_element(By.CSS_SELECTOR, '.box[data-status="UPSTREAM_FAILED"]').click()
    expected2 = sorted(set(expected) | set(all_tasks(target.srv, "PENDING", "UPSTREAM_FAILED")))
    wait_for(lambda: sorted(table_ids(browser)) == expected2, 10, "failed + upstream failed rows")
    screenshot(browser, "tasks-failed-filter")
    assert js_errors(browser) == []


def test_search_filters_on_server(browser, target):
    open_view(browser, target)
    box = browser.find_element(By.ID, "search")
    box.send_keys("Wait")
    box.send_keys(Keys.ENTER)
    expected = sorted(all_tasks(target.srv, search="Wait"))
    assert len(expected) == 4
    wait_for(lambda: sorted(table_ids(browser)) == expected, 10, "search results")
    # The boxes now count what matches the search.
    wait_for(lambda: box_counts(browser)["PENDING"] == str(len(all_tasks(target.srv, "PENDING", search="Wait"))),
             10, "search-filtered counts")
    assert box_counts(browser)["DONE"] == "0"
    # Family list reflects the rows; its filter narrows them further.
    assert families(browser) == ["Wait"]
    # A search of name=value pairs matches the pretty id.
    box.clear()
    box.send_keys("Leaf j=4) i=3,")
    box.send_keys(Keys.ENTER)
    expected = sorted(all_tasks(target.srv, search="Leaf j=4) i=3,"))
    assert expected == ["BigLeaf_003_04", "Leaf_03_04"]
    wait_for(lambda: sorted(table_ids(browser)) == expected, 10, "param search")
    assert "q=Leaf" in browser.current_url
    screenshot(browser, "tasks-search")
    assert js_errors(browser) == []


def test_table_sort_and_pages(browser, target):
    open_view(browser, target, "status=DISABLED,FAILED,RUNNING,BATCH_RUNNING,UNKNOWN")
    ids = all_tasks(target.srv, "FAILED")
    n = sum(len(all_tasks(target.srv, s)) for s in ["DISABLED", "FAILED", "RUNNING", "BATCH_RUNNING", "UNKNOWN"])
    wait_for(lambda: len(table_ids(browser)) == n, 10, "rows")
    browser.find_element(By.CSS_SELECTOR, 'th[data-sort="id"] button').click()
    assert table_ids(browser) == sorted(table_ids(browser))
    assert browser.find_element(By.CSS_SELECTOR, 'th[data-sort="id"]').get_attribute("aria-sort") == "ascending"
    browser.find_element(By.CSS_SELECTOR, 'th[data-sort="id"] button').click()
    assert table_ids(browser) == sorted(table_ids(browser), reverse=True)
    # Paging over the 313-task Report graph's done leaves.
    open_view(browser, target, "status=PENDING&q=Leaf&size=25")
    pending_leaves = all_tasks(target.srv, "PENDING", search="Leaf")
    info = browser.find_element(By.CSS_SELECTOR, "#pager .page-info").text
    pages = -(-len(pending_leaves) // 25)
    assert info == "Page 1 of %d · %d tasks" % (pages, len(pending_leaves))
    first = table_ids(browser)
    assert len(first) == 25
    browser.find_element(By.XPATH, '//div[@id="pager"]/button[contains(., "Next")]').click()
    second = table_ids(browser)
    assert second and not set(first) & set(second)
    assert "page=2" in browser.current_url
    assert ids  # the failed set is non-empty in the scenario
    assert js_errors(browser) == []


def test_details_panel_shows_traceback_and_fields(browser, target):
    fid = target.ids["failed"]
    open_view(browser, target, "status=FAILED&task=" + fid)
    panel = browser.find_element(By.ID, "details")
    wait_for(lambda: panel.is_displayed() and panel.find_elements(By.CSS_SELECTOR, "pre.trace"), 10, "trace")
    trace = panel.find_element(By.CSS_SELECTOR, "pre.trace").text
    assert "Traceback (most recent call last):" in trace
    # Shown as text, not markup.
    assert "ValueError: bad row 17: <script>alert(1)</script>" in trace
    assert panel.find_element(By.CSS_SELECTOR, ".task-id").text == fid
    actions = [b.get_attribute("data-action") for b in panel.find_elements(By.CSS_SELECTOR, ".actions button")]
    assert "forgive" in actions and "mark-done" in actions and "re-enable" not in actions
    params = {r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text
              for r in panel.find_elements(By.CSS_SELECTOR, ".params-table tr")}
    assert params == {"day": "2026-01-01", "n": "3"}
    screenshot(browser, "details-failed")

    # A running task: status message, progress, tracking URL; no forgive/re-enable.
    rid = target.ids["running"]
    open_view(browser, target, "status=RUNNING&task=" + rid)
    panel = browser.find_element(By.ID, "details")
    wait_for(lambda: panel.find_element(By.CSS_SELECTOR, ".task-id").text == rid, 10, "running details")
    text = panel.text
    assert "copying rows" in text and "40%" in text
    link = panel.find_element(By.CSS_SELECTOR, "a[href^='http://tracker.example']")
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert panel.find_element(By.TAG_NAME, "progress").get_attribute("value") == "40"
    actions = [b.get_attribute("data-action") for b in panel.find_elements(By.CSS_SELECTOR, ".actions button")]
    assert "mark-done" in actions and "forgive" not in actions and "re-enable" not in actions
    # Dependencies load when opened.
    open_view(browser, target, "task=Mid_00")
    panel = browser.find_element(By.ID, "details")
    panel.find_element(By.CSS_SELECTOR, "details.deps summary").click()
    wait_for(lambda: len(panel.find_elements(By.CSS_SELECTOR, ".dep-list li button")) == 25, 10, "deps")
    screenshot(browser, "details-running")
    assert js_errors(browser) == []


def node_statuses(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('#graph-svg g.node')].map(g => "
        "[g.dataset.taskId, g.dataset.status, g.querySelector('rect').getAttribute('fill')])")


def test_graph_one_node_per_task_with_status_colours(browser, target):
    root = target.ids["graph_root"]
    open_view(browser, target, "tab=graph&root=" + root)
    reply = target.srv.rpc("dep_graph", {"task_id": root, "include_done": True})
    wait_for(lambda: browser.find_element(By.ID, "graph-svg").get_attribute("data-rendered") == str(len(reply)),
             10, "graph render")
    nodes = node_statuses(browser)
    assert sorted(n[0] for n in nodes) == sorted(reply)
    for tid, status, fill in nodes:
        assert status == reply[tid]["status"]
        assert fill == COLORS[status]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#graph-svg .edges path")) == sum(
        len(t["deps"]) for t in reply.values())
    # The root is left of its deps and the layout is layered.
    xs = browser.execute_script(
        "const o={};document.querySelectorAll('#graph-svg g.node').forEach(g=>{"
        "o[g.dataset.taskId]=g.transform.baseVal[0].matrix.e});return o")
    assert xs[root] < min(xs[d] for d in reply[root]["deps"])
    legend = browser.find_element(By.ID, "graph-legend").text
    for label in ("Failed", "Done", "Running", "Pending", "Disabled", "Batch running", "Unknown", "Truncated"):
        assert label in legend
    assert "%d tasks" % len(reply) in browser.find_element(By.ID, "graph-note").text
    screenshot(browser, "graph")

    # Hide done: the scheduler leaves out DONE deps.
    browser.find_element(By.ID, "graph-done").click()
    reply2 = target.srv.rpc("dep_graph", {"task_id": root, "include_done": False})
    assert len(reply2) < len(reply)
    wait_for(lambda: browser.find_element(By.ID, "graph-svg").get_attribute("data-rendered") == str(len(reply2)),
             10, "graph without done")
    assert "done=0" in browser.current_url

    # Clicking a node opens its details.
    open_view(browser, target, "tab=graph&root=" + root)
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, '#graph-svg g.node[data-task-id="Leaf_03_04"]'),
             10, "node")
    browser.execute_script(
        "const g=document.querySelector('#graph-svg g.node[data-task-id=\"Leaf_03_04\"]');"
        "const r=g.getBoundingClientRect(); const o={bubbles:true,clientX:r.x+2,clientY:r.y+2,pointerId:1};"
        "g.dispatchEvent(new PointerEvent('pointerdown',o)); g.dispatchEvent(new PointerEvent('pointerup',o));")
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#details .task-id").text == "Leaf_03_04", 10, "details")
    assert "task=Leaf_03_04" in browser.current_url
    assert js_errors(browser) == []


def test_inverse_graph(browser, target):
    open_view(browser, target, "tab=graph&root=Leaf_00_00&inv=1")
    reply = target.srv.rpc("inverse_dep_graph", {"task_id": "Leaf_00_00", "include_done": True})
    assert sorted(reply) == ["Leaf_00_00", "Mid_00", target.ids["graph_root"]]
    wait_for(lambda: sorted(n[0] for n in node_statuses(browser)) == sorted(reply), 10, "inverse graph")
    assert "depending on it" in browser.find_element(By.ID, "graph-note").text
    assert browser.find_element(By.ID, "graph-invert").is_selected()
    # An unknown root says so.
    open_view(browser, target, "tab=graph&root=NoSuchTask")
    assert "no task" in browser.find_element(By.ID, "graph-note").text
    assert js_errors(browser) == []


def test_graph_of_2000_nodes_renders_fast(browser, target):
    root = target.ids["big_root"]
    open_view(browser, target, "tab=graph&root=" + root)
    stats = wait_for(lambda: browser.execute_script("return window.__graphStats"), 20, "graph stats")
    assert stats["nodes"] == target.ids["big_size"] >= 2000
    assert len(browser.find_elements(By.CSS_SELECTOR, "#graph-svg g.node")) == stats["nodes"]
    print("\n2000-node graph: %d nodes, %d edges, layout %.1f ms, DOM %.1f ms, to first frame %.1f ms"
          % (stats["nodes"], stats["edges"], stats["layoutMs"], stats["domMs"], stats["totalMs"]))
    with open(os.path.join(ARTIFACTS, "graph-2000-timing.json"), "w") as f:
        json.dump(stats, f)
    assert stats["totalMs"] < 1000, stats
    screenshot(browser, "graph-2000")
    # Zoom and pan change the view transform.
    before = browser.find_element(By.ID, "viewport").get_attribute("transform")
    browser.find_element(By.ID, "zoom-in").click()
    svg = browser.find_element(By.ID, "graph-svg")
    svg.send_keys(Keys.ARROW_LEFT)
    assert browser.find_element(By.ID, "viewport").get_attribute("transform") != before
    # The overview is drawn without labels (too small to read); zoomed in, every node has one.
    assert browser.execute_script("return document.querySelectorAll('#graph-svg g.node text').length") == 0
    for _ in range(12):
        if browser.execute_script(ZOOM_JS) >= 0.5:
            break
        browser.find_element(By.ID, "zoom-in").click()
    assert browser.execute_script(
        "return [...document.querySelectorAll('#graph-svg g.node')].filter(g => g.querySelector('text') && [...g."
        "querySelectorAll('tspan')].every(t => getComputedStyle(t).display !== 'none')).length") == stats["nodes"]
    assert js_errors(browser) == []


def test_workers_tab_lists_worker_list(browser, target):
    open_view(browser, target, "tab=workers")
    workers = target.srv.rpc("worker_list", {})
    cards = browser.find_elements(By.CSS_SELECTOR, "#workers .worker")
    assert [c.get_attribute("data-worker") for c in cards] == [w["name"] for w in workers]
    for c, w in zip(cards, workers):
        assert c.find_element(By.CSS_SELECTOR, ".host").text == w["host"]
        assert c.find_element(By.CSS_SELECTOR, ".pid").text == "pid %d" % w["pid"]
        for col, key in (("running", "num_running"), ("pending", "num_pending"), ("uniques", "num_uniques")):
            assert c.find_element(By.CSS_SELECTOR, '[data-col="%s"] dd' % col).text == str(w[key])
        running = [li.get_attribute("data-task-id") for li in c.find_elements(By.CSS_SELECTOR, ".running-task")]
        assert running == sorted(w["running"])
        assert c.find_elements(By.CSS_SELECTOR, '[data-action="disable-worker"]')
    screenshot(browser, "workers")
    assert js_errors(browser) == []


def test_resources_tab_lists_resource_list(browser, target):
    open_view(browser, target, "tab=resources")
    resources = target.srv.rpc("resource_list", {})
    cards = browser.find_elements(By.CSS_SELECTOR, "#resources .resource")
    assert [c.get_attribute("data-resource") for c in cards] == [r["name"] for r in resources]
    for c, r in zip(cards, resources):
        assert c.find_element(By.CSS_SELECTOR, ".used").text == str(r["num_used"])
        assert c.find_element(By.CSS_SELECTOR, ".total").text == str(r["num_total"])
        assert [b.text for b in c.find_elements(By.CSS_SELECTOR, ".task-links button")] == sorted(r["running"])
    assert resources[0]["running"], "the scenario runs a task on the db resource"
    screenshot(browser, "resources")
    assert js_errors(browser) == []


def test_deep_link_restores_view_and_back_button(browser, target):
    open_view(browser, target, "status=FAILED&task=%s" % target.ids["failed"])
    assert browser.find_element(By.CSS_SELECTOR, '.box[data-status="FAILED"]').get_attribute("aria-pressed") == "true"
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#details .task-id").text == target.ids["failed"], 10,
             "details from the link")
    # Go to the graph with the button, then back.
    browser.find_element(By.CSS_SELECTOR, '#details [data-action="graph"]').click()
    wait_for(lambda: browser.find_element(By.ID, "panel-graph").is_displayed(), 10, "graph tab")
    assert "tab=graph" in browser.current_url and "root=" in browser.current_url
    browser.back()
    wait_for(lambda: browser.find_element(By.ID, "panel-tasks").is_displayed(), 10, "tasks tab after back")
    assert "tab=graph" not in browser.current_url
    wait_for(lambda: sorted(table_ids(browser)) == sorted(all_tasks(target.srv, "FAILED")), 10, "rows after back")
    browser.forward()
    wait_for(lambda: browser.find_element(By.ID, "panel-graph").is_displayed(), 10, "graph tab after forward")
    assert js_errors(browser) == []


def test_auto_refresh_picks_up_changes(browser, target):
    open_view(browser, target, "q=Autoref")
    assert table_ids(browser) == []
    target.srv.rpc("add_task", {"worker": "Worker(salt=111, workers=2, host=alpha, username=ana, pid=4242)",
                                "task_id": "Autoref_1", "family": "Autoref", "status": "PENDING", "params": {}})
    refresh_and_wait(browser)
    assert table_ids(browser) == ["Autoref_1"]
    # The timer also reloads: pick the shortest interval and wait for one more load.
    Select(browser.find_element(By.ID, "refresh-interval")).select_by_value("5")
    n = int(browser.execute_script("return document.body.dataset.loaded"))
    wait_for(lambda: int(browser.execute_script("return document.body.dataset.loaded")) > n, 12, "auto refresh")
    Select(browser.find_element(By.ID, "refresh-interval")).select_by_value("10")


def test_phone_width_is_usable(browser, target):
    browser.set_window_size(390, 844)
    try:
        open_view(browser, target, "status=FAILED&task=%s" % target.ids["failed"])
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1
        # Boxes, search and rows are all reachable.
        assert browser.find_element(By.ID, "search").is_displayed()
        assert table_ids(browser)
        screenshot(browser, "phone-tasks")
        open_view(browser, target, "tab=graph&root=" + target.ids["graph_root"])
        screenshot(browser, "phone-graph")
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1
    finally:
        browser.set_window_size(1400, 1000)
    assert js_errors(browser) == []


def test_accessibility_basics(browser, target):
    open_view(browser, target)
    # Every form control has a label; tabs are a tablist with one selected tab.
    unlabeled = browser.execute_script(
        "return [...document.querySelectorAll('input,select')].filter(e => !e.labels.length "
        "&& !e.getAttribute('aria-label')).map(e => e.id)")
    assert unlabeled == []
    assert [t.get_attribute("aria-selected") for t in browser.find_elements(By.CSS_SELECTOR, "[role=tab]")] == [
        "true", "false", "false", "false"]
    # Keyboard: arrow keys move between tabs.
    browser.find_element(By.ID, "tab-tasks").send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: browser.find_element(By.ID, "panel-graph").is_displayed(), 5, "graph tab by keyboard")
    assert browser.switch_to.active_element.get_attribute("id") == "tab-graph"
    # History links only when the scheduler records history (it does not here).
    assert not browser.find_element(By.ID, "history-links").is_displayed()
    assert browser.find_element(By.ID, "pause-toggle").is_displayed()


def test_layout_handles_cycles_fanout_and_missing_root(browser, target):
    """The layout module on made-up graphs: a cycle, a 3,000-wide fan-out, a dangling dep.
    Every node must get a distinct, finite position, and parents sit left of children."""
    open_view(browser, target)
    result = browser.execute_async_script("""
      const done = arguments[arguments.length - 1];
      import('./js/graph.js').then(({ buildGraph, layout }) => {
        const t = (deps, status) => ({ name: 'T', status: status || 'PENDING', params: {}, deps });
        const cases = {
          cycle: [{ a: t(['b']), b: t(['c']), c: t(['a', 'd']), d: t([]) }, 'a'],
          wide: [Object.fromEntries([['r', t(Array.from({length: 3000}, (_, i) => 'n' + i))]]
                   .concat(Array.from({length: 3000}, (_, i) => ['n' + i, t([], 'DONE')]))), 'r'],
          dangling: [{ a: t(['gone']) }, 'a'],
          noroot: [{ x: t([]) }, 'missing'],
        };
        const out = {};
        for (const [name, [reply, root]] of Object.entries(cases)) {
          const g = buildGraph(reply, root);
          const size = layout(g);
          const pos = [...g.nodes.values()].map(n => [n.id, n.x, n.y, n.status]);
          const keys = new Set(pos.map(p => p[1] + ',' + p[2]));
          const finite = pos.every(p => Number.isFinite(p[1]) && Number.isFinite(p[2]));
          const leftOf = g.edges.filter(([a, b]) => g.nodes.get(a).x < g.nodes.get(b).x).length;
          out[name] = { n: pos.length, distinct: keys.size, finite, edges: g.edges.length, leftOf,
                        truncated: g.truncated, w: size.width, h: size.height };
        }
        done(out);
      }).catch(e => done({ error: String(e) }));
    """)
    assert "error" not in result, result
    for name, r in result.items():
        assert r["finite"] and r["distinct"] == r["n"], (name, r)
    assert result["cycle"]["n"] == 4 and result["cycle"]["leftOf"] >= 3  # one back edge at most
    wide = result["wide"]
    assert wide["n"] == 3001 and wide["leftOf"] == 3000
    assert wide["h"] < 3000 * 32 / 10, "a 3,000-wide layer must wrap into sub-columns"
    assert result["dangling"]["truncated"] == 1


def test_luigid_style_links_still_work(browser, target):
    """Bookmarks made with luigid's page (#tab=graph&taskId=...&hideDone=1) open the same view."""
    root = target.ids["graph_root"]
    open_view(browser, target, "tab=graph&taskId=%s&hideDone=1" % root)
    reply = target.srv.rpc("dep_graph", {"task_id": root, "include_done": False})
    wait_for(lambda: browser.find_element(By.ID, "graph-svg").get_attribute("data-rendered") == str(len(reply)),
             10, "graph from a luigid-style link")
    assert not browser.find_element(By.ID, "graph-done").is_selected()
    open_view(browser, target, "tab=resource")
    assert browser.find_element(By.ID, "panel-resources").is_displayed()
    assert js_errors(browser) == []


def test_row_limit_asks_before_listing_many(browser, target):
    """Over the page's own row limit the table asks first; "List them anyway" lists them."""
    open_view(browser, target)
    browser.execute_script("localStorage.setItem('luigi-ui-row-limit', '100')")
    try:
        open_view(browser, target, "status=PENDING")
        pending = all_tasks(target.srv, "PENDING")
        assert 100 < len(pending) <= 1000
        note = browser.find_element(By.ID, "table-note").text
        assert "%d tasks match" % len(pending) in note
        assert table_ids(browser) == []
        browser.find_element(By.ID, "list-anyway").click()
        wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#pager .page-info").text.endswith(
            "%d tasks" % len(pending)), 10, "all pending tasks listed")
    finally:
        browser.execute_script("localStorage.removeItem('luigi-ui-row-limit')")
    assert js_errors(browser) == []

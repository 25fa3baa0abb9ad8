"""Browser tests of what makes the page readable with real Luigi task names: graph
labels that fit their boxes with legible contrast, a details drawer that leaves the table its
width, a wide error view with the re-run command, search by task id, worker cards, running
time and resources in the table, and who disabled a task. The 60-task pipeline of
scenario.pipeline() has Luigi-style ids up to 80 characters."""
import pytest

pytest.importorskip("selenium", reason="selenium is not installed (pip install -r tests/requirements.txt)")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

import scenario  # noqa: E402
from conftest import (AGAINST, SERVER_CONFIG, ZOOM_JS, clear_viewport, js_errors, open_view,  # noqa: E402
                      screenshot, set_viewport, start_target, wait_for)

# Not luigid's default (24 h): the page must show the server's disable_persist.
DISABLE_PERSIST = 7200
CONFIG = dict(SERVER_CONFIG, scheduler=dict(SERVER_CONFIG["scheduler"], disable_persist=str(DISABLE_PERSIST)))


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    t = start_target(tmp_path_factory.mktemp("ui-read"), config=CONFIG)
    yield t
    t.stop()


@pytest.fixture
def desktop(browser):
    set_viewport(browser, 1400, 900)
    js_errors(browser)  # drop what earlier tests' pages logged; each test checks its own
    yield browser
    browser.get("about:blank")
    clear_viewport(browser)


def all_tasks(srv, status="", upstream="", search=""):
    return srv.rpc("task_list", {"status": status, "upstream_status": upstream, "search": search, "limit": False})


def table_ids(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('#task-table tbody tr[data-task-id]')].map(r=>r.dataset.taskId)")


def luminance(hex_):
    c = [int(hex_.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def contrast(a, b):
    x, y = sorted([luminance(a), luminance(b)], reverse=True)
    return (x + 0.05) / (y + 0.05)


def rgb_to_hex(css):
    """'rgb(1, 2, 3)' or '#010203' -> '#010203'."""
    css = css.strip()
    if css.startswith("#"):
        return css.lower()
    nums = [int(float(v)) for v in css[css.index("(") + 1:css.index(")")].split(",")[:3]]
    return "#%02x%02x%02x" % tuple(nums)


NODES_JS = """
return [...document.querySelectorAll('#graph-svg g.node')].map(g => {
  const r = g.querySelector('rect'), t = g.querySelector('text');
  const b = t.getBBox();
  return {id: g.dataset.taskId, status: g.dataset.status, fill: r.getAttribute('fill'),
          w: +r.getAttribute('width'), h: +r.getAttribute('height'),
          bx: b.x, by: b.y, bw: b.width, bh: b.height,
          lines: [...t.querySelectorAll('tspan')].map(s => s.textContent),
          text: getComputedStyle(t).fill, title: g.querySelector('title').textContent};
});"""


def test_graph_labels_fit_their_boxes_and_contrast(desktop, target):
    root = target.ids["dash_root"]
    open_view(desktop, target, "tab=graph&root=" + root)
    wait_for(lambda: desktop.find_element(By.ID, "graph-svg").get_attribute("data-rendered") == "60", 10, "graph")
    nodes = desktop.execute_script(NODES_JS)
    assert len(nodes) == 60
    reply = target.srv.rpc("dep_graph", {"task_id": root, "include_done": True})
    for n in nodes:
        label = " ".join(n["lines"])
        # Whole text inside its box (1 px for anti-aliasing), never cut with an ellipsis.
        assert n["bx"] >= 0 and n["by"] >= 0, n
        assert n["bx"] + n["bw"] <= n["w"] + 1 and n["by"] + n["bh"] <= n["h"] + 1, n
        assert "…" not in label and "..." not in label, n
        # The family heads the label; the full id is in the hover text.
        t = reply[n["id"]]
        assert n["lines"][0] == t["name"], n
        assert n["title"].startswith(n["id"] + "\n"), n
        # Legible on every status colour (WCAG AA for normal text).
        assert contrast(rgb_to_hex(n["text"]), n["fill"]) >= 4.5, n
    # The 15 AggregateMetrics siblings differ only in date and region: both are shown.
    agg = {" ".join(n["lines"][1:]) for n in nodes if n["lines"][0] == "AggregateMetrics"}
    assert len(agg) == 15
    assert "date=2024-06-02, region=eu" in agg
    # The 80-character id of the longest task is readable too (its lookback_days differs).
    long_node = [n for n in nodes if n["id"] == target.ids["long_id"]][0]
    assert len(target.ids["long_id"]) <= 80
    assert long_node["lines"][0] == "ComputeRetentionCohortsForAttribution"
    assert any("lookback_days=" in line for line in long_node["lines"])
    # The title names the root readably: family and parameters, and its id.
    title = desktop.find_element(By.ID, "graph-title").text
    assert "PublishWeeklyDashboard(week=2024-W23)" in title and root in title
    # At the opening zoom the labels are drawn at a legible size.
    k = desktop.execute_script(ZOOM_JS)
    assert k >= 0.8
    screenshot(desktop, "graph-60")
    assert js_errors(desktop) == []


def test_every_status_colour_has_legible_labels(desktop, target):
    """All eight node colours, including the truncated magenta, with 80-character labels."""
    open_view(desktop, target)
    out = desktop.execute_async_script("""
      const done = arguments[arguments.length - 1];
      Promise.all([import('./js/graph.js'), import('./js/status.js')]).then(([g, s]) => {
        const reply = {};
        const statuses = Object.keys(s.COLORS).filter(x => x !== 'TRUNCATED');
        const deps = statuses.map((st, i) => 'n' + i);
        reply.root = {name: 'R', status: 'PENDING', params: {}, deps: deps.concat(['gone'])};
        statuses.forEach((st, i) => {
          reply['n' + i] = {name: 'AVeryLongFamilyNameForAnAggregationTaskOfTheWeeklyDashboardPipelineNumber' + i,
                            status: st, params: {a: 'x'.repeat(70), b: String(i)}, deps: []};
        });
        g.renderGraph(reply, 'root');
        requestAnimationFrame(() => done(true));
      }).catch(e => done(String(e)));
    """)
    assert out is True, out
    nodes = desktop.execute_script(NODES_JS)
    assert {n["status"] for n in nodes} == {"PENDING", "RUNNING", "BATCH_RUNNING", "DONE", "FAILED", "DISABLED",
                                            "UNKNOWN", "TRUNCATED"}
    for n in nodes:
        assert contrast(rgb_to_hex(n["text"]), n["fill"]) >= 4.5, n
        assert n["bx"] + n["bw"] <= n["w"] + 1 and n["by"] + n["bh"] <= n["h"] + 1, n
        assert "…" not in " ".join(n["lines"]), n
    assert js_errors(desktop) == []


CELLS_JS = """
return [...document.querySelectorAll('#task-table tbody tr[data-task-id]')].map(tr => {
  const id = tr.querySelector('td.id button'), w = tr.querySelector('td.worker');
  const lh = parseFloat(getComputedStyle(id).lineHeight) || 18;
  return {id: tr.dataset.taskId, idLines: Math.round(id.getBoundingClientRect().height / lh),
          workerClipped: w.scrollWidth > w.clientWidth + 1, worker: w.textContent};
});"""


def test_details_drawer_leaves_the_table_readable(desktop, target):
    view = "status=FAILED,DISABLED,RUNNING"
    open_view(desktop, target, view)
    before = desktop.execute_script("return document.getElementById('task-table').getBoundingClientRect().width")
    open_view(desktop, target, view + "&task=" + target.ids["clean_failed"])
    wait_for(lambda: desktop.find_element(By.ID, "details").is_displayed(), 10, "details")
    after = desktop.execute_script("return document.getElementById('task-table').getBoundingClientRect().width")
    assert abs(after - before) <= 1, (before, after)
    cells = desktop.execute_script(CELLS_JS)
    assert len(cells) == len(table_ids(desktop)) > 5
    for c in cells:
        assert c["idLines"] <= 3, c
        assert not c["workerClipped"], c
    # Workers read host · user · pid, not the raw id cut before the host.
    running = [c for c in cells if c["id"] == target.ids["running"]][0]
    assert running["worker"] == "alpha · ana · pid 4242"
    screenshot(desktop, "details-drawer")
    assert js_errors(desktop) == []


def test_full_error_view_with_copy_and_rerun_command(desktop, target):
    tid = target.ids["clean_failed"]
    open_view(desktop, target, "status=FAILED&task=" + tid)
    wait_for(lambda: desktop.find_elements(By.CSS_SELECTOR, '#details [data-action="show-error"]'), 10, "error")
    desktop.find_element(By.CSS_SELECTOR, '#details [data-action="show-error"]').click()
    dlg = desktop.find_element(By.ID, "error-dialog")
    wait_for(lambda: dlg.get_attribute("open") is not None, 5, "error dialog")
    pre = desktop.find_element(By.ID, "error-text")
    assert pre.text.strip() == scenario.CLEAN_TRACEBACK.strip()
    # No sideways scrolling, and the longest line's end is inside the visible box.
    geo = desktop.execute_script("""
      const pre = document.getElementById('error-text'), d = document.getElementById('error-dialog');
      const r = document.createRange(); r.selectNodeContents(pre);
      const rects = [...r.getClientRects()], pr = pre.getBoundingClientRect();
      return {sw: pre.scrollWidth, cw: pre.clientWidth, dw: d.getBoundingClientRect().width,
              right: Math.max(...rects.map(x => x.right)), preRight: pr.right,
              dialogScroll: d.scrollWidth - d.clientWidth};""")
    assert geo["sw"] <= geo["cw"] and geo["dialogScroll"] <= 0, geo
    assert geo["right"] <= geo["preRight"] + 1, geo
    assert geo["dw"] >= 1000, geo
    cmd = desktop.find_element(By.ID, "error-command").text
    assert cmd == "luigi --module analytics.pipelines CleanEvents --date 2024-06-02 --region eu"
    screenshot(desktop, "error-dialog")
    # Copy puts the whole traceback on the clipboard.
    desktop.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": target.base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    desktop.find_element(By.ID, "error-copy").click()
    wait_for(lambda: "copied" in desktop.find_element(By.ID, "error-copied").text, 5, "copied note")
    pasted = desktop.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "navigator.clipboard.readText().then(done, e => done('ERR ' + e))")
    assert pasted == scenario.CLEAN_TRACEBACK
    desktop.find_element(By.ID, "error-close").click()
    assert dlg.get_attribute("open") is None
    assert js_errors(desktop) == []


def test_rerun_command_quotes_for_the_shell(desktop, target):
    open_view(desktop, target)
    cmd = desktop.execute_async_script("""
      const done = arguments[arguments.length - 1];
      import('./js/details.js').then(d => done(d.rerunCommand('my.mod', 'Fam', {table_name: "a b's", n: '3'})));""")
    assert cmd == "luigi --module my.mod Fam --table-name 'a b'\\''s' --n 3"


def test_search_finds_a_task_by_its_id(desktop, target):
    tid = target.ids["clean_failed"]
    # The scheduler's name search alone does not find it.
    assert all_tasks(target.srv, search=tid) == {}
    open_view(desktop, target)
    box = desktop.find_element(By.ID, "search")
    box.send_keys(tid, Keys.ENTER)
    wait_for(lambda: table_ids(desktop) == [tid], 10, "the task found by id")
    counts = desktop.execute_script(
        "const o={};document.querySelectorAll('.boxes .box').forEach(b=>"
        "{o[b.dataset.status]=b.querySelector('.count').textContent});return o")
    assert counts["FAILED"] == "1" and counts["DONE"] == "0" and counts["PENDING"] == "0", counts
    # Part of an id: every CleanEvents task of June 2024, with counts that match the table.
    box.clear()
    box.send_keys("CleanEvents_2024_06_0", Keys.ENTER)
    found = target.srv.rpc("task_search", {"task_str": "CleanEvents_2024_06_0"})
    expected = sorted(i for by in found.values() for i in by)
    assert len(expected) == 15
    wait_for(lambda: sorted(table_ids(desktop)) == expected, 10, "the tasks found by part of their id")
    pending = set(found.get("PENDING", {}))
    counts = desktop.execute_script(
        "const o={};document.querySelectorAll('.boxes .box').forEach(b=>"
        "{o[b.dataset.status]=b.querySelector('.count').textContent});return o")
    assert counts["PENDING"] == str(len(pending)) and counts["DONE"] == str(len(found.get("DONE", {})))
    for up in ("UPSTREAM_RUNNING", "UPSTREAM_MISSING_INPUT", "UPSTREAM_FAILED", "UPSTREAM_DISABLED"):
        n = len(pending & set(all_tasks(target.srv, "PENDING", up)))
        assert counts[up] == str(n), (up, counts)
    # Family and parameter words still search as before.
    box.clear()
    box.send_keys("CleanEvents region=eu)", Keys.ENTER)
    wait_for(lambda: sorted(table_ids(desktop)) == sorted(all_tasks(target.srv, search="CleanEvents region=eu)")),
             10, "name search")
    assert js_errors(desktop) == []


def test_workers_show_host_user_pid_and_running_tasks(desktop, target):
    open_view(desktop, target, "tab=workers")
    workers = target.srv.rpc("worker_list", {})
    cards = desktop.find_elements(By.CSS_SELECTOR, "#workers .worker")
    assert [c.get_attribute("data-worker") for c in cards] == [w["name"] for w in workers]
    for card, w in zip(cards, workers):
        assert card.find_element(By.CSS_SELECTOR, ".host").text == w["host"]
        assert card.find_element(By.CSS_SELECTOR, ".user").text == "user " + w["username"]
        assert card.find_element(By.CSS_SELECTOR, ".pid").text == "pid %d" % w["pid"]
        assert card.find_element(By.CSS_SELECTOR, '[data-action="procs-value"]').get_attribute("value") == str(
            w["workers"])
        # The host line is one line, not the id wrapped over many.
        head = card.find_element(By.CSS_SELECTOR, ".worker-head")
        assert head.size["height"] < 60, head.size
        items = card.find_elements(By.CSS_SELECTOR, ".running-task")
        assert sorted(i.get_attribute("data-task-id") for i in items) == sorted(w["running"])
        for item in items:
            t = w["running"][item.get_attribute("data-task-id")]
            text = item.text
            assert text.startswith("%s(" % t["name"]), text
            for k, v in t["params"].items():
                assert "%s=%s" % (k, v) in text
            assert "running for " in text
            assert "%d%%" % t["progress_percentage"] in text
            assert t["status_message"] in text
    beta = [c for c in cards if "host=beta" in c.get_attribute("data-worker")][0]
    assert "aggregating 3 of 7 metrics" in beta.text and "43%" in beta.text
    screenshot(desktop, "workers-cards")
    assert js_errors(desktop) == []


def test_table_shows_running_time_and_resources(desktop, target):
    open_view(desktop, target, "status=RUNNING")
    row = desktop.find_element(By.CSS_SELECTOR, '#task-table tr[data-task-id="%s"]' % target.ids["running"])
    since = row.find_element(By.CSS_SELECTOR, ".running-for")
    assert since.text.startswith("for ") and since.text[4].isdigit(), since.text
    assert row.find_element(By.CSS_SELECTOR, "td.params .res").text == "Resources: db: 1"
    assert js_errors(desktop) == []


def test_disabled_task_says_who_disabled_it(desktop, target):
    open_view(desktop, target, "task=" + target.ids["auto_disabled"])
    note = wait_for(lambda: desktop.find_element(By.CSS_SELECTOR, "#details .disabled-by"), 10, "note")
    assert note.get_attribute("data-by") == "scheduler"
    assert "Disabled by the scheduler" in note.text and "re-enables it by itself" in note.text
    t = all_tasks(target.srv, "DISABLED")[target.ids["auto_disabled"]]
    if AGAINST == "luigid":
        # luigid has no luigid_rs_task_details: no count, no time (and no console error)
        assert note.get_attribute("data-re-enable-at") is None
    else:
        # disable_persist after the scheduler disabled it (when its status last changed),
        # as the page's local time to the second, and the one failure of retry_count 1
        at = float(note.get_attribute("data-re-enable-at"))
        assert abs(at - (t["last_updated"] + DISABLE_PERSIST)) < 1, (at, t["last_updated"])
        fmt = ("const d=new Date(arguments[0]*1000), p=n=>String(n).padStart(2,'0');"
               "return `${d.getFullYear()}-${p(d.getMonth()+1)}-${p(d.getDate())} "
               "${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`")
        assert "at %s" % desktop.execute_script(fmt, t["last_updated"]) in note.text, note.text
        assert "after 1 failure within 1h 0m (its retry_count is 1)" in note.text, note.text
        assert "re-enables it by itself at %s" % desktop.execute_script(fmt, at) in note.text, note.text
        assert "disable_persist is 2h 0m" in note.text, note.text
    screenshot(desktop, "details-disabled-by-scheduler")
    open_view(desktop, target, "task=" + target.ids["manual_disabled"])
    note = wait_for(lambda: desktop.find_element(By.CSS_SELECTOR, "#details .disabled-by"), 10, "note")
    assert note.get_attribute("data-by") == "worker"
    assert "Disabled by a worker (alpha · ana · pid 4242)" in note.text
    assert js_errors(desktop) == []


NARROW_VIEWS = [
    ("dashboard", lambda t: ""),
    ("failed-details", lambda t: "status=FAILED&task=" + t.ids["clean_failed"]),
    ("graph-60", lambda t: "tab=graph&root=" + t.ids["dash_root"]),
    ("workers", lambda t: "tab=workers"),
]


@pytest.mark.parametrize("name,view", NARROW_VIEWS, ids=[n for n, _ in NARROW_VIEWS])
def test_a_420_px_screen_needs_no_sideways_scrolling(browser, target, name, view):
    """A phone-sized window: the page itself never scrolls sideways (a wide table or the
    graph scroll inside their own boxes), and the view's content is there."""
    set_viewport(browser, 420, 900)
    js_errors(browser)
    try:
        open_view(browser, target, view(target))
        if name == "graph-60":
            wait_for(lambda: browser.find_element(By.ID, "graph-svg").get_attribute("data-rendered") == "60",
                     10, "graph")
        if name == "failed-details":
            wait_for(lambda: browser.find_element(By.ID, "details").is_displayed(), 10, "details")
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        screenshot(browser, "narrow-" + name)
        assert overflow <= 0, "%s: the page is %d px wider than the screen" % (name, overflow)
        assert js_errors(browser) == []
    finally:
        browser.get("about:blank")
        clear_viewport(browser)

"""Browser tests of the visualiser's actions: each click must change the task (or worker,
or pause flag) on the scheduler, and the page must show the new state afterwards."""
import pytest

pytest.importorskip("selenium", reason="selenium is not installed (pip install -r tests/requirements.txt)")

from selenium.webdriver.common.by import By  # noqa: E402

from conftest import SERVER_CONFIG, js_errors, open_view, screenshot, start_target, wait_for  # noqa: E402


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    # A small max_graph_nodes makes the scheduler cut the Report graph short.
    config = {k: dict(v) for k, v in SERVER_CONFIG.items()}
    config["scheduler"]["max_graph_nodes"] = "40"
    t = start_target(tmp_path_factory.mktemp("ui-actions"), config=config)
    yield t
    t.stop()


def status_on_server(srv, task_id):
    for status, tasks in srv.rpc("task_search", {"task_str": task_id}).items():
        if task_id in tasks:
            return status
    return None


def details_action(driver, name):
    return wait_for(lambda: driver.find_element(By.CSS_SELECTOR, '#details [data-action="%s"]' % name),
                    10, "the %s button" % name)


def badge_text(driver):
    return driver.find_element(By.CSS_SELECTOR, "#details .badge").text


def test_re_enable_changes_status_on_server(browser, target):
    tid = target.ids["auto_disabled"]
    assert status_on_server(target.srv, tid) == "DISABLED"
    open_view(browser, target, "status=DISABLED&task=" + tid)
    actions = [b.get_attribute("data-action") for b in browser.find_elements(By.CSS_SELECTOR, "#details .actions button")]
    assert "re-enable" in actions and "forgive" not in actions
    screenshot(browser, "details-disabled")
    details_action(browser, "re-enable").click()
    wait_for(lambda: status_on_server(target.srv, tid) == "FAILED", 10, "re-enabled on the server")
    wait_for(lambda: badge_text(browser) == "Failed", 10, "the panel to show FAILED")
    assert "Re-enabled" in browser.find_element(By.ID, "details-status").text
    # The table (filtered on DISABLED) no longer lists it.
    wait_for(lambda: not browser.find_elements(By.CSS_SELECTOR, '#task-table tr[data-task-id="%s"]' % tid),
             10, "row to leave the DISABLED list")
    # A manually disabled task offers no re-enable (the scheduler would refuse it).
    open_view(browser, target, "task=" + target.ids["manual_disabled"])
    details_action(browser, "mark-done")
    assert not browser.find_elements(By.CSS_SELECTOR, '#details [data-action="re-enable"]')
    assert js_errors(browser) == []


def test_forgive_failures(browser, target):
    tid = target.ids["failed"]
    open_view(browser, target, "task=" + tid)
    details_action(browser, "forgive").click()
    wait_for(lambda: status_on_server(target.srv, tid) == "PENDING", 10, "forgiven on the server")
    wait_for(lambda: badge_text(browser).startswith("Pending"), 10, "the panel to show PENDING")
    assert not browser.find_elements(By.CSS_SELECTOR, '#details [data-action="forgive"]')
    assert js_errors(browser) == []


def test_mark_as_done_asks_first(browser, target):
    tid = target.ids["manual_disabled"]
    open_view(browser, target, "task=" + tid)
    details_action(browser, "mark-done").click()
    dialog = browser.find_element(By.ID, "confirm")
    wait_for(lambda: dialog.is_displayed(), 5, "the confirmation")
    assert tid in dialog.text
    screenshot(browser, "confirm-mark-done")
    browser.find_element(By.ID, "confirm-cancel").click()
    wait_for(lambda: not dialog.is_displayed(), 5, "dialog closed")
    assert status_on_server(target.srv, tid) == "DISABLED"
    details_action(browser, "mark-done").click()
    wait_for(lambda: dialog.is_displayed(), 5, "the confirmation")
    browser.find_element(By.ID, "confirm-ok").click()
    wait_for(lambda: status_on_server(target.srv, tid) == "DONE", 10, "done on the server")
    wait_for(lambda: badge_text(browser) == "Done", 10, "the panel to show DONE")
    assert not browser.find_elements(By.CSS_SELECTOR, '#details [data-action="mark-done"]')
    assert js_errors(browser) == []


def test_disable_worker(browser, target):
    open_view(browser, target, "tab=workers")
    name = [w["name"] for w in target.srv.rpc("worker_list", {}) if "host=beta" in w["name"]][0]
    row = browser.find_element(By.CSS_SELECTOR, '#workers .worker[data-worker="%s"]' % name)
    row.find_element(By.CSS_SELECTOR, '[data-action="disable-worker"]').click()
    browser.find_element(By.ID, "confirm-ok").click()
    wait_for(lambda: [w["state"] for w in target.srv.rpc("worker_list", {}) if w["name"] == name] == ["disabled"],
             10, "worker disabled on the server")
    wait_for(lambda: "disabled" in browser.find_element(
        By.CSS_SELECTOR, '#workers .worker[data-worker="%s"]' % name).get_attribute("class"), 10, "row greyed")
    assert js_errors(browser) == []


def test_pause_toggle(browser, target):
    open_view(browser, target)
    btn = browser.find_element(By.ID, "pause-toggle")
    assert btn.get_attribute("aria-pressed") == "false"
    btn.click()
    wait_for(lambda: target.srv.rpc("is_paused", {})["paused"] is True, 10, "paused on the server")
    wait_for(lambda: browser.find_element(By.ID, "pause-toggle").get_attribute("aria-pressed") == "true", 10,
             "button shows paused")
    browser.find_element(By.ID, "pause-toggle").click()
    wait_for(lambda: target.srv.rpc("is_paused", {})["paused"] is False, 10, "unpaused on the server")
    assert js_errors(browser) == []


def test_truncated_graph_is_shown(browser, target):
    root = target.ids["graph_root"]
    reply = target.srv.rpc("dep_graph", {"task_id": root, "include_done": True})
    assert len(reply) == 40
    missing = {d for t in reply.values() for d in t.get("deps", []) if d not in reply}
    assert missing
    open_view(browser, target, "tab=graph&root=" + root)
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, '#graph-svg g.node[data-status="TRUNCATED"]'), 10,
             "truncated nodes")
    truncated = browser.execute_script(
        "return [...document.querySelectorAll('#graph-svg g.node[data-status=TRUNCATED]')]"
        ".map(g => [g.dataset.taskId, g.querySelector('rect').getAttribute('fill')])")
    assert {t for t, _ in truncated} == missing
    assert {f for _, f in truncated} == {"#d61fc6"}
    assert "Truncated: %d" % len(missing) in browser.find_element(By.ID, "graph-note").text
    screenshot(browser, "graph-truncated")
    assert js_errors(browser) == []


def test_history_links_follow_has_task_history(browser, target):
    # This scheduler records no history: the links stay hidden (test_history_links.py
    # covers a scheduler that records it).
    open_view(browser, target)
    assert target.srv.rpc("has_task_history", {}) is False
    assert not browser.find_element(By.ID, "history-links").is_displayed()

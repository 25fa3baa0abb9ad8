"""The visualiser with luigid-rs's access control on ([luigid_rs_auth]): a viewer sees the
data and no operator controls; an admin sees them and they work, because the page sends
X-Luigid-Rs-Request on its POSTs, while a browser-like POST without it is refused."""
import hashlib
import json
import urllib.parse

import pytest

pytest.importorskip("selenium", reason="selenium is not installed (pip install -r tests/requirements.txt)")

from selenium.webdriver.common.by import By  # noqa: E402

import scenario  # noqa: E402
from conftest import AGAINST, SERVER_CONFIG, js_errors, open_view, press, screenshot, start_target, wait_for  # noqa: E402

pytestmark = [pytest.mark.skipif(AGAINST == "luigid", reason="access control is luigid-rs's own"),
              pytest.mark.usefixtures("leave_page")]

TOKEN = "ui-test-admin-token-7f3a"
ADMIN = {"Authorization": "Bearer " + TOKEN}
CHAT = "Chat_run"
# Every control the page offers; all need admin.
ADMIN_CONTROLS = ["re-enable", "forgive", "mark-done", "disable-worker", "procs-inc", "procs-dec",
                  "procs-set", "resource-inc", "resource-dec", "resource-set", "send-message"]


def start(tmp_path_factory, anonymous_role):
    config = {k: dict(v) for k, v in SERVER_CONFIG.items()}
    config["luigid_rs_auth"] = {
        "enabled": "true", "anonymous_role": anonymous_role,
        "token.uitest": "admin sha256:" + hashlib.sha256(TOKEN.encode()).hexdigest(),
    }
    t = start_target(tmp_path_factory.mktemp("ui-auth-" + anonymous_role), config=config, rpc_headers=ADMIN)
    scenario.add(t.srv, CHAT, "Chat", {"room": "ops"}, "RUNNING", accepts_messages=True)
    return t


@pytest.fixture(scope="module")
def viewer_target(tmp_path_factory):
    t = start(tmp_path_factory, "viewer")
    yield t
    t.stop()


@pytest.fixture(scope="module")
def admin_target(tmp_path_factory):
    t = start(tmp_path_factory, "admin")
    yield t
    t.stop()


def shown_controls(driver):
    return sorted({b.get_attribute("data-action") for b in driver.find_elements(By.CSS_SELECTOR, "[data-action]")
                   if b.is_displayed() and b.get_attribute("data-action") in ADMIN_CONTROLS})


def form_post(srv, method, data, headers):
    body = urllib.parse.urlencode({"data": json.dumps(data)}).encode()
    hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
    hdrs.update(headers)
    return srv.http("POST", "/api/" + method, hdrs, body)


def test_viewer_sees_data_and_no_controls(browser, viewer_target):
    t = viewer_target
    reply = t.srv.rpc_raw("task_list", {"status": "FAILED"}, via="get")
    assert reply.status == 200 and reply.header("x-luigid-rs-role") == "viewer"
    # The server really refuses the viewer's changes, so hiding them is not cosmetic.
    assert t.srv.rpc_raw("pause", {}, headers={"X-Luigid-Rs-Request": "1"}).status in (401, 403)

    open_view(browser, t, "status=FAILED&task=" + t.ids["failed"])
    assert browser.find_elements(By.CSS_SELECTOR, '#task-table tr[data-task-id="%s"]' % t.ids["failed"])
    assert browser.execute_script("return document.body.dataset.role") == "viewer"
    assert "viewer" in browser.find_element(By.ID, "role-note").text
    assert "Traceback" in browser.find_element(By.CSS_SELECTOR, "#details pre.trace").text
    assert browser.find_element(By.CSS_SELECTOR, '#details [data-action="graph"]').is_displayed()
    assert shown_controls(browser) == []
    assert not browser.find_element(By.ID, "pause-toggle").is_displayed()
    screenshot(browser, "auth-viewer-details")

    open_view(browser, t, "task=" + t.ids["auto_disabled"])
    assert shown_controls(browser) == []
    open_view(browser, t, "task=" + CHAT)
    assert browser.find_element(By.ID, "live-message") is not None
    assert not browser.find_element(By.ID, "details-message").is_displayed()
    assert shown_controls(browser) == []

    open_view(browser, t, "tab=workers")
    row = browser.find_element(By.CSS_SELECTOR, '#workers .worker[data-worker="%s"]' % scenario.W1)
    assert row.find_element(By.CSS_SELECTOR, '[data-col="processes"] dd').text == "2"
    assert shown_controls(browser) == []
    screenshot(browser, "auth-viewer-workers")
    open_view(browser, t, "tab=resources")
    assert browser.find_elements(By.CSS_SELECTOR, '#resources .resource[data-resource="db"]')
    assert shown_controls(browser) == []
    assert js_errors(browser) == []


def test_admin_controls_work_and_csrf_rule_holds(browser, admin_target):
    t = admin_target
    origin = {"Origin": t.base}
    # A browser-like POST (it has Origin) without the header: refused, nothing changes.
    r = form_post(t.srv, "pause", {}, origin)
    assert r.status == 403, r
    assert t.srv.rpc("is_paused", {})["paused"] is False
    r = form_post(t.srv, "forgive_failures", {"task_id": t.ids["failed"]}, origin)
    assert r.status == 403, r

    open_view(browser, t, "task=" + t.ids["failed"])
    assert browser.execute_script("return document.body.dataset.role") == "admin"
    assert shown_controls(browser) == ["forgive", "mark-done"]
    assert browser.find_element(By.ID, "pause-toggle").is_displayed()
    screenshot(browser, "auth-admin-details")
    browser.find_element(By.CSS_SELECTOR, '#details [data-action="forgive"]').click()
    wait_for(lambda: t.ids["failed"] in t.srv.rpc("task_list", {"status": "PENDING"}), 10, "forgiven on the server")

    browser.find_element(By.ID, "pause-toggle").click()
    wait_for(lambda: t.srv.rpc("is_paused", {})["paused"] is True, 10, "paused on the server")

    open_view(browser, t, "tab=resources")
    press(lambda: browser.find_element(By.CSS_SELECTOR, '#resources [data-resource="db"]'), "resource-inc")
    wait_for(lambda: [r["num_total"] for r in t.srv.rpc("resource_list", {}) if r["name"] == "db"] == [4], 10,
             "db = 4 on the server")

    open_view(browser, t, "tab=workers")
    press(lambda: browser.find_element(By.CSS_SELECTOR, '#workers .worker[data-worker="%s"]' % scenario.W1),
          "procs-inc")
    wait_for(lambda: {"name": "set_worker_processes", "kwargs": {"n": 3}} in
             t.srv.rpc("ping", {"worker": scenario.W1})["rpc_messages"], 10, "n=3 queued")

    open_view(browser, t, "task=" + CHAT)
    browser.find_element(By.ID, "message-wait").click()  # no reply wanted
    browser.find_element(By.ID, "message-text").send_keys("hello")
    browser.find_element(By.CSS_SELECTOR, '[data-action="send-message"]').click()
    wait_for(lambda: [m for m in t.srv.rpc("ping", {"worker": scenario.W1})["rpc_messages"]
                      if m["name"] == "dispatch_scheduler_message" and m["kwargs"]["content"] == "hello"],
             10, "message queued")
    assert js_errors(browser) == []

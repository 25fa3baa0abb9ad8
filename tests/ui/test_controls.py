"""Browser tests of the operator controls beyond the task actions: a worker's process count,
a resource's amount, messages to a running task, and the live status of a running task.
Each checks the effect on the scheduler through the API, not only what the page shows."""
import pytest

pytest.importorskip("selenium", reason="selenium is not installed (pip install -r tests/requirements.txt)")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

import scenario  # noqa: E402
from conftest import js_errors, open_view, press, screenshot, start_target, type_value, wait_for  # noqa: E402

CHAT = "Chat_run"
pytestmark = pytest.mark.usefixtures("leave_page")


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    t = start_target(tmp_path_factory.mktemp("ui-controls"))
    # A running task whose worker takes messages (luigi's Task.accepts_messages = True).
    scenario.add(t.srv, CHAT, "Chat", {"room": "ops"}, "RUNNING", accepts_messages=True)
    yield t
    t.stop()


class Inbox:
    """What the scheduler hands a worker at its pings (ping drains the queue, so keep all)."""

    def __init__(self, srv, worker):
        self.srv, self.worker, self.seen = srv, worker, []

    def poll(self):
        self.seen += self.srv.rpc("ping", {"worker": self.worker})["rpc_messages"]
        return self.seen

    def wait(self, pred, what):
        return wait_for(lambda: [m for m in self.poll() if pred(m)], 10, what)[-1]


def worker_row(driver, name):
    return driver.find_element(By.CSS_SELECTOR, '#workers .worker[data-worker="%s"]' % name)


def test_worker_process_count(browser, target):
    inbox = Inbox(target.srv, scenario.W1)
    inbox.poll()
    open_view(browser, target, "tab=workers")
    row = worker_row(browser, scenario.W1)
    assert row.find_element(By.CSS_SELECTOR, '[data-action="procs-value"]').get_attribute("value") == "2"
    press(lambda: worker_row(browser, scenario.W1), "procs-inc")
    inbox.wait(lambda m: m == {"name": "set_worker_processes", "kwargs": {"n": 3}}, "n=3 queued for the worker")
    # The worker reports its new count only when it registers again; the page shows the request.
    wait_for(lambda: "asked 3" in worker_row(browser, scenario.W1).text, 10, "the request shown")
    assert "Asked" in browser.find_element(By.ID, "workers-status").text
    screenshot(browser, "workers-processes")
    press(lambda: worker_row(browser, scenario.W1), "procs-dec")
    inbox.wait(lambda m: m["kwargs"] == {"n": 2} and m["name"] == "set_worker_processes", "n=2 queued")
    type_value(lambda: worker_row(browser, scenario.W1), "procs", "5")
    inbox.wait(lambda m: m["kwargs"] == {"n": 5} and m["name"] == "set_worker_processes", "n=5 queued")
    # Below one process is not offered.
    type_value(lambda: worker_row(browser, scenario.W1), "procs", "0")
    assert [m for m in inbox.poll() if m["kwargs"].get("n") == 0] == []
    # Once the worker re-registers with the new count, the note goes.
    target.srv.rpc("add_worker", {"worker": scenario.W1, "info": {"workers": 5}})
    browser.find_element(By.ID, "refresh-now").click()
    wait_for(lambda: "asked" not in worker_row(browser, scenario.W1).text, 10, "note gone")
    assert js_errors(browser) == []


def resource_total(srv, name):
    return [r["num_total"] for r in srv.rpc("resource_list", {}) if r["name"] == name]


def card(driver, name):
    return driver.find_element(By.CSS_SELECTOR, '#resources .resource[data-resource="%s"]' % name)


def test_resource_amount(browser, target):
    assert resource_total(target.srv, "db") == [3]
    open_view(browser, target, "tab=resources")
    press(lambda: card(browser, "db"), "resource-inc")
    wait_for(lambda: resource_total(target.srv, "db") == [4], 10, "db = 4 on the server")
    wait_for(lambda: card(browser, "db").find_element(By.CSS_SELECTOR, ".total").text == "4", 10, "card shows 4")
    press(lambda: card(browser, "db"), "resource-dec")
    wait_for(lambda: resource_total(target.srv, "db") == [3], 10, "db = 3 on the server")
    wait_for(lambda: card(browser, "db").find_element(By.CSS_SELECTOR, ".total").text == "3", 10, "card shows 3")
    type_value(lambda: card(browser, "db"), "resource", "7")
    wait_for(lambda: resource_total(target.srv, "db") == [7], 10, "db = 7 on the server")
    wait_for(lambda: "db set to 7" in browser.find_element(By.ID, "resources-status").text, 10, "confirmation")
    screenshot(browser, "resources-amount")
    assert js_errors(browser) == []


def test_live_status_of_running_task(browser, target):
    tid = target.ids["running"]
    open_view(browser, target, "task=" + tid)
    assert browser.find_element(By.ID, "live-message").text == "copying rows"
    interval = browser.find_element(By.ID, "refresh-interval")
    browser.execute_script("arguments[0].value = '0'; arguments[0].dispatchEvent(new Event('change'))", interval)
    try:
        loads = int(browser.execute_script("return document.body.dataset.loaded"))
        target.srv.rpc("set_task_status_message", {"task_id": tid, "status_message": "step 2 of 3"})
        target.srv.rpc("set_task_progress_percentage", {"task_id": tid, "progress_percentage": 75})
        wait_for(lambda: browser.find_element(By.ID, "live-message").text == "step 2 of 3", 10, "new message")
        wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#live-progress progress").get_attribute("value") == "75",
                 10, "new progress")
        assert "75%" in browser.find_element(By.ID, "live-progress").text
        # Auto-refresh is off: the panel's own polling did it, not a full reload.
        assert int(browser.execute_script("return document.body.dataset.loaded")) == loads
        screenshot(browser, "details-live-status")
    finally:
        browser.execute_script("arguments[0].value = '10'; arguments[0].dispatchEvent(new Event('change'))",
                               browser.find_element(By.ID, "refresh-interval"))
    assert js_errors(browser) == []


def test_send_message_and_show_reply(browser, target):
    # A running task that does not take messages offers no message box.
    open_view(browser, target, "task=" + target.ids["running"])
    assert not browser.find_element(By.ID, "details-message").is_displayed()

    inbox = Inbox(target.srv, scenario.W1)
    inbox.poll()
    open_view(browser, target, "task=" + CHAT)
    wait_for(lambda: browser.find_element(By.ID, "message-text").is_displayed(), 10, "the message box")
    browser.find_element(By.ID, "message-text").send_keys("status please")
    browser.find_element(By.CSS_SELECTOR, '[data-action="send-message"]').click()
    msg = inbox.wait(lambda m: m["name"] == "dispatch_scheduler_message", "the message queued for the worker")
    assert msg["kwargs"]["task_id"] == CHAT and msg["kwargs"]["content"] == "status please"
    mid = msg["kwargs"]["message_id"]
    wait_for(lambda: "waiting" in browser.find_element(By.ID, "message-status").text, 10, "waiting shown")
    # The worker answers as luigi's worker does.
    target.srv.rpc("add_scheduler_message_response", {"task_id": CHAT, "message_id": mid, "response": "42 rows left"})
    wait_for(lambda: browser.find_element(By.ID, "message-reply").text == "42 rows left", 10, "the reply shown")
    # The page fetched it (reading removes it on the scheduler).
    assert target.srv.rpc("get_scheduler_message_response", {"task_id": CHAT, "message_id": mid}) == {"response": None}
    screenshot(browser, "details-message-reply")

    # Without waiting for a reply: only queued.
    browser.find_element(By.ID, "message-wait").click()
    browser.find_element(By.ID, "message-text").send_keys("stop", Keys.ENTER)
    inbox.wait(lambda m: m["name"] == "dispatch_scheduler_message" and m["kwargs"]["content"] == "stop", "second message")
    wait_for(lambda: "Sent" in browser.find_element(By.ID, "message-status").text, 10, "sent shown")
    assert js_errors(browser) == []

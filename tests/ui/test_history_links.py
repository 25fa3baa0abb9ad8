"""The top bar links to the task history pages only when the scheduler records history."""
import os
import urllib.request

import pytest

pytest.importorskip("selenium", reason="selenium is not installed (pip install -r tests/requirements.txt)")

from selenium.webdriver.common.by import By  # noqa: E402

from conftest import AGAINST, SERVER_CONFIG, js_errors, open_view, screenshot, start_target, wait_for


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    if AGAINST == "luigid":
        pytest.skip("luigid's task history needs SQLAlchemy, which the test venv does not have")
    workdir = tmp_path_factory.mktemp("ui-history")
    config = {k: dict(v) for k, v in SERVER_CONFIG.items()}
    config["scheduler"]["record_task_history"] = "true"
    t = start_target(workdir, config=config,
                     extra_args=["--history-db", os.path.join(str(workdir), "history.db")])
    yield t
    t.stop()


def test_history_links_shown_and_resolve(browser, target):
    assert target.srv.rpc("has_task_history", {}) is True
    open_view(browser, target)
    links = browser.find_element(By.ID, "history-links")
    assert links.is_displayed()
    for a in links.find_elements(By.TAG_NAME, "a"):
        href = a.get_attribute("href")
        assert href.startswith(target.base + "/")
        with urllib.request.urlopen(href, timeout=10) as resp:
            assert resp.status == 200
    assert js_errors(browser) == []


def test_history_chart_has_axes_and_legend(browser, target):
    """/tasklist/<name>: durations on the y axis, start dates on the x axis, a legend."""
    w = "Worker(salt=9, workers=1, host=h, username=u, pid=1)"
    for i, end in enumerate(["DONE", "FAILED", "DONE"]):
        tid = "Charted_%d" % i
        for st in ("RUNNING", end):
            target.srv.rpc("add_task", {"worker": w, "task_id": tid, "family": "Charted", "params": {"i": str(i)},
                                        "status": st})
    url = target.base + "/tasklist/Charted"

    def charted():
        browser.get(url)
        return len(browser.find_elements(By.CSS_SELECTOR, "svg.chart > rect[fill='#e53935']")) == 1
    wait_for(charted, 20, "three runs in the chart (history is written in the background)")
    info = browser.execute_script("""
      const svg = document.querySelector('svg.chart'), box = svg.getBoundingClientRect();
      const texts = [...svg.querySelectorAll('text')];
      return {texts: texts.map(t => t.textContent),
              outside: texts.filter(t => { const r = t.getBoundingClientRect();
                 return r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1
                        || r.bottom > box.bottom + 1; }).map(t => t.textContent),
              xticks: [...svg.querySelectorAll('.x-tick')].map(t => t.textContent),
              yticks: [...svg.querySelectorAll('.y-tick')].map(t => t.textContent)};""")
    assert "Duration" in info["texts"] and any(t.startswith("Run started") for t in info["texts"])
    for name in ("Done", "Failed", "Other"):
        assert name in info["texts"]
    assert len(info["xticks"]) == 3 and all(t[:4].isdigit() and t[4] == "-" for t in info["xticks"]), info
    assert len(info["yticks"]) == 5 and info["yticks"][0] == "0", info
    assert info["outside"] == [], info
    screenshot(browser, "history-chart")
    # The history pages have no icon; the browser's own request for one is not the page's error.
    assert [e for e in js_errors(browser) if "favicon.ico" not in e["message"]] == []

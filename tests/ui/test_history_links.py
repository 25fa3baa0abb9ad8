"""The top bar links to the task history pages only when the scheduler records history."""
import os
import urllib.request

import pytest

pytest.importorskip("selenium", reason="selenium is not installed (pip install -r tests/requirements.txt)")

from selenium.webdriver.common.by import By  # noqa: E402

from conftest import AGAINST, SERVER_CONFIG, js_errors, open_view, start_target


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

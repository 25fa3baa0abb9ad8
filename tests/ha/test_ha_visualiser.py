"""The visualiser of a standby says so (headless Debian Chromium driven by selenium)."""
import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from hacluster import dbservers, wait_for  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")


@pytest.fixture
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        dbservers.unavailable("selenium is not installed (pip install -r tests/requirements.txt)")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            dbservers.unavailable("%s missing (make browser)" % path)
    profile = tempfile.mkdtemp(prefix="ha-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-dev-shm-usage",
                 "--user-data-dir=" + profile):
        opts.add_argument(flag)
    os.environ.setdefault("SE_OFFLINE", "true")  # never let selenium fetch a driver
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def banner(driver):
    return driver.execute_script(
        "const b = document.getElementById('banner'); return b && !b.hidden ? b.textContent : '';")


def test_standby_page_says_standby_and_leader_page_does_not(nodes, browser):
    a = nodes("a").start()
    b = nodes("b").start()
    browser.get("http://127.0.0.1:%d/" % b.port)
    text = wait_for(lambda: banner(browser), 20, "the standby banner", step=0.1)
    assert text.startswith("Standby:"), text
    browser.get("http://127.0.0.1:%d/" % a.port)
    wait_for(lambda: browser.execute_script("return document.body.dataset.loaded"), 20,
             "the leader's page to load", step=0.1)
    assert banner(browser) == ""

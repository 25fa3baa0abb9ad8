"""Fixtures for the browser tests: a headless Debian Chromium driven by selenium, and a
scheduler filled through real RPC calls with the page in front of it.

UI_TEST_AGAINST selects the scheduler: unset or "rs" starts luigid-rs, which serves the
page itself; "luigid" starts the real luigid behind tests/ui/devserver.py, which serves
static/ and forwards /api/ to it.
"""
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

import devserver  # noqa: E402
import scenario  # noqa: E402
from servers import REPO, rs_binary, start_luigid, start_luigid_rs  # noqa: E402

ARTIFACTS = os.path.join(REPO, "tests", "artifacts")
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
AGAINST = os.environ.get("UI_TEST_AGAINST", "rs")

# max_shown_tasks is below the number of tasks so the "too many tasks" reply is exercised;
# workers never ping in these tests, so they must not be pruned as gone mid-test.
SERVER_CONFIG = {
    "scheduler": {"pause_enabled": "true", "record_task_history": "false",
                  "max_shown_tasks": "1000", "worker_disconnect_delay": "3600"},
    "resources": {"db": "3"},
}


def _missing(reason):
    # In CI a missing browser is a broken setup, not a reason to pass quietly.
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install -r tests/requirements.txt)")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            _missing("%s missing: apt-get install chromium chromium-driver (make browser)" % path)
    profile = tempfile.mkdtemp(prefix="ui-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000",
                 "--user-data-dir=" + profile):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ.setdefault("SE_OFFLINE", "true")  # never let selenium fetch a driver
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    os.makedirs(ARTIFACTS, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def api_works(url):
    """True when `url` answers task_list like a scheduler."""
    q = urllib.parse.urlencode({"data": json.dumps({"status": "DONE"})})
    try:
        with urllib.request.urlopen(url + "/api/task_list?" + q, timeout=5) as resp:
            return isinstance(json.loads(resp.read().decode()).get("response"), dict)
    except Exception:
        return False


def _log_tail(workdir):
    try:
        with open(os.path.join(str(workdir), "server.log"), "rb") as f:
            return f.read()[-300:].decode(errors="replace").strip()
    except OSError:
        return ""


class Target:
    """The scheduler (`srv`, for RPC calls) and where the page is (`base`)."""

    def __init__(self, srv, base, ids, front=None):
        self.srv = srv
        self.base = base
        self.ids = ids
        self.front = front
        self.page = base + "/static/visualiser/index.html"

    def stop(self):
        if self.front:
            self.front.stop()
        self.srv.stop()


class AuthedServer:
    """`srv` whose rpc() sends `headers` (credentials for a server with access control on);
    everything else is the server itself."""

    def __init__(self, srv, headers):
        self._srv = srv
        self._headers = dict(headers)

    def __getattr__(self, name):
        return getattr(self._srv, name)

    def rpc(self, method, data=None, via="post"):
        r = self._srv.rpc_raw(method, data, via, headers=self._headers)
        if r.status != 200:
            raise RuntimeError("%s -> HTTP %d: %r" % (method, r.status, r.body[:300]))
        return r.json()["response"]


def start_target(workdir, big_fanout=0, config=None, extra_args=(), rpc_headers=None):
    """`rpc_headers`: sent with the test's own RPC calls (not the browser's)."""
    config = config or SERVER_CONFIG
    if AGAINST == "luigid":
        srv = start_luigid(workdir, config=config)
        front = devserver.start(srv.url)
        base = front.url
    else:
        if not os.access(rs_binary(), os.X_OK):
            pytest.skip("luigid-rs binary not built (%s); run `make build`" % rs_binary())
        try:
            srv = start_luigid_rs(workdir, config=config, extra_args=extra_args)
        except RuntimeError as e:
            pytest.skip("luigid-rs cannot start a server yet (%s: %s); run with "
                        "UI_TEST_AGAINST=luigid to test the page against luigid" % (e, _log_tail(workdir)))
        front = None
        base = srv.url
        if not api_works(srv.url):
            srv.stop()
            pytest.skip("luigid-rs does not serve /api/task_list yet; "
                        "run with UI_TEST_AGAINST=luigid to test the page against luigid")
    if rpc_headers:
        srv = AuthedServer(srv, rpc_headers)
    try:
        ids = scenario.build(srv, big_fanout=big_fanout)
    except Exception:
        Target(srv, base, {}, front).stop()
        raise
    return Target(srv, base, ids, front)


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    t = start_target(tmp_path_factory.mktemp("ui"), big_fanout=40)
    yield t
    t.stop()


@pytest.fixture
def leave_page(browser):
    """Leave the page after the test, before its server stops: the page polls (auto-refresh,
    a running task's status, a message reply) and would log the dead server's errors into
    the next test's console."""
    yield
    browser.get("about:blank")
    js_errors(browser)


def wait_for(predicate, timeout=10.0, what="condition"):
    """Poll `predicate` until it returns a truthy value, bounded by `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # the page may be mid-render
            last = e
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def js_errors(driver):
    """Console errors logged since the last call (reading the log drains it)."""
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def open_view(driver, target, hash_="", loads=1, timeout=20):
    """Load the page fresh at `hash_` and wait until it has finished `loads` refreshes."""
    driver.get("about:blank")
    driver.get(target.page + ("#" + hash_ if hash_ else ""))
    wait_for(lambda: int(driver.execute_script("return document.body.dataset.loaded || 0")) >= loads,
             timeout, "the page to load its data")


def loaded_count(driver):
    return int(driver.execute_script("return document.body.dataset.loaded || 0"))


def refresh_and_wait(driver):
    """Press Refresh and wait for that refresh to complete."""
    n = loaded_count(driver)
    driver.find_element("id", "refresh-now").click()
    wait_for(lambda: loaded_count(driver) > n, 20, "a refresh")


def set_viewport(driver, width, height):
    """Make the page's viewport exactly `width` x `height` CSS pixels (the window size
    includes the browser's frame); `clear_viewport` undoes it."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def clear_viewport(driver):
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


# The graph's zoom factor: the scale in the view transform "translate(x,y) scale(k)".
ZOOM_JS = r"return +document.getElementById('viewport').getAttribute('transform').match(/scale\((.*)\)/)[1]"


def screenshot(driver, name):
    path = os.path.join(ARTIFACTS, name + ".png")
    driver.save_screenshot(path)
    return path


def press(find, action):
    """Click the `action` control inside what `find()` returns; retried, as a refresh may
    redraw the row between finding and clicking."""
    def go():
        find().find_element("css selector", '[data-action="%s"]' % action).click()
        return True
    wait_for(go, 10, "clicking " + action)


def type_value(find, action, text):
    """Type `text` + Enter into the number box; once it has focus the page stops redrawing it."""
    from selenium.webdriver.common.keys import Keys

    def go():
        box = find().find_element("css selector", '[data-action="%s-value"]' % action)
        box.click()
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(text, Keys.ENTER)
        return True
    wait_for(go, 10, "typing into " + action)

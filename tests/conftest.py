"""Shared pytest fixtures: start luigid-rs (our binary) or the real luigid on a free
loopback port or a UNIX socket, each in its own temp dir, and talk to them over HTTP.

`LUIGID_RS_ONLY_ORACLE=1` runs the differential and e2e suites against the real luigid
only (to validate the scenarios themselves); otherwise every scenario runs against both
servers and their replies are compared."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

import pytest  # noqa: E402

from servers import oracle_only, start_luigid, start_luigid_rs  # noqa: E402


def _configure_client():
    # The in-process RemoteScheduler used by the diff suite: one attempt, no 30 s waits,
    # so an HTTP error on either server is recorded at once instead of retried.
    from luigi import configuration

    cfg = configuration.get_config()
    if not cfg.has_section("core"):
        cfg.add_section("core")
    cfg.set("core", "rpc_retry_attempts", "1")
    cfg.set("core", "rpc_retry_wait", "0")
    cfg.set("core", "rpc_log_retries", "false")


_configure_client()


def pytest_report_header(config):
    if oracle_only():
        return "luigid-rs: LUIGID_RS_ONLY_ORACLE=1, running the real luigid side only"
    return "luigid-rs: comparing against the real luigid"


@pytest.fixture
def rs_server(tmp_path):
    """A fresh luigid-rs on a free port with a default config."""
    if oracle_only():
        pytest.skip("LUIGID_RS_ONLY_ORACLE=1: luigid-rs is not started")
    srv = start_luigid_rs(tmp_path)
    yield srv
    srv.stop()


@pytest.fixture
def py_server(tmp_path):
    """A fresh real luigid on a free port with a default config."""
    srv = start_luigid(tmp_path)
    yield srv
    srv.stop()

"""Shared pytest fixtures: start luigid-rs (our binary) or the real luigid on a free
loopback port or a UNIX socket, each in its own temp dir, and talk to them over HTTP."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))

import pytest  # noqa: E402

from servers import start_luigid, start_luigid_rs  # noqa: E402


@pytest.fixture
def rs_server(tmp_path):
    """A fresh luigid-rs on a free port with a default config."""
    srv = start_luigid_rs(tmp_path)
    yield srv
    srv.stop()


@pytest.fixture
def py_server(tmp_path):
    """A fresh real luigid on a free port with a default config."""
    srv = start_luigid(tmp_path)
    yield srv
    srv.stop()

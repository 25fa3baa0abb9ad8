"""Fixtures of the high-availability tests: a throwaway PostgreSQL (one per module), a
fresh database per test, and luigid-rs nodes sharing it (stopped after the test)."""
import os
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from hacluster import Node, dbservers  # noqa: E402


@pytest.fixture(scope="module")
def pg():
    srv = dbservers.start("postgresql")
    yield srv
    srv.destroy()


@pytest.fixture
def store(pg):
    """A fresh database for one test: (server, database name, URL)."""
    db = "ha_" + uuid.uuid4().hex[:10]
    pg.create_db(db)
    return pg, db, pg.url(db, scheme="postgresql")


@pytest.fixture
def nodes(tmp_path, store):
    started = []

    def make(name, **extra):
        n = Node(tmp_path / name, store[2], extra)
        started.append(n)
        return n

    yield make
    for n in started:
        n.stop()

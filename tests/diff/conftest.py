"""Fixtures of the differential RPC suite: one shared pair of servers (luigid and luigid-rs)
for the scenarios that do not interfere, fresh pairs for those that need their own config
or global state (pause, prune, resources, limits, small delays)."""
import pytest

from servers import start_pair

SHARED_CONFIG = {"scheduler": {"state_path": "unused"}}


@pytest.fixture(scope="session")
def shared_pair(tmp_path_factory):
    pair = start_pair(tmp_path_factory.mktemp("shared"), SHARED_CONFIG)
    yield pair
    pair.stop()


@pytest.fixture
def make_pair(tmp_path):
    pairs = []

    def make(config, unix=False):
        pair = start_pair(tmp_path / ("p%d" % len(pairs)), config, unix=unix)
        pairs.append(pair)
        return pair

    yield make
    for p in pairs:
        p.stop()

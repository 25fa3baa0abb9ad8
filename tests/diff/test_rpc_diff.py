"""Differential RPC suite: every scenario of scenarios.py is played against the real luigid
and luigid-rs, and the normalised replies must agree step by step."""
import re

import pytest

from difftool import run_scenario
from scenarios import REGISTRY


def _prefix(name):
    # unique, and never a substring of another scenario's prefix (X...X brackets it)
    return "X" + re.sub(r"[^A-Za-z0-9]", "", name.title()) + "X"


@pytest.mark.parametrize("name,fn,config", REGISTRY, ids=[r[0] for r in REGISTRY])
def test_rpc_scenario(name, fn, config, request, make_pair):
    if config is None:
        pair = request.getfixturevalue("shared_pair")
        run_scenario(name, fn, pair, prefix=_prefix(name), scope=True)
    else:
        pair = make_pair(config)
        run_scenario(name, fn, pair, prefix=_prefix(name), scope=False)


def test_enough_scenarios():
    assert len(REGISTRY) >= 60, len(REGISTRY)


SHARED = [r for r in REGISTRY if r[2] is None]


@pytest.mark.parametrize("name,fn,config", SHARED, ids=[r[0] for r in SHARED])
def test_rpc_key_order(name, fn, config, shared_pair):
    """The same scenarios again (own ids), now also comparing the order of object keys,
    which luigid defines (insertion order of its dicts). Clients do not need it;
    a failure here is cosmetic, but visible byte-for-byte."""
    run_scenario(name, fn, shared_pair, prefix="Y" + _prefix(name)[1:-1] + "Y", scope=True, strict_order=True)

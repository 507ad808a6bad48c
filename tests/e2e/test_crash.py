"""Crashes at each durability step, and kill -9 at arbitrary moments: nothing lost, nothing double-signed."""

from __future__ import annotations

import base64
import random
import time
from typing import Any

import pytest

from devnet.rpc import call
from node.crashpoints import CRASH_EXIT_CODE, ENV_VAR, POINTS

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("e2e")]


def test_crash_at_each_durability_step_then_restart_loses_nothing(cluster_factory: Any) -> None:
    c = cluster_factory(non_validators=0, commit_ms=50)
    c.start_all()
    c.wait_height(0, 2)
    for point in POINTS:
        c.procs[3].popen.terminate()
        c.procs[3].popen.wait(60)
        crash_at = c.tip(0) + 3
        p = c.start(3, env={ENV_VAR: f"{point}@{crash_at}"})
        assert p.popen is not None
        assert p.popen.wait(180) == CRASH_EXIT_CODE, f"node did not crash at {point}"
        c.procs.pop(3)
        c.start(3)
        target = c.tip(0) + 2
        c.wait_height(3, target)
        c.assert_same_chain([0, 3], target)
        info = call(c.url(3), "abci_info")["response"]
        h = int(info["last_block_height"])
        header = call(c.url(0), "block", {"height": str(h + 1)})["block"]["header"] if c.tip(0) > h else None
        if header is not None:  # the app hash the restarted app reports is the one the next header signed
            got = base64.b64decode(info["last_block_app_hash"]).hex().upper()
            assert got == header["app_hash"].upper(), point


def test_validator_killed_at_random_moments_never_signs_conflicting_votes(cluster_factory: Any) -> None:
    c = cluster_factory(non_validators=0, commit_ms=20)
    c.start_all()
    c.wait_height(0, 2)
    rng = random.Random(7)
    for _ in range(6):
        time.sleep(rng.uniform(0.05, 1.2))
        c.kill9(3)
        c.start(3)
        c.wait(lambda: c.height(3) >= 0, 120, "restart")
    target = c.tip(0) + 3
    c.wait_height(3, target)
    c.assert_same_chain([0, 1, 2, 3], target)
    for i in range(4):
        assert "duplicate vote evidence" not in (c.logs / f"node{i}.log").read_text()

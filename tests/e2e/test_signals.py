"""SIGTERM stops a running node cleanly (exit 0) through the Python-level handler that marks it stopping."""

from __future__ import annotations

import signal
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("e2e")]


def test_sigterm_stops_a_committing_node_with_exit_zero(cluster_factory: Any) -> None:
    c = cluster_factory(validators=1, non_validators=0, commit_ms=20)
    p = c.start(0)
    assert p.popen is not None
    c.wait_height(0, 3, 60)
    p.popen.send_signal(signal.SIGTERM)
    assert p.popen.wait(60) == 0
    c.procs.pop(0)
    log = (c.logs / "node0.log").read_text()
    assert 'msg="signal received; stopping" signal=SIGTERM' in log
    assert log.rstrip().endswith("msg=stopped")
    assert "Traceback" not in log

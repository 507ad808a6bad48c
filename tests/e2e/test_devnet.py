"""`python -m devnet` as a developer runs it (make devnet): up, rising heights with the demo's guarantees,
stop, up again on the same data, reset. Run in its own directory and port range."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devnet.rpc import RpcError, block_hashes, call, height
from devnet.wait import until
from tests.e2e.cluster import free_base

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("e2e")]
ROOT = Path(__file__).resolve().parents[2]


def devnet(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`up` waits for conditions with deadlines of its own (120 s for a block, 60 s a demo batch) and says
    which one failed; this timeout is only the backstop for a hung command."""
    return subprocess.run([sys.executable, "-m", "devnet", *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout, check=False)


def _height(url: str) -> int:
    """-1 while the node does not answer (a loaded machine may keep it from answering within the RPC timeout)."""
    try:
        return height(url)
    except RpcError:
        return -1


@pytest.mark.timeout(900)
def test_devnet_up_shows_rising_heights_survives_stop_and_resets(tmp_path: Path) -> None:
    base = free_base("devnet-e2e")
    env = {"EGP_DEVNET_DATA": str(tmp_path / "data"), "EGP_DEVNET_BASE_PORT": str(base)}
    url = f"http://127.0.0.1:{base + 1}"
    try:
        up = devnet(env, "up", "--detach")
        assert up.returncode == 0, up.stdout + up.stderr
        for moniker in ("KTB", "BBL", "KBANK", "SCB", "registrar"):
            assert moniker in up.stdout
        assert "demo: 5 transaction(s) accepted" in up.stdout
        assert "supplier3" in up.stdout and "accounts/cgd.json" in up.stdout
        h1 = height(url, 30.0)
        until(lambda: _height(url) > h1, 120, f"a block above {h1}")  # heights rising (waited for, never timed)
        metrics = subprocess.run(["curl", "-s", f"{url}/metrics"], capture_output=True, text=True, check=False)
        assert "egp_consensus_height" in metrics.stdout
        txs = sum(len(call(url, "block", {"height": str(h)})["block"]["data"]["txs"] or [])
                  for h in range(1, height(url, 30.0) + 1))
        assert txs == 5
        first = block_hashes(url, 1)
        stopped_at = height(url, 30.0)
        assert devnet(env, "stop").returncode == 0
        with pytest.raises(RpcError):
            height(url, 1.0)
        up2 = devnet(env, "up", "--detach")
        assert up2.returncode == 0, up2.stdout + up2.stderr
        assert "demo:" not in up2.stdout  # the same chain, not a new one
        assert height(url, 30.0) > stopped_at  # `up` returned on a block committed after the restart
        assert block_hashes(url, 1) == first
    finally:
        devnet(env, "stop")
    assert devnet(env, "reset").returncode == 0
    assert not (tmp_path / "data").exists()

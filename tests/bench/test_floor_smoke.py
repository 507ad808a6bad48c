"""Smoke run of the floor model (devnet/bench/floor.py), so it cannot rot: tiny, no figure asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devnet.bench import floor
from state import trie


def _result(path: Path) -> Path:
    """A minimal `egp bench` result: two nodes' per-thread CPU at 1,000 committed tx/s."""
    node = {"by_role_cores": {"main": 0.05, "egp-commit": 0.1, "egp-verify": 0.06, "native": 0.01, "other": 0.0}}
    step = {"committed_tx_s": 1000.0, "blocks": {"txs_mean": 500.0},
            "cpu": {"loadgen_cores": 0.04, "other_cores": 0.0, "threads": [node, node]}}
    path.write_text(json.dumps({"results": {"steps": [step]}}))
    return path


def _profile(path: Path) -> Path:
    """Three py-spy raw lines: one each for the verify thread, the commit thread's trie and the loop."""
    worker = "Thread.run (threading.py:982);_worker (concurrent/futures/thread.py:83);"
    path.write_text(
        f"thread (1): egp-verify_0;{worker}Application.preverify (state/abci.py:356);verify (state/crypto.py:60) 3\n"
        f"thread (2): egp-commit_0;{worker}BlockApplier.apply (node/applier.py:99);Trie.update (state/trie.py:423) 2\n"
        "thread (3): MainThread;Handle._run (asyncio/events.py:80);ws_handler (node/rpc/websocket.py:374) 1\n"
        f"thread (1): egp-verify_0;{worker}_worker (concurrent/futures/thread.py:81) 7\n")  # idle: left out
    return path


def test_floor_smoke_prints_every_stage_and_the_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sha_before, update_before = trie._sha256, trie.Trie.update
    out_json = tmp_path / "floor.json"
    m = floor.main(["--smoke", "--result", str(_result(tmp_path / "r.json")),
                    "--profile", str(_profile(tmp_path / "p.txt")), "--json", str(out_json)])
    out = capsys.readouterr().out
    assert (trie._sha256, trie.Trie.update) == (sha_before, update_before)  # the node's trie as it was
    threads = {st.thread for st in m.stages}
    assert threads == {"verify", "loop", "commit"}
    assert all(st.floor > 0 for st in m.stages)
    for word in ("Ed25519", "trie", "LevelDB", "WebSocket", "p2p", "consensus", "execution"):
        assert word in out
    assert "spent 100 us" in out  # the commit thread: 0.1 cores / 1,000 tx/s, mean of the two nodes
    assert "egp-verify: Ed25519 100%" in out and "egp-commit: trie 100%" in out and "main: WebSocket / RPC 100%" in out
    assert "tx/s" in out
    saved = json.loads(out_json.read_text())
    assert len(saved["stages"]) == len(m.stages) and saved["spent"]["block_txs"] == 500.0


def test_expected_inner_hashes_grow_with_the_state() -> None:
    small = floor._expected_inner(10_000, 1_000, branching_only=False)
    large = floor._expected_inner(1_000_000, 1_000, branching_only=False)
    assert large > small > 1_000
    assert floor._expected_inner(1_000_000, 1_000, branching_only=True) <= large


def test_profile_split_takes_the_innermost_known_frame(tmp_path: Path) -> None:
    p = tmp_path / "p.txt"
    p.write_text("thread (9): egp-commit_0;_worker (concurrent/futures/thread.py:83);"
                 "Application._deliver (state/abci.py:476);run_tx (state/execute.py:118);"
                 "Trie.update (state/trie.py:423) 1\n"
                 "_worker (concurrent/futures/thread.py:83);Application._deliver (state/abci.py:476);"
                 "run_tx (state/execute.py:118) 3\n")
    assert floor.profile_split(p) == {"egp-commit": {"trie": 0.25, "execution": 0.75}}

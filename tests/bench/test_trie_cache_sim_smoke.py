"""Smoke run of the trie cache trace and its replay (devnet/bench/trie_cache_sim.py), so it cannot rot
(figures not asserted): a bounded run prints its misses, a trace replays through every policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from devnet.bench import memflat, trie_cache_sim


def test_trace_then_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, trace = tmp_path / "txs.bin", tmp_path / "trace.bin"
    memflat.generate(data, blocks=4, txs=40, seed=1, block_ms=1_000)
    trie_cache_sim.main(["trace", "--data", str(data), "--out", str(trace), "--every", "2", "--dir", str(tmp_path)])
    trie_cache_sim.main(["trace", "--data", str(data), "--mib", "16", "--every", "2", "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert out.count("miss/tx by depth") == 2 and "trace:" in out
    trie_cache_sim.main(["sim", "--trace", str(trace), "--mib", "1,16", "--census",
                         "--policies", "2gen,2gen-mv,lru,seg:16:0.25,2q:0.25"])
    out = capsys.readouterr().out
    assert "depth   0:" in out and out.count(" MiB  miss/tx ") == 10

"""Smoke run of trie_cache_sim's tiered policy (decoded pages above, stored bytes below, one bound), so it
cannot rot: with the hot tier's floor at the whole bound it is the node's policy (`thin`), and with a lower
floor the cold tier takes the pages the hot tier gives up and reports its hits. Figures are not asserted
beyond what the replay must conserve."""

from __future__ import annotations

from pathlib import Path

import pytest

from devnet.bench import memflat, trie_cache_sim


def test_tiered_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, trace = tmp_path / "txs.bin", tmp_path / "trace.bin"
    memflat.generate(data, blocks=4, txs=60, seed=1, block_ms=1_000)
    trie_cache_sim.main(["trace", "--data", str(data), "--out", str(trace), "--every", "2", "--dir", str(tmp_path)])
    depth, log, none_w = trie_cache_sim.load_trace(trace)
    assert any(log[i + 2] >> 32 for i in range(0, len(log), 3) if log[i] == 1)  # stored lengths are traced
    bound = 200_000
    same = trie_cache_sim.Tiered(bound, 1.0, 1_600, 240)
    same.depth = depth
    thin = trie_cache_sim.Thin(bound, 1_600)
    a = trie_cache_sim.simulate(depth, log, none_w, same, lambda d, w: w)["blocks"]
    b = trie_cache_sim.simulate(depth, log, none_w, thin, lambda d, w: w)["blocks"]
    assert sum(sum(x[1].values()) for x in a) == pytest.approx(sum(sum(x[1].values()) for x in b), rel=0.1)
    assert not any(x[3] for x in a)  # no cold tier at a floor of the whole bound
    tier = trie_cache_sim.Tiered(bound, 0.5, 1_600, 240)
    tier.depth = depth
    c = trie_cache_sim.simulate(depth, log, none_w, tier, lambda d, w: w)["blocks"]
    assert all(x[2] <= bound + 40_000 for x in c)
    assert sum(sum(x[3].values()) for x in c) > 0  # pages were read back from the cold tier
    assert sum(sum(x[1].values()) for x in c) <= sum(sum(x[1].values()) for x in b)
    trie_cache_sim.main(["sim", "--trace", str(trace), "--mib", "1", "--policies", "thin:1600,tier:0.5:1600:240",
                         "--get-us", "16"])
    out = capsys.readouterr().out
    assert out.count(" MiB  miss/tx ") == 2 and out.count("modelled us/tx") == 2

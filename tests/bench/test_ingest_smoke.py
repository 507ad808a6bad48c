"""devnet/bench/ingest_bench.py must not rot: a tiny round of each of its paths (pipelined WebSocket, HTTP
POST, the paced WebSocket round on the gossip timers, gossip in, duplicates, the proposal) admits every tx
and reports its figures. Nothing here asserts a CPU figure or a duration."""

from __future__ import annotations

from devnet.bench.ingest_bench import make_txs, one_round


def test_ingest_bench_round_admits_every_tx_on_every_path() -> None:
    txs = make_txs(40)
    out = one_round(20, txs, n_http=5, n_trickle=15, rate=500.0)
    assert out["rejected"] == 0 and out["http_rejected"] == 0 and out["trickle_rejected"] == 0
    assert out["a_mempool"] == 20 and out["b_mempool"] == 20 and out["block_txs"] == 40
    assert 0 < out["trickle_frames_per_tx"] <= 1  # A's gossip pushed on its own timers: at most a frame per tx
    for k in ("rpc_us", "rpc_loop_us", "http_us", "trickle_us", "trickle_loop_us", "gossip_in_us", "dup_in_us"):
        assert out[k] > 0

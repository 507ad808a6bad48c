"""Smoke run of the index lookup bench (devnet/bench/lookup_bench.py), so it cannot rot (figures not asserted)."""

from __future__ import annotations

import pytest

from devnet.bench import lookup_bench


def test_lookup_bench_prints_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    rows = lookup_bench.main(["--blocks", "2", "--txs", "20", "--lookups", "40", "--repeat", "1"])
    out = capsys.readouterr().out
    assert set(rows) == {"get_tx", "get_tx latest", "tx.hash search", "page of 30", "page of 100", "by attribute"}
    assert all(name in out for name in rows) and "txs in 2 blocks" in out

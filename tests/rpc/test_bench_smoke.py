"""The RPC benchmark's client and report run (against the fixture chain); no duration is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from devnet.bench.rpc_bench import bench, print_rows, tax_ids
from node.rpc.config import RpcConfig
from state.registry import tax_id_valid
from tests.rpc.threaded import threaded_server


def test_bench_runs_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import os

    with threaded_server(tmp_path, RpcConfig(laddr_port=0)) as (url, _):  # (the server is in this process)
        rows = asyncio.run(bench(url, "egp-test", None, requests=50, concurrency=4, n_txs=0, node_pid=os.getpid()))
    assert [r[0] for r in rows][:2] == ["health", "status"]
    assert all(n == 50 and errors == 0 and rate > 0 and cpu is not None and cpu >= 0
               for _, n, rate, errors, cpu in rows)
    print_rows(rows, 4)
    assert "req/s" in capsys.readouterr().out


def test_tax_ids_are_valid_and_distinct() -> None:
    ids = list(tax_ids(20))
    assert len(set(ids)) == 20 and all(tax_id_valid(t) for t in ids)

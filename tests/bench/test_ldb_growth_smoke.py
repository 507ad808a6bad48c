"""Smoke run of the LevelDB growth bench (devnet/bench/ldb_growth.py), so it cannot rot (figures not asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devnet.bench import ldb_growth
from state import kv_level


def test_ldb_growth_prints_its_series_and_the_families(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (kv_level.WRITE_BUFFER_BYTES, kv_level.MAX_FILE_BYTES)
    ldb_growth.main(["--blocks", "4", "--txs", "50", "--every", "2", "--data", str(tmp_path / "txs.bin"),
                     "--dir", str(tmp_path), "--write-buffer-mib", "1", "--max-file-mib", "1"])
    out = capsys.readouterr().out
    assert "memtable 1 MiB, max file 1 MiB" in out and "by quarter" in out
    assert "app/t" in out and "blockstore/b" in out and "ix/th" in out and "left to the block store" in out
    assert before == (kv_level.WRITE_BUFFER_BYTES, kv_level.MAX_FILE_BYTES)  # the node's options as they were


def test_families_are_the_node_namespaces() -> None:
    assert ldb_growth.family(b"app/t\x00\x04") == "app/t"
    assert ldb_growth.family(b"ix/th" + b"\x01" * 32) == "ix/th"
    assert ldb_growth.family(b"blockstore/r\x00") == "blockstore/r"
    assert ldb_growth.family(b"wal/\x00" * 3) == "wal/"
    assert ldb_growth.family(b"node/S") == "node/"


def test_insert_cost_prints_a_line_per_memtable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ldb_growth.main(["--insert-cost", "1", "2", "--blocks", "7", "--txs", "20", "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "memtable   1 MiB: build" in out and "memtable   2 MiB: build" in out

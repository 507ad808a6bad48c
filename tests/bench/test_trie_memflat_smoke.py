"""Smoke runs of the trie A/B bench and the in-process memory run, so they cannot rot (figures not asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devnet.bench import memflat, trie_ab


def test_trie_ab_runs_both_sides_and_they_agree(capsys: pytest.CaptureFixture[str]) -> None:
    trie_ab.main(["--keys", "3000", "--blocks", "2", "--changes", "200", "--gc", "default"])
    out = capsys.readouterr().out
    assert "HEAD:" in out and "this:" in out and "us/changed key" in out


def test_memflat_prints_its_series(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memflat.main(["--blocks", "3", "--txs", "40", "--every", "1", "--data", str(tmp_path / "txs.bin"),
                  "--trie-cache-mib", "16"])
    out = capsys.readouterr().out
    assert out.count(" / 16 ") == 3 and "anonymous RSS" in out

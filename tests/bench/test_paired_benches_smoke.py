"""Smoke runs of the execution and commit-path benches (exec_bench, commit_ab, commit_bench), so they cannot rot.

One tree only (no `--base`: no git worktree), a tiny template, two rounds of small blocks; figures not asserted,
only that each worker loaded the template, committed its warm-up blocks and answered every round.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devnet.bench import app_bench, commit_ab, commit_bench, exec_bench

ROOT = Path(__file__).resolve().parents[2]


def test_exec_bench_and_commit_ab_run_on_a_tiny_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tpl = tmp_path / "tpl"
    app_bench.main(["--agencies", "20", "--suppliers", "50", "--instruments", "200", "--template", str(tpl),
                    "--no-fresh", "--blocks", "1", "--txs", "20"])
    capsys.readouterr()
    common = ["--template", str(tpl), "--tree", str(ROOT), "--rounds", "2", "--txs", "20", "--agencies", "20",
              "--suppliers", "50"]
    exec_bench.main(common)
    out = capsys.readouterr().out
    assert "results or writes digest" in out and "execution" in out and "of 2 rounds" in out
    commit_ab.main(common)
    out = capsys.readouterr().out
    assert "app hash digest" in out and "commit path" in out and "of 2 rounds" in out


def test_commit_bench_checks_its_bytes_and_prints_its_rates(capsys: pytest.CaptureFixture[str]) -> None:
    commit_bench.main(["--blocks", "2", "--txs", "50", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "bytes identical to the generic codec's" in out and "Indexer.index_chain_block" in out

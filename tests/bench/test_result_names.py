"""Two bench runs started in the same second keep both their results (devnet/bench/runner.py)."""

from __future__ import annotations

from pathlib import Path

from devnet.bench.runner import claim_stamp


def test_runs_in_the_same_second_get_distinct_result_names(tmp_path: Path) -> None:
    stamps = [claim_stamp(tmp_path, "bench") for _ in range(3)]
    assert len(set(stamps)) == 3
    assert sorted(p.name for p in tmp_path.glob("bench-*.json")) == sorted(f"bench-{s}.json" for s in stamps)

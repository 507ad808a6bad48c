"""devnet/bench/block_overhead.py must not rot: a short run on real 4-node networks prints its figures, writes
its JSON and leaves no node behind. Nothing here asserts a CPU figure or a duration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.xdist_group("e2e")
def test_block_overhead_bench_prints_cpu_per_block_and_per_idle_second(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "devnet.bench.block_overhead", "--phases", "quiet,idle,load",
                        "--seconds", "3", "--warm", "1", "--rate", "20", "--timeout-commit-ms", "300",
                        "--log-level", "warn", "--out", str(tmp_path)],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    for words in ("[quiet: no blocks]", "[idle: empty blocks]", "[load: 20 tx/s]", "node CPU per block",
                  "per second and node"):
        assert words in p.stdout, words
    doc = json.loads(next(tmp_path.glob("overhead-*.json")).read_text())
    assert set(doc["phases"]) == {"quiet", "idle", "load"}
    assert doc["phases"]["idle"]["blocks"] > 0 and len(doc["phases"]["idle"]["cpu_s"]) == 4
    assert doc["phases"]["load"]["blocks"] > 0
    assert len(doc["pids"]) == 8 and not any(_alive(pid) for pid in doc["pids"])

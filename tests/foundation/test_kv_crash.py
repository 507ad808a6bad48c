"""SIGKILL a real writer mid-stream: after reopening, every batch is wholly there or wholly absent."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from state.kv_level import LevelKV
from tests.foundation.kv_crash_writer import KEYS_PER_BATCH

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_leaves_only_whole_batches(tmp_path: Path) -> None:
    rng = random.Random(7)
    for attempt in range(3):
        path = tmp_path / f"db{attempt}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.foundation.kv_crash_writer", str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.4))  # let it run to a random point, not a timing assertion
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        db = LevelKV(path)
        counts: Counter[bytes] = Counter()
        for key, _ in db.iterate():
            if key.startswith(b"ns"):
                counts[key.split(b"/")[1]] += 1
        last = int(db.get(b"last") or b"-1")
        db.close()
        assert counts, "the writer committed nothing"
        assert all(c == KEYS_PER_BATCH for c in counts.values()), "a batch is partly present"
        numbers = sorted(int(k) for k in counts)
        assert numbers == list(range(len(numbers))), "a batch in the middle is missing"
        assert last == numbers[-1]

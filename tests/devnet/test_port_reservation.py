"""tests/ports.py: two processes never get the same port range, and a process keeps its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.ports import reserve_span

ROOT = Path(__file__).resolve().parents[2]
HOLDER = "import sys, time; from tests.ports import reserve_span; print(reserve_span(sys.argv[1], 5), flush=True); " \
         "sys.stdin.readline()"


def test_another_process_holding_a_range_makes_us_pick_another() -> None:
    key = "port-reservation-test"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, key], cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        theirs = int(holder.stdout.readline())
        ours = reserve_span(key, 5)
        assert ours != theirs
        assert reserve_span(key, 5) == ours  # the same process asking again gets its own range back
    finally:
        holder.communicate("\n", timeout=10)

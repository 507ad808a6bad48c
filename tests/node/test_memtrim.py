"""The commit path gives glibc's free heap pages back to the kernel every TRIM_EVERY_HEIGHTS heights."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from node import memtrim

ROOT = Path(__file__).resolve().parents[2]


def test_trims_on_multiples_of_the_period_only(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(memtrim, "_malloc_trim", lambda pad: calls.append(pad) or 1)
    done = [h for h in range(1, 200) if memtrim.after_commit(h)]
    assert done == [32, 64, 96, 128, 160, 192] and calls == [0] * 6
    assert not memtrim.after_commit(5, every=0)
    assert memtrim.after_commit(5, every=5)


@pytest.mark.skipif(not memtrim.available(), reason="no glibc malloc_trim here")
def test_trim_gives_free_heap_pages_back() -> None:
    # in a fresh interpreter: 8 KiB objects (above CPython's small-object limit, so from glibc's heap), all but
    # every 16th freed: the holes are whole pages glibc keeps (it only returns the top of the heap by itself)
    code = textwrap.dedent("""
        from node import memtrim
        def anon():
            for line in open("/proc/self/status"):
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
        keep = [bytes(8192) for _ in range(12_000)][::16]
        before = anon()
        memtrim.trim()
        print(before - anon(), len(keep))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout.split()
    released_kib = int(out[0])
    assert released_kib > 40_000  # of the ~90 MiB freed, far more than the 40 MiB threshold goes back

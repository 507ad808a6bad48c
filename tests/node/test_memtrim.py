"""The commit path gives glibc's free heap pages back to the kernel every TRIM_EVERY_HEIGHTS heights."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from node import memtrim

ROOT = Path(__file__).resolve().parents[2]


def test_trims_after_so_many_txs_or_heights_whichever_first(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(memtrim, "_malloc_trim", lambda pad: calls.append(pad) or 1)
    monkeypatch.setattr(memtrim._Pace, "heights", 0)
    monkeypatch.setattr(memtrim._Pace, "txs", 0)
    # an idle chain: empty blocks, a trim every TRIM_EVERY_HEIGHTS heights
    idle = [h for h in range(1, 100) if memtrim.after_commit(0)]
    assert idle == [32, 64, 96] and calls == [0, 0, 0]
    memtrim._Pace.heights = memtrim._Pace.txs = 0
    # under load: blocks of 700 txs, a trim as soon as 2,000 txs were committed since the last one
    busy = [h for h in range(1, 10) if memtrim.after_commit(700)]
    assert busy == [3, 6, 9]
    assert memtrim.after_commit(5_000, every_heights=1_000, every_txs=5_000)
    assert not memtrim.after_commit(1, every_heights=1_000, every_txs=5_000)


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

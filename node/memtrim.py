"""Give the C heap's free pages back to the kernel as blocks are committed (glibc `malloc_trim`).

Why: under load a node's anonymous memory was measured (devnet/bench/memprobe.py, 4 validators at 300 tx/s)
to keep creeping after its caches were full, and the creep was glibc's *free* memory: 2 MiB at the start,
22-50 MiB after six minutes, and still rising while the bytes in use stayed at ~60-70 MiB (LevelDB's 32 MiB
block cache and memtables, Python objects above 512 bytes: blocks, JSON texts, batches). Per block the node
allocates and frees megabytes of such objects from two threads (the event loop and the commit worker); the
freed chunks sit between live ones in the heap, and glibc returns memory to the kernel on its own only from
the top of the heap. `malloc_trim(0)` also releases every whole free page inside the heap (madvise), so the
resident heap follows the bytes in use instead of its high-water mark. Called on running nodes (gdb, `call
malloc_trim(0)`) it took their anonymous RSS from 160 to 147 MiB and, with blocks of ~300 txs every 2 s on an
overloaded machine, from 213 to 180 MiB.

When: after `TRIM_EVERY_TXS` committed txs or `TRIM_EVERY_HEIGHTS` heights, whichever comes first: what
fragments the heap is the volume of txs (big blocks), so under load it trims every few seconds whatever the
block interval, and an idle chain still trims now and then. The counters are process-wide, as the C heap is.

Cost: ~0.5 ms of CPU per call on a ~90 MiB heap (a few ms when tens of MiB are released), on the commit
worker thread (not the event loop): at 2,000 tx/s about 1 ms a second. It changes no stored byte and no
hash: it only tells the kernel which pages of freed memory it may take back. Where the C library is not
glibc (musl, macOS) there is no `malloc_trim` and this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

TRIM_EVERY_HEIGHTS = 32
TRIM_EVERY_TXS = 2_000


class _Pace:
    """Heights and txs committed since the last trim, in this process (races between nodes run in one test
    process only move a trim by a block)."""

    heights = 0
    txs = 0


def _load() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    trim: Callable[[int], int] = fn
    return trim


_malloc_trim = _load()


def available() -> bool:
    return _malloc_trim is not None


def trim() -> bool:
    """Release the C heap's free pages now; True when anything was given back."""
    return bool(_malloc_trim(0)) if _malloc_trim is not None else False


def after_commit(txs: int, *, every_heights: int = TRIM_EVERY_HEIGHTS, every_txs: int = TRIM_EVERY_TXS) -> bool:
    """Called once per committed block of `txs` txs: trims when `every_txs` txs or `every_heights` heights were
    committed since the last trim; returns whether it trimmed."""
    _Pace.heights += 1
    _Pace.txs += txs
    if _Pace.heights < every_heights and _Pace.txs < every_txs:
        return False
    _Pace.heights = _Pace.txs = 0
    trim()
    return True

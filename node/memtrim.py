"""Give the C heap's free pages back to the kernel every few committed heights (glibc `malloc_trim`).

Why: under load a node's anonymous memory was measured (devnet/bench/memprobe.py, 4 validators at 300 tx/s)
to keep creeping after its caches were full, and the creep was glibc's *free* memory: 2 MiB at the start,
22-30 MiB after six minutes, and still rising while the bytes in use stayed at ~60 MiB (LevelDB's 32 MiB
block cache and memtables, Python objects above 512 bytes: blocks, JSON texts, batches). Per block the node
allocates and frees megabytes of such objects from two threads (the event loop and the commit worker); the
freed chunks sit between live ones in the heap, and glibc returns memory to the kernel on its own only from
the top of the heap. `malloc_trim(0)` also releases every whole free page inside the heap (madvise), so the
resident heap follows the bytes in use instead of its high-water mark. Calling it on a running node
(gdb, `call malloc_trim(0)`) took its anonymous RSS from 160 to 147 MiB at once.

Cost: ~0.5 ms of CPU per call on a ~90 MiB heap (4 ms the first time, when most pages are released), once
every `TRIM_EVERY_HEIGHTS` heights, on the commit worker thread (not the event loop). It changes no stored
byte and no hash: it only tells the kernel which pages of freed memory it may take back. Where the C
library is not glibc (musl, macOS) there is no `malloc_trim` and this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

TRIM_EVERY_HEIGHTS = 32


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


def after_commit(height: int, every: int = TRIM_EVERY_HEIGHTS) -> bool:
    """Called once per committed height: trims when `height` is a multiple of `every`."""
    if every > 0 and height % every == 0:
        trim()
        return True
    return False

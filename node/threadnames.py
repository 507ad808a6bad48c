"""The node's Python threads carry their names into the kernel, so /proc and `top -H` can tell them apart.

Why: CPython 3.11 does not set the OS name of the threads it starts (3.14 does), so every thread of a node
showed the process's name, and a native thread (LevelDB's background compaction thread, which a py-spy
profile never shows) could not be told from the commit worker or the verification pool. `install()` makes
every thread the `threading` module starts afterwards name itself at its start (prctl(PR_SET_NAME), the
kernel's 15 bytes: `egp-commit_0`, `egp-verify_0`). A thread started from C code copies the name of the
thread that started it, so in a node a thread that carries the name of an older thread is a native one
(`devnet/bench/procstat.py` `thread_roles`, used by `egp bench`).

How: `threading.setprofile` (public API) installs a function in each new thread before its `run`; on its
first call it names the thread and removes itself, so nothing is left running afterwards. Linux only; a
no-op elsewhere or when libc cannot be loaded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from types import FrameType
from typing import Any

PR_SET_NAME = 15
_LIMIT = 15  # bytes of a thread's name the kernel keeps (TASK_COMM_LEN - 1)
_prctl: Any = None
if sys.platform.startswith("linux"):
    try:
        _prctl = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).prctl
    except (OSError, AttributeError):
        _prctl = None


def os_name(name: str) -> bytes:
    """The kernel's form of `name`: at most 15 bytes; a longer name keeps its head and its tail (the pool's
    worker number: `ThreadPoolExecutor-0_1` -> `ThreadP~tor-0_1`), so the workers of one pool stay apart."""
    raw = name.encode("utf-8", "replace").replace(b"\0", b"?")
    if len(raw) <= _LIMIT:
        return raw
    return raw[:7] + b"~" + raw[-7:]


def name_this_thread(name: str | None = None) -> bool:
    """Give the calling thread's OS name `name` (default: its `threading` name); False if it could not."""
    if _prctl is None:
        return False
    return bool(_prctl(PR_SET_NAME, ctypes.c_char_p(os_name(name or threading.current_thread().name)), 0, 0, 0) == 0)


def _first_call(frame: FrameType, event: str, arg: object) -> None:
    sys.setprofile(None)
    name_this_thread()


def install() -> None:
    """Threads started from now on name themselves (idempotent). Threads already running keep their names."""
    if _prctl is not None:
        threading.setprofile(_first_call)

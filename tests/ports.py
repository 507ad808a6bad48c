"""Port ranges for tests that start real node processes, reserved across pytest-xdist workers.

Checking that a port is free and binding it later are two steps; between them another worker's network can
take it. Stop 12's red CI looked like that (the walkthrough's node answered `status`, then refused
connections; tests/devnet/test_cadence.py ran beside it with the same picker). So a base is reserved with an
exclusive `flock` on a file named after it, held for the life of the process that reserved it (the kernel
releases it when that process exits, however it exits), and only then checked free. Two workers can no
longer hand out the same range; a port taken by something outside the tests is still caught by the check.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from pathlib import Path

from devnet.network import port_free

LOCK_DIR = Path(tempfile.gettempdir()) / "egp-test-ports"
_held: dict[int, int] = {}  # base -> fd of its lock file, for the life of this process


def reserve_span(key: str, span: int, *, lo: int = 20_000, hi: int = 32_000, step: int = 100) -> int:
    """A base port, first tried where `key` hashes to, with `span` ports above it free and reserved to us.

    The default range lies below Linux's ephemeral ports (32768+), so outgoing connections cannot take it.
    """
    slots = (hi - lo - span) // step + 1
    h = int(hashlib.sha256(key.encode()).hexdigest(), 16)
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    for attempt in range(slots):
        base = lo + ((h + attempt * 7919) % slots) * step
        if not _lock(base):
            continue
        if all(port_free(base + i) for i in range(span)):
            return base
    raise RuntimeError(f"no free range of {span} ports in {lo}-{hi} (reserved here: {sorted(_held)})")


def _lock(base: int) -> bool:
    if base in _held:
        return True  # ours already (an earlier test of this worker): its ports are checked free again
    fd = os.open(LOCK_DIR / f"{base}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _held[base] = fd
    return True

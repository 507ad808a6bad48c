"""Recognise a failed write to the node's storage, and word the one fatal line the operator sees.

Why a node must stop on it (CometBFT panics on a failed DB write): LevelDB keeps a failed background write
as a sticky error, the consensus WAL and the signer state file are written *before* a vote leaves the node,
and a block whose commit batch did not land must never be acknowledged. Carrying on would log a traceback
for every message and at best stall, at worst answer clients about state it never persisted. Stopping is
safe: everything acknowledged is on disk, and the restart handshake resumes from there once space is freed.

Write errors surface as `OSError` (the WAL's and the signer's files, fsync) or as `plyvel.Error` (a LevelDB
batch commit: "IO error: <file>: No space left on device"); both, possibly chained, are recognised here.
"""

from __future__ import annotations

import errno
import os
import re

import plyvel

# errors of the medium itself; EACCES/EPERM too: a data dir made read-only is as unwritable as a full one
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EACCES, errno.EPERM,
                            errno.EFBIG})
_LEVELDB_IO = re.compile(r"IO error: (?P<path>.+?): (?P<reason>[^:]+)$")


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out and len(out) < 8:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def storage_failure(exc: BaseException, default_path: str = "") -> str | None:
    """The fatal line for `exc` if it is a failed write to storage (anywhere in its chain), else None."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in STORAGE_ERRNOS:
            return fatal_line(os.strerror(e.errno), str(e.filename or default_path), e.errno)
        if isinstance(e, plyvel.Error):
            arg = e.args[0] if e.args else ""
            text = (arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)).strip()
            m = _LEVELDB_IO.search(text)
            if m is not None:
                reason = m.group("reason").strip()
                code = errno.ENOSPC if reason == os.strerror(errno.ENOSPC) else None
                return fatal_line(reason, m.group("path"), code)
            return fatal_line(text or type(e).__name__, default_path, None)
    return None


def fatal_line(reason: str, path: str, code: int | None) -> str:
    advice = "free space and restart" if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else \
        "fix the storage and restart"
    where = f" at {path}" if path else ""
    return f"storage failed: {reason}{where}; the node stopped to protect its data — {advice}"

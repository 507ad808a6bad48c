"""Read a py-spy `raw` profile (collapsed stacks) into "where the time goes": self and inclusive shares.

Why: the flame graph is for a human with a browser; the benchmark's JSON and docs/performance.md want the
top functions as numbers. A collapsed-stack line is `frame;frame;...;leaf count`, a frame being
`function (path/file.py:line)`; lines are dropped from the key so one function is one row.

A profile recorded with `py-spy record --threads` starts each stack with a `thread (id): name` frame:
`--thread NAME` keeps the stacks of the threads whose name contains NAME (e.g. `MainThread`, the node's event
loop, or `egp-verify`), so one thread's share is read apart from the others' (CPU is per thread: a node's loop
and its worker threads run at once, and their shares of a whole-process profile mix). Without it, the thread
frame is dropped and the shares are over the whole process.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")
_THREAD = re.compile(r"^thread \(\w+\)(?:: (?P<name>.*))?$")


def _key(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        parts = path.split("/")
        path = "/".join(parts[-2:])
    return f"{m.group('fn')} ({path})"


def parse_raw(text: str, thread: str | None = None) -> list[tuple[list[str], int]]:
    """(frames, count) per stack line; with `thread`, only the stacks of threads whose name contains it (a
    profile without thread frames then gives nothing). The thread frame itself is never kept."""
    out = []
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = [f for f in stack.split(";") if f]
        m = _THREAD.match(frames[0].strip()) if frames else None
        if m is not None:
            frames = frames[1:]
        if thread is not None and (m is None or thread not in (m.group("name") or "")):
            continue
        out.append(([_key(f) for f in frames], int(n)))
    return out


def summarize_raw(path: Path, top: int = 20, thread: str | None = None) -> dict[str, Any]:
    """{"samples", "self": [[function, share]], "inclusive": [[function, share]]} with shares in %
    (of `thread`'s samples when given: see `parse_raw`)."""
    try:
        stacks = parse_raw(path.read_text(errors="replace"), thread)
    except OSError:
        return {"samples": 0, "self": [], "inclusive": []}
    total = sum(n for _, n in stacks) or 1
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    for frames, n in stacks:
        if frames:
            self_c[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    return {"samples": total,
            "self": [[f, round(100 * n / total, 1)] for f, n in self_c.most_common(top)],
            "inclusive": [[f, round(100 * n / total, 1)] for f, n in incl.most_common(top)]}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    ap = argparse.ArgumentParser(description="Top functions of a py-spy raw profile.")
    ap.add_argument("file", type=Path)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--thread", default=None,
                    help="only the threads whose name contains this (a profile recorded with py-spy --threads)")
    a = ap.parse_args(argv)
    print(json.dumps(summarize_raw(a.file, a.top, a.thread), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

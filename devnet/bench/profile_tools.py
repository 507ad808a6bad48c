"""Read a py-spy `raw` profile (collapsed stacks) into "where the time goes": self and inclusive shares.

Why: the flame graph is for a human with a browser; the benchmark's JSON and docs/performance.md want the
top functions as numbers. A collapsed-stack line is `frame;frame;...;leaf count`, a frame being
`function (path/file.py:line)`; lines are dropped from the key so one function is one row.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")


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


def parse_raw(text: str) -> list[tuple[list[str], int]]:
    out = []
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        out.append(([_key(f) for f in stack.split(";") if f], int(n)))
    return out


def summarize_raw(path: Path, top: int = 20) -> dict[str, Any]:
    """{"samples", "self": [[function, share]], "inclusive": [[function, share]]} with shares in %."""
    try:
        stacks = parse_raw(path.read_text(errors="replace"))
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
    a = ap.parse_args(argv)
    print(json.dumps(summarize_raw(a.file, a.top), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

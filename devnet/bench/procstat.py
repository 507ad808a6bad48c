"""What the machine is and what its processes spend: /proc readers for the load benchmark (Linux only).

Why our own reader and not psutil: the benchmark needs four numbers per process (user+system CPU ticks,
current and peak RSS, parent PID) and the machine-wide busy time, all a few lines of /proc parsing; a
dependency would have to be installed next to every node for nothing more. Everything degrades to
"unknown" (None / empty) rather than failing, so the benchmark also runs where /proc is absent.

CPU of a node includes its descendants (a signature-verification process pool, for instance), found by
walking parent PIDs, so a node that moves work into children is not flattered.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TICK = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcSample:
    pid: int
    cpu_s: float  # user + system seconds, this process and its live descendants
    rss_kb: int  # current resident set, this process only
    hwm_kb: int  # peak resident set (VmHWM), this process only
    # RSS = anonymous (the process's own heap: Python objects, malloc, LevelDB's caches) + file-backed pages
    # (shared libraries and LevelDB's table files, which it maps to read them: pages of the OS file cache,
    # clean and dropped by the kernel under pressure, and the same memory a read() would have cached)
    rss_anon_kb: int = 0
    rss_file_kb: int = 0


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name is in parentheses and may hold spaces: split after the last ')'
    return raw[raw.rfind(")") + 2:].split()


def _cpu_ticks(fields: list[str]) -> int:
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))


def status_kb(pid: int | str, keys: tuple[str, ...] = ("VmRSS", "VmHWM", "RssAnon", "RssFile")) -> dict[str, int]:
    """Those `keys` of /proc/<pid>/status (kB); the ones missing are left out."""
    out: dict[str, int] = {}
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in keys:
                out[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def parents() -> dict[int, int]:
    """pid -> ppid for every process we can read."""
    out: dict[int, int] = {}
    try:
        entries = os.listdir(PROC)
    except OSError:
        return out
    for name in entries:
        if name.isdigit():
            f = _stat_fields(int(name))
            if f is not None:
                out[int(name)] = int(f[1])
    return out


def descendants(pid: int, tree: dict[int, int]) -> list[int]:
    kids: dict[int, list[int]] = {}
    for p, pp in tree.items():
        kids.setdefault(pp, []).append(p)
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def sample(pid: int, tree: dict[int, int] | None = None, children: bool = True) -> ProcSample | None:
    """CPU (with descendants unless `children` is False) and memory of `pid`; None when it is gone."""
    f = _stat_fields(pid)
    if f is None:
        return None
    ticks = _cpu_ticks(f)
    kids = descendants(pid, tree if tree is not None else parents()) if children else []
    for child in kids:
        cf = _stat_fields(child)
        if cf is not None:
            ticks += _cpu_ticks(cf)
    st = status_kb(pid)
    return ProcSample(pid, ticks / TICK, st.get("VmRSS", 0), st.get("VmHWM", 0), st.get("RssAnon", 0),
                      st.get("RssFile", 0))


def machine_busy_s() -> float | None:
    """Machine-wide non-idle CPU seconds since boot (all cores), from /proc/stat."""
    try:
        first = (PROC / "stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    vals = [int(v) for v in first[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
    return (sum(vals[:8]) - idle) / TICK


def all_cpu_s() -> dict[int, float]:
    """pid -> own CPU seconds for every process (used to name the busiest outsiders)."""
    out: dict[int, float] = {}
    for pid in parents():
        f = _stat_fields(pid)
        if f is not None:
            out[pid] = _cpu_ticks(f) / TICK
    return out


def comm(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
    except OSError:
        return "?"


def machine_info() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in (PROC / "cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in (PROC / "meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return {"cpu_model": model, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 1024 / 1024, 1),
            "kernel": platform.release(), "python": platform.python_version()}


def git_commit(repo: Path) -> dict[str, Any]:
    def run(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": run("rev-parse", "HEAD") or "unknown",
            "dirty": bool(run("status", "--porcelain", "--untracked-files=no"))}


def loadavg() -> list[float]:
    try:
        return [float(x) for x in (PROC / "loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return []

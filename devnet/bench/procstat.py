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
import threading
import time
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


def stat_fields(pid: int) -> list[str] | None:
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
            f = stat_fields(int(name))
            if f is not None:
                out[int(name)] = int(f[1])
    return out


def subtree(roots: list[int]) -> dict[int, int] | None:
    """pid -> ppid for the live descendants of `roots` only, read from each of their threads'
    /proc/<pid>/task/<tid>/children; None where the kernel has no such file (CONFIG_PROC_CHILDREN), and the
    caller then takes `parents()`. Why: `parents()` reads the stat of every process on the machine (~3.5 ms
    of the generator's CPU at ~100 processes, every second of a run), this a handful of files per node."""
    if not _has_children_files():
        return None
    out: dict[int, int] = {}
    todo = list(roots)
    while todo:
        pid = todo.pop()
        base = PROC / str(pid) / "task"
        try:
            tids = os.listdir(base)
        except OSError:
            continue  # gone
        for tid in tids:
            try:
                kids = (base / tid / "children").read_text().split()
            except OSError:
                continue  # the thread ended meanwhile
            for k in kids:
                if int(k) not in out:
                    out[int(k)] = pid
                    todo.append(int(k))
    return out


_CHILDREN_FILES: list[bool] = []


def _has_children_files() -> bool:
    if not _CHILDREN_FILES:
        _CHILDREN_FILES.append((PROC / "self" / "task" / str(os.getpid()) / "children").exists())
    return _CHILDREN_FILES[0]


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
    f = stat_fields(pid)
    if f is None:
        return None
    ticks = _cpu_ticks(f)
    kids = descendants(pid, tree if tree is not None else parents()) if children else []
    for child in kids:
        cf = stat_fields(child)
        if cf is not None:
            ticks += _cpu_ticks(cf)
    st = status_kb(pid)
    return ProcSample(pid, ticks / TICK, st.get("VmRSS", 0), st.get("VmHWM", 0), st.get("RssAnon", 0),
                      st.get("RssFile", 0))


# ---------------------------------------------------------------- threads of a process

# Python thread-name prefixes of a node (node/threadnames.py gives them to the kernel) -> their role
NODE_THREADS = ("egp-commit", "egp-verify")
ROLES = ("main", *NODE_THREADS, "native", "other", "ended")


@dataclass(frozen=True)
class TaskStat:
    tid: int
    name: str  # the kernel's thread name (/proc/<pid>/task/<tid>/comm: 15 bytes at most)
    start: int  # start time, clock ticks after boot: a reused tid is another thread
    cpu_s: float  # user + system seconds of this thread alone


def tasks(pid: int) -> list[TaskStat]:
    """Every live thread of `pid` with its CPU (empty when the process is gone). The name is read from the
    task's stat line, which holds the same text as its `comm` file (one read a thread instead of two)."""
    base = PROC / str(pid) / "task"
    try:
        tids = os.listdir(base)
    except OSError:
        return []
    out: list[TaskStat] = []
    for tid in tids:
        try:
            raw = (base / tid / "stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        f = raw[raw.rfind(")") + 2:].split()
        out.append(TaskStat(int(tid), raw[raw.find("(") + 1:raw.rfind(")")], int(f[19]), _cpu_ticks(f) / TICK))
    return out


def thread_roles(pid: int, threads: list[TaskStat]) -> dict[int, str]:
    """tid -> the thread's role in a node, identified from /proc alone:

    - "main": the thread whose tid is the pid (the event loop);
    - "egp-commit", "egp-verify": the oldest thread whose name starts with it (the node's commit worker and
      verification pool, named at their start by node/threadnames.py);
    - "native": a thread carrying the name of an older thread of the process. The kernel gives a new thread
      its creator's name, the node names every Python thread at its start, so these are threads started
      from C code; the node's only such library is LevelDB (plyvel), whose background thread does the
      compactions of all its databases (a node without the names, older than node/threadnames.py, shows
      its Python threads here too; a native thread whose creator has ended takes the creator's role, which
      a node's long-lived pools never do);
    - "other": any other thread (a Python thread with a name of its own, e.g. asyncio's executor).
    """
    roles: dict[int, str] = {}
    seen: set[str] = set()
    for t in sorted(threads, key=lambda t: (t.start, t.tid != pid, t.tid)):
        if t.tid == pid:
            roles[t.tid] = "main"
        elif t.name in seen:
            roles[t.tid] = "native"
        else:
            roles[t.tid] = next((r for r in NODE_THREADS if t.name.startswith(r)), "other")
        seen.add(t.name)
    return roles


def thread_split(pid: int, before: list[TaskStat], after: list[TaskStat],
                 process_cpu_s: float | None = None) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """CPU seconds spent between two `tasks(pid)` snapshots, by role (`thread_roles` of the later one), and
    per thread (tid, name, role, seconds; busiest first). A thread started meanwhile counts from zero.
    With `process_cpu_s` (the process's own CPU over the same interval), "ended" is what the threads that
    ended meanwhile spent (the process's total minus its live threads'; it also takes the ticks that fell
    between reading the process and its threads, ~1 % in a 1-second sampling), so the roles add up to it."""
    was = {(t.tid, t.start): t.cpu_s for t in before}
    roles = thread_roles(pid, after)
    by_role = dict.fromkeys(ROLES, 0.0)
    rows: list[dict[str, Any]] = []
    for t in after:
        spent = max(0.0, t.cpu_s - was.get((t.tid, t.start), 0.0))
        by_role[roles[t.tid]] += spent
        rows.append({"tid": t.tid, "name": t.name, "role": roles[t.tid], "cpu_s": round(spent, 3)})
    if process_cpu_s is not None:
        by_role["ended"] = max(0.0, process_cpu_s - sum(by_role.values()))
    rows.sort(key=lambda r: -r["cpu_s"])
    return by_role, rows


def own_cpu_s(pid: int) -> float | None:
    """CPU seconds of `pid` alone (every thread it ever had, no children); None when it is gone."""
    f = stat_fields(pid)
    return None if f is None else _cpu_ticks(f) / TICK


class ThreadSampler:
    """Snapshots of every thread of some processes, once a `period`, from a thread of our own (so it runs
    next to any event loop): `samples` holds (time.monotonic(), [(process CPU, [TaskStat...]) or None per
    pid]). Reading 4 nodes' ~10 threads costs well under a millisecond a snapshot."""

    def __init__(self, pids: list[int], period: float = 1.0) -> None:
        self.pids, self.period = list(pids), period
        self.samples: list[tuple[float, list[tuple[float, list[TaskStat]] | None]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-threads", daemon=True)

    def snapshot(self) -> None:
        now = time.monotonic()
        row: list[tuple[float, list[TaskStat]] | None] = []
        for pid in self.pids:
            cpu, ts = own_cpu_s(pid), tasks(pid)
            row.append(None if cpu is None or not ts else (cpu, ts))
        self.samples.append((now, row))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.snapshot()
            self._stop.wait(self.period)

    def start(self) -> ThreadSampler:
        if self.pids:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        if self.pids:
            self.snapshot()  # the last one, at the end of the run

    def relative(self, t0: float) -> list[dict[str, Any]]:
        """The samples with times relative to `t0` (the load generator's clock), for `report.summarize`."""
        return [{"t": t - t0, "nodes": [None if n is None else {"cpu_s": n[0], "tasks": n[1]} for n in row]}
                for t, row in self.samples]


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
        f = stat_fields(pid)
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

"""Kernel time and system calls per committed tx, by node thread, in a network run (Linux; `perf` for the counts).

    python -m devnet.bench.loop_syscalls [--rate 2000] [--after 8] [--window 20] [--out DIR]

Why: the floor model (docs/performance.md) put ~15 us of each node's event loop per tx in the kernel's socket
send/recv, read from py-spy's wall-clock samples. This counts instead: it starts `egp bench --devnet` (its
output is passed through), waits `--after` seconds into the load, then for `--window` seconds reads every node
thread's user and system CPU (/proc/<pid>/task/<tid>/stat) and counts its system calls with `perf stat -e
syscalls:sys_enter_<name> --per-thread` (kernel tracepoints: the node is not slowed as under strace, so its
batching is what it is). Divided by the txs committed in the window (the bench's progress lines) and by the
nodes. Threads by role as `devnet/bench/procstat.py` names them: `loop` (the main thread), `egp-commit`,
`egp-verify`, `native` (LevelDB's). Without perf (or without the right to trace) only the CPU split is
printed. Prints numbers, asserts nothing; on a shared machine compare runs at the same load.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from devnet.bench.procstat import TICK

SYSCALLS = ("sendto", "recvfrom", "read", "write", "epoll_wait", "futex", "getpid", "fdatasync", "fsync",
            "pwrite64", "madvise", "mmap", "munmap")
_PIDS = re.compile(r"pids \[([\d, ]+)\]")
_COMMITTED = re.compile(r"committed=\s*([\d,]+)")


def _role(pid: int, tid: int) -> str:
    try:
        name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    except OSError:
        return "gone"
    if tid == pid:
        return "loop"
    for prefix in ("egp-commit", "egp-verify"):
        if name.startswith(prefix):
            return prefix
    return "native"


def _threads(pids: list[int]) -> dict[int, tuple[str, int, int]]:
    """tid -> (role, user ticks, system ticks) of every thread of `pids`."""
    out: dict[int, tuple[str, int, int]] = {}
    for pid in pids:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
        for tid in tids:
            try:
                raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            except OSError:
                continue
            f = raw[raw.rfind(")") + 2:].split()
            out[tid] = (_role(pid, tid), int(f[11]), int(f[12]))
    return out


def _perf_counts(text: str, roles: dict[int, str]) -> dict[tuple[str, str], int]:
    """(role, syscall) -> count from `perf stat -x ';' --per-thread` output."""
    out: dict[tuple[str, str], int] = {}
    for line in text.splitlines():
        parts = line.split(";")
        if len(parts) < 4 or not parts[1].strip().isdigit() or "_enter_" not in parts[3]:
            continue
        m = re.match(r"(.*)-(\d+)$", parts[0].strip())
        if m is None:
            continue
        key = (roles.get(int(m.group(2)), "other"), parts[3].split("_enter_", 1)[1])
        out[key] = out.get(key, 0) + int(parts[1])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=2000.0)
    ap.add_argument("--duration", type=float, default=40.0, help="the bench's load (seconds)")
    ap.add_argument("--after", type=float, default=8.0, help="seconds of load before the window")
    ap.add_argument("--window", type=float, default=20.0)
    ap.add_argument("--out", type=Path, default=None, help="the bench's --out (default: a temp dir)")
    a = ap.parse_args(argv)
    out = a.out or Path(tempfile.mkdtemp(prefix="egp-loop-syscalls-"))
    cmd = [sys.executable, "-m", "cli.main", "bench", "--devnet", "--rate", str(a.rate), "--duration",
           str(a.duration), "--out", str(out), "--no-plot"]
    bench = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert bench.stdout is not None
    lines: list[str] = []
    pids: list[int] = []
    started = None
    while True:  # until the load has run `--after` seconds (the bench's progress lines say so)
        line = bench.stdout.readline()
        if not line:
            print("the bench ended before the window", file=sys.stderr)
            return 1
        sys.stdout.write(line)
        lines.append(line)
        m = _PIDS.search(line)
        if m:
            pids = [int(p) for p in m.group(1).split(",")]
        t = re.search(r"t=\s*([\d.]+)s", line)
        if t and pids and float(t.group(1)) >= a.after:
            started = _COMMITTED.search(line)
            break
    committed0 = int(started.group(1).replace(",", "")) if started else 0
    before = _threads(pids)
    perf = shutil.which("perf")
    procs = []
    if perf:
        events = ",".join(f"syscalls:sys_enter_{s}" for s in SYSCALLS)
        procs = [subprocess.Popen([perf, "stat", "-x", ";", "-e", events, "--per-thread", "-p", str(p), "--",
                                   "sleep", str(a.window)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True) for p in pids]
    t0 = time.monotonic()
    last = committed0
    while time.monotonic() - t0 < a.window:  # the bench's lines go on meanwhile: the last committed count
        line = bench.stdout.readline()
        if not line:
            break
        sys.stdout.write(line)
        m = _COMMITTED.search(line)
        if m:
            last = int(m.group(1).replace(",", ""))
    after = _threads(pids)
    perf_text = "".join(p.communicate()[1] for p in procs)
    for line in bench.stdout:
        sys.stdout.write(line)
    bench.wait()
    n = last - committed0
    if n <= 0:
        print("no tx committed in the window", file=sys.stderr)
        return 1
    nodes = len(pids)
    print(f"\nwindow ~{a.window:g} s: {n:,} txs committed ({n / a.window:,.0f}/s), load {os.getloadavg()[0]:.1f}; "
          f"per committed tx and node:")
    split: dict[str, list[int]] = {}
    for tid, (role, user, system) in after.items():
        if tid in before:
            s = split.setdefault(role, [0, 0])
            s[0] += user - before[tid][1]
            s[1] += system - before[tid][2]
    for role, (user, system) in sorted(split.items()):
        us = 1e6 / TICK / n / nodes
        print(f"  {role:11s} user {user * us:6.1f} us   system {system * us:5.1f} us "
              f"({100 * system / max(1, user + system):.0f} % in the kernel)")
    if not perf:
        print("  (no perf: system calls not counted)")
        return 0
    counts = _perf_counts(perf_text, {tid: r for tid, (r, _, _) in {**before, **after}.items()})
    if not counts:
        print("  (perf counted nothing: tracepoints not readable?)\n" + perf_text[-400:])
    for (role, name), v in sorted(counts.items()):
        if v:
            print(f"  {role:11s} {name:11s} {v / n / nodes:7.3f} calls")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

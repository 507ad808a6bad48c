"""Start and stop node processes by recorded PID only (never by name), for the devnet and the e2e tests.

A PID file lists `{pid, home}`; before signalling a PID we check that `/proc/<pid>/cmdline` still names
that home, so a PID reused by another program after a reboot is never killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Proc:
    pid: int
    home: Path
    log: Path
    popen: subprocess.Popen[bytes] | None = None


def start_node(home: Path, log: Path, *, env: dict[str, str] | None = None, log_level: str = "info") -> Proc:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        p = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "start", "--home", str(home), "--log-level", log_level],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **(env or {})}, cwd=Path(__file__).resolve().parents[1],
        )
    finally:
        out.close()
    return Proc(p.pid, home, log, p)


def is_ours(pid: int, home: Path) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(home).encode() in cmd


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def stop(procs: list[Proc], timeout: float = 15.0, sig: int = signal.SIGTERM) -> None:
    """Signal each recorded process that is still ours, wait, then SIGKILL what remains."""
    live = [p for p in procs if is_ours(p.pid, p.home)]
    for p in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, sig)
    deadline = time.monotonic() + timeout
    for p in live:
        while alive(p.pid) and time.monotonic() < deadline:
            if p.popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.popen.wait(0.1)
            else:
                time.sleep(0.1)
        if alive(p.pid) and is_ours(p.pid, p.home):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGKILL)
        if p.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(5)


def kill9(p: Proc) -> None:
    if is_ours(p.pid, p.home):
        os.kill(p.pid, signal.SIGKILL)
    if p.popen is not None:
        p.popen.wait(10)


def save_pids(path: Path, procs: list[Proc]) -> None:
    path.write_text(json.dumps([{"pid": p.pid, "home": str(p.home), "log": str(p.log)} for p in procs]))


def load_pids(path: Path) -> list[Proc]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [Proc(int(d["pid"]), Path(d["home"]), Path(d["log"])) for d in doc]

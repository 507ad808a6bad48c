"""egp bench's CPU split by thread (devnet/bench/procstat.py, report.py) on a real process: this test process,
a Python thread it starts (named into the kernel by node/threadnames.py, as a node's threads are) and a native
thread that thread starts from C (pthread_create, as LevelDB starts its compaction thread)."""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from typing import Any

import pytest

from devnet.bench import procstat, report
from devnet.bench.procstat import TaskStat
from node import threadnames

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and prctl are Linux's")


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def _native_thread(libc: Any) -> ctypes.c_ulong:
    """A thread started from C, not by Python: it runs libc's sleep(1) (its argument) and ends."""
    tid = ctypes.c_ulong()
    assert libc.pthread_create(ctypes.byref(tid), None, ctypes.cast(libc.sleep, ctypes.c_void_p),
                               ctypes.c_void_p(1)) == 0
    return tid


def test_threads_of_this_process_are_named_measured_and_given_roles() -> None:
    libc = ctypes.CDLL(None)
    pid = os.getpid()
    ready, done = threading.Event(), threading.Event()
    native: list[ctypes.c_ulong] = []
    mine: list[int] = []

    def worker() -> None:
        mine.append(threading.get_native_id())
        _spin(0.15)
        time.sleep(0.03)  # a later start time (clock ticks) than ours for the native thread
        native.append(_native_thread(libc))
        ready.set()
        done.wait(10)

    saved = threading.getprofile()
    threadnames.install()
    try:
        before = procstat.tasks(pid)
        t = threading.Thread(target=worker, name="egp-verify_0")
        t.start()
        assert ready.wait(10)
        after = procstat.tasks(pid)
    finally:
        threading.setprofile(saved)  # type: ignore[arg-type]
        done.set()
    t.join()
    for n in native:
        libc.pthread_join(n, None)
    by_tid = {x.tid: x for x in after}
    assert by_tid[pid].name  # the main thread: the process's name
    w = by_tid[mine[0]]
    assert w.name == "egp-verify_0" and w.cpu_s >= 0.1  # the kernel's name and the CPU it spun
    roles = procstat.thread_roles(pid, after)
    assert roles[pid] == "main" and roles[w.tid] == "egp-verify"
    old = {x.tid for x in before}  # (earlier tests may have left threads: LevelDB's, unnamed Python ones)
    natives = [x for x in after if roles[x.tid] == "native" and x.tid not in old]
    assert [x.name for x in natives] == ["egp-verify_0"]  # its creator's name, a later start
    assert natives[0].tid not in {x.native_id for x in threading.enumerate()}  # not a Python thread
    by_role, rows = procstat.thread_split(pid, before, after)
    assert by_role["egp-verify"] >= 0.1
    assert {r["tid"] for r in rows} == set(by_tid)
    assert rows[0]["cpu_s"] >= rows[-1]["cpu_s"]


def test_split_counts_new_threads_from_zero_and_what_ended_as_the_rest() -> None:
    pid = 100
    before = [TaskStat(100, "python", 5, 10.0), TaskStat(101, "egp-commit_0", 6, 4.0),
              TaskStat(102, "python", 7, 1.0), TaskStat(103, "Thread-9", 8, 2.0)]
    after = [TaskStat(100, "python", 5, 10.5), TaskStat(101, "egp-commit_0", 6, 4.25),
             TaskStat(102, "python", 7, 1.5),  # LevelDB's, started by the main thread
             TaskStat(104, "egp-commit_0", 9, 0.125),  # a native thread the commit worker started meanwhile
             TaskStat(103, "egp-verify_0", 20, 0.5)]  # tid 103 reused by a new thread: counted from zero
    roles = procstat.thread_roles(pid, after)
    assert roles == {100: "main", 101: "egp-commit", 102: "native", 104: "native", 103: "egp-verify"}
    by_role, _ = procstat.thread_split(pid, before, after, process_cpu_s=2.0)
    assert by_role["main"] == 0.5 and by_role["egp-commit"] == 0.25 and by_role["native"] == 0.625
    assert by_role["egp-verify"] == 0.5 and by_role["other"] == 0.0
    assert by_role["ended"] == pytest.approx(2.0 - 1.875)  # thread 103's old self and whatever else ended


def test_report_prints_one_line_per_node_with_cores_and_shares() -> None:
    pid = 7
    a = {"t": 2.0, "nodes": [{"cpu_s": 10.0, "tasks": [TaskStat(7, "egp", 1, 8.0), TaskStat(8, "egp", 2, 2.0)]}]}
    b = {"t": 12.0, "nodes": [{"cpu_s": 15.0, "tasks": [TaskStat(7, "egp", 1, 11.0), TaskStat(8, "egp", 2, 4.0)]}]}
    split = report._threads_between([{"t": 0.0, "nodes": [None]}, a, b], [pid], 1.0, 20.0)
    assert split[0]["cores"] == 0.5
    assert split[0]["by_role_cores"]["main"] == 0.3 and split[0]["by_role_cores"]["native"] == 0.2
    assert split[0]["by_role_share"]["main"] == 0.6
    assert report.thread_line(split[0]) == "main 0.300 (60 %), native 0.200 (40 %)"
    assert report._threads_between([a], [pid], 1.0, 20.0) == []  # one sample: no window


def test_long_thread_names_keep_their_worker_number() -> None:
    assert threadnames.os_name("egp-commit_0") == b"egp-commit_0"
    assert threadnames.os_name("ThreadPoolExecutor-0_1") == b"ThreadP~tor-0_1"
    a, b = threadnames.os_name("ThreadPoolExecutor-0_1"), threadnames.os_name("ThreadPoolExecutor-0_2")
    assert len(a) <= 15 and a != b

"""devnet/bench/loop_syscalls.py's readers: `perf stat -x ';' --per-thread` lines into (role, syscall) counts,
and this very process's threads from /proc with their roles and CPU ticks (Linux)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from devnet.bench.loop_syscalls import _perf_counts, _threads


def test_perf_lines_are_counted_by_the_thread_role() -> None:
    text = "\n".join([
        "",
        "            python3-100;12;;syscalls:sys_enter_sendto;20000000;100.00;;",
        "       egp-verify_0-101;3;;syscalls:sys_enter_futex;20000000;100.00;;",
        "            python3-102;5;;syscalls:sys_enter_write;20000000;100.00;;",
        "            python3-103;<not counted>;;syscalls:sys_enter_write;0;100.00;;",
        "            python3-100;7;;syscalls:sys_enter_sendto;20000000;100.00;;",
        "# a comment line",
    ])
    roles = {100: "loop", 101: "egp-verify", 102: "native"}
    assert _perf_counts(text, roles) == {("loop", "sendto"): 19, ("egp-verify", "futex"): 3, ("native", "write"): 5}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_this_process_threads_have_roles_and_ticks() -> None:
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="egp-verify_0")
    t.start()
    try:
        threads = _threads([os.getpid()])
    finally:
        stop.set()
        t.join()
    assert threads[os.getpid()][0] == "loop"
    assert all(user >= 0 and system >= 0 for _, user, system in threads.values())
    assert {role for role, _, _ in threads.values()} <= {"loop", "egp-commit", "egp-verify", "native", "gone"}

"""`procstat.subtree` (the sampler's per-second view of the nodes' descendants, from the kernel's children
files) finds the same descendants as the scan of every process (`parents`), grandchildren included."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from devnet.bench import procstat


def test_the_subtree_holds_the_same_descendants_as_the_whole_scan() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
                              "time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while True:
            whole = sorted(procstat.descendants(os.getpid(), procstat.parents()))
            if len(whole) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        tree = procstat.subtree([os.getpid()])
        if tree is None:  # a kernel without /proc/<pid>/task/<tid>/children: the caller scans instead
            return
        assert child.pid in tree and tree[child.pid] == os.getpid()
        assert sorted(procstat.descendants(os.getpid(), tree)) == whole and len(whole) >= 2
        assert procstat.subtree([2**22 + 7]) == {}  # a pid that is gone: nothing, no error
    finally:
        for pid in procstat.descendants(child.pid, procstat.parents()):
            os.kill(pid, 9)
        child.kill()
        child.wait()

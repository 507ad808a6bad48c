"""A node whose disk fills stops with one clear fatal line and exit 1; freed and restarted, nothing is lost.

The data directory is a small tmpfs (we are root in CI and on the dev box; without the right to mount, the
test is skipped with the reason) so filling it cannot touch the shared disk.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from devnet.rpc import block_hashes

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("e2e")]

FATAL = "storage failed: No space left on device at "
ADVICE = "the node stopped to protect its data — free space and restart"


def _mount_tmpfs(data: Path) -> None:
    """Move `data` onto a fresh 48 MiB tmpfs (keeping the signer state file already in it)."""
    keep = Path(tempfile.mkdtemp())
    try:
        if data.exists():
            shutil.copytree(data, keep, dirs_exist_ok=True)
        data.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", str(data)],
                           capture_output=True, text=True, check=False)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs for the data dir: {r.stderr.strip() or r.returncode}")
        shutil.copytree(keep, data, dirs_exist_ok=True)
    finally:
        shutil.rmtree(keep, ignore_errors=True)


def _fill(data: Path) -> None:
    chunk = b"\0" * (1 << 20)
    with contextlib.suppress(OSError), open(data / "filler.bin", "ab") as f:
        while True:
            f.write(chunk)
            f.flush()
    with contextlib.suppress(OSError), open(data / "filler2.bin", "ab") as f:  # the last partial chunk
        while True:
            f.write(b"\0" * 4096)
            f.flush()


def test_full_disk_stops_the_node_with_one_fatal_line_and_restart_loses_nothing(cluster_factory: Any) -> None:
    c = cluster_factory(validators=1, non_validators=0, commit_ms=50)
    data = c.net.nodes[0].home / "data"
    _mount_tmpfs(data)
    try:
        p = c.start(0)
        assert p.popen is not None
        c.wait_height(0, 3)
        known = {h: block_hashes(c.url(0), h) for h in range(1, 4)}  # height -> (block hash, app hash) served
        _fill(data)
        deadline = time.monotonic() + 120  # the node's next write fails; a loaded machine makes it later
        while p.popen.poll() is None and time.monotonic() < deadline:
            for h in range(max(known, default=0) + 1, c.height(0) + 1):
                with contextlib.suppress(Exception):
                    known[h] = block_hashes(c.url(0), h)
            time.sleep(0.1)
        code = p.popen.wait(30)
        assert code != 0
        log = (c.logs / "node0.log").read_text()
        fatal = [line for line in log.splitlines() if FATAL in line]
        assert len(fatal) == 1, fatal
        assert ADVICE in fatal[0] and str(data) in fatal[0]
        assert "Traceback" not in log
        assert len(known) >= 3
        seen = max(known)
        c.procs.pop(0)
        (data / "filler.bin").unlink()
        (data / "filler2.bin").unlink(missing_ok=True)
        c.start(0)
        c.wait_height(0, seen + 2)
        for h, served in known.items():  # no block the node served before it stopped was lost or changed
            assert block_hashes(c.url(0), h) == served, h
    finally:
        c.stop_all()
        subprocess.run(["umount", "-l", str(data)], capture_output=True, check=False)

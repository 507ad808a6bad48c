"""The disk-full fault's filler leaves no byte free on the node's tmpfs (as root; skipped, with the reason,
where no tmpfs can be mounted)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devnet.faults.cluster import fill, tmpfs_mib


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "tmpfs"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(d)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip() or r.returncode}")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True, check=False)


def test_fill_leaves_no_space_and_freeing_it_gives_it_back(tmpfs: Path) -> None:
    (tmpfs / "CURRENT").write_bytes(b"MANIFEST-000001\n")  # what the node already keeps there stays
    taken = fill(tmpfs)
    assert taken >= 15 << 20
    assert os.statvfs(tmpfs).f_bavail == 0
    with pytest.raises(OSError) as exc, open(tmpfs / "000005.log", "ab") as f:
        f.write(b"\1" * 8192)
        f.flush()
    assert exc.value.errno == 28  # ENOSPC, what LevelDB's write then gets
    assert (tmpfs / "CURRENT").read_bytes() == b"MANIFEST-000001\n"
    for name in ("filler.bin", "filler2.bin"):
        (tmpfs / name).unlink(missing_ok=True)
    assert os.statvfs(tmpfs).f_bavail * os.statvfs(tmpfs).f_frsize >= 15 << 20


def test_the_tmpfs_holds_the_run_with_room_and_no_more() -> None:
    assert tmpfs_mib(100 * 60) == 128  # the smoke: 6,000 txs, ~14 MB of data on a node
    assert tmpfs_mib(200 * 600) >= 1024  # the 10-minute run at 200 tx/s (it ran on 1 GiB)
    assert tmpfs_mib(10**6) * (1 << 20) >= 4 * 2300 * 10**6  # 4x the ~2.3 KB a node keeps per tx

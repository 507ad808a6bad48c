"""The network under test: N validator processes on 127.0.0.1 with the workload genesis, wired through proxies.

Why not `devnet.bench.run_network` as is: the harness needs the same homes (`node.testnet.make_testnet`, the
code behind `egp testnet`, with the benchmark's workload genesis) but every node's persistent peers rewritten
to the proxy ports, nodes launched through `devnet/faults/entry.py` (the only way to arm the test seams), one
node's data directory on a small tmpfs for the disk-full fault, and per-node start/kill/pause/restart by the
Popen handle it holds (never by name). Ports: a free block in 61000-64999, above the devnet's 26656+, the
e2e tests' 31000-60999 and the benchmark's random 20000-59999 blocks.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devnet.bench.run_network import WorkloadSpec
from devnet.network import port_free
from node.config import Config, write_config
from node.genesis import ConsensusParams
from node.home import Home
from node.testnet import TestnetNode, make_testnet

ROOT = Path(__file__).resolve().parents[2]
PORT_LO, PORT_HI = 61000, 64999
TMPFS_MIN_MIB = 128
TMPFS_PER_TX = 10 * 1024  # bytes of tmpfs per offered tx: a node keeps ~2.3 KB per committed tx (60 s at 100 tx/s:
# 14 MB), so 4x room; every byte of it is written (or fallocated) at each disk-full fault


def tmpfs_mib(offered_txs: int) -> int:
    """The disk-full node's tmpfs: room for the run's data with a margin, and no more (128 MiB for the 60 s
    smoke, ~1.2 GiB for 10 minutes at 200 tx/s): filling 1 GiB took 1.4-3.8 s on a loaded machine, the
    harness's largest lateness."""
    return max(TMPFS_MIN_MIB, -(-offered_txs * TMPFS_PER_TX // (1 << 20)))


def pick_ports(n: int, rng: random.Random) -> int:
    """A base port with n*10 node ports and n*n proxy ports above it all free."""
    span = 10 * n + n * n + 10
    for _ in range(200):
        base = rng.randrange(PORT_LO, PORT_HI - span, 10)
        if all(port_free(base + k) for k in range(span)):
            return base
    raise RuntimeError("no free block of ports in 61000-64999")


def fill(directory: Path) -> int:
    """Fill the file system of `directory` to the last byte (filler.bin, filler2.bin); returns the bytes taken.

    One posix_fallocate of all the free space, then 4 KiB writes for what is left: writing 1 GiB in 1 MiB
    blocks from the harness's thread took 3-7 s at load 9 (each write gives up the GIL, and the proxies and
    the sender in the same process make every re-acquisition wait), which made the harness late for every
    later fault. A file system without fallocate is filled by the writes alone."""
    written = 0
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize
    fd = os.open(directory / "filler.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        with contextlib.suppress(OSError):
            os.posix_fallocate(fd, 0, free)
            written = free
        block = b"\0" * (1 << 20)
        with contextlib.suppress(OSError):
            while True:
                written += os.write(fd, block)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError), open(directory / "filler2.bin", "ab") as f:
        while True:  # the last partial megabyte
            f.write(b"\0" * 4096)
            written += 4096
    return written


@dataclass
class NodeProc:
    index: int
    home: Path
    rpc_url: str
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    paused: bool = False
    starts: int = 0

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


class Cluster:
    """Homes, processes and the tmpfs of one run; `close()` stops exactly what it started."""

    def __init__(self, root: Path, *, validators: int, seed: int, spec: WorkloadSpec,
                 timeout_commit_ms: int | None = None, tmpfs_node: int | None = None, tmpfs_size_mib: int = 1024,
                 broken_node: int | None = None) -> None:
        self.root = root
        self.n = validators
        self.spec = spec
        rng = random.Random(seed)
        self.base = pick_ports(validators, rng)
        self.proxy_base = self.base + 10 * validators + 10
        cfg = Config()  # an operator's defaults (mempool 5,000 txs, ...) except for what a fault run needs:
        cfg.p2p.max_reconnect_backoff = 2000
        cfg.p2p.dial_timeout = 1000
        cfg.rpc.timeout_broadcast_tx_commit = 10_000
        cfg.rpc.subscription_buffer_size = 20_000  # a block of 1,000+ txs is 1,000+ Tx events at once
        params = ConsensusParams() if timeout_commit_ms is None else ConsensusParams(
            timeout_commit_ms=timeout_commit_ms)
        self.testnet: list[TestnetNode] = make_testnet(
            root, validators=validators, chain_id=spec.chain_id, app_state=spec.workload(0).genesis_app_state(),
            starting_port=self.base, params=params, base_config=cfg)
        for t in self.testnet:  # every peer through the proxy link (i -> j)
            home = Home(t.home.root)
            c = home.load_config()
            c.p2p.persistent_peers = [f"{o.node_id}@127.0.0.1:{self.proxy_port(t.index, o.index)}"
                                      for o in self.testnet if o.index != t.index]
            write_config(home.config_file, c)
        self.nodes = [NodeProc(t.index, t.home.root, t.rpc_url, root / "logs" / f"node{t.index}.log")
                      for t in self.testnet]
        self.p2p_ports = [t.p2p_port for t in self.testnet]
        self.tmpfs: Path | None = None
        self.tmpfs_note = ""
        if tmpfs_node is not None:
            self._mount_tmpfs(tmpfs_node, tmpfs_size_mib)
        if broken_node is not None:
            self.nodes[broken_node].env["EGP_TEST_SIGNER"] = "amnesiac"

    def proxy_port(self, i: int, j: int) -> int:
        return self.proxy_base + i * self.n + j

    # ------------------------------------------------------------------ disk
    def _mount_tmpfs(self, i: int, size_mib: int) -> None:
        data = self.nodes[i].home / "data"
        saved = Path(tempfile.mkdtemp(prefix="egp-faults-data-"))
        shutil.copytree(data, saved, dirs_exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0700", "tmpfs", str(data)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.tmpfs_note = (f"tmpfs mount failed ({r.stderr.strip()}; the harness runs as root): disk full "
                               "cannot be injected")
        else:
            self.tmpfs = data
            self.tmpfs_note = f"node{i} data dir on a {size_mib} MiB tmpfs"
        shutil.copytree(saved, data, dirs_exist_ok=True)
        shutil.rmtree(saved, ignore_errors=True)

    def fill_disk(self) -> int:
        """Fill the tmpfs to the last byte; returns the bytes written (0 without a tmpfs)."""
        if self.tmpfs is None:
            return 0
        return fill(self.tmpfs)

    def free_disk(self) -> None:
        if self.tmpfs is not None:
            for name in ("filler.bin", "filler2.bin"):
                (self.tmpfs / name).unlink(missing_ok=True)

    # ------------------------------------------------------------------ processes
    def start(self, i: int, extra_env: dict[str, str] | None = None) -> None:
        p = self.nodes[i]
        if p.running:
            return
        p.log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT), **p.env, **(extra_env or {})}
        with open(p.log, "ab") as log:
            log.write(f"\n=== harness: start {time.strftime('%H:%M:%S')} env={sorted(extra_env or {})}\n".encode())
            log.flush()
            p.popen = subprocess.Popen(
                [sys.executable, "-m", "devnet.faults.entry", "--home", str(p.home), "--log-level", "info"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=ROOT,
                start_new_session=True)
        p.paused = False
        p.starts += 1

    def kill9(self, i: int) -> None:
        p = self.nodes[i]
        if p.popen is not None and p.popen.poll() is None:
            p.popen.send_signal(signal.SIGKILL)
            p.popen.wait(10)
        p.paused = False

    def stop(self, i: int, timeout: float = 10.0) -> str:
        """SIGTERM, then SIGKILL after `timeout`; returns what happened (a slow shutdown is a finding)."""
        p = self.nodes[i]
        if p.popen is None or p.popen.poll() is not None:
            return "not running"
        if p.paused:
            p.popen.send_signal(signal.SIGCONT)
            p.paused = False
        t = time.monotonic()
        p.popen.send_signal(signal.SIGTERM)
        try:
            p.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            p.popen.send_signal(signal.SIGKILL)
            p.popen.wait(10)
            return f"SIGTERM ignored for {timeout:g} s: SIGKILL"
        return f"stopped in {time.monotonic() - t:.1f} s (exit {p.popen.returncode})"

    def pause(self, i: int) -> None:
        p = self.nodes[i]
        if p.running:
            assert p.popen is not None
            p.popen.send_signal(signal.SIGSTOP)
            p.paused = True

    def resume(self, i: int) -> None:
        p = self.nodes[i]
        if p.running and p.paused:
            assert p.popen is not None
            p.popen.send_signal(signal.SIGCONT)
        p.paused = False

    def stop_all(self, timeout: float = 10.0) -> None:
        """SIGTERM every running node at once, SIGKILL what is left after `timeout`."""
        live = [p for p in self.nodes if p.running]
        for p in live:
            assert p.popen is not None
            if p.paused:
                p.popen.send_signal(signal.SIGCONT)
                p.paused = False
            p.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in live:
            assert p.popen is not None
            try:
                p.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.popen.send_signal(signal.SIGKILL)
                p.popen.wait(10)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop_all()
        if self.tmpfs is not None:
            subprocess.run(["umount", "-l", str(self.tmpfs)], capture_output=True)
            self.tmpfs = None

    def log_tail(self, i: int, chars: int = 3000) -> str:
        p = self.nodes[i].log
        return p.read_text(errors="replace")[-chars:] if p.exists() else ""

"""A fresh benchmark network: N validators on 127.0.0.1 whose genesis holds the workload's accounts.

Why not the developer devnet: the load generator signs with the keys of `state/workload.py` (2,000
suppliers, 200 agencies, 18 banks derived from a seed), so genesis must carry exactly that app_state, and
every run wants a fresh chain (nonces start at 0). The homes are written by `node.testnet.make_testnet`, the
code behind `egp testnet`, so the benchmark runs the layout an operator gets; the nodes are real
`egp start` processes. Their PIDs are written to `<root>/pids.json` (the load generator reads them to
measure CPU and memory) and they are stopped by PID only: SIGTERM, then SIGKILL after a grace period.

    python -m devnet.bench.run_network up --root /tmp/egp-bench   # prints the RPC URLs, leaves it running
    python -m devnet.bench.run_network down --root /tmp/egp-bench
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

from devnet.network import port_free
from node.config import Config
from node.genesis import ConsensusParams
from node.testnet import make_testnet
from state.workload import Workload

ROOT = Path(__file__).resolve().parents[2]
PIDS_FILE = "pids.json"


@dataclass(frozen=True)
class WorkloadSpec:
    """What fixes the workload's actors (and so the genesis): the load generator must use the same."""

    seed: int = 1
    n_banks: int = 18
    n_agencies: int = 200
    n_suppliers: int = 2_000
    chain_id: str = "egp-bench"
    invalid_share: float = 0.0  # see `egp bench --invalid-share`

    def workload(self, start_ms: int | None = None) -> Workload:
        return Workload(seed=self.seed, n_banks=self.n_banks, n_agencies=self.n_agencies,
                        n_suppliers=self.n_suppliers, chain_id=self.chain_id, invalid_share=self.invalid_share,
                        start_ms=start_ms if start_ms is not None else int(time.time() * 1000))


@dataclass
class BenchNetwork:
    root: Path
    urls: list[str]
    pids: list[int]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def log_tail(self, i: int, chars: int = 2000) -> str:
        p = self.root / f"node{i}" / "node.log"
        return p.read_text(errors="replace")[-chars:] if p.exists() else ""


def height(url: str, timeout: float = 2.0) -> int:
    """The node's latest committed height (status over JSON-RPC); OSError/ValueError when it does not answer."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "status", "params": {}}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        doc = json.loads(resp.read())
    return int(doc["result"]["sync_info"]["latest_block_height"])


def _ports_free(base: int, n: int) -> bool:
    return all(port_free(port) for i in range(n) for port in (base + 10 * i, base + 10 * i + 1))


# the bench network's genesis cadence (docs/design.md §9); `egp bench --timeout-commit-ms
# / --[no-]skip-timeout-commit` override them
TIMEOUT_COMMIT_MS = 1000
SKIP_TIMEOUT_COMMIT = True


def pick_base_port(n: int) -> int:
    """A free block below 20,000: tests/e2e/cluster.py takes its networks' ports from 20,000-31,999 and
    the kernel its ephemeral ports from 32,768, so a bench network started next to them (the bench smoke
    test runs beside the e2e tests) cannot take a port one of them checked free but has not bound yet."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(10_000, 20_000 - 10 * n, 10)
        if _ports_free(base, n):
            return base
    raise RuntimeError("no free block of ports on 127.0.0.1")


def write_network(root: Path, spec: WorkloadSpec, *, validators: int = 4, timeout_commit_ms: int = TIMEOUT_COMMIT_MS,
                  skip_timeout_commit: bool = SKIP_TIMEOUT_COMMIT, mempool_size: int = 5000,
                  base_port: int | None = None, next_block_delay_ms: int | None = None,
                  create_empty_blocks: bool = True, trie_cache_mib: int | None = None) -> list[str]:
    """Write the homes under `root`; returns the RPC URLs. `next_block_delay_ms` None: the genesis default;
    `trie_cache_mib` None: config.toml's default."""
    cfg = Config()
    if trie_cache_mib is not None:
        cfg.storage.trie_cache_mib = trie_cache_mib
    cfg.mempool.size = mempool_size
    cfg.mempool.cache_size = max(cfg.mempool.cache_size, 2 * mempool_size)
    cfg.consensus.create_empty_blocks = create_empty_blocks
    params = ConsensusParams(timeout_commit_ms=timeout_commit_ms, skip_timeout_commit=skip_timeout_commit)
    if next_block_delay_ms is not None:
        params = replace(params, next_block_delay_ms=next_block_delay_ms)
    app_state = spec.workload(0).genesis_app_state()
    base = base_port if base_port is not None else pick_base_port(validators)
    nodes = make_testnet(root, validators=validators, chain_id=spec.chain_id, app_state=app_state,
                         starting_port=base, params=params, base_config=cfg)
    return [n.rpc_url for n in nodes]


def start_node(root: Path, i: int, log_level: str = "info", env_extra: dict[str, str] | None = None
               ) -> subprocess.Popen[bytes]:
    """`egp start` for `<root>/node<i>` (its log appended to node<i>/node.log)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}  # (env_extra may set PYTHONPATH too)
    home = root / f"node{i}"
    with open(home / "node.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "cli.main", "start", "--home", str(home), "--log-level",
                                 log_level], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                start_new_session=True)


def start_nodes(root: Path, urls: list[str], log_level: str = "info", env_extra: dict[str, str] | None = None,
                ready_timeout: float = 90.0) -> BenchNetwork:
    """Start `egp start` for every node<i> under `root`; waits until each has committed block 1."""
    net = BenchNetwork(root, urls, [])
    try:
        for i in range(len(urls)):
            p = start_node(root, i, log_level, env_extra)
            net.procs.append(p)
            net.pids.append(p.pid)
        write_pids(net)
        deadline = time.monotonic() + ready_timeout
        for i, url in enumerate(urls):
            while True:
                if net.procs[i].poll() is not None:
                    raise RuntimeError(f"node{i} exited with {net.procs[i].returncode}:\n{net.log_tail(i)}")
                try:
                    if height(url) >= 1:
                        break
                except (OSError, ValueError, KeyError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"node{i} did not commit block 1 in {ready_timeout:.0f} s:\n{net.log_tail(i)}")
                time.sleep(0.3)
    except BaseException:
        stop_nodes(net)
        raise
    return net


def write_pids(net: BenchNetwork) -> None:
    (net.root / PIDS_FILE).write_text(json.dumps({"pids": net.pids, "urls": net.urls}) + "\n")


def stop_pids(pids: list[int], grace: float = 15.0) -> None:
    """SIGTERM each PID we started, then SIGKILL what is still there after `grace` seconds."""
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not our child (`down` from another process): poll for existence
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
                continue
            if done:
                break
            time.sleep(0.1)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def stop_nodes(net: BenchNetwork) -> None:
    stop_pids(net.pids)
    for p in net.procs:
        p.poll()


def read_pids(root: Path) -> tuple[list[int], list[str]]:
    doc = json.loads((root / PIDS_FILE).read_text())
    return [int(p) for p in doc["pids"]], [str(u) for u in doc["urls"]]


@contextmanager
def bench_network(root: Path, spec: WorkloadSpec, *, validators: int = 4, timeout_commit_ms: int = TIMEOUT_COMMIT_MS,
                  skip_timeout_commit: bool = SKIP_TIMEOUT_COMMIT, mempool_size: int = 5000, log_level: str = "info",
                  env_extra: dict[str, str] | None = None, next_block_delay_ms: int | None = None,
                  create_empty_blocks: bool = True, trie_cache_mib: int | None = None) -> Iterator[BenchNetwork]:
    """A fresh network for the duration of the block; exactly its nodes are stopped at the end."""
    urls = write_network(root, spec, validators=validators, timeout_commit_ms=timeout_commit_ms,
                         skip_timeout_commit=skip_timeout_commit, mempool_size=mempool_size,
                         next_block_delay_ms=next_block_delay_ms, create_empty_blocks=create_empty_blocks,
                         trie_cache_mib=trie_cache_mib)
    net = start_nodes(root, urls, log_level, env_extra)
    try:
        yield net
    finally:
        stop_nodes(net)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=("up", "down"))
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--validators", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout-commit-ms", type=int, default=TIMEOUT_COMMIT_MS)
    ap.add_argument("--skip-timeout-commit", action=argparse.BooleanOptionalAction, default=SKIP_TIMEOUT_COMMIT)
    ap.add_argument("--mempool-size", type=int, default=5000)
    ap.add_argument("--trie-cache-mib", type=int, default=None, help="config.toml [storage] trie_cache_mib")
    a = ap.parse_args(argv)
    if a.action == "down":
        pids, _ = read_pids(a.root)
        stop_pids(pids)
        print(f"stopped {pids}")
        return 0
    if a.root.exists() and any(a.root.iterdir()):
        print(f"error: {a.root} is not empty; a bench network starts fresh", file=sys.stderr)
        return 2
    urls = write_network(a.root, WorkloadSpec(seed=a.seed), validators=a.validators,
                         timeout_commit_ms=a.timeout_commit_ms, skip_timeout_commit=a.skip_timeout_commit,
                         mempool_size=a.mempool_size, trie_cache_mib=a.trie_cache_mib)
    net = start_nodes(a.root, urls)
    print(json.dumps({"root": str(a.root), "urls": urls, "pids": net.pids}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

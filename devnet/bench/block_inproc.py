"""A block's fixed work per node, in one process: four real validators on one event loop, empty blocks.

Why a second instrument beside `block_overhead` (four `egp start` processes, CPU from /proc): on a shared
2-core machine a window of 30 empty blocks is a few hundred ms of CPU per node, too little for its
profile (py-spy samples ~100 a window) and noisy to compare. Here the four nodes are built from `egp
testnet` homes as `egp start` builds them (`node.assemble.build`: real LevelDB, real signer state files,
real P2P over 127.0.0.1 with its encryption, commit worker threads, the collector tuned as a node tunes
it), all on this process's loop, and the chain makes empty blocks as fast as consensus lets it
(`timeout_commit` short, `skip_timeout_commit` on, `next_block_delay` 0): hundreds of blocks in a few
seconds, the idle tick's cost spread thin. CPU is this process's (all threads, from /proc, split by
thread role: the loop, commit workers, LevelDB's native threads), divided by blocks × 4 nodes. `--profile`
runs cProfile on the loop thread (the four nodes' loop work; the commit threads are not in it) and prints
the top functions by own and by cumulative time (cProfile inflates small calls: read shares, not µs).

    python -m devnet.bench.block_inproc                       # 300 blocks after 30 of warm-up
    python -m devnet.bench.block_inproc --blocks 500 --profile /tmp/x.prof
    cd /tmp/base-tree && python -m devnet.bench.block_inproc  # the same on another tree (A/B: take turns)

Prints CPU per block and node (ms: total, by thread role, user/system), write syscalls and p2p frames (handed
to P2P, handled from it) per block and node, and the machine's load. No figure is asserted anywhere; compare
trees run one after the other, several times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from devnet.bench import procstat
from node import gctune
from node.assemble import Running, _pump, build
from node.config import Config
from node.genesis import ConsensusParams
from node.logs import setup_logging
from node.testnet import make_testnet


def _free_base(n: int) -> int:
    """A base port with `n` consecutive p2p/rpc pairs free (as make_testnet numbers them: base + 10 i)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + 10 * n + 1 > 65000:
            continue
        ok = True
        for i in range(n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", base + 10 * i))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free ports")


def _homes(root: Path, timeout_commit_ms: int) -> list[Path]:
    cfg = Config()
    cfg.rpc.laddr = ""  # no RPC server: nothing asks for status (block_overhead's RPC reads are not here)
    cfg.blocksync.enable = False  # straight into consensus
    params = ConsensusParams(timeout_commit_ms=timeout_commit_ms, skip_timeout_commit=True, next_block_delay_ms=0)
    nodes = make_testnet(root, validators=4, chain_id="egp-inproc", starting_port=_free_base(4), params=params,
                         base_config=cfg)
    return [n.home.root for n in nodes]


def _io() -> tuple[int, int]:
    """Write syscalls and bytes written to disk by this process so far (/proc/self/io)."""
    try:
        io_ = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
        return int(io_["syscw"]), int(io_["write_bytes"])
    except (OSError, KeyError, ValueError):
        return 0, 0


def _snapshot() -> dict[str, Any]:
    pid = os.getpid()
    t = os.times()
    return {"tasks": procstat.tasks(pid), "cpu": t.user + t.system, "user": t.user, "sys": t.system,
            "io": _io(), "busy": procstat.machine_busy_s(), "t": time.monotonic()}


async def _wait_height(runs: list[Running], h: int, timeout: float) -> None:
    """Until every node committed `h`. Reads the node's state (set on the loop), not `BlockStore.height`: that
    cached range, read on the loop while a commit thread writes it, can keep a stale value (a race in
    node/blockstore.py `_range`, reported; a node reads it only when no commit runs)."""
    end = time.monotonic() + timeout
    while min(r.node.state.last_height for r in runs) < h:
        if time.monotonic() > end:
            raise TimeoutError(f"heights {[r.node.state.last_height for r in runs]} after {timeout:.0f} s, want {h}")
        if any(r.node.fatal for r in runs):
            raise RuntimeError(f"a node stopped: {[r.node.fatal for r in runs]}")
        await asyncio.sleep(0.02)


def _count_frames(run: Running, counts: dict[str, int]) -> None:
    """Count the frames the node hands to P2P and those it handles (`counts["out"]`, `counts["in"]`)."""
    send, handle = run.p2p.send, run.node.handle_payload

    def counted_send(peer_id: str, channel: int, payload: bytes) -> bool:
        counts["out"] += 1
        return send(peer_id, channel, payload)

    def counted_handle(peer_id: str, payload: bytes) -> None:
        counts["in"] += 1
        handle(peer_id, payload)

    run.p2p.send = counted_send  # type: ignore[method-assign]
    run.node.handle_payload = counted_handle  # type: ignore[method-assign]


async def measure(root: Path, blocks: int, warm: int, timeout_commit_ms: int, prof: cProfile.Profile | None
                  ) -> dict[str, Any]:
    homes = _homes(root, timeout_commit_ms)
    runs = [await build(h) for h in homes]
    counts = {"in": 0, "out": 0}
    for r in runs:
        _count_frames(r, counts)
    gctune.tune_for_node()
    pumps: list[asyncio.Task[None]] = []
    try:
        for r in runs:
            await r.p2p.start()
        for r in runs:
            pumps.append(asyncio.create_task(_pump(r)))
            r.node.start()
        await _wait_height(runs, warm, 120)
        h0 = runs[0].node.state.last_height
        frames0 = dict(counts)
        a = _snapshot()
        if prof is not None:
            prof.enable()
        await _wait_height(runs, h0 + blocks, 60 + blocks)
        if prof is not None:
            prof.disable()
        b = _snapshot()
        frames1 = dict(counts)
        h1 = runs[0].node.state.last_height
    finally:
        for r in runs:
            with contextlib.suppress(Exception):
                await r.node.stop()
        for p in pumps:
            p.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        for r in runs:
            with contextlib.suppress(Exception):
                await r.p2p.stop()
            with contextlib.suppress(Exception):
                r.kv.close()
    n = h1 - h0
    by_role, _ = procstat.thread_split(os.getpid(), a["tasks"], b["tasks"], b["cpu"] - a["cpu"])
    per = 1000.0 / (n * len(runs))  # seconds of the window -> ms per block and node
    secs = b["t"] - a["t"]
    other = None
    if a["busy"] is not None and b["busy"] is not None:
        other = round((b["busy"] - a["busy"] - (b["cpu"] - a["cpu"])) / secs, 3)
    return {
        "blocks": n, "seconds": round(secs, 2), "blocks_per_s": round(n / secs, 1),
        "ms_per_block_node": round((b["cpu"] - a["cpu"]) * per, 3),
        "by_role_ms": {k: round(v * per, 3) for k, v in by_role.items() if v},
        "user_ms": round((b["user"] - a["user"]) * per, 3), "sys_ms": round((b["sys"] - a["sys"]) * per, 3),
        "write_syscalls": round((b["io"][0] - a["io"][0]) / (n * len(runs)), 2),
        "disk_kib": round((b["io"][1] - a["io"][1]) / (n * len(runs)) / 1024, 1),
        "frames_in": round((frames1["in"] - frames0["in"]) / (n * len(runs)), 2),
        "frames_out": round((frames1["out"] - frames0["out"]) / (n * len(runs)), 2),
        "other_cores": other, "loadavg": procstat.loadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=300, help="measured blocks")
    ap.add_argument("--warm", type=int, default=30, help="blocks before the window")
    ap.add_argument("--timeout-commit-ms", type=int, default=20, help="the chain's timeout_commit (empty blocks "
                    "wait it: an empty mempool holds the early start)")
    ap.add_argument("--profile", type=Path, default=None, help="cProfile the loop thread into this file")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--json", action="store_true", help="one JSON line instead of text")
    ap.add_argument("--log", type=Path, default=None, help="the nodes' log lines (info) into this file")
    a = ap.parse_args(argv)
    setup_logging("info", stream=open(a.log or os.devnull, "w"))  # noqa: SIM115
    prof = cProfile.Profile(time.thread_time) if a.profile else None  # CPU of the loop thread, not wall
    with tempfile.TemporaryDirectory(prefix="egp-inproc-", ignore_cleanup_errors=True) as tmp:
        res = asyncio.run(measure(Path(tmp), a.blocks, a.warm, a.timeout_commit_ms, prof))
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{res['blocks']} blocks in {res['seconds']} s ({res['blocks_per_s']}/s), 4 nodes in one process")
        print(f"CPU per block and node: {res['ms_per_block_node']:.3f} ms (user {res['user_ms']}, sys "
              f"{res['sys_ms']}); by thread: " + ", ".join(f"{k} {v}" for k, v in res["by_role_ms"].items()))
        print(f"write syscalls per block and node: {res['write_syscalls']}, to disk {res['disk_kib']} KiB; frames "
              f"per block and node: {res['frames_in']} in, {res['frames_out']} out")
        print(f"other load: {res['other_cores']} cores; loadavg {res['loadavg']}")
    if prof is not None and a.profile is not None:
        prof.dump_stats(str(a.profile))
        for key in ("tottime", "cumulative"):
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats(key).print_stats(a.top)
            print(s.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The node's ingest path, CPU per tx: WebSocket broadcast_tx_sync -> admission -> mempool -> gossip to a
peer -> the peer's inbound path -> the proposer's request_value (print only; nothing asserts a duration).

Two real nodes are assembled in this process (`node.assemble.build`, LevelDB in a temp dir, one-validator
homes of the same chain and registrar), their consensus not started, so nothing but ingest runs:

1. `rpc`: a client pipelines `--txs` signed txs (one signer, consecutive sequence numbers) over one
   WebSocket to node A and reads every answer. A's gossip has one fake peer whose frames are kept.
   `http` (with `--http N`): then N more txs of that signer as HTTP POSTs on one keep-alive connection, one
   at a time (nonce order), each answered before the next is sent (they stay in A's mempool for step 3).
2. `gossip`: those frames are handed to node B (`Node.handle_payload`, as its P2P pump does), which
   decodes, dedupes, verifies, checks and gossips them on (to one fake peer). Then the same frames again
   from another peer (`dup`): every tx a duplicate, refused by hash (a full mesh of 4 carries each tx on
   up to 9 links, 3 of them needed).
   `trickle` (with `--trickle N`): then N more txs over one WebSocket, one message every 1/`--trickle-rate`
   s (a bank's gateway at ~1,000 tx/s over 4 nodes sends each node a tx every few ms): each request wakes
   the loop on its own, as in a network at a trickle; A's gossip runs on its timers (not flushed), so
   `trickle_frames_per_tx` counts the frames its fake peer got per tx.
3. `propose`: A's `request_value` (reap, prepare_proposal, block hashing and encoding) on the full mempool:
   its CPU in all threads, and how long it held the loop (`propose_loop_ms`).

The nodes' loop runs in its own thread; the client in the main thread; the collector is set as `egp start`
sets it (node/gctune.py). CPU = process CPU (every thread: the
loop, the verify worker, LevelDB) less the client thread's own CPU, per tx. The machine is shared: compare
runs interleaved (old tree vs new: `PYTHONPATH=<tree> python -m devnet.bench.ingest_bench`).

    .venv/bin/python -m devnet.bench.ingest_bench [--txs 4000] [--repeat 3] [--http N] [--trickle N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from node import gctune
from node.assemble import Running, build
from node.config import Config
from node.home import init_home
from state.crypto import PrivateKey, sha256
from state.registry import with_check_digit
from state.txs import RegisterSupplier, sign_tx

CHAIN = "egp-ingest"
REG = PrivateKey.from_seed(b"\x61" * 32)
T = TypeVar("T")


class _Capture:
    """A stand-in for the P2P service: what the node sends is kept (frames for the fake peer)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, bytes]] = []

    def send(self, peer_id: str, channel: int, payload: bytes) -> bool:
        self.sent.append((peer_id, channel, payload))
        return True

    def disconnect(self, peer_id: str, reason: str) -> None:
        raise RuntimeError(f"the node dropped {peer_id}: {reason}")


def _home(root: Path, name: str, size: int, rpc: bool) -> Path:
    cfg = Config()
    cfg.p2p.laddr = "tcp://127.0.0.1:0"
    cfg.rpc.laddr = "tcp://127.0.0.1:0" if rpc else ""
    cfg.blocksync.enable = False
    cfg.mempool.size = size
    cfg.mempool.cache_size = 2 * size
    init_home(root / name, moniker=name, chain_id=CHAIN, config=cfg, registrar_pub=REG.public_key.raw)
    return root / name


def make_txs(n: int) -> list[bytes]:
    key = PrivateKey.from_seed(b"\x62" * 32).public_key.raw
    return [sign_tx(REG, CHAIN, i, RegisterSupplier(with_check_digit(f"77{i:010d}"), f"Supplier {i}", (key,)))
            for i in range(n)]


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="nodes", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 600) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def _flush(r: Running) -> None:
    r.node.gossip.flush_txs()


async def _loop_cpu() -> float:
    """CPU seconds of the thread running the nodes' loop (run on that loop)."""
    return time.thread_time()


async def _posts(url: str, payloads: list[str]) -> int:
    """POST every request in turn on one keep-alive connection; the number of non-zero codes and errors."""
    bad = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as s:
        for p in payloads:
            async with s.post(url, data=p, headers={"Content-Type": "application/json"}) as r:
                if _bad(json.loads(await r.read())):
                    bad += 1
    return bad


def _bad(doc: dict[str, Any]) -> bool:
    """An answer that is an error or a non-zero check_tx code."""
    return "error" in doc or doc["result"]["code"] != 0


async def _answers(ws: aiohttp.ClientWebSocketResponse, n: int) -> int:
    """Read `n` answers from `ws`; the number of non-zero codes and errors."""
    bad = 0
    for _ in range(n):
        if _bad(json.loads((await ws.receive(timeout=300)).data)):
            bad += 1
    return bad


async def _pipeline(url: str, payloads: list[str]) -> int:
    """Send every request without waiting, read every answer; the number of non-zero codes and errors."""
    return await _paced(url, payloads, 0.0)


async def _paced(url: str, payloads: list[str], rate: float) -> int:
    """Send each request at its time (`rate` a second; 0: without waiting) over one WebSocket, reading answers
    as they come; the number of non-zero codes and errors."""
    async with aiohttp.ClientSession() as s, s.ws_connect(url, max_msg_size=0) as ws:
        rt = asyncio.create_task(_answers(ws, len(payloads)))
        t0 = time.monotonic()
        for i, p in enumerate(payloads):
            wait = t0 + i / rate - time.monotonic() if rate > 0 else 0.0
            if wait > 0:
                await asyncio.sleep(wait)
            await ws.send_str(p)
        return await rt


def one_round(n: int, txs: list[bytes], n_http: int = 0, n_trickle: int = 0, rate: float = 250.0
              ) -> dict[str, float]:
    payloads = [json.dumps({"jsonrpc": "2.0", "id": i, "method": "broadcast_tx_sync",
                            "params": {"tx": base64.b64encode(t).decode()}}) for i, t in enumerate(txs)]
    payloads, http_payloads, trickle_payloads = (payloads[:n], payloads[n:n + n_http],
                                                 payloads[n + n_http:n + n_http + n_trickle])
    lt = LoopThread()
    with tempfile.TemporaryDirectory(prefix="egp-ingest-") as d:
        root = Path(d)
        home_a, home_b = _home(root, "a", 2 * n + n_http + n_trickle, True), _home(root, "b", 2 * n, False)

        async def setup() -> tuple[Running, Running, _Capture, _Capture, int]:
            a, b = await build(home_a), await build(home_b)
            ca, cb = _Capture(), _Capture()
            a.node.net, b.node.net = ca, cb
            a.node.gossip.add_peer("peer-b")
            b.node.gossip.add_peer("peer-a")
            b.node.gossip.add_peer("peer-c")  # B gossips on to a third node
            assert a.rpc is not None
            port = await a.rpc.start()
            gctune.tune_for_node()  # the collector as `egp start` sets it (node/gctune.py)
            return a, b, ca, cb, port

        a, b, ca, cb, port = lt.run(setup())
        out: dict[str, float] = {}
        try:
            # 1. RPC ingest on A
            l0 = lt.run(_loop_cpu())
            c0, p0 = time.thread_time(), time.process_time()
            bad = asyncio.run(_pipeline(f"http://127.0.0.1:{port}/websocket", payloads))
            lt.run(_flush(a))  # the txs A's gossip still holds (node/gossip.py `queue_txs`)
            client = time.thread_time() - c0
            out["rpc_us"] = (time.process_time() - p0 - client) / n * 1e6
            out["rpc_loop_us"] = (lt.run(_loop_cpu()) - l0) / n * 1e6  # of which on the loop (not Ed25519)
            out["client_us"] = client / n * 1e6
            out["rejected"] = bad
            out["a_mempool"] = len(a.node.mempool)
            frames = [p for peer, _, p in ca.sent if peer == "peer-b"]
            out["frames_to_peer"] = len(frames)
            if http_payloads:
                l0 = lt.run(_loop_cpu())
                c0, p0 = time.thread_time(), time.process_time()
                out["http_rejected"] = asyncio.run(_posts(f"http://127.0.0.1:{port}/", http_payloads))
                lt.run(_flush(a))
                client = time.thread_time() - c0
                out["http_us"] = (time.process_time() - p0 - client) / len(http_payloads) * 1e6
                out["http_loop_us"] = (lt.run(_loop_cpu()) - l0) / len(http_payloads) * 1e6

            if trickle_payloads:
                sent_before = sum(1 for peer, _, _ in ca.sent if peer == "peer-b")
                l0 = lt.run(_loop_cpu())
                c0, p0 = time.thread_time(), time.process_time()
                out["trickle_rejected"] = asyncio.run(_paced(f"http://127.0.0.1:{port}/websocket", trickle_payloads,
                                                             rate))
                time.sleep(0.1)  # the last gossip push on its timer
                client = time.thread_time() - c0
                out["trickle_us"] = (time.process_time() - p0 - client) / n_trickle * 1e6
                out["trickle_loop_us"] = (lt.run(_loop_cpu()) - l0) / n_trickle * 1e6
                out["trickle_frames_per_tx"] = (sum(1 for peer, _, _ in ca.sent if peer == "peer-b")
                                                - sent_before) / n_trickle

            # 2. the same txs gossiped into B
            async def gossip_in() -> None:
                for f in frames:
                    b.node.handle_payload("peer-a", f)
                while b.node.admission.pending:
                    await asyncio.sleep(0.001)
                await _flush(b)

            l0 = lt.run(_loop_cpu())
            p0 = time.process_time()
            lt.run(gossip_in())
            out["gossip_in_us"] = (time.process_time() - p0) / n * 1e6
            out["gossip_loop_us"] = (lt.run(_loop_cpu()) - l0) / n * 1e6
            out["b_mempool"] = len(b.node.mempool)
            out["frames_b_to_c"] = sum(1 for peer, _, _ in cb.sent if peer == "peer-c")

            # 2b. the same frames again, from a third peer: every tx a duplicate (a full mesh sends each tx
            # to a node up to three times; all but the first are refused by hash, before Ed25519)
            async def dup_in() -> None:
                for f in frames:
                    b.node.handle_payload("peer-c", f)

            p0 = time.process_time()
            lt.run(dup_in())
            out["dup_in_us"] = (time.process_time() - p0) / n * 1e6

            # 3. A proposes
            async def propose() -> int:
                t0 = time.thread_time()
                vid = a.node.request_value(a.node.state.height, 0)
                out["propose_loop_ms"] = (time.thread_time() - t0) * 1e3  # the loop held by request_value
                if vid is None:  # the value may come later (built off the loop)
                    for _ in range(10_000):
                        await asyncio.sleep(0.001)
                        if a.node.blocks:
                            break
                return sum(len(blk.txs) for blk, _ in a.node.blocks.values())

            p0 = time.process_time()
            in_block = lt.run(propose())
            out["propose_ms"] = (time.process_time() - p0) * 1e3
            out["block_txs"] = in_block
        finally:
            async def close() -> None:
                assert a.rpc is not None
                await a.rpc.stop()
                for r in (a, b):
                    await r.node.stop()
                    r.kv.close()

            lt.run(close())
            lt.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--txs", type=int, default=4000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--http", type=int, default=0, help="then this many txs as HTTP POSTs, one at a time")
    p.add_argument("--trickle", type=int, default=0, help="then this many txs over WebSocket, paced")
    p.add_argument("--trickle-rate", type=float, default=250.0, help="tx/s of the paced WebSocket round")
    a = p.parse_args(argv)
    txs = make_txs(a.txs + a.http + a.trickle)
    print(f"ingest bench: {a.txs} txs, load {os.getloadavg()[0]:.2f}, tx {len(txs[0])} B, "
          f"hash of the first {sha256(txs[0]).hex()[:12]}")
    rows = []
    for _ in range(a.repeat):
        r = one_round(a.txs, txs, a.http, a.trickle, a.trickle_rate)
        rows.append(r)
        print("  " + "  ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()))
    best = {k: min(r[k] for r in rows) for k in ("rpc_us", "rpc_loop_us", "gossip_in_us", "gossip_loop_us",
                                                  "dup_in_us", "propose_ms")}
    print(f"best of {a.repeat}: RPC ingest {best['rpc_us']:.1f} us/tx (node CPU; loop {best['rpc_loop_us']:.1f}), "
          f"gossip ingest {best['gossip_in_us']:.1f} us/tx (loop {best['gossip_loop_us']:.1f}), "
          f"a duplicate {best['dup_in_us']:.1f} us/tx, "
          f"request_value {best['propose_ms']:.1f} ms of CPU "
          f"({rows[0]['block_txs']} txs), {min(r['propose_loop_ms'] for r in rows):.1f} ms of it on the loop")
    if a.trickle:
        print(f"best of {a.repeat}: paced WebSocket broadcast at {a.trickle_rate:g} tx/s "
              f"{min(r['trickle_us'] for r in rows):.1f} us/tx (node CPU; loop "
              f"{min(r['trickle_loop_us'] for r in rows):.1f}), "
              f"{min(r['trickle_frames_per_tx'] for r in rows):.2f} gossip frames to a peer per tx")
    if a.http:
        print(f"best of {a.repeat}: HTTP broadcast {min(r['http_us'] for r in rows):.1f} us/tx "
              f"(node CPU; loop {min(r['http_loop_us'] for r in rows):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

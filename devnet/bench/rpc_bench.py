"""RPC benchmark on one node: requests/s for status, abci_query with proof, tx lookups, and broadcast_tx_sync
throughput (print only; nothing asserts a duration).

By default it starts its own single-validator node (a real `egp start` process on free 127.0.0.1 ports,
stopped by PID at the end); `--url` benchmarks a running node instead (broadcast needs the node's
development registrar key: `--home`; `--pid` its process for the CPU column). The client runs in this
process with `--concurrency` keep-alive connections, so on a 2-core machine client and node share the CPU:
the rates are a floor, and on a machine others load too they say little. The node's CPU per request (its
process's user + system time over the row, /proc/<pid>/stat, all threads: the block cadence's own work is
in it too, ~a few hundred us a second idle) is the figure to compare across trees there.

    .venv/bin/python -m devnet.bench.rpc_bench [--requests 3000] [--concurrency 32] [--txs 1000]

Reference: aiohttp serves ~15,000 trivial requests/s per core here (docs/limits.md); the aim is within 3x.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from devnet.bench.procstat import own_cpu_s
from state.crypto import PrivateKey, sha256
from state.registry import tax_id_valid
from state.txs import RegisterSupplier, sign_tx
from tests.rpc.realnode import b64, real_node


def tax_ids(n: int, start: int = 100_000_000_000) -> Iterator[str]:
    base = start
    while n > 0:
        for d in range(10):
            t = f"{base:012d}{d}"
            if tax_id_valid(t):
                yield t
                n -= 1
                break
        base += 1


async def _run(url: str, bodies: list[dict[str, Any]], concurrency: int) -> tuple[float, int]:
    """(elapsed seconds, errors) for POSTing every body over `concurrency` keep-alive connections.

    A minimal HTTP/1.1 client on asyncio streams (requests pre-encoded, responses read by Content-Length):
    a full client library costs more CPU than the server's work and would measure itself.
    """
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    encoded = [json.dumps(b).encode() for b in bodies]
    raw = [(f"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(e)}\r\n\r\n").encode() + e for e in encoded]
    errors = 0
    next_i = 0

    async def worker() -> None:
        nonlocal errors, next_i
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while next_i < len(raw):
                i, next_i = next_i, next_i + 1
                writer.write(raw[i])
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                doc = json.loads(await reader.readexactly(length))
                result = doc.get("result")
                if "error" in doc or (isinstance(result, dict) and result.get("code", 0) not in (0, None)):
                    errors += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0, errors


def _req(i: int, method: str, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": i, "method": method, "params": params}


async def _height(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.post(url + "/", json=_req(1, "status")) as r:
        return int((await r.json())["result"]["sync_info"]["latest_block_height"])


Row = tuple[str, int, float, int, float | None]


async def bench(url: str, chain_id: str, registrar: PrivateKey | None, requests: int, concurrency: int,
                n_txs: int, node_pid: int | None = None) -> list[Row]:
    """Rows of (name, requests, requests/s, errors, the node's CPU us per request or None)."""
    rows: list[Row] = []

    def node_cpu() -> float | None:
        return None if node_pid is None else own_cpu_s(node_pid)

    async def row(name: str, bodies: list[dict[str, Any]], conns: int = concurrency) -> None:
        c0 = node_cpu()
        elapsed, errors = await _run(url, bodies, conns)
        c1 = node_cpu()
        cpu = None if c0 is None or c1 is None else 1e6 * (c1 - c0) / len(bodies)
        rows.append((name, len(bodies), len(bodies) / elapsed if elapsed > 0 else 0.0, errors, cpu))

    await _run(url, [_req(i, "health") for i in range(200)], concurrency)  # warm the connections
    await row("health", [_req(i, "health") for i in range(requests)])
    await row("status", [_req(i, "status") for i in range(requests)])
    hashes: list[str] = []
    if registrar is not None and n_txs > 0:
        keys = [PrivateKey.from_seed(sha256(b"bench" + i.to_bytes(4, "big"))).public_key.raw for i in range(8)]
        txs = [sign_tx(registrar, chain_id, nonce, RegisterSupplier(tid, f"Bench supplier {nonce}",
                                                                       (keys[nonce % 8],)))
               for nonce, tid in enumerate(tax_ids(n_txs))]
        hashes = [sha256(t).hex().upper() for t in txs]
        # a tx's nonce must follow the previous one: one connection keeps them in order
        await row("broadcast_tx_sync (1 conn, in nonce order)",
                  [_req(i, "broadcast_tx_sync", tx=b64(t)) for i, t in enumerate(txs)], 1)
        target = await _height(url) + 2
        deadline = time.monotonic() + 120
        while await _height(url) < target and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        tid = next(tax_ids(1))
        await row("abci_query /supplier/<id> prove=true",
                  [_req(i, "abci_query", path=f"/supplier/{tid}", prove=True) for i in range(requests)])
        await row("tx by hash", [_req(i, "tx", hash=hashes[i % len(hashes)]) for i in range(requests)])
        await row("tx by hash prove=true",
                  [_req(i, "tx", hash=hashes[i % len(hashes)], prove=True) for i in range(requests)])
        await row("tx_search reg.supplier='<id>'",
                  [_req(i, "tx_search", query=f"reg.supplier='{tid}'") for i in range(requests // 2)])
    else:
        await row("abci_query /store prove=true", [_req(i, "abci_query", path="/store", prove=True)
                                                  for i in range(requests)])
    return rows


def print_rows(rows: list[Row], concurrency: int) -> None:
    print(f"{'request':45} {'n':>6} {'req/s':>9} {'errors':>7} {'node CPU us/req':>16}   (concurrency {concurrency})")
    for name, n, rate, errors, cpu in rows:
        print(f"{name:45} {n:6d} {rate:9.0f} {errors:7d} {'-' if cpu is None else f'{cpu:.0f}':>16}")


def _pin(node_pid: int | None) -> str:
    """As docs/limits.md measured: the node on CPU 0, this load generator on CPU 1 (Linux, >= 2 CPUs)."""
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return "not pinned"
    if node_pid is not None:
        os.sched_setaffinity(node_pid, {0})
    os.sched_setaffinity(0, {1})
    return "node on CPU 0, client on CPU 1" if node_pid is not None else "client on CPU 1"


@contextmanager
def _target(args: argparse.Namespace) -> Iterator[tuple[str, str, PrivateKey | None, int | None]]:
    if args.url:
        reg = None
        if args.home:
            doc = json.loads((Path(args.home) / "keyring" / "registrar.json").read_text())
            reg = PrivateKey.from_seed(bytes.fromhex(doc["crypto"]["seed"]))
        print(_pin(None) if args.pin else "not pinned")
        yield args.url, args.chain_id, reg, args.pid
        return
    with tempfile.TemporaryDirectory(prefix="egp-rpc-bench-") as d, real_node(Path(d) / "home", "egp-bench") as node:
        print(_pin(node.proc.pid) if args.pin else "not pinned")
        yield node.url, node.chain_id, node.registrar(), node.proc.pid


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="benchmark a running node (default: start one)")
    p.add_argument("--home", help="with --url: the node's home, for its development registrar key")
    p.add_argument("--pid", type=int, help="with --url: the node's process, for its CPU per request")
    p.add_argument("--chain-id", default="egp-devnet")
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--txs", type=int, default=1000)
    p.add_argument("--pin", action="store_true", help="node on CPU 0, client on CPU 1 (on an otherwise idle machine)")
    args = p.parse_args(argv)
    with _target(args) as (url, chain_id, reg, pid):
        rows = asyncio.run(bench(url, chain_id, reg, args.requests, args.concurrency, args.txs, pid))
    print_rows(rows, args.concurrency)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Pipelined broadcasts over one WebSocket (node/rpc/websocket.py `PIPELINED`), on the real node assembled
in-process: a client that writes many `broadcast_tx_sync` without waiting gets every tx checked in its
sequence order, the answers in request order, the txs admitted in batches (not one admission round trip per
message), a non-broadcast request only after the broadcasts before it, and the txs of a connection closed
right after writing them still reach the mempool."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devnet.bench.rpc_bench import tax_ids
from node.assemble import Running
from state.crypto import PrivateKey, sha256
from state.txs import RegisterSupplier, sign_tx
from tests.rpc.conftest import init_single_home, run, started_node

CHAIN = "egp-pipe"
REG = PrivateKey.from_seed(b"\x43" * 32)
KEY = PrivateKey.from_seed(b"\x05" * 32).public_key.raw


def _txs(n: int, first_nonce: int = 0) -> list[bytes]:
    return [sign_tx(REG, CHAIN, first_nonce + k, RegisterSupplier(tid, f"Supplier {first_nonce + k}", (KEY,)))
            for k, tid in enumerate(list(tax_ids(first_nonce + n))[first_nonce:])]


def _req(i: int, method: str, **params: Any) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params})


@asynccontextmanager
async def _node(tmp: Path) -> AsyncIterator[tuple[Running, str]]:
    """A one-validator node whose consensus is not started: admitted txs stay in its mempool."""
    init_single_home(tmp / "home", CHAIN, registrar=REG, moniker="bank-p")
    async with started_node(tmp / "home", consensus=False) as (node, port):
        yield node, f"http://127.0.0.1:{port}/websocket"


@pytest.mark.e2e
def test_pipelined_broadcasts_keep_order_and_are_admitted_in_batches(tmp_path: Path) -> None:
    n = 300
    txs = _txs(n)

    async def go() -> None:
        async with _node(tmp_path) as (node, url), aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            adm = node.node.admission
            sizes: list[int] = []
            gossip = adm.on_admitted
            assert gossip is not None

            def admitted(batch: list[tuple[bytes, bytes]]) -> None:
                sizes.append(len(batch))
                gossip(batch)

            adm.on_admitted = admitted
            for i, tx in enumerate(txs):  # one write each, no wait for any answer
                await ws.send_str(_req(i, "broadcast_tx_sync", tx=base64.b64encode(tx).decode()))
            await ws.send_str(_req(n, "num_unconfirmed_txs"))  # not a broadcast: answered after them, alone
            answers = [json.loads((await ws.receive(timeout=30)).data) for _ in range(n + 1)]
            assert [a["id"] for a in answers] == list(range(n + 1))  # request order
            assert all(a["result"]["code"] == 0 for a in answers[:n]), [a for a in answers[:n] if "error" in a
                                                                         or a["result"]["code"]][:3]
            assert [a["result"]["hash"] for a in answers[:n]] == [sha256(t).hex().upper() for t in txs]
            assert answers[n]["result"]["total"] == str(n)  # every broadcast before it was admitted
            # read ahead: admitted (verified, checked, gossiped) in batches, not one round trip per message
            assert sum(sizes) == n and len(sizes) < n // 4, sizes

    run(go)


@pytest.mark.e2e
def test_txs_of_a_connection_closed_after_writing_them_are_still_admitted(tmp_path: Path) -> None:
    n = 100
    txs = _txs(n)

    async def go() -> None:
        async with _node(tmp_path) as (node, url), aiohttp.ClientSession() as s:
            async with s.ws_connect(url) as ws:
                for i, tx in enumerate(txs):
                    await ws.send_str(_req(i, "broadcast_tx_async", tx=base64.b64encode(tx).decode()))
            mp = node.node.mempool
            for _ in range(300):
                if len(mp) == n:
                    break
                await asyncio.sleep(0.02)
            assert len(mp) == n and all(sha256(t) in mp for t in txs)

    run(go)

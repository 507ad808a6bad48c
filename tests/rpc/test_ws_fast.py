"""The broadcast fast path (node/rpc/websocket.py `FAST`, `fast_submit`, node/services.py
`NodeServices.submit_tx`; WebSocket and HTTP POST) answers exactly as the generic dispatch (`handle_request` ->
methods_tx): the same bytes (and HTTP statuses) for accepted and refused txs, mempool refusals (duplicate,
full), malformed requests and odd ids, in the same order, and the same txs in the mempool in the same order.
Fresh nodes of the same chain get the same requests, with the fast path and with it switched off."""

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
from hypothesis import given
from hypothesis import strategies as st

from devnet.bench.rpc_bench import tax_ids
from node.assemble import Running
from node.mempool import Checked
from node.rpc import websocket
from node.rpc.dispatch import dumps
from node.rpc.errors import response
from node.rpc.methods_tx import _broadcast_result
from node.rpc.server import UNGATED_METHODS
from node.rpc.services import TxResultView
from node.services import NodeServices
from state.crypto import PrivateKey, sha256
from state.txs import RegisterSupplier, sign_tx
from tests.rpc.conftest import init_single_home, run, started_node

CHAIN = "egp-fast"
REG = PrivateKey.from_seed(b"\x44" * 32)
KEY = PrivateKey.from_seed(b"\x06" * 32).public_key.raw
POOL = 8  # mempool size: the last valid txs of the script find it full


def _tx(nonce: int) -> bytes:
    tid = list(tax_ids(nonce + 1))[nonce]
    return sign_tx(REG, CHAIN, nonce, RegisterSupplier(tid, f"Supplier {nonce}", (KEY,)))


def _b64(tx: bytes) -> str:
    return base64.b64encode(tx).decode()


def _script() -> list[str]:
    """Request texts: fast-path shapes and every near miss that must take the generic path."""
    t = [_tx(k) for k in range(12)]
    req: list[Any] = [
        {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx_sync", "params": {"tx": _b64(t[0])}},
        {"jsonrpc": "2.0", "id": 2, "method": "broadcast_tx_sync", "params": {"tx": _b64(t[0])}},  # duplicate
        {"jsonrpc": "2.0", "id": 3, "method": "broadcast_tx_sync", "params": {"tx": _b64(t[5])}},  # wrong nonce
        {"jsonrpc": "2.0", "id": 4, "method": "broadcast_tx_async", "params": {"tx": _b64(t[1])}},
        {"jsonrpc": "2.0", "id": 5, "method": "broadcast_tx_async", "params": {"tx": _b64(t[7])}},  # wrong nonce
        {"jsonrpc": "2.0", "id": "s-6", "method": "broadcast_tx_sync", "params": [_b64(t[2])]},  # positional
        {"jsonrpc": "2.0", "id": None, "method": "broadcast_tx_sync", "params": {"tx": _b64(t[3])}},
        {"jsonrpc": "2.0", "id": "ไทย", "method": "broadcast_tx_sync", "params": {"tx": _b64(b"junk")}},
        {"jsonrpc": "2.0", "id": 9, "method": "broadcast_tx_sync", "params": {"tx": "not base64!"}},
        {"jsonrpc": "2.0", "id": 10, "method": "broadcast_tx_sync", "params": {}},
        {"jsonrpc": "2.0", "id": 11, "method": "broadcast_tx_sync", "params": {"tx": _b64(t[4]), "x": 1}},
        {"jsonrpc": "2.0", "id": 12, "method": "broadcast_tx_sync", "params": {"tx": 5}},
        {"jsonrpc": "2.0", "id": 13, "method": "broadcast_tx_sync", "params": {"tx": ""}},
        {"jsonrpc": "2.0", "id": 14, "method": "broadcast_tx_sync", "params": "x"},
        {"jsonrpc": "2.0", "id": 15, "method": "broadcast_tx_sync"},
        {"jsonrpc": "1.0", "id": 16, "method": "broadcast_tx_sync", "params": {"tx": _b64(t[4])}},
        {"jsonrpc": "2.0", "id": True, "method": "broadcast_tx_sync", "params": {"tx": _b64(t[4])}},
        {"jsonrpc": "2.0", "id": 1.5, "method": "broadcast_tx_sync", "params": {"tx": _b64(t[4])}},
        {"jsonrpc": "2.0", "method": "broadcast_tx_sync", "params": {"tx": _b64(t[4])}},  # notification
        {"jsonrpc": "2.0", "id": 20, "method": "broadcast_tx_commit", "params": {"tx": _b64(b"bad")}},
        {"jsonrpc": "2.0", "id": 21, "method": "broadcast_tx_sync", "params": {"tx": _b64(t[4])}},
        {"jsonrpc": "2.0", "id": 22, "method": "num_unconfirmed_txs"},
    ]
    req += [{"jsonrpc": "2.0", "id": 30 + k, "method": "broadcast_tx_sync", "params": {"tx": _b64(t[k])}}
            for k in range(5, 12)]  # the pool fills up (POOL)
    texts = [json.dumps(r, ensure_ascii=False) for r in req]
    lone = '{"jsonrpc":"2.0","id":"\\ud800","method":"broadcast_tx_sync","params":{"tx":"' + _b64(t[9]) + '"}}'
    texts.insert(7, lone)  # an id json.dumps cannot write as UTF-8: the answer falls back to escapes
    return texts


@asynccontextmanager
async def _node(home: Path) -> AsyncIterator[tuple[Running, str]]:
    init_single_home(home, CHAIN, registrar=REG, moniker="bank-f", mempool_size=POOL)
    async with started_node(home, consensus=False) as (node, port):
        yield node, f"http://127.0.0.1:{port}/websocket"


async def _answers(home: Path, texts: list[str], expect: int) -> tuple[list[str], list[bytes]]:
    async with _node(home) as (node, url), aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        for t in texts:  # pipelined: no wait for any answer
            await ws.send_str(t)
        out = [(await ws.receive(timeout=30)).data for _ in range(expect)]
        return out, [h for h, _ in node.node.mempool.items()]


async def _posts(home: Path, texts: list[str]) -> tuple[list[str], list[bytes]]:
    async with _node(home) as (node, url), aiohttp.ClientSession() as s:
        out = []
        for t in texts:  # one at a time
            body = t.encode("utf-8", "surrogatepass")
            async with s.post(url.removesuffix("websocket"), data=body,
                              headers={"Content-Type": "application/json"}) as r:
                out.append(f"{r.status} {await r.text()}")
        return out, [h for h, _ in node.node.mempool.items()]


@pytest.mark.e2e
def test_fast_path_answers_as_the_generic_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _script()
    expect = len(texts) - 1  # the notification gets no answer
    calls: list[bytes] = []
    submit = NodeServices.submit_tx

    def counting(self: NodeServices, tx: bytes, h: bytes) -> asyncio.Future[Checked]:
        calls.append(h)
        return submit(self, tx, h)

    async def go() -> None:
        with monkeypatch.context() as m:
            m.setattr(NodeServices, "submit_tx", counting)
            fast, fast_pool = await _answers(tmp_path / "fast", texts, expect)
        assert len(calls) >= 10  # the fast path did run (the plain requests and the pool's refusals)
        with monkeypatch.context() as m:
            m.setattr(websocket, "fast_submit", lambda submit, req, loop: None)
            generic, generic_pool = await _answers(tmp_path / "generic", texts, expect)
        assert fast == generic
        assert fast_pool == generic_pool and len(fast_pool) == POOL
        n = len(calls)
        with monkeypatch.context() as m:
            m.setattr(NodeServices, "submit_tx", counting)
            fast_http, fast_http_pool = await _posts(tmp_path / "fast-http", texts)
        assert len(calls) - n >= 10
        with monkeypatch.context() as m:
            m.setattr(websocket, "fast_submit", lambda submit, req, loop: None)
            generic_http, generic_http_pool = await _posts(tmp_path / "generic-http", texts)
        assert fast_http == generic_http and fast_http_pool == generic_http_pool == fast_pool
        docs = [json.loads(a) for a in fast]
        assert any("tx already exists in cache" in d.get("error", {}).get("data", "") for d in docs)
        assert any("mempool is full" in d.get("error", {}).get("data", "") for d in docs)
        assert any(d.get("result", {}).get("code", 0) != 0 for d in docs)

    run(go)


def test_fast_methods_are_ungated() -> None:
    """The fast path skips `Ctx.gate`; that is only the same as the generic path for ungated methods."""
    assert websocket.FAST <= UNGATED_METHODS
    assert websocket.FAST <= websocket.PIPELINED


@given(req_id=st.one_of(st.none(), st.integers(-(2**70), 2**70), st.text(max_size=8)),
       code=st.integers(0, 2**32), log=st.text(max_size=12), space=st.text(max_size=6), sync=st.booleans(),
       tx=st.binary(max_size=40))
def test_fast_text_is_the_generic_rendering(req_id: Any, code: int, log: str, space: str, sync: bool,
                                             tx: bytes) -> None:
    """`_fast_text` = `dumps(response(id, methods_tx._broadcast_result(...)))`, lone surrogates included."""
    res = Checked(code, log, space)
    view = TxResultView(code=code, log=log, codespace=space) if sync else TxResultView()
    want = dumps(response(req_id, _broadcast_result(view, tx)))
    assert websocket._fast_text(res, req_id, sha256(tx), sync) == want

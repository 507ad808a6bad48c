"""Fixtures: a real RPC server on 127.0.0.1 (port 0) over a FixtureChain in a temp LevelDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.assemble import Running, build
from node.config import Config
from node.home import init_home
from node.rpc.config import RpcConfig
from node.rpc.server import RpcServer
from state.crypto import PrivateKey
from tests.rpc.chain_fixture import FixtureChain

REGISTRAR = PrivateKey.from_seed(b"\x42" * 32)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[FixtureChain]:
    c = FixtureChain(tmp_path)
    yield c
    c.close()


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base
        self._id = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        body = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": params}
        async with self.session.post(self.base + "/", json=body) as r:
            assert r.status == 200, await r.text()
            out: dict[str, Any] = await r.json()
        assert out["jsonrpc"] == "2.0" and out["id"] == self._id
        return out

    async def result(self, method: str, **params: Any) -> Any:
        out = await self.call(method, **params)
        assert "result" in out, out
        return out["result"]

    async def error(self, method: str, **params: Any) -> dict[str, Any]:
        out = await self.call(method, **params)
        assert "error" in out, out
        return dict(out["error"])

    async def post_raw(self, data: bytes) -> tuple[int, str]:
        async with self.session.post(self.base + "/", data=data,
                                     headers={"Content-Type": "application/json"}) as r:
            return r.status, await r.text()

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.session.get(self.base + path) as r:
            text = await r.text()
            return r.status, (await r.json(content_type=None)) if text.startswith(("{", "[")) else text


@asynccontextmanager
async def serve(chain: FixtureChain, config: RpcConfig | None = None) -> AsyncIterator[Client]:
    cfg = config or RpcConfig(laddr_port=0)
    server = RpcServer(chain, cfg)
    port = await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Client(session, f"http://127.0.0.1:{port}")
    finally:
        await server.stop()


def init_single_home(home: Path, chain_id: str, *, registrar: PrivateKey = REGISTRAR, moniker: str = "bank-a",
                     mempool_size: int | None = None) -> None:
    """A one-validator home on port-0 listeners, block sync off."""
    cfg = Config()
    cfg.p2p.laddr = "tcp://127.0.0.1:0"
    cfg.rpc.laddr = "tcp://127.0.0.1:0"
    cfg.blocksync.enable = False
    if mempool_size is not None:
        cfg.mempool.size = mempool_size
    init_home(home, moniker=moniker, chain_id=chain_id, config=cfg, registrar_pub=registrar.public_key.raw)


@asynccontextmanager
async def started_node(home: Path, *, consensus: bool = True) -> AsyncIterator[tuple[Running, int]]:
    """The real node assembled in this process (node/assemble.py), its P2P and RPC listening (the RPC port
    is yielded) and, with `consensus`, committing (without it admitted txs stay in its mempool); stopped and
    its LevelDB closed on the way out."""
    node = await build(home)
    assert node.rpc is not None
    await node.p2p.start()
    port = await node.rpc.start()
    if consensus:
        node.node.start()
    try:
        yield node, port
    finally:
        await node.node.stop()
        await node.rpc.stop()
        await node.p2p.stop()
        node.kv.close()


@asynccontextmanager
async def inprocess_node(home: Path) -> AsyncIterator[tuple[Running, Client]]:
    """`started_node`, committing, with a client of its RPC."""
    async with started_node(home) as (node, port), aiohttp.ClientSession() as session:
        yield node, Client(session, f"http://127.0.0.1:{port}")


async def wait_height(c: Client, h: int) -> None:
    for _ in range(600):  # generous: CI machines are shared
        if int((await c.result("status"))["sync_info"]["latest_block_height"]) >= h:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"height {h} not reached")


def run(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    return asyncio.run(asyncio.wait_for(fn(*args), 60))

"""Fixtures: a real RPC server on 127.0.0.1 (port 0) over a FixtureChain in a temp LevelDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.rpc.config import RpcConfig
from node.rpc.server import RpcServer
from tests.rpc.chain_fixture import FixtureChain


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


def run(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    return asyncio.run(asyncio.wait_for(fn(*args), 60))

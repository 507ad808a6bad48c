"""A real RPC server on its own event-loop thread, for synchronous clients (hypothesis, schemathesis)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from node.rpc.config import RpcConfig
from node.rpc.server import RpcServer
from tests.rpc.chain_fixture import FixtureChain


@contextmanager
def server_thread(server: RpcServer, name: str = "rpc-test-server") -> Iterator[tuple[asyncio.AbstractEventLoop, str]]:
    """Run `server` on a new event loop in a daemon thread; yield that loop and the server's URL."""
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    t = threading.Thread(target=main, name=name, daemon=True)
    t.start()
    assert started.wait(30), "the RPC server did not start"
    try:
        yield loop, f"http://127.0.0.1:{server.port}"
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        t.join(30)
        loop.close()


@contextmanager
def threaded_server(home: Path, config: RpcConfig, blocks: int = 3) -> Iterator[tuple[str, FixtureChain]]:
    chain = FixtureChain(home)
    for h in range(1, blocks + 1):
        chain.make_block([f"lg/{h}-{i}=v".encode() for i in range(2)])
    try:
        with server_thread(RpcServer(chain, config)) as (_, url):
            yield url, chain
    finally:
        chain.close()

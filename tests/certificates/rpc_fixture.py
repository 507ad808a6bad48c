"""The real JSON-RPC server (node/rpc) over a `MiniChain`, on its own event-loop thread.

Test-only adapter: the RPC reads the chain through the `RpcServices` seam; headers and commits go through the
RPC's own adapters and encoders, and `abci_query` is the real Application's query (real trie proofs). Only
what `egp lg certificate` calls is implemented. Every touch of the chain happens on the loop thread; tests
produce blocks with `run_on_loop`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from node.rpc import adapt
from node.rpc.config import RpcConfig
from node.rpc.server import RpcServer
from node.rpc.services import BlockIDView, BlockMetaView, CommitSigView, CommitView, QueryResultView, ValidatorView
from state.abci import RequestQuery
from state.crypto import sha256
from tests.certificates.harness import MiniChain
from tests.rpc.threaded import server_thread

NS = 1_000_000
T = TypeVar("T")


class MiniChainServices:
    def __init__(self, chain: MiniChain) -> None:
        self.chain = chain

    def latest_height(self) -> int:
        return self.chain.height

    def base_height(self) -> int:
        return 1

    def _block_id(self, height: int) -> BlockIDView:
        h = self.chain.header(height)
        return BlockIDView(h.hash(), 1, sha256(h.encode()))

    def block_meta(self, height: int) -> BlockMetaView | None:
        if height not in self.chain.headers:
            return None
        return BlockMetaView(self._block_id(height), 1000, adapt.header(self.chain.header(height)), 0)

    def commit(self, height: int) -> tuple[CommitView, bool] | None:
        if height not in self.chain.commits:
            return None
        c = self.chain.commit(height)
        sigs = tuple(CommitSigView(s.flag, s.validator_address, s.timestamp_ms * NS if s.flag != 1 else None,
                                   s.signature if s.flag != 1 else None) for s in c.signatures)
        return CommitView(height, c.round, self._block_id(height), sigs), height < self.chain.height

    def validators(self, height: int) -> list[ValidatorView] | None:
        vals = self.chain.valsets.get(height)
        return None if vals is None else [ValidatorView(v.address, v.pub_key, v.power, 0) for v in vals]

    def genesis(self) -> dict[str, Any]:
        return self.chain.genesis_doc()

    async def abci_query(self, path: str, data: bytes, height: int, prove: bool) -> QueryResultView:
        r = self.chain.app.query(RequestQuery(path, data, height, prove))
        return QueryResultView(r.code, r.log, r.info, r.index, r.key, r.value,
                               tuple((op.type, op.key, op.data) for op in r.proof_ops), r.height, r.codespace)


class LoopServer:
    def __init__(self, loop: asyncio.AbstractEventLoop, url: str) -> None:
        self.loop, self.url = loop, url

    def run_on_loop(self, fn: Callable[[], T], delay_s: float = 0.0) -> None:
        self.loop.call_soon_threadsafe(lambda: self.loop.call_later(delay_s, fn))

    def produce_blocks(self, chain: MiniChain, interval_s: float) -> None:
        """Empty blocks every `interval_s`, as a chain with create_empty_blocks does, until the server stops."""

        def tick() -> None:
            chain.block()
            self.loop.call_later(interval_s, tick)

        self.run_on_loop(tick, interval_s)

    def call(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)


@contextmanager
def rpc_server(chain: MiniChain) -> Iterator[LoopServer]:
    server = RpcServer(MiniChainServices(chain), RpcConfig(laddr_port=0))  # type: ignore[arg-type]
    with server_thread(server, "cert-rpc-server") as (loop, url):
        yield LoopServer(loop, url)

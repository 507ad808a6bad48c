"""A small asyncio TCP proxy on every directed link between two nodes: the harness's network nemesis.

Why a proxy and not network namespaces: everything stays on 127.0.0.1 in one unprivileged-looking process,
and a link's behaviour changes instantly from the harness's own event loop. Node i reaches node j only
through `Link(i, j)` (node i's persistent peer address for j is the link's listen port), so cutting both
directed links of a pair partitions them; the nodes' authenticated transport sees what a real network does:
refused dials, reset connections, late or lost bytes.

Modes per link: `ok`; `cut` (existing connections are closed, new ones accepted and closed at once);
`delay` (every chunk is forwarded `delay_s` later, order kept); `drop` (each chunk is lost with probability
`drop_p`: in an encrypted stream that corrupts it, so the receiver drops the connection, like CometBFT's
fuzzed connection in drop mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

CHUNK = 64 * 1024


@dataclass
class Link:
    src: int
    dst: int
    listen_port: int
    target_port: int
    mode: str = "ok"
    delay_s: float = 0.0
    drop_p: float = 0.0
    bytes: int = 0
    server: asyncio.Server | None = None
    conns: set[asyncio.Task[None]] = field(default_factory=set)


class ProxyNet:
    """All links of an n-node full mesh; `link_port(i, j)` is where node i dials node j."""

    def __init__(self, n: int, base_port: int, target_ports: list[int], seed: int = 0) -> None:
        self.n = n
        self.rng = random.Random(seed)
        self.links: dict[tuple[int, int], Link] = {}
        for i in range(n):
            for j in range(n):
                if i != j:
                    self.links[(i, j)] = Link(i, j, base_port + i * n + j, target_ports[j])

    def link_port(self, i: int, j: int) -> int:
        return self.links[(i, j)].listen_port

    async def start(self) -> None:
        for link in self.links.values():
            link.server = await asyncio.start_server(self._handler(link), "127.0.0.1", link.listen_port)

    async def stop(self) -> None:
        for link in self.links.values():
            if link.server is not None:
                link.server.close()
            self._close_all(link)
        for link in self.links.values():
            if link.server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(link.server.wait_closed(), 2)

    # ------------------------------------------------------------------ control
    def set_pair(self, a: int, b: int, mode: str, *, delay_s: float = 0.0, drop_p: float = 0.0) -> None:
        for key in ((a, b), (b, a)):
            link = self.links[key]
            link.mode, link.delay_s, link.drop_p = mode, delay_s, drop_p
            if mode in ("cut", "drop"):
                self._close_all(link)

    def partition(self, groups: list[list[int]]) -> None:
        """Cut every link between different groups; links inside a group are left as they are."""
        side = {i: g for g, members in enumerate(groups) for i in members}
        for (i, j) in self.links:
            if i < j and side.get(i, -1) != side.get(j, -2):
                self.set_pair(i, j, "cut")

    def isolate(self, i: int) -> None:
        for j in range(self.n):
            if j != i:
                self.set_pair(i, j, "cut")

    def heal(self) -> None:
        for (i, j) in self.links:
            if i < j:
                self.set_pair(i, j, "ok")

    def total_bytes(self) -> int:
        return sum(lk.bytes for lk in self.links.values())

    # ------------------------------------------------------------------ forwarding
    def _close_all(self, link: Link) -> None:
        for t in list(link.conns):
            t.cancel()

    def _handler(self, link: Link) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await self._accept(link, r, w)

        return handle

    async def _accept(self, link: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if link.mode == "cut":
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        link.conns.add(task)
        up_w: asyncio.StreamWriter | None = None
        try:
            up_r, up = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", link.target_port), 3)
            up_w = up
            await asyncio.gather(self._pump(link, reader, up), self._pump(link, up_r, writer))
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            link.conns.discard(task)
            for w in (writer, up_w):
                if w is not None:
                    w.close()

    async def _pump(self, link: Link, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def writer() -> None:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    raise ConnectionResetError("peer closed")
                w.write(data)
                await w.drain()

        wt = asyncio.create_task(writer())
        try:
            while True:
                data = await r.read(CHUNK)
                if link.mode == "cut":
                    raise ConnectionResetError("link cut")
                if data and link.mode == "drop" and self.rng.random() < link.drop_p:
                    continue
                link.bytes += len(data)
                queue.put_nowait((loop.time() + (link.delay_s if link.mode == "delay" else 0.0), data))
                if not data:
                    break
            await wt
        finally:
            wt.cancel()
            with contextlib.suppress(BaseException):
                await wt

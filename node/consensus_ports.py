"""The executor's ports implemented on asyncio and the node's stores (the seam of `node/ports.py`).

Why a module of its own: these adapters are the only place where the pure core meets the clock, the
signer guard and the loop; keeping them small and separate from `node/node.py` lets a reader check each
port's contract (non-blocking, no re-entrant result) against `node/ports.py` in one screen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from consensus.types import Timeout, TimeoutFired
from node import byzantine


class WallClock:
    def now_ms(self) -> int:
        return int(time.time() * 1000) + byzantine.clock_skew_ms()  # 0 unless armed (test-only, node/byzantine.py)


class LoopTimers:
    """`loop.call_later`; a fired timeout is handed to `fire` (the node feeds the executor)."""

    def __init__(self, fire: Callable[[TimeoutFired], None]) -> None:
        self._fire = fire
        self._handles: set[asyncio.TimerHandle] = set()

    def schedule(self, timeout: Timeout, delay_ms: int) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def run() -> None:
            self._handles.discard(handle)
            self._fire(TimeoutFired(timeout))

        handle = loop.call_later(max(0, delay_ms) / 1000.0, run)
        self._handles.add(handle)

    def cancel_all(self) -> None:
        for h in self._handles:
            h.cancel()
        self._handles.clear()

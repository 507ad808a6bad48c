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
    """`loop.call_later`; a fired timeout is handed to `fire` (the node feeds the executor).

    `cancel_below(height)` drops the timers of finished heights when the next height starts. Why: each height
    schedules PROPOSE (3 s, at every non-proposer), PREVOTE and PRECOMMIT (1 s, at 2f+1 of any vote: every
    height) and the full COMMIT timeout next to skip_timeout_commit's early one; a height ends well before them,
    so about four timers a height fired late, each a loop wake-up of its own on an idle node (~0.1 ms of CPU on
    this VM) and a trip through the commit hold and the executor to a core that ignores it (its staleness
    guards, L57-L67; the COMMIT guard for a height already left). Only timeouts the core would ignore are
    dropped (height below the core's), so the executor's contract (`node/ports.py`: it never cancels) holds."""

    def __init__(self, fire: Callable[[TimeoutFired], None]) -> None:
        self._fire = fire
        self._handles: dict[asyncio.TimerHandle, int] = {}  # pending timer -> its timeout's height

    def schedule(self, timeout: Timeout, delay_ms: int) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def run() -> None:
            self._handles.pop(handle, None)
            self._fire(TimeoutFired(timeout))

        handle = loop.call_later(max(0, delay_ms) / 1000.0, run)
        self._handles[handle] = timeout.height

    def cancel_below(self, height: int) -> None:
        """Cancel the pending timeouts of heights below `height` (asyncio drops cancelled timers from the head
        of its queue before it computes how long to sleep: no wake-up for them)."""
        stale = [h for h, th in self._handles.items() if th < height]
        for h in stale:
            h.cancel()
            del self._handles[h]

    def pending(self) -> int:
        return len(self._handles)

    def cancel_all(self) -> None:
        for h in self._handles:
            h.cancel()
        self._handles.clear()

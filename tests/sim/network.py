"""Virtual clock, event heap and a seeded adversarial network.

The heap is keyed by ``(time_ms, seq)``; ``seq`` increases with every push, so equal times pop in push
order and a run is a pure function of the seed.  Before GST the network drops, duplicates, delays
(which reorders) and partitions; from GST on it delivers every message within ``delta_ms``.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NetRules:
    gst_ms: int
    delta_ms: int
    drop: float  # before GST
    duplicate: float
    max_delay_ms: int  # before GST: uniform [0, max_delay_ms]
    # partition windows before GST: (end_ms, node groups); a message between groups is lost
    partitions: tuple[tuple[int, tuple[tuple[int, ...], ...]], ...] = ()
    # before GST, messages to this node take ``slow_ms`` longer (late proposals -> split prevotes)
    slow_node: int = -1
    slow_ms: int = 0


class Clock:
    """Virtual time plus the event heap."""

    def __init__(self) -> None:
        self.now = 0
        self._seq = 0
        self._heap: list[tuple[int, int, Callable[[], None]]] = []

    def at(self, time_ms: int, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (max(time_ms, self.now), self._seq, fn))

    def step(self) -> bool:
        if not self._heap:
            return False
        t, _, fn = heapq.heappop(self._heap)
        self.now = t
        fn()
        return True

    def now_ms(self) -> int:
        return self.now


class Network:
    def __init__(self, clock: Clock, rng: random.Random, rules: NetRules) -> None:
        self.clock = clock
        self.rng = rng
        self.rules = rules
        self.deliver: Callable[[int, int, Any], None] = lambda dst, src, msg: None
        self.sent = 0
        self._windows: list[tuple[int, dict[int, int]]] = []
        for end, groups in rules.partitions:
            self._windows.append((min(end, rules.gst_ms), {m: g for g, ms in enumerate(groups) for m in ms}))

    def _cut(self, src: int, dst: int) -> bool:
        now = self.clock.now
        for end, group in self._windows:
            if now < end:  # an empty window (no groups) is fully connected
                return bool(group) and group.get(src, -1) != group.get(dst, -2)
        return False

    def _delay(self, dst: int) -> int:
        r = self.rules
        if self.clock.now >= r.gst_ms:
            return self.rng.randint(1, r.delta_ms)
        # sent before GST: arrives by GST + delta at the latest (partial synchrony)
        d = self.rng.randint(0, r.max_delay_ms) + (r.slow_ms if dst == r.slow_node else 0)
        return min(d, r.gst_ms + r.delta_ms - self.clock.now)

    def send(self, src: int, dst: int, msg: Any) -> None:
        self.sent += 1
        r = self.rules
        if self.clock.now < r.gst_ms:
            if self._windows and self._cut(src, dst):
                return
            if self.rng.random() < r.drop:
                return
            if self.rng.random() < r.duplicate:
                self._schedule(src, dst, msg)
        self._schedule(src, dst, msg)

    def _schedule(self, src: int, dst: int, msg: Any) -> None:
        self.clock.at(self.clock.now + self._delay(dst), lambda: self.deliver(dst, src, msg))

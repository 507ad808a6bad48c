"""What the P2P service hands to the layer above: events, totals, and the redial backoff rule."""

from __future__ import annotations

import random
from dataclasses import dataclass

from node.p2p.peer import PeerInfo


@dataclass(frozen=True, slots=True)
class PeerUp:
    peer: PeerInfo


@dataclass(frozen=True, slots=True)
class PeerDown:
    peer_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Message:
    peer_id: str
    channel: int
    payload: bytes


Event = PeerUp | PeerDown | Message


@dataclass(frozen=True, slots=True)
class P2PStats:
    """Totals since start, for Prometheus (``peers()`` has the per-connection figures)."""

    peers: int
    inbound: int
    outbound: int
    handshakes_failed: int  # bad magic, bad signature, timeout, garbage before authentication
    connections_refused: int  # authenticated but not admitted (allow-list, wrong key, duplicate, ...)
    peers_dropped: int  # connected peers dropped for bad frames, silence or stalling
    bytes_sent: int
    bytes_received: int
    sends_refused: int  # messages refused because a peer's channel queue was full


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before dial number ``attempt`` + 1 (attempt >= 1): capped exponential, equal jitter."""
    d = min(cap, base * (2 ** min(attempt - 1, 30)))
    return float(d / 2 + rng.uniform(0, d / 2))

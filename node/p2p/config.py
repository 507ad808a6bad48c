"""Settings of the transport, peer addresses (``id@host:port``) and channel descriptors.

Why a dataclass of its own rather than reading ``node/config.py``: the transport is tested and benchmarked
without a node home; the node maps its TOML ``[p2p]`` section onto ``P2PConfig``. Defaults are chosen for
a permissioned LAN of banks (CometBFT's production advice: fast flushes, generous rates).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

NODE_ID_RE = re.compile(r"^[0-9a-f]{40}$")
CONTROL_CHANNEL = 0  # reserved by the transport (keepalive, goodbye); upper layers use 1..255
DEFAULT_MAX_FRAME = 4 * 1024 * 1024


class AddressError(ValueError):
    """A peer address or listen address that cannot be parsed."""


def check_node_id(value: str) -> str:
    v = value.strip().lower()
    if not NODE_ID_RE.match(v):
        raise AddressError(f"node ID must be 40 hex characters, got {value!r}")
    return v


def parse_host_port(text: str) -> tuple[str, int]:
    """``host:port``, ``tcp://host:port`` or ``[v6]:port``; port 0 means "any free port" (tests)."""
    s = text.strip().removeprefix("tcp://")
    if s.startswith("["):
        host, sep, rest = s[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise AddressError(f"bad address {text!r}")
        port_s = rest[1:]
    else:
        host, sep, port_s = s.rpartition(":")
        if not sep:
            raise AddressError(f"address {text!r} has no port")
    if not host:
        raise AddressError(f"address {text!r} has no host")
    try:
        port = int(port_s)
    except ValueError:
        raise AddressError(f"bad port in {text!r}") from None
    if not 0 <= port <= 65535:
        raise AddressError(f"port out of range in {text!r}")
    return host, port


@dataclass(frozen=True, slots=True)
class PeerAddress:
    """A peer as CometBFT's ``persistent_peers`` spells it: ``<node id>@<host>:<port>``."""

    node_id: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> PeerAddress:
        ident, sep, addr = text.strip().partition("@")
        if not sep:
            raise AddressError(f"peer {text!r} must be <node id>@<host>:<port>")
        host, port = parse_host_port(addr)
        if port == 0:
            raise AddressError(f"peer {text!r} has port 0")
        return cls(check_node_id(ident), host, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.node_id}@{host}:{self.port}"


def parse_peers(text: str | Iterable[str]) -> tuple[PeerAddress, ...]:
    """A comma-separated list (the TOML value) or an iterable of addresses; blanks are ignored."""
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(PeerAddress.parse(i) for i in items if i.strip())


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A logical stream multiplexed over each connection (votes, block parts, txs, ...).

    ``priority``: frames taken from this channel per round of the writer's weighted round robin (so a
    busy low-priority channel cannot starve a high-priority one). ``send_queue_bytes``: the per-peer budget
    of queued, unsent payload bytes for this channel; beyond it ``send`` refuses (returns False).
    """

    priority: int = 1
    send_queue_bytes: int = 8 * 1024 * 1024
    name: str = ""

    def __post_init__(self) -> None:
        if self.priority < 1:
            raise ValueError("channel priority must be >= 1")
        if self.send_queue_bytes < 1:
            raise ValueError("channel queue budget must be positive")


@dataclass(frozen=True)
class P2PConfig:
    """Transport settings. ``allowed_peer_ids`` ∪ the IDs of ``persistent_peers`` may connect; no one else."""

    listen: str = "127.0.0.1:26656"
    persistent_peers: tuple[PeerAddress, ...] = ()
    allowed_peer_ids: frozenset[str] = frozenset()
    network: str = ""  # the chain ID; a peer of another network is refused
    moniker: str = ""
    version: str = "0.1.0"
    external_address: str = ""  # advertised in the handshake; defaults to the bound listen address
    max_frame_bytes: int = DEFAULT_MAX_FRAME  # largest message (payload of one send); sent in 64 KiB packets
    handshake_timeout: float = 10.0
    dial_timeout: float = 3.0
    keepalive_interval: float = 5.0  # a keepalive frame when nothing was sent for this long
    idle_timeout: float = 30.0  # nothing received for this long: the peer is dead, drop it
    write_timeout: float = 20.0  # the socket buffer did not drain for this long: a stalled peer, drop it
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    backoff_reset_after: float = 10.0  # a connection that lived this long resets the dial backoff
    max_inbound: int = 40
    max_pending_handshakes: int = 16
    inbox_size: int = 10_000  # events buffered for the upper layer before readers wait (backpressure)
    inbox_bytes: int = 64 * 1024 * 1024  # ... and payload bytes buffered (one message is always let through)
    write_batch_bytes: int = 1024 * 1024  # frames joined into one write() up to about this many bytes
    send_rate: int = 0  # bytes/s to each peer; 0 = unlimited (a LAN); CometBFT's default is 5 MB/s
    recv_rate: int = 0  # bytes/s from each peer; 0 = unlimited

    def __post_init__(self) -> None:
        parse_host_port(self.listen)
        for ident in self.allowed_peer_ids:
            check_node_id(ident)
        for name, limit in (("network", 64), ("moniker", 64), ("external_address", 255), ("version", 32)):
            if len(getattr(self, name)) > limit:
                raise ValueError(f"p2p {name} is longer than {limit} characters (peers would refuse the handshake)")
        if self.max_frame_bytes < 1024:
            raise ValueError("max_frame_bytes must be at least 1024")
        if self.idle_timeout <= self.keepalive_interval:
            raise ValueError("idle_timeout must exceed keepalive_interval")
        if self.send_rate < 0 or self.recv_rate < 0:
            raise ValueError("send_rate and recv_rate must be >= 0 (0 = unlimited)")
        if self.backoff_base <= 0 or self.backoff_max < self.backoff_base:
            raise ValueError("need 0 < backoff_base <= backoff_max")

    def allow_set(self) -> frozenset[str]:
        return frozenset(self.allowed_peer_ids) | {p.node_id for p in self.persistent_peers}

"""RPC server settings, CometBFT's `[rpc]` section in our names, with CometBFT's defaults.

The node maps its config.toml `[rpc]` section onto `RpcConfig`. Why the limits: every one bounds memory or
work a remote client can make the node spend (body size, batch size, WebSocket clients, subscriptions and
their buffers, pending broadcast_tx_commit calls).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.limits import SUBSCRIPTION_BUFFER_DEFAULT


@dataclass(frozen=True)
class RpcConfig:
    laddr_host: str = "127.0.0.1"  # never 0.0.0.0 unless the operator says so
    laddr_port: int = 26657
    cors_allowed_origins: tuple[str, ...] = ()  # "*" allows any origin; empty disables CORS
    cors_allowed_methods: tuple[str, ...] = ("HEAD", "GET", "POST")
    cors_allowed_headers: tuple[str, ...] = ("Origin", "Accept", "Content-Type", "X-Requested-With", "X-Server-Time")
    max_body_bytes: int = 1_000_000
    max_header_bytes: int = 1 << 20
    max_request_batch_size: int = 10
    max_open_connections: int = 900
    max_subscription_clients: int = 100
    max_subscriptions_per_client: int = 5
    subscription_buffer_size: int = SUBSCRIPTION_BUFFER_DEFAULT  # a maximal block's events fit, twice
    timeout_broadcast_tx_commit_s: float = 10.0
    ws_ping_interval_s: float = 15.0
    ws_write_timeout_s: float = 10.0
    max_unconfirmed_txs_limit: int = 100


def from_config_section(rpc: Any, host: str, port: int) -> RpcConfig:
    """config.toml's `[rpc]` section (node/config.py `RPCConfig`, durations in ms) → `RpcConfig`, every
    limit carried over; `host`/`port` come from its parsed `laddr`."""
    return RpcConfig(
        laddr_host=host,
        laddr_port=port,
        cors_allowed_origins=tuple(rpc.cors_allowed_origins),
        max_body_bytes=int(rpc.max_body_bytes),
        max_header_bytes=int(rpc.max_header_bytes),
        max_request_batch_size=int(rpc.max_request_batch_size),
        max_open_connections=int(rpc.max_open_connections),
        max_subscription_clients=int(rpc.max_subscription_clients),
        max_subscriptions_per_client=int(rpc.max_subscriptions_per_client),
        subscription_buffer_size=int(rpc.subscription_buffer_size),
        timeout_broadcast_tx_commit_s=int(rpc.timeout_broadcast_tx_commit) / 1000,
    )

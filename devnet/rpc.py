"""A tiny blocking JSON-RPC client for the devnet harness and the e2e tests (stdlib only, no event loop)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any


class RpcError(Exception):
    pass


def call(url: str, method: str, params: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            doc = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RpcError(f"{url} {method}: {exc}") from None
    if "error" in doc:
        raise RpcError(f"{method}: {doc['error']}")
    return doc["result"]


def height(url: str, timeout: float = 2.0) -> int:
    return int(call(url, "status", timeout=timeout)["sync_info"]["latest_block_height"])


def status(url: str, timeout: float = 2.0) -> dict[str, Any]:
    return call(url, "status", timeout=timeout)["sync_info"]  # type: ignore[no-any-return]


def block_hashes(url: str, h: int) -> tuple[str, str]:
    """(block hash, app hash in the header) of height `h`."""
    b = call(url, "block", {"height": str(h)})
    return b["block_id"]["hash"], b["block"]["header"]["app_hash"]


def broadcast(url: str, tx: bytes) -> dict[str, Any]:
    return call(url, "broadcast_tx_sync", {"tx": base64.b64encode(tx).decode()})  # type: ignore[no-any-return]

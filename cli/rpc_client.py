"""A small synchronous JSON-RPC 2.0 client for the node's CometBFT v0.38 RPC, on urllib.

Why urllib and not aiohttp: `egp` is started once per command; importing aiohttp costs ~180 ms
(docs/limits.md), urllib nearly nothing, and one request at a time needs no event loop.

Encodings follow CometBFT (shared docs/cometbft.md §4.1): params go as a named object, heights as decimal
strings, `tx` and the `tx` method's `hash` as base64, `abci_query.data` as lower-case hex; results carry
64-bit ints as strings, hashes and addresses as upper-case hex, tx bytes / query keys and values as base64.
The helpers at the bottom decode those so callers deal in ints and bytes.

Failures become `NodeError` with a sentence naming the URL (refused connection, timeout, HTTP status, a
reply that is not JSON-RPC) or the JSON-RPC error's code, message and data.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import os
import socket
import urllib.error
import urllib.request
from typing import Any

from cli.errors import NodeError

DEFAULT_NODE = "http://127.0.0.1:26657"
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


def node_url(explicit: str | None) -> str:
    """`--node`, else `EGP_NODE`, else the default; `tcp://` (CometBFT's notation) is read as http."""
    url = (explicit or os.environ.get("EGP_NODE") or DEFAULT_NODE).strip().rstrip("/")
    if url.startswith("tcp://"):
        url = "http://" + url[len("tcp://"):]
    if "://" not in url:
        url = "http://" + url
    if not url.startswith(("http://", "https://")):
        raise NodeError(f"node URL '{url}' must start with http:// or https://")
    return url


class RpcError(NodeError):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, url: str, method: str, code: int, message: str, data: str) -> None:
        text = f"the node at {url} refused {method}: {message}"
        if data:
            text += f" ({data})"
        super().__init__(text, rpc_code=code, rpc_message=message, rpc_data=data)
        self.rpc_code = code
        self.rpc_message = message
        self.rpc_data = data


class RpcClient:
    def __init__(self, url: str | None = None, timeout: float = 15.0) -> None:
        self.url = node_url(url)
        self.timeout = timeout
        self._ids = itertools.count(1)

    def call(self, method: str, timeout: float | None = None, **params: Any) -> Any:
        """The `result` of `method(params)`; raises NodeError / RpcError."""
        rid = next(self._ids)
        body = json.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                           "params": {k: v for k, v in params.items() if v is not None}}).encode()
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                raw = resp.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raw = exc.read(MAX_RESPONSE_BYTES + 1)
            reply = self._parse(raw, method, exc.code)
            if reply is None:
                raise NodeError(f"the node at {self.url} answered HTTP {exc.code} {exc.reason} to {method}") from None
            return self._result(reply, method)
        except urllib.error.URLError as exc:
            raise NodeError(self._unreachable(exc.reason)) from None
        except TimeoutError:
            raise NodeError(f"the node at {self.url} did not answer {method} within "
                            f"{timeout or self.timeout:g} s") from None
        except (ConnectionError, OSError) as exc:
            raise NodeError(self._unreachable(exc)) from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise NodeError(f"the node's answer to {method} is larger than {MAX_RESPONSE_BYTES} bytes")
        reply = self._parse(raw, method, 200)
        if reply is None:
            raise NodeError(f"the node at {self.url} did not answer {method} with JSON-RPC (is this an egp node?)")
        return self._result(reply, method)

    def _unreachable(self, reason: object) -> str:
        if isinstance(reason, (TimeoutError, socket.timeout)):
            detail = "timed out"
        elif isinstance(reason, ConnectionRefusedError):
            detail = "connection refused"
        elif isinstance(reason, socket.gaierror):
            detail = "unknown host"
        else:
            detail = str(getattr(reason, "strerror", None) or reason)
        return (f"cannot reach the node at {self.url} ({detail}). Is it running? "
                "Point the wallet at a node with --node URL or EGP_NODE.")

    @staticmethod
    def _parse(raw: bytes, method: str, status: int) -> dict[str, Any] | None:
        try:
            reply = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(reply, dict) or ("result" not in reply and "error" not in reply):
            return None
        return reply

    def _result(self, reply: dict[str, Any], method: str) -> Any:
        err = reply.get("error")
        if err is not None:
            if not isinstance(err, dict):
                raise RpcError(self.url, method, -32603, str(err), "")
            return self._raise(method, err)
        return reply["result"]

    def _raise(self, method: str, err: dict[str, Any]) -> Any:
        raw_code = err.get("code")
        code = raw_code if isinstance(raw_code, int) else -32603
        raise RpcError(self.url, method, code, str(err.get("message", "")), str(err.get("data", "") or ""))

    # ------------------------------------------------------------- typed helpers
    def status(self) -> dict[str, Any]:
        return dict(self.call("status"))

    def chain_id(self) -> str:
        network = self.status().get("node_info", {}).get("network")
        if not isinstance(network, str) or not network:
            raise NodeError(f"the node at {self.url} did not report its chain id")
        return network

    def abci_query(self, path: str, data: bytes = b"", height: int | None = None,
                   prove: bool = False) -> dict[str, Any]:
        result = self.call("abci_query", path=path, data=data.hex(),
                           height=str(height) if height else None, prove=prove)
        resp = result.get("response") if isinstance(result, dict) else None
        if not isinstance(resp, dict):
            raise NodeError(f"the node's abci_query answer has no response object (path {path})")
        return resp

    def check_tx(self, tx: bytes) -> dict[str, Any]:
        """The node's simulation of `tx` under the full rules (nothing is kept)."""
        return dict(self.call("check_tx", tx=b64(tx)))

    def broadcast_sync(self, tx: bytes) -> dict[str, Any]:
        return dict(self.call("broadcast_tx_sync", tx=b64(tx)))

    def broadcast_commit(self, tx: bytes, timeout: float) -> dict[str, Any]:
        return dict(self.call("broadcast_tx_commit", timeout=timeout, tx=b64(tx)))

    def tx(self, tx_hash: bytes, prove: bool = False) -> dict[str, Any]:
        return dict(self.call("tx", hash=b64(tx_hash), prove=prove))

    def block(self, height: int | None = None) -> dict[str, Any]:
        return dict(self.call("block", height=str(height) if height else None))

    def block_results(self, height: int) -> dict[str, Any]:
        return dict(self.call("block_results", height=str(height)))

    def validators(self, height: int | None = None) -> dict[str, Any]:
        """All validators at `height` (pages through `validators` as cosmjs does)."""
        page, out, result = 1, [], {}  # type: tuple[int, list[Any], dict[str, Any]]
        while True:
            result = dict(self.call("validators", height=str(height) if height else None,
                                    page=str(page), per_page="100"))
            batch = result.get("validators") or []
            out.extend(batch)
            if not batch or len(out) >= to_int(result.get("total", len(out))) or page >= 100:
                break
            page += 1
        result["validators"] = out
        return result


# ----------------------------------------------------------------- CometBFT encodings
def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def from_b64(text: object) -> bytes:
    if text is None or text == "":
        return b""
    if not isinstance(text, str):
        raise NodeError(f"expected base64 from the node, got {type(text).__name__}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NodeError("the node sent invalid base64") from None


def from_hex(text: object) -> bytes:
    if not isinstance(text, str):
        return b""
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise NodeError("the node sent invalid hex") from None


def to_int(value: object, default: int = 0) -> int:
    """CometBFT sends int64 as strings and int32 as numbers; accept both."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return default


def events_of(tx_result: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """ABCI events as (type, {key: value}) with v0.38 plain-string attributes."""
    out = []
    for ev in tx_result.get("events") or []:
        if not isinstance(ev, dict):
            continue
        attrs = {}
        for a in ev.get("attributes") or []:
            if isinstance(a, dict) and isinstance(a.get("key"), str):
                attrs[a["key"]] = str(a.get("value", ""))
        out.append((str(ev.get("type", "")), attrs))
    return out

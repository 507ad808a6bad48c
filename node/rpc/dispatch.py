"""One JSON-RPC request → one response, shared by HTTP POST, the URI form and the WebSocket.

Why in its own module: the three front ends must agree on ids, notifications, error codes and on turning
any unexpected exception into -32603 without a stack trace; one implementation guarantees it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from node.rpc.errors import INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, RpcError, internal, response
from node.rpc.params import bind
from node.rpc.registry import METHODS, Ctx, current_request_id

log = logging.getLogger("egp.rpc")


def dumps(obj: Any) -> str:
    """Compact JSON text. Non-ASCII stays literal (Thai names stay small); a lone surrogate echoed from a
    client's request cannot be UTF-8, so then the whole text falls back to ASCII escapes."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj, separators=(",", ":"))
    return text


def valid_id(v: Any) -> bool:
    return v is None or isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))


async def call(ctx: Ctx, name: Any, params: Any, uri: bool = False) -> Any:
    """Run one method; raises RpcError only."""
    m = METHODS.get(name) if isinstance(name, str) else None
    if m is None:
        raise RpcError(METHOD_NOT_FOUND, f"method {str(name)[:64]!r} not found")
    if m.ws_only and ctx.session is None:
        raise RpcError(METHOD_NOT_FOUND, f"{m.name} is only available over WebSocket (/websocket)")
    kwargs = bind(m.params, params, uri)
    if ctx.gate is not None:
        await ctx.gate(m.name)
    try:
        return await m.fn(ctx, **kwargs)
    except RpcError:
        raise
    except Exception as e:
        log.exception("rpc method %s failed", m.name)
        raise internal(f"internal error in {m.name}: {type(e).__name__}") from e


async def handle_request(ctx: Ctx, req: Any) -> dict[str, Any] | None:
    """One JSON-RPC request object → its response (None for a notification)."""
    if not isinstance(req, dict):
        return response(None, error=RpcError(INVALID_REQUEST, "request must be an object"))
    req_id = req.get("id")
    if not valid_id(req_id):
        return response(None, error=RpcError(INVALID_REQUEST, "id must be a string, an integer or null"))
    if req.get("jsonrpc") != "2.0":
        return response(req_id, error=RpcError(INVALID_REQUEST, "jsonrpc must be \"2.0\""))
    if "id" not in req:
        return None  # a notification: JSON-RPC 2.0 gives it no answer
    current_request_id.set(req_id)
    try:
        return response(req_id, await call(ctx, req.get("method"), req.get("params"), False))
    except RpcError as e:
        return response(req_id, error=e)


def parse_body(body: bytes) -> Any:
    """JSON text → value; raises RpcError(PARSE_ERROR) on anything that is not JSON (deep nesting included)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError, UnicodeDecodeError) as e:
        raise RpcError(PARSE_ERROR, f"error unmarshaling request: {type(e).__name__}") from e

"""JSON-RPC error objects with CometBFT's codes and messages.

Why these exact codes and texts: clients match on them ("tx already exists in cache", "must be less than or
equal to the current blockchain height"), and cosmjs throws on any HTTP status >= 400 before reading the
body, so method errors travel with HTTP 200 and only transport-level failures use 4xx/5xx.
"""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000

MESSAGES = {
    PARSE_ERROR: "Parse error. Invalid JSON",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid params",
    INTERNAL_ERROR: "Internal error",
    SERVER_ERROR: "Server error",
}


class RpcError(Exception):
    def __init__(self, code: int, data: str = "") -> None:
        super().__init__(data or MESSAGES.get(code, "error"))
        self.code = code
        self.data = data

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": MESSAGES.get(self.code, "Server error"), "data": self.data}


def invalid_params(data: str) -> RpcError:
    return RpcError(INVALID_PARAMS, data)


def internal(data: str) -> RpcError:
    return RpcError(INTERNAL_ERROR, data)


def response(req_id: Any, result: Any = None, error: RpcError | None = None) -> dict[str, Any]:
    if error is not None:
        return {"jsonrpc": "2.0", "id": req_id, "error": error.to_json()}
    return {"jsonrpc": "2.0", "id": req_id, "result": result}

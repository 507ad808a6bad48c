"""The JSON-RPC client against servers that are not (well-behaved) egp nodes: one sentence, never a crash.

The real node is exercised in test_e2e_walkthrough.py; here a few lines of http.server stand in for a web
server at the wrong address, a proxy error page, or a node answering with a JSON-RPC error.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cli.errors import NodeError
from cli.rpc_client import RpcClient, RpcError, events_of, node_url, to_int

REPLIES: dict[str, tuple[int, bytes]] = {
    "/html": (200, b"<html>It works!</html>"),
    "/proxy": (502, b"Bad Gateway"),
    "/rpcerr": (200, json.dumps({"jsonrpc": "2.0", "id": 1, "error": {
        "code": -32603, "message": "Internal error", "data": "height 99 must be less than or equal to 42"}}).encode()),
    "/rpc500": (500, json.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": -32700, "message": "Parse error"}})
                .encode()),
    "/ok": (200, json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"node_info": {"network": "egp-x"}}}).encode()),
}


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, body = REPLIES[self.path]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_not_an_egp_node(server: str) -> None:
    with pytest.raises(NodeError, match="did not answer status with JSON-RPC"):
        RpcClient(server + "/html").status()
    with pytest.raises(NodeError, match="answered HTTP 502"):
        RpcClient(server + "/proxy").status()


def test_json_rpc_errors_keep_code_message_and_data(server: str) -> None:
    with pytest.raises(RpcError) as info:
        RpcClient(server + "/rpcerr").block(99)
    assert info.value.rpc_code == -32603 and "height 99 must be less than or equal to 42" in str(info.value)
    with pytest.raises(RpcError, match="Parse error"):
        RpcClient(server + "/rpc500").status()


def test_ok_and_chain_id(server: str) -> None:
    assert RpcClient(server + "/ok").chain_id() == "egp-x"


def test_node_url_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EGP_NODE", raising=False)
    assert node_url(None) == "http://127.0.0.1:26657"
    assert node_url("tcp://10.0.0.1:26657/") == "http://10.0.0.1:26657"
    assert node_url("localhost:1") == "http://localhost:1"
    monkeypatch.setenv("EGP_NODE", "https://rpc.bank.example")
    assert node_url(None) == "https://rpc.bank.example"
    with pytest.raises(NodeError, match="must start with http"):
        node_url("ftp://x")


def test_cometbft_encodings() -> None:
    assert to_int("42") == 42 and to_int(7) == 7 and to_int(None, -1) == -1 and to_int(True) == 0
    events = events_of({"events": [{"type": "lg", "attributes": [{"key": "id", "value": "LG1", "index": True},
                                                                  {"key": "status", "value": "ISSUED"}]},
                                   {"type": "x"}, "junk"]})
    assert events == [("lg", {"id": "LG1", "status": "ISSUED"}), ("x", {})]

"""A request whose method is not a string (a list, an object: unhashable) gets "method not found", over the
WebSocket (the connection stays open) and over HTTP POST (status 200), on a real node whose services offer the
broadcast fast path (`submit_tx`), instead of a TypeError in the fast paths' method look-up (the WebSocket was
dropped without an answer, POST answered 500)."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from node.rpc.server import CTX_KEY
from node.services import NodeServices
from tests.rpc.conftest import init_single_home, run, started_node

METHOD_NOT_FOUND = -32601
NAMES = ([], {"a": 1}, ["broadcast_tx_sync"])


def test_an_unhashable_method_is_not_found_over_the_websocket_and_http_post(tmp_path: Path) -> None:
    init_single_home(tmp_path / "home", "egp-methods")

    async def go() -> None:
        async with (started_node(tmp_path / "home", consensus=False) as (node, port),
                    aiohttp.ClientSession() as s):
            assert node.rpc is not None
            services = node.rpc.app[CTX_KEY].services
            assert isinstance(services, NodeServices) and services.submit_tx  # the fast paths are on
            base = f"http://127.0.0.1:{port}"
            async with s.ws_connect(base + "/websocket") as ws:
                for i, name in enumerate(NAMES, start=1):
                    await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": i, "method": name, "params": {}}))
                    msg = await ws.receive(timeout=10)
                    assert msg.type == aiohttp.WSMsgType.TEXT, msg
                    out = json.loads(msg.data)
                    assert out["id"] == i and out["error"]["code"] == METHOD_NOT_FOUND
                await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 9, "method": "health"}))
                assert json.loads((await ws.receive(timeout=10)).data) == {"jsonrpc": "2.0", "id": 9, "result": {}}
            for name in NAMES:
                body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": name}).encode()
                async with s.post(base + "/", data=body, headers={"Content-Type": "application/json"}) as r:
                    text = await r.text()
                    assert r.status == 200, text
                    assert json.loads(text)["error"]["code"] == METHOD_NOT_FOUND

    run(go)

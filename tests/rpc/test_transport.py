"""The HTTP front end: batch, GET URI form, malformed bodies, limits, CORS, the served OpenAPI document."""

from __future__ import annotations

import json

from node.rpc.config import RpcConfig
from tests.rpc.chain_fixture import FixtureChain
from tests.rpc.conftest import run, serve


def test_batch_and_notifications(chain: FixtureChain) -> None:
    chain.make_block([b"a=1"])

    async def go() -> None:
        async with serve(chain) as c:
            body = [{"jsonrpc": "2.0", "id": "s", "method": "health"},
                    {"jsonrpc": "2.0", "id": 2, "method": "block", "params": {"height": "9"}},
                    {"jsonrpc": "2.0", "method": "health"},  # a notification: no answer
                    {"jsonrpc": "2.0", "id": 3, "method": "status", "params": []}]
            status, text = await c.post_raw(json.dumps(body).encode())
            out = json.loads(text)
            assert status == 200 and [r["id"] for r in out] == ["s", 2, 3]
            assert out[0]["result"] == {} and out[1]["error"]["code"] == -32603 and "result" in out[2]
            status, text = await c.post_raw(json.dumps([{"jsonrpc": "2.0", "id": i, "method": "health"}
                                                        for i in range(11)]).encode())
            assert status == 400 and json.loads(text)["error"]["code"] == -32600
            status, text = await c.post_raw(b"[]")
            assert status == 400 and json.loads(text)["error"]["code"] == -32600
            status, _ = await c.post_raw(b'{"jsonrpc":"2.0","method":"health"}')
            assert status == 204
            # positional params follow the parameter order
            status, text = await c.post_raw(b'{"jsonrpc":"2.0","id":1,"method":"block","params":["1"]}')
            assert json.loads(text)["result"]["block"]["header"]["height"] == "1"

    run(go)


def test_malformed_bodies_get_parse_or_invalid_request_errors(chain: FixtureChain) -> None:
    async def go() -> None:
        async with serve(chain) as c:
            for raw, code in [(b"{", -32700), (b"\xff\xfe", -32700), (b"[" * 100_000, -32700),
                              (b"1", -32600), (b'"x"', -32600), (b'{"id":1.5,"jsonrpc":"2.0","method":"health"}',
                                                                  -32600),
                              (b'{"id":{},"jsonrpc":"2.0","method":"health"}', -32600)]:
                status, text = await c.post_raw(raw)
                out = json.loads(text)
                assert status == 400 and out["jsonrpc"] == "2.0" and out["id"] is None, raw[:20]
                assert out["error"]["code"] == code and "Traceback" not in text
            status, text = await c.post_raw(b'{"id":1,"method":"health"}')
            assert status == 200 and json.loads(text)["error"]["code"] == -32600
            status, text = await c.post_raw(b'{"jsonrpc":"2.0","id":1,"method":"block","params":7}')
            assert status == 200 and json.loads(text)["error"]["code"] == -32602

    run(go)


def test_lone_surrogates_are_answered_not_crashed_on(chain: FixtureChain) -> None:
    async def go() -> None:
        async with serve(chain) as c:
            for body, code in [(b'{"jsonrpc":"2.0","id":"\\ud800","method":"health"}', None),
                               (b'{"jsonrpc":"2.0","id":1,"method":"\\ud800"}', -32601),
                               (b'{"jsonrpc":"2.0","id":1,"method":"tx_search","params":{"query":"a=\'\\ud800\'"}}',
                                -32602),
                               (b'{"jsonrpc":"2.0","id":1,"method":"abci_query","params":{"path":"\\udfff"}}', -32602)]:
                status, text = await c.post_raw(body)
                out = json.loads(text)
                assert status == 200 and out["jsonrpc"] == "2.0", text
                assert (out.get("error") or {}).get("code") == code, text

    run(go)


def test_body_limit(chain: FixtureChain) -> None:
    async def go() -> None:
        async with serve(chain, RpcConfig(laddr_port=0, max_body_bytes=1000)) as c:
            status, text = await c.post_raw(b'{"jsonrpc":"2.0","id":1,"method":"health","x":"' + b"a" * 2000 + b'"}')
            assert status == 413 and json.loads(text)["error"]["code"] == -32600

    run(go)


def test_uri_form(chain: FixtureChain) -> None:
    chain.make_block([b"lg/1=x"])

    async def go() -> None:
        async with serve(chain) as c:
            status, out = await c.get("/status")
            assert status == 200 and out["id"] == -1 and out["result"]["sync_info"]["latest_block_height"] == "1"
            _, out = await c.get("/block?height=1")
            assert out["result"]["block"]["header"]["height"] == "1"
            _, out = await c.get('/block?height="1"')
            assert out["result"]["block"]["header"]["height"] == "1"
            _, out = await c.get('/abci_query?path="/store"&data="lg/1"')
            assert out["result"]["response"]["value"] == "eA=="
            _, out = await c.get("/abci_query?path=%22/store%22&data=0x6c672f31")
            assert out["result"]["response"]["value"] == "eA=="
            _, out = await c.get('/tx_search?query="kv.key=\'lg/1\'"')
            assert out["result"]["total_count"] == "1"
            _, out = await c.get("/block?height=1&height=2")
            assert out["error"]["code"] == -32602
            _, out = await c.get("/block?height=abc")
            assert out["error"]["code"] == -32602
            status, out = await c.get("/nope")
            assert status == 404 and out["error"]["code"] == -32601
            status, text = await c.get("/")
            assert status == 200 and "/status" in text

    run(go)


def test_cors_and_openapi(chain: FixtureChain) -> None:
    async def go() -> None:
        cfg = RpcConfig(laddr_port=0, cors_allowed_origins=("https://egp.example",))
        async with serve(chain, cfg) as c:
            async with c.session.options(c.base + "/", headers={"Origin": "https://egp.example",
                                                                "Access-Control-Request-Method": "POST"}) as r:
                assert r.status == 204 and r.headers["Access-Control-Allow-Origin"] == "https://egp.example"
            async with c.session.get(c.base + "/health", headers={"Origin": "https://evil.example"}) as r:
                assert "Access-Control-Allow-Origin" not in r.headers
            async with c.session.get(c.base + "/openapi.yaml") as r:
                assert r.status == 200 and "openapi: 3" in await r.text()
        async with serve(chain) as c, c.session.get(c.base + "/health", headers={"Origin": "https://egp.example"}) as r:
            assert "Access-Control-Allow-Origin" not in r.headers

    run(go)


def test_binds_loopback_by_default() -> None:
    assert RpcConfig().laddr_host == "127.0.0.1"


def test_every_config_toml_limit_reaches_the_server() -> None:
    from node.config import RPCConfig
    from node.rpc.config import from_config_section

    section = RPCConfig(max_request_batch_size=3, max_subscriptions_per_client=7, subscription_buffer_size=9,
                        timeout_broadcast_tx_commit=2500, cors_allowed_origins=["*"], max_body_bytes=4096)
    cfg = from_config_section(section, "127.0.0.1", 0)
    assert (cfg.max_request_batch_size, cfg.max_subscriptions_per_client, cfg.subscription_buffer_size) == (3, 7, 9)
    assert cfg.timeout_broadcast_tx_commit_s == 2.5 and cfg.cors_allowed_origins == ("*",)
    assert cfg.max_body_bytes == 4096 and cfg.laddr_host == "127.0.0.1"


def test_open_connection_limit(chain: FixtureChain) -> None:
    async def go() -> None:
        import asyncio

        async with serve(chain, RpcConfig(laddr_port=0, max_open_connections=2)) as c:
            port = int(c.base.rsplit(":", 1)[1])
            held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
            await asyncio.sleep(0.05)
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert await asyncio.wait_for(r.read(), 10) == b""  # closed without an answer
            w.close()
            held[0][1].close()
            await asyncio.sleep(0.05)
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert (await asyncio.wait_for(r.read(), 10)).startswith(b"HTTP/1.1 200")
            w.close()
            held[1][1].close()

    run(go)


def test_routes_added_by_the_node_win_over_the_uri_form(chain: FixtureChain) -> None:
    """The node adds GET /metrics to the app after create_rpc_app; it must not be taken for a method."""
    from aiohttp import web

    from node.rpc.server import RpcServer

    async def go() -> None:
        import aiohttp

        srv = RpcServer(chain, RpcConfig(laddr_port=0))

        async def metrics(request: web.Request) -> web.Response:
            return web.Response(text="egp_height 1\n")

        srv.app.router.add_get("/metrics", metrics)
        port = await srv.start()
        try:
            async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/metrics") as r:
                assert r.status == 200 and await r.text() == "egp_height 1\n"
        finally:
            await srv.stop()

    run(go)

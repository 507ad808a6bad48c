"""WebSocket subscriptions: NewBlock / NewBlockHeader / Tx with conditions, ids and queries, limits,
unsubscribe, and a slow subscriber cut off with CometBFT's error while memory stays bounded."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import Any

import aiohttp

from node.rpc.config import RpcConfig
from tests.rpc.chain_fixture import FixtureChain
from tests.rpc.conftest import run, serve


async def _send(ws: aiohttp.ClientWebSocketResponse, id_: Any, method: str, **params: Any) -> None:
    await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": params}))


async def _recv(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), 10)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    out: dict[str, Any] = json.loads(msg.data)
    return out


def test_subscriptions_carry_the_request_id_and_query(chain: FixtureChain) -> None:
    async def go() -> None:
        async with serve(chain) as c, c.session.ws_connect(c.base + "/websocket") as ws:
            await _send(ws, 111111111111, "subscribe", query="tm.event='NewBlock'")
            assert await _recv(ws) == {"jsonrpc": "2.0", "id": 111111111111, "result": {}}
            q = "tm.event='Tx' AND kv.owner='lg'"
            await _send(ws, "tx-sub", "subscribe", query=q)
            assert (await _recv(ws))["result"] == {}
            await _send(ws, 3, "subscribe", query="tm.event = 'NewBlockHeader' AND block.height >= 2")
            assert (await _recv(ws))["result"] == {}
            await _send(ws, 4, "status")  # any method works over the socket
            assert (await _recv(ws))["result"]["node_info"]["version"].startswith("0.38.")

            chain.make_block([b"other/1=x", b"lg/5=issued"])
            nb = await _recv(ws)
            assert nb["id"] == 111111111111 and nb["result"]["query"] == "tm.event='NewBlock'"
            assert nb["result"]["data"]["type"] == "tendermint/event/NewBlock"
            v = nb["result"]["data"]["value"]
            assert v["block"]["header"]["height"] == "1" and len(v["result_finalize_block"]["tx_results"]) == 2
            assert nb["result"]["events"]["tm.event"] == ["NewBlock"]
            tx = await _recv(ws)  # only the lg tx matches; the header query needs height >= 2
            assert tx["id"] == "tx-sub" and tx["result"]["query"] == q
            tr = tx["result"]["data"]["value"]["TxResult"]
            assert base64.b64decode(tr["tx"]) == b"lg/5=issued" and tr["height"] == "1" and tr["index"] == 1
            assert tx["result"]["events"]["tx.hash"] == [hashlib.sha256(b"lg/5=issued").hexdigest().upper()]
            assert tx["result"]["events"]["kv.key"] == ["lg/5"]

            chain.make_block([])
            got = [await _recv(ws), await _recv(ws)]
            assert sorted(str(m["id"]) for m in got) == ["111111111111", "3"]
            hdr = next(m for m in got if m["id"] == 3)
            assert hdr["result"]["data"]["value"]["header"]["height"] == "2"

            await _send(ws, 5, "unsubscribe", query="tm.event='NewBlock'")
            assert (await _recv(ws))["result"] == {}
            await _send(ws, 6, "unsubscribe", query="tm.event='NewBlock'")
            assert (await _recv(ws))["error"]["data"] == "subscription not found"
            await _send(ws, 7, "unsubscribe_all")
            assert (await _recv(ws))["result"] == {}
            assert chain.event_bus.num_clients() == 0
            chain.make_block([b"lg/6=x"])
            await _send(ws, 8, "health")
            assert (await _recv(ws))["id"] == 8  # nothing was queued for the dropped subscriptions

    run(go)


def test_subscribe_errors_and_limits(chain: FixtureChain) -> None:
    async def go() -> None:
        cfg = RpcConfig(laddr_port=0, max_subscriptions_per_client=2, max_subscription_clients=1)
        async with serve(chain, cfg) as c, c.session.ws_connect(c.base + "/websocket") as ws:
            await _send(ws, 1, "subscribe", query="tm.event='NewBlock' AND")
            e = await _recv(ws)
            assert e["error"]["code"] == -32603 and "failed to subscribe" in e["error"]["data"]
            await _send(ws, 2, "subscribe", query="tm.event='NewBlock'")
            assert "result" in await _recv(ws)
            await _send(ws, 3, "subscribe", query="tm.event='NewBlock'")
            assert "already subscribed" in (await _recv(ws))["error"]["data"]
            await _send(ws, 4, "subscribe", query="tm.event='Tx'")
            assert "result" in await _recv(ws)
            await _send(ws, 5, "subscribe", query="tm.event='NewBlockHeader'")
            assert (await _recv(ws))["error"]["data"] == "max_subscriptions_per_client 2 reached"
            await ws.send_str("{not json")
            assert (await _recv(ws))["error"]["code"] == -32700
            async with c.session.ws_connect(c.base + "/websocket") as ws2:
                await _send(ws2, 1, "subscribe", query="tm.event='Tx'")
                assert (await _recv(ws2))["error"]["data"] == "max_subscription_clients 1 reached"
            await ws.close()
            for _ in range(100):
                if chain.event_bus.num_clients() == 0:
                    break
                await asyncio.sleep(0.02)
            assert chain.event_bus.num_clients() == 0  # a closed socket leaves no subscription behind

    run(go)


def test_slow_subscriber_is_cut_off_with_the_cometbft_error(chain: FixtureChain) -> None:
    async def go() -> None:
        cfg = RpcConfig(laddr_port=0, subscription_buffer_size=5)
        async with serve(chain, cfg) as c, c.session.ws_connect(c.base + "/websocket") as ws:
            await _send(ws, 42, "subscribe", query="tm.event='NewBlock'")
            assert (await _recv(ws))["result"] == {}
            subs = chain.event_bus._all()
            assert len(subs) == 1
            # blocks arrive faster than the subscription drains: publishing never waits for the client
            for _ in range(20):
                chain.make_block([])
            assert subs[0].cancel_reason == "internal subscription event buffer is out of capacity"
            assert subs[0].pending() == 0  # the queue was freed at once
            msgs = [await _recv(ws)]
            while "error" not in msgs[-1]:
                msgs.append(await _recv(ws))
            assert msgs[-1] == {"jsonrpc": "2.0", "id": 42, "error": {
                "code": -32000, "message": "Server error",
                "data": "subscription was canceled (reason: internal subscription event buffer is out of capacity)"}}
            assert len(msgs) - 1 <= 6
            assert chain.event_bus.num_clients() == 0
            await _send(ws, 43, "subscribe", query="tm.event='NewBlock'")  # resubscribing works
            assert (await _recv(ws))["result"] == {}

    run(go)


def test_heartbeat_is_configured(chain: FixtureChain) -> None:
    async def go() -> None:
        cfg = RpcConfig(laddr_port=0, ws_ping_interval_s=0.05)
        async with serve(chain, cfg) as c, c.session.ws_connect(c.base + "/websocket", autoping=False) as ws:
            msg = await asyncio.wait_for(ws.receive(), 10)
            assert msg.type == aiohttp.WSMsgType.PING

    run(go)


def test_byte_budget_cuts_off_a_subscriber_of_big_events() -> None:
    from node.events import BusEvent, EventBus

    async def go() -> None:
        bus = EventBus(buffer_size=1000)
        sub = bus.subscribe("c", "tm.event='Tx'")
        sub.max_bytes = 10_000
        for _ in range(5):
            sub.push(BusEvent({}, {"tm.event": ["Tx"]}, 4000))
        assert sub.cancel_reason is not None and sub.pending() == 0 and bus.num_clients() == 0

    run(go)


def test_batch_over_the_socket_answers_with_an_array(chain: FixtureChain) -> None:
    async def go() -> None:
        async with serve(chain) as c, c.session.ws_connect(c.base + "/websocket") as ws:
            await ws.send_str(json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "health"},
                                          {"jsonrpc": "2.0", "id": 2, "method": "subscribe",
                                           "params": {"query": "tm.event='NewBlock'"}}]))
            msg = await asyncio.wait_for(ws.receive(), 10)
            assert [r["id"] for r in json.loads(msg.data)] == [1, 2]
            chain.make_block([])
            ev = await _recv(ws)
            assert ev["id"] == 2 and ev["result"]["query"] == "tm.event='NewBlock'"
            await ws.send_str("[]")
            assert (await _recv(ws))["error"]["code"] == -32600

    run(go)


def test_a_client_that_stops_reading_is_cut_off_not_buffered(chain: FixtureChain) -> None:
    """Real TCP back-pressure: the client reads nothing, the socket fills, the subscription's bounded queue
    fills behind it, and the subscription is cancelled while publishing never blocks."""

    async def go() -> None:
        cfg = RpcConfig(laddr_port=0, subscription_buffer_size=4)
        async with serve(chain, cfg) as c, c.session.ws_connect(c.base + "/websocket", max_msg_size=0) as ws:
            await _send(ws, 5, "subscribe", query="tm.event='NewBlock'")
            assert (await _recv(ws))["result"] == {}
            sub = chain.event_bus._all()[0]
            big = b"k=" + b"v" * 400_000
            for i in range(200):  # up to ~100 MB of events if nothing were dropped
                chain.make_block([big + str(i).encode()])
                await asyncio.sleep(0.005)  # let the forwarder write (and block)
                if sub.cancel_reason is not None:
                    break
            assert sub.cancel_reason == "internal subscription event buffer is out of capacity"
            assert sub.pending() == 0
            last: dict[str, Any] = {}
            while "error" not in last:  # the client finally reads: the events sent, then the error
                last = await _recv(ws)
            assert last["id"] == 5 and last["error"]["code"] == -32000

    run(go)


def test_subscribe_with_a_catch_up_cursor(chain: FixtureChain) -> None:
    for i in range(3):
        chain.make_block([f"lg/{i}=x".encode()])

    async def go() -> None:
        async with serve(chain, RpcConfig(laddr_port=0, subscription_buffer_size=3)) as c, \
                c.session.ws_connect(c.base + "/websocket") as ws:
            await _send(ws, 1, "subscribe", query="tm.event='NewBlock'", from_height="2")
            assert (await _recv(ws))["result"] == {}
            chain.make_block([])
            heights = [(await _recv(ws))["result"]["data"]["value"]["block"]["header"]["height"] for _ in range(3)]
            assert heights == ["2", "3", "4"]  # the past, then live, nothing missed or doubled
            await _send(ws, 2, "subscribe", query="tm.event='NewBlockHeader'", from_height=1)  # 4 > 3
            assert "do not fit the subscription buffer" in (await _recv(ws))["error"]["data"]
            await _send(ws, 3, "subscribe", query="tm.event='Tx'", from_height=99)
            assert "from_height must be within [1, 5]" in (await _recv(ws))["error"]["data"]
            assert chain.event_bus.num_client_subscriptions(next(iter(chain.event_bus._subs))) == 1

    run(go)


def test_default_buffer_carries_a_maximal_block_and_still_cuts_a_stalled_client(chain: FixtureChain) -> None:
    """The default buffer is derived from the block limit: every Tx event of a block of MAX_TXS_PER_BLOCK txs,
    published at once in the commit path, reaches the client (200 cut any block of more than 200 txs); a
    subscription that drains nothing while three such blocks are published still gets CometBFT's error."""
    from node.limits import MAX_TXS_PER_BLOCK, SUBSCRIPTION_BUFFER_DEFAULT

    assert MAX_TXS_PER_BLOCK < SUBSCRIPTION_BUFFER_DEFAULT <= 4 * MAX_TXS_PER_BLOCK  # fits one block, bounded

    async def go() -> None:
        async with serve(chain, RpcConfig(laddr_port=0)) as c, c.session.ws_connect(c.base + "/websocket") as ws:
            await _send(ws, 1, "subscribe", query="tm.event='Tx'")
            assert (await _recv(ws))["result"] == {}
            sub = chain.event_bus._all()[0]
            assert sub.capacity == SUBSCRIPTION_BUFFER_DEFAULT
            for b in range(2):  # each block's events are all queued before the sender runs
                chain.make_block([f"b{b}/k{i}={i}".encode() for i in range(MAX_TXS_PER_BLOCK)])
                assert sub.cancel_reason is None and sub.pending() == MAX_TXS_PER_BLOCK
                got = [await _recv(ws) for _ in range(MAX_TXS_PER_BLOCK)]
                assert all(m["id"] == 1 and "result" in m for m in got)
                assert got[-1]["result"]["events"]["kv.key"] == [f"b{b}/k{MAX_TXS_PER_BLOCK - 1}"]
            for b in range(2, 5):  # nothing drained between these three blocks
                chain.make_block([f"b{b}/k{i}={i}".encode() for i in range(MAX_TXS_PER_BLOCK)])
            assert sub.cancel_reason == "internal subscription event buffer is out of capacity"
            last: dict[str, Any] = {}
            while "error" not in last:
                last = await _recv(ws)
            assert last["id"] == 1 and last["error"]["data"] == (
                "subscription was canceled (reason: internal subscription event buffer is out of capacity)")

    run(go)


def test_permessage_deflate_is_declined_and_events_still_flow(chain: FixtureChain) -> None:
    """A client offering compression (browsers, cosmjs under Node do by default) gets plain frames, as from
    CometBFT: deflating each block's events cost the node CPU per subscriber."""

    async def go() -> None:
        async with serve(chain) as c, c.session.ws_connect(c.base + "/websocket", compress=15) as ws:
            assert ws.compress == 0  # the extension was not agreed
            await _send(ws, 1, "subscribe", query="tm.event='NewBlock'")
            assert await _recv(ws) == {"jsonrpc": "2.0", "id": 1, "result": {}}
            chain.make_block([b"lg/1=x"])
            nb = await _recv(ws)
            assert nb["id"] == 1 and nb["result"]["data"]["value"]["block"]["header"]["height"] == "1"

    run(go)

"""The P2P service over real sockets on 127.0.0.1: admission, messaging, hostile peers, reconnection."""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.p2p import Message, P2PConfig, PeerAddress, PeerDown, PeerUp, backoff_delay
from node.p2p.secret import NodeInfo, SecretConnection, handshake
from tests.node.p2p_harness import (
    CHAN_A,
    CHAN_B,
    Node,
    key,
    nid,
    rogue_session,
    start_node,
    until,
    wait_closed,
)


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Reasons logged for refused connections (the log record carries its key/values in ``kv``)."""
    return [str(r.kv["reason"]) for r in caplog.records if r.getMessage() == "connection refused"]  # type: ignore[attr-defined]


def run(coro: object) -> None:
    asyncio.run(asyncio.wait_for(coro, 60))  # type: ignore[arg-type]


async def pair() -> tuple[Node, Node]:
    a_key, b_key = key(0), key(1)
    b = await start_node(b_key, allowed=[a_key])
    a = await start_node(a_key, peers=[b.addr])
    await a.wait_connected(b.id)
    await b.wait_connected(a.id)
    return a, b


async def exchange(a: Node, b: Node, tag: bytes) -> None:
    """a and b can still talk both ways."""
    assert a.p2p.send(b.id, CHAN_A, b"to-b " + tag)
    assert b.p2p.send(a.id, CHAN_B, b"to-a " + tag)
    await b.wait_for(lambda _: any(m.payload == b"to-b " + tag for m in b.messages(a.id)))
    await a.wait_for(lambda _: any(m.payload == b"to-a " + tag for m in a.messages(b.id)))


def test_two_nodes_exchange_messages_both_ways() -> None:
    async def main() -> None:
        a, b = await pair()
        try:
            for i in range(50):
                assert a.p2p.send(b.id, CHAN_A if i % 2 else CHAN_B, b"m%d" % i)
            await b.wait_for(lambda _: len(b.messages(a.id)) == 50)
            # per-channel order is preserved
            assert [m.payload for m in b.messages(a.id) if m.channel == CHAN_A] == [b"m%d" % i for i in range(1, 50, 2)]
            assert [m.payload for m in b.messages(a.id) if m.channel == CHAN_B] == [b"m%d" % i for i in range(0, 50, 2)]
            await exchange(a, b, b"x")
            big = os.urandom(a.p2p.config.max_frame_bytes)
            assert b.p2p.send(a.id, CHAN_A, big)
            await a.wait_for(lambda _: any(m.payload == big for m in a.messages(b.id)))
            # a large message is cut in packets: a vote queued after it overtakes it
            big2 = os.urandom(a.p2p.config.max_frame_bytes)
            assert a.p2p.send(b.id, CHAN_B, big2)
            await asyncio.sleep(0)  # the writer sends its first batch (1 MiB) and yields
            assert a.p2p.send(b.id, CHAN_A, b"vote")
            await b.wait_for(lambda _: any(m.payload == big2 for m in b.messages(a.id)))
            tail = [m.payload for m in b.messages(a.id)][-2:]
            assert tail == [b"vote", big2]
            assert b.p2p.send(a.id, CHAN_B, b"")  # an empty message is a message
            await a.wait_for(lambda _: a.messages(b.id)[-1].payload == b"")
            (pa,) = a.p2p.peers()
            (pb,) = b.p2p.peers()
            assert pa.node_id == b.id and pa.outbound and pa.persistent
            assert pb.node_id == a.id and not pb.outbound and not pb.persistent
            assert pa.remote_host == "127.0.0.1" and pa.remote_port == b.p2p.listen_address[1]
            assert pb.node_info.moniker == f"node-{a.id[:6]}" and pb.node_info.network == "egp-test-1"
            assert pb.node_info.listen_addr == f"127.0.0.1:{a.p2p.listen_address[1]}"
            assert pa.frames_sent >= 26 + 64 and pb.bytes_received > 4 * 1024 * 1024
            assert a.ups(b.id)[0].peer.node_id == b.id
        finally:
            await a.stop()
            await b.stop()

    run(main())


def test_three_nodes_broadcast_and_duplicate_dials_settle_on_one_connection() -> None:
    async def main() -> None:
        ks = [key(i) for i in range(3)]
        n0 = await start_node(ks[0], allowed=ks)
        n1 = await start_node(ks[1], allowed=ks, peers=[n0.addr])
        n2 = await start_node(ks[2], allowed=ks, peers=[n0.addr, n1.addr])
        nodes = [n0, n1, n2]
        try:
            for x in nodes:
                for y in nodes:
                    if x is not y:
                        await x.wait_connected(y.id)
            assert n0.p2p.broadcast(CHAN_A, b"hello", exclude={n2.id}) == 1
            assert n2.p2p.broadcast(CHAN_B, b"all") == 2
            await n1.wait_for(lambda _: {m.payload for m in n1.messages()} >= {b"hello", b"all"})
            await n0.wait_for(lambda _: [m.payload for m in n0.messages()] == [b"all"])
            assert all(m.payload != b"hello" for m in n2.messages())
        finally:
            for n in nodes:
                await n.stop()

    run(main())


def test_mutual_persistent_peers_settle_on_one_connection() -> None:
    async def main() -> None:
        ka, kb = key(3), key(4)
        b = await start_node(kb, allowed=[ka])
        b_port = b.p2p.listen_address[1]
        a = await start_node(ka, peers=[b.addr])
        await a.wait_connected(b.id)
        await b.stop()
        # b comes back listing a too: both dial each other
        b = await start_node(kb, peers=[a.addr], listen=f"127.0.0.1:{b_port}")
        try:
            await a.wait_for(lambda _: len(a.ups(b.id)) >= 2)
            await b.wait_connected(a.id)
            # the duplicate is resolved on both sides (however slow the machine), then held for a while
            await until(lambda: len(a.p2p.peers()) == 1 and len(b.p2p.peers()) == 1, timeout=30.0)
            (pa,) = a.p2p.peers()
            (pb,) = b.p2p.peers()
            assert pa.outbound != pb.outbound
            ups = len(a.ups(b.id))
            await asyncio.sleep(0.5)
            assert len(a.ups(b.id)) == ups and a.p2p.is_connected(b.id)  # stable, no flapping
            await exchange(a, b, b"mutual")
        finally:
            await a.stop()
            await b.stop()

    run(main())


def test_peer_not_on_the_allow_list_is_refused_and_others_keep_working(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "egp.p2p")

    async def main() -> None:
        a, b = await pair()
        stranger = await start_node(key(7), peers=[b.addr])
        try:
            await until(lambda: min(n.p2p.stats().connections_refused for n in (b, stranger)) >= 2)
            assert not b.p2p.is_connected(stranger.id) and not b.ups(stranger.id)
            assert b.p2p.stats().connections_refused >= 1 and b.p2p.stats().peers_dropped == 0
            assert not stranger.ups(b.id) and not stranger.p2p.peers()
            await exchange(a, b, b"after-stranger")
            stranger_id = stranger.id
        finally:
            await stranger.stop()
            await a.stop()
            await b.stop()
        mine = f"{stranger_id}: node {stranger_id} is not on the allow-list"
        theirs = f"{b.id} refused us: node {stranger_id} is not on the allow-list"
        assert mine in refusals(caplog) and theirs in refusals(caplog)

    run(main())


def test_wrong_key_at_the_dialled_address_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "egp.p2p")

    async def main() -> None:
        a_key, b_key, expected = key(0), key(1), key(9)
        b = await start_node(b_key, allowed=[a_key])
        host, port = b.p2p.listen_address
        a = await start_node(a_key, peers=[f"{nid(expected)}@{host}:{port}"])
        try:
            await until(lambda: a.p2p.stats().connections_refused >= 2 and b.p2p.stats().connections_refused >= 2)
            assert not a.p2p.peers() and not b.p2p.peers()
            assert not a.events and not b.events
            # the handshake itself authenticated b's real key: a raw handshake says who is there
            reader, writer = await asyncio.open_connection(host, port)
            conn = await handshake(reader, writer, a_key, NodeInfo("egp-test-1", "", "", ""), max_plaintext=4096,
                                   timeout=2)
            assert conn.remote_id == b.id != nid(expected)
            writer.close()
        finally:
            await a.stop()
            await b.stop()

    run(main())
    caught = refusals(caplog)
    wrong = f"wrong key: dialled {nid(key(9))}, the node there is {nid(key(1))}"
    assert f"{nid(key(1))}: {wrong}" in caught and f"{nid(key(0))} refused us: {wrong}" in caught


def test_network_mismatch_and_self_dial_are_refused(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "egp.p2p")

    async def main() -> None:
        a_key, b_key = key(0), key(1)
        b = await start_node(b_key, allowed=[a_key], network="other-chain")
        a = await start_node(a_key, peers=[b.addr])
        # a node that lists itself (a shared persistent_peers list: skipped), and an entry that leads to a node
        # with its own key (say, its own address under another ID)
        me = await start_node(key(2), allowed=[key(2)])
        host, port = me.p2p.listen_address
        me2 = await start_node(key(2), peers=[f"{me.id}@{host}:{port}", f"{nid(key(8))}@{host}:{port}"])
        try:
            await until(lambda: all(n.p2p.stats().connections_refused >= 1 for n in (a, b, me, me2)))
            assert not a.p2p.peers() and not b.p2p.peers()
            assert not me.p2p.peers() and not me2.p2p.peers() and not me.events
        finally:
            for n in (a, b, me, me2):
                await n.stop()

    run(main())
    caught = refusals(caplog)
    assert f"{nid(key(1))}: network mismatch: ours 'egp-test-1', theirs 'other-chain'" in caught
    assert f"{nid(key(2))}: connected to ourselves" in caught


def test_random_bytes_instead_of_a_handshake_are_refused(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "egp.p2p")

    async def main() -> None:
        a, b = await pair()
        try:
            host, port = b.p2p.listen_address
            http = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(100)
            low_order = b"EGPp2p\x00\x01" + bytes(32)  # right magic, all-zero (low-order) ephemeral key
            for junk in (os.urandom(4096), http, low_order):
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(junk)
                await writer.drain()
                await asyncio.wait_for(reader.read(), 5)  # b hangs up
                writer.close()
            await exchange(a, b, b"after-junk")
            assert len(b.p2p.peers()) == 1
            st = b.p2p.stats()
            assert (st.handshakes_failed, st.connections_refused, st.peers_dropped, st.peers) == (3, 0, 0, 1)
        finally:
            await a.stop()
            await b.stop()

    run(main())
    caught = refusals(caplog)
    assert caught.count("not an egp-chain p2p peer (bad magic)") == 2
    assert "peer sent a low-order ephemeral key" in caught


async def _hostile_after_handshake(payload: bytes | Callable[[SecretConnection], bytes], reason_part: str) -> None:
    a_key, b_key, rogue_key = key(0), key(1), key(5)
    b = await start_node(b_key, allowed=[a_key, rogue_key])
    a = await start_node(a_key, peers=[b.addr])
    try:
        await a.wait_connected(b.id)
        conn = await rogue_session(*b.p2p.listen_address, rogue_key)
        rogue_id = nid(rogue_key)
        await b.wait_for(lambda _: bool(b.ups(rogue_id)))
        conn.write(payload(conn) if callable(payload) else payload)
        await b.wait_for(lambda _: bool(b.downs(rogue_id)))
        (down,) = b.downs(rogue_id)
        assert reason_part in down.reason, down.reason
        await wait_closed(conn)
        await exchange(a, b, b"after-rogue")
        assert [p.node_id for p in b.p2p.peers()] == [a.id]
        st = b.p2p.stats()
        assert (st.peers_dropped, st.peers, st.inbound, st.outbound) == (1, 1, 1, 0)
        assert st.bytes_received > 0 and st.bytes_sent > 0
    finally:
        await a.stop()
        await b.stop()


def test_garbage_after_the_handshake_drops_only_that_peer() -> None:
    run(_hostile_after_handshake(struct.pack(">I", 100) + os.urandom(100), "failed authentication"))


def test_oversized_frame_drops_only_that_peer() -> None:
    run(_hostile_after_handshake(struct.pack(">I", 64 * 1024 * 1024) + os.urandom(64), "exceeds the limit"))


def test_unregistered_channel_and_bad_control_message_drop_the_peer() -> None:
    run(_hostile_after_handshake(lambda c: c.seal(b"\x77\x01payload"), "unregistered channel"))
    run(_hostile_after_handshake(lambda c: c.seal(b"\x00\x01\x09"), "unknown control message"))
    run(_hostile_after_handshake(lambda c: c.seal(b"\x00\x00"), "bad flags 0x00 on the control channel"))
    run(_hostile_after_handshake(lambda c: c.seal(bytes([CHAN_A, 0x03]) + b"x"), "unknown flags 0x03"))
    run(_hostile_after_handshake(lambda c: c.seal(b"\x20"), "short envelope"))


def test_message_reassembled_beyond_the_limit_drops_the_peer() -> None:
    def packets(c: SecretConnection) -> bytes:
        chunk = bytes([CHAN_A, 0]) + bytes(64 * 1024)
        return b"".join(c.seal(chunk) for _ in range(4 * 16 + 1))  # 4 MiB + 64 KiB, never EOF

    run(_hostile_after_handshake(packets, "exceeds 4194304 bytes"))


def test_silent_peer_is_dropped_after_the_idle_timeout() -> None:
    async def main() -> None:
        b = await start_node(key(1), allowed=[key(5)], idle_timeout=1.0, keepalive_interval=0.2)
        try:
            conn = await rogue_session(*b.p2p.listen_address, key(5))
            await b.wait_for(lambda _: bool(b.downs(nid(key(5)))), timeout=10)
            assert "nothing received" in b.downs(nid(key(5)))[0].reason
            conn.close()
        finally:
            await b.stop()

    run(main())


def test_upper_layer_disconnect_tells_the_peer_why_and_persistent_peer_is_redialled() -> None:
    async def main() -> None:
        a, b = await pair()
        try:
            b.p2p.disconnect(a.id, "undecodable vote")
            await a.wait_for(lambda _: bool(a.downs(b.id)))
            assert a.downs(b.id)[0].reason == "peer hung up: undecodable vote"
            await b.wait_for(lambda _: bool(b.downs(a.id)))
            # a dials b again (b is a persistent peer of a)
            await a.wait_for(lambda _: len(a.ups(b.id)) == 2)
            await exchange(a, b, b"again")
        finally:
            await a.stop()
            await b.stop()

    run(main())


def test_restarted_peer_is_reconnected_by_backoff() -> None:
    async def main() -> None:
        a, b = await pair()
        port = b.p2p.listen_address[1]
        try:
            await b.stop()
            await a.wait_for(lambda _: bool(a.downs(b.id)))
            await asyncio.sleep(0.3)  # a few failed dials
            b = await start_node(key(1), allowed=[key(0)], listen=f"127.0.0.1:{port}")
            await a.wait_for(lambda _: len(a.ups(b.id)) == 2)
            await b.wait_connected(a.id)
            await exchange(a, b, b"restarted")
            # event order per peer: up, down, up
            kinds = [type(e).__name__ for e in a.events if not hasattr(e, "payload")]
            assert kinds == ["PeerUp", "PeerDown", "PeerUp"]
        finally:
            await a.stop()
            await b.stop()

    run(main())


def test_allow_list_and_persistent_peers_can_change_at_run_time() -> None:
    async def main() -> None:
        b = await start_node(key(1))
        a = await start_node(key(0))
        try:
            host, port = b.p2p.listen_address
            a.p2p.dial(PeerAddress(b.id, host, port))
            await until(lambda: b.p2p.stats().connections_refused >= 1)
            assert not a.p2p.peers()  # b does not allow a yet
            b.p2p.set_allowed([a.id])
            await a.wait_connected(b.id)
            await exchange(a, b, b"allowed")
            b.p2p.set_allowed([])
            await a.wait_for(lambda _: bool(a.downs(b.id)))
            assert a.downs(b.id)[0].reason == "peer hung up: removed from the allow-list"
            refused = b.p2p.stats().connections_refused
            await until(lambda: b.p2p.stats().connections_refused > refused)  # a redials and is refused
            assert not a.p2p.is_connected(b.id) and len(a.ups(b.id)) == 1
        finally:
            await a.stop()
            await b.stop()

    run(main())


def test_peer_that_stops_reading_is_dropped_with_bounded_memory() -> None:
    async def main() -> None:
        rogue_key = key(5)
        b = await start_node(key(1), allowed=[rogue_key], write_timeout=1.0, idle_timeout=30.0)
        try:
            conn = await rogue_session(*b.p2p.listen_address, rogue_key)  # never reads from here on
            rid = nid(rogue_key)
            await b.wait_connected(rid)
            chunk = bytes(64 * 1024)
            budget = b.p2p.channels[CHAN_B].send_queue_bytes
            refused = 0
            while not b.downs(rid):
                if b.p2p.send(rid, CHAN_B, chunk):
                    for p in b.p2p.peers():
                        assert p.send_queue_bytes <= budget
                else:
                    refused += 1
                    await asyncio.sleep(0.01)
            assert refused > 0
            assert "peer stalled" in b.downs(rid)[0].reason
            conn.close()
        finally:
            await b.stop()

    run(main())


def test_full_channel_queue_refuses_instead_of_growing() -> None:
    async def main() -> None:
        from node.p2p import ChannelSpec

        a, b = await pair()
        try:
            peer = a.p2p._peers[b.id]
            peer._channels[CHAN_B] = ChannelSpec(priority=1, send_queue_bytes=10_000)
            # no await between sends: the writer cannot run, so the budget is what bounds the queue
            results = [a.p2p.send(b.id, CHAN_B, bytes(1000)) for _ in range(20)]
            assert results[:9] == [True] * 9 and not any(results[10:])
            assert a.p2p.peers()[0].sends_refused == sum(1 for r in results if not r) == a.p2p.stats().sends_refused
            assert a.p2p.send(b.id, CHAN_A, b"votes still go through")
            await b.wait_for(lambda _: any(m.payload == b"votes still go through" for m in b.messages()))
            assert not a.p2p.send("00" * 20, CHAN_A, b"nobody")
        finally:
            await a.stop()
            await b.stop()

    run(main())


def test_a_slow_consumer_bounds_the_inbox_in_bytes_and_loses_nothing() -> None:
    async def main() -> None:
        b = await start_node(key(1), allowed=[key(0)], collect=False, inbox_bytes=10_000)
        a = await start_node(key(0), peers=[b.addr])
        try:
            up = await asyncio.wait_for(b.p2p.recv(), 5)
            assert isinstance(up, PeerUp)
            for i in range(10):
                assert a.p2p.send(b.id, CHAN_A, bytes([i]) * 3000)
            await asyncio.sleep(0.5)
            assert b.p2p._inbox.qsize() == 3 and b.p2p._inbox_bytes == 9_000  # a 4th would exceed 10_000
            got = []
            for _ in range(10):
                ev = await asyncio.wait_for(b.p2p.recv(), 5)
                assert isinstance(ev, Message)
                got.append(ev.payload[0])
            assert got == list(range(10)) and b.p2p._inbox_bytes == 0
        finally:
            await a.stop()
            await b.stop()

    run(main())


def test_backoff_is_capped_and_jittered() -> None:
    import random

    rng = random.Random(1)
    delays = [backoff_delay(n, 0.5, 30.0, rng) for n in range(1, 12)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(15.0 <= d <= 30.0 for d in delays[7:])
    assert len({round(d, 6) for d in delays[7:]}) > 1  # jitter


def test_config_validation() -> None:
    import pytest

    from node.p2p import AddressError, parse_peers

    peers = parse_peers(f" {'ab' * 20}@10.0.0.1:26656, {'CD' * 20}@[::1]:26666 ,")
    assert [str(p) for p in peers] == [f"{'ab' * 20}@10.0.0.1:26656", f"{'cd' * 20}@[::1]:26666"]
    for bad in ("nohost", f"{'ab' * 20}@host", "zz@h:1", f"{'ab' * 20}@h:0", f"{'ab' * 20}@h:70000"):
        with pytest.raises(AddressError):
            parse_peers(bad)
    with pytest.raises(ValueError):
        P2PConfig(idle_timeout=1, keepalive_interval=2)
    with pytest.raises(ValueError, match="moniker is longer"):
        P2PConfig(moniker="x" * 65)
    cfg = P2PConfig(persistent_peers=peers, allowed_peer_ids=frozenset({"ee" * 20}))
    assert cfg.allow_set() == {"ab" * 20, "cd" * 20, "ee" * 20}
    assert isinstance(PeerDown("x", "y"), PeerDown)


@settings(max_examples=200, deadline=None)
@given(st.integers(1_000, 10_000_000), st.lists(st.tuples(st.integers(0, 200_000), st.floats(0, 0.5)), max_size=60))
def test_pacer_never_lets_more_than_burst_plus_rate_times_elapsed(rate: int, steps: list[tuple[int, float]]) -> None:
    from node.p2p.peer import make_pacer

    pacer = make_pacer(rate)
    assert pacer is not None
    now, spent = 0.0, 0
    for nbytes, idle in steps:
        spent += nbytes
        now += pacer.spend(now, nbytes)  # the caller waits as told ...
        assert spent <= pacer.burst + rate * now + 1e-6 * rate
        now += idle  # ... and may then stay idle
    assert make_pacer(0) is None


def test_rate_limited_peers_still_deliver_everything_in_order() -> None:
    async def main() -> None:
        b = await start_node(key(1), allowed=[key(0)], recv_rate=2_000_000)
        a = await start_node(key(0), peers=[b.addr], send_rate=2_000_000)
        try:
            await a.wait_connected(b.id)
            msgs = [os.urandom(100_000) for _ in range(8)]
            for m in msgs:
                assert a.p2p.send(b.id, CHAN_B, m)
            await b.wait_for(lambda _: len(b.messages(a.id)) == 8)
            assert [m.payload for m in b.messages(a.id)] == msgs
        finally:
            await a.stop()
            await b.stop()

    run(main())


def _reserve_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in socks]
    for s in socks:
        s.close()
    return ports


def test_full_mesh_started_at_once_settles_on_one_connection_per_pair() -> None:
    async def main() -> None:
        ks = [key(i) for i in range(3)]
        ports = _reserve_ports(3)
        addrs = [f"{nid(k)}@127.0.0.1:{p}" for k, p in zip(ks, ports, strict=True)]
        for _ in range(3):  # all dial each other at the same moment, three times over
            nodes = await asyncio.gather(*(
                start_node(k, peers=[a for a in addrs if a != addrs[i]], listen=f"127.0.0.1:{ports[i]}")
                for i, k in enumerate(ks)))
            try:
                for x in nodes:
                    for y in nodes:
                        if x is not y:
                            await x.wait_connected(y.id)
                await asyncio.sleep(0.5)
                ups = [len(x.events) for x in nodes]
                await asyncio.sleep(0.5)
                assert [len(x.events) for x in nodes] == ups  # settled: no more ups and downs
                for x in nodes:
                    mine = {p.node_id: p.outbound for p in x.p2p.peers()}
                    assert len(mine) == 2
                    for y in nodes:
                        if x is not y:
                            theirs = {p.node_id: p.outbound for p in y.p2p.peers()}
                            assert mine[y.id] != theirs[x.id]  # the same connection seen from both ends
            finally:
                for n in nodes:
                    await n.stop()

    run(main())


def test_a_running_peer_is_read_from_the_transport_callback_unless_paced() -> None:
    """Default config: a peer's bytes are taken in the transport's callback (`_PeerReader`) and its frames
    written without a writer task; with a receive or send rate, the paced stream reader and writer task."""
    from node.p2p.peer import _PeerReader

    async def main() -> None:
        for paced, expect_reader in ((False, True), (True, False)):
            extra = {"recv_rate": 2_000_000, "send_rate": 2_000_000} if paced else {}
            b = await start_node(key(1), allowed=[key(0)], **extra)
            a = await start_node(key(0), peers=[b.addr], **extra)
            try:
                await a.wait_connected(b.id)
                await b.wait_connected(a.id)
                await exchange(a, b, b"x")
                for node, other in ((a, b), (b, a)):
                    peer = node.p2p._peers[other.id]
                    protocol = peer.conn.writer.transport.get_protocol()
                    assert isinstance(protocol, _PeerReader) is expect_reader
                    assert peer._direct_write is not paced
            finally:
                await a.stop()
                await b.stop()

    run(main())


@pytest.mark.parametrize(("inbox_bytes", "hang_up_at_once"),
                         [(64 * 1024 * 1024, False), (2_500, False), (64 * 1024 * 1024, True), (2_500, True)])
def test_messages_sent_with_the_verdict_then_eof_all_arrive_before_peer_down(inbox_bytes: int,
                                                                             hang_up_at_once: bool) -> None:
    """The frames a peer writes together with its admission verdict are read ahead by the handshake's stream:
    they are delivered first, in order, then what follows; an EOF right behind them comes after the last
    message (PeerDown last), also when the inbox is full and the reader waits for room (a slow consumer),
    and when the peer hangs up right after its verdict (the EOF then reaches the stream before the peer runs)."""
    async def main() -> None:
        b_key, rogue_key = key(1), key(5)
        b = await start_node(b_key, allowed=[rogue_key], collect=False, inbox_bytes=inbox_bytes)
        try:
            reader, writer = await asyncio.open_connection(*b.p2p.listen_address)
            conn = await handshake(reader, writer, rogue_key, NodeInfo("egp-test-1", "rogue", "", "0"),
                                   max_plaintext=1 << 20, timeout=2)
            early = [bytes([i]) * 1000 for i in range(6)]
            conn.write(conn.seal(b"\x01") + b"".join(conn.seal(bytes([CHAN_A, 1]) + m) for m in early))
            late = [] if hang_up_at_once else [bytes([100 + i]) * 1000 for i in range(6)]
            if not hang_up_at_once:
                await conn.read_frame()  # b's verdict
            wire = b"".join(conn.seal(bytes([CHAN_B, 0]) + m[:400]) + conn.seal(bytes([CHAN_B, 1]) + m[400:])
                            for m in late)  # each in two packets, written a few bytes at a time
            for i in range(0, len(wire), 700):
                conn.write(wire[i : i + 700])
                await asyncio.sleep(0)
            writer.close()
            got: list[object] = []
            while not got or not isinstance(got[-1], PeerDown):
                got.append(await asyncio.wait_for(b.p2p.recv(), 5))
                if inbox_bytes < 10_000:
                    await asyncio.sleep(0.01)  # a slow consumer: the reader waits for room in between
            assert isinstance(got[0], PeerUp)
            assert [m.payload for m in got[1:-1]] == early + late  # type: ignore[attr-defined]
            assert "closed by peer" in got[-1].reason  # type: ignore[attr-defined]
            assert b.p2p._inbox_bytes == 0
        finally:
            await b.stop()

    run(main())

"""Tx gossip with a short wait (node/gossip.py `Gossip.queue_txs`): admitted txs are pushed a little later, in
one frame per peer for many txs; ours (from RPC) after `LOCAL_TXS_DELAY_S`, relayed ones (a peer sent them)
after `RELAYED_TXS_DELAY_S` when all are relays (else with the next own ones); never back to a peer known to
have them, including one that sent a tx during the wait. Whatever the topology (a line, a node with one peer,
a full mesh), every node gets every tx."""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from node.gossip import KNOWN_TXS, LOCAL_TXS_DELAY_S, RELAYED_TXS_DELAY_S, Gossip
from node.messages import TxsMsg
from node.recent import RecentSet
from state.codec import Record
from state.crypto import sha256


def _make(batch: list[bytes]) -> Record:
    return TxsMsg(tuple(batch))


def _items(*txs: bytes) -> list[tuple[bytes, bytes]]:
    return [(sha256(t), t) for t in txs]


def _gossip(*peers: str) -> tuple[Gossip, list[tuple[str, tuple[bytes, ...]]]]:
    """A Gossip with `peers` whose sends are recorded as (peer, the frame's txs)."""
    sent: list[tuple[str, tuple[bytes, ...]]] = []
    g = Gossip(lambda peer, msg: sent.append((peer, msg.txs)))  # type: ignore[attr-defined]
    for p in peers:
        g.add_peer(p)
    return g, sent


def test_own_txs_wait_a_little_and_go_as_one_frame_per_peer() -> None:
    async def main() -> None:
        g, sent = _gossip("a", "b")
        g.queue_txs(_items(b"t1", b"t2"), _make)
        g.queue_txs(_items(b"t3"), _make)
        assert sent == [] and g.queued_txs() == 3
        await asyncio.sleep(LOCAL_TXS_DELAY_S * 3)
        assert sorted(sent) == [("a", (b"t1", b"t2", b"t3")), ("b", (b"t1", b"t2", b"t3"))]
        assert g.queued_txs() == 0

    asyncio.run(main())


def test_relayed_txs_wait_longer_and_skip_whoever_has_them() -> None:
    async def main() -> None:
        g, sent = _gossip("a", "b", "c")
        g.mark_tx("a", sha256(b"r1"))
        g.mark_tx("a", sha256(b"r2"))
        g.queue_txs(_items(b"r1", b"r2"), _make)  # relays only: r1, r2 came from a
        due = g.push_due_in()
        assert sent == [] and g.queued_txs() == 2 and due is not None and due > LOCAL_TXS_DELAY_S
        g.mark_tx("b", sha256(b"r2"))  # b relays r2 to us meanwhile
        await asyncio.sleep(RELAYED_TXS_DELAY_S * 2)
        assert sorted(sent) == [("b", (b"r1",)), ("c", (b"r1", b"r2"))]  # never back to a; r2 not to b

    asyncio.run(main())


def test_relayed_txs_ride_in_the_frames_of_the_next_own_txs() -> None:
    async def main() -> None:
        g, sent = _gossip("a", "b", "c")
        g.mark_tx("a", sha256(b"r1"))
        g.queue_txs(_items(b"r1"), _make)  # a relay: due after RELAYED_TXS_DELAY_S
        g.queue_txs(_items(b"own"), _make)  # an own tx: the push comes after LOCAL_TXS_DELAY_S, with both
        due = g.push_due_in()
        assert due is not None and due <= LOCAL_TXS_DELAY_S
        await asyncio.sleep(LOCAL_TXS_DELAY_S * 3)
        assert sorted(sent) == [("a", (b"own",)), ("b", (b"r1", b"own")), ("c", (b"r1", b"own"))]
        assert g.queued_txs() == 0
        sent.clear()
        await asyncio.sleep(RELAYED_TXS_DELAY_S * 2)  # the relay's later push was taken over: nothing more
        assert sent == []

    asyncio.run(main())


def test_known_set_keeps_the_most_recent_half_of_its_limit_at_least_and_its_limit_at_most() -> None:
    @settings(max_examples=200, deadline=None)
    @given(st.integers(2, 40), st.lists(st.integers(0, 60), max_size=300))
    def check(limit: int, keys: list[int]) -> None:
        ks = RecentSet(limit // 2)  # as a peer's known set is made (below)
        added: list[bytes] = []
        for k in keys:
            key = k.to_bytes(2, "big")
            ks.add(key)
            added.append(key)
            assert len(ks) <= limit
            recent = []
            for x in reversed(added):  # the last limit // 2 distinct keys added are all there
                if x not in recent:
                    recent.append(x)
                if len(recent) == limit // 2:
                    break
            assert all(x in ks for x in recent)
        assert all(k not in ks for k in (b"\xff\xff", b"", b"x"))  # nothing that was never added

    check()
    g, _ = _gossip("a")
    assert g.peers["a"].known_txs.size == KNOWN_TXS // 2


def test_flush_pushes_at_once_and_without_a_loop_it_is_immediate() -> None:
    g, sent = _gossip("a")
    g.queue_txs(_items(b"x"), _make)  # no running loop: pushed now
    assert sent == [("a", (b"x",))]

    async def main() -> None:
        g.queue_txs(_items(b"y"), _make)
        g.mark_tx("a", sha256(b"z"))
        g.queue_txs(_items(b"z"), _make)
        assert sent == [("a", (b"x",))]
        g.flush_txs()
        assert sent == [("a", (b"x",)), ("a", (b"y",))] and g.queued_txs() == 0
        await asyncio.sleep(RELAYED_TXS_DELAY_S * 2)  # the cancelled timers push nothing more
        assert len(sent) == 2

    asyncio.run(main())


class _Net:
    """Nodes wired by `links`: a node that receives a frame marks the sender, keeps the fresh txs and queues
    them for gossip (as node/inbound.py `on_txs` and the admission's `on_admitted` do)."""

    def __init__(self, n: int, links: list[tuple[int, int]]) -> None:
        self.have: list[set[bytes]] = [set() for _ in range(n)]
        self.frames = 0
        self.back_to_sender = 0
        self.got_from: list[dict[bytes, int]] = [{} for _ in range(n)]
        self.gossip = [Gossip(self._sender(i)) for i in range(n)]
        for a, b in links:
            self.gossip[a].add_peer(str(b))
            self.gossip[b].add_peer(str(a))

    def _sender(self, i: int):  # type: ignore[no-untyped-def]
        def send(peer: str, msg: Record) -> None:
            self.frames += 1
            asyncio.get_running_loop().call_soon(self.receive, int(peer), i, msg.txs)  # type: ignore[attr-defined]
        return send

    def receive(self, me: int, frm: int, txs: tuple[bytes, ...]) -> None:
        fresh = []
        for tx in txs:
            h = sha256(tx)
            if self.got_from[frm].get(h) == me:
                self.back_to_sender += 1
            self.gossip[me].mark_tx(str(frm), h)
            if tx not in self.have[me]:
                self.have[me].add(tx)
                self.got_from[me][h] = frm
                fresh.append((h, tx))
        if fresh:
            self.gossip[me].queue_txs(fresh, _make)

    def rpc(self, node: int, txs: list[bytes]) -> None:
        self.have[node].update(txs)
        self.gossip[node].queue_txs(_items(*txs), _make)


def _spread(n: int, links: list[tuple[int, int]], origins: list[int]) -> _Net:
    async def main() -> _Net:
        net = _Net(n, links)
        for k, node in enumerate(origins):
            net.rpc(node, [f"tx{k}-{j}".encode() for j in range(5)])
            await asyncio.sleep(0.003)
        await asyncio.sleep((LOCAL_TXS_DELAY_S + RELAYED_TXS_DELAY_S * n) * 2)
        return net

    return asyncio.run(main())


def test_every_node_gets_every_tx_in_a_line_and_on_a_single_link() -> None:
    every = {f"tx{k}-{j}".encode() for k in range(3) for j in range(5)}
    line = _spread(4, [(0, 1), (1, 2), (2, 3)], [0, 3, 1])
    assert all(have == every for have in line.have) and line.back_to_sender == 0
    star = _spread(4, [(0, 1), (0, 2), (0, 3)], [1, 2, 0])  # leaves with one peer each
    assert all(have == every for have in star.have) and star.back_to_sender == 0


def test_a_full_mesh_sends_each_tx_batch_in_few_frames() -> None:
    every = {f"tx{k}-{j}".encode() for k in range(4) for j in range(5)}
    mesh = _spread(4, [(a, b) for a in range(4) for b in range(a + 1, 4)], [0, 1, 2, 3])
    assert all(have == every for have in mesh.have) and mesh.back_to_sender == 0
    # each origin: 3 frames of its own txs; each of the 3 others relays them to at most 2 peers
    assert mesh.frames <= 4 * (3 + 3 * 2)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 40), known=st.lists(st.sets(st.integers(0, 39)), min_size=1, max_size=4),
       frame_txs=st.integers(1, 8))
def test_peers_that_get_the_same_txs_get_the_same_message(n: int, known: list[set[int]], frame_txs: int) -> None:
    """`push_txs` makes one message per distinct frame: peers whose frame holds the very same txs share the
    object (encoded once); each peer still gets exactly the txs it is not known to have, in order, in frames of
    at most `MAX_BATCH_TXS`, and is then known to have them."""
    import node.gossip as gossip

    txs = [b"tx%d" % i for i in range(n)]
    items = _items(*txs)
    sent: list[tuple[str, Record]] = []
    g = Gossip(lambda peer, msg: sent.append((peer, msg)))
    peers = [f"p{i}" for i in range(len(known))]
    for p, ks in zip(peers, known, strict=True):
        g.add_peer(p)
        for k in ks:
            if k < n:
                g.mark_tx(p, items[k][0])
    made: list[list[bytes]] = []

    def make(batch: list[bytes]) -> Record:
        made.append(list(batch))
        return TxsMsg(tuple(batch))

    old, gossip.MAX_BATCH_TXS = gossip.MAX_BATCH_TXS, frame_txs
    try:
        g.push_txs(items, make)
    finally:
        gossip.MAX_BATCH_TXS = old
    for p, ks in zip(peers, known, strict=True):
        frames = [m.txs for q, m in sent if q == p]  # type: ignore[attr-defined]
        assert [t for f in frames for t in f] == [t for i, t in enumerate(txs) if i not in ks]
        assert all(0 < len(f) <= frame_txs for f in frames)
        assert all(h in g.known_txs_of(p) for h, _ in items)  # type: ignore[operator]
    for a, b in itertools.pairwise(peers):  # a peer's frame equal to the previous peer's is the same object
        fa = [m for q, m in sent if q == a]
        fb = [m for q, m in sent if q == b]
        for ma, mb in zip(fa, fb, strict=False):
            if ma.txs == mb.txs:  # type: ignore[attr-defined]
                assert ma is mb
    assert len(made) <= len(sent)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.lists(st.sampled_from(["own", "a", "b"]), max_size=3)),
                min_size=1, max_size=12))
def test_the_push_is_due_as_the_delays_say(steps: list[tuple[int, list[str]]]) -> None:
    """Whatever batches come when (own txs, relays from peer a or b, mixed, empty), the push is due at the
    earliest of: each batch's time + `LOCAL_TXS_DELAY_S` if it holds a tx no peer is known to have, else +
    `RELAYED_TXS_DELAY_S` (a batch that cannot move the due push is not classified: the same times)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        clock = [loop.time()]
        loop.time = lambda: clock[0]  # type: ignore[method-assign]  (a clock the test moves)
        g, _ = _gossip("a", "b", "c")
        want: float | None = None
        n = 0
        for ms, kinds in steps:
            clock[0] += ms / 1000
            if want is not None and clock[0] >= want:  # the push ran (by the model's time): start over
                g.flush_txs()
                want = None
            items = []
            for kind in kinds:
                n += 1
                tx = b"tx%d" % n
                if kind != "own":
                    g.mark_tx(kind, sha256(tx))
                items.append((sha256(tx), tx))
            g.queue_txs(items, _make)
            if g.queued_txs():
                own = any(kind == "own" for kind in kinds)
                due = clock[0] + (LOCAL_TXS_DELAY_S if own else RELAYED_TXS_DELAY_S)
                want = due if want is None else min(want, due)
            got = g.push_due_in()
            assert (got is None) == (want is None)
            if got is not None and want is not None:
                assert abs(got - (want - clock[0])) < 1e-9
        g.flush_txs()

    asyncio.run(main())

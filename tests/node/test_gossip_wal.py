"""Gossip bookkeeping (one copy per link, catch-up of peers behind) and the consensus WAL on real LevelDB."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from node import gossip
from node.gossip import Gossip
from node.messages import BlockResponseMsg, ProposalMsg, StatusMsg, TxsMsg, VoteMsg
from node.wal import ConsensusWAL
from state.codec import Record
from state.kv_level import LevelKV


def vote(h: int, r: int, who: int, value: bytes | None = b"\x01" * 32) -> VoteMsg:
    return VoteMsg(1, h, r, value, bytes([who]) * 20, 1000 + who, b"\x05" * 64)


def prop(h: int, r: int) -> ProposalMsg:
    return ProposalMsg(h, r, -1, b"\x01" * 32, b"\x02" * 20, 5, b"\x03" * 64, b"block")


class Wire:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Record]] = []

    def __call__(self, peer: str, msg: Record) -> None:
        self.sent.append((peer, msg))

    def to(self, peer: str) -> list[Record]:
        return [m for p, m in self.sent if p == peer]


def test_a_vote_goes_once_to_each_peer_and_never_back_to_its_sender() -> None:
    w = Wire()
    g = Gossip(w)
    for p in ("a", "b", "c"):
        g.add_peer(p)
    v = vote(5, 0, 1)
    g.mark_vote("a", v)  # received from a
    g.push_vote(v)
    g.push_vote(v)
    assert w.to("a") == [] and w.to("b") == [v] and w.to("c") == [v]


def test_txs_are_batched_per_peer_without_known_ones() -> None:
    w = Wire()
    g = Gossip(w)
    g.add_peer("a")
    g.add_peer("b")
    g.mark_tx("a", b"h1")
    g.push_txs([(b"h1", b"tx1"), (b"h2", b"tx2")], lambda txs: TxsMsg(tuple(txs)))
    assert w.to("a") == [TxsMsg((b"tx2",))]
    assert w.to("b") == [TxsMsg((b"tx1", b"tx2"))]


def test_catch_up_sends_a_same_height_peer_what_it_lacks_and_a_lower_peer_the_block() -> None:
    w = Wire()
    g = Gossip(w)
    g.on_status("same", StatusMsg(7, 0, 1, 1, 6))
    g.on_status("behind", StatusMsg(5, 0, 0, 1, 4))
    votes = [vote(7, 0, i) for i in range(3)]
    g.mark_vote("same", votes[0])
    resp = BlockResponseMsg(5, b"b", b"c")
    g.catch_up(7, [prop(7, 0)], votes, lambda h: resp if h == 5 else None)
    assert w.to("same") == [prop(7, 0), votes[1], votes[2]]
    assert w.to("behind") == [resp]
    g.catch_up(7, [prop(7, 0)], votes, lambda h: resp)
    assert len(w.to("same")) == 3 and len(w.to("behind")) == 1  # nothing twice (block re-sent only later)


def test_a_peer_one_height_behind_gets_the_block_only_once_it_stopped_moving(monkeypatch: pytest.MonkeyPatch) -> None:
    """One height behind is what a peer looks like while it commits that block (it sends no status meanwhile):
    the block goes to it only when its status has not moved for STUCK_RESEND_S."""
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])  # the clock node/gossip.py reads
    w = Wire()
    g = Gossip(w)
    g.on_status("late", StatusMsg(6, 0, 3, 1, 5))
    resp = BlockResponseMsg(6, b"b", b"c")
    g.catch_up(7, [], [], lambda h: resp)
    assert w.to("late") == []
    now[0] += gossip.STUCK_RESEND_S - 0.1
    g.on_status("late", StatusMsg(6, 0, 3, 1, 5))  # the same status again: no progress
    g.catch_up(7, [], [], lambda h: resp)
    assert w.to("late") == []
    now[0] += 0.2
    g.catch_up(7, [], [], lambda h: resp)
    assert w.to("late") == [resp]


def test_peers_with_block_and_max_height() -> None:
    g = Gossip(Wire())
    g.on_status("a", StatusMsg(11, 0, 0, 1, 10))
    g.on_status("b", StatusMsg(4, 0, 0, 2, 3))
    assert g.max_peer_store_height() == 10
    assert g.peers_with_block(3) == ["a", "b"] and g.peers_with_block(8) == ["a"] and g.peers_with_block(1) == ["a"]


def test_wal_replays_the_current_height_and_forgets_finished_ones(tmp_path: Path) -> None:
    kv = LevelKV(tmp_path / "db")
    wal = ConsensusWAL(kv.prefixed(b"wal/"))
    wal.start_height(3)
    wal.append(3, prop(3, 0), sync=False)  # a peer's: held until our next own record
    assert list(kv.prefixed(b"wal/").iterate()) == [] and wal.replay(3) == [prop(3, 0)]
    wal.append(3, vote(3, 0, 1), sync=True)  # ours: stored and synced with what was held, in order
    wal.append(3, vote(3, 0, 2), sync=False)  # a peer's after our last: held, lost to a restart
    wal.append(4, vote(4, 0, 1), sync=False)  # not the current height: ignored
    assert wal.replay(3) == [prop(3, 0), vote(3, 0, 1), vote(3, 0, 2)]
    kv.close()
    kv = LevelKV(tmp_path / "db")  # a restart
    wal = ConsensusWAL(kv.prefixed(b"wal/"))
    assert wal.replay(3) == [prop(3, 0), vote(3, 0, 1)]
    wal.start_height(3)
    wal.append(3, vote(3, 1, 2), sync=True)  # numbering continues after what is stored
    assert wal.replay(3)[-1] == vote(3, 1, 2) and len(wal.replay(3)) == 3
    kv.prefixed(b"wal/").put(b"\x00" * 7 + b"\x03" + b"\x00\x00\x00\x09", b"\xc1garbage")  # a torn record
    assert len(wal.replay(3)) == 3  # skipped, not fatal
    wal = ConsensusWAL(kv.prefixed(b"wal/"))  # (a torn record is what a crash leaves: the WAL is opened again)
    wal.start_height(3)
    wal.append(3, vote(3, 1, 3), sync=True)  # numbered after the torn record
    assert [k[-1] for k, _ in kv.prefixed(b"wal/").iterate()] == [0, 1, 2, 9, 10]
    wal.start_height(4)
    assert wal.replay(3) == []
    wal.append(4, vote(4, 0, 1), sync=True)  # the records of 3 go in this write's batch
    assert [k[7] for k, _ in kv.prefixed(b"wal/").iterate()] == [4]
    wal.append(4, vote(4, 0, 2), sync=False)
    wal.start_height(5)  # the next height: the records of 4 are deleted by key, without a scan
    assert wal.replay(4) == []  # (the held one of 4 is dropped, never written)
    wal.append(5, vote(5, 0, 1), sync=True)
    assert wal.replay(4) == [] and wal.replay(5) == [vote(5, 0, 1)]
    assert [k for k, _ in kv.prefixed(b"wal/").iterate()] == [b"\x00" * 7 + b"\x05" + b"\x00" * 4]
    kv.close()


def test_wal_holds_at_most_hold_max_peer_records(tmp_path: Path) -> None:
    """Past `HOLD_MAX` held records they are written (unsynced), so a long height cannot grow the hold."""
    from node import wal as walmod

    kv = LevelKV(tmp_path / "db")
    wal = ConsensusWAL(kv.prefixed(b"wal/"))
    wal.start_height(2)
    msgs = [vote(2, r, 1 + r % 200) for r in range(walmod.HOLD_MAX + 3)]
    for m in msgs:
        wal.append(2, m, sync=False)
    assert len(list(kv.prefixed(b"wal/").iterate())) == walmod.HOLD_MAX
    assert wal.replay(2) == msgs
    kv.close()


def test_a_peer_that_connects_later_gets_the_pending_txs_once() -> None:
    """A tx admitted while a node had no peers (a non-validator whose links were down) must still reach
    the validators: the mempool is offered to each peer as it connects, without what it already has."""
    w = Wire()
    g = Gossip(w)
    txs = [(bytes([i]) * 32, b"tx%d" % i) for i in range(3)]
    g.push_txs(txs[:2], lambda batch: TxsMsg(tuple(batch)))  # nobody connected: nothing sent
    assert w.sent == []
    g.add_peer("v1")
    g.push_txs_to("v1", txs, lambda batch: TxsMsg(tuple(batch)))
    g.push_txs_to("v1", txs, lambda batch: TxsMsg(tuple(batch)))
    g.push_txs_to("gone", txs, lambda batch: TxsMsg(tuple(batch)))
    assert w.to("v1") == [TxsMsg((b"tx0", b"tx1", b"tx2"))] and w.to("gone") == []

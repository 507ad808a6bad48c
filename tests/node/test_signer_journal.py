"""The signer's state rides in the consensus WAL's synced write of our own message (node/privval.py, "Journaled
mode"): one synced write per signature instead of two, and still durable before the message leaves the node.

A real node built from an `egp testnet` home (real LevelDB, real state file), its votes signed and sent as the
executor does (`sign_vote`, then `broadcast_vote`); and FilePV alone for the rules that need no node.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from consensus.sign_bytes import vote_sign_bytes
from consensus.types import Vote, VoteType
from node import privval
from node.assemble import NS_WAL, Running, build
from node.messages import VoteMsg
from node.privval import FilePV, LastSignState, load_state, state_from_text, state_text
from node.testnet import make_testnet
from node.wal import SIGNER_KEY, ConsensusWAL
from state.crypto import PrivateKey, save_priv_validator_key, sha256
from state.kv import MemoryKV

CHAIN = "egp-journal"
A, B = b"\xaa" * 32, b"\xbb" * 32


def _home(tmp_path: Path) -> Path:
    nodes = make_testnet(tmp_path / "net", validators=4, chain_id=CHAIN, starting_port=29750)
    return nodes[0].home.root


async def _close(run: Running) -> None:
    await run.node.stop()
    run.kv.close()


def _sign_and_send(run: Running, v: Vote) -> Vote:
    """What the executor does with a SignVote action: the signer, then the transport port."""
    pv = run.node.signer
    assert isinstance(pv, FilePV)
    signed = pv.sign_vote(v)
    assert signed is not None
    run.node.broadcast_vote(signed)
    return signed


def test_a_signature_is_durable_in_the_wal_batch_before_its_vote_is_sent(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """No fsync of the state file per signature; the WAL's record holds the new state when gossip gets the vote
    (the batch that stores the vote, synced); the file follows it."""
    home = _home(tmp_path)

    async def go() -> None:
        run = await build(home)
        node = run.node
        node.enter_consensus()
        pv = node.signer
        assert isinstance(pv, FilePV) and pv.journaled and node.wal is not None
        h = node.core.height
        seen_at_send: list[bytes | None] = []
        pushed = node.gossip.push_vote
        monkeypatch.setattr(node.gossip, "push_vote", lambda m: (seen_at_send.append(node.wal.signer_state()),
                                                                 pushed(m))[1])
        fsynced: list[int] = []
        real = os.fsync
        monkeypatch.setattr(os, "fsync", lambda fd: (fsynced.append(fd), real(fd))[1])
        signed = _sign_and_send(run, Vote(VoteType.PREVOTE, h, 5, A, b"", 1000))
        monkeypatch.setattr(os, "fsync", real)
        assert not fsynced  # (LevelDB's own sync is not os.fsync: it is in the batch's commit)
        want = LastSignState(h, 5, 2, signed.signature, vote_sign_bytes(CHAIN, signed))
        assert seen_at_send == [state_text(want).encode()] and pv.state == want
        assert load_state(pv.state_path) == want  # the mirror, written before the vote left
        assert any(isinstance(m, VoteMsg) and m.signature == signed.signature for m in node.wal.replay(h))
        await _close(run)

    asyncio.run(go())


def test_a_state_file_left_behind_is_taken_back_from_the_wals_record(tmp_path: Path) -> None:
    """A power failure lost the file's unsynced writes (it says an older step) and the height's WAL records are
    gone (as when a later height's write deleted them), so `FilePV.recover` finds nothing; the WAL's signer
    record is above the file: the restarted node takes it back (durably) before it signs, and a conflicting
    vote is then refused."""
    home = _home(tmp_path)

    async def go() -> None:
        run = await build(home)
        node = run.node
        node.enter_consensus()
        h = node.core.height
        pv = node.signer
        assert isinstance(pv, FilePV)
        _sign_and_send(run, Vote(VoteType.PREVOTE, h, 7, A, b"", 1000))
        old = pv.state_path.read_bytes()
        precommit = _sign_and_send(run, Vote(VoteType.PRECOMMIT, h, 7, A, b"", 1000))
        path = pv.state_path
        node.stopping = True
        wal_kv = run.kv.prefixed(NS_WAL)
        for k, _ in list(wal_kv.iterate(prefix=h.to_bytes(8, "big"))):  # the height's records, not the state's
            wal_kv.delete(k)
        assert wal_kv.get(SIGNER_KEY) is not None and ConsensusWAL(wal_kv).replay(h) == []
        run.kv.close()  # (no clean stop: `sync_file` would write the file)
        path.write_bytes(old)

        run = await build(home)
        pv = run.node.signer
        assert isinstance(pv, FilePV)
        assert (pv.state.height, pv.state.round, pv.state.step) == (h, 7, 3)
        assert load_state(path) == pv.state
        assert pv.sign_vote(Vote(VoteType.PRECOMMIT, h, 7, B, b"", 1000)) is None  # what the record prevents
        again = pv.sign_vote(Vote(VoteType.PRECOMMIT, h, 7, A, b"", 2000))
        assert again is not None and again.signature == precommit.signature
        await _close(run)
        assert load_state(path) == pv.state  # a clean stop leaves the file durable and current

    asyncio.run(go())


def _signed_and_crashed(home: Path) -> tuple[Path, bytes, tuple[int, int, int]]:
    """A node that signed a prevote and a precommit at its height, then lost its process (no clean stop): the
    state file's path, its bytes after the prevote, and the (height, round, step) the WAL's record holds."""
    out: list[tuple[Path, bytes, tuple[int, int, int]]] = []

    async def go() -> None:
        run = await build(home)
        node = run.node
        node.enter_consensus()
        h = node.core.height
        pv = node.signer
        assert isinstance(pv, FilePV)
        _sign_and_send(run, Vote(VoteType.PREVOTE, h, 7, A, b"", 1000))
        old = pv.state_path.read_bytes()
        _sign_and_send(run, Vote(VoteType.PRECOMMIT, h, 7, A, b"", 1000))
        node.stopping = True
        run.kv.close()
        out.append((pv.state_path, old, (h, 7, 3)))

    asyncio.run(go())
    return out[0]


def test_a_torn_state_file_is_taken_back_from_the_wals_record_at_start(tmp_path: Path) -> None:
    """A power failure tore the file the journaled mode writes without fsync (here: emptied, then garbage): the
    node does not refuse to start on it when the WAL's synced record holds the state; it writes that record
    to the file, durably, before the signer opens."""
    home = _home(tmp_path)
    path, _, hrs = _signed_and_crashed(home)
    for torn in (b"", b'{"height": "1", "rou'):
        path.write_bytes(torn)

        async def go() -> None:
            run = await build(home)
            pv = run.node.signer
            assert isinstance(pv, FilePV)
            assert (pv.state.height, pv.state.round, pv.state.step) == hrs
            assert load_state(path) == pv.state
            await _close(run)

        asyncio.run(go())


def test_reset_takes_the_wals_signer_record_into_the_file_before_wiping_data(tmp_path: Path) -> None:
    """`egp reset` keeps the signer state but wipes data/, and with it the WAL's copy: a file left behind by a
    power failure must take that copy first, or the kept state would not cover what the key signed."""
    from node.home import Home, reset_home

    home = _home(tmp_path)
    path, old, hrs = _signed_and_crashed(home)
    path.write_bytes(old)  # the file as a power failure can leave it: the prevote's state
    reset_home(Home(home))
    st = load_state(path)
    assert (st.height, st.round, st.step) == hrs
    assert privval.take_back_journal(path, None) is None
    assert privval.take_back_journal(path, state_text(LastSignState(1, 0, 1)).encode()) is None  # below: kept
    assert load_state(path) == st


@pytest.fixture
def pv(tmp_path: Path) -> FilePV:
    key_path = tmp_path / "config" / "priv_validator_key.json"
    save_priv_validator_key(key_path, PrivateKey.from_seed(sha256(b"journal bank")))
    signer = FilePV.load(key_path, tmp_path / "data" / "priv_validator_state.json", CHAIN)
    signer.journal_in_wal()
    return signer


def test_a_pending_state_is_made_durable_before_the_next_signature(pv: FilePV, monkeypatch: pytest.MonkeyPatch) -> None:
    """A signature whose message never reached the WAL (the caller did not take its state): the next signature
    first writes it durably (temp file, fsync, rename), so the guard never relies on a write that did not happen."""
    first = pv.sign_vote(Vote(VoteType.PREVOTE, 3, 0, A, b"", 1000))
    assert first is not None and pv.pending == pv.state
    assert load_state(pv.state_path).height == 0  # not written by the signature itself
    fsynced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsynced.append(fd), real(fd))[1])
    second = pv.sign_vote(Vote(VoteType.PRECOMMIT, 3, 0, A, b"", 1000))
    assert second is not None and len(fsynced) == 1
    assert load_state(pv.state_path).step == 2  # the first one's state, durable
    taken = pv.take_pending()
    assert taken is not None and taken.step == 3 and pv.take_pending() is None


def test_the_wal_stores_the_state_only_with_a_synced_record_of_its_height() -> None:
    """`append` returns True only when a synced write stored the message and the state; the key is never met
    by the height scans and survives the deletes of finished heights."""
    kv = MemoryKV()
    wal = ConsensusWAL(kv)
    wal.start_height(4)
    vote = VoteMsg.of(Vote(VoteType.PREVOTE, 4, 0, A, b"\x01" * 20, 1000, b"\x02" * 64))
    st = state_text(LastSignState(4, 0, 2, b"\x02" * 64, b"sb")).encode()
    assert wal.append(5, vote, sync=True, signer_state=st) is False and wal.signer_state() is None
    assert wal.append(4, vote, sync=False, signer_state=st) is False and wal.signer_state() is None
    assert wal.append(4, vote, sync=True, signer_state=st) is True and wal.signer_state() == st
    assert state_from_text(st).height == 4
    wal.start_height(5)
    wal.append(5, vote, sync=True)
    assert wal.replay(4) == [] and len(wal.replay(5)) == 1 and kv.get(SIGNER_KEY) == st
    other = ConsensusWAL(kv)
    other.start_height(9)  # the general case: a scan deleting every height below
    assert kv.get(SIGNER_KEY) == st and other.replay(9) == []


def test_the_mirror_writes_the_file_in_place_and_follows_a_whole_file_write(pv: FilePV,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The mirror overwrites the file where it is (same inode, 512 bytes, JSON with trailing spaces, read back
    as the state); a whole-file write (temp file + rename) in between is followed by the next mirror, not lost
    on the old inode; a text longer than the slot replaces the whole file instead."""
    path = pv.state_path
    s1 = pv.sign_vote(Vote(VoteType.PREVOTE, 3, 0, A, b"", 1000))
    assert s1 is not None
    first = pv.take_pending()
    assert first is not None
    pv.mirror(first)
    ino = os.stat(path).st_ino
    assert os.path.getsize(path) == privval.MIRROR_BYTES and load_state(path) == first
    second_vote = pv.sign_vote(Vote(VoteType.PRECOMMIT, 3, 0, A, b"", 1000))
    assert second_vote is not None
    second = pv.take_pending()
    assert second is not None
    pv.mirror(second)
    assert os.stat(path).st_ino == ino and load_state(path) == second
    pv.persist(second)  # a whole-file write: a new inode
    assert os.stat(path).st_ino != ino
    third_vote = pv.sign_vote(Vote(VoteType.PREVOTE, 4, 0, A, b"", 1000))
    assert third_vote is not None
    third = pv.take_pending()
    assert third is not None
    pv.mirror(third)
    assert load_state(path) == third  # the new file, not the old inode
    monkeypatch.setattr(privval, "MIRROR_BYTES", 64)
    fourth_vote = pv.sign_vote(Vote(VoteType.PRECOMMIT, 4, 0, A, b"", 1000))
    assert fourth_vote is not None
    fourth = pv.take_pending()
    assert fourth is not None
    pv.mirror(fourth)
    assert path.read_text() == state_text(fourth) and load_state(path) == fourth
    pv.sync_file()
    assert load_state(path) == fourth

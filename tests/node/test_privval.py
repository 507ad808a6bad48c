"""The signer guard: monotonic height/round/step, idempotent re-signing, conflicts refused, durable across kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consensus.sign_bytes import proposal_sign_bytes, vote_sign_bytes
from consensus.types import Proposal, Vote, VoteType
from node.privval import DoubleSignError, FilePV, SignerStateError, load_state
from state.crypto import PrivateKey, save_priv_validator_key, sha256

CHAIN = "egp-test"
A, B = b"\xaa" * 32, b"\xbb" * 32
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    key_path = tmp_path / "config" / "priv_validator_key.json"
    save_priv_validator_key(key_path, PrivateKey.from_seed(sha256(b"bank")))
    return key_path, tmp_path / "data" / "priv_validator_state.json"


def vote(h: int, r: int, value: bytes | None, t: VoteType = VoteType.PREVOTE, ts: int = 1000) -> Vote:
    return Vote(t, h, r, value, b"", ts)


def test_signs_and_persists_before_returning(files: tuple[Path, Path]) -> None:
    pv = FilePV.load(*files, CHAIN)
    signed = pv.sign_vote(vote(1, 0, A))
    assert signed is not None and signed.validator == pv.address
    assert pv.key.public_key.verify(vote_sign_bytes(CHAIN, signed), signed.signature)
    on_disk = load_state(files[1])
    assert (on_disk.height, on_disk.round, on_disk.step) == (1, 0, 2)
    assert on_disk.signature == signed.signature
    assert on_disk.sign_bytes == vote_sign_bytes(CHAIN, signed)
    assert os.stat(files[1]).st_mode & 0o077 == 0
    doc = json.loads(files[1].read_text())
    assert doc["height"] == "1" and doc["step"] == 2


def test_same_request_returns_the_stored_signature(files: tuple[Path, Path]) -> None:
    pv = FilePV.load(*files, CHAIN)
    first = pv.sign_vote(vote(3, 1, A))
    again = pv.sign_vote(vote(3, 1, A))
    assert first is not None and again == first
    later = pv.sign_vote(vote(3, 1, A, ts=9999))  # only the timestamp differs: the stored vote comes back
    assert later is not None and later.signature == first.signature and later.timestamp_ms == first.timestamp_ms


def test_conflicts_and_regressions_are_refused(files: tuple[Path, Path]) -> None:
    pv = FilePV.load(*files, CHAIN)
    assert pv.sign_vote(vote(5, 2, A, VoteType.PRECOMMIT)) is not None
    refused = [
        vote(5, 2, B, VoteType.PRECOMMIT),  # same HRS, another value
        vote(5, 2, None, VoteType.PRECOMMIT),  # same HRS, nil
        vote(5, 2, A, VoteType.PREVOTE),  # lower step
        vote(5, 1, A, VoteType.PRECOMMIT),  # lower round
        vote(4, 9, A, VoteType.PRECOMMIT),  # lower height
    ]
    for v in refused:
        assert pv.sign_vote(v) is None, v
        assert pv.last_refusal
        with pytest.raises(DoubleSignError):
            pv.sign_vote_checked(v)
    assert pv.sign_proposal(Proposal(5, 2, B, -1, b"", 1)) is None
    assert pv.sign_vote(vote(5, 3, B)) is not None  # a higher round is fine
    assert pv.sign_vote(vote(6, 0, B)) is not None


def test_proposal_then_votes_in_one_round(files: tuple[Path, Path]) -> None:
    pv = FilePV.load(*files, CHAIN)
    p = pv.sign_proposal(Proposal(7, 0, A, -1, b"", 50))
    assert p is not None and p.proposer == pv.address
    assert pv.key.public_key.verify(proposal_sign_bytes(CHAIN, p), p.signature)
    assert pv.sign_proposal(Proposal(7, 0, A, -1, b"", 77)) == p  # timestamp-only difference
    assert pv.sign_proposal(Proposal(7, 0, B, -1, b"", 50)) is None
    assert pv.sign_vote(vote(7, 0, A)) is not None
    assert pv.sign_vote(vote(7, 0, A, VoteType.PRECOMMIT)) is not None


def test_refuses_votes_for_another_validator(files: tuple[Path, Path]) -> None:
    pv = FilePV.load(*files, CHAIN)
    assert pv.sign_vote(replace(vote(1, 0, A), validator=b"\x01" * 20)) is None
    assert "this key is" in (pv.last_refusal or "")
    assert pv.state.height == 0  # nothing was signed


def test_state_survives_a_reload(files: tuple[Path, Path]) -> None:
    pv = FilePV.load(*files, CHAIN)
    first = pv.sign_vote(vote(9, 0, A, VoteType.PRECOMMIT))
    pv2 = FilePV.load(*files, CHAIN, chain_height=9)
    assert pv2.sign_vote(vote(9, 0, B, VoteType.PRECOMMIT)) is None
    assert pv2.sign_vote(vote(9, 0, A, VoteType.PRECOMMIT)) == first


def test_one_atomic_write_per_signature(files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """As CometBFT's FilePV: temp file, fsync, rename; no second fsync of the directory (the WAL covers a lost
    rename, see test_lost_rename_is_taken_back_from_what_the_wal_kept)."""
    pv = FilePV.load(*files, CHAIN)
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    assert pv.sign_vote(vote(2, 0, A)) is not None
    assert len(synced) == 1 and not list(files[1].parent.glob("*.tmp"))
    assert load_state(files[1]).height == 2
    assert pv.sign_vote(vote(2, 0, A)) is not None and len(synced) == 1  # the same vote again: no write


def test_lost_rename_is_taken_back_from_what_the_wal_kept(files: tuple[Path, Path]) -> None:
    """A power failure lost the state file's last rename: the file says prevote, the WAL holds the precommit
    we signed and broadcast. `recover` (node/assemble.py calls it at start) takes it back, durably; a vote
    of another key, a bad signature, a lower step and a proposal of another proposer change nothing."""
    key_path, state_path = files
    pv = FilePV.load(key_path, state_path, CHAIN)
    prevote = pv.sign_vote(vote(5, 1, A))
    kept = state_path.read_bytes()
    precommit = pv.sign_vote(vote(5, 1, A, VoteType.PRECOMMIT))
    assert prevote is not None and precommit is not None
    state_path.write_bytes(kept)  # the rename of the precommit's state never reached the disk
    pv = FilePV.load(key_path, state_path, CHAIN, chain_height=4)
    assert pv.sign_vote(vote(5, 1, B, VoteType.PRECOMMIT)) is not None  # the double sign recovery prevents
    state_path.write_bytes(kept)
    pv = FilePV.load(key_path, state_path, CHAIN, chain_height=4)
    other = PrivateKey.from_seed(sha256(b"other bank"))
    theirs = Vote(VoteType.PRECOMMIT, 5, 3, A, other.address, 1000)
    theirs = replace(theirs, signature=other.sign(vote_sign_bytes(CHAIN, theirs)))
    forged = replace(precommit, round=4)
    their_prop = Proposal(5, 2, A, -1, other.address, 1000)
    their_prop = replace(their_prop, signature=other.sign(proposal_sign_bytes(CHAIN, their_prop)))
    assert pv.recover([prevote, theirs, forged, their_prop]) is None
    back = pv.recover([prevote, precommit, theirs, forged])
    assert back is not None and (back.height, back.round, back.step) == (5, 1, 3)
    assert load_state(state_path) == back == pv.state
    assert pv.sign_vote(vote(5, 1, B, VoteType.PRECOMMIT)) is None
    again = pv.sign_vote(vote(5, 1, A, VoteType.PRECOMMIT, ts=777))
    assert again is not None and again.signature == precommit.signature and again.timestamp_ms == 1000
    assert pv.recover([precommit]) is None  # already held


def test_missing_state_file_with_a_running_chain(files: tuple[Path, Path]) -> None:
    key_path, state_path = files
    with pytest.raises(SignerStateError, match="missing but the chain is at height 12"):
        FilePV.load(key_path, state_path, CHAIN, chain_height=12)
    assert not state_path.exists()
    pv = FilePV.load(key_path, state_path, CHAIN, chain_height=12, force=True)
    assert pv.state.height == 0 and state_path.exists()
    state_path.unlink()
    FilePV.load(key_path, state_path, CHAIN, chain_height=0)  # a new chain: a fresh state is written
    assert load_state(state_path).height == 0


@pytest.mark.parametrize(
    "text",
    ["", "{", "[]", '{"height": "x", "round": 0, "step": 0}', '{"height": "1", "round": 0, "step": 9}',
     '{"height": "1", "round": 0, "step": 2, "signature": "AAAA"}'],
)  # fmt: skip
def test_malformed_state_file_is_a_clear_error(files: tuple[Path, Path], text: str) -> None:
    files[1].parent.mkdir(parents=True, exist_ok=True)
    files[1].write_text(text)
    with pytest.raises(SignerStateError, match=str(files[1].name)):
        FilePV.load(*files, CHAIN)


SIGNER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from consensus.types import Vote, VoteType
    from node.privval import FilePV
    pv = FilePV.load(Path(sys.argv[2]), Path(sys.argv[3]), "egp-test")
    v = pv.sign_vote(Vote(VoteType.PRECOMMIT, 42, 3, bytes.fromhex(sys.argv[4]), b"", 123))
    print(v.signature.hex(), flush=True)
    time.sleep(600)
    """
)


def test_signature_state_survives_sigkill_right_after_signing(files: tuple[Path, Path]) -> None:
    key_path, state_path = files
    FilePV.load(key_path, state_path, CHAIN)  # a fresh state file, as `egp init` leaves it
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGNER, str(ROOT), str(key_path), str(state_path), A.hex()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        sig = bytes.fromhex(proc.stdout.readline().strip())
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    pv = FilePV.load(key_path, state_path, CHAIN, chain_height=41)
    conflicting = pv.sign_vote(Vote(VoteType.PRECOMMIT, 42, 3, B, b"", 123))
    assert conflicting is None and "conflicting" in (pv.last_refusal or "")
    same = pv.sign_vote(Vote(VoteType.PRECOMMIT, 42, 3, A, b"", 456))
    assert same is not None and same.signature == sig and same.timestamp_ms == 123


def test_double_sign_check_height(tmp_path: Path) -> None:
    from node.blockstore import BlockStore
    from node.privval import check_double_sign_risk
    from state.kv_level import LevelKV
    from tests.node.chainkit import Chain

    c = Chain.start(4)
    c.grow(6)
    kv = LevelKV(tmp_path / "db")
    store = BlockStore(kv)
    for block, seen in zip(c.blocks, c.seen_commits, strict=True):
        store.save_block(block, seen)
    signer = c.state.validators.validators[0].address
    with pytest.raises(DoubleSignError, match="signed block 6"):
        check_double_sign_risk(store, signer, 6, 3)
    check_double_sign_risk(store, b"\x01" * 20, 6, 10)  # a key that never signed
    check_double_sign_risk(store, signer, 6, 0)  # disabled
    kv.close()


requests = st.lists(
    st.tuples(
        st.integers(1, 3),  # height
        st.integers(0, 2),  # round
        st.sampled_from([0, 1, 2]),  # 0 = proposal, 1 = prevote, 2 = precommit
        st.sampled_from([A, B, None]),
        st.integers(0, 3),  # timestamp
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests)
def test_never_two_different_messages_for_one_step(files: tuple[Path, Path], reqs: list[tuple[Any, ...]]) -> None:
    """Whatever is asked, in whatever order: per (height, round, step) at most one message (timestamps aside)
    is ever signed, and what is signed never goes below what was signed before."""
    files[1].unlink(missing_ok=True)
    pv = FilePV.load(*files, CHAIN)
    signed: dict[tuple[int, int, int], tuple[bytes | None, bytes]] = {}
    last = (0, 0, 0)
    for h, r, kind, value, ts in reqs:
        if kind == 0:
            if value is None:
                continue
            p = pv.sign_proposal(Proposal(h, r, value, -1, b"", ts))
            out = None if p is None else (value, p.signature)
        else:
            v = pv.sign_vote(vote(h, r, value, VoteType(kind), ts))
            out = None if v is None else (value, v.signature)
        if out is None:
            continue
        hrs = (h, r, kind + 1)
        assert hrs >= last
        last = hrs
        if hrs in signed:
            assert signed[hrs] == out  # the very same signature comes back
        signed[hrs] = out


LOOP_SIGNER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from consensus.types import Vote, VoteType
    from node.privval import FilePV
    pv = FilePV.load(Path(sys.argv[2]), Path(sys.argv[3]), "egp-test")
    h = 1
    while True:
        v = pv.sign_vote(Vote(VoteType.PRECOMMIT, h, 0, bytes([h % 256]) * 32, b"", h))
        print(h, v.signature.hex(), flush=True)
        h += 1
    """
)


@pytest.mark.parametrize("lines_before_kill", [1, 17, 60])
def test_kill_during_a_signing_loop_leaves_a_valid_state(files: tuple[Path, Path], lines_before_kill: int) -> None:
    """The state file is replaced atomically: a kill at any moment leaves it whole, and never behind a released
    signature."""
    key_path, state_path = files
    FilePV.load(key_path, state_path, CHAIN)
    proc = subprocess.Popen(
        [sys.executable, "-c", LOOP_SIGNER, str(ROOT), str(key_path), str(state_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        last = (0, "")
        for _ in range(lines_before_kill):
            h, sig = proc.stdout.readline().split()
            last = (int(h), sig)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    state = load_state(state_path)  # parses: never a torn file
    assert state.height >= last[0]
    if state.height == last[0]:
        assert state.signature.hex() == last[1]
    pv = FilePV.load(key_path, state_path, CHAIN, chain_height=state.height)
    assert pv.sign_vote(vote(last[0], 0, b"\xee" * 32, VoteType.PRECOMMIT)) is None

"""The state store's history layout (node/statestore.py): full validator sets / parameters only where they
change (and a validator-set checkpoint every VALSET_CHECKPOINT heights), answering every height exactly as
the layout before it (a full set and parameters written at every height), on a real LevelDB in a temp dir:
random change schedules through `update_state`, homes begun in the older layout, reopens and prunes."""

from __future__ import annotations

import struct
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import node.statestore as statestore_mod
from node.genesis import ConsensusParams
from node.statestore import ChainState, StateStore, state_from_genesis, update_state
from state import chain
from state.crypto import PrivateKey, sha256
from state.fastrec import pack
from state.kv import KV
from state.kv_level import LevelKV
from tests.node.chainkit import Chain, make_genesis

_H = struct.Struct(">Q")
_POOL = [PrivateKey.from_seed(sha256(b"validator" + bytes([i]))) for i in range(4)] + [
    PrivateKey.from_seed(sha256(b"extra" + bytes([i]))) for i in range(4)]
_HEADER = Chain.start(4).next_block().header  # update_state reads a header's height and time only


def old_layout_save(kv: KV, state: ChainState) -> None:
    """What StateStore.save wrote before this layout: the state, the sets of h and h+1, the params of h."""
    b = kv.batch()
    h = state.height
    b.put(b"S", pack(state))
    b.put(b"v" + _H.pack(h), pack(state.validators))
    b.put(b"v" + _H.pack(h + 1), pack(state.next_validators))
    b.put(b"p" + _H.pack(h), pack(state.consensus_params))
    b.commit(sync=True)


def states_of(schedule: list[tuple[int, int]]) -> list[ChainState]:
    """The genesis state and one state per block; step (v, p): v picks a validator change returned by the
    block (0: none, 1: a power change, 2: a newcomer or a comeback, 3: a removal), p a parameters change."""
    g, _ = make_genesis(4)
    s = state_from_genesis(g)
    out = [s]
    for i, (v, p) in enumerate(schedule):
        members = {m.pub_key: m.power for m in s.next_validators.validators}
        updates: tuple[chain.ValidatorUpdate, ...] = ()
        if v == 1:
            key = sorted(members)[i % len(members)]
            updates = (chain.ValidatorUpdate(key, members[key] % 7 + 1),)
        elif v == 2:
            out_of_set = [k.public_key.raw for k in _POOL if k.public_key.raw not in members]
            if out_of_set:
                updates = (chain.ValidatorUpdate(out_of_set[i % len(out_of_set)], 3 + i % 5),)
        elif v == 3 and len(members) > 2:
            updates = (chain.ValidatorUpdate(sorted(members)[i % len(members)], 0),)
        params = ConsensusParams(timeout_commit_ms=500 + i).encode() if p else b""
        header = replace(_HEADER, height=s.height, time_ms=s.last_block_time_ms + 1000)
        res = chain.FinalizeBlockResult((), (), updates, params, sha256(bytes([i % 256])))
        s = update_state(s, chain.BlockID(sha256(b"b" + bytes([i % 256])), chain.PartSetHeader(1, b"\0" * 32)),
                         header, res)
        out.append(s)
    return out


def reference(states: list[ChainState]) -> tuple[dict[int, chain.ValidatorSetInfo], dict[int, ConsensusParams]]:
    """The answers of the layout before: every save wrote its heights' sets and parameters."""
    vals: dict[int, chain.ValidatorSetInfo] = {}
    params: dict[int, ConsensusParams] = {}
    for s in states:
        vals[s.height] = s.validators
        vals[s.height + 1] = s.next_validators
        params[s.height] = s.consensus_params
    return vals, params


def check(ss: StateStore, vals: dict[int, chain.ValidatorSetInfo], params: dict[int, ConsensusParams],
          retain: int = 0) -> None:
    top = max(params)
    for h in range(0, top + 4):
        want_v = vals.get(h) if h >= retain else None
        want_p = params.get(h) if h >= retain else None
        assert ss.load_validators(h) == want_v, h
        assert ss.load_params(h) == want_p, h


schedules = st.lists(st.tuples(st.sampled_from([0, 0, 0, 1, 2, 3]), st.sampled_from([0, 0, 0, 1])),
                     min_size=0, max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedule=schedules, checkpoint=st.sampled_from([2, 3, 7, 100]), old_upto=st.integers(0, 40),
       reopen_at=st.integers(0, 40), prunes=st.lists(st.integers(0, 40), max_size=3))
def test_same_answers_as_the_full_layout(monkeypatch: pytest.MonkeyPatch, schedule: list[tuple[int, int]],
                                         checkpoint: int, old_upto: int, reopen_at: int, prunes: list[int]) -> None:
    monkeypatch.setattr(statestore_mod, "VALSET_CHECKPOINT", checkpoint)  # set again for every input
    states = states_of(schedule)
    vals, params = reference(states)
    with tempfile.TemporaryDirectory() as d:
        kv = LevelKV(Path(d) / "db")
        ns = b"node/"
        for s in states[:old_upto]:  # a home begun in the older layout
            old_layout_save(kv.prefixed(ns), s)
        ss = StateStore(kv, ns)
        for i, s in enumerate(states[old_upto:], start=old_upto):
            if i == reopen_at:
                kv.close()
                kv = LevelKV(Path(d) / "db")
                ss = StateStore(kv, ns)
            if i % 2:  # in a caller's batch, or its own
                b = kv.batch()
                ss.save(s, b)
                b.commit(sync=True)
            else:
                ss.save(s)
        check(ss, vals, params)
        kv.close()
        kv = LevelKV(Path(d) / "db")
        ss = StateStore(kv, ns)
        check(ss, vals, params)
        top = states[-1].height
        retain = 0
        for r in sorted(prunes):
            r = min(r, top)
            ss.prune(r)
            retain = max(retain, r)
            check(ss, vals, params, retain)
        kv.close()


def test_saves_in_a_batch_commit_with_it(tmp_path: Path) -> None:
    """save(state, batch) writes nothing until the batch commits, and everything when it does."""
    states = states_of([(0, 0), (2, 1), (0, 0), (0, 0)])
    kv = LevelKV(tmp_path / "db")
    ss = StateStore(kv, b"node/")
    ss.save(states[0])
    b = kv.batch()
    for s in states[1:]:
        ss.save(s, b)
    assert ss.load() == states[0] and ss.load_validators(states[-1].height) is None
    b.commit(sync=True)
    vals, params = reference(states)
    check(ss, vals, params)
    kv.close()


def test_bytes_per_height_no_longer_grow_with_the_chain(tmp_path: Path) -> None:
    """300 heights without changes: a set every VALSET_CHECKPOINT heights and the first parameters, not
    ~600 records."""
    states = states_of([(0, 0)] * 300)
    kv = LevelKV(tmp_path / "db")
    ss = StateStore(kv, b"node/")
    for s in states:
        ss.save(s)
    view = kv.prefixed(b"node/")
    v_keys = [k for k, _ in view.iterate(prefix=b"v")]
    p_keys = [k for k, _ in view.iterate(prefix=b"p")]
    assert len(p_keys) == 1
    assert 1 <= len(v_keys) <= 2 + 301 // statestore_mod.VALSET_CHECKPOINT
    vals, params = reference(states)
    check(ss, vals, params)
    ss.prune(250)  # keeps the checkpoint the lookups of 250.. start from
    check(ss, vals, params, 250)
    assert len([k for k, _ in view.iterate(prefix=b"v")]) <= 2
    kv.close()

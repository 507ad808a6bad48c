"""Vote tallies: thresholds once, no double counting, evidence, bounded memory (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.types import Vote, VoteType
from consensus.validators import Validator, ValidatorSet
from consensus.votes import ThresholdKind, VoteKeeper

ADDRS = [bytes([i]) * 20 for i in range(1, 8)]
VALUES = [None, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32]

powers = st.lists(st.integers(1, 10), min_size=4, max_size=7)
vote_st = st.tuples(
    st.integers(0, 6),  # validator index (mod set size)
    st.integers(0, 3),  # round
    st.sampled_from([VoteType.PREVOTE, VoteType.PRECOMMIT]),
    st.sampled_from(range(len(VALUES))),
    st.integers(0, 2),  # height offset: 0 is the keeper's height
)


@settings(max_examples=300, deadline=None)
@given(powers, st.lists(vote_st, max_size=80))
def test_tally_properties(pw: list[int], raw: list[tuple[int, int, VoteType, int, int]]) -> None:
    vs = ValidatorSet([Validator(ADDRS[i], bytes(32), p) for i, p in enumerate(pw)])
    keeper = VoteKeeper(5, vs, max_round=2)
    emitted: list[tuple[object, ...]] = []
    evidence: list[tuple[bytes, int, VoteType]] = []
    first: dict[tuple[bytes, int, VoteType], Vote] = {}
    seen: dict[tuple[bytes, int, VoteType], list[bytes | None]] = {}
    for vi, r, t, val, dh in raw:
        vote = Vote(t, 5 + dh, r, VALUES[val], ADDRS[vi % len(pw)])
        res = keeper.add(vote)
        if dh != 0 or r > 2:
            assert not res.added and res.evidence is None
            continue
        key = (vote.validator, r, t)
        vals = seen.setdefault(key, [])
        if vote.value_id not in vals and len(vals) < 2:
            vals.append(vote.value_id)
            first.setdefault(key, vote)
            assert res.added
        else:
            assert not res.added
        if res.evidence is not None:
            evidence.append(key)
            assert res.evidence.vote_a == first[key] and res.evidence.vote_b == vote
        for th in res.thresholds:
            emitted.append((th.kind, th.round, th.vote_type, th.value_id))
    # each threshold at most once
    assert len(emitted) == len(set(emitted))
    # evidence once per (validator, round, type) with two different values
    assert sorted(evidence) == sorted(k for k, vals in seen.items() if len(vals) == 2)
    # thresholds emitted exactly when the powers cross, with no validator counted twice per value
    for r in range(3):
        for t in (VoteType.PREVOTE, VoteType.PRECOMMIT):
            voters = {a for (a, rr, tt) in seen if (rr, tt) == (r, t)}
            any_power = sum(vs.power_of(a) for a in voters)
            assert ((ThresholdKind.ANY, r, t, None) in emitted) == vs.has_two_thirds(any_power)
            for value in VALUES:
                p = sum(vs.power_of(a) for (a, rr, tt), vals in seen.items() if (rr, tt) == (r, t) and value in vals)
                assert keeper.power_for(r, t, value) == p
                assert ((ThresholdKind.VALUE, r, t, value) in emitted) == vs.has_two_thirds(p)
    assert keeper.vote_count() <= 3 * 2 * 2 * len(pw)


def test_flood_of_future_rounds_and_heights_is_bounded() -> None:
    vs = ValidatorSet([Validator(a, bytes(32), 1) for a in ADDRS[:4]])
    keeper = VoteKeeper(1, vs, max_round=10)
    for r in range(100_000):
        for h in (1, 2, 10**12):
            keeper.add(Vote(VoteType.PREVOTE, h, r, (r % 256).to_bytes(1, "big") * 32, ADDRS[0]))
    assert keeper.vote_count() <= 11 * 2  # one first vote + one conflicting per round in the window
    stranger = Vote(VoteType.PREVOTE, 1, 0, None, b"\x99" * 20)
    assert not keeper.add(stranger).added


def test_skip_threshold_counts_each_sender_once() -> None:
    vs = ValidatorSet([Validator(a, bytes(32), 1) for a in ADDRS[:4]])
    keeper = VoteKeeper(1, vs, max_round=10)
    assert keeper.add(Vote(VoteType.PREVOTE, 1, 3, None, ADDRS[0])).thresholds == ()
    assert keeper.add(Vote(VoteType.PRECOMMIT, 1, 3, None, ADDRS[0])).thresholds == ()
    assert keeper.note_sender(3, ADDRS[0]) is None
    th = keeper.add(Vote(VoteType.PREVOTE, 1, 3, None, ADDRS[1])).thresholds
    assert [t.kind for t in th] == [ThresholdKind.SKIP]

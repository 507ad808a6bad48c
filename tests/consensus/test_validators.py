"""Validator sets: thresholds, proposer selection exactly as CometBFT's spec, updates, the H+2 pipeline."""

from __future__ import annotations

import pytest

from consensus.validators import (
    INT64_MAX,
    INT64_MIN,
    Validator,
    ValidatorPipeline,
    ValidatorSet,
    ValidatorUpdate,
    _div_trunc,
)

P1, P2, P3, P4 = (bytes([i]) * 20 for i in (1, 2, 3, 4))


def v(addr: bytes, power: int, prio: int = 0) -> Validator:
    return Validator(addr, addr[:1] * 32, power, prio)


def names(vs: ValidatorSet, rounds: int) -> list[int]:
    return [vs.proposer_at(r)[0] for r in range(rounds)]


def test_spec_example_1_3() -> None:
    """CometBFT: powers {p1:1, p2:3} give p2, p1, p2, p2, repeating."""
    vs = ValidatorSet.from_genesis([v(P1, 1), v(P2, 3)])
    assert names(vs, 12) == [2, 1, 2, 2] * 3


def test_height_to_height_matches_round_to_round() -> None:
    vs = ValidatorSet.from_genesis([v(P1, 1), v(P2, 3)])
    pl = ValidatorPipeline(1, vs, vs.copy_increment(1))
    seq = []
    for _ in range(8):
        seq.append(pl.current.proposer[0])
        pl = pl.advance()
    assert seq == [2, 1, 2, 2] * 2


def test_equal_power_is_round_robin_by_address() -> None:
    vs = ValidatorSet.from_genesis([v(P3, 5), v(P1, 5), v(P2, 5)])
    assert [x.address for x in vs.validators] == [P1, P2, P3]
    assert names(vs, 6) == [1, 2, 3, 1, 2, 3]


def test_frequency_is_proportional_to_power() -> None:
    vs = ValidatorSet.from_genesis([v(P1, 1), v(P2, 2), v(P3, 7)])
    seq = names(vs, 100)
    assert (seq.count(1), seq.count(2), seq.count(3)) == (10, 20, 70)


def test_ties_go_to_the_smaller_address() -> None:
    vs = ValidatorSet([v(P2, 1, 0), v(P1, 1, 0)])
    assert vs.copy_increment(1).proposer == P1


def test_new_validator_starts_at_minus_1_125_p() -> None:
    vs = ValidatorSet([v(P1, 1, 0), v(P2, 1, 0)])
    out = vs.apply_updates([ValidatorUpdate(P3[:1] * 32, 2, P3)])
    # tvp = 4 -> new priority -(4 + 4 >> 3) = -4; then center: avg floor(-4/3) = -2
    assert [x.proposer_priority for x in out.validators] == [2, 2, -2]
    big = ValidatorSet([v(P1, 40, 0), v(P2, 40, 0)]).apply_updates([ValidatorUpdate(b"\x03" * 32, 16, P3)])
    # tvp = 96 -> -(96 + 12) = -108; avg = floor(-108 / 3) = -36
    assert [x.proposer_priority for x in big.validators] == [36, 36, -72]


def test_rescale_uses_go_truncation() -> None:
    assert (_div_trunc(-7, 2), _div_trunc(7, 2), _div_trunc(-8, 2)) == (-3, 3, -4)
    vs = ValidatorSet([v(P1, 1, 101), v(P2, 1, -99)])
    # P = 2, diff = 200 > 4: ratio = ceil(200 / 4) = 50 -> 2, -1 (Go truncation of -1.98); center: avg 0
    inc = vs.copy_increment(1)
    assert [x.proposer_priority for x in inc.validators] == [3 - 2, 0]
    assert inc.proposer == P1


def test_priorities_clip_to_int64() -> None:
    vs = ValidatorSet([v(P1, 10, INT64_MAX - 1), v(P2, 10, INT64_MAX - 1)])
    inc = vs.copy_increment(3)
    assert all(INT64_MIN <= x.proposer_priority <= INT64_MAX for x in inc.validators)


def test_copy_increment_does_not_mutate() -> None:
    vs = ValidatorSet.from_genesis([v(P1, 1), v(P2, 3)])
    before = vs.validators
    vs.copy_increment(5)
    assert vs.validators == before


def test_thresholds_on_power() -> None:
    vs = ValidatorSet([v(P1, 1), v(P2, 1), v(P3, 1), v(P4, 1)])
    assert not vs.has_two_thirds(2) and vs.has_two_thirds(3)
    assert not vs.has_one_third(1) and vs.has_one_third(2)
    weighted = ValidatorSet([v(P1, 4), v(P2, 1), v(P3, 1), v(P4, 2)])  # total 8
    assert not weighted.has_two_thirds(5) and weighted.has_two_thirds(6)
    assert not weighted.has_one_third(2) and weighted.has_one_third(3)


def test_updates_change_remove_and_reject() -> None:
    vs = ValidatorSet.from_genesis([v(P1, 1), v(P2, 1), v(P3, 1)])
    out = vs.apply_updates([ValidatorUpdate(b"", 0, P2), ValidatorUpdate(P1[:1] * 32, 5, P1)])
    assert [(x.address, x.power) for x in out.validators] == [(P1, 5), (P3, 1)]
    assert out.total_power == 6
    with pytest.raises(ValueError):
        vs.apply_updates([ValidatorUpdate(b"", 0, P4)])  # unknown
    with pytest.raises(ValueError):
        vs.apply_updates([ValidatorUpdate(b"", 1, P1), ValidatorUpdate(b"", 2, P1)])  # duplicate
    with pytest.raises(ValueError):
        vs.apply_updates([ValidatorUpdate(b"", 0, a) for a in (P1, P2, P3)])  # empty set
    with pytest.raises(ValueError):
        ValidatorSet([v(P1, 0)])


def test_pipeline_applies_updates_at_h_plus_2() -> None:
    pl = ValidatorPipeline.genesis(1, [v(P1, 1), v(P2, 1), v(P3, 1)])
    assert pl.height == 1
    pl2 = pl.advance([ValidatorUpdate(P4[:1] * 32, 1, P4)])  # returned by the app at height 1
    assert pl2.height == 2 and pl2.current.index_of(P4) == -1  # not yet at H+1
    pl3 = pl2.advance()
    assert pl3.height == 3 and pl3.current.index_of(P4) == 3  # in effect at H+2
    # the set of height h+1 is the "next" set of height h
    assert pl3.current == pl2.next

"""BFT time: the voting-power-weighted median of a commit's timestamps (CometBFT ``MedianTime``).

Every non-ABSENT signature (COMMIT and NIL) contributes its timestamp with its validator's power.

``block_time_ms(commit, valset, prev_time_ms)`` is the time of the block that carries ``commit`` as its
last commit: ``max(weighted_median, prev_time_ms + 1)``, so block times strictly increase.  Faulty power
below 1/3 cannot move the median outside the range of the correct validators' timestamps.
"""

from __future__ import annotations

from consensus.types import BlockIDFlag, Commit
from consensus.validators import ValidatorSet


def weighted_median(samples: list[tuple[int, int]]) -> int:
    """Weighted median of (timestamp_ms, weight) pairs: the first time, in time order, at which the
    cumulative weight exceeds half the total.  (CometBFT's ``WeightedMedian`` uses ``total // 2 <= w``,
    which picks the lower neighbour for small odd totals; the upper median here is the textbook one and
    has the same guarantee: faulty weight below 1/3 cannot move it outside the correct timestamps.)
    """
    if not samples:
        raise ValueError("no samples")
    total = sum(w for _, w in samples)
    acc = 0
    ordered = sorted(samples)
    for t, w in ordered:
        acc += w
        if 2 * acc > total:
            return t
    return ordered[-1][0]


def median_time_ms(commit: Commit, valset: ValidatorSet) -> int:
    samples: list[tuple[int, int]] = []
    for val, sig in zip(valset.validators, commit.signatures, strict=False):
        if sig.flag != BlockIDFlag.ABSENT:
            samples.append((sig.timestamp_ms, val.power))
    return weighted_median(samples)


def block_time_ms(commit: Commit, valset: ValidatorSet, prev_time_ms: int) -> int:
    """Strictly greater than ``prev_time_ms``."""
    return max(median_time_ms(commit, valset), prev_time_ms + 1)

"""A bounded set of recently seen keys (tx hashes): two generations of plain sets.

Why this shape: the mempool's seen-hash cache and each gossip peer's known-tx set are touched for every copy
of every tx a node receives or sends (a full mesh of 4 delivers each foreign tx 3 times), so their cost per
key is the loop's. A push is a set insert and a length check: when the young generation reaches `size` it
becomes the old one and the old one is dropped whole, where an ordered dict with LRU eviction cost a
`move_to_end` or an insert and an eviction per key (~3x). A key pushed again while only the old generation
holds it is copied into the young one, so it is kept at least as long as an LRU of `size` would keep it.

Bounds: the `size` most recently pushed keys (not removed since) are always held, `2 * size` at most (plus
one `push_many` batch beyond, which turns the young generation old at once). `size` 0 holds nothing (a pool
configured without a cache). Forgetting a key early is harmless for both users: the mempool checks a tx
again, a peer gets a duplicate it drops by hash (~1 us).

Hot loops may test membership as `k in s.young or k in s.old` (two set look-ups without a method call: the
mempool does it for every tx copy a peer sends); they must not change the sets but through the methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from hashlib import sha256 as _sha256


class RecentSet:
    """The keys pushed recently: the `size` most recent at least, `2 * size` at most (see the module)."""

    __slots__ = ("old", "size", "young")

    def __init__(self, size: int) -> None:
        self.size = max(0, size)
        self.young: set[bytes] = set()
        self.old: set[bytes] = set()

    def push(self, key: bytes) -> bool:
        """Hold `key` as recent; True if it was not held before (a fresh key)."""
        young = self.young
        if key in young:
            return False
        fresh = key not in self.old
        if self.size:
            young.add(key)
            if len(young) >= self.size:
                self.old, self.young = young, set()
        return fresh

    def add(self, key: bytes) -> None:
        """`push` without the answer (a gossip mark: one look-up less)."""
        if self.size:
            young = self.young
            young.add(key)
            if len(young) >= self.size:
                self.old, self.young = young, set()

    def push_many(self, keys: Iterable[bytes]) -> None:
        """`push` for each of `keys` at once (a block's committed txs, a peer's frame): one set update; the young
        generation may then exceed `size` by the batch before it turns old."""
        if self.size:
            young = self.young
            young.update(keys)
            if len(young) >= self.size:
                self.old, self.young = young, set()

    def remove(self, key: bytes) -> None:
        """Forget `key` (a refused tx may be sent again)."""
        self.young.discard(key)
        self.old.discard(key)

    def __contains__(self, key: object) -> bool:
        return key in self.young or key in self.old

    def __len__(self) -> int:
        return len(self.young | self.old)


class TxHashes:
    """SHA-256 of the txs seen lately, by their bytes: the `size` most recent at least, `2 * size` at most.

    Why: in a full mesh each foreign tx comes from three peers (its origin, then two relays); every copy must be
    hashed to be marked as known to its sender and refused as a duplicate. A copy's bytes found here cost a dict
    look-up (~0.08 us: SipHash of the bytes and one compare) instead of a SHA-256 and its digest (~0.4 us).
    What it keeps alive is the first copy of each tx (the mempool holds that very object until the tx is
    committed), for `size` to `2 * size` txs more: at 2,000 tx/s and the gossip's size, a few MB.
    """

    __slots__ = ("old", "size", "young")

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.young: dict[bytes, bytes] = {}
        self.old: dict[bytes, bytes] = {}

    def of(self, txs: Sequence[bytes]) -> list[bytes]:
        """The SHA-256 of each of `txs`, in order; those not held are hashed and held (in the young generation)."""
        young, old = self.young, self.old
        yget, oget = young.get, old.get
        found = [yget(tx) or oget(tx) for tx in txs]
        if None not in found:  # (a relay's frame: every tx came before)
            return found  # type: ignore[return-value]
        if found.count(None) == len(found):  # (an origin's frame: every tx new)
            out = [_sha256(tx).digest() for tx in txs]
            young.update(zip(txs, out, strict=True))
        else:
            out = [h if h is not None else _sha256(tx).digest() for h, tx in zip(found, txs, strict=True)]
            young.update([(tx, h) for h, tx, f in zip(out, txs, found, strict=True) if f is None])
        if len(young) >= self.size:
            self.old, self.young = young, {}
        return out

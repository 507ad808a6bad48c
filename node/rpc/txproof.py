"""Tx inclusion proofs served from a per-block tree of memoized subtree roots.

Why: `tx prove=true` is a hot path for explorers and light clients; `state.merkle.merkle_proof` rehashes the
whole block (~2n hashes) per call. A `TxTree` built once per height (and kept in the RPC's height cache)
answers each proof with O(log n) cached roots. Same tree as state/merkle.py (RFC 6962, split at the
largest power of two below n); tests check the proofs against `state.merkle.merkle_proof`.
"""

from __future__ import annotations

from state.merkle import EMPTY_HASH, Proof, inner_hash, leaf_hash


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class TxTree:
    def __init__(self, items: list[bytes]) -> None:
        self.items = items
        self.leaves = [leaf_hash(x) for x in items]
        self._roots: dict[tuple[int, int], bytes] = {}

    def root(self, lo: int = 0, hi: int | None = None) -> bytes:
        hi = len(self.leaves) if hi is None else hi
        if hi - lo == 0:
            return EMPTY_HASH
        if hi - lo == 1:
            return self.leaves[lo]
        got = self._roots.get((lo, hi))
        if got is None:
            k = lo + _split(hi - lo)
            got = inner_hash(self.root(lo, k), self.root(k, hi))
            self._roots[(lo, hi)] = got
        return got

    def proof(self, index: int) -> Proof:
        n = len(self.leaves)
        if not 0 <= index < n:
            raise IndexError("proof index out of range")
        aunts: list[bytes] = []
        lo, hi = 0, n
        while hi - lo > 1:  # walk down, collecting siblings top-first; Proof wants them leaf-first
            k = lo + _split(hi - lo)
            if index < k:
                aunts.append(self.root(k, hi))
                hi = k
            else:
                aunts.append(self.root(lo, k))
                lo = k
        return Proof(total=n, index=index, aunts=tuple(reversed(aunts)))

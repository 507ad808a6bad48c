"""Proofs against the app hash, verified by a pure function (stdlib + state.codec + state.crypto).

The app hash is the root of a path-compressed binary Merkle trie over every state record, keyed by
`sha256(key)` (see state/trie.py). The node holding a subtree with exactly one record is that record's
leaf; a subtree with none is empty; two or more make an inner node. So the root depends only on the set
of (key, value) pairs, never on the order they were written in.

    EMPTY         = 32 zero bytes
    leaf(k, v)    = sha256(0x00 ‖ sha256(k) ‖ sha256(v))
    inner(l, r)   = sha256(0x01 ‖ l ‖ r)

A `TrieProof` lists the siblings along the path of `sha256(key)` from the root down, and what the path
ends in: the leaf of this key (inclusion), nothing (non-inclusion), or the leaf of another key that owns
the whole subtree (non-inclusion). The wallet, the RPC and the light-client certificate all call
`verify_proof(app_hash, key, value_or_None, proof)`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

from state.codec import Record

EMPTY = b"\x00" * 32
MAX_DEPTH = 256


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(key_hash: bytes, value_hash: bytes) -> bytes:
    return _h(b"\x00" + key_hash + value_hash)


def inner_hash(left: bytes, right: bytes) -> bytes:
    return _h(b"\x01" + left + right)


def bit_at(key_hash: bytes, depth: int) -> int:
    """Bit `depth` of the key hash, most significant first."""
    return (key_hash[depth >> 3] >> (7 - (depth & 7))) & 1


@dataclass(frozen=True)
class TrieProof(Record):
    """Siblings from the root down; `leaf_key`/`leaf_value_hash` empty when the path ends in nothing."""

    TAG = 40
    MAX_LEN: ClassVar[dict[str, int]] = {"siblings": MAX_DEPTH, "leaf_key": 32, "leaf_value_hash": 32}
    siblings: tuple[bytes, ...]
    leaf_key: bytes
    leaf_value_hash: bytes


def _shares_prefix(a: bytes, b: bytes, nbits: int) -> bool:
    return all(bit_at(a, i) == bit_at(b, i) for i in range(nbits))


def compute_root(key: bytes, value: bytes | None, proof: TrieProof) -> bytes | None:
    """The root the proof implies for (key, value), or None when the proof cannot be about this key."""
    if len(proof.siblings) > MAX_DEPTH or any(len(s) != 32 for s in proof.siblings):
        return None
    kh = _h(key)
    depth = len(proof.siblings)
    if value is not None:
        if proof.leaf_key != kh or proof.leaf_value_hash != _h(value):
            return None
        node = leaf_hash(kh, proof.leaf_value_hash)
    elif not proof.leaf_key and not proof.leaf_value_hash:
        node = EMPTY
    else:
        if len(proof.leaf_key) != 32 or len(proof.leaf_value_hash) != 32 or proof.leaf_key == kh:
            return None
        if not _shares_prefix(kh, proof.leaf_key, depth):
            return None
        node = leaf_hash(proof.leaf_key, proof.leaf_value_hash)
    for d in range(depth - 1, -1, -1):
        sib = proof.siblings[d]
        node = inner_hash(sib, node) if bit_at(kh, d) else inner_hash(node, sib)
    return node


def verify_proof(app_hash: bytes, key: bytes, value: bytes | None, proof: TrieProof) -> bool:
    """True iff `proof` shows that under `app_hash` the state maps `key` to `value` (None: key absent)."""
    try:
        root = compute_root(key, value, proof)
    except (IndexError, TypeError):
        return False
    return root is not None and root == app_hash


@dataclass(frozen=True)
class StateProof(Record):
    """A (key, value or None) pair of the state with its trie proof: what a query with prove=true returns
    (ProofOp type "egp/trie", data = this record encoded) and what a certificate carries."""

    TAG = 41
    MAX_LEN: ClassVar[dict[str, int]] = {"key": 1024}
    key: bytes
    value: bytes | None
    proof: TrieProof

    def verify(self, app_hash: bytes) -> bool:
        return verify_proof(app_hash, self.key, self.value, self.proof)


def verify_proof_bytes(app_hash: bytes, key: bytes, value: bytes | None, proof_bytes: bytes) -> bool:
    """`verify_proof` with the proof in its encoded form; malformed bytes verify as False."""
    from state.codec import DecodeError

    try:
        proof = TrieProof.decode(proof_bytes)
    except DecodeError:
        return False
    return verify_proof(app_hash, key, value, proof)

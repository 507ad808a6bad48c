"""Authenticated state: inclusion and non-inclusion proofs verify; any mutated byte or value fails."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from state.codec import DecodeError
from state.proofs import EMPTY, StateProof, TrieProof, verify_proof
from state.trie import Trie


class Nodes(dict[bytes, bytes]):
    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        return super().get(key, default)


def H(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def build(state: dict[bytes, bytes], batches: int = 1) -> tuple[Nodes, bytes]:
    nodes = Nodes()
    items = sorted(state.items())
    root = EMPTY
    for i in range(batches):
        t = Trie(nodes)
        root = t.update({H(k): H(v) for k, v in items[i::batches]})
        for pos, raw in t.writes.items():
            if raw is None:
                nodes.pop(pos, None)
            else:
                nodes[pos] = raw
    return nodes, root


keys = st.binary(min_size=0, max_size=12)
states = st.dictionaries(keys, st.binary(min_size=0, max_size=20), max_size=40)


@settings(max_examples=60, deadline=None)
@given(states, st.lists(keys, max_size=6), st.integers(1, 4))
def test_inclusion_and_non_inclusion(state: dict[bytes, bytes], absent: list[bytes], batches: int) -> None:
    nodes, root = build(state, batches)
    assert root == build(state, 1)[1]  # the root depends on the set, not on batching or order
    t = Trie(nodes)
    for k, v in state.items():
        p = t.prove(H(k))
        assert verify_proof(root, k, v, p)
        assert not verify_proof(root, k, v + b"x", p)
        assert not verify_proof(root, k, None, p)
    for k in absent:
        if k in state:
            continue
        p = t.prove(H(k))
        assert verify_proof(root, k, None, p)
        assert not verify_proof(root, k, b"", p)


@settings(max_examples=40, deadline=None)
@given(states.filter(lambda s: len(s) >= 2), st.data())
def test_any_mutated_byte_fails(state: dict[bytes, bytes], data: st.DataObject) -> None:
    nodes, root = build(state)
    k = data.draw(st.sampled_from(sorted(state)))
    absent = data.draw(keys.filter(lambda x: x not in state))
    for key, value in ((k, state[k]), (absent, None)):
        sp = StateProof(key, value, Trie(nodes).prove(H(key)))
        raw = bytearray(sp.encode())
        assert StateProof.decode(bytes(raw)).verify(root)
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= 1 << data.draw(st.integers(0, 7))
        try:
            mutated = StateProof.decode(bytes(raw))
        except DecodeError:
            continue
        # a mutated proof may only verify a claim that is true (e.g. another key that is also absent)
        assert not mutated.verify(root) or state.get(mutated.key) == mutated.value
        if mutated.key == key and mutated.value == value:
            assert not mutated.verify(root) or mutated.proof == sp.proof


def test_deletes_restore_previous_root() -> None:
    base = {bytes([i]): bytes([i]) * 3 for i in range(50)}
    nodes, root = build(base)
    t = Trie(nodes)
    t.update({H(b"new" + bytes([i])): H(b"v") for i in range(10)})
    for pos, raw in t.writes.items():
        if raw is None:
            nodes.pop(pos, None)
        else:
            nodes[pos] = raw
    t2 = Trie(nodes)
    assert t2.update({H(b"new" + bytes([i])): None for i in range(10)}) == root


def test_empty_and_single() -> None:
    nodes, root = build({})
    assert root == EMPTY
    assert verify_proof(root, b"k", None, Trie(nodes).prove(H(b"k")))
    nodes, root = build({b"k": b"v"})
    assert verify_proof(root, b"k", b"v", Trie(nodes).prove(H(b"k")))
    assert verify_proof(root, b"other", None, Trie(nodes).prove(H(b"other")))


def test_forged_proofs_fail() -> None:
    nodes, root = build({bytes([i]): b"v" for i in range(20)})
    p = Trie(nodes).prove(H(bytes([3])))
    assert not verify_proof(root, bytes([3]), b"v", TrieProof(p.siblings[1:], p.leaf_key, p.leaf_value_hash))
    assert not verify_proof(root, bytes([3]), b"v", TrieProof((*p.siblings, EMPTY), p.leaf_key, p.leaf_value_hash))
    assert not verify_proof(root, bytes([3]), None, TrieProof(p.siblings, b"", b""))
    assert not verify_proof(root, bytes([3]), b"v", TrieProof(tuple(s[:31] for s in p.siblings), p.leaf_key,
                                                               p.leaf_value_hash))

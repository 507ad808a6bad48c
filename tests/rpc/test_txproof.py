"""The cached tx tree gives exactly state.merkle's roots and proofs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from node.rpc.txproof import TxTree
from state.merkle import merkle_proof, merkle_root


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=70), st.data())
def test_same_root_and_proofs_as_state_merkle(items: list[bytes], data: st.DataObject) -> None:
    tree = TxTree(items)
    assert tree.root() == merkle_root(items)
    i = data.draw(st.integers(0, len(items) - 1))
    p = tree.proof(i)
    assert p == merkle_proof(items, i)
    assert p.verify(tree.root(), items[i])


def test_empty_tree_root() -> None:
    assert TxTree([]).root() == merkle_root([])

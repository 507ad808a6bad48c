"""RFC-6962 Merkle roots and proofs against the Certificate Transparency test vectors."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from state.merkle import EMPTY_HASH, Proof, merkle_proof, merkle_root

CT_LEAVES = [
    bytes.fromhex(x)
    for x in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]
CT_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


def test_certificate_transparency_vectors() -> None:
    assert merkle_root([]) == EMPTY_HASH
    for n, root in CT_ROOTS.items():
        assert merkle_root(CT_LEAVES[:n]).hex() == root


@given(st.lists(st.binary(max_size=16), min_size=1, max_size=40), st.data())
def test_every_proof_verifies_and_tampering_fails(items: list[bytes], data: st.DataObject) -> None:
    root = merkle_root(items)
    i = data.draw(st.integers(0, len(items) - 1))
    proof = merkle_proof(items, i)
    assert proof.verify(root, items[i])
    assert Proof.decode(proof.encode()) == proof
    assert not proof.verify(root, items[i] + b"x")
    if proof.aunts:
        j = data.draw(st.integers(0, len(proof.aunts) - 1))
        bad = list(proof.aunts)
        bad[j] = bytes([bad[j][0] ^ 1]) + bad[j][1:]
        assert not Proof(proof.total, proof.index, tuple(bad)).verify(root, items[i])
    assert not Proof(proof.total, proof.total, proof.aunts).verify(root, items[i])


def _recursive_root(items: list[bytes]) -> bytes:
    """The definition: split at the largest power of two strictly below n (CometBFT's `HashFromByteSlices`)."""
    import hashlib

    if not items:
        return EMPTY_HASH
    if len(items) == 1:
        return hashlib.sha256(b"\x00" + items[0]).digest()
    k = 1 << ((len(items) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _recursive_root(items[:k]) + _recursive_root(items[k:])).digest()


@given(st.integers(0, 300))
def test_the_level_by_level_root_is_the_split_definition(n: int) -> None:
    items = [b"%d" % i for i in range(n)]
    assert merkle_root(items) == _recursive_root(items)

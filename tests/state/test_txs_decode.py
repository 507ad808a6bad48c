"""`decode_tx` cuts the signed bytes from the tx's own bytes and remembers signers' addresses: the same
`sign_bytes` and `signer_address` as computed from the fields."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from state import txs
from state.crypto import PrivateKey, address
from state.errors import TxError
from state.fastrec import packb
from state.txs import Tx, decode_tx, make_tx, sign_bytes
from tests.state.replay import make_blocks

_, _BLOCKS = make_blocks(31, 3, 30)
_VALID = [raw for _, b in _BLOCKS for raw in b]


def _from_fields(tx: Tx) -> bytes:
    return sign_bytes(tx.chain_id, tx.type, tx.signer, tx.nonce, tx.body)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_VALID), st.integers(0, 10_000), st.integers(0, 255), st.booleans())
def test_signed_bytes_and_address_of_decoded_txs(raw: bytes, pos: int, byte: int, mutate: bool) -> None:
    data = bytearray(raw)
    if mutate:
        data[pos % len(data)] = byte
    try:
        d = decode_tx(bytes(data) if pos % 3 else data)  # (bytes or a bytearray)
    except TxError:
        return
    assert d.tx.sign_bytes() == _from_fields(d.tx)
    assert d.signer_address == address(d.tx.signer)
    assert d.raw == bytes(data) and type(d.raw) is bytes


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**64 - 1), st.text(max_size=50))
def test_any_nonce_and_chain_id(nonce: int, chain_id: str) -> None:
    """Built txs of any sequence number and chain id decode to the signed bytes of their fields (a nonce of
    2**63 or more signs the generic encoding and is not cut)."""
    key = PrivateKey.from_seed(b"\x07" * 32)
    tx = dataclasses.replace(make_tx(key, "c", 0, txs.Acknowledge("LG1")), chain_id=chain_id, nonce=nonce)
    raw = packb([Tx.TAG, tx.chain_id, tx.type, tx.signer, tx.nonce, tx.body, tx.signature])
    d = decode_tx(raw)
    assert d.tx.sign_bytes() == _from_fields(d.tx)
    assert ("_sign_bytes" in d.tx.__dict__) == (nonce < 2**63)


def test_records_built_or_replaced_sign_their_own_fields() -> None:
    key = PrivateKey.from_seed(b"\x08" * 32)
    tx = make_tx(key, "chain", 5, txs.Acknowledge("LG1"))
    d = decode_tx(packb([Tx.TAG, tx.chain_id, tx.type, tx.signer, tx.nonce, tx.body, tx.signature]))
    other = dataclasses.replace(d.tx, nonce=6)  # a new record: no bytes cut from another tx
    assert other.sign_bytes() == _from_fields(other) != d.tx.sign_bytes()
    assert d.tx == tx and hash(d.tx) == hash(tx) and repr(d.tx) == repr(tx)  # the cut bytes are no field
    assert key.public_key.verify(d.tx.sign_bytes(), d.tx.signature)

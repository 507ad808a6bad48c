"""The signed transaction envelope, shared by the node and the wallet so both sign the same bytes.

A transaction is the canonical encoding of `Tx = [1, chain_id, type, signer, nonce, body, signature]`:
- `chain_id` binds it to one chain; `type` names the body (`"lg.issue"`, ...);
- `signer` is the 32-byte Ed25519 public key of a key registered on the ledger; its address
  (sha256(pub)[:20]) owns a sequence number, and `nonce` must equal the next one (replay protection);
- `body` is the canonical encoding of the typed body Record of that type (`BODY_TYPES[type]`);
- `signature` is Ed25519 over `sign_bytes` = canonical `["egp/tx/v1", chain_id, type, signer, nonce, body]`.
`tx_hash = sha256(tx bytes)`, as CometBFT hashes txs.

Build and sign one: `sign_tx(key, chain_id, nonce, IssueGuarantee(...))` returns the tx bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from state.bodies import (
    BODY_CLASSES,
    BODY_TYPES,
    AcceptAmendment,
    Acknowledge,
    AddKey,
    ApproveValidator,
    Body,
    Cancel,
    ConsumeCredit,
    DeclineCredit,
    DeclineRequest,
    Demand,
    Expire,
    Extend,
    Honour,
    IssueCredit,
    IssueGuarantee,
    LgAction,
    ProposeAmendment,
    ProposeValidator,
    PublishRequirement,
    RecordObligation,
    RecordPerformance,
    Reduce,
    Refuse,
    RegisterInstitution,
    RegisterSupplier,
    RejectAmendment,
    RejectDemand,
    Release,
    RequestCredit,
    RequestGuarantee,
    RevokeCredit,
    RevokeKey,
    SetInstitutionStatus,
    SetSupplierStatus,
    SuspendDemand,
    WithdrawDemand,
)
from state.codec import DecodeError, Record, encode
from state.crypto import PrivateKey, address, sha256
from state.errors import MALFORMED_BODY, MALFORMED_TX, TX_TOO_LARGE, UNKNOWN_TX_TYPE, TxError
from state.fastrec import fast_init, remember, strict
from state.fastrec import packb as fast_packb

__all__ = [
    "BODY_CLASSES",
    "BODY_TYPES",
    "MAX_TX_BYTES",
    "SIGN_DOMAIN",
    "AcceptAmendment",
    "Acknowledge",
    "AddKey",
    "ApproveValidator",
    "Body",
    "Cancel",
    "ConsumeCredit",
    "DeclineCredit",
    "DeclineRequest",
    "DecodedTx",
    "Demand",
    "Expire",
    "Extend",
    "Honour",
    "IssueCredit",
    "IssueGuarantee",
    "LgAction",
    "ProposeAmendment",
    "ProposeValidator",
    "PublishRequirement",
    "RecordObligation",
    "RecordPerformance",
    "Reduce",
    "Refuse",
    "RegisterInstitution",
    "RegisterSupplier",
    "RejectAmendment",
    "RejectDemand",
    "Release",
    "RequestCredit",
    "RequestGuarantee",
    "RevokeCredit",
    "RevokeKey",
    "SetInstitutionStatus",
    "SetSupplierStatus",
    "SuspendDemand",
    "Tx",
    "WithdrawDemand",
    "decode_tx",
    "make_tx",
    "sign_bytes",
    "sign_tx",
    "tx_hash",
]

MAX_TX_BYTES = 64 * 1024
SIGN_DOMAIN = "egp/tx/v1"

# ----------------------------------------------------------------- envelope
@dataclass(frozen=True)
class Tx(Record):
    TAG = 1
    MAX_LEN: ClassVar[dict[str, int]] = {"chain_id": 50, "type": 32, "signer": 32, "signature": 64}
    chain_id: str
    type: str
    signer: bytes
    nonce: int
    body: bytes
    signature: bytes

    def sign_bytes(self) -> bytes:
        made: bytes | None = self.__dict__.get("_sign_bytes")  # (cut from the tx's own bytes by `decode_tx`)
        if made is not None:
            return made
        return sign_bytes(self.chain_id, self.type, self.signer, self.nonce, self.body)


@dataclass(frozen=True)
class DecodedTx:
    """A decoded transaction: the envelope, its typed body, its hash and its signer's address."""

    tx: Tx
    body: Body
    hash: bytes
    raw: bytes
    signer_address: bytes


fast_init(Tx, DecodedTx)  # plain __init__s (state.fastrec.fast_init): built for every tx a node decodes


def sign_bytes(chain_id: str, type_: str, signer: bytes, nonce: int, body: bytes) -> bytes:
    """Canonical `["egp/tx/v1", chain_id, type, signer, nonce, body]` (msgpack of primitives is canonical)."""
    if not 0 <= nonce < 2**63:
        return encode([SIGN_DOMAIN, chain_id, type_, signer, nonce, body])
    return fast_packb([SIGN_DOMAIN, chain_id, type_, signer, nonce, body])


def tx_hash(tx_bytes: bytes) -> bytes:
    return sha256(tx_bytes)


def make_tx(key: PrivateKey, chain_id: str, nonce: int, body: Body) -> Tx:
    """The signed envelope of `body` (not yet encoded)."""
    body_bytes = body.encode()
    signer = key.public_key.raw
    sig = key.sign(sign_bytes(chain_id, body.TYPE, signer, nonce, body_bytes))
    return Tx(chain_id, body.TYPE, signer, nonce, body_bytes, sig)


def sign_tx(key: PrivateKey, chain_id: str, nonce: int, body: Body) -> bytes:
    """The bytes to broadcast: `body` signed by `key` with sequence number `nonce` on `chain_id`."""
    return make_tx(key, chain_id, nonce, body).encode()


def decode_tx(data: bytes) -> DecodedTx:
    """Strictly decode a transaction; raises TxError (MALFORMED_TX, TX_TOO_LARGE, ...). No signature check."""
    if len(data) > MAX_TX_BYTES:
        raise TxError(TX_TOO_LARGE, size=len(data), limit=MAX_TX_BYTES)
    try:
        tx = strict(Tx, data, MAX_TX_BYTES)
    except DecodeError as exc:
        raise TxError(MALFORMED_TX, reason=str(exc)) from None
    if len(tx.signer) != 32 or len(tx.signature) != 64:
        raise TxError(MALFORMED_TX, reason="signer must be 32 bytes and signature 64 bytes")
    if tx.nonce < 0:
        raise TxError(MALFORMED_TX, reason="negative sequence number")
    cls = BODY_TYPES.get(tx.type)
    if cls is None:
        raise TxError(UNKNOWN_TX_TYPE, type=tx.type)
    try:
        body = strict(cls, tx.body, MAX_TX_BYTES)
    except DecodeError as exc:
        raise TxError(MALFORMED_BODY, reason=str(exc)) from None
    raw = bytes(data)
    if tx.nonce < 2**63:  # (the other nonces sign the generic encoding: `sign_bytes`)
        # the signed bytes are the tx's own with another head and without the signature: `raw` is canonical
        # (`strict` re-packed it), so it is `[TAG, chain_id, type, signer, nonce, body, signature]` packed, the
        # tag one byte, the 64-byte signature a bin8 of 66 bytes; what is between is `sign_bytes`' fields
        # packed the same way (tests/state/test_txs_decode.py compares)
        tx.__dict__["_sign_bytes"] = _SIGN_HEAD + raw[2:-66]
    addr = _ADDRESSES.get(tx.signer)
    if addr is None:
        addr = remember(_ADDRESSES, tx.signer, address(tx.signer))
    return DecodedTx(tx, body, sha256(raw), raw, addr)


_SIGN_HEAD = b"\x96" + fast_packb([SIGN_DOMAIN])[1:]  # an array of 6, then the domain string
# signer key -> its address: a chain has a few thousand signers, each signing again and again (bounded: ~150 bytes
# an entry, emptied when full)
_ADDRESSES: dict[bytes, bytes] = {}

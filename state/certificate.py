"""Guarantee certificates: a file an agency, auditor or court checks offline, trusting no single bank.

A `Certificate` (canonical Record; `certificate_hash` = SHA-256 of its bytes, printed in the QR code) holds:
- the chain id, the guarantee id and its state key `lg/<id>`;
- the guarantee's record exactly as it is in the state trie (or None: the non-inclusion variant, "no
  guarantee with this id existed at height H") and the trie proof of it (state/proofs.py);
- `state_header`: header H, the block after which the state was read (its time is the time of the proof);
- `signed`: header H+1 and its commit. CometBFT semantics: the app hash of the state after block H is
  carried by header H+1, so the proof is checked against `signed.header.app_hash`, and header H+1 links
  back to header H through `last_block_id.hash`;
- `changes`: the validator-set changes from the genesis set to the set that signed header H+1 (state/light.py
  explains the sequential hops and the trusting period);
- `records`: optional proofs of who operates the signing validators (state/certificate_records.py).

`verify_certificate(cert, trust, now_ms)` returns a `CertificateVerdict`: genuine with what the agency
needs (status, amount available, beneficiary, expiry, height and time, which banks signed with what power),
or not genuine with the first precise reason and a stable code. It never raises, never reads a clock and
never claims more than the file proves: a newer state is reported only from a newer certificate given to it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from state.certificate_records import MAX_RECORDS, Operator, check_records
from state.chain import Header
from state.codec import DecodeError, Record
from state.crypto import sha256
from state.light import (
    DEFAULT_MAX_CLOCK_DRIFT_MS,
    MAX_HOPS,
    LightVerdict,
    SignedHeader,
    TrustAnchor,
    ValidatorChange,
    verify_chain,
)
from state.proofs import StateProof, TrieProof, compute_root
from state.records import Guarantee, k_lg

CERT_VERSION = 1
MAX_CERT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Certificate(Record):
    TAG = 0xC8
    MAX_LEN: ClassVar[dict[str, int]] = {"chain_id": 50, "guarantee_id": 128, "key": 256, "changes": MAX_HOPS,
                                         "records": MAX_RECORDS}
    version: int
    chain_id: str
    guarantee_id: str
    key: bytes
    value: bytes | None
    proof: TrieProof
    state_header: Header
    signed: SignedHeader
    changes: tuple[ValidatorChange, ...]
    records: tuple[StateProof, ...]  # optional: who operates the signing validators (certificate_records.py)

    @property
    def height(self) -> int:
        """The height of the state this certificate proves (the state after block `height`)."""
        return self.state_header.height


def certificate_hash(cert: Certificate) -> bytes:
    return sha256(cert.encode())


class Code(enum.StrEnum):
    """Certificate-level reasons; chain-of-trust reasons come from `state.light.Reason`."""

    GENUINE = "genuine"
    UNDECODABLE = "undecodable"
    BAD_VERSION = "unsupported_version"
    WRONG_CHAIN = "wrong_chain"
    WRONG_KEY = "wrong_key"
    HEADER_LINK = "header_link"
    RECORD_ALTERED = "record_altered"
    PROOF_INVALID = "proof_invalid"
    BAD_RECORD = "bad_record"
    BAD_TRUST = "bad_trust"
    SUPPORTING_RECORD = "supporting_record"


@dataclass(frozen=True)
class Signer:
    address: bytes
    power: int
    name: str  # from the trusted source; "" when it does not know this validator
    bank: str = ""  # operating bank's code, proven from the state ("" when the certificate does not say)
    bank_name: str = ""  # that bank's registered name, proven from the state


@dataclass(frozen=True)
class NewerState:
    height: int
    time_ms: int
    exists: bool
    status: str
    available: int
    amount: int
    changed: bool  # False when the newer certificate shows the same record


@dataclass(frozen=True)
class CertificateVerdict:
    genuine: bool
    code: str
    reason: str
    guarantee_id: str = ""
    exists: bool = False  # False for a genuine non-inclusion certificate
    guarantee: Guarantee | None = None
    height: int = 0  # the state after block `height`
    time_ms: int = 0  # time of block `height`
    attested_height: int = 0  # the header carrying the app hash (height + 1)
    signers: tuple[Signer, ...] = ()
    signed_power: int = 0
    total_power: int = 0
    certificate_hash: bytes = b""
    newer: NewerState | None = None
    newer_note: str = ""  # why a given newer certificate told nothing (not genuine, other guarantee, older)

    def __bool__(self) -> bool:
        return self.genuine


def _no(code: str, reason: str, cert: Certificate | None = None) -> CertificateVerdict:
    gid = cert.guarantee_id if isinstance(cert, Certificate) else ""
    return CertificateVerdict(False, code, reason, guarantee_id=gid)


def verify_certificate(cert: Certificate, trust: TrustAnchor | Mapping[str, Any], now_ms: int | None = None, *,
                       trusting_period_ms: int | None = None, newer: Certificate | None = None,
                       max_clock_drift_ms: int = DEFAULT_MAX_CLOCK_DRIFT_MS) -> CertificateVerdict:
    """Is `cert` genuine against `trust`? The first reason when not. Never raises.

    `trust` is a `TrustAnchor`, or a parsed genesis.json / trusted-set document (`state.certificate_json`).
    `now_ms` (the caller's clock; this module reads none) enables the future-header check and, with
    `trusting_period_ms`, the trusting period."""
    if not isinstance(trust, TrustAnchor):
        from state.certificate_json import TrustError, parse_anchor

        try:
            trust = parse_anchor(trust)
        except TrustError as exc:
            return _no(Code.BAD_TRUST, f"the trusted genesis is not usable: {exc}")
    try:
        verdict = _verify(cert, trust, now_ms, trusting_period_ms, max_clock_drift_ms)
    except Exception as exc:  # defensive: hostile input gets a verdict, never a traceback
        return _no(Code.UNDECODABLE, f"malformed certificate: {type(exc).__name__}: {exc}")
    if verdict.genuine and newer is not None:
        return _with_newer(verdict, newer, trust, now_ms, trusting_period_ms, max_clock_drift_ms)
    return verdict


def verify_certificate_bytes(data: bytes, trust: TrustAnchor | Mapping[str, Any], now_ms: int | None = None, *,
                             trusting_period_ms: int | None = None, newer: Certificate | None = None,
                             max_clock_drift_ms: int = DEFAULT_MAX_CLOCK_DRIFT_MS) -> CertificateVerdict:
    """`verify_certificate` on the encoded record; undecodable bytes are a verdict too."""
    try:
        cert = Certificate.decode(data, max_size=MAX_CERT_BYTES)
    except DecodeError as exc:
        return _no(Code.UNDECODABLE, f"the certificate cannot be decoded: {exc}")
    return verify_certificate(cert, trust, now_ms, trusting_period_ms=trusting_period_ms, newer=newer,
                              max_clock_drift_ms=max_clock_drift_ms)


def _verify(cert: Certificate, trust: TrustAnchor, now_ms: int | None, period_ms: int | None,
            drift_ms: int) -> CertificateVerdict:
    if not isinstance(cert, Certificate):
        return _no(Code.UNDECODABLE, "not a certificate")
    if cert.version != CERT_VERSION:
        return _no(Code.BAD_VERSION, f"certificate format version {cert.version} is not supported "
                                     f"(this verifier reads version {CERT_VERSION})", cert)
    if cert.chain_id != trust.chain_id:
        return _no(Code.WRONG_CHAIN, f"the certificate is for chain {cert.chain_id!r}, but the trusted "
                                     f"genesis is for chain {trust.chain_id!r}", cert)
    if cert.key != k_lg(cert.guarantee_id):
        return _no(Code.WRONG_KEY, f"the proof is about state key {cert.key!r}, not guarantee "
                                   f"{cert.guarantee_id}", cert)
    light = verify_chain(trust, cert.changes, cert.signed, now_ms=now_ms, trusting_period_ms=period_ms,
                         max_clock_drift_ms=drift_ms)
    if not light.ok:
        return _no(str(light.code), light.reason, cert)
    link = _link_problem(cert)
    if link is not None:
        return _no(Code.HEADER_LINK, link, cert)
    proof = _proof_problem(cert)
    if proof is not None:
        return _no(proof[0], proof[1], cert)
    problem, operators = check_records(cert.records, cert.signed.header.app_hash,
                                       [v.address for v in light.validators])
    if problem is not None:
        return _no(Code.SUPPORTING_RECORD, problem, cert)
    return _genuine(cert, trust, light, operators)


def _link_problem(cert: Certificate) -> str | None:
    state_h, signed_h = cert.state_header, cert.signed.header
    if signed_h.height != state_h.height + 1:
        return (f"the signed header is at height {signed_h.height}; the app hash of the state after block "
                f"{state_h.height} is carried by header {state_h.height + 1}")
    if state_h.chain_id != signed_h.chain_id:
        return f"header {state_h.height} is from chain {state_h.chain_id!r}, not {signed_h.chain_id!r}"
    if signed_h.last_block_id.hash != state_h.hash():
        return f"header {state_h.height} is not the parent of the signed header {signed_h.height}"
    return None


def _proof_problem(cert: Certificate) -> tuple[str, str] | None:
    app_hash = cert.signed.header.app_hash
    where = f"the app hash of header {cert.signed.header.height}"
    key_hash = sha256(cert.key)
    if cert.value is None:
        if cert.proof.leaf_key == key_hash:
            return Code.PROOF_INVALID, (f"the proof shows guarantee {cert.guarantee_id} exists, so the claim that "
                                        "it did not exist is false")
    elif cert.proof.leaf_key != key_hash or cert.proof.leaf_value_hash != sha256(cert.value):
        return Code.RECORD_ALTERED, ("the guarantee record in the certificate is not the record the proof "
                                     "commits to: it was altered (amount, status or another field changed)")
    if compute_root(cert.key, cert.value, cert.proof) != app_hash:
        return Code.PROOF_INVALID, f"the proof does not lead to {where}: a proof node was altered"
    if cert.value is not None:
        try:
            g = Guarantee.decode(cert.value)
        except DecodeError as exc:
            return Code.BAD_RECORD, f"the proven record is not a guarantee: {exc}"
        if g.id != cert.guarantee_id:
            return Code.BAD_RECORD, f"the proven record is guarantee {g.id}, not {cert.guarantee_id}"
    return None


def _genuine(cert: Certificate, trust: TrustAnchor, light: LightVerdict,
             operators: dict[bytes, Operator]) -> CertificateVerdict:
    g = None if cert.value is None else Guarantee.decode(cert.value)
    none = Operator("", "")
    signers = tuple(Signer(addr, power, trust.names.get(addr, ""), operators.get(addr, none).bank,
                           operators.get(addr, none).bank_name) for addr, power in light.signers)
    what = "exists" if g is not None else "did not exist"
    return CertificateVerdict(
        True, Code.GENUINE, f"genuine: guarantee {cert.guarantee_id} {what} at height {cert.height}",
        guarantee_id=cert.guarantee_id, exists=g is not None, guarantee=g, height=cert.height,
        time_ms=cert.state_header.time_ms, attested_height=cert.signed.header.height, signers=signers,
        signed_power=light.signed_power, total_power=light.total_power, certificate_hash=certificate_hash(cert))


def _with_newer(verdict: CertificateVerdict, newer: Certificate, trust: TrustAnchor, now_ms: int | None,
                period_ms: int | None, drift_ms: int) -> CertificateVerdict:
    from dataclasses import replace

    other = verify_certificate(newer, trust, now_ms, trusting_period_ms=period_ms, max_clock_drift_ms=drift_ms)
    if not other.genuine:
        return replace(verdict, newer_note=f"the newer certificate given is not genuine ({other.reason}); "
                                           "nothing is known about a newer state")
    if other.guarantee_id != verdict.guarantee_id:
        return replace(verdict, newer_note=f"the newer certificate is about guarantee {other.guarantee_id}, "
                                           "not this one")
    if other.height <= verdict.height:
        return replace(verdict, newer_note=f"the other certificate (height {other.height}) is not newer")
    g, ng = verdict.guarantee, other.guarantee
    changed = (g is None) != (ng is None) or (g is not None and ng is not None and g != ng)
    state = NewerState(other.height, other.time_ms, ng is not None, ng.status if ng else "",
                       ng.available if ng else 0, ng.amount if ng else 0, changed)
    return replace(verdict, newer=state)

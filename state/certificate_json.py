"""JSON around certificates: the file envelope, trust anchors (genesis.json or a trusted set), verdicts.

Why a JSON envelope around a binary record: people and tools open the file (the guarantee id, height and
hash are readable, and the summary lets an officer see at a glance what it claims), while the verifier
trusts only the canonical record inside (`certificate`, base64), whose SHA-256 is the `hash` the QR code
shows. The summary is marked unverified and is never read by the verifier.

Trust anchors: a CometBFT-shaped genesis.json (chain_id, genesis_time, initial_height, validators with
typed public keys, powers and names) or a trusted-validator-set document written by `anchor_to_json`
(e.g. after verifying a recent certificate, to refresh an anchor before its trusting period runs out).
Parsing errors raise `TrustError` / `CertificateFormatError` with a sentence naming the field.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from state.certificate import (
    CERT_VERSION,
    MAX_CERT_BYTES,
    Certificate,
    CertificateVerdict,
    certificate_hash,
)
from state.codec import DecodeError
from state.crypto import PUBKEY_TYPE
from state.errors import thb
from state.light import LightValidator, TrustAnchor, sorted_valset
from state.records import Guarantee

ENVELOPE_TYPE = "egp/lg-certificate"
ANCHOR_TYPE = "egp/trusted-validator-set"
# msgpack: a fixarray of the tag and the fields, then the tag as uint8
_RECORD_START = bytes([0x90 | (len(dataclasses.fields(Certificate)) + 1), 0xCC, Certificate.TAG])
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")


class TrustError(ValueError):
    """The trusted genesis or validator-set document is invalid (the message names the field)."""


class CertificateFormatError(ValueError):
    """A file is not a certificate at all (not JSON, not the envelope, no record)."""


class CertificateDamaged(CertificateFormatError):
    """A certificate file whose record was damaged or altered (bad base64, undecodable, hash mismatch)."""


def parse_rfc3339_ms(text: object) -> int:
    """RFC 3339 time → milliseconds since the epoch (sub-millisecond digits are dropped)."""
    m = _RFC3339.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time like 2026-01-01T00:00:00Z")
    day, clock, frac, tz = m.groups()
    offset = "+00:00" if tz in ("Z", "z") else tz
    try:
        dt = datetime.fromisoformat(f"{day}T{clock}{offset}")
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    return int(dt.timestamp()) * 1000 + int((frac or "0").ljust(9, "0")[:3])


def format_ms(ms: int) -> str:
    """Milliseconds since the epoch → RFC 3339 UTC with milliseconds when not whole seconds."""
    secs, frac = divmod(ms, 1000)
    base = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return base + (f".{frac:03d}".rstrip("0") if frac else "") + "Z"


def _int(value: object, where: str) -> int:
    if isinstance(value, bool):
        raise TrustError(f"{where} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise TrustError(f"{where} must be an integer (a number or a decimal string)")


def _validator(entry: object, i: int) -> tuple[LightValidator, str]:
    where = f"validators[{i}]"
    if not isinstance(entry, Mapping):
        raise TrustError(f"{where} must be an object")
    pk = entry.get("pub_key")
    if not isinstance(pk, Mapping) or pk.get("type") != PUBKEY_TYPE or not isinstance(pk.get("value"), str):
        raise TrustError(f"{where}.pub_key must be {{\"type\": \"{PUBKEY_TYPE}\", \"value\": base64}}")
    try:
        raw = base64.b64decode(pk["value"], validate=True)
    except (binascii.Error, ValueError):
        raise TrustError(f"{where}.pub_key.value is not base64") from None
    power = _int(entry.get("power", entry.get("voting_power")), f"{where}.power")
    try:
        val = LightValidator(raw, power)
    except ValueError as exc:
        raise TrustError(f"{where}: {exc}") from None
    given = entry.get("address")
    if given not in (None, "") and str(given).upper() != val.address.hex().upper():
        raise TrustError(f"{where}.address does not match its public key")
    name = entry.get("name", "")
    return val, name if isinstance(name, str) else ""


def parse_anchor(doc: object) -> TrustAnchor:
    """A genesis.json or trusted-set document as a `TrustAnchor`; raises TrustError."""
    if not isinstance(doc, Mapping):
        raise TrustError("the trusted document must be a JSON object")
    chain_id = doc.get("chain_id")
    if not isinstance(chain_id, str) or not 1 <= len(chain_id) <= 50:
        raise TrustError("chain_id must be a string of 1..50 characters")
    try:
        if doc.get("type") == ANCHOR_TYPE:
            height, time_ms = _int(doc.get("height"), "height"), parse_rfc3339_ms(doc.get("time"))
        else:
            height = _int(doc.get("initial_height", 1), "initial_height")
            time_ms = parse_rfc3339_ms(doc.get("genesis_time"))
    except ValueError as exc:
        raise TrustError(f"{'time' if doc.get('type') == ANCHOR_TYPE else 'genesis_time'}: {exc}") from None
    entries = doc.get("validators")
    if not isinstance(entries, list) or not entries:
        raise TrustError("validators must be a non-empty list (the trusted validator set)")
    parsed = [_validator(e, i) for i, e in enumerate(entries)]
    vals = sorted_valset([v for v, _ in parsed])
    if len({v.address for v in vals}) != len(vals):
        raise TrustError("validators lists the same key twice")
    names = {v.address: n for v, n in parsed if n}
    return TrustAnchor(chain_id, max(height, 1), time_ms, vals, names)


def anchor_to_json(anchor: TrustAnchor) -> dict[str, Any]:
    return {
        "type": ANCHOR_TYPE,
        "chain_id": anchor.chain_id,
        "height": str(anchor.height),
        "time": format_ms(anchor.time_ms),
        "validators": [
            {"address": v.address.hex().upper(),
             "pub_key": {"type": PUBKEY_TYPE, "value": base64.b64encode(v.pub_key).decode()},
             "power": str(v.power), "name": anchor.names.get(v.address, "")}
            for v in anchor.validators
        ],
    }


# --------------------------------------------------------------------------- the file envelope


def guarantee_summary(g: Guarantee | None) -> dict[str, Any]:
    if g is None:
        return {"exists": False}
    return {
        "exists": True, "status": g.status, "type": g.type, "bank": g.bank, "ref": g.ref,
        "applicant": g.applicant, "beneficiary": g.beneficiary, "requirement": g.requirement,
        "amount": thb(g.amount), "paid": thb(g.paid), "pending_demand": thb(g.pending),
        "available": thb(g.available), "expiry": format_ms(g.expiry), "version": g.version,
    }


def certificate_to_json(cert: Certificate) -> dict[str, Any]:
    g: Guarantee | None = None
    if cert.value is not None:
        try:
            g = Guarantee.decode(cert.value)
        except DecodeError:
            g = None
    return {
        "type": ENVELOPE_TYPE,
        "version": CERT_VERSION,
        "chain_id": cert.chain_id,
        "guarantee_id": cert.guarantee_id,
        "height": str(cert.height),
        "time": format_ms(cert.state_header.time_ms),
        "hash": certificate_hash(cert).hex().upper(),
        "summary_unverified": guarantee_summary(g),
        "certificate": base64.b64encode(cert.encode()).decode(),
    }


def certificate_from_json(doc: object) -> Certificate:
    if not isinstance(doc, Mapping) or doc.get("type") != ENVELOPE_TYPE:
        raise CertificateFormatError(f"not an egp certificate (expected \"type\": \"{ENVELOPE_TYPE}\")")
    body = doc.get("certificate")
    if not isinstance(body, str):
        raise CertificateFormatError("the certificate field (base64) is missing")
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise CertificateDamaged("the certificate field is not valid base64") from None
    try:
        cert = Certificate.decode(raw, max_size=MAX_CERT_BYTES)
    except DecodeError as exc:
        raise CertificateDamaged(f"the certificate record cannot be decoded: {exc}") from None
    claimed = doc.get("hash")
    if isinstance(claimed, str) and claimed.upper() != certificate_hash(cert).hex().upper():
        raise CertificateDamaged("the envelope's hash does not match the certificate record")
    return cert


def load_certificate(data: bytes) -> Certificate:
    """A certificate file: the JSON envelope, or the bare canonical record."""
    if len(data) > 2 * MAX_CERT_BYTES:
        raise CertificateFormatError("the file is too large to be a certificate")
    if data.lstrip()[:1] == b"{":
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CertificateFormatError(f"the file is not valid JSON: {exc}") from None
        return certificate_from_json(doc)
    try:
        return Certificate.decode(data, max_size=MAX_CERT_BYTES)
    except DecodeError as exc:
        if data.startswith(_RECORD_START):  # a certificate record that was damaged
            raise CertificateDamaged(f"the certificate record cannot be decoded: {exc}") from None
        raise CertificateFormatError("the file is neither a certificate envelope (JSON) nor a certificate "
                                     "record") from None


def verdict_to_json(v: CertificateVerdict) -> dict[str, Any]:
    out: dict[str, Any] = {"genuine": v.genuine, "code": v.code, "reason": v.reason,
                           "guarantee_id": v.guarantee_id}
    if not v.genuine:
        return out
    out.update({
        "exists": v.exists,
        "height": str(v.height),
        "time": format_ms(v.time_ms),
        "attested_by_header": str(v.attested_height),
        "certificate_hash": v.certificate_hash.hex().upper(),
        "guarantee": guarantee_summary(v.guarantee),
        "signed_power": str(v.signed_power),
        "total_power": str(v.total_power),
        "signers": [{"address": s.address.hex().upper(), "name": s.name, "power": str(s.power), "bank": s.bank,
                     "bank_name": s.bank_name} for s in v.signers],
    })
    if v.newer is not None:
        out["newer_state"] = {"height": str(v.newer.height), "time": format_ms(v.newer.time_ms),
                              "changed": v.newer.changed, "exists": v.newer.exists, "status": v.newer.status,
                              "amount": thb(v.newer.amount), "available": thb(v.newer.available)}
    if v.newer_note:
        out["newer_note"] = v.newer_note
    return out


def anchor_from_verdict(v: CertificateVerdict, cert: Certificate, previous: TrustAnchor) -> TrustAnchor | None:
    """A fresher anchor from a genuine certificate: the set that signed its header, at that header's time."""
    if not v.genuine:
        return None
    from state.light import verify_chain

    light = verify_chain(previous, cert.changes, cert.signed)
    if not light.ok:
        return None
    h = cert.signed.header
    names = dict(previous.names)
    for s in v.signers:  # validators the trusted genesis did not name: their bank as proven from the ledger
        if s.address not in names and s.bank:
            names[s.address] = f"bank {s.bank} {s.bank_name}".strip()
    return TrustAnchor(previous.chain_id, h.height, h.time_ms, light.validators, names)

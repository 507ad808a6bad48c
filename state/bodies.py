"""Typed transaction bodies, one Record per transaction type (`TYPE` is the envelope's `type`).

Re-exported by `state.txs`, which holds the envelope; see docs/domain-model.md for who signs what.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from state.codec import Record
from state.fastrec import fast_init

_S = 128  # default limit for ids, codes, names
_LIMITS: dict[str, int] = {
    "id": _S, "ref": _S, "code": 16, "name": 256, "kind": 16, "tax_id": 13, "applicant": 13, "bank": 8,
    "requirement": 2 * _S, "req_id": _S, "project_no": _S, "lot": 32, "type": 8, "form_code": 32,
    "doc_hash": 32, "statement_hash": 32, "reason": 512, "reasons": 16, "keys": 16, "pub_key": 32,
    "request_id": 64, "replaces": _S, "purpose": 32, "addressee": 32, "project": _S, "bind_to": _S,
    "owner_kind": 16, "owner_id": 32, "note_hash": 32,
}


class Body(Record):
    """Base of transaction bodies: `TYPE` is the envelope's `type` string."""

    TYPE: ClassVar[str] = ""
    MAX_LEN: ClassVar[dict[str, int]] = _LIMITS


# ----------------------------------------------------------------- registry (signed by the registrar)
@dataclass(frozen=True)
class RegisterInstitution(Body):
    TAG = 101
    TYPE = "reg.institution"
    kind: str  # "BANK" | "AGENCY"
    code: str
    name: str
    keys: tuple[bytes, ...]


@dataclass(frozen=True)
class SetInstitutionStatus(Body):
    TAG = 102
    TYPE = "reg.institution_status"
    kind: str
    code: str
    active: bool


@dataclass(frozen=True)
class RegisterSupplier(Body):
    TAG = 103
    TYPE = "reg.supplier"
    tax_id: str
    name: str
    keys: tuple[bytes, ...]


@dataclass(frozen=True)
class SetSupplierStatus(Body):
    TAG = 104
    TYPE = "reg.supplier_status"
    tax_id: str
    active: bool


@dataclass(frozen=True)
class AddKey(Body):
    """Registrar, or a key of the same owner, adds an officer key."""

    TAG = 105
    TYPE = "reg.add_key"
    owner_kind: str  # "BANK" | "AGENCY" | "SUPPLIER" | "REGISTRAR"
    owner_id: str
    pub_key: bytes


@dataclass(frozen=True)
class RevokeKey(Body):
    TAG = 106
    TYPE = "reg.revoke_key"
    pub_key: bytes


# ----------------------------------------------------------------- requirements and guarantees
@dataclass(frozen=True)
class PublishRequirement(Body):
    """T1, agency. The requirement's id is `<agency code>:<req_id>`; republishing makes a new version."""

    TAG = 201
    TYPE = "lg.requirement"
    req_id: str
    project_no: str
    lot: str
    type: str
    min_amount: int
    must_cover_until: int  # ms
    bid_deadline: int  # ms; 0 when not a bid
    form_code: str


@dataclass(frozen=True)
class RequestGuarantee(Body):
    """T2, supplier. The request id is the first 16 bytes of the tx hash, hex."""

    TAG = 202
    TYPE = "lg.request"
    bank: str
    requirement: str
    type: str
    amount: int
    expiry: int


@dataclass(frozen=True)
class DeclineRequest(Body):
    TAG = 203
    TYPE = "lg.decline"
    request_id: str
    reason: str


@dataclass(frozen=True)
class IssueGuarantee(Body):
    """T3 (and T16 when `replaces` names the instrument it supersedes), bank."""

    TAG = 204
    TYPE = "lg.issue"
    ref: str
    request_id: str  # "" when issued without an on-ledger request
    type: str
    applicant: str
    requirement: str
    req_version: int
    amount: int
    expiry: int
    partial_allowed: bool
    multiple_allowed: bool
    extend_or_pay: bool
    reduction_clause: bool
    doc_hash: bytes
    replaces: str  # "" or the id of the guarantee this one replaces


@dataclass(frozen=True)
class LgAction(Body):
    """Transitions that need only the guarantee's id."""

    id: str


@dataclass(frozen=True)
class Acknowledge(LgAction):
    TAG = 205
    TYPE = "lg.acknowledge"


@dataclass(frozen=True)
class Refuse(Body):
    TAG = 206
    TYPE = "lg.refuse"
    id: str
    reason: str


@dataclass(frozen=True)
class Cancel(LgAction):
    """T5: bank and beneficiary each send one; the second completes the cancellation."""

    TAG = 207
    TYPE = "lg.cancel"


@dataclass(frozen=True)
class ProposeAmendment(Body):
    TAG = 208
    TYPE = "lg.amend"
    id: str
    new_amount: int
    new_expiry: int
    doc_hash: bytes


@dataclass(frozen=True)
class AcceptAmendment(LgAction):
    TAG = 209
    TYPE = "lg.amend_accept"


@dataclass(frozen=True)
class RejectAmendment(LgAction):
    TAG = 210
    TYPE = "lg.amend_reject"


@dataclass(frozen=True)
class Reduce(Body):
    TAG = 211
    TYPE = "lg.reduce"
    id: str
    new_amount: int
    doc_hash: bytes


@dataclass(frozen=True)
class Demand(Body):
    TAG = 212
    TYPE = "lg.demand"
    id: str
    amount: int
    statement_hash: bytes
    extension_offer: int  # ms: "extend to this expiry or pay"; 0 when none


@dataclass(frozen=True)
class Honour(LgAction):
    TAG = 213
    TYPE = "lg.honour"


@dataclass(frozen=True)
class RejectDemand(Body):
    TAG = 214
    TYPE = "lg.reject_demand"
    id: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class SuspendDemand(LgAction):
    TAG = 215
    TYPE = "lg.suspend"


@dataclass(frozen=True)
class Extend(LgAction):
    """T13, bank: extend to the expiry the suspended demand offered; the demand is withdrawn."""

    TAG = 216
    TYPE = "lg.extend"


@dataclass(frozen=True)
class WithdrawDemand(LgAction):
    TAG = 217
    TYPE = "lg.withdraw_demand"


@dataclass(frozen=True)
class Release(LgAction):
    TAG = 218
    TYPE = "lg.release"


@dataclass(frozen=True)
class Expire(LgAction):
    TAG = 219
    TYPE = "lg.expire"


@dataclass(frozen=True)
class RecordObligation(Body):
    """Agency records the obligation end (15-day return rule) and what the security must cover (I7)."""

    TAG = 220
    TYPE = "lg.obligation"
    id: str
    obligation_end: int  # ms, 0 = not yet
    cover_until: int  # ms, 0 = unchanged


# ----------------------------------------------------------------- credit confirmations
@dataclass(frozen=True)
class IssueCredit(Body):
    TAG = 301
    TYPE = "cc.issue"
    ref: str
    applicant: str
    purpose: str
    addressee: str  # "CGD" or an agency code
    project: str  # "" when not for one project
    amount: int
    threshold: int  # attested "line >= threshold"; <= amount
    valid_until: int  # ms; 0 = 90 days after issue
    doc_hash: bytes


@dataclass(frozen=True)
class RequestCredit(Body):
    """A supplier asks a bank for a credit confirmation; the bank's next matching `cc.issue` fulfils it."""

    TAG = 304
    TYPE = "cc.request"
    bank: str
    purpose: str
    addressee: str
    project: str
    threshold: int


@dataclass(frozen=True)
class DeclineCredit(Body):
    TAG = 305
    TYPE = "cc.decline"
    request_id: str
    reason: str


@dataclass(frozen=True)
class ConsumeCredit(Body):
    TAG = 302
    TYPE = "cc.consume"
    id: str
    bind_to: str


@dataclass(frozen=True)
class RevokeCredit(Body):
    TAG = 303
    TYPE = "cc.revoke"
    id: str
    reason: str


# ----------------------------------------------------------------- rating and validators
@dataclass(frozen=True)
class RecordPerformance(Body):
    TAG = 401
    TYPE = "rt.record"
    tax_id: str
    points: int
    reason: str
    doc_hash: bytes


@dataclass(frozen=True)
class ProposeValidator(Body):
    TAG = 501
    TYPE = "val.propose"
    pub_key: bytes
    power: int
    bank: str


@dataclass(frozen=True)
class ApproveValidator(Body):
    TAG = 502
    TYPE = "val.approve"
    proposal: int


BODY_CLASSES: tuple[type[Body], ...] = (
    RegisterInstitution, SetInstitutionStatus, RegisterSupplier, SetSupplierStatus, AddKey, RevokeKey,
    PublishRequirement, RequestGuarantee, DeclineRequest, IssueGuarantee, Acknowledge, Refuse, Cancel,
    ProposeAmendment, AcceptAmendment, RejectAmendment, Reduce, Demand, Honour, RejectDemand, SuspendDemand,
    Extend, WithdrawDemand, Release, Expire, RecordObligation, IssueCredit, ConsumeCredit, RevokeCredit,
    RequestCredit, DeclineCredit,
    RecordPerformance, ProposeValidator, ApproveValidator,
)
BODY_TYPES: dict[str, type[Body]] = {c.TYPE: c for c in BODY_CLASSES}
assert len(BODY_TYPES) == len(BODY_CLASSES)
assert len({c.TAG for c in BODY_CLASSES}) == len(BODY_CLASSES)
fast_init(*BODY_CLASSES)  # plain __init__s (state.fastrec.fast_init): every tx a node sees builds one

"""The state's records and their keys: what every node stores and hashes into the app hash.

All records are canonical `Record`s; every key below lives under the authenticated namespace and goes
into the trie. Secondary indexes (by supplier, agency, bank, expiry time) are derived from these records,
kept outside the trie, and written in the same atomic batch (see state/store.py).

Keys (UTF-8 text, `/`-separated; ids never contain `/`):
    params                       Params
    acct/<address hex>           Account (a registered key: owner, nonce, active)
    inst/<BANK|AGENCY|REGISTRAR>/<code>   Institution
    sup/<tax id>                 Supplier
    req/<agency>:<req id>        Requirement (latest version)
    lgrq/<request id>            GuaranteeRequest
    lg/<lg id>                   Guarantee
    lgev/<lg id>/<seq:08d>       LgEvent (hash-chained history; namespace `h`, see state/store.py)
    live/<requirement>/<tax id>/<type>   lg id of the one live guarantee (I5)
    cc/<cc id>                   CreditConfirmation
    ccrq/<request id>            CreditRequest
    rt/<tax id>/<time:013d>/<event id>   RatingEvent
    val/<address hex>            Validator
    valp/<id:08d>                ValidatorProposal
    ev/<evidence id hex>         EvidenceRecord
    seq/<name>                   Counter
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256 as _sha256
from typing import ClassVar

from state.codec import Record
from state.crypto import sha256
from state.fastrec import MEMO_MAX, fast_init, remember

LG_TYPES = ("BID", "PERF", "ADV", "RET", "WARR")
CC_PURPOSES = ("EGP_REGISTRATION", "CONTRACTOR_CLASS", "BID_QUALIFICATION")

# guarantee statuses
ISSUED, ACTIVE, DEMANDED, SUSPENDED = "ISSUED", "ACTIVE", "DEMANDED", "SUSPENDED"
DECLINED, REFUSED, CANCELLED, RELEASED = "DECLINED", "REFUSED", "CANCELLED", "RELEASED"
EXPIRED, EXHAUSTED, SUPERSEDED, REQUESTED = "EXPIRED", "EXHAUSTED", "SUPERSEDED", "REQUESTED"
TERMINAL = frozenset({DECLINED, REFUSED, CANCELLED, RELEASED, EXPIRED, EXHAUSTED, SUPERSEDED})
LIVE = frozenset({ISSUED, ACTIVE, DEMANDED, SUSPENDED})
# credit confirmation statuses
CONSUMED, REVOKED = "CONSUMED", "REVOKED"


@dataclass(frozen=True)
class Params(Record):
    TAG = 60
    chain_id: str
    holidays: tuple[int, ...]  # day numbers (days since 1970-01-01 in Bangkok time)
    cc_validity_days: int
    examination_business_days: int
    suspension_days: int
    release_days: int


@dataclass(frozen=True)
class Account(Record):
    TAG = 61
    pub_key: bytes
    owner_kind: str  # BANK | AGENCY | SUPPLIER | REGISTRAR
    owner_id: str
    nonce: int  # the next expected sequence number
    active: bool


@dataclass(frozen=True)
class Institution(Record):
    TAG = 62
    kind: str
    code: str
    name: str
    active: bool
    since: int


@dataclass(frozen=True)
class Supplier(Record):
    TAG = 63
    tax_id: str
    name: str
    active: bool
    since: int


@dataclass(frozen=True)
class Requirement(Record):
    TAG = 64
    id: str  # <agency>:<req id>
    agency: str
    version: int
    project_no: str
    lot: str
    type: str
    min_amount: int
    must_cover_until: int
    bid_deadline: int
    form_code: str
    published_at: int


@dataclass(frozen=True)
class GuaranteeRequest(Record):
    TAG = 65
    id: str
    supplier: str
    bank: str
    requirement: str
    type: str
    amount: int
    expiry: int
    status: str  # REQUESTED | ISSUED | DECLINED
    lg_id: str
    at: int


@dataclass(frozen=True)
class PendingDemand(Record):
    TAG = 66
    seq: int
    amount: int
    presented_at: int
    statement_hash: bytes
    extension_offer: int
    deadline: int  # end of the examination window
    suspended_until: int  # 0 unless SUSPENDED


@dataclass(frozen=True)
class Amendment(Record):
    TAG = 67
    new_amount: int
    new_expiry: int
    doc_hash: bytes
    proposed_at: int


@dataclass(frozen=True)
class Guarantee(Record):
    TAG = 68
    id: str
    bank: str
    ref: str
    type: str
    applicant: str
    beneficiary: str
    requirement: str
    req_version: int
    amount: int  # current amount (after reductions and accepted amendments)
    paid: int
    issued_amount: int
    issued_at: int
    expiry: int
    partial_allowed: bool
    multiple_allowed: bool
    extend_or_pay: bool
    reduction_clause: bool
    doc_hash: bytes
    version: int
    status: str
    status_since: int
    demand: PendingDemand | None
    demands_presented: int
    amendment: Amendment | None
    cancel_consent: str  # "" | "BANK" | "AGENCY"
    replaces: str
    replaced_by: str
    obligation_end: int
    cover_until: int
    coverage_gap_since: int  # 0 = covered
    events: int
    last_event_hash: bytes

    @property
    def pending(self) -> int:
        return self.demand.amount if self.demand is not None else 0

    @property
    def available(self) -> int:
        return self.amount - self.paid - self.pending


@dataclass(frozen=True)
class LgEvent(Record):
    TAG = 69
    lg_id: str
    seq: int
    kind: str
    version: int
    status: str
    signer: bytes  # address; empty for automatic transitions
    tx_hash: bytes  # empty for automatic transitions
    height: int
    time: int
    amount: int
    doc_hash: bytes
    prev_hash: bytes

    def hash(self) -> bytes:
        from state.fastrec import pack

        return sha256(pack(self))


@dataclass(frozen=True)
class CreditConfirmation(Record):
    TAG = 70
    id: str
    bank: str
    ref: str
    applicant: str
    purpose: str
    addressee: str
    project: str
    amount: int
    threshold: int
    issued_at: int
    valid_until: int
    doc_hash: bytes
    status: str  # ISSUED | CONSUMED | REVOKED | EXPIRED
    bound_to: str
    status_since: int


@dataclass(frozen=True)
class CreditRequest(Record):
    TAG = 76
    id: str
    supplier: str
    bank: str
    purpose: str
    addressee: str
    project: str
    threshold: int
    status: str  # REQUESTED | ISSUED | DECLINED
    cc_id: str
    at: int


@dataclass(frozen=True)
class RatingEvent(Record):
    TAG = 71
    id: str
    tax_id: str
    kind: str  # HONOURED | FORFEITED | EXTEND_OR_PAY | EXTENSION | COVERAGE_GAP | CLEAN_RELEASE | OFFICIAL
    time: int
    lg_id: str
    amount: int  # honoured amount (satang) or official points
    base: int  # guarantee amount for HONOURED
    reason: str


@dataclass(frozen=True)
class Validator(Record):
    TAG = 72
    pub_key: bytes
    power: int
    bank: str
    jailed: bool
    jailed_power: int


@dataclass(frozen=True)
class ValidatorProposal(Record):
    TAG = 73
    MAX_LEN: ClassVar[dict[str, int]] = {"approvals": 64}
    id: int
    pub_key: bytes
    power: int
    bank: str
    proposed_at: int
    status: str  # OPEN | APPLIED
    approvals: tuple[str, ...]  # bank codes, sorted


@dataclass(frozen=True)
class EvidenceRecord(Record):
    TAG = 74
    id: bytes
    kind: int
    validator: bytes  # address
    height: int
    time: int
    power: int
    recorded_at: int


@dataclass(frozen=True)
class Counter(Record):
    TAG = 75
    value: int


RECORD_CLASSES: tuple[type[Record], ...] = (
    Params, Account, Institution, Supplier, Requirement, GuaranteeRequest, Guarantee, LgEvent,
    CreditConfirmation, CreditRequest, RatingEvent, Validator, ValidatorProposal, EvidenceRecord, Counter,
)
fast_init(*RECORD_CLASSES, PendingDemand, Amendment)  # plain __init__s: decoding a record is 2x cheaper


# ----------------------------------------------------------------- keys
def k_params() -> bytes:
    return b"params"


_ACCOUNT_KEYS: dict[bytes, bytes] = {}  # address -> its account key: every tx's signer is looked up 3-5 times (check,
_ACCOUNT_KEYS_MAX = MEMO_MAX  # re-check, finalize, its nonce) by a few thousand hot signers; bounded (emptied if full)


def k_account(addr: bytes) -> bytes:
    key = _ACCOUNT_KEYS.get(addr)
    if key is None:
        key = remember(_ACCOUNT_KEYS, addr, b"acct/" + addr.hex().encode(), _ACCOUNT_KEYS_MAX)
    return key


def k_inst(kind: str, code: str) -> bytes:
    return f"inst/{kind}/{code}".encode()


def k_supplier(tax_id: str) -> bytes:
    return f"sup/{tax_id}".encode()


def k_req(req_id: str) -> bytes:
    return f"req/{req_id}".encode()


def k_request(rid: str) -> bytes:
    return f"lgrq/{rid}".encode()


def k_lg(lg_id: str) -> bytes:
    return f"lg/{lg_id}".encode()


def k_lg_event(lg_id: str, seq: int) -> bytes:
    return f"lgev/{lg_id}/{seq:08d}".encode()


def k_live(requirement: str, tax_id: str, type_: str) -> bytes:
    return f"live/{requirement}/{tax_id}/{type_}".encode()


def k_cc(cc_id: str) -> bytes:
    return f"cc/{cc_id}".encode()


def k_cc_request(rid: str) -> bytes:
    return f"ccrq/{rid}".encode()


def k_rating(tax_id: str, time: int, event_id: str) -> bytes:
    return f"rt/{tax_id}/{time:013d}/{event_id}".encode()


def k_validator(addr: bytes) -> bytes:
    return b"val/" + addr.hex().encode()


def k_proposal(pid: int) -> bytes:
    return f"valp/{pid:08d}".encode()


def k_evidence(eid: bytes) -> bytes:
    return b"ev/" + eid.hex().encode()


def k_counter(name: str) -> bytes:
    return f"seq/{name}".encode()


def lg_id_of(bank: str, ref: str) -> str:
    """Global guarantee id: hash(bank code ‖ bank reference), so two banks' references never clash. (The first 30
    hex digits of the SHA-256, upper case: its first 15 bytes in hex.)"""
    return "LG" + _sha256(f"{bank}\x00{ref}".encode()).digest()[:15].hex().upper()


def cc_id_of(bank: str, ref: str) -> str:
    return "CC" + _sha256(f"cc\x00{bank}\x00{ref}".encode()).digest()[:15].hex().upper()

"""Requirement first, then issue: T1 publishRequirement, T2 request, decline, T3 issue (and T16 replace).

A bank issues only against the latest version of an agency's requirement, for at least its minimum
amount, covering at least its `must_cover_until` (I7 for BID: expiry >= bid validity end), before the bid
deadline for a BID, under an id no bank has used (I5), and only when the supplier holds no other live
guarantee of that type for that requirement, unless the new one `replaces` it (T16).
"""

from __future__ import annotations

from state import errors as E
from state.calendar import fmt_time
from state.errors import TxError, thb
from state.fastrec import pack
from state.lg_core import _store, bad_amount, bad_doc_hash, bad_time, load, positive_amount, transition
from state.records import (
    ACTIVE,
    DECLINED,
    ISSUED,
    LG_TYPES,
    REQUESTED,
    Guarantee,
    GuaranteeRequest,
    Requirement,
    k_lg,
    k_live,
    k_req,
    k_request,
    lg_id_of,
)
from state.registry import AGENCY, BANK, SUPPLIER, not_authorised, require_supplier, signer_is
from state.store import NS_STATE, Ctx
from state.txs import DeclineRequest, IssueGuarantee, PublishRequirement, RequestGuarantee


def _type_ok(t: str) -> None:
    if t not in LG_TYPES:
        raise _bad_type()


def _bad_type() -> TxError:
    return TxError(E.BAD_FIELD, field="type", reason=f"must be one of {', '.join(LG_TYPES)}")


# The field rules of a requirement and of an issue (a third of the workload's txs between them) are written once
# each, as one `if` that raises, in the order their refusals are given, rather than as a call per rule (~0.4 us a
# tx more) or a combined test guarding the calls (a rule added to the calls but not to the test was skipped).
# The refusals are the shared checks' (`signer_is`, `positive_amount`, `future_time`, `doc_hash_ok`): the same
# codes and logs; tests/state/test_field_rules.py holds the two handlers to those checks run one by one.


def publish_requirement(ctx: Ctx, b: PublishRequirement) -> None:
    """T1: the agency publishes (a new version of) what security it needs."""
    now = ctx.now
    if ctx.signer_kind != AGENCY:
        raise not_authorised(ctx, AGENCY, "publishing a security requirement")
    if b.type not in LG_TYPES:
        raise _bad_type()
    if b.min_amount <= 0:
        raise bad_amount(b.min_amount)
    if not b.req_id or ":" in b.req_id or "/" in b.req_id:
        raise TxError(E.BAD_FIELD, field="req_id", reason="must be non-empty without ':' or '/'")
    if b.must_cover_until <= now:
        raise bad_time(ctx, "must-cover-until", b.must_cover_until)
    if b.type == "BID":
        if b.bid_deadline <= now:
            raise bad_time(ctx, "bid deadline", b.bid_deadline)
    elif b.bid_deadline:
        raise TxError(E.BAD_FIELD, field="bid_deadline", reason="only a BID requirement has a bid deadline")
    agency = ctx.signer_id
    rid = f"{agency}:{b.req_id}"
    key = NS_STATE + k_req(rid)
    view = ctx.view
    old = view.get_rec(key, Requirement)  # ctx.get
    version = 1 if old is None else old.version + 1
    rec = Requirement(rid, agency, version, b.project_no, b.lot, b.type, b.min_amount, b.must_cover_until,
                      b.bid_deadline, b.form_code, now)
    view.put(key, pack(rec), rec)  # ctx.put
    ctx.emit_values("req", _REQ_EVENT_KEYS, (rid, agency, b.type, str(version)))


_REQ_EVENT_KEYS = ("id", "agency", "type", "version")


def request_guarantee(ctx: Ctx, b: RequestGuarantee) -> None:
    """T2: a registered supplier asks its chosen bank for a guarantee."""
    signer_is(ctx, SUPPLIER, "requesting a guarantee")
    _type_ok(b.type)
    positive_amount(b.amount)
    if ctx.get(k_req(b.requirement), Requirement) is None:
        raise TxError(E.UNKNOWN_REQUIREMENT, req_id=b.requirement)
    from state.registry import require_institution

    require_institution(ctx, BANK, b.bank)
    rid = ctx.tx_hash[:16].hex()
    ctx.put(k_request(rid), GuaranteeRequest(rid, ctx.signer_id, b.bank, b.requirement, b.type, b.amount,
                                             b.expiry, REQUESTED, "", ctx.now))
    ctx.emit_values("lgrq", _LGRQ_EVENT_KEYS, (rid, b.bank, ctx.signer_id, b.type, REQUESTED))


_LGRQ_EVENT_KEYS = ("id", "bank", "supplier", "type", "status")


def _open_request(ctx: Ctx, rid: str) -> GuaranteeRequest:
    rq = ctx.get(k_request(rid), GuaranteeRequest)
    if rq is None:
        raise TxError(E.UNKNOWN_REQUEST, id=rid)
    if rq.status != REQUESTED:
        raise TxError(E.REQUEST_CLOSED, id=rid, status=rq.status)
    return rq


def decline_request(ctx: Ctx, b: DeclineRequest) -> None:
    rq = _open_request(ctx, b.request_id)
    signer_is(ctx, BANK, "declining a request", rq.bank)
    ctx.put(k_request(rq.id), GuaranteeRequest(rq.id, rq.supplier, rq.bank, rq.requirement, rq.type, rq.amount,
                                               rq.expiry, DECLINED, "", ctx.now))
    ctx.emit_values("lgrq", _LGRQ_EVENT_KEYS, (rq.id, rq.bank, rq.supplier, rq.type, DECLINED))


def _check_requirement(ctx: Ctx, b: IssueGuarantee) -> Requirement:
    req = ctx.view.get_rec(NS_STATE + k_req(b.requirement), Requirement)  # ctx.get
    if req is None:
        raise TxError(E.UNKNOWN_REQUIREMENT, req_id=b.requirement)
    if req.version != b.req_version:
        raise TxError(E.STALE_REQUIREMENT, req_id=b.requirement, latest=req.version, got=b.req_version)
    if req.type != b.type:
        raise TxError(E.WRONG_TYPE, want=req.type, got=b.type)
    if b.amount < req.min_amount:
        raise TxError(E.AMOUNT_BELOW_MINIMUM, amount=thb(b.amount), minimum=thb(req.min_amount))
    if b.expiry < req.must_cover_until:
        raise TxError(E.EXPIRY_TOO_EARLY, expiry=fmt_time(b.expiry), must_cover=fmt_time(req.must_cover_until))
    if req.type == "BID" and ctx.now >= req.bid_deadline:
        raise TxError(E.BID_DEADLINE_PASSED, deadline=fmt_time(req.bid_deadline))
    return req


def _check_replacement(ctx: Ctx, b: IssueGuarantee, live_id: str | None) -> Guarantee | None:
    """T16: the old guarantee must be ACTIVE, same parties, requirement and type, not already being replaced."""
    if not b.replaces:
        if live_id is not None:
            raise TxError(E.LIVE_GUARANTEE_EXISTS, supplier=b.applicant, type=b.type, existing=live_id,
                          req_id=b.requirement)
        return None
    old = load(ctx, b.replaces)
    problem = ""
    if old.status != ACTIVE:
        problem = f"it is {old.status}, not ACTIVE without a pending demand"
    elif (old.applicant, old.requirement, old.type) != (b.applicant, b.requirement, b.type):
        problem = "it is for another supplier, requirement or type"
    elif old.replaced_by:
        problem = f"replacement {old.replaced_by} is already pending"
    elif live_id != old.id:
        problem = "it is not the live guarantee for this requirement"
    if problem:
        raise TxError(E.REPLACE_MISMATCH, old=old.id, reason=problem)
    return old


def issue_guarantee(ctx: Ctx, b: IssueGuarantee) -> None:
    """T3: the bank issues; the guarantee is ISSUED (irrevocable from now on, I4)."""
    bank = ctx.signer_id
    if ctx.signer_kind != BANK:
        raise not_authorised(ctx, BANK, "issuing a guarantee")
    if b.type not in LG_TYPES:
        raise _bad_type()
    if b.amount <= 0:
        raise bad_amount(b.amount)
    if len(b.doc_hash) not in (0, 32):
        raise bad_doc_hash()
    if not b.ref or "/" in b.ref:
        raise TxError(E.BAD_FIELD, field="ref", reason="must be non-empty without '/'")
    if b.expiry <= ctx.now:
        raise bad_time(ctx, "expiry", b.expiry)
    require_supplier(ctx, b.applicant)
    req = _check_requirement(ctx, b)
    lg_id = lg_id_of(bank, b.ref)
    if ctx.view.get(NS_STATE + k_lg(lg_id)) is not None:  # ctx.exists
        raise TxError(E.DUPLICATE_ID, id=lg_id, bank=bank, ref=b.ref)
    live_key = k_live(b.requirement, b.applicant, b.type)
    old = _check_replacement(ctx, b, ctx.get_str(live_key))
    if b.request_id:
        rq = _open_request(ctx, b.request_id)
        if (rq.bank, rq.supplier, rq.requirement, rq.type) != (bank, b.applicant, b.requirement, b.type):
            raise TxError(E.BAD_FIELD, field="request_id", reason="the request is for another bank, "
                          "supplier, requirement or type")
        ctx.put(k_request(rq.id), GuaranteeRequest(rq.id, rq.supplier, rq.bank, rq.requirement, rq.type,
                                                   rq.amount, rq.expiry, ISSUED, lg_id, ctx.now))
    now = ctx.now
    # the new Guarantee's fields, in field order (`_store` packs `[TAG, *values]` and makes the record of this dict:
    # no Guarantee built here and dropped; tests/state/test_exec_paths.py holds the keys to the record's fields)
    f = {"id": lg_id, "bank": bank, "ref": b.ref, "type": b.type, "applicant": b.applicant, "beneficiary": req.agency,
         "requirement": b.requirement, "req_version": b.req_version, "amount": b.amount, "paid": 0,
         "issued_amount": b.amount, "issued_at": now, "expiry": b.expiry, "partial_allowed": b.partial_allowed,
         "multiple_allowed": b.multiple_allowed, "extend_or_pay": b.extend_or_pay,
         "reduction_clause": b.reduction_clause, "doc_hash": b.doc_hash, "version": 1, "status": ISSUED,
         "status_since": now, "demand": None, "demands_presented": 0, "amendment": None, "cancel_consent": "",
         "replaces": b.replaces, "replaced_by": "", "obligation_end": 0, "cover_until": req.must_cover_until,
         "coverage_gap_since": 0, "events": 0, "last_event_hash": b""}
    _store(ctx, None, f, "issue", b.amount, b.doc_hash)
    if old is not None:
        transition(ctx, old, "replacement_issued", replaced_by=lg_id)
    else:
        ctx.put_str(live_key, lg_id)

"""e-Credit Confirmations: (REQUESTED ->) ISSUED -> CONSUMED, ending EXPIRED | REVOKED (domain.md,
research §4).

A bank confirms a supplier's credit line for a purpose, addressed to CGD or an agency, valid 90 days by
default. The addressee (CGD for "CGD") consumes it once, binding it to one registration or bid; a letter
for one project cannot be consumed for another. Nothing is verified or consumed after expiry or
revocation; a decision already taken on a consumed letter stays valid. The confirmed amount is stored
but queries answer only "line >= threshold" (the attested threshold), never the amount.

Indexes: ccs/<tax id>/<id> (a supplier's letters), ccexp/<valid_until:013d>/<id> (automatic expiry).
"""

from __future__ import annotations

import dataclasses

from state import errors as E
from state.calendar import DAY_MS, fmt_time
from state.errors import TxError, thb
from state.records import (
    CC_PURPOSES,
    CONSUMED,
    DECLINED,
    EXPIRED,
    ISSUED,
    REQUESTED,
    REVOKED,
    CreditConfirmation,
    CreditRequest,
    Institution,
    cc_id_of,
    k_cc,
    k_cc_request,
    k_inst,
)
from state.registry import (
    AGENCY,
    BANK,
    REGISTRAR,
    SUPPLIER,
    get_params,
    require_institution,
    require_supplier,
    signer_is,
)
from state.store import Ctx
from state.txs import ConsumeCredit, DeclineCredit, IssueCredit, RequestCredit, RevokeCredit


def _save(ctx: Ctx, old: CreditConfirmation | None, new: CreditConfirmation, action: str) -> None:
    ctx.put(k_cc(new.id), new)
    if old is None:
        ctx.index_put(f"ccs/{new.applicant}/{new.id}".encode())
    exp_key = f"ccexp/{new.valid_until:013d}/{new.id}".encode()
    if new.status == ISSUED:
        ctx.index_put(exp_key)
    else:
        ctx.index_delete(exp_key)
    ctx.emit_values("cc", _CC_EVENT_KEYS, (new.id, new.bank, new.applicant, new.addressee, new.purpose, new.status,
                                         action))


_CC_EVENT_KEYS = ("id", "bank", "supplier", "agency", "type", "status", "action")
_CCRQ_EVENT_KEYS = ("id", "bank", "supplier", "type", "status")


def load_cc(ctx: Ctx, cc_id: str) -> CreditConfirmation:
    cc = ctx.get(k_cc(cc_id), CreditConfirmation)
    if cc is None:
        raise TxError(E.UNKNOWN_CC, id=cc_id)
    return cc


def issue_credit(ctx: Ctx, b: IssueCredit) -> None:
    signer_is(ctx, BANK, "issuing a credit confirmation")
    if not b.ref or "/" in b.ref:
        raise TxError(E.BAD_FIELD, field="ref", reason="must be non-empty without '/'")
    require_supplier(ctx, b.applicant)
    if b.purpose not in CC_PURPOSES:
        raise TxError(E.BAD_PURPOSE, purpose=b.purpose)
    if b.addressee != "CGD" and ctx.get(k_inst(AGENCY, b.addressee), Institution) is None:
        raise TxError(E.UNKNOWN_INSTITUTION, kind="agency", code=b.addressee)
    if b.amount <= 0:
        raise TxError(E.BAD_AMOUNT, amount=b.amount)
    if b.threshold < 0 or b.threshold > b.amount:
        raise TxError(E.CC_THRESHOLD, threshold=thb(b.threshold), amount=thb(b.amount))
    valid_until = b.valid_until or ctx.now + get_params(ctx).cc_validity_days * DAY_MS
    if valid_until <= ctx.now:
        raise TxError(E.BAD_TIME, what="valid-until", when=fmt_time(valid_until), now=fmt_time(ctx.now))
    cc_id = cc_id_of(ctx.signer_id, b.ref)
    if ctx.exists(k_cc(cc_id)):
        raise TxError(E.CC_EXISTS, id=cc_id, bank=ctx.signer_id, ref=b.ref)
    cc = CreditConfirmation(cc_id, ctx.signer_id, b.ref, b.applicant, b.purpose, b.addressee, b.project,
                            b.amount, b.threshold, ctx.now, valid_until, b.doc_hash, ISSUED, "", ctx.now)
    _save(ctx, None, cc, "issue")
    _fulfil_request(ctx, cc)


def request_credit(ctx: Ctx, b: RequestCredit) -> None:
    """A registered supplier asks a bank; the bank's next issue for the same purpose and addressee fulfils it."""
    signer_is(ctx, SUPPLIER, "requesting a credit confirmation")
    if b.purpose not in CC_PURPOSES:
        raise TxError(E.BAD_PURPOSE, purpose=b.purpose)
    require_institution(ctx, BANK, b.bank)
    if b.threshold < 0:
        raise TxError(E.BAD_AMOUNT, amount=b.threshold)
    rid = ctx.tx_hash[:16].hex()
    rq = CreditRequest(rid, ctx.signer_id, b.bank, b.purpose, b.addressee, b.project, b.threshold, REQUESTED, "",
                       ctx.now)
    ctx.put(k_cc_request(rid), rq)
    ctx.index_put(_open_key(rq))
    ctx.emit_values("ccrq", _CCRQ_EVENT_KEYS, (rid, b.bank, ctx.signer_id, b.purpose, REQUESTED))


def _open_key(rq: CreditRequest) -> bytes:
    return f"ccrq/{rq.bank}/{rq.supplier}/{rq.at:013d}/{rq.id}".encode()


def _close_request(ctx: Ctx, rq: CreditRequest, status: str, cc_id: str) -> None:
    ctx.put(k_cc_request(rq.id), dataclasses.replace(rq, status=status, cc_id=cc_id, at=ctx.now))
    ctx.index_delete(_open_key(rq))
    ctx.emit_values("ccrq", _CCRQ_EVENT_KEYS, (rq.id, rq.bank, rq.supplier, rq.purpose, status))


def decline_credit(ctx: Ctx, b: DeclineCredit) -> None:
    rq = ctx.get(k_cc_request(b.request_id), CreditRequest)
    if rq is None:
        raise TxError(E.UNKNOWN_REQUEST, id=b.request_id)
    signer_is(ctx, BANK, "declining a credit request", rq.bank)
    if rq.status != REQUESTED:
        raise TxError(E.REQUEST_CLOSED, id=rq.id, status=rq.status)
    _close_request(ctx, rq, DECLINED, "")


def _fulfil_request(ctx: Ctx, cc: CreditConfirmation) -> None:
    """The oldest open request of this supplier at this bank for the same purpose and addressee."""
    for key, _ in ctx.index_scan(f"ccrq/{cc.bank}/{cc.applicant}/".encode()):
        rq = ctx.get(k_cc_request(key.decode().rsplit("/", 1)[1]), CreditRequest)
        if rq is not None and (rq.purpose, rq.addressee) == (cc.purpose, cc.addressee):
            _close_request(ctx, rq, ISSUED, cc.id)
            return


def usable(cc: CreditConfirmation, now: int) -> bool:
    return cc.status == ISSUED and now <= cc.valid_until


def consume_credit(ctx: Ctx, b: ConsumeCredit) -> None:
    cc = load_cc(ctx, b.id)
    addressee_ok = (ctx.signer_kind, ctx.signer_id) == (AGENCY, cc.addressee) or (
        cc.addressee == "CGD" and ctx.signer_kind == REGISTRAR
    )
    if not addressee_ok:
        raise TxError(E.CC_WRONG_ADDRESSEE, id=cc.id, addressee=cc.addressee,
                      who=f"{ctx.signer_kind.lower()} {ctx.signer_id}")
    if cc.status != ISSUED:
        raise TxError(E.CC_NOT_USABLE, id=cc.id, status=cc.status)
    if ctx.now > cc.valid_until:
        raise TxError(E.CC_EXPIRED, id=cc.id, valid_until=fmt_time(cc.valid_until))
    if not b.bind_to:
        raise TxError(E.BAD_FIELD, field="bind_to", reason="name the registration or bid it backs")
    if cc.project and not (b.bind_to == cc.project or b.bind_to.startswith(cc.project + ":")):
        raise TxError(E.BAD_FIELD, field="bind_to", reason=f"this letter is for project {cc.project} only")
    _save(ctx, cc, dataclasses.replace(cc, status=CONSUMED, bound_to=b.bind_to, status_since=ctx.now), "consume")


def revoke_credit(ctx: Ctx, b: RevokeCredit) -> None:
    cc = load_cc(ctx, b.id)
    signer_is(ctx, BANK, "revoking a credit confirmation", cc.bank)
    if cc.status not in (ISSUED, CONSUMED):
        raise TxError(E.CC_NOT_USABLE, id=cc.id, status=cc.status)
    if ctx.now > cc.valid_until:
        raise TxError(E.CC_EXPIRED, id=cc.id, valid_until=fmt_time(cc.valid_until))
    _save(ctx, cc, dataclasses.replace(cc, status=REVOKED, status_since=ctx.now), "revoke")


def expire_due_credit(ctx: Ctx) -> int:
    """Automatic expiry: ISSUED letters whose validity ended before the block time."""
    due = [k.decode().rsplit("/", 1)[1]
           for k, _ in ctx.index_scan(b"ccexp/", stop=f"ccexp/{ctx.now:013d}".encode())]
    for cc_id in due:
        cc = load_cc(ctx, cc_id)
        if cc.status == ISSUED and cc.valid_until < ctx.now:
            _save(ctx, cc, dataclasses.replace(cc, status=EXPIRED, status_since=ctx.now), "expire")
    return len(due)

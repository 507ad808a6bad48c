"""The e-LG lifecycle after issue: T4 acknowledge, T4b refuse, T5 cancel, T6/T7 amendments, T8 reduce,
T14 release, T15 expire (by anyone, and automatically at the first block past expiry), obligation end and
coverage (I7). Demands (T9-T13) are in state/demands.py; issue and replace (T3, T16) in state/issuance.py.

Terms change only through an accepted amendment, a reduction, or a payment (I3); a terminal status is
final (I6); cancellation needs the bank and the beneficiary (I4).
"""

from __future__ import annotations

from state import errors as E
from state.calendar import fmt_time
from state.errors import TxError, thb
from state.lg_core import (
    doc_hash_ok,
    future_time,
    load,
    need_status,
    rating_event,
    signer_bank,
    signer_beneficiary,
    transition,
)
from state.records import (
    ACTIVE,
    CANCELLED,
    EXHAUSTED,
    EXPIRED,
    ISSUED,
    REFUSED,
    RELEASED,
    SUPERSEDED,
    TERMINAL,
    Amendment,
    Guarantee,
    Requirement,
    k_live,
    k_req,
)
from state.store import NS_STATE, Ctx
from state.txs import (
    AcceptAmendment,
    Acknowledge,
    Cancel,
    Expire,
    ProposeAmendment,
    RecordObligation,
    Reduce,
    Refuse,
    RejectAmendment,
    Release,
)


def acknowledge(ctx: Ctx, b: Acknowledge) -> None:
    """T4: the beneficiary accepts the security; for a BID only once the bid deadline has passed."""
    g = load(ctx, b.id)
    signer_beneficiary(ctx, g, "acknowledging a guarantee")
    need_status(g, "acknowledging", ISSUED)
    req = ctx.view.get_rec(NS_STATE + k_req(g.requirement), Requirement)  # ctx.get
    if req is not None and req.type == "BID" and ctx.now < req.bid_deadline:
        raise TxError(E.BEFORE_REVEAL, req_id=g.requirement, deadline=fmt_time(req.bid_deadline))
    old = None
    if g.replaces:
        old = load(ctx, g.replaces)
        if old.status != ACTIVE or old.replaced_by != g.id:
            raise TxError(E.REPLACE_MISMATCH, old=old.id, reason=f"it is {old.status} and no longer replaceable")
    transition(ctx, g, "acknowledge", status=ACTIVE)
    if old is not None:
        transition(ctx, old, "supersede", status=SUPERSEDED)
        ctx.put_str(k_live(g.requirement, g.applicant, g.type), g.id)


def _unlink_replacement(ctx: Ctx, g: Guarantee) -> None:
    """A replacement that ends before acknowledgement frees the old guarantee for another replacement."""
    if g.replaces:
        old = load(ctx, g.replaces)
        if old.replaced_by == g.id and old.status not in TERMINAL:
            transition(ctx, old, "replacement_ended", replaced_by="")


def refuse(ctx: Ctx, b: Refuse) -> None:
    """T4b: the beneficiary refuses a non-conforming security; REFUSED is final."""
    g = load(ctx, b.id)
    signer_beneficiary(ctx, g, "refusing a guarantee")
    need_status(g, "refusing", ISSUED)
    transition(ctx, g, "refuse", status=REFUSED)
    _unlink_replacement(ctx, g)


def cancel(ctx: Ctx, b: Cancel) -> None:
    """T5: cancelled only with both the bank's and the beneficiary's consent, never with a demand pending."""
    g = load(ctx, b.id)
    if (ctx.signer_kind, ctx.signer_id) == ("BANK", g.bank):
        party = "BANK"
    elif (ctx.signer_kind, ctx.signer_id) == ("AGENCY", g.beneficiary):
        party = "AGENCY"
    else:
        raise TxError(E.NOT_AUTHORISED, action="cancelling a guarantee",
                      role=f"bank {g.bank} and agency {g.beneficiary} together",
                      signer=f"{ctx.signer_kind.lower()} {ctx.signer_id}")
    need_status(g, "cancelling", ISSUED, ACTIVE)
    if g.cancel_consent == party:
        raise TxError(E.ALREADY_CONSENTED, party=party.lower(), action="cancelling", id=g.id)
    if not g.cancel_consent:
        transition(ctx, g, "cancel_consent", cancel_consent=party)
        return
    transition(ctx, g, "cancel", status=CANCELLED)
    _unlink_replacement(ctx, g)


def propose_amendment(ctx: Ctx, b: ProposeAmendment) -> None:
    """T6: the bank proposes new terms; they bind the bank now and apply once the beneficiary accepts."""
    g = load(ctx, b.id)
    signer_bank(ctx, g, "proposing an amendment")
    need_status(g, "amending", ISSUED, ACTIVE)
    if g.amendment is not None:
        raise TxError(E.AMENDMENT_PENDING, id=g.id)
    doc_hash_ok(b.doc_hash)
    floor = g.paid + g.pending
    if b.new_amount <= 0 or b.new_amount < floor:
        raise TxError(E.REDUCTION_TOO_LARGE, new=thb(b.new_amount), floor=thb(floor))
    future_time(ctx, "new expiry", b.new_expiry)
    if g.type == "BID" and b.new_expiry < g.cover_until:  # I7: a bid security covers the bid validity
        raise TxError(E.EXPIRY_TOO_EARLY, expiry=fmt_time(b.new_expiry), must_cover=fmt_time(g.cover_until))
    if b.new_amount == g.amount and b.new_expiry == g.expiry:
        raise TxError(E.AMENDMENT_NO_CHANGE, reason="same amount and expiry")
    transition(ctx, g, "amend_propose", amendment=Amendment(b.new_amount, b.new_expiry, b.doc_hash, ctx.now),
               ev_amount=b.new_amount, ev_doc=b.doc_hash)


def accept_amendment(ctx: Ctx, b: AcceptAmendment) -> None:
    """T7: the beneficiary accepts: the amendment becomes the terms (a new version)."""
    g = load(ctx, b.id)
    signer_beneficiary(ctx, g, "accepting an amendment")
    need_status(g, "accepting an amendment", ISSUED, ACTIVE)
    a = g.amendment
    if a is None:
        raise TxError(E.NO_AMENDMENT, id=g.id)
    if a.new_expiry <= ctx.now:
        raise TxError(E.BAD_TIME, what="the amended expiry", when=fmt_time(a.new_expiry), now=fmt_time(ctx.now))
    gap = g.coverage_gap_since if g.cover_until > a.new_expiry and g.type == "PERF" else 0
    if gap == 0 and g.cover_until > a.new_expiry and g.type == "PERF":
        gap = ctx.now
    if a.new_expiry > g.expiry:
        rating_event(ctx, g, "EXTENSION")
    transition(ctx, g, "amend_accept", amendment=None, amount=a.new_amount, expiry=a.new_expiry,
               coverage_gap_since=gap, doc_hash=a.doc_hash or g.doc_hash, ev_amount=a.new_amount,
               ev_doc=a.doc_hash)


def reject_amendment(ctx: Ctx, b: RejectAmendment) -> None:
    g = load(ctx, b.id)
    signer_beneficiary(ctx, g, "rejecting an amendment")
    if g.amendment is None:
        raise TxError(E.NO_AMENDMENT, id=g.id)
    need_status(g, "rejecting an amendment", ISSUED, ACTIVE, "DEMANDED", "SUSPENDED")
    transition(ctx, g, "amend_reject", amendment=None)


def reduce(ctx: Ctx, b: Reduce) -> None:
    """T8: a partial release by the beneficiary, or the bank applying the guarantee's reduction clause."""
    g = load(ctx, b.id)
    is_bank = (ctx.signer_kind, ctx.signer_id) == ("BANK", g.bank)
    if is_bank:
        if not g.reduction_clause:
            raise TxError(E.NO_REDUCTION_CLAUSE, id=g.id)
        if len(b.doc_hash) != 32:
            raise TxError(E.BAD_FIELD, field="doc_hash", reason="a reduction clause needs the trigger document")
    else:
        signer_beneficiary(ctx, g, "reducing a guarantee")
    need_status(g, "reducing", ACTIVE)
    doc_hash_ok(b.doc_hash)
    if b.new_amount >= g.amount:
        raise TxError(E.NOT_A_REDUCTION, new=thb(b.new_amount), amount=thb(g.amount))
    floor = g.paid + g.pending
    if b.new_amount <= 0 or b.new_amount < floor:
        raise TxError(E.REDUCTION_TOO_LARGE, new=thb(b.new_amount), floor=thb(floor))
    status = EXHAUSTED if b.new_amount == g.paid else ACTIVE
    transition(ctx, g, "reduce", amount=b.new_amount, status=status, ev_amount=b.new_amount, ev_doc=b.doc_hash)


def release(ctx: Ctx, b: Release) -> None:
    """T14: the beneficiary gives the security back; a PERF without any payment is a clean release."""
    g = load(ctx, b.id)
    signer_beneficiary(ctx, g, "releasing a guarantee")
    need_status(g, "releasing", ISSUED, ACTIVE)
    if g.type == "PERF" and g.paid == 0 and g.status == ACTIVE:
        rating_event(ctx, g, "CLEAN_RELEASE")
    transition(ctx, g, "release", status=RELEASED)
    _unlink_replacement(ctx, g)


def expire(ctx: Ctx, b: Expire) -> None:
    """T15 by anyone: ISSUED or ACTIVE and the block time is past the expiry."""
    g = load(ctx, b.id)
    need_status(g, "expiring", ISSUED, ACTIVE)
    if ctx.now <= g.expiry:
        raise TxError(E.NOT_EXPIRED, id=g.id, expiry=fmt_time(g.expiry))
    transition(ctx, g, "expire", status=EXPIRED)
    _unlink_replacement(ctx, g)


def record_obligation(ctx: Ctx, b: RecordObligation) -> None:
    """The beneficiary records the end of the obligations (15-day return rule) and/or what must be covered.

    A PERF whose expiry no longer covers `cover_until` is flagged (`coverage_gap_since`, I7)."""
    g = load(ctx, b.id)
    signer_beneficiary(ctx, g, "recording the obligation end")
    need_status(g, "recording the obligation end", ISSUED, ACTIVE, "DEMANDED", "SUSPENDED")
    if g.type == "BID" and b.cover_until:
        raise TxError(E.BAD_FIELD, field="cover_until", reason="a bid security covers its bid validity only")
    cover = b.cover_until or g.cover_until
    gap = 0
    if g.type == "PERF" and cover > g.expiry:
        gap = g.coverage_gap_since or ctx.now
        if not g.coverage_gap_since:
            rating_event(ctx, g, "COVERAGE_GAP")
    transition(ctx, g, "obligation", obligation_end=b.obligation_end or g.obligation_end, cover_until=cover,
               coverage_gap_since=gap)


def expire_due(ctx: Ctx, limit: int = 10_000) -> int:
    """Automatic T15 at the start of a block: every ISSUED/ACTIVE guarantee whose expiry is before the
    block time. One with a demand presented in time stays (I2) and expires when the demand is settled."""
    due: list[str] = []
    stop = f"exp/{ctx.now:013d}".encode()
    for key, _ in ctx.index_scan(b"exp/", stop=stop):
        due.append(key.decode().rsplit("/", 1)[1])
        if len(due) >= limit:
            break
    done = 0
    for lg_id in due:
        g = load(ctx, lg_id)
        if g.status in (ISSUED, ACTIVE) and g.expiry < ctx.now:
            saved_signer, saved_tx = ctx.signer_addr, ctx.tx_hash
            ctx.signer_addr, ctx.tx_hash = b"", b""
            transition(ctx, g, "expire", status=EXPIRED)
            _unlink_replacement(ctx, g)
            ctx.signer_addr, ctx.tx_hash = saved_signer, saved_tx
            done += 1
    return done


"""Demands on a guarantee: T9 demand, T10 honour, T11 reject, T12 extend-or-pay suspension, T13 extend or
withdraw. One demand is examined at a time (a second waits until the first is settled).

I1: paid + pending demand <= amount at all times: a demand never exceeds what is available.
I2: a demand is accepted only at or before expiry; once presented in time, expiry waits for its outcome.
The examination window is 5 business days (Bangkok calendar) after presentation: a rejection must come
inside it; honouring stays possible after it (the guarantor can no longer refuse, URDG 758 art. 20/24).
"""

from __future__ import annotations

import dataclasses

from state import errors as E
from state.calendar import DAY_MS, add_business_days, fmt_time
from state.errors import TxError, thb
from state.lg_core import load, need_status, rating_event, settle_status, signer_bank, signer_beneficiary, transition
from state.records import ACTIVE, DEMANDED, SUSPENDED, PendingDemand
from state.registry import get_params
from state.store import Ctx
from state.txs import Demand, Extend, Honour, RejectDemand, SuspendDemand, WithdrawDemand


def demand(ctx: Ctx, b: Demand) -> None:
    """T9: the beneficiary presents a (partial) demand before expiry, within what is available."""
    g = load(ctx, b.id)
    signer_beneficiary(ctx, g, "presenting a demand")
    need_status(g, "a demand", ACTIVE)
    if ctx.now > g.expiry:
        raise TxError(E.DEMAND_AFTER_EXPIRY, id=g.id, expiry=fmt_time(g.expiry))
    if b.amount <= 0:
        raise TxError(E.BAD_AMOUNT, amount=b.amount)
    if b.amount > g.available:
        raise TxError(E.DEMAND_EXCEEDS_AVAILABLE, amount=thb(b.amount), available=thb(g.available))
    if not g.partial_allowed and b.amount != g.available:
        raise TxError(E.PARTIAL_NOT_ALLOWED, id=g.id, available=thb(g.available))
    if not g.multiple_allowed and g.demands_presented > 0:
        raise TxError(E.MULTIPLE_NOT_ALLOWED, id=g.id)
    if len(b.statement_hash) != 32:
        raise TxError(E.BAD_FIELD, field="statement_hash", reason="the demand needs its statement (32-byte hash)")
    if b.extension_offer and b.extension_offer <= g.expiry:
        raise TxError(E.BAD_FIELD, field="extension_offer", reason="an extension must be later than the expiry")
    p = get_params(ctx)
    deadline = add_business_days(ctx.now, p.examination_business_days, p.holidays)
    d = PendingDemand(g.demands_presented + 1, b.amount, ctx.now, b.statement_hash, b.extension_offer,
                      deadline, 0)
    transition(ctx, g, "demand", status=DEMANDED, demand=d, demands_presented=g.demands_presented + 1,
               ev_amount=b.amount, ev_doc=b.statement_hash)


def honour(ctx: Ctx, b: Honour) -> None:
    """T10: the bank pays the pending demand; EXHAUSTED when nothing remains available."""
    g = load(ctx, b.id)
    signer_bank(ctx, g, "honouring a demand")
    need_status(g, "honouring", DEMANDED, SUSPENDED)
    d = g.demand
    if d is None:
        raise TxError(E.NO_DEMAND, id=g.id)
    paid = g.paid + d.amount
    rating_event(ctx, g, "FORFEITED" if g.type == "BID" else "HONOURED", d.amount)
    transition(ctx, g, "honour", paid=paid, demand=None, status=settle_status(ctx, g, paid), ev_amount=d.amount)


def reject_demand(ctx: Ctx, b: RejectDemand) -> None:
    """T11: the bank rejects, inside the examination window, in one notice listing every reason."""
    g = load(ctx, b.id)
    signer_bank(ctx, g, "rejecting a demand")
    need_status(g, "rejecting a demand", DEMANDED)
    d = g.demand
    if d is None:
        raise TxError(E.NO_DEMAND, id=g.id)
    if not b.reasons or any(not r for r in b.reasons):
        raise TxError(E.BAD_FIELD, field="reasons", reason="list every discrepancy in one notice")
    if ctx.now > d.deadline:
        raise TxError(E.WINDOW_CLOSED, id=g.id, deadline=fmt_time(d.deadline))
    transition(ctx, g, "reject_demand", demand=None, status=settle_status(ctx, g, g.paid))


def suspend(ctx: Ctx, b: SuspendDemand) -> None:
    """T12: extend-or-pay: the bank suspends payment for at most 30 days from presentation."""
    g = load(ctx, b.id)
    signer_bank(ctx, g, "suspending payment under extend-or-pay")
    need_status(g, "suspending payment", DEMANDED)
    d = g.demand
    if d is None:
        raise TxError(E.NO_DEMAND, id=g.id)
    if not g.extend_or_pay or not d.extension_offer:
        raise TxError(E.EXTEND_OR_PAY_NOT_ALLOWED, id=g.id)
    until = d.presented_at + get_params(ctx).suspension_days * DAY_MS
    if ctx.now >= until:
        raise TxError(E.WINDOW_CLOSED, id=g.id, deadline=fmt_time(until))
    rating_event(ctx, g, "EXTEND_OR_PAY")
    transition(ctx, g, "suspend", status=SUSPENDED, demand=dataclasses.replace(d, suspended_until=until))


def extend(ctx: Ctx, b: Extend) -> None:
    """T13: the bank grants the extension the demand offered; the demand is withdrawn by that offer."""
    g = load(ctx, b.id)
    signer_bank(ctx, g, "extending under extend-or-pay")
    need_status(g, "extending", SUSPENDED)
    d = g.demand
    if d is None:
        raise TxError(E.NO_DEMAND, id=g.id)
    rating_event(ctx, g, "EXTENSION")
    transition(ctx, g, "extend", demand=None, status=ACTIVE, expiry=d.extension_offer)


def withdraw(ctx: Ctx, b: WithdrawDemand) -> None:
    """T13: the beneficiary withdraws its demand."""
    g = load(ctx, b.id)
    signer_beneficiary(ctx, g, "withdrawing a demand")
    need_status(g, "withdrawing a demand", DEMANDED, SUSPENDED)
    if g.demand is None:
        raise TxError(E.NO_DEMAND, id=g.id)
    transition(ctx, g, "withdraw_demand", demand=None, status=settle_status(ctx, g, g.paid))

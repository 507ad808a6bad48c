"""Each transition T1-T16 of domain-research §3.3: one accepting test and one test per precondition."""

from __future__ import annotations

import pytest

from state import errors as E
from state.txs import (
    AcceptAmendment,
    Acknowledge,
    Cancel,
    DeclineRequest,
    Demand,
    Expire,
    Extend,
    Honour,
    ProposeAmendment,
    RecordObligation,
    Reduce,
    Refuse,
    RejectAmendment,
    RejectDemand,
    Release,
    RequestGuarantee,
    SuspendDemand,
    WithdrawDemand,
)
from tests.state.harness import DAY, Chain

H = b"\x02" * 32


@pytest.fixture
def c() -> Chain:
    return Chain()


# T1 publish requirement
def test_t1_publish_and_new_version(c: Chain) -> None:
    c.requirement("R1")
    c.requirement("R1")
    assert c.query("/requirement/AG1:R1")["result"]["version"] == 2


def test_t1_only_agency(c: Chain) -> None:
    from state.txs import PublishRequirement

    r = c.do(c.bank, PublishRequirement("R1", "P", "1", "PERF", 1, c.now + DAY, 0, "F"))
    assert r.code == E.NOT_AUTHORISED.code


# T2 request / decline
def test_t2_request_and_decline(c: Chain) -> None:
    req = c.requirement()
    r = c.ok(c.sup, RequestGuarantee("006", req, "PERF", 100, c.now + 10 * DAY))
    rid = next(a.value for a in r.events[0].attributes if a.key == "id")
    assert c.do(c.bank2, DeclineRequest(rid, "no")).code == E.NOT_AUTHORISED.code
    c.ok(c.bank, DeclineRequest(rid, "no credit line"))
    assert c.do(c.bank, DeclineRequest(rid, "again")).code == E.REQUEST_CLOSED.code


def test_t2_only_registered_supplier(c: Chain) -> None:
    req = c.requirement()
    assert c.do(c.agency, RequestGuarantee("006", req, "PERF", 100, c.now + DAY)).code == E.NOT_AUTHORISED.code


# T3 issue
def test_t3_issue_accepted(c: Chain) -> None:
    req = c.requirement()
    lg_id, r = c.issue(req=req)
    assert r.code == 0 and c.lg(lg_id).status == "ISSUED"


@pytest.mark.parametrize("kw,code", [
    ({"req": "AG1:NOPE"}, E.UNKNOWN_REQUIREMENT.code),
    ({"version": 2}, E.STALE_REQUIREMENT.code),
    ({"amount": 1}, E.AMOUNT_BELOW_MINIMUM.code),
    ({"expiry": 10 * DAY}, E.EXPIRY_TOO_EARLY.code),
    ({"type_": "ADV"}, E.WRONG_TYPE.code),
    ({"amount": 0}, E.BAD_AMOUNT.code),
])
def test_t3_preconditions(c: Chain, kw: dict[str, object], code: int) -> None:
    c.requirement()
    _, r = c.issue(**kw)  # type: ignore[arg-type]
    assert r.code == code, r.log


def test_t3_duplicate_id_and_live_uniqueness(c: Chain) -> None:
    c.requirement()
    assert c.issue("A")[1].code == 0
    assert c.issue("A")[1].code == E.DUPLICATE_ID.code
    assert c.issue("B")[1].code == E.LIVE_GUARANTEE_EXISTS.code
    assert c.issue("C", bank=c.bank2)[1].code == E.LIVE_GUARANTEE_EXISTS.code  # across banks (I5)


def test_t3_only_bank_and_bid_deadline(c: Chain) -> None:
    req = c.requirement("B1", "BID", deadline=2 * DAY, cover=90 * DAY)
    assert c.issue(req=req, type_="BID", bank=c.bank)[1].code == 0
    req2 = c.requirement("B2", "BID", deadline=1 * DAY, cover=90 * DAY)
    c.block([], dt=2 * DAY)
    assert c.issue("X", req=req2, type_="BID")[1].code == E.BID_DEADLINE_PASSED.code
    from state.txs import IssueGuarantee

    r = c.do(c.sup, IssueGuarantee("Y", "", "PERF", c.sup.code, req, 1, 1, c.now + DAY, True, True, True, False,
                                   b"", ""))
    assert r.code == E.NOT_AUTHORISED.code


# T4 acknowledge / T4b refuse
def test_t4_acknowledge(c: Chain) -> None:
    lg_id = c.active()
    assert c.lg(lg_id).status == "ACTIVE"


def test_t4_preconditions(c: Chain) -> None:
    c.requirement()
    lg_id, _ = c.issue()
    assert c.do(c.agency2, Acknowledge(lg_id)).code == E.NOT_AUTHORISED.code
    assert c.do(c.bank, Acknowledge(lg_id)).code == E.NOT_AUTHORISED.code
    c.ok(c.agency, Acknowledge(lg_id))
    assert c.do(c.agency, Acknowledge(lg_id)).code == E.WRONG_STATUS.code


def test_t4_bid_sealed_until_deadline(c: Chain) -> None:
    req = c.requirement("B1", "BID", deadline=2 * DAY, cover=90 * DAY)
    lg_id, _ = c.issue(req=req, type_="BID")
    assert c.do(c.agency, Acknowledge(lg_id)).code == E.BEFORE_REVEAL.code
    c.block([], dt=2 * DAY)
    c.ok(c.agency, Acknowledge(lg_id))


def test_t4b_refuse_is_final(c: Chain) -> None:
    c.requirement()
    lg_id, _ = c.issue()
    assert c.do(c.bank, Refuse(lg_id, "x")).code == E.NOT_AUTHORISED.code
    c.ok(c.agency, Refuse(lg_id, "wrong form"))
    assert c.do(c.agency, Acknowledge(lg_id)).code == E.TERMINAL.code
    assert c.issue("REF2")[1].code == 0  # the live slot is free again


# T5 cancel
def test_t5_cancel_needs_both(c: Chain) -> None:
    lg_id = c.active()
    c.ok(c.bank, Cancel(lg_id))
    assert c.lg(lg_id).status == "ACTIVE"
    assert c.do(c.bank, Cancel(lg_id)).code == E.ALREADY_CONSENTED.code
    assert c.do(c.sup, Cancel(lg_id)).code == E.NOT_AUTHORISED.code
    c.ok(c.agency, Cancel(lg_id))
    assert c.lg(lg_id).status == "CANCELLED"


def test_t5_no_cancel_with_pending_demand(c: Chain) -> None:
    lg_id = c.active()
    c.ok(c.agency, Demand(lg_id, 100, H, 0))
    assert c.do(c.bank, Cancel(lg_id)).code == E.DEMAND_PENDING.code


# T6 / T7 amendments
def test_t6_t7_amend_accept(c: Chain) -> None:
    lg_id = c.active()
    g = c.lg(lg_id)
    c.ok(c.bank, ProposeAmendment(lg_id, g.amount, g.expiry + 30 * DAY, b""))
    assert c.lg(lg_id).expiry == g.expiry  # terms unchanged until accepted (I3)
    assert c.do(c.bank, ProposeAmendment(lg_id, g.amount, g.expiry + 60 * DAY, b"")).code == \
        E.AMENDMENT_PENDING.code
    assert c.do(c.bank, AcceptAmendment(lg_id)).code == E.NOT_AUTHORISED.code
    c.ok(c.agency, AcceptAmendment(lg_id))
    g2 = c.lg(lg_id)
    assert g2.expiry == g.expiry + 30 * DAY and g2.version > g.version


def test_t6_t7_reject_and_preconditions(c: Chain) -> None:
    lg_id = c.active()
    g = c.lg(lg_id)
    assert c.do(c.agency, AcceptAmendment(lg_id)).code == E.NO_AMENDMENT.code
    assert c.do(c.agency, ProposeAmendment(lg_id, 5, g.expiry, b"")).code == E.NOT_AUTHORISED.code
    assert c.do(c.bank, ProposeAmendment(lg_id, g.amount, g.expiry, b"")).code == E.AMENDMENT_NO_CHANGE.code
    c.ok(c.bank, ProposeAmendment(lg_id, g.amount * 2, g.expiry, b""))
    c.ok(c.agency, RejectAmendment(lg_id))
    assert c.lg(lg_id).amount == g.amount


# T8 reduce
def test_t8_reduce(c: Chain) -> None:
    lg_id = c.active()
    c.ok(c.agency, Reduce(lg_id, 100_000_00, b""))
    assert c.lg(lg_id).amount == 100_000_00


def test_t8_preconditions(c: Chain) -> None:
    lg_id = c.active()
    assert c.do(c.agency, Reduce(lg_id, 600_000_00, b"")).code == E.NOT_A_REDUCTION.code
    assert c.do(c.bank, Reduce(lg_id, 1, H)).code == E.NO_REDUCTION_CLAUSE.code
    assert c.do(c.sup, Reduce(lg_id, 1, H)).code == E.NOT_AUTHORISED.code
    c.ok(c.agency, Demand(lg_id, 200_000_00, H, 0))
    assert c.do(c.agency, Reduce(lg_id, 100_000_00, b"")).code == E.DEMAND_PENDING.code


def test_t8_reduction_clause_by_bank(c: Chain) -> None:
    lg_id = c.active(reduction_clause=True)
    c.ok(c.bank, Reduce(lg_id, 300_000_00, H))
    assert c.lg(lg_id).amount == 300_000_00


# T9 demand
def test_t9_demand_and_t10_honour(c: Chain) -> None:
    lg_id = c.active()
    c.ok(c.agency, Demand(lg_id, 200_000_00, H, 0))
    assert c.lg(lg_id).status == "DEMANDED"
    assert c.do(c.bank2, Honour(lg_id)).code == E.NOT_AUTHORISED.code
    c.ok(c.bank, Honour(lg_id))
    g = c.lg(lg_id)
    assert (g.status, g.paid, g.available) == ("ACTIVE", 200_000_00, 300_000_00)
    c.ok(c.agency, Demand(lg_id, 300_000_00, H, 0))
    c.ok(c.bank, Honour(lg_id))
    assert c.lg(lg_id).status == "EXHAUSTED"


def test_t9_preconditions(c: Chain) -> None:
    lg_id = c.active(partial=False)
    r = c.do(c.agency, Demand(lg_id, 600_000_00, H, 0))
    assert r.code == E.DEMAND_EXCEEDS_AVAILABLE.code
    assert r.log == "demand of 600,000.00 THB exceeds available 500,000.00 THB"
    assert c.do(c.agency, Demand(lg_id, 100, H, 0)).code == E.PARTIAL_NOT_ALLOWED.code
    assert c.do(c.agency, Demand(lg_id, 500_000_00, b"", 0)).code == E.BAD_FIELD.code
    assert c.do(c.bank, Demand(lg_id, 500_000_00, H, 0)).code == E.NOT_AUTHORISED.code
    c.ok(c.agency, Demand(lg_id, 500_000_00, H, 0))
    assert c.do(c.agency, Demand(lg_id, 1, H, 0)).code == E.DEMAND_PENDING.code


def test_t9_no_demand_after_expiry(c: Chain) -> None:
    lg_id = c.active(expiry=120 * DAY)
    c.block([], dt=121 * DAY)
    g = c.lg(lg_id)
    assert g.status == "EXPIRED"
    assert c.do(c.agency, Demand(lg_id, 1, H, 0)).code == E.TERMINAL.code


def test_t9_single_demand_only(c: Chain) -> None:
    lg_id = c.active(multiple=False)
    c.ok(c.agency, Demand(lg_id, 100, H, 0))
    c.ok(c.bank, RejectDemand(lg_id, ("late",)))
    assert c.do(c.agency, Demand(lg_id, 100, H, 0)).code == E.MULTIPLE_NOT_ALLOWED.code


# T11 reject demand
def test_t11_reject_within_window_only(c: Chain) -> None:
    lg_id = c.active()
    c.ok(c.agency, Demand(lg_id, 100, H, 0))
    assert c.do(c.bank, RejectDemand(lg_id, ())).code == E.BAD_FIELD.code
    c.ok(c.bank, RejectDemand(lg_id, ("statement missing",)))
    assert c.lg(lg_id).status == "ACTIVE"
    c.ok(c.agency, Demand(lg_id, 100, H, 0))
    c.block([], dt=10 * DAY)
    assert c.do(c.bank, RejectDemand(lg_id, ("late",))).code == E.WINDOW_CLOSED.code
    c.ok(c.bank, Honour(lg_id))  # honouring stays possible


# T12 / T13 extend-or-pay
def test_t12_t13_suspend_then_extend(c: Chain) -> None:
    lg_id = c.active()
    g = c.lg(lg_id)
    c.ok(c.agency, Demand(lg_id, 100, H, g.expiry + 90 * DAY))
    c.ok(c.bank, SuspendDemand(lg_id))
    assert c.lg(lg_id).status == "SUSPENDED"
    assert c.do(c.agency, Extend(lg_id)).code == E.NOT_AUTHORISED.code
    c.ok(c.bank, Extend(lg_id))
    g2 = c.lg(lg_id)
    assert (g2.status, g2.expiry, g2.paid) == ("ACTIVE", g.expiry + 90 * DAY, 0)


def test_t12_preconditions_and_withdraw(c: Chain) -> None:
    lg_id = c.active(extend_or_pay=False)
    c.ok(c.agency, Demand(lg_id, 100, H, c.lg(lg_id).expiry + DAY))
    assert c.do(c.bank, SuspendDemand(lg_id)).code == E.EXTEND_OR_PAY_NOT_ALLOWED.code
    assert c.do(c.bank, Extend(lg_id)).code == E.WRONG_STATUS.code
    c.ok(c.agency, WithdrawDemand(lg_id))
    assert c.lg(lg_id).status == "ACTIVE"
    assert c.do(c.agency, WithdrawDemand(lg_id)).code == E.WRONG_STATUS.code


# T14 release
def test_t14_release(c: Chain) -> None:
    lg_id = c.active()
    assert c.do(c.sup, Release(lg_id)).code == E.NOT_AUTHORISED.code  # the applicant can never release (I3)
    c.ok(c.agency, Release(lg_id))
    assert c.lg(lg_id).status == "RELEASED"
    assert c.do(c.agency, Release(lg_id)).code == E.TERMINAL.code


def test_t14_no_release_with_pending_demand(c: Chain) -> None:
    lg_id = c.active()
    c.ok(c.agency, Demand(lg_id, 100, H, 0))
    assert c.do(c.agency, Release(lg_id)).code == E.DEMAND_PENDING.code


# T15 expire
def test_t15_expire_tick_and_automatic(c: Chain) -> None:
    lg_id = c.active(expiry=120 * DAY)
    assert c.do(c.sup, Expire(lg_id)).code == E.NOT_EXPIRED.code
    c.block([], dt=121 * DAY)
    assert c.lg(lg_id).status == "EXPIRED"


def test_t15_expiry_waits_for_timely_demand(c: Chain) -> None:
    lg_id = c.active(expiry=120 * DAY)
    c.block([], dt=118 * DAY)
    c.ok(c.agency, Demand(lg_id, 100, H, 0))
    c.block([], dt=5 * DAY)
    assert c.lg(lg_id).status == "DEMANDED"  # I2: expiry never cancels a demand presented in time
    c.ok(c.bank, Honour(lg_id))
    g = c.lg(lg_id)
    assert (g.status, g.paid) == ("EXPIRED", 100)


# T16 replace
def test_t16_replace(c: Chain) -> None:
    old = c.active()
    new, r = c.issue("REF2", amount=300_000_00, replaces=old)
    assert r.code == 0, r.log
    assert c.issue("REF3", replaces=old)[1].code == E.REPLACE_MISMATCH.code
    c.ok(c.agency, Acknowledge(new))
    assert (c.lg(old).status, c.lg(new).status) == ("SUPERSEDED", "ACTIVE")


def test_t16_replace_preconditions(c: Chain) -> None:
    c.requirement()
    old, _ = c.issue()
    assert c.issue("REF2", replaces=old)[1].code == E.REPLACE_MISMATCH.code  # not ACTIVE yet
    assert c.issue("REF3", replaces="LGNOPE")[1].code == E.UNKNOWN_GUARANTEE.code


def test_obligation_and_overdue_release(c: Chain) -> None:
    lg_id = c.active()
    g = c.lg(lg_id)
    c.ok(c.agency, RecordObligation(lg_id, c.now, g.expiry + 100 * DAY))
    assert c.lg(lg_id).coverage_gap_since > 0
    c.block([], dt=16 * DAY)
    assert [x["id"] for x in c.query("/lg/overdue-releases")["result"]["items"]] == [lg_id]
    assert [x["id"] for x in c.query("/lg/coverage-gaps")["result"]["items"]] == [lg_id]
    rating = c.query(f"/supplier/{c.sup.code}/rating")["result"]
    assert rating["score"] == 970 and rating["events"][0]["kind"] == "COVERAGE_GAP"


def test_bid_securities_sealed_until_deadline(c: Chain) -> None:
    from state.abci import RequestQuery

    req = c.requirement("B1", "BID", deadline=2 * DAY, cover=90 * DAY)
    lg_id, _ = c.issue(req=req, type_="BID")
    r = c.app.query(RequestQuery(f"/requirement/{req}/securities"))
    assert r.code == E.BEFORE_REVEAL.code
    c.block([], dt=2 * DAY)
    assert [g["id"] for g in c.query(f"/requirement/{req}/securities")["result"]["items"]] == [lg_id]


# remaining preconditions, one assertion each
def test_t3_more_preconditions(c: Chain) -> None:
    from state.txs import RequestGuarantee

    req = c.requirement()
    assert c.issue(supplier=c.agency)[1].code == E.UNKNOWN_SUPPLIER.code  # applicant must be a supplier
    assert c.issue(expiry=-DAY)[1].code == E.BAD_TIME.code
    r = c.ok(c.sup2, RequestGuarantee("006", req, "PERF", 100, c.now + 200 * DAY))
    rid = next(a.value for a in r.events[0].attributes if a.key == "id")
    from state.records import lg_id_of
    from state.txs import IssueGuarantee

    body = IssueGuarantee("RQ1", rid, "PERF", c.sup.code, req, 1, 500_000_00, c.now + 200 * DAY, True, True, True,
                          False, b"", "")
    assert c.do(c.bank, body).code == E.BAD_FIELD.code  # the request is another supplier's
    body2 = IssueGuarantee("RQ2", rid, "PERF", c.sup2.code, req, 1, 500_000_00, c.now + 200 * DAY, True, True,
                           True, False, b"", "")
    c.ok(c.bank, body2)
    assert c.query(f"/request/{rid}")["result"]["lg_id"] == lg_id_of("006", "RQ2")


def test_t6_t7_more_preconditions(c: Chain) -> None:
    lg_id = c.active()
    g = c.lg(lg_id)
    c.ok(c.agency, Demand(lg_id, 300_000_00, H, 0))
    assert c.do(c.bank, ProposeAmendment(lg_id, 200_000_00, g.expiry, b"")).code == E.DEMAND_PENDING.code
    c.ok(c.bank, Honour(lg_id))
    assert c.do(c.bank, ProposeAmendment(lg_id, 200_000_00, g.expiry, b"")).code == E.REDUCTION_TOO_LARGE.code
    c.ok(c.bank, ProposeAmendment(lg_id, g.amount, c.now + 10 * DAY, b""))
    c.block([], dt=11 * DAY)
    assert c.do(c.agency, AcceptAmendment(lg_id)).code == E.BAD_TIME.code  # the amended expiry has passed
    bid_req = c.requirement("B9", "BID", deadline=DAY, cover=90 * DAY)
    bid, _ = c.issue("BID9", req=bid_req, type_="BID", expiry=100 * DAY)
    assert c.do(c.bank, ProposeAmendment(bid, 500_000_00, c.now + 80 * DAY, b"")).code == E.EXPIRY_TOO_EARLY.code


def test_t9_to_t14_more_preconditions(c: Chain) -> None:
    lg_id = c.active()
    g = c.lg(lg_id)
    assert c.do(c.agency, Demand(lg_id, 100, H, g.expiry - DAY)).code == E.BAD_FIELD.code  # offer not later
    assert c.do(c.bank, Honour(lg_id)).code == E.WRONG_STATUS.code  # nothing to honour
    c.ok(c.agency, Demand(lg_id, 100, H, g.expiry + DAY))
    assert c.do(c.bank, WithdrawDemand(lg_id)).code == E.NOT_AUTHORISED.code
    assert c.do(c.agency2, Release(lg_id)).code == E.NOT_AUTHORISED.code
    c.block([], dt=31 * DAY)
    assert c.do(c.bank, SuspendDemand(lg_id)).code == E.WINDOW_CLOSED.code  # 30 days from presentation
    c.ok(c.bank, Honour(lg_id))
    assert c.do(c.agency, RecordObligation(lg_id, 0, 0)).code == 0


def test_t15_t16_more_preconditions(c: Chain) -> None:
    old = c.active()
    new, r = c.issue("REF2", replaces=old)
    assert r.code == 0
    c.ok(c.agency, Demand(old, 100, H, 0))  # the old one is under demand: it cannot be superseded now
    assert c.do(c.agency, Acknowledge(new)).code == E.REPLACE_MISMATCH.code
    c.ok(c.agency, Refuse(new, "not needed"))
    assert c.lg(old).replaced_by == ""  # free for another replacement, even while under demand
    assert c.do(c.sup, Expire(new)).code == E.TERMINAL.code


def test_obligation_preconditions(c: Chain) -> None:
    req = c.requirement("B1", "BID", deadline=DAY, cover=90 * DAY)
    lg_id, _ = c.issue(req=req, type_="BID", expiry=100 * DAY)
    assert c.do(c.agency, RecordObligation(lg_id, 0, c.now + 400 * DAY)).code == E.BAD_FIELD.code
    assert c.do(c.bank, RecordObligation(lg_id, c.now, 0)).code == E.NOT_AUTHORISED.code

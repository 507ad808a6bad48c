"""Report queries over many guarantees: exposure, expiring soon, coverage gaps, overdue releases, pending
amendments and demands past their windows, statistics, and the sealed bid securities of a requirement."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from state import errors as E
from state.calendar import DAY_MS, day_of, fmt_time, iso_from_day
from state.errors import TxError
from state.query_ctx import BUCKETS, Q, filtered, guarantee_view
from state.records import LIVE, Guarantee, Requirement, k_req
from state.store import NS_INDEX, NS_STATE


def q_requirement_securities(q: Q, req_id: str) -> Any:
    """The securities lodged against a requirement; for a BID only once the bid deadline has passed."""
    raw = q.kv.get(NS_STATE + k_req(req_id))
    if raw is None:
        raise TxError(E.NOT_FOUND, what="requirement", key=req_id)
    req = Requirement.decode(raw)
    if req.type == "BID" and q.now < req.bid_deadline:
        raise TxError(E.BEFORE_REVEAL, req_id=req_id, deadline=fmt_time(req.bid_deadline))
    return q.page(guarantee_view(q.lg(i)) for i in q.index_ids(f"lgr/{req_id}/"))


def q_stats(q: Q) -> Any:
    """Count and value by type and issue month (Bangkok), demands honoured, for a bank, an agency or all."""
    bank, agency = q.params.get("bank"), q.params.get("agency")
    if bank:
        gs: Iterator[Guarantee] = (q.lg(i) for i in q.index_ids(f"lgb/{bank}/"))
    elif agency:
        gs = (q.lg(i) for i in q.index_ids(f"lga/{agency}/"))
    else:
        gs = (Guarantee.decode(v) for _, v in q.kv.iterate(prefix=NS_STATE + b"lg/"))
    by_type: dict[str, dict[str, int]] = {}
    by_month: dict[str, dict[str, int]] = {}
    honoured = count = 0
    for g in filtered(q, gs):
        count += 1
        for table, key in ((by_type, g.type), (by_month, iso_from_day(day_of(g.issued_at))[:7])):
            row = table.setdefault(key, {"count": 0, "issued_value": 0, "paid": 0})
            row["count"] += 1
            row["issued_value"] += g.issued_amount
            row["paid"] += g.paid
        honoured += g.paid > 0
    return {"count": count, "with_payment": honoured, "by_type": dict(sorted(by_type.items())),
            "by_month": dict(sorted(by_month.items()))}


def _bucket(days_left: int) -> str:
    for limit, name in BUCKETS:
        if days_left <= limit:
            return name
    return ">365d"


def q_exposure(q: Q, bank: str) -> Any:
    """Sum of available amounts of a bank's live guarantees by type x maturity bucket, and by agency."""
    by_type: dict[str, dict[str, int]] = {}
    by_agency: dict[str, int] = {}
    total = count = 0
    for lg_id in q.index_ids(f"lgb/{bank}/"):
        g = q.lg(lg_id)
        if g.status not in LIVE:
            continue
        bucket = _bucket(max(0, (g.expiry - q.now) // DAY_MS))
        row = by_type.setdefault(g.type, {})
        row[bucket] = row.get(bucket, 0) + g.available
        by_agency[g.beneficiary] = by_agency.get(g.beneficiary, 0) + g.available
        total += g.available
        count += 1
    return {"bank": bank, "as_of": q.now, "live": count, "total_available": total,
            "by_type_and_maturity": {t: dict(sorted(r.items())) for t, r in sorted(by_type.items())},
            "by_agency": dict(sorted(by_agency.items()))}


def q_expiring(q: Q) -> Any:
    days = q.int_param("days", 30)
    stop = f"exp/{q.now + days * DAY_MS:013d}".encode()
    start = f"exp/{q.now:013d}".encode()
    ids = (k.decode().rsplit("/", 1)[1]
           for k, _ in q.kv.iterate(prefix=NS_INDEX + b"exp/", start=NS_INDEX + start, stop=NS_INDEX + stop))
    return q.page(guarantee_view(g) for g in filtered(q, (q.lg(i) for i in ids)))


def q_coverage_gaps(q: Q) -> Any:
    ids = q.index_ids("exp/")
    gaps = (g for g in filtered(q, (q.lg(i) for i in ids)) if g.coverage_gap_since)
    return q.page(guarantee_view(g) for g in gaps)


def q_overdue_releases(q: Q) -> Any:
    days = q.int_param("days", 15)
    due = (g for g in filtered(q, (q.lg(i) for i in q.index_ids("obl/")))
           if g.status in LIVE and g.obligation_end and q.now > g.obligation_end + days * DAY_MS)
    return q.page({**guarantee_view(g), "days_overdue": (q.now - g.obligation_end) // DAY_MS} for g in due)


def q_pending_amendments(q: Q) -> Any:
    older = q.int_param("older_than_days", 0) * DAY_MS
    gs = (g for g in filtered(q, (q.lg(i) for i in q.index_ids("amd/")))
          if g.amendment is not None and q.now - g.amendment.proposed_at >= older)
    return q.page(guarantee_view(g) for g in gs)


def q_overdue_demands(q: Q) -> Any:
    gs = (g for g in filtered(q, (q.lg(i) for i in q.index_ids("dem/")))
          if g.demand is not None and q.now > g.demand.deadline)
    return q.page(guarantee_view(g) for g in gs)

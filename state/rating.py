"""Supplier rating (research §5): a deterministic advisory score with its contributing events, and the
official suspension band kept separate (the score never overrides it).

Score over the 24 months (730 days) before `now`, integer arithmetic only:
    base 1000
    - honoured PERF/ADV/RET/WARR demand: min(300, 100 + 200 * paid // guarantee amount)
    - forfeited BID: 200
    - extend-or-pay episode: 50; expiry extension: 10 (at most 5 counted per guarantee)
    - coverage gap unresolved for more than 15 days: 30
    - official damage points p: 10 * p
    + clean PERF release: 20 (at most +200 in total)
    clamp to [0, 1000]; tier A >= 900, B >= 750, C >= 500, else D.
Official band (MoF Regulation No. 3 B.E. 2569): points recorded in the window, summed, give the suspension
length; the suspension runs from the latest official event.
"""

from __future__ import annotations

from typing import Any

from state import errors as E
from state.calendar import DAY_MS
from state.errors import TxError
from state.kv import Reader
from state.records import Guarantee, RatingEvent, k_lg, k_rating
from state.registry import REGISTRAR, require_supplier, signer_is
from state.store import Ctx
from state.txs import RecordPerformance

OFFICIAL_POINTS = (1, 5, 10, 20, 30, 60)
WINDOW_MS = 730 * DAY_MS
BANDS = ((240, 720), (180, 540), (120, 360), (60, 180), (30, 90), (10, 30), (1, 0))


def record_performance(ctx: Ctx, b: RecordPerformance) -> None:
    """An official vendor-performance event recorded by the registrar (CGD)."""
    signer_is(ctx, REGISTRAR, "recording official damage points")
    require_supplier(ctx, b.tax_id)
    if b.points not in OFFICIAL_POINTS:
        raise TxError(E.BAD_POINTS, points=b.points)
    eid = ctx.tx_hash[:16].hex()
    ctx.put(k_rating(b.tax_id, ctx.now, eid), RatingEvent(eid, b.tax_id, "OFFICIAL", ctx.now, "", b.points, 0,
                                                          b.reason))
    ctx.emit("rating", {"supplier": b.tax_id, "action": "official", "points": b.points, "id": eid})


def band_days(points: int) -> int:
    for floor, days in BANDS:
        if points >= floor:
            return days
    return 0


def tier(score: int) -> str:
    return "A" if score >= 900 else "B" if score >= 750 else "C" if score >= 500 else "D"


def _penalty(ev: RatingEvent, reader: Reader, now: int, extensions: dict[str, int]) -> int:
    if ev.kind == "HONOURED":
        return min(300, 100 + (200 * ev.amount) // max(ev.base, 1))
    if ev.kind == "FORFEITED":
        return 200
    if ev.kind == "EXTEND_OR_PAY":
        return 50
    if ev.kind == "EXTENSION":
        extensions[ev.lg_id] = extensions.get(ev.lg_id, 0) + 1
        return 10 if extensions[ev.lg_id] <= 5 else 0
    if ev.kind == "COVERAGE_GAP":
        raw = reader.get(b"s" + k_lg(ev.lg_id))
        if raw is None:
            return 0
        g = Guarantee.decode(raw)
        unresolved = g.coverage_gap_since and now - g.coverage_gap_since > 15 * DAY_MS and g.status in (
            "ISSUED", "ACTIVE", "DEMANDED", "SUSPENDED")
        return 30 if unresolved else 0
    if ev.kind == "OFFICIAL":
        return 10 * ev.amount
    return 0


def compute_rating(reader: Reader, tax_id: str, now: int) -> dict[str, Any]:
    """The score, tier, official band and every contributing event, as of block time `now`."""
    start = max(0, now - WINDOW_MS)
    prefix = f"srt/{tax_id}/".encode()
    score, bonus, official, last_official = 1000, 0, 0, 0
    extensions: dict[str, int] = {}
    contributing: list[dict[str, Any]] = []
    for _, raw in reader.iterate(prefix=prefix, start=prefix + f"{start:013d}".encode()):
        ev = RatingEvent.decode(raw)
        if ev.time > now:
            break
        if ev.kind == "CLEAN_RELEASE":
            delta = min(20, 200 - bonus)
            bonus += delta
        else:
            delta = -_penalty(ev, reader, now, extensions)
        if ev.kind == "OFFICIAL":
            official += ev.amount
            last_official = max(last_official, ev.time)
        score += delta
        if delta or ev.kind == "OFFICIAL":
            contributing.append({"id": ev.id, "kind": ev.kind, "time": ev.time, "lg_id": ev.lg_id,
                                 "delta": delta, "reason": ev.reason})
    score = max(0, min(1000, score))
    days = band_days(official)
    until = last_official + days * DAY_MS if days else 0
    return {
        "tax_id": tax_id, "score": score, "tier": tier(score), "as_of": now, "window_start": start,
        "events": contributing,
        "official": {"points": official, "suspension_days": days, "suspended_until": until,
                     "suspended": until > now},
    }

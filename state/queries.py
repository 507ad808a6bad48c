"""abci_query paths (documented in docs/queries.md). Answers are JSON (UTF-8) in `value`, computed on the
latest committed state; "now" is that block's time. Lists take `?page=N&per_page=M` (M <= 100, default 30)
and answer `{"total", "page", "per_page", "items"}`. A single-record path with prove=true also returns
`key` = the state key and one ProofOp {type "egp/trie", key, data = StateProof encoded} that
`state.proofs.verify_proof(app_hash, key, value, proof)` checks against the app hash of the header at
`height + 1`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from state import errors as E
from state.calendar import DAY_MS, day_of, fmt_time, iso_from_day
from state.codec import Record, decode
from state.crypto import sha256
from state.errors import CODESPACE, TxError
from state.proofs import StateProof
from state.rating import compute_rating
from state.records import (
    LIVE,
    Account,
    CreditConfirmation,
    Guarantee,
    GuaranteeRequest,
    Institution,
    LgEvent,
    Requirement,
    Supplier,
    Validator,
    ValidatorProposal,
    cc_id_of,
    k_account,
    k_cc,
    k_inst,
    k_lg,
    k_req,
    k_request,
    k_supplier,
    lg_id_of,
)
from state.store import NS_HIST, NS_INDEX, NS_STATE
from state.trie import Trie

if TYPE_CHECKING:
    from state.abci import Application, RequestQuery, ResponseQuery

Params = dict[str, str]
MAX_PER_PAGE = 100
BUCKETS = ((30, "<=30d"), (90, "<=90d"), (180, "<=180d"), (365, "<=365d"))


def plain(v: Any) -> Any:
    """A record or value as JSON-ready data: bytes as hex, records as objects."""
    if isinstance(v, Record):
        return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}  # type: ignore[arg-type]
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    return v


def guarantee_view(g: Guarantee) -> dict[str, Any]:
    out: dict[str, Any] = plain(g)
    out["available"] = g.available
    out["pending_demand"] = g.pending
    return out


class Q:
    """One query's context: the app, its parameters and the proof to attach."""

    def __init__(self, app: Application, req: RequestQuery, params: Params) -> None:
        self.app, self.req, self.params = app, req, params
        self.kv = app.kv
        self.now = app.last_time
        self.proof_key: bytes | None = None
        self.proof_value: bytes | None = None

    def record(self, key: bytes, cls: type[Any], what: str, label: str) -> Any:
        raw = self.kv.get(NS_STATE + key)
        self.proof_key, self.proof_value = key, raw
        if raw is None:
            if self.req.prove:
                return None  # a non-inclusion proof is the answer
            raise TxError(E.NOT_FOUND, what=what, key=label)
        return cls.decode(raw)

    def int_param(self, name: str, default: int) -> int:
        try:
            return int(self.params.get(name, default))
        except ValueError:
            raise TxError(E.BAD_QUERY, reason=f"{name} must be an integer") from None

    def page(self, items: Iterator[Any]) -> dict[str, Any]:
        page = max(1, self.int_param("page", 1))
        per = min(MAX_PER_PAGE, max(1, self.int_param("per_page", 30)))
        lo = (page - 1) * per
        out: list[Any] = []
        total = 0
        for item in items:
            if lo <= total < lo + per:
                out.append(item)
            total += 1
        return {"total": total, "page": page, "per_page": per, "items": out}

    def index_ids(self, prefix: str) -> Iterator[str]:
        for k, _ in self.kv.iterate(prefix=NS_INDEX + prefix.encode()):
            yield k.decode().rsplit("/", 1)[1]

    def lg(self, lg_id: str) -> Guarantee:
        raw = self.kv.get(NS_STATE + k_lg(lg_id))
        if raw is None:
            raise TxError(E.NOT_FOUND, what="guarantee", key=lg_id)
        return Guarantee.decode(raw)


# ----------------------------------------------------------------- single records
def q_lg(q: Q, lg_id: str) -> Any:
    g = q.record(k_lg(lg_id), Guarantee, "guarantee", lg_id)
    return None if g is None else guarantee_view(g)


def q_lg_by_ref(q: Q, bank: str, ref: str) -> Any:
    return q_lg(q, lg_id_of(bank, ref))


def q_history(q: Q, lg_id: str) -> Any:
    g = q.lg(lg_id)
    events = []
    prev = b""
    for _, raw in q.kv.iterate(prefix=NS_HIST + f"lgev/{lg_id}/".encode()):
        ev = LgEvent.decode(raw)
        events.append({**plain(ev), "hash": ev.hash().hex(), "chain_ok": ev.prev_hash == prev})
        prev = ev.hash()
    return {"id": g.id, "version": g.version, "last_event_hash": g.last_event_hash.hex(),
            "chain_ok": prev == g.last_event_hash, "events": events}


def q_simple(cls: type[Any], keyf: Callable[[str], bytes], what: str) -> Callable[[Q, str], Any]:
    def run(q: Q, ident: str) -> Any:
        rec = q.record(keyf(ident), cls, what, ident)
        return None if rec is None else plain(rec)
    return run


def q_account(q: Q, addr_hex: str) -> Any:
    try:
        addr = bytes.fromhex(addr_hex)
    except ValueError:
        raise TxError(E.BAD_QUERY, reason="address must be hex") from None
    rec = q.record(k_account(addr), Account, "account", addr_hex)
    return None if rec is None else {**plain(rec), "address": addr_hex}


def q_institution(q: Q, kind: str, code: str) -> Any:
    rec = q.record(k_inst(kind.upper(), code), Institution, kind.lower(), code)
    return None if rec is None else plain(rec)


def q_cc(q: Q, cc_id: str) -> Any:
    rec = q.record(k_cc(cc_id), CreditConfirmation, "credit confirmation", cc_id)
    if rec is None:
        return None
    out = plain(rec)
    out.pop("amount")  # never disclosed: only the attested threshold is shown
    out["usable"] = rec.status == "ISSUED" and q.now <= rec.valid_until
    return out


def q_cc_by_ref(q: Q, bank: str, ref: str) -> Any:
    return q_cc(q, cc_id_of(bank, ref))


# ----------------------------------------------------------------- lists and reports
def q_party(kind: str) -> Callable[[Q, str], Any]:
    def run(q: Q, ident: str) -> Any:
        status = q.params.get("status")
        gs = (q.lg(i) for i in q.index_ids(f"{kind}/{ident}/"))
        return q.page(guarantee_view(g) for g in gs if status is None or g.status == status)
    return run


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
    for g in _filtered(q, gs):
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


def _filtered(q: Q, gs: Iterator[Guarantee]) -> Iterator[Guarantee]:
    for g in gs:
        if all(q.params.get(f, v) == v for f, v in (("agency", g.beneficiary), ("bank", g.bank),
                                                     ("type", g.type), ("supplier", g.applicant))):
            yield g


def q_expiring(q: Q) -> Any:
    days = q.int_param("days", 30)
    stop = f"exp/{q.now + days * DAY_MS:013d}".encode()
    start = f"exp/{q.now:013d}".encode()
    ids = (k.decode().rsplit("/", 1)[1]
           for k, _ in q.kv.iterate(prefix=NS_INDEX + b"exp/", start=NS_INDEX + start, stop=NS_INDEX + stop))
    return q.page(guarantee_view(g) for g in _filtered(q, (q.lg(i) for i in ids)))


def q_coverage_gaps(q: Q) -> Any:
    ids = q.index_ids("exp/")
    gaps = (g for g in _filtered(q, (q.lg(i) for i in ids)) if g.coverage_gap_since)
    return q.page(guarantee_view(g) for g in gaps)


def q_overdue_releases(q: Q) -> Any:
    days = q.int_param("days", 15)
    due = (g for g in _filtered(q, (q.lg(i) for i in q.index_ids("obl/")))
           if g.status in LIVE and g.obligation_end and q.now > g.obligation_end + days * DAY_MS)
    return q.page({**guarantee_view(g), "days_overdue": (q.now - g.obligation_end) // DAY_MS} for g in due)


def q_pending_amendments(q: Q) -> Any:
    older = q.int_param("older_than_days", 0) * DAY_MS
    gs = (g for g in _filtered(q, (q.lg(i) for i in q.index_ids("amd/")))
          if g.amendment is not None and q.now - g.amendment.proposed_at >= older)
    return q.page(guarantee_view(g) for g in gs)


def q_overdue_demands(q: Q) -> Any:
    gs = (g for g in _filtered(q, (q.lg(i) for i in q.index_ids("dem/")))
          if g.demand is not None and q.now > g.demand.deadline)
    return q.page(guarantee_view(g) for g in gs)


def q_cc_check(q: Q, tax_id: str) -> Any:
    """Is there a usable credit confirmation of the supplier attesting a line >= threshold? Yes/no + id."""
    threshold = q.int_param("threshold", 0)
    project, addressee = q.params.get("project"), q.params.get("addressee")
    for cc_id in q.index_ids(f"ccs/{tax_id}/"):
        raw = q.kv.get(NS_STATE + k_cc(cc_id))
        if raw is None:
            continue
        cc = CreditConfirmation.decode(raw)
        if cc.status != "ISSUED" or q.now > cc.valid_until or cc.threshold < threshold:
            continue
        if (project and cc.project not in ("", project)) or (addressee and cc.addressee != addressee):
            continue
        return {"supplier": tax_id, "threshold": threshold, "ok": True, "id": cc.id, "bank": cc.bank,
                "valid_until": cc.valid_until}
    return {"supplier": tax_id, "threshold": threshold, "ok": False}


def q_supplier_ccs(q: Q, tax_id: str) -> Any:
    return q.page(q_cc(Q(q.app, q.req, {}), i) for i in q.index_ids(f"ccs/{tax_id}/"))


def q_rating(q: Q, tax_id: str) -> Any:
    if q.kv.get(NS_STATE + k_supplier(tax_id)) is None:
        raise TxError(E.NOT_FOUND, what="supplier", key=tax_id)
    return compute_rating(q.kv, tax_id, q.now)


def q_validators(q: Q) -> Any:
    vals = [Validator.decode(raw) for _, raw in q.kv.iterate(prefix=NS_STATE + b"val/")]
    return [{**plain(v), "address": sha256(v.pub_key)[:20].hex()} for v in vals]


def q_proposals(q: Q) -> Any:
    return q.page(plain(ValidatorProposal.decode(raw)) for _, raw in q.kv.iterate(prefix=NS_STATE + b"valp/"))


def q_subtrees(q: Q) -> Any:
    from state.debug import subtree_hashes

    return [{"name": n, "count": c, "hash": h.hex()} for n, c, h in subtree_hashes(q.kv)]


ROUTES: list[tuple[tuple[str, ...], Callable[..., Any], bool]] = [
    # (path pattern, handler, provable) — "*" matches one segment
    (("lg", "expiring"), q_expiring, False),
    (("lg", "coverage-gaps"), q_coverage_gaps, False),
    (("lg", "overdue-releases"), q_overdue_releases, False),
    (("lg", "pending-amendments"), q_pending_amendments, False),
    (("lg", "overdue-demands"), q_overdue_demands, False),
    (("lg", "by-ref", "*", "*"), q_lg_by_ref, True),
    (("lg", "*", "history"), q_history, False),
    (("lg", "*"), q_lg, True),
    (("cc", "by-ref", "*", "*"), q_cc_by_ref, True),
    (("cc", "check", "*"), q_cc_check, False),
    (("cc", "*"), q_cc, True),
    (("supplier", "*", "guarantees"), q_party("lgs"), False),
    (("supplier", "*", "credit"), q_supplier_ccs, False),
    (("supplier", "*", "rating"), q_rating, False),
    (("supplier", "*"), q_simple(Supplier, k_supplier, "supplier"), True),
    (("agency", "*", "guarantees"), q_party("lga"), False),
    (("bank", "*", "guarantees"), q_party("lgb"), False),
    (("bank", "*", "exposure"), q_exposure, False),
    (("institution", "*", "*"), q_institution, True),
    (("account", "*"), q_account, True),
    (("requirement", "*", "securities"), q_requirement_securities, False),
    (("requirement", "*"), q_simple(Requirement, k_req, "requirement"), True),
    (("request", "*"), q_simple(GuaranteeRequest, k_request, "request"), True),
    (("stats",), q_stats, False),
    (("validators",), q_validators, False),
    (("validators", "proposals"), q_proposals, False),
    (("debug", "subtrees"), q_subtrees, False),
]


def _match(parts: list[str]) -> tuple[Callable[..., Any], list[str], bool]:
    for pattern, fn, provable in ROUTES:
        if len(pattern) == len(parts) and all(p in ("*", s) for p, s in zip(pattern, parts, strict=True)):
            return fn, [s for p, s in zip(pattern, parts, strict=True) if p == "*"], provable
    raise TxError(E.UNKNOWN_PATH, path="/" + "/".join(parts))


def run_query(app: Application, req: RequestQuery) -> ResponseQuery:
    from state.abci import ProofOp, ResponseQuery

    path, _, qs = req.path.partition("?")
    if path.rstrip("/") == "/store":
        return _store(app, req)
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    fn, args, provable = _match(parts)
    q = Q(app, req, dict(parse_qsl(qs)))
    result = fn(q, *args)
    value = json.dumps({"height": app.height, "found": result is not None, "result": result},
                       sort_keys=True, separators=(",", ":")).encode()
    if not (req.prove and provable and q.proof_key is not None):
        return ResponseQuery(code=0, value=value, height=app.height)
    op = ProofOp("egp/trie", q.proof_key, _state_proof(app, q.proof_key, q.proof_value).encode())
    return ResponseQuery(code=0, key=q.proof_key, value=value, proof_ops=[op], height=app.height,
                         codespace="" if result is not None else CODESPACE)


def _state_proof(app: Application, key: bytes, value: bytes | None) -> StateProof:
    trie = Trie(app.nodes)
    return StateProof(key, value, trie.prove(sha256(key)))


def _store(app: Application, req: RequestQuery) -> ResponseQuery:
    """Raw state: `data` = the state key; `value` = its canonical bytes (empty when absent)."""
    from state.abci import ProofOp, ResponseQuery

    raw = app.kv.get(NS_STATE + req.data)
    ops = [ProofOp("egp/trie", req.data, _state_proof(app, req.data, raw).encode())] if req.prove else []
    if raw is None and not req.prove:
        err = TxError(E.NOT_FOUND, what="key", key=req.data.decode("utf-8", "replace"))
        return ResponseQuery(code=err.code, log=err.log, codespace=CODESPACE, key=req.data, height=app.height)
    return ResponseQuery(code=0, key=req.data, value=raw or b"", proof_ops=ops, height=app.height)


def decode_value(raw: bytes) -> Any:
    """Generic decoding of a stored state value (debug helper)."""
    return decode(raw)

"""abci_query paths (documented in docs/queries.md). Answers are JSON (UTF-8) in `value`, computed on the
latest committed state; "now" is that block's time. Lists take `?page=N&per_page=M` (M <= 100, default 30)
and answer `{"total", "page", "per_page", "items"}`. A single-record path with prove=true also returns
`key` = the state key and one ProofOp {type "egp/trie", key, data = StateProof encoded} that
`state.proofs.verify_proof(app_hash, key, value, proof)` checks against the app hash of the header at
`height + 1`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from state import errors as E
from state.codec import decode
from state.crypto import sha256
from state.errors import CODESPACE, TxError
from state.proofs import StateProof
from state.query_ctx import Q, guarantee_view, plain
from state.rating import compute_rating
from state.records import (
    Account,
    CreditConfirmation,
    CreditRequest,
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
    k_cc_request,
    k_inst,
    k_lg,
    k_req,
    k_request,
    k_supplier,
    lg_id_of,
)
from state.reports import (
    q_coverage_gaps,
    q_expiring,
    q_exposure,
    q_overdue_demands,
    q_overdue_releases,
    q_pending_amendments,
    q_requirement_securities,
    q_stats,
)
from state.store import NS_HIST, NS_STATE
from state.trie import Trie

if TYPE_CHECKING:
    from state.abci import Application, RequestQuery, ResponseQuery


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
    (("cc-request", "*"), q_simple(CreditRequest, k_cc_request, "credit request"), True),
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
    return ResponseQuery(code=0, key=q.proof_key, value=value, proof_ops=[op], height=app.height)


def _state_proof(app: Application, key: bytes, value: bytes | None) -> StateProof:
    trie = Trie(app.nodes.shared())  # (queries run on the event loop: they read the commit thread's cache only)
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

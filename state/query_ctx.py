"""The context of one query: parameters, paging, proof capture, JSON views of records."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from state import errors as E
from state.codec import Record
from state.errors import TxError
from state.records import Guarantee, k_lg
from state.store import NS_INDEX, NS_STATE

if TYPE_CHECKING:
    from state.abci import Application, RequestQuery

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

def filtered(q: Q, gs: Iterator[Guarantee]) -> Iterator[Guarantee]:
    """Guarantees matching the query's `agency`, `bank`, `type` and `supplier` parameters."""
    for g in gs:
        if all(q.params.get(f, v) == v for f, v in (("agency", g.beneficiary), ("bank", g.bank),
                                                     ("type", g.type), ("supplier", g.applicant))):
            yield g

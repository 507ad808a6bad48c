"""Shared machinery of the e-LG lifecycle: load, guard, save with a hash-chained event, indexes.

Every change to a guarantee goes through `save`: it bumps `version` (I9: strictly increasing), appends an
`LgEvent` linking the hash of the previous event (I9), keeps the derived indexes in step, and emits the
ABCI event `lg` with indexed attributes `id, bank, agency, supplier, type, status, action, version`, so
`tx_search "lg.id='…'"` returns a guarantee's history.

Indexes (namespace `i`, not hashed; rebuilt from records if ever needed):
    lgs/<tax id>/<id>   lga/<agency>/<id>   lgb/<bank>/<id>    all guarantees of a party
    lgr/<requirement>/<id>                  the securities lodged against a requirement
    exp/<expiry:013d>/<id>                  live guarantees by expiry (automatic expiry, expiring soon)
    amd/<id>  dem/<id>  obl/<id>            pending amendments, pending demands, obligation ended
"""

from __future__ import annotations

from hashlib import sha256 as _sha256
from typing import Any

from state import errors as E
from state.calendar import fmt_time
from state.errors import TxError
from state.fastrec import pack, packb
from state.records import (
    ACTIVE,
    DEMANDED,
    LIVE,
    SUSPENDED,
    TERMINAL,
    Guarantee,
    LgEvent,
    RatingEvent,
    k_lg,
    k_lg_event,
    k_live,
    k_rating,
)
from state.store import NS_HIST, NS_STATE, Ctx

_new = object.__new__
_setattr = object.__setattr__


def _guarantee(fields: dict[str, Any]) -> Guarantee:
    """The Guarantee whose `__dict__` is `fields` (a dict of its own, in field order: a copy of a guarantee's)."""
    g = _new(Guarantee)
    _setattr(g, "__dict__", fields)
    return g


def _check_fields(g: Guarantee, changes: dict[str, Any]) -> None:
    if not changes.keys() <= g.__dict__.keys():
        raise TypeError(f"unknown Guarantee fields {sorted(changes.keys() - g.__dict__.keys())}")


def replace(g: Guarantee, **changes: Any) -> Guarantee:
    """`dataclasses.replace` for the hot record, without re-running __init__ over 32 fields."""
    _check_fields(g, changes)
    fields = g.__dict__.copy()
    fields.update(changes)
    return _guarantee(fields)


def load(ctx: Ctx, lg_id: str) -> Guarantee:
    g = ctx.view.get_rec(NS_STATE + k_lg(lg_id), Guarantee)  # ctx.get
    if g is None:
        raise TxError(E.UNKNOWN_GUARANTEE, id=lg_id)
    return g


def need_status(g: Guarantee, action: str, *allowed: str) -> None:
    if g.status in TERMINAL:
        raise TxError(E.TERMINAL, id=g.id, status=g.status)
    if g.status not in allowed:
        if g.status in (DEMANDED, SUSPENDED) and ACTIVE in allowed:
            raise TxError(E.DEMAND_PENDING, id=g.id, action=action)
        raise TxError(E.WRONG_STATUS, id=g.id, status=g.status, action=action, allowed=" or ".join(allowed))


def signer_bank(ctx: Ctx, g: Guarantee, action: str) -> None:
    if (ctx.signer_kind, ctx.signer_id) != ("BANK", g.bank):
        raise TxError(E.NOT_AUTHORISED, action=action, role=f"issuing bank {g.bank}",
                      signer=f"{ctx.signer_kind.lower()} {ctx.signer_id}")


def signer_beneficiary(ctx: Ctx, g: Guarantee, action: str) -> None:
    if (ctx.signer_kind, ctx.signer_id) != ("AGENCY", g.beneficiary):
        raise TxError(E.NOT_AUTHORISED, action=action, role=f"beneficiary agency {g.beneficiary}",
                      signer=f"{ctx.signer_kind.lower()} {ctx.signer_id}")


def index_keys(g: Guarantee) -> list[bytes]:
    keys = [f"lgs/{g.applicant}/{g.id}".encode(), f"lga/{g.beneficiary}/{g.id}".encode(),
            f"lgb/{g.bank}/{g.id}".encode(), f"lgr/{g.requirement}/{g.id}".encode()]
    keys += _state_index_keys(g)
    return keys


def _state_index_keys(g: Guarantee) -> list[bytes]:
    """The index keys that follow the guarantee's status, expiry, amendment, demand and obligation (those of
    its parties and requirement, the first four of `index_keys`, never change)."""
    keys = []
    if g.status in LIVE:
        keys.append(f"exp/{g.expiry:013d}/{g.id}".encode())
    if g.amendment is not None and g.status in LIVE:
        keys.append(f"amd/{g.id}".encode())
    if g.demand is not None:
        keys.append(f"dem/{g.id}".encode())
    if g.obligation_end and g.status in LIVE:
        keys.append(f"obl/{g.id}".encode())
    return keys


def _state_index_set(f: dict[str, Any]) -> set[bytes]:
    """`set(_state_index_keys(g))` of the guarantee whose fields are `f`, as full keys (namespace `i` included)."""
    lg_id, status = f["id"], f["status"]
    if status not in LIVE:
        return {f"idem/{lg_id}".encode()} if f["demand"] is not None else set()
    keys = {f"iexp/{f['expiry']:013d}/{lg_id}".encode()}
    if f["amendment"] is not None:
        keys.add(f"iamd/{lg_id}".encode())
    if f["demand"] is not None:
        keys.add(f"idem/{lg_id}".encode())
    if f["obligation_end"]:
        keys.add(f"iobl/{lg_id}".encode())
    return keys


def _index_state(f: dict[str, Any]) -> tuple[bool, int, bool, bool, bool]:
    """What `_state_index_set(f)` depends on besides the id: two guarantees of the same id with equal tuples have
    the same state index keys (unequal ones may still have: then the sets are built and compared)."""
    return (f["status"] in LIVE, f["expiry"], f["amendment"] is not None, f["demand"] is not None,
            not f["obligation_end"])


def _new_index_keys(f: dict[str, Any]) -> list[bytes]:
    """`sorted(index_keys(g))` with the namespace, of the guarantee whose fields are `f`, built in order: the
    families' prefixes (amd/ dem/ exp/ lga/ lgb/ lgr/ lgs/ obl/) differ before their first '/', so the keys sort
    as their prefixes do."""
    lg_id = f["id"]
    live = f["status"] in LIVE
    keys = []
    if live and f["amendment"] is not None:
        keys.append(f"iamd/{lg_id}".encode())
    if f["demand"] is not None:
        keys.append(f"idem/{lg_id}".encode())
    if live:
        keys.append(f"iexp/{f['expiry']:013d}/{lg_id}".encode())
    keys += (f"ilga/{f['beneficiary']}/{lg_id}".encode(), f"ilgb/{f['bank']}/{lg_id}".encode(),
             f"ilgr/{f['requirement']}/{lg_id}".encode(), f"ilgs/{f['applicant']}/{lg_id}".encode())
    if live and f["obligation_end"]:
        keys.append(f"iobl/{lg_id}".encode())
    return keys


def save(ctx: Ctx, old: Guarantee | None, new: Guarantee, kind: str, *, amount: int = 0,
         doc_hash: bytes = b"") -> Guarantee:
    """Persist `new` as the next version with an event of `kind`; returns what was stored."""
    return _store(ctx, old, new.__dict__.copy(), kind, amount, doc_hash)


_LG_EVENT_KEYS = ("id", "bank", "agency", "supplier", "type", "status", "action", "version")


def _pack_fields(f: dict[str, Any], stored: Guarantee) -> bytes:
    """`pack(stored)`, where `f` is `stored.__dict__`: its values are the record's fields in field order (every
    Guarantee is built by its `__init__`, which stores them in that order, or is a copy of one's dict), so
    without a pending demand or amendment (nested records) the packed list is `[TAG, *values]`."""
    if f["demand"] is None and f["amendment"] is None:
        return packb([_G_TAG, *f.values()])
    return pack(stored)


_G_TAG = Guarantee.TAG
# the history key `NS_HIST + k_lg_event(lg_id, seq)` in pieces: its prefix and the `/<seq:08d>` suffixes of the first
# events (a guarantee has a handful; a later one goes the general way): one join instead of a format with a spec
# and two concatenations (~0.36 -> ~0.12 us a save; tests/state/test_exec_paths.py compares the keys)
_HIST_LGEV = NS_HIST + b"lgev/"
_SEQ_SUFFIXES_N = 64
_SEQ_SUFFIXES = tuple(f"/{i:08d}".encode() for i in range(_SEQ_SUFFIXES_N))


def _store(ctx: Ctx, old: Guarantee | None, f: dict[str, Any], kind: str, amount: int, doc_hash: bytes
           ) -> Guarantee:
    """`save` of the guarantee whose fields are `f` (a dict of its own, which becomes the stored record's).

    Writes straight into the overlay with full keys (`Ctx.put` and friends add the namespace to each): the
    record (packed from `f`: `_pack_fields`), its history event, the index keys that change, the `lg` event."""
    seq = f["events"]
    version = f["version"] + 1 if old else f["version"]
    lg_id, status = f["id"], f["status"]
    # the LgEvent record's bytes (`pack(LgEvent(...))`: [TAG, fields...], all primitives), built without the
    # record: packed once for its hash (the chain head in the guarantee) and for the history
    ev_raw = packb([LgEvent.TAG, lg_id, seq, kind, version, status, ctx.signer_addr, ctx.tx_hash, ctx.height,
                    ctx.now, amount, doc_hash, f["last_event_hash"]])
    f["version"], f["events"], f["last_event_hash"] = version, seq + 1, _sha256(ev_raw).digest()
    if status in TERMINAL:
        f["amendment"], f["cancel_consent"] = None, ""
        live_key = k_live(f["requirement"], f["applicant"], f["type"])
        if ctx.get_str(live_key) == lg_id:
            ctx.delete(live_key)
    stored = _guarantee(f)
    put = ctx.view.put
    put(NS_STATE + k_lg(lg_id), _pack_fields(f, stored), stored)
    hist_key = (_HIST_LGEV + lg_id.encode() + _SEQ_SUFFIXES[seq] if 0 <= seq < _SEQ_SUFFIXES_N
                else NS_HIST + k_lg_event(lg_id, seq))
    put(hist_key, ev_raw)
    bank, agency, supplier, requirement = f["bank"], f["beneficiary"], f["applicant"], f["requirement"]
    if old is None:
        ctx.view.put_keys(_new_index_keys(f), b"")
    elif (old.id, old.applicant, old.beneficiary, old.bank, old.requirement) == (
            lg_id, supplier, agency, bank, requirement):
        # the parties' keys stay; the others follow what `_index_state` reads, so they change only when it does
        # (an acknowledgement, an amendment's acceptance...: the same keys, no set to build twice)
        if _index_state(old.__dict__) != _index_state(f):
            before, after = _state_index_set(old.__dict__), _state_index_set(f)
            if before != after:
                ctx.view.put_keys(sorted(before - after), None)
                ctx.view.put_keys(sorted(after - before), b"")
    else:
        before_l, after_l = set(index_keys(old)), set(index_keys(stored))
        if before_l != after_l:
            for k in sorted(before_l - after_l):
                ctx.index_delete(k)
            for k in sorted(after_l - before_l):
                ctx.index_put(k)
    ctx.emit_values("lg", _LG_EVENT_KEYS, (lg_id, bank, agency, supplier, f["type"], status, kind, str(version)))
    return stored


def transition(ctx: Ctx, g: Guarantee, kind: str, *, ev_amount: int = 0, ev_doc: bytes = b"",
               **changes: Any) -> Guarantee:
    """`save` a copy of `g` with `changes`; `status_since` moves when the status does."""
    if "status" in changes and changes["status"] != g.status:
        changes.setdefault("status_since", ctx.now)
    _check_fields(g, changes)
    fields = g.__dict__.copy()  # `save(ctx, g, replace(g, **changes), ...)` with one copy of the fields
    fields.update(changes)
    return _store(ctx, g, fields, kind, ev_amount, ev_doc)


def settle_status(ctx: Ctx, g: Guarantee, paid: int) -> str:
    """Status after a demand is resolved: EXHAUSTED if nothing remains, EXPIRED if past expiry, else ACTIVE."""
    if g.amount - paid <= 0:
        return "EXHAUSTED"
    if ctx.now > g.expiry:
        return "EXPIRED"
    return ACTIVE


def rating_event(ctx: Ctx, g: Guarantee, kind: str, amount: int = 0, reason: str = "") -> None:
    """Record a rating signal of the applicant; its id is the guarantee event that caused it."""
    eid = f"{g.id}.{g.events}"
    ctx.put(k_rating(g.applicant, ctx.now, eid),
            RatingEvent(eid, g.applicant, kind, ctx.now, g.id, amount, g.amount, reason))


def positive_amount(amount: int) -> None:
    if amount <= 0:
        raise bad_amount(amount)


def future_time(ctx: Ctx, what: str, when: int) -> None:
    if when <= ctx.now:
        raise bad_time(ctx, what, when)


def doc_hash_ok(h: bytes, field: str = "doc_hash") -> None:
    if len(h) not in (0, 32):
        raise bad_doc_hash(field)


# The refusals of the three checks above, for handlers that write the checks' tests inline among their other
# field rules (state/issuance.py): the same codes and logs, built in one place.
def bad_amount(amount: int) -> TxError:
    return TxError(E.BAD_AMOUNT, amount=amount)


def bad_time(ctx: Ctx, what: str, when: int) -> TxError:
    return TxError(E.BAD_TIME, what=what, when=fmt_time(when), now=fmt_time(ctx.now))


def bad_doc_hash(field: str = "doc_hash") -> TxError:
    return TxError(E.BAD_FIELD, field=field, reason="a SHA-256 hash has 32 bytes")


"""Institutions, suppliers and officer keys; genesis app state; who may sign what.

Genesis `app_state` (JSON, inside genesis.json):
    {
      "params": {"holidays": ["2026-12-07", ...], "cc_validity_days": 90,
                 "examination_business_days": 5, "suspension_days": 30, "release_days": 15},
      "registrar": {"code": "CGD", "name": "Comptroller General's Department", "keys": ["<pubkey hex>"]},
      "banks": [{"code": "006", "name": "Krung Thai Bank", "keys": ["<hex>"],
                 "validators": ["<validator pubkey hex>"]}],
      "agencies": [{"code": "0301", "name": "...", "keys": ["<hex>"]}],
      "suppliers": [{"tax_id": "0105551234567", "name": "...", "keys": ["<hex>"]}]
    }
Every field but `registrar` may be omitted. Validator power comes from the genesis validator set
(InitChain); `banks[].validators` says which bank operates which validator key.
"""

from __future__ import annotations

import json
from typing import Any

from state import errors as E
from state.calendar import day_from_iso
from state.crypto import address
from state.errors import TxError
from state.fastrec import remember
from state.records import (
    Account,
    Institution,
    Params,
    Supplier,
    Validator,
    k_account,
    k_inst,
    k_params,
    k_supplier,
    k_validator,
)
from state.store import NS_STATE, Ctx
from state.txs import AddKey, RegisterInstitution, RegisterSupplier, RevokeKey, SetInstitutionStatus, SetSupplierStatus

BANK, AGENCY, SUPPLIER, REGISTRAR = "BANK", "AGENCY", "SUPPLIER", "REGISTRAR"
INSTITUTION_KINDS = (BANK, AGENCY, REGISTRAR)


def tax_id_valid(tax_id: str) -> bool:
    """13 ASCII digits whose last is the mod-11 check digit of the first 12 (Thai ID / tax ID rule)."""
    if len(tax_id) != 13 or not tax_id.isascii() or not tax_id.isdigit():
        return False
    total = sum(int(tax_id[i]) * (13 - i) for i in range(12))
    return (11 - total % 11) % 10 == int(tax_id[12])


def with_check_digit(first12: str) -> str:
    total = sum(int(first12[i]) * (13 - i) for i in range(12))
    return first12 + str((11 - total % 11) % 10)


def code_valid(kind: str, code: str) -> bool:
    if kind == BANK:
        return len(code) == 3 and code.isascii() and code.isdigit()
    return 1 <= len(code) <= 16 and code.isascii() and code.isalnum()


def get_params(ctx: Ctx) -> Params:
    p = ctx.get(k_params(), Params)
    if p is None:
        raise RuntimeError("no params: init_chain has not run")
    return p


# ----------------------------------------------------------------- authority
def signer_is(ctx: Ctx, kind: str, action: str, owner_id: str | None = None) -> None:
    """Raise NOT_AUTHORISED unless the signer's key belongs to `kind` (and to `owner_id` when given)."""
    if ctx.signer_kind != kind or (owner_id is not None and ctx.signer_id != owner_id):
        raise not_authorised(ctx, kind, action, owner_id)


def not_authorised(ctx: Ctx, kind: str, action: str, owner_id: str | None = None) -> TxError:
    """`signer_is`'s refusal, for a handler that tests the signer's kind itself among its other field rules
    (state/issuance.py: one test per rule, no call per rule on the accepted path)."""
    role = kind.lower() if owner_id is None else f"{kind.lower()} {owner_id}"
    return TxError(E.NOT_AUTHORISED, action=action, role=role, signer=f"{ctx.signer_kind.lower()} {ctx.signer_id}")


# the state keys (`NS_STATE` + key) of suppliers and institutions, memoised: every tx reads its signer's
# institution or supplier, and an issue its applicant's (bounded: each emptied when full)
_SUPPLIER_KEYS: dict[str, bytes] = {}
_INST_KEYS: dict[tuple[str, str], bytes] = {}


def _supplier_key(tax_id: str) -> bytes:
    return remember(_SUPPLIER_KEYS, tax_id, NS_STATE + k_supplier(tax_id))


def _inst_key(kind: str, code: str) -> bytes:
    return remember(_INST_KEYS, (kind, code), NS_STATE + k_inst(kind, code))


def check_owner_active(ctx: Ctx, kind: str, owner_id: str) -> None:
    """An institution or supplier that is suspended may not sign anything."""
    if kind == SUPPLIER:
        sup = ctx.view.get_rec(_SUPPLIER_KEYS.get(owner_id) or _supplier_key(owner_id), Supplier)  # ctx.get
        if sup is None:
            raise TxError(E.UNKNOWN_SUPPLIER, tax_id=owner_id)
        if not sup.active:
            raise TxError(E.SUPPLIER_SUSPENDED, tax_id=owner_id)
        return
    inst = ctx.view.get_rec(_INST_KEYS.get((kind, owner_id)) or _inst_key(kind, owner_id), Institution)
    if inst is None:
        raise TxError(E.UNKNOWN_INSTITUTION, kind=kind.lower(), code=owner_id)
    if not inst.active:
        raise TxError(E.INSTITUTION_SUSPENDED, kind=kind.lower(), code=owner_id)


def require_institution(ctx: Ctx, kind: str, code: str) -> Institution:
    inst = ctx.view.get_rec(_INST_KEYS.get((kind, code)) or _inst_key(kind, code), Institution)
    if inst is None:
        raise TxError(E.UNKNOWN_INSTITUTION, kind=kind.lower(), code=code)
    if not inst.active:
        raise TxError(E.INSTITUTION_SUSPENDED, kind=kind.lower(), code=code)
    return inst


def require_supplier(ctx: Ctx, tax_id: str) -> Supplier:
    sup = ctx.view.get_rec(_SUPPLIER_KEYS.get(tax_id) or _supplier_key(tax_id), Supplier)
    if sup is None:
        raise TxError(E.UNKNOWN_SUPPLIER, tax_id=tax_id)
    if not sup.active:
        raise TxError(E.SUPPLIER_SUSPENDED, tax_id=tax_id)
    return sup


def _add_keys(ctx: Ctx, kind: str, owner_id: str, keys: tuple[bytes, ...]) -> None:
    for pub in keys:
        if len(pub) != 32:
            raise TxError(E.BAD_FIELD, field="key", reason="an Ed25519 public key has 32 bytes")
        addr = address(pub)
        if ctx.exists(k_account(addr)):
            raise TxError(E.KEY_EXISTS, address=addr.hex())
        ctx.put(k_account(addr), Account(pub, kind, owner_id, 0, True))
        ctx.emit("reg", {"action": "add_key", "kind": kind, "code": owner_id, "key": addr.hex()})


# ----------------------------------------------------------------- transactions
def register_institution(ctx: Ctx, b: RegisterInstitution) -> None:
    signer_is(ctx, REGISTRAR, "registering an institution")
    if b.kind not in (BANK, AGENCY):
        raise TxError(E.BAD_FIELD, field="kind", reason="must be BANK or AGENCY")
    if not code_valid(b.kind, b.code):
        raise TxError(E.BAD_CODE, code=b.code, what="bank code (3 digits)" if b.kind == BANK else "agency code")
    if ctx.exists(k_inst(b.kind, b.code)):
        raise TxError(E.INSTITUTION_EXISTS, kind=b.kind.lower(), code=b.code)
    ctx.put(k_inst(b.kind, b.code), Institution(b.kind, b.code, b.name, True, ctx.now))
    _add_keys(ctx, b.kind, b.code, b.keys)
    ctx.emit("reg", {"action": "institution", "kind": b.kind, "code": b.code})


def set_institution_status(ctx: Ctx, b: SetInstitutionStatus) -> None:
    signer_is(ctx, REGISTRAR, "suspending or reinstating an institution")
    inst = ctx.get(k_inst(b.kind, b.code), Institution)
    if inst is None or b.kind == REGISTRAR:
        raise TxError(E.UNKNOWN_INSTITUTION, kind=b.kind.lower(), code=b.code)
    ctx.put(k_inst(b.kind, b.code), Institution(inst.kind, inst.code, inst.name, b.active, ctx.now))
    ctx.emit("reg", {"action": "institution_status", "kind": b.kind, "code": b.code,
                     "status": "ACTIVE" if b.active else "SUSPENDED"})


def register_supplier(ctx: Ctx, b: RegisterSupplier) -> None:
    signer_is(ctx, REGISTRAR, "registering a supplier")
    if not tax_id_valid(b.tax_id):
        raise TxError(E.BAD_TAX_ID, tax_id=b.tax_id)
    if ctx.exists(k_supplier(b.tax_id)):
        raise TxError(E.SUPPLIER_EXISTS, tax_id=b.tax_id)
    ctx.put(k_supplier(b.tax_id), Supplier(b.tax_id, b.name, True, ctx.now))
    _add_keys(ctx, SUPPLIER, b.tax_id, b.keys)
    ctx.emit("reg", {"action": "supplier", "supplier": b.tax_id})


def set_supplier_status(ctx: Ctx, b: SetSupplierStatus) -> None:
    signer_is(ctx, REGISTRAR, "suspending or reinstating a supplier")
    sup = ctx.get(k_supplier(b.tax_id), Supplier)
    if sup is None:
        raise TxError(E.UNKNOWN_SUPPLIER, tax_id=b.tax_id)
    ctx.put(k_supplier(b.tax_id), Supplier(sup.tax_id, sup.name, b.active, ctx.now))
    ctx.emit("reg", {"action": "supplier_status", "supplier": b.tax_id,
                     "status": "ACTIVE" if b.active else "SUSPENDED"})


def add_key(ctx: Ctx, b: AddKey) -> None:
    if ctx.signer_kind != REGISTRAR and (ctx.signer_kind, ctx.signer_id) != (b.owner_kind, b.owner_id):
        raise TxError(E.NOT_AUTHORISED, action="adding a key", role=f"the registrar or {b.owner_id} itself",
                      signer=f"{ctx.signer_kind.lower()} {ctx.signer_id}")
    if b.owner_kind == SUPPLIER:
        if ctx.get(k_supplier(b.owner_id), Supplier) is None:
            raise TxError(E.UNKNOWN_SUPPLIER, tax_id=b.owner_id)
    elif ctx.get(k_inst(b.owner_kind, b.owner_id), Institution) is None:
        raise TxError(E.UNKNOWN_INSTITUTION, kind=b.owner_kind.lower(), code=b.owner_id)
    _add_keys(ctx, b.owner_kind, b.owner_id, (b.pub_key,))


def revoke_key(ctx: Ctx, b: RevokeKey) -> None:
    addr = address(b.pub_key)
    acct = ctx.get(k_account(addr), Account)
    if acct is None:
        raise TxError(E.UNKNOWN_KEY, address=addr.hex())
    if ctx.signer_kind != REGISTRAR and (ctx.signer_kind, ctx.signer_id) != (acct.owner_kind, acct.owner_id):
        raise TxError(E.NOT_AUTHORISED, action="revoking a key", role=f"the registrar or {acct.owner_id} itself",
                      signer=f"{ctx.signer_kind.lower()} {ctx.signer_id}")
    ctx.put(k_account(addr), Account(acct.pub_key, acct.owner_kind, acct.owner_id, acct.nonce, False))
    ctx.emit("reg", {"action": "revoke_key", "key": addr.hex(), "code": acct.owner_id})


# ----------------------------------------------------------------- genesis
def _hex_keys(entry: dict[str, Any]) -> tuple[bytes, ...]:
    return tuple(bytes.fromhex(k) for k in entry.get("keys", []))


def load_genesis(ctx: Ctx, chain_id: str, app_state: dict[str, Any], validators: list[tuple[bytes, int]]) -> None:
    """Write the genesis registry: params, registrar, banks, agencies, suppliers, validators."""
    p = app_state.get("params", {})
    holidays = tuple(sorted({day_from_iso(h) for h in p.get("holidays", [])}))
    ctx.put(k_params(), Params(chain_id, holidays, int(p.get("cc_validity_days", 90)),
                               int(p.get("examination_business_days", 5)), int(p.get("suspension_days", 30)),
                               int(p.get("release_days", 15))))
    reg = app_state["registrar"]
    ctx.put(k_inst(REGISTRAR, reg["code"]), Institution(REGISTRAR, reg["code"], reg.get("name", ""), True, ctx.now))
    _add_keys(ctx, REGISTRAR, reg["code"], _hex_keys(reg))
    operator: dict[bytes, str] = {}
    for bank in app_state.get("banks", []):
        if not code_valid(BANK, bank["code"]):
            raise ValueError(f"bank code {bank['code']!r} must be 3 digits")
        ctx.put(k_inst(BANK, bank["code"]), Institution(BANK, bank["code"], bank.get("name", ""), True, ctx.now))
        _add_keys(ctx, BANK, bank["code"], _hex_keys(bank))
        for v in bank.get("validators", []):
            operator[bytes.fromhex(v)] = bank["code"]
    for ag in app_state.get("agencies", []):
        if not code_valid(AGENCY, ag["code"]):
            raise ValueError(f"agency code {ag['code']!r} is invalid")
        ctx.put(k_inst(AGENCY, ag["code"]), Institution(AGENCY, ag["code"], ag.get("name", ""), True, ctx.now))
        _add_keys(ctx, AGENCY, ag["code"], _hex_keys(ag))
    for sup in app_state.get("suppliers", []):
        if not tax_id_valid(sup["tax_id"]):
            raise ValueError(f"supplier tax id {sup['tax_id']!r} fails its check digit")
        ctx.put(k_supplier(sup["tax_id"]), Supplier(sup["tax_id"], sup.get("name", ""), True, ctx.now))
        _add_keys(ctx, SUPPLIER, sup["tax_id"], _hex_keys(sup))
    for pub, power in validators:
        ctx.put(k_validator(address(pub)), Validator(pub, power, operator.get(pub, ""), False, 0))


def parse_app_state(data: bytes) -> dict[str, Any]:
    obj = json.loads(data.decode("utf-8")) if data else {}
    if not isinstance(obj, dict) or "registrar" not in obj:
        raise ValueError("app_state must be a JSON object with a 'registrar'")
    return obj

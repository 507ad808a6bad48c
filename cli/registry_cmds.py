"""`egp registry …` (the registrar, CGD), `egp requirement publish` (agencies), `egp rating record-event`
(the registrar's official damage points) and `egp validator propose|approve` (validator-set changes).

Keys are given as a public key (64 hex digits or CometBFT base64), a key file (its public half is read),
or the name of a key in the local keyring, so the registrar can admit an officer from the file or the
string the officer sends; the secret never has to leave the officer's machine.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer

from cli import chainq
from cli.common import Options, keyring_dir, read_command, tx_command
from cli.errors import InputError, KeystoreError
from cli.keystore import Keystore
from cli.parse import (
    doc_hash,
    parse_bank_code,
    parse_code,
    parse_date,
    parse_pubkey,
    parse_tax_id,
    parse_thb,
    require_future,
)
from cli.render import print_json, table
from cli.rpc_client import RpcClient
from cli.txflow import Deferred, Session
from state import txs
from state.crypto import KeyFileError, public_key_from_json
from state.rating import OFFICIAL_POINTS
from state.records import LG_TYPES

registry_app = typer.Typer(name="registry", help="Registrar (CGD): institutions, suppliers and their keys.",
                           no_args_is_help=True)
requirement_app = typer.Typer(name="requirement", help="Agency: publish the security a procurement needs.",
                              no_args_is_help=True)
rating_app = typer.Typer(name="rating", help="Registrar: official vendor-performance events.", no_args_is_help=True)
validator_app = typer.Typer(name="validator", help="Validator-set changes: banks propose and approve (> 2/3).",
                            no_args_is_help=True)

KeyArg = Annotated[list[str], typer.Option("--key", help="Officer public key (hex/base64), key file, or keyring "
                                           "name; repeat for several.")]


def resolve_pubkey(text: str, store: Keystore | None = None) -> bytes:
    """Hex/base64 public key, a key file (CometBFT or egp keystore: public half only), or a keyring name."""
    if re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", text.strip()) or len(text.strip()) == 44:
        return parse_pubkey(text)
    path = Path(text).expanduser()
    if path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            return public_key_from_json(doc.get("pub_key")).raw
        except (OSError, ValueError, AttributeError, KeyFileError) as exc:
            raise InputError(f"cannot read a public key from {path}: {exc}") from None
    store = store or Keystore(keyring_dir(None, None))
    try:
        return store.info(text).pub_key
    except (KeystoreError, InputError):
        raise InputError(f"'{text}' is not a public key (64 hex or base64), a key file, nor a key in "
                         f"{store.dir}") from None


def _keys(keys: list[str], s: Session) -> tuple[bytes, ...]:
    return tuple(resolve_pubkey(k, s.opts.keystore()) for k in keys)


def _kind(text: str) -> str:
    k = text.strip().upper()
    if k not in ("BANK", "AGENCY"):
        raise InputError(f"institution kind '{text}' must be bank or agency")
    return k


def _inst_code(kind: str, code: str) -> str:
    return parse_bank_code(code) if kind == "BANK" else parse_code(code)


# ----------------------------------------------------------------- registry
@tx_command(registry_app, "add-institution")
def add_institution(kind: Annotated[str, typer.Option("--kind", help="bank or agency.")],
                    code: Annotated[str, typer.Option("--code", help="Bank code (3 digits) or agency code.")],
                    name: Annotated[str, typer.Option("--name", help="Official name.")],
                    key: KeyArg = []) -> Deferred:  # noqa: B006 - typer needs a literal default
    """Registrar: admit a bank or an agency with its officers' keys."""
    k = _kind(kind)
    c = _inst_code(k, code)
    return Deferred(lambda s: txs.RegisterInstitution(k, c, name, _keys(key, s)))


def _inst_status(kind: str, code: str, active: bool) -> txs.Body:
    k = _kind(kind)
    return txs.SetInstitutionStatus(k, _inst_code(k, code), active)


@tx_command(registry_app, "suspend-institution")
def suspend_institution(kind: Annotated[str, typer.Option("--kind", help="bank or agency.")],
                        code: Annotated[str, typer.Option("--code", help="Its code.")]) -> txs.Body:
    """Registrar: suspend a bank or an agency (it may no longer sign)."""
    return _inst_status(kind, code, False)


@tx_command(registry_app, "reinstate-institution")
def reinstate_institution(kind: Annotated[str, typer.Option("--kind", help="bank or agency.")],
                          code: Annotated[str, typer.Option("--code", help="Its code.")]) -> txs.Body:
    """Registrar: lift an institution's suspension."""
    return _inst_status(kind, code, True)


@tx_command(registry_app, "add-supplier")
def add_supplier(tax_id: Annotated[str, typer.Option("--tax-id", help="13-digit tax ID.")],
                 name: Annotated[str, typer.Option("--name", help="Registered name.")],
                 key: KeyArg = []) -> Deferred:  # noqa: B006
    """Registrar: register a supplier with its keys."""
    tid = parse_tax_id(tax_id)
    return Deferred(lambda s: txs.RegisterSupplier(tid, name, _keys(key, s)))


@tx_command(registry_app, "suspend-supplier")
def suspend_supplier(tax_id: Annotated[str, typer.Option("--tax-id", help="13-digit tax ID.")]) -> txs.Body:
    """Registrar: suspend a supplier."""
    return txs.SetSupplierStatus(parse_tax_id(tax_id), False)


@tx_command(registry_app, "reinstate-supplier")
def reinstate_supplier(tax_id: Annotated[str, typer.Option("--tax-id", help="13-digit tax ID.")]) -> txs.Body:
    """Registrar: lift a supplier's suspension."""
    return txs.SetSupplierStatus(parse_tax_id(tax_id), True)


@tx_command(registry_app, "add-key")
def add_key(owner_kind: Annotated[str, typer.Option("--owner-kind", help="bank, agency, supplier or registrar.")],
            owner_id: Annotated[str, typer.Option("--owner", help="Bank/agency code or supplier tax ID.")],
            key: Annotated[str, typer.Option("--key", help="Public key (hex/base64), key file or keyring name.")],
            ) -> Deferred:
    """Registrar, or a key of the same owner: add an officer key."""
    kind = owner_kind.strip().upper()
    if kind not in ("BANK", "AGENCY", "SUPPLIER", "REGISTRAR"):
        raise InputError(f"owner kind '{owner_kind}' must be bank, agency, supplier or registrar")
    owner = parse_tax_id(owner_id) if kind == "SUPPLIER" else _inst_code(kind, owner_id) if kind != "REGISTRAR" \
        else parse_code(owner_id, "registrar code")
    return Deferred(lambda s: txs.AddKey(kind, owner, resolve_pubkey(key, s.opts.keystore())))


@tx_command(registry_app, "revoke-key")
def revoke_key(key: Annotated[str, typer.Option("--key", help="Public key (hex/base64), key file or keyring name.")],
               ) -> Deferred:
    """Registrar, or a key of the same owner: revoke an officer key (a lost or retired key)."""
    return Deferred(lambda s: txs.RevokeKey(resolve_pubkey(key, s.opts.keystore())))


@read_command(registry_app, "show")
def show_institution(opts: Options, kind: Annotated[str, typer.Argument(help="bank, agency or registrar.")],
                     code: Annotated[str, typer.Argument(help="Its code.")]) -> None:
    """Show a registered institution and its status."""
    k = kind.strip().upper()
    if k not in ("BANK", "AGENCY", "REGISTRAR"):
        raise InputError(f"institution kind '{kind}' must be bank, agency or registrar")
    inst = chainq.get(RpcClient(opts.node), "institution", k, code)
    if inst is None:
        raise InputError(f"{k.lower()} {code} is not registered")
    if opts.json_out:
        print_json(inst)
        return
    from cli.parse import fmt_time

    typer.echo(f"{inst.get('kind')} {inst.get('code')}: {inst.get('name')}")
    status = "ACTIVE" if inst.get("active") else "SUSPENDED"
    typer.echo(f"  status: {status} since {fmt_time(int(inst.get('since', 0)))}")


# ----------------------------------------------------------------- requirement
@tx_command(requirement_app, "publish")
def publish(req_id: Annotated[str, typer.Option("--id", help="The requirement's id within the agency.")],
            type_: Annotated[str, typer.Option("--type", help="BID, PERF, ADV, RET or WARR.")],
            min_amount: Annotated[str, typer.Option("--min-amount", help="Minimum amount, THB.")],
            must_cover_until: Annotated[str, typer.Option("--cover-until", help="The security must cover until "
                                                          "this date (YYYY-MM-DD).")],
            project: Annotated[str, typer.Option("--project", help="e-GP project number.")] = "",
            lot: Annotated[str, typer.Option("--lot", help="Lot, if any.")] = "",
            bid_deadline: Annotated[str | None, typer.Option("--bid-deadline", help="BID only: deadline "
                                                             "(YYYY-MM-DD or YYYY-MM-DDTHH:MM, Bangkok).")] = None,
            form_code: Annotated[str, typer.Option("--form", help="Form version code.")] = "") -> txs.Body:
    """Agency: publish (or republish, as a new version) the security a procurement requires."""
    t = type_.strip().upper()
    if t not in LG_TYPES:
        raise InputError(f"guarantee type '{type_}' must be one of {', '.join(LG_TYPES)}")
    if not req_id or ":" in req_id or "/" in req_id:
        raise InputError("--id must be non-empty, without ':' or '/'")
    cover = parse_date(must_cover_until, "cover-until date")
    require_future(cover, "cover-until date")
    deadline = 0
    if bid_deadline is not None:
        if t != "BID":
            raise InputError("only a BID requirement has a --bid-deadline")
        deadline = parse_date(bid_deadline, "bid deadline")
        require_future(deadline, "bid deadline")
    elif t == "BID":
        raise InputError("a BID requirement needs --bid-deadline")
    return txs.PublishRequirement(req_id, project, lot, t, parse_thb(min_amount, "minimum amount"), cover, deadline,
                                  form_code)


# ----------------------------------------------------------------- rating
@tx_command(rating_app, "record-event")
def record_event(tax_id: Annotated[str, typer.Option("--supplier", help="Supplier tax ID.")],
                 points: Annotated[int, typer.Option("--points", help="Official damage points: 1, 5, 10, 20, 30 "
                                                     "or 60 (MoF regulation, cl. 190/3).")],
                 reason: Annotated[str, typer.Option("--reason", help="The event, as published.")],
                 doc: Annotated[Path | None, typer.Option("--doc", help="The evaluation document.")] = None,
                 doc_hash_hex: Annotated[str | None, typer.Option("--doc-hash", help="Its SHA-256 (hex).")] = None,
                 ) -> txs.Body:
    """Registrar: record an official vendor-performance event (damage points)."""
    if points not in OFFICIAL_POINTS:
        raise InputError(f"{points} is not an official damage-point value (1, 5, 10, 20, 30 or 60)")
    return txs.RecordPerformance(parse_tax_id(tax_id), points, reason, doc_hash(doc, doc_hash_hex))


# ----------------------------------------------------------------- validators
@tx_command(validator_app, "propose")
def propose(key: Annotated[str, typer.Option("--pubkey", help="Validator public key (hex/base64) or its "
                                             "priv_validator_key.json.")],
            power: Annotated[int, typer.Option("--power", min=0, max=2**62,
                                               help="Voting power (0 removes the validator).")],
            bank: Annotated[str, typer.Option("--bank", help="Operating bank code.")]) -> Deferred:
    """Registrar: propose adding, re-weighting (or, with power 0, removing) a validator."""
    code = parse_bank_code(bank)
    return Deferred(lambda s: txs.ProposeValidator(resolve_pubkey(key, s.opts.keystore()), power, code))


@read_command(validator_app, "proposals")
def proposals(opts: Options) -> None:
    """List validator-change proposals with their approvals."""
    total, items = chainq.get_all(RpcClient(opts.node), "validators", "proposals")
    if opts.json_out:
        print_json({"total": total, "items": items})
        return
    table(f"Validator-change proposals ({total})", ["#", "bank", "power", "public key", "status", "approvals"],
          [[p.get("id"), p.get("bank"), p.get("power"), p.get("pub_key"), p.get("status"),
            ", ".join(p.get("approvals") or [])] for p in items])


@tx_command(validator_app, "approve")
def approve(proposal: Annotated[int, typer.Argument(min=0, max=2**62, help="Proposal number.")]) -> txs.Body:
    """A validator's bank: approve a proposal; it applies at > 2/3 of the voting power."""
    return txs.ApproveValidator(proposal)


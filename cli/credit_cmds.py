"""`egp credit request|issue|consume|revoke|show|check|list`: e-Credit Confirmations (domain research §4).

`request` is deliberately off the ledger: the research (§4) keeps REQUESTED bank-private, because a
request on a shared ledger would tell every bank who banks where, and the chain has no request
transaction. So `credit request` writes a *signed request file* (the supplier's key signs the canonical
bytes of the terms, domain-separated from transactions) that the supplier hands to its bank; `credit issue
--request FILE` checks the signature and that the key belongs to that supplier on the ledger, and takes
the terms from it. The ledger sees only the bank's issue.

`credit show` never prints a confirmed amount: the chain discloses only the attested threshold (§4).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import chainq
from cli.common import NODE_PARAMS, OUTPUT_PARAMS, SIGNER_PARAMS, Options, _opt, read_command, tx_command, with_params
from cli.errors import InputError
from cli.parse import (
    doc_hash,
    fmt_date,
    fmt_thb,
    parse_bank_code,
    parse_code,
    parse_date,
    parse_tax_id,
    parse_thb,
    require_future,
)
from cli.render import fields, print_json, table
from cli.rpc_client import RpcClient
from cli.txflow import Deferred, Session
from state import txs
from state.codec import encode
from state.crypto import PublicKey, address
from state.records import CC_PURPOSES, cc_id_of

app = typer.Typer(name="credit", help="e-Credit Confirmations: a bank confirms a supplier's credit line.",
                  no_args_is_help=True)
REQUEST_DOMAIN = "egp/cc-request/v1"
_REQ_FIELDS = ("chain_id", "bank", "supplier", "purpose", "addressee", "project", "amount", "threshold")

CcId = Annotated[str, typer.Argument(metavar="ID", help="Credit confirmation id (CC…) or BANK:REF.")]


def cc_id(text: str) -> str:
    text = text.strip()
    if ":" in text and not text.upper().startswith("CC"):
        bank, ref = text.split(":", 1)
        return cc_id_of(parse_bank_code(bank), ref)
    if not text:
        raise InputError("the credit confirmation id is empty")
    return text


def purpose_of(text: str) -> str:
    p = text.strip().upper().replace("-", "_")
    if p not in CC_PURPOSES:
        raise InputError(f"purpose '{text}' must be one of {', '.join(CC_PURPOSES)}")
    return p


def addressee_of(text: str) -> str:
    return "CGD" if text.strip().upper() == "CGD" else parse_code(text.strip(), "addressee (CGD or agency code)")


def request_sign_bytes(terms: dict[str, Any]) -> bytes:
    return encode([REQUEST_DOMAIN, *(terms[k] for k in _REQ_FIELDS)])


# ----------------------------------------------------------------- request (off-ledger, signed)
def _request(opts: Options, bank: str, purpose: str, addressee: str, amount: str, supplier: str | None,
             threshold: str | None, project: str, output: Path | None) -> None:
    terms: dict[str, Any] = {"bank": parse_bank_code(bank), "purpose": purpose_of(purpose),
                             "addressee": addressee_of(addressee), "project": project,
                             "amount": parse_thb(amount)}
    terms["threshold"] = parse_thb(threshold, "threshold") if threshold else terms["amount"]
    if terms["threshold"] > terms["amount"]:
        raise InputError("the threshold cannot exceed the amount")
    key = opts.signer()
    if opts.offline:
        if not supplier or not opts.chain_id:
            raise InputError("--offline needs --supplier TAX_ID and --chain-id")
        terms["supplier"], terms["chain_id"] = parse_tax_id(supplier), opts.chain_id
    else:
        client = RpcClient(opts.node)
        acct = chainq.get(client, "account", key.address.hex())
        if acct is None or acct.get("owner_kind") != "SUPPLIER":
            raise InputError(f"key {key.address.hex().upper()} is not a supplier's key on the ledger")
        terms["supplier"], terms["chain_id"] = acct["owner_id"], opts.chain_id or client.chain_id()
    doc = {"type": REQUEST_DOMAIN, "terms": terms, "signer": key.public_key.raw.hex(),
           "signature": key.sign(request_sign_bytes(terms)).hex()}
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if output is not None:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"Wrote the signed request to {output}; send it to bank {terms['bank']}.", err=True)
    else:
        typer.echo(text, nl=False)


def read_request(path: Path) -> tuple[dict[str, Any], bytes]:
    """The terms of a signed request file and the signer's public key; InputError if anything is off."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        terms, signer, sig = doc["terms"], bytes.fromhex(doc["signer"]), bytes.fromhex(doc["signature"])
        if doc.get("type") != REQUEST_DOMAIN or not isinstance(terms, dict):
            raise ValueError("not a credit-confirmation request")
        ok = PublicKey(signer).verify(request_sign_bytes(terms), sig)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a valid signed credit request: {exc}") from None
    if not ok:
        raise InputError(f"the signature on {path} does not match its terms; do not act on it")
    return terms, signer


def _request_cmd(opts: Options,
                 bank: Annotated[str, typer.Option("--bank", help="Bank code asked to confirm the line.")],
                 purpose: Annotated[str, typer.Option("--purpose", help=", ".join(CC_PURPOSES))],
                 addressee: Annotated[str, typer.Option("--addressee", help="CGD or an agency code.")],
                 amount: Annotated[str, typer.Option("--amount", help="Credit line to confirm, THB.")],
                 supplier: Annotated[str | None, typer.Option("--supplier", help="Your tax ID (only --offline).")]
                 = None,
                 threshold: Annotated[str | None, typer.Option("--threshold", help="Line >= this, THB "
                                                               "(default: the amount).")] = None,
                 project: Annotated[str, typer.Option("--project", help="Project number, for a bid.")] = "",
                 output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the request here.")]
                 = None) -> None:
    """Supplier: sign a credit-confirmation request to hand to your bank (stays off the ledger)."""
    _request(opts, bank, purpose, addressee, amount, supplier, threshold, project, output)


_REQUEST_PARAMS = [
    *SIGNER_PARAMS,
    _opt("offline", bool, False, "--offline", panel="Signing", help="Sign without a node (needs --supplier "
         "and --chain-id)."),
    _opt("chain_id", str | None, None, "--chain-id", panel="Signing", help="Chain id (default: asked from the node)."),
    *NODE_PARAMS,
    *OUTPUT_PARAMS,
]
with_params(app, "request", _REQUEST_PARAMS, lambda f, kw, o: f(o, **kw))(_request_cmd)


# ----------------------------------------------------------------- ledger transactions


@tx_command(app, "issue")
def issue(ref: Annotated[str, typer.Option("--ref", help="The bank's reference.")],
          request: Annotated[Path | None, typer.Option("--request", help="Signed request file from the "
                                                       "supplier; its terms are the defaults.")] = None,
          applicant: Annotated[str | None, typer.Option("--applicant", help="Supplier tax ID.")] = None,
          purpose: Annotated[str | None, typer.Option("--purpose", help=", ".join(CC_PURPOSES))] = None,
          addressee: Annotated[str | None, typer.Option("--addressee", help="CGD or agency code.")] = None,
          amount: Annotated[str | None, typer.Option("--amount", help="Confirmed line, THB.")] = None,
          threshold: Annotated[str | None, typer.Option("--threshold", help="Attested 'line >= X', THB.")] = None,
          project: Annotated[str | None, typer.Option("--project", help="Project number, for a bid.")] = None,
          valid_until: Annotated[str | None, typer.Option("--valid-until", help="YYYY-MM-DD (default: 90 "
                                                          "days).")] = None,
          doc: Annotated[Path | None, typer.Option("--doc", help="The signed letter.")] = None,
          doc_hash_hex: Annotated[str | None, typer.Option("--doc-hash", help="Its SHA-256 (hex).")] = None,
          ) -> Deferred:
    """Bank: issue a credit confirmation."""
    t: dict[str, Any] = {}
    signer = b""
    if request is not None:
        t, signer = read_request(request)
    tax = parse_tax_id(applicant) if applicant else t.get("supplier")
    purp = purpose_of(purpose) if purpose else t.get("purpose")
    addr = addressee_of(addressee) if addressee else t.get("addressee")
    amt = parse_thb(amount) if amount else t.get("amount")
    thr = parse_thb(threshold, "threshold") if threshold else t.get("threshold", amt)
    proj = project if project is not None else t.get("project", "")
    until = parse_date(valid_until, "valid-until") if valid_until else 0
    if until:
        require_future(until, "valid-until date")
    missing = [n for n, v in (("--applicant", tax), ("--purpose", purp), ("--addressee", addr), ("--amount", amt))
               if not v]
    if missing:
        raise InputError(f"missing {', '.join(missing)} (or give --request FILE)")
    if thr is not None and amt is not None and int(thr) > int(amt):
        raise InputError("the attested threshold cannot exceed the confirmed amount")
    dh = doc_hash(doc, doc_hash_hex)

    def build(s: Session) -> txs.Body:
        if signer:
            s.need_online("the owner of the request's key")
            acct = chainq.get(s.client, "account", address(signer).hex())
            if acct is None or acct.get("owner_id") != t.get("supplier"):
                raise InputError("the request is not signed by a key of supplier "
                                 f"{t.get('supplier')} on the ledger; do not act on it")
        return txs.IssueCredit(ref, str(tax), str(purp), str(addr), str(proj), int(amt or 0), int(thr or 0), until,
                               dh)

    return Deferred(build)


@tx_command(app, "consume")
def consume(id_: CcId, bind_to: Annotated[str, typer.Option("--bind-to", help="The registration or bid it backs.")],
            ) -> txs.Body:
    """CGD or the addressed agency: bind the confirmation to one registration or bid (once)."""
    if not bind_to:
        raise InputError("--bind-to is required")
    return txs.ConsumeCredit(cc_id(id_), bind_to)


@tx_command(app, "revoke")
def revoke(id_: CcId, reason: Annotated[str, typer.Option("--reason", help="Why the line is withdrawn.")],
           ) -> txs.Body:
    """Bank: revoke a confirmation before its validity ends (decisions already taken stay valid)."""
    return txs.RevokeCredit(cc_id(id_), reason)


# ----------------------------------------------------------------- reading
def _cc_row(c: dict[str, Any]) -> list[Any]:
    return [c.get("id"), c.get("bank"), c.get("applicant"), c.get("purpose"), c.get("addressee"),
            fmt_thb(int(c.get("threshold", 0))), fmt_date(int(c.get("valid_until", 0))), c.get("status"),
            c.get("bound_to", "")]


@read_command(app, "show")
def show(opts: Options, id_: CcId) -> None:
    """Show a credit confirmation: status, attested threshold, validity (never the confirmed amount)."""
    c = chainq.get(RpcClient(opts.node), "cc", cc_id(id_))
    if c is None:
        raise InputError(f"credit confirmation {cc_id(id_)} does not exist on the ledger")
    if opts.json_out:
        print_json(c)
        return
    fields(f"Credit confirmation {c['id']}", [
        ("status", c.get("status")), ("usable now", "yes" if c.get("usable") else "no"),
        ("bank", f"{c.get('bank')} (ref {c.get('ref')})"), ("supplier", c.get("applicant")),
        ("purpose", c.get("purpose")), ("addressee", c.get("addressee")), ("project", c.get("project")),
        ("attested line >=", f"{fmt_thb(int(c.get('threshold', 0)))} THB"),
        ("valid until", fmt_date(int(c.get("valid_until", 0)))), ("bound to", c.get("bound_to")),
        ("document hash", c.get("doc_hash")),
    ])


@read_command(app, "check")
def check(opts: Options, supplier: Annotated[str, typer.Argument(help="Supplier tax ID.")],
          threshold: Annotated[str, typer.Option("--threshold", help="Line needed, THB.")] = "0.00",
          project: Annotated[str | None, typer.Option("--project", help="For this project.")] = None,
          addressee: Annotated[str | None, typer.Option("--addressee", help="Addressed to (CGD/agency).")]
          = None) -> None:
    """Does the supplier hold a usable confirmation of a line >= threshold? (yes/no and which)"""
    res = chainq.get(RpcClient(opts.node), "cc", "check", parse_tax_id(supplier),
                     threshold=parse_thb(threshold, "threshold", allow_zero=True), project=project,
                     addressee=addressee)
    if opts.json_out:
        print_json(res)
    elif res and res.get("ok"):
        typer.echo(f"YES: {res['id']} from bank {res['bank']}, valid until {fmt_date(int(res['valid_until']))}")
    else:
        typer.echo("NO usable credit confirmation for that threshold")
        raise typer.Exit(1)


@read_command(app, "list")
def list_(opts: Options, supplier: Annotated[str, typer.Argument(help="Supplier tax ID.")]) -> None:
    """A supplier's credit confirmations."""
    total, items = chainq.get_all(RpcClient(opts.node), "supplier", parse_tax_id(supplier), "credit")
    if opts.json_out:
        print_json({"total": total, "items": items})
        return
    table(f"Credit confirmations of {supplier} ({total})",
          ["id", "bank", "supplier", "purpose", "addressee", "line >= (THB)", "valid until", "status", "bound to"],
          [_cc_row(c) for c in items if c], right=["line >= (THB)"])

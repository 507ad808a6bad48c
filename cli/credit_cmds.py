"""`egp credit request|decline|issue|consume|revoke|show|check|list`: e-Credit Confirmations (research §4).

The lifecycle is on the ledger: `request` (supplier: bank, purpose, addressee, project, the line to attest)
-> the bank's `issue` fulfils it (the chain closes the supplier's oldest open request at that bank for the
same purpose and addressee) or `decline`s it -> `consume` by the addressee. `credit issue --request ID` reads
the request from the chain and takes its terms as defaults. A request carries no amount, only the threshold
the supplier needs attested; `credit show` never prints a confirmed amount either (§4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli import chainq
from cli.common import Options, read_command, tx_command
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


# ----------------------------------------------------------------- ledger transactions
@tx_command(app, "request")
def request(bank: Annotated[str, typer.Option("--bank", help="Bank code asked to confirm the line.")],
            purpose: Annotated[str, typer.Option("--purpose", help=", ".join(CC_PURPOSES))],
            addressee: Annotated[str, typer.Option("--addressee", help="CGD or an agency code.")],
            threshold: Annotated[str, typer.Option("--threshold", help="The line to attest: 'line >= X', THB.")],
            project: Annotated[str, typer.Option("--project", help="Project number, for a bid.")] = "",
            ) -> txs.Body:
    """Supplier: ask a bank for a credit confirmation (on the ledger; the bank issues or declines)."""
    return txs.RequestCredit(parse_bank_code(bank), purpose_of(purpose), addressee_of(addressee), project,
                             parse_thb(threshold, "threshold"))


@tx_command(app, "decline")
def decline(request_id: Annotated[str, typer.Argument(help="The credit request's id.")],
            reason: Annotated[str, typer.Option("--reason", help="Why the bank declines.")]) -> txs.Body:
    """Bank: decline a supplier's credit-confirmation request."""
    return txs.DeclineCredit(request_id.strip().lower(), reason)


@tx_command(app, "issue")
def issue(ref: Annotated[str, typer.Option("--ref", help="The bank's reference.")],
          request: Annotated[str | None, typer.Option("--request", help="The supplier's credit request id; "
                                                      "its terms are the defaults.")] = None,
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
          ) -> txs.Body | Deferred:
    """Bank: issue a credit confirmation (against the supplier's request: --request ID)."""
    amt = parse_thb(amount) if amount else None
    thr = parse_thb(threshold, "threshold") if threshold else None
    until = parse_date(valid_until, "valid-until") if valid_until else 0
    if until:
        require_future(until, "valid-until date")
    if thr is not None and amt is not None and thr > amt:
        raise InputError("the attested threshold cannot exceed the confirmed amount")
    dh = doc_hash(doc, doc_hash_hex)
    given: dict[str, Any] = {"supplier": parse_tax_id(applicant) if applicant else None,
                             "purpose": purpose_of(purpose) if purpose else None,
                             "addressee": addressee_of(addressee) if addressee else None, "project": project}

    def body(t: dict[str, Any]) -> txs.Body:
        terms = {k: v if v is not None else t.get(k) for k, v in given.items()}
        line = thr if thr is not None else t.get("threshold")
        confirmed = amt if amt is not None else line  # by default the bank confirms the line asked for
        missing = [n for n, k in (("--applicant", "supplier"), ("--purpose", "purpose"),
                                  ("--addressee", "addressee")) if not terms[k]] + ([] if confirmed else ["--amount"])
        if missing:
            raise InputError(f"missing {', '.join(missing)} (or give --request ID)")
        if line is not None and int(line) > int(confirmed or 0):
            raise InputError("the attested threshold cannot exceed the confirmed amount")
        return txs.IssueCredit(ref, str(terms["supplier"]), str(terms["purpose"]), str(terms["addressee"]),
                               str(terms["project"] or ""), int(confirmed or 0),
                               int(line if line is not None else confirmed or 0), until, dh)

    if request is None:
        return body({})

    def build(s: Session) -> txs.Body:
        s.need_online(f"the terms of credit request {request}")
        rq = chainq.get(s.client, "cc-request", request.strip().lower())
        if rq is None:
            raise InputError(f"credit request {request} does not exist on the ledger")
        if rq.get("status") != "REQUESTED":
            raise InputError(f"credit request {request} is {rq.get('status')}, not open")
        return body(rq)

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

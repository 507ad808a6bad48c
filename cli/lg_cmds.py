"""`egp lg …`: every transition of an electronic Letter of Guarantee (domain research §3.3, T2–T16).

Who signs what (the chain checks it; the help says it so an officer knows which key to use):
    supplier: request · bank: issue, decline, amend, honour, reject-demand, extend-or-pay, extend, replace,
    cancel (with the agency) · agency (beneficiary): acknowledge, refuse, accept/reject-amendment, reduce,
    demand, withdraw-demand, release, obligation, cancel (with the bank) · anyone: expire.

A guarantee is named by its id (`LG…`, printed when it is issued) or by `BANK:REF` (bank code and the
bank's own reference), which the wallet turns into the id with `state.records.lg_id_of`, the chain's
own function. Commands that need facts from the ledger (the latest requirement version, the terms of a
request or of the guarantee being replaced) fetch them, so officers type only what is theirs to decide.
Reading commands (show, list, history, expiring) are in cli/lg_read.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli import chainq
from cli.common import tx_command
from cli.errors import InputError
from cli.parse import doc_hash, parse_bank_code, parse_date, parse_tax_id, parse_thb, require_future
from cli.txflow import Deferred, Session
from state import txs
from state.records import LG_TYPES, lg_id_of

app = typer.Typer(name="lg", help="Electronic Letters of Guarantee: request, issue, demand, release, …",
                  no_args_is_help=True)

LgId = Annotated[str, typer.Argument(metavar="ID", help="Guarantee id (LG…) or BANK:REF.", show_default=False)]
Amount = Annotated[str, typer.Option("--amount", help="THB, e.g. 1,250,000.00", show_default=False)]
Doc = Annotated[Path | None, typer.Option("--doc", help="Document file; its SHA-256 goes on the ledger.")]
DocHash = Annotated[str | None, typer.Option("--doc-hash", help="SHA-256 of the document (hex), instead of --doc.")]
Reason = Annotated[str, typer.Option("--reason", help="Why, in words the other party will read.")]


def lg_id(text: str) -> str:
    """`LG…` as is; `BANK:REF` -> the id the chain gives that bank's reference."""
    text = text.strip()
    if ":" in text and not text.upper().startswith("LG"):
        bank, ref = text.split(":", 1)
        if len(bank) != 3 or not bank.isdigit() or not ref:
            raise InputError(f"'{text}' is not a guarantee id (LG…) nor BANK:REF with a 3-digit bank code")
        return lg_id_of(bank, ref)
    if not text:
        raise InputError("the guarantee id is empty")
    return text


def lg_type(text: str) -> str:
    t = text.strip().upper()
    if t not in LG_TYPES:
        raise InputError(f"guarantee type '{text}' must be one of {', '.join(LG_TYPES)}")
    return t


def _load(session: Session, gid: str) -> dict[str, Any]:
    session.need_online(f"guarantee {gid}")
    g = chainq.guarantee(session.client, gid)
    if g is None:
        raise InputError(f"guarantee {gid} does not exist on the ledger")
    return g


@tx_command(app, "request")
def request(bank: Annotated[str, typer.Option("--bank", help="Bank code (3 digits) asked to issue.")],
            requirement: Annotated[str, typer.Option("--requirement", help="AGENCY:REQ_ID of the requirement.")],
            amount: Amount, expiry: Annotated[str, typer.Option("--expiry", help="Last day covered (YYYY-MM-DD).")],
            type_: Annotated[str | None, typer.Option("--type", help="BID, PERF, ADV, RET or WARR (default: the "
                                                      "requirement's).")] = None,
            ) -> txs.Body | Deferred:
    """Supplier: ask a bank to issue a guarantee against an agency's requirement."""
    exp = parse_date(expiry, "expiry")
    require_future(exp, "expiry")
    code, amt = parse_bank_code(bank), parse_thb(amount)
    if type_ is not None:
        return txs.RequestGuarantee(code, requirement, lg_type(type_), amt, exp)

    def build(s: Session) -> txs.Body:
        s.need_online(f"the type of requirement {requirement} (--type)")
        req = chainq.requirement(s.client, requirement)
        if req is None:
            raise InputError(f"requirement {requirement} does not exist on the ledger")
        return txs.RequestGuarantee(code, requirement, str(req["type"]), amt, exp)

    return Deferred(build)


@tx_command(app, "decline")
def decline(request_id: Annotated[str, typer.Argument(help="The request's id.")], reason: Reason) -> txs.Body:
    """Bank: decline a supplier's request."""
    return txs.DeclineRequest(request_id, reason)


@tx_command(app, "issue")
def issue(ref: Annotated[str, typer.Option("--ref", help="The bank's own reference (unique per bank).")],
          request_id: Annotated[str, typer.Option("--request", help="Issue against this on-ledger request; "
                                                  "its terms are the defaults.")] = "",
          applicant: Annotated[str | None, typer.Option("--applicant", help="Supplier tax ID.")] = None,
          requirement: Annotated[str | None, typer.Option("--requirement", help="AGENCY:REQ_ID.")] = None,
          type_: Annotated[str | None, typer.Option("--type", help="Guarantee type.")] = None,
          amount: Annotated[str | None, typer.Option("--amount", help="THB.")] = None,
          expiry: Annotated[str | None, typer.Option("--expiry", help="YYYY-MM-DD.")] = None,
          req_version: Annotated[int | None, typer.Option("--req-version", min=1, max=2**32,
                                                         help="Requirement version (default: latest).")] = None,
          partial: Annotated[bool, typer.Option("--partial/--no-partial", help="Partial demands allowed.")] = True,
          multiple: Annotated[bool, typer.Option("--multiple/--single", help="More than one demand allowed.")]
          = True,
          extend_or_pay: Annotated[bool, typer.Option("--extend-or-pay", help="Allow extend-or-pay.")] = False,
          reduction_clause: Annotated[bool, typer.Option("--reduction-clause", help="Has a reduction clause.")]
          = False,
          doc: Doc = None, doc_hash_hex: DocHash = None,
          replaces: Annotated[str, typer.Option("--replaces", hidden=True, help="See `egp lg replace`.")] = "",
          ) -> Deferred:
    """Bank: issue a guarantee (irrevocable from now on)."""
    return _issue_deferred(ref, request_id, applicant, requirement, type_, amount, expiry, req_version, partial,
                           multiple, extend_or_pay, reduction_clause, doc_hash(doc, doc_hash_hex), replaces)


def _issue_deferred(ref: str, request_id: str, applicant: str | None, requirement: str | None, type_: str | None,
                    amount: str | None, expiry: str | None, req_version: int | None, partial: bool,
                    multiple: bool, extend_or_pay: bool, reduction_clause: bool, dh: bytes,
                    replaces: str) -> Deferred:
    if not ref:
        raise InputError("--ref (the bank's reference) is required")
    tax = parse_tax_id(applicant) if applicant else None
    typ = lg_type(type_) if type_ else None
    amt = parse_thb(amount) if amount else None
    exp = parse_date(expiry, "expiry") if expiry else None
    if exp is not None:
        require_future(exp, "expiry", after_what="the issue date (today)")

    def build(s: Session) -> txs.Body:
        nonlocal tax, typ, amt, exp
        req_id = requirement
        if request_id:
            s.need_online(f"request {request_id}")
            rq = chainq.request(s.client, request_id)
            if rq is None:
                raise InputError(f"request {request_id} does not exist on the ledger")
            tax, req_id, typ = tax or rq["supplier"], req_id or rq["requirement"], typ or rq["type"]
            amt, exp = amt or int(rq["amount"]), exp or int(rq["expiry"])
        if replaces:
            old = _load(s, replaces)
            tax, req_id, typ = tax or old["applicant"], req_id or old["requirement"], typ or old["type"]
            amt, exp = amt or int(old["amount"]), exp or int(old["expiry"])
        missing = [n for n, v in (("--applicant", tax), ("--requirement", req_id), ("--type", typ),
                                  ("--amount", amt), ("--expiry", exp)) if not v]
        if missing:
            raise InputError(f"missing {', '.join(missing)} (or give --request to take them from a request)")
        version = req_version
        if version is None:
            s.need_online("the requirement's latest version (--req-version)")
            req = chainq.requirement(s.client, str(req_id))
            if req is None:
                raise InputError(f"requirement {req_id} does not exist on the ledger")
            version = int(req["version"])
        assert tax and req_id and typ and amt and exp
        return txs.IssueGuarantee(ref, request_id, typ, tax, req_id, version, amt, exp, partial, multiple,
                                  extend_or_pay, reduction_clause, dh, replaces)

    return Deferred(build)


@tx_command(app, "replace")
def replace(old: LgId, ref: Annotated[str, typer.Option("--ref", help="Reference of the new guarantee.")],
            amount: Annotated[str | None, typer.Option("--amount", help="THB (default: the old amount).")] = None,
            expiry: Annotated[str | None, typer.Option("--expiry", help="YYYY-MM-DD (default: the old one).")]
            = None,
            doc: Doc = None, doc_hash_hex: DocHash = None) -> Deferred:
    """Bank: issue a new guarantee that supersedes an ACTIVE one once the agency acknowledges it."""
    return _issue_deferred(ref, "", None, None, None, amount, expiry, None, True, True, False, False,
                           doc_hash(doc, doc_hash_hex), lg_id(old))


@tx_command(app, "acknowledge")
def acknowledge(id_: LgId) -> txs.Body:
    """Agency: accept the guarantee as security (ISSUED → ACTIVE)."""
    return txs.Acknowledge(lg_id(id_))


@tx_command(app, "refuse")
def refuse(id_: LgId, reason: Reason) -> txs.Body:
    """Agency: refuse a non-conforming guarantee (ISSUED → REFUSED)."""
    return txs.Refuse(lg_id(id_), reason)


@tx_command(app, "cancel")
def cancel(id_: LgId) -> txs.Body:
    """Bank or agency: consent to cancel; the second party's consent cancels it."""
    return txs.Cancel(lg_id(id_))


@tx_command(app, "amend")
def amend(id_: LgId,
          amount: Annotated[str | None, typer.Option("--amount", help="New amount, THB.")] = None,
          expiry: Annotated[str | None, typer.Option("--expiry", help="New expiry, YYYY-MM-DD.")] = None,
          doc: Doc = None, doc_hash_hex: DocHash = None) -> Deferred:
    """Bank: propose new terms (binding on the bank; applied when the agency accepts)."""
    if amount is None and expiry is None:
        raise InputError("an amendment changes --amount, --expiry or both")
    amt = parse_thb(amount, "new amount") if amount else None
    exp = parse_date(expiry, "new expiry") if expiry else None
    if exp is not None:
        require_future(exp, "new expiry")
    dh, gid = doc_hash(doc, doc_hash_hex), lg_id(id_)

    def build(s: Session) -> txs.Body:
        if amt is None or exp is None:
            g = _load(s, gid)
            return txs.ProposeAmendment(gid, amt or int(g["amount"]), exp or int(g["expiry"]), dh)
        return txs.ProposeAmendment(gid, amt, exp, dh)

    return Deferred(build)


@tx_command(app, "accept-amendment")
def accept_amendment(id_: LgId) -> txs.Body:
    """Agency: accept the pending amendment (a new version of the guarantee)."""
    return txs.AcceptAmendment(lg_id(id_))


@tx_command(app, "reject-amendment")
def reject_amendment(id_: LgId) -> txs.Body:
    """Agency: reject the pending amendment (the old terms stay)."""
    return txs.RejectAmendment(lg_id(id_))


@tx_command(app, "reduce")
def reduce(id_: LgId, amount: Annotated[str, typer.Option("--amount", help="The new, lower amount, THB.")],
           doc: Doc = None, doc_hash_hex: DocHash = None) -> txs.Body:
    """Agency (partial release) or bank (reduction clause): lower the amount."""
    return txs.Reduce(lg_id(id_), parse_thb(amount, "new amount"), doc_hash(doc, doc_hash_hex))


@tx_command(app, "demand")
def demand(id_: LgId, amount: Amount,
           statement: Annotated[Path | None, typer.Option("--statement", help="The demand statement file.")] = None,
           statement_hash: Annotated[str | None, typer.Option("--statement-hash", help="Its SHA-256 (hex).")]
           = None,
           extension_offer: Annotated[str | None, typer.Option(
               "--extend-or-pay-until", help="Offer 'extend to this date or pay' (YYYY-MM-DD).")] = None,
           ) -> txs.Body:
    """Agency: present a demand for payment (before expiry, within the available amount)."""
    offer = parse_date(extension_offer, "extension date") if extension_offer else 0
    return txs.Demand(lg_id(id_), parse_thb(amount), doc_hash(statement, statement_hash, "demand statement",
                                                              required=True), offer)


@tx_command(app, "honour")
def honour(id_: LgId) -> txs.Body:
    """Bank: pay the pending demand."""
    return txs.Honour(lg_id(id_))


@tx_command(app, "reject-demand")
def reject_demand(id_: LgId, reason: Annotated[list[str], typer.Option(
        "--reason", help="A reason for refusing the demand; repeat for each (one notice lists all).")]) -> txs.Body:
    """Bank: refuse the pending demand, listing every reason at once."""
    if not reason:
        raise InputError("give at least one --reason")
    return txs.RejectDemand(lg_id(id_), tuple(reason))


@tx_command(app, "extend-or-pay")
def extend_or_pay(id_: LgId) -> txs.Body:
    """Bank: suspend an extend-or-pay demand (at most 30 days) while the extension is arranged."""
    return txs.SuspendDemand(lg_id(id_))


@tx_command(app, "extend")
def extend(id_: LgId) -> txs.Body:
    """Bank: extend to the expiry the suspended demand offered; the demand is withdrawn."""
    return txs.Extend(lg_id(id_))


@tx_command(app, "withdraw-demand")
def withdraw_demand(id_: LgId) -> txs.Body:
    """Agency: withdraw a suspended demand."""
    return txs.WithdrawDemand(lg_id(id_))


@tx_command(app, "release")
def release(id_: LgId) -> txs.Body:
    """Agency: release the guarantee (the security is no longer needed)."""
    return txs.Release(lg_id(id_))


@tx_command(app, "expire")
def expire(id_: LgId) -> txs.Body:
    """Anyone registered: mark a guarantee past its expiry as EXPIRED (the chain also does it by itself)."""
    return txs.Expire(lg_id(id_))


@tx_command(app, "obligation")
def obligation(id_: LgId,
               end: Annotated[str | None, typer.Option("--end", help="Obligation end date (starts the "
                                                       "15-day return rule).")] = None,
               cover_until: Annotated[str | None, typer.Option("--cover-until", help="New date the security "
                                                               "must cover (contract moved).")] = None) -> txs.Body:
    """Agency: record the end of the obligation and/or what the security must cover until."""
    if end is None and cover_until is None:
        raise InputError("give --end, --cover-until or both")
    return txs.RecordObligation(lg_id(id_), parse_date(end, "obligation end") if end else 0,
                                parse_date(cover_until, "cover-until") if cover_until else 0)

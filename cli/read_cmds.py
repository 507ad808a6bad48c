"""Reading the ledger: `egp lg show|list|history|expiring`, `egp supplier show|rating`, `egp bank exposure`.

All go through the application's query paths (state/queries.py) on the latest committed block; `--json`
prints the node's JSON unchanged (amounts in satang, times in UTC ms) for scripts, while tables show THB
and Bangkok dates for people. `lg history` also re-checks the hash chain of the events (each event
links the hash of the previous one, invariant I9) and says so.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli import chainq
from cli.common import Options, read_command
from cli.errors import InputError
from cli.lg_cmds import LgId, lg_id
from cli.lg_cmds import app as lg_app
from cli.parse import fmt_date, fmt_thb, fmt_time, parse_bank_code, parse_code, parse_duration_days, parse_tax_id
from cli.render import fields, print_json, table
from cli.rpc_client import RpcClient

supplier_app = typer.Typer(name="supplier", help="A supplier's registration, guarantees and rating.",
                           no_args_is_help=True)
bank_app = typer.Typer(name="bank", help="A bank's book of guarantees.", no_args_is_help=True)

LG_COLUMNS = ["id", "bank", "ref", "type", "supplier", "agency", "amount (THB)", "available (THB)", "expiry",
              "status"]
MONEY = ["amount (THB)", "available (THB)"]


def lg_row(g: dict[str, Any]) -> list[Any]:
    return [g.get("id"), g.get("bank"), g.get("ref"), g.get("type"), g.get("applicant"), g.get("beneficiary"),
            fmt_thb(int(g.get("amount", 0))), fmt_thb(int(g.get("available", 0))),
            fmt_date(int(g.get("expiry", 0))), g.get("status")]


def _client(opts: Options) -> RpcClient:
    return RpcClient(opts.node)


@read_command(lg_app, "show")
def show(opts: Options, id_: LgId) -> None:
    """Show a guarantee: parties, amounts, expiry, status, pending demand or amendment."""
    gid = lg_id(id_)
    g = chainq.guarantee(_client(opts), gid)
    if g is None:
        raise InputError(f"guarantee {gid} does not exist on the ledger")
    if opts.json_out:
        print_json(g)
        return
    demand, amendment = g.get("demand"), g.get("amendment")
    yes = {True: "yes", False: "no"}
    fields(f"Guarantee {g['id']}", [
        ("status", g.get("status")), ("version", g.get("version")),
        ("bank", f"{g.get('bank')} (ref {g.get('ref')})"), ("type", g.get("type")),
        ("supplier", g.get("applicant")), ("beneficiary", g.get("beneficiary")),
        ("requirement", f"{g.get('requirement')} v{g.get('req_version')}"),
        ("amount", f"{fmt_thb(int(g['amount']))} THB (issued {fmt_thb(int(g['issued_amount']))})"),
        ("paid", f"{fmt_thb(int(g['paid']))} THB"), ("available", f"{fmt_thb(int(g['available']))} THB"),
        ("issued", fmt_time(int(g.get("issued_at", 0)))), ("expiry", fmt_time(int(g.get("expiry", 0)))),
        ("partial / multiple demands", f"{yes[bool(g.get('partial_allowed'))]} / "
                                       f"{yes[bool(g.get('multiple_allowed'))]}"),
        ("extend-or-pay", yes[bool(g.get("extend_or_pay"))]),
        ("pending demand", f"{fmt_thb(int(demand['amount']))} THB, examine by {fmt_time(int(demand['deadline']))}"
         if demand else ""),
        ("extend-or-pay offer", f"extend to {fmt_date(int(demand['extension_offer']))}"
         + (f"; suspended until {fmt_time(int(demand['suspended_until']))}" if demand.get("suspended_until") else "")
         if demand and demand.get("extension_offer") else ""),
        ("pending amendment", f"{fmt_thb(int(amendment['new_amount']))} THB until "
                              f"{fmt_date(int(amendment['new_expiry']))}" if amendment else ""),
        ("cancel consent", g.get("cancel_consent")), ("replaces", g.get("replaces")),
        ("replaced by", g.get("replaced_by")),
        ("coverage gap since", fmt_date(int(g.get("coverage_gap_since") or 0))),
        ("document hash", g.get("doc_hash")),
    ])


@read_command(lg_app, "history")
def history(opts: Options, id_: LgId) -> None:
    """The audit trail: every event with signer, block, tx and the hash chain check."""
    gid = lg_id(id_)
    h = chainq.get(_client(opts), "lg", gid, "history")
    if h is None:
        raise InputError(f"guarantee {gid} does not exist on the ledger")
    if opts.json_out:
        print_json(h)
        return
    table(f"History of {gid} (version {h.get('version')})",
          ["#", "event", "status", "version", "amount (THB)", "height", "time", "signer", "tx"],
          [[e.get("seq"), e.get("kind"), e.get("status"), e.get("version"),
            fmt_thb(int(e.get("amount", 0))) if e.get("amount") else "", e.get("height"),
            fmt_time(int(e.get("time", 0))), (e.get("signer") or "automatic")[:16],
            (e.get("tx_hash") or "")[:16].upper()] for e in h.get("events", [])], right=["amount (THB)"])
    ok = h.get("chain_ok") and all(e.get("chain_ok") for e in h.get("events", []))
    typer.echo("hash chain: intact" if ok else "hash chain: BROKEN (report this to the operators)")


@read_command(lg_app, "list")
def list_(opts: Options,
          supplier: Annotated[str | None, typer.Option("--supplier", help="Guarantees of this tax ID.")] = None,
          agency: Annotated[str | None, typer.Option("--agency", help="Held by this agency.")] = None,
          bank: Annotated[str | None, typer.Option("--bank", help="Issued by this bank.")] = None,
          status: Annotated[str | None, typer.Option("--status", help="Only this status (e.g. ACTIVE).")] = None,
          ) -> None:
    """List the guarantees of a supplier, an agency or a bank."""
    chosen = [(k, v) for k, v in (("supplier", supplier), ("agency", agency), ("bank", bank)) if v]
    if len(chosen) != 1:
        raise InputError("choose one of --supplier TAX_ID, --agency CODE or --bank CODE")
    kind, ident = chosen[0]
    ident = {"supplier": parse_tax_id, "bank": parse_bank_code}.get(kind, parse_code)(ident)
    total, items = chainq.get_all(_client(opts), kind, ident, "guarantees",
                                  status=status.upper() if status else None)
    if opts.json_out:
        print_json({"total": total, "items": items})
        return
    table(f"Guarantees of {kind} {ident} ({total})", LG_COLUMNS, [lg_row(g) for g in items], right=MONEY)


@read_command(lg_app, "expiring")
def expiring(opts: Options,
             within: Annotated[str, typer.Option("--within", help="Window, e.g. 30d or 2w.")] = "30d",
             agency: Annotated[str | None, typer.Option("--agency", help="Only this agency's.")] = None,
             bank: Annotated[str | None, typer.Option("--bank", help="Only this bank's.")] = None,
             supplier: Annotated[str | None, typer.Option("--supplier", help="Only this supplier's.")] = None,
             type_: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None) -> None:
    """Live guarantees expiring within a window (drives extend-or-pay before expiry)."""
    days = parse_duration_days(within)
    total, items = chainq.get_all(_client(opts), "lg", "expiring", days=days,
                                  agency=parse_code(agency) if agency else None,
                                  bank=parse_bank_code(bank) if bank else None,
                                  supplier=parse_tax_id(supplier) if supplier else None,
                                  type=type_.upper() if type_ else None)
    if opts.json_out:
        print_json({"within_days": days, "total": total, "items": items})
        return
    table(f"Expiring within {days} days ({total})", LG_COLUMNS, [lg_row(g) for g in items], right=MONEY)


# ----------------------------------------------------------------- supplier
@read_command(supplier_app, "show")
def supplier_show(opts: Options, tax_id: Annotated[str, typer.Argument(help="13-digit tax ID.")]) -> None:
    """A supplier's registration and status."""
    tid = parse_tax_id(tax_id)
    s = chainq.get(_client(opts), "supplier", tid)
    if s is None:
        raise InputError(f"supplier {tid} is not registered")
    if opts.json_out:
        print_json(s)
        return
    fields(f"Supplier {tid}", [("name", s.get("name")), ("status", "ACTIVE" if s.get("active") else "SUSPENDED"),
                               ("since", fmt_time(int(s.get("since", 0))))])


@read_command(supplier_app, "rating")
def supplier_rating(opts: Options, tax_id: Annotated[str, typer.Argument(help="13-digit tax ID.")]) -> None:
    """The advisory score with its contributing events, and the official suspension band (separate)."""
    tid = parse_tax_id(tax_id)
    r = chainq.get(_client(opts), "supplier", tid, "rating")
    if r is None:
        raise InputError(f"supplier {tid} is not registered")
    if opts.json_out:
        print_json(r)
        return
    pairs = [(k, _rating_value(k, v)) for k, v in r.items() if not isinstance(v, (list, dict))]
    fields(f"Rating of supplier {tid}", pairs)
    for name, v in r.items():
        if isinstance(v, dict):
            fields(f"  {name}", [(k, _rating_value(k, x)) for k, x in v.items()])
    events = next((v for v in r.values() if isinstance(v, list)), [])
    if events:
        cols = [c for c in ("time", "kind", "delta", "lg_id", "amount", "reason", "id")
                if any(isinstance(e, dict) and c in e for e in events)]
        table("Contributing events", cols,
              [[_rating_value(c, e.get(c)) for c in cols] for e in events if isinstance(e, dict)])


def _rating_value(key: str, v: Any) -> Any:
    if isinstance(v, int) and not isinstance(v, bool) and key in ("time", "as_of", "window_start", "since",
                                                                  "until", "suspended_until"):
        return fmt_time(v) if v else ""
    return v


# ----------------------------------------------------------------- bank
@read_command(bank_app, "exposure")
def exposure(opts: Options, bank: Annotated[str, typer.Argument(help="Bank code.")]) -> None:
    """Sum of available amounts of a bank's live guarantees, by type x maturity and by agency."""
    code = parse_bank_code(bank)
    e = chainq.get(_client(opts), "bank", code, "exposure")
    if e is None:
        raise InputError(f"no exposure data for bank {code}")
    if opts.json_out:
        print_json(e)
        return
    by_type: dict[str, dict[str, int]] = e.get("by_type_and_maturity", {})
    buckets = sorted({b for row in by_type.values() for b in row}, key=_bucket_order)
    typer.echo(f"Exposure of bank {code}: {e.get('live')} live guarantees, "
               f"{fmt_thb(int(e.get('total_available', 0)))} THB available (as of {fmt_time(int(e.get('as_of', 0)))})")
    if not by_type:
        return
    table("By type and time to expiry (THB)",
          ["type", *buckets, "total"],
          [[t, *(fmt_thb(row.get(b, 0)) for b in buckets), fmt_thb(sum(row.values()))] for t, row in by_type.items()],
          right=[*buckets, "total"])
    if e.get("by_agency"):
        table("By agency", ["agency", "available (THB)"],
              [[a, fmt_thb(int(v))] for a, v in e["by_agency"].items()], right=["available (THB)"])


def _bucket_order(name: str) -> int:
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits or 0) + (10_000 if name.startswith(">") else 0)


# ----------------------------------------------------------------- reports (§6 of the domain research)
REPORTS = {
    "coverage-gaps": ("Guarantees that no longer cover what the contract needs (I7)", {}),
    "overdue-releases": ("Obligation ended more than N days ago and not released (15-day rule)", {"days": 15}),
    "pending-amendments": ("Amendments awaiting the beneficiary", {"older_than_days": 0}),
    "overdue-demands": ("Demands still under examination after their window", {}),
}


def _report(kind: str) -> None:
    title, defaults = REPORTS[kind]

    def run(opts: Options,
            days: Annotated[int | None, typer.Option(
                "--days", min=0, max=100_000,
                help="Threshold in days (overdue-releases: 15; pending-amendments: older than).")] = None,
            agency: Annotated[str | None, typer.Option("--agency", help="Only this agency's.")] = None,
            bank: Annotated[str | None, typer.Option("--bank", help="Only this bank's.")] = None) -> None:
        params: dict[str, object] = {"agency": parse_code(agency) if agency else None,
                                     "bank": parse_bank_code(bank) if bank else None}
        for name in defaults:
            params[name] = days
        total, items = chainq.get_all(_client(opts), "lg", kind, **params)
        if opts.json_out:
            print_json({"report": kind, "total": total, "items": items})
            return
        table(f"{title} ({total})", LG_COLUMNS, [lg_row(g) for g in items], right=MONEY)

    run.__doc__ = f"{title}."
    read_command(lg_app, kind)(run)


for _kind in REPORTS:
    _report(_kind)

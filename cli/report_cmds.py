"""More reading: `egp requirement show|securities` and `egp lg stats` (docs/queries.md).

`requirement securities` lists what was lodged against a requirement; for a bid it answers only after the
bid deadline (the chain refuses earlier with code 315, shown as a refusal), so bids stay sealed.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli import chainq
from cli.common import Options, read_command
from cli.errors import InputError
from cli.lg_cmds import app as lg_app
from cli.parse import fmt_thb, fmt_time, parse_bank_code, parse_code, parse_tax_id
from cli.read_cmds import LG_COLUMNS, MONEY, lg_row
from cli.registry_cmds import requirement_app
from cli.render import fields, print_json, table
from cli.rpc_client import RpcClient

ReqId = Annotated[str, typer.Argument(metavar="REQUIREMENT", help="AGENCY:REQ_ID, e.g. CGD:R-2026-101.")]


def _req_id(text: str) -> str:
    if ":" not in text:
        raise InputError(f"'{text}' is not a requirement; write AGENCY:REQ_ID, e.g. CGD:R-2026-101")
    return text.strip()


@read_command(requirement_app, "show")
def show(opts: Options, requirement: ReqId) -> None:
    """Show the latest version of a requirement: type, minimum amount, cover-until, bid deadline."""
    r = chainq.requirement(RpcClient(opts.node), _req_id(requirement))
    if r is None:
        raise InputError(f"requirement {requirement} does not exist on the ledger")
    if opts.json_out:
        print_json(r)
        return
    fields(f"Requirement {r.get('id')} (version {r.get('version')})", [
        ("agency", r.get("agency")), ("project", r.get("project_no")), ("lot", r.get("lot")),
        ("type", r.get("type")), ("minimum", f"{fmt_thb(int(r.get('min_amount', 0)))} THB"),
        ("must cover until", fmt_time(int(r.get("must_cover_until", 0)))),
        ("bid deadline", fmt_time(int(r.get("bid_deadline", 0)))), ("form", r.get("form_code")),
        ("published", fmt_time(int(r.get("published_at", 0)))),
    ])


@read_command(requirement_app, "securities")
def securities(opts: Options, requirement: ReqId) -> None:
    """The guarantees lodged against a requirement (bids: only after the deadline)."""
    rid = _req_id(requirement)
    total, items = chainq.get_all(RpcClient(opts.node), "requirement", rid, "securities")
    if opts.json_out:
        print_json({"total": total, "items": items})
        return
    table(f"Securities lodged against {rid} ({total})", LG_COLUMNS, [lg_row(g) for g in items], right=MONEY)


@read_command(lg_app, "stats")
def stats(opts: Options,
          bank: Annotated[str | None, typer.Option("--bank", help="Only this bank's.")] = None,
          agency: Annotated[str | None, typer.Option("--agency", help="Only this agency's.")] = None,
          supplier: Annotated[str | None, typer.Option("--supplier", help="Only this supplier's.")] = None,
          type_: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None) -> None:
    """Count, issued value and paid amounts by type and by issue month (Bangkok)."""
    s = chainq.get(RpcClient(opts.node), "stats", bank=parse_bank_code(bank) if bank else None,
                   agency=parse_code(agency) if agency else None,
                   supplier=parse_tax_id(supplier) if supplier else None, type=type_.upper() if type_ else None)
    if s is None:
        raise InputError("the node has no statistics")
    if opts.json_out:
        print_json(s)
        return
    typer.echo(f"{s.get('count', 0)} guarantees, {s.get('with_payment', 0)} with a payment")
    for name, rows in (("By type", s.get("by_type", {})), ("By issue month", s.get("by_month", {}))):
        if rows:
            table(name, ["", "count", "issued (THB)", "paid (THB)"], [_stat_row(k, v) for k, v in rows.items()],
                  right=["count", "issued (THB)", "paid (THB)"])


def _stat_row(key: str, row: dict[str, Any]) -> list[Any]:
    return [key, row.get("count", 0), fmt_thb(int(row.get("issued_value", 0))), fmt_thb(int(row.get("paid", 0)))]

"""`egp lg certificate ID` and `egp lg verify-certificate FILE --trust genesis.json` (issue 8).

`certificate` fetches, over the node's JSON-RPC, the guarantee's record with its trie proof, the header
carrying that app hash and its commit, and the validator changes since the trust anchor; it checks the
result before writing it (a node that sends bad data gets no certificate written).

`verify-certificate` needs no network: the certificate file and a trusted genesis.json (or a trusted
validator-set file from `--save-trust`) are enough. Verdict text for people, `--json` for tools. Exit
status: 0 genuine, 1 not genuine (the first reason is printed), 2 usage or I/O error (missing or unreadable
file, a trust file that is not a genesis).

Trusting period (`--trusting-period 14d`): refuse to verify from a trust anchor older than that (defence
against leaked keys of a replaced validator set, state/light.py). Off by default, because a genesis anchor is
as old as the chain; agencies that pass it refresh their anchor with `--save-trust` from a recent certificate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.lg_cmds import LgId
from cli.lg_cmds import app as lg_app


@lg_app.command("certificate")
def certificate(
    id_: LgId,
    out: Annotated[Path | None, typer.Option("--out", help="Write the certificate here (default: stdout).")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Also write a printable one-page HTML view.")] = None,
    node: Annotated[str | None, typer.Option("--node", envvar="EGP_NODE", help="RPC address of a node.")] = None,
    trust: Annotated[Path | None, typer.Option("--trust", help="Build the validator-change chain from this "
                                               "genesis (default: the node's own genesis).")] = None,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for the block carrying the app hash.")] = 30.0,
) -> None:
    """Fetch a self-contained certificate of a guarantee that anyone can verify offline."""
    from cli.certificate_run import run_certificate

    run_certificate(id_, out, html_out, node, trust, wait)


@lg_app.command("verify-certificate")
def verify_certificate_cmd(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The certificate file.", show_default=False)],
    trust: Annotated[Path, typer.Option("--trust", help="Trusted genesis.json (or a --save-trust file).",
                                        show_default=False)],
    newer: Annotated[Path | None, typer.Option("--newer", help="A newer certificate of the same guarantee, "
                                               "to report a newer state.")] = None,
    trusting_period: Annotated[str | None, typer.Option("--trusting-period", help="Refuse a trust anchor older "
                                                        "than this, e.g. 14d (default: no limit).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write a printable page with the verdict.")] = None,
    save_trust: Annotated[Path | None, typer.Option("--save-trust", help="When genuine, save the validator set "
                                                    "that signed it as a fresher trust anchor.")] = None,
) -> None:
    """Check a certificate offline: genuine (exit 0) or not genuine with the first reason (exit 1)."""
    from cli.certificate_run import run_verify

    run_verify(file, trust, newer, trusting_period, json_out, html_out, save_trust)

"""The work behind `egp lg certificate` and `egp lg verify-certificate` (cli/certificate_cmds.py).

Kept apart from the command declarations so that every other `egp` command does not pay for importing the
verifier, the RPC fetcher and the QR/HTML renderer (~80 ms) at start-up. Exit codes and behaviour are
documented in cli/certificate_cmds.py and docs/certificates.md.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

import typer

from cli.certificate_html import render_html
from cli.certificate_rpc import fetch_certificate
from cli.errors import InputError, guard
from cli.lg_cmds import lg_id
from cli.parse import parse_duration_days
from cli.rpc_client import RpcClient
from state.calendar import fmt_time
from state.certificate import MAX_CERT_BYTES, Certificate, CertificateVerdict, Signer, verify_certificate
from state.certificate_json import (
    CertificateDamaged,
    CertificateFormatError,
    TrustError,
    anchor_from_verdict,
    anchor_to_json,
    certificate_to_json,
    format_ms,
    load_certificate,
    parse_anchor,
    verdict_to_json,
)
from state.errors import thb
from state.light import TrustAnchor

EXIT_GENUINE, EXIT_NOT_GENUINE = 0, 1  # usage and I/O errors: 2 (cli.errors.InputError)
_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
DAY_MS = 86_400_000
MAX_TRUST_BYTES = 64 * 1024 * 1024  # a genesis with a large app_state


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _read(path: Path, limit: int) -> bytes:
    """At most `limit` + 1 bytes (a bigger file is refused by the caller's parser, never read whole)."""
    with path.open("rb") as f:
        return f.read(limit + 1)


def _read_json(path: Path, what: str) -> object:
    try:
        data = _read(path, MAX_TRUST_BYTES)
        if len(data) > MAX_TRUST_BYTES:
            raise InputError(f"{what} {path} is larger than {MAX_TRUST_BYTES} bytes")
        return json.loads(data)
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{what} {path} is not valid JSON: {exc}") from None


def load_trust(path: Path) -> TrustAnchor:
    try:
        return parse_anchor(_read_json(path, "trust file"))
    except TrustError as exc:
        raise InputError(f"{path} is not a usable genesis or trusted validator set: {exc}") from None


def run_certificate(id_: str, out: Path | None, html_out: Path | None, node: str | None, trust: Path | None,
                    wait: float) -> None:
    """Fetch a self-contained certificate of a guarantee that anyone can verify offline."""
    with guard():
        gid = lg_id(id_)
        if not _ID.fullmatch(gid):
            raise InputError(f"'{gid}' is not a guarantee id (LG followed by letters and digits, or BANK:REF)")
        anchor = load_trust(trust) if trust is not None else None
        cert, anchor = fetch_certificate(RpcClient(node), gid, anchor, wait)
        doc = json.dumps(certificate_to_json(cert), indent=2) + "\n"
        if out is None:
            typer.echo(doc, nl=False)
        else:
            _write(out, doc)
        if html_out is not None:
            _write(html_out, render_html(cert))
        what = "exists" if cert.value is not None else "does not exist"
        typer.echo(f"Certificate of {gid} ({what}) at height {cert.height}"
                   + (f" written to {out}" if out is not None else ""), err=True)


def _load_cert(path: Path) -> Certificate:
    try:
        data = _read(path, 2 * MAX_CERT_BYTES)
    except FileNotFoundError:
        raise InputError(f"certificate file {path} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return load_certificate(data)


def _signer_label(s: Signer) -> str:
    label = s.name or "(not named by the trusted genesis)"
    if s.bank:  # proven from the ledger's validator and bank records
        label += f" [bank {s.bank}" + (f" {s.bank_name}" if s.bank_name else "") + "]"
    return label


def verdict_text(v: CertificateVerdict) -> str:
    if not v.genuine:
        return f"NOT GENUINE: {v.reason} [{v.code}]"
    g = v.guarantee
    lines = [f"GENUINE: guarantee {v.guarantee_id}",
             f"  as recorded after block {v.height} ({fmt_time(v.time_ms)}, {format_ms(v.time_ms)}), app hash "
             f"in header {v.attested_height}"]
    if g is None:
        lines.append("  No guarantee with this id existed at this height.")
    else:
        lines += [f"  status:            {g.status} ({g.type})",
                  f"  amount available:  {thb(g.available)} (amount {thb(g.amount)}, paid {thb(g.paid)}, "
                  f"pending demand {thb(g.pending)})",
                  f"  beneficiary:       {g.beneficiary} (requirement {g.requirement})",
                  f"  applicant:         {g.applicant}",
                  f"  issuing bank:      {g.bank} (ref {g.ref})",
                  f"  expiry:            {fmt_time(g.expiry)}"]
    lines.append(f"  signed by {len(v.signers)} validators with {v.signed_power} of {v.total_power} voting power "
                 "(more than 2/3 required); [operating bank as recorded on the ledger]:")
    lines += [f"    {_signer_label(s)}  {s.address.hex().upper()}  power {s.power}" for s in v.signers]
    if v.newer is not None:
        n = v.newer
        if not n.changed:
            lines.append(f"  A newer certificate (height {n.height}) shows the same record.")
        elif not n.exists:
            lines.append(f"  NEWER STATE: at height {n.height} the guarantee no longer exists.")
        else:
            lines.append(f"  NEWER STATE: at height {n.height} ({fmt_time(n.time_ms)}) the status is {n.status}, "
                         f"amount available {thb(n.available)}.")
    else:
        since = "changed" if g is not None else "was issued"
        lines.append(f"  This proves the state at height {v.height}; it cannot tell whether the guarantee {since} "
                     "since (give --newer FILE to compare).")
    if v.newer_note:
        lines.append(f"  Note: {v.newer_note}")
    lines.append(f"  certificate hash: {v.certificate_hash.hex().upper()}")
    return "\n".join(lines)


def run_verify(file: Path, trust: Path, newer: Path | None, trusting_period: str | None, json_out: bool,
               html_out: Path | None, save_trust: Path | None) -> None:
    """Check a certificate offline: genuine (exit 0) or not genuine with the first reason (exit 1)."""
    with guard(json_out):
        anchor = load_trust(trust)
        period = parse_duration_days(trusting_period) * DAY_MS if trusting_period else None
        try:
            cert = _load_cert(file)
        except CertificateDamaged as exc:
            _report(CertificateVerdict(False, "damaged", f"the certificate file was damaged or altered: {exc}"),
                    json_out)
            raise typer.Exit(EXIT_NOT_GENUINE) from None
        except CertificateFormatError as exc:
            raise InputError(f"{file}: {exc}") from None
        newer_cert, newer_note = None, ""
        if newer is not None:
            try:
                newer_cert = _load_cert(newer)
            except CertificateDamaged as exc:
                newer_note = f"the newer certificate file was damaged or altered ({exc}); nothing is known about a " \
                             "newer state"
            except CertificateFormatError as exc:
                raise InputError(f"{newer}: {exc}") from None
        now = int(time.time() * 1000)
        verdict = verify_certificate(cert, anchor, now, trusting_period_ms=period, newer=newer_cert)
        if newer_note and verdict.genuine:
            verdict = dataclasses.replace(verdict, newer_note=newer_note)
        _report(verdict, json_out)
        if html_out is not None:
            _write(html_out, render_html(cert, verdict, f"{trust.name} (chain {anchor.chain_id})"))
        if save_trust is not None and verdict.genuine:
            fresh = anchor_from_verdict(verdict, cert, anchor)
            if fresh is not None:
                _write(save_trust, json.dumps(anchor_to_json(fresh), indent=2) + "\n")
        raise typer.Exit(EXIT_GENUINE if verdict.genuine else EXIT_NOT_GENUINE)


def _report(verdict: CertificateVerdict, json_out: bool) -> None:
    if json_out:
        typer.echo(json.dumps(verdict_to_json(verdict), indent=2, sort_keys=True))
    else:
        typer.echo(verdict_text(verdict))

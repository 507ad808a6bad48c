"""A one-page printable HTML view of a certificate, with a QR code of its id and hash (segno, pure Python).

Why HTML with inline SVG: it prints on one A4 page from any browser, needs no fonts or PDF toolchain, and
the file stays self-contained (no network fetches, so it opens on the same offline machine that verifies).
The QR code carries `egp-cert:<chain id>:<guarantee id>:<height>:<certificate hash>` so an officer can scan
the paper and check that the file in hand (`egp lg verify-certificate`) is the one printed. The page says
plainly whether the content was verified (and against which trust anchor) or is only what the file claims.
"""

from __future__ import annotations

import html

from state.calendar import fmt_time
from state.certificate import Certificate, CertificateVerdict, certificate_hash
from state.certificate_json import format_ms
from state.codec import DecodeError
from state.errors import thb
from state.records import Guarantee

_CSS = """
@page { size: A4; margin: 16mm; }
body { font-family: "Sarabun", "Noto Sans Thai", Arial, sans-serif; font-size: 11pt; color: #111; }
h1 { font-size: 16pt; margin: 0 0 4mm 0; }
.verdict { padding: 3mm; border: 2px solid; margin-bottom: 4mm; font-weight: bold; }
.genuine { border-color: #1a7f37; color: #1a7f37; }
.bad { border-color: #b42318; color: #b42318; }
.unverified { border-color: #9a6700; color: #9a6700; }
table { border-collapse: collapse; width: 100%; margin-bottom: 4mm; }
td, th { border: 1px solid #bbb; padding: 1.5mm 2mm; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
.kv th { width: 38%; }
.mono { font-family: "DejaVu Sans Mono", monospace; font-size: 9pt; word-break: break-all; }
.qr { float: right; margin-left: 4mm; text-align: center; font-size: 8pt; }
.foot { font-size: 9pt; color: #444; }
"""


def qr_payload(cert: Certificate) -> str:
    return f"egp-cert:{cert.chain_id}:{cert.guarantee_id}:{cert.height}:{certificate_hash(cert).hex().upper()}"


def qr_svg(cert: Certificate) -> str:
    """Inline SVG of the QR code; without segno installed, the payload as text (the page stays usable)."""
    try:
        import segno
    except ImportError:  # pragma: no cover - segno is a declared dependency
        return f"<div class='mono'>{html.escape(qr_payload(cert))}</div>"
    return str(segno.make(qr_payload(cert), error="m").svg_inline(scale=3, title="certificate id and hash"))


def _rows(rows: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)


def _guarantee_rows(g: Guarantee | None, gid: str) -> list[tuple[str, str]]:
    if g is None:
        return [("Guarantee", gid), ("Existence", "No guarantee with this id existed at this height")]
    return [
        ("Guarantee", g.id), ("Status", g.status), ("Type", g.type), ("Issuing bank", f"{g.bank} (ref {g.ref})"),
        ("Applicant (supplier tax ID)", g.applicant), ("Beneficiary (agency)", g.beneficiary),
        ("Requirement", g.requirement), ("Amount", thb(g.amount)), ("Paid", thb(g.paid)),
        ("Pending demand", thb(g.pending)), ("Amount available", thb(g.available)), ("Expiry", fmt_time(g.expiry)),
    ]


def render_html(cert: Certificate, verdict: CertificateVerdict | None = None, trust_label: str = "") -> str:
    """The printable page. Without a verdict the page says the content is unverified."""
    g: Guarantee | None = None
    if cert.value is not None:
        try:
            g = Guarantee.decode(cert.value)
        except DecodeError:
            g = None
    if verdict is None:
        banner = ("unverified", "NOT YET VERIFIED: check this file with `egp lg verify-certificate FILE --trust "
                                "genesis.json` on a machine you trust.")
    elif verdict.genuine:
        anchor = trust_label or "the trusted genesis"
        banner = ("genuine", f"GENUINE at height {verdict.height}, verified against {anchor}: signed by "
                             f"{verdict.signed_power} of {verdict.total_power} voting power.")
    else:
        banner = ("bad", f"NOT GENUINE: {verdict.reason}")
    rows = _guarantee_rows(g, cert.guarantee_id)
    rows += [("Chain", cert.chain_id), ("State as of block", str(cert.height)),
             ("Block time", f"{fmt_time(cert.state_header.time_ms)} ({format_ms(cert.state_header.time_ms)})"),
             (f"App hash (in header {cert.signed.header.height})", cert.signed.header.app_hash.hex().upper()),
             ("Certificate hash (SHA-256)", certificate_hash(cert).hex().upper())]
    signers = ""
    if verdict is not None and verdict.genuine:
        lines = "".join(f"<tr><td>{html.escape(s.name or '(not named by the trusted genesis)')}</td>"
                        f"<td>{html.escape(' '.join(x for x in (s.bank, s.bank_name) if x) or '-')}</td>"
                        f"<td class='mono'>{s.address.hex().upper()}</td><td>{s.power}</td></tr>"
                        for s in verdict.signers)
        signers = ("<h2>Signed by</h2><table><tr><th>Validator</th><th>Operating bank (ledger)</th>"
                   f"<th>Address</th><th>Power</th></tr>{lines}</table>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Guarantee certificate {html.escape(cert.guarantee_id)}</title><style>{_CSS}</style></head><body>"
        f"<div class='qr'>{qr_svg(cert)}<br>scan: id and hash</div>"
        "<h1>Electronic Letter of Guarantee: ledger certificate</h1>"
        f"<div class='verdict {banner[0]}'>{html.escape(banner[1])}</div>"
        f"<table class='kv'>{_rows(rows)}</table>{signers}"
        "<p class='foot'>This page shows the guarantee as recorded on the e-GP ledger at the block above. It proves "
        "that state only; later demands, amendments or releases are not shown unless a newer certificate is "
        "verified. The certificate file, not this printout, is the evidence.</p></body></html>"
    )

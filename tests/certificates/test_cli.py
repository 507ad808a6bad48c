"""`egp lg certificate` over the real RPC server, `egp lg verify-certificate` offline (a process whose sockets
are disabled), exit codes 0 / 1 / 2, JSON output, newer state, printable HTML, refreshed trust anchors."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.certificate_rpc import commit_from_json, header_from_json
from cli.main import app
from node.rpc import adapt, encode
from node.rpc.services import CommitSigView, CommitView
from state.certificate import Certificate
from state.certificate_json import certificate_to_json, load_certificate
from state.chain import BlockID, PartSetHeader
from state.records import Guarantee, lg_id_of
from tests.certificates.conftest import Scenario
from tests.certificates.harness import MiniChain, key
from tests.certificates.rpc_fixture import rpc_server

REPO = Path(__file__).resolve().parents[2]
NO_NETWORK = """
import socket
def _refuse(*a, **k):
    raise OSError("network access is disabled in this process")
class _NoSocket(socket.socket):
    def __init__(self, *a, **k):
        _refuse()
socket.socket = _NoSocket
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
import sys
from cli.main import app
app(args=sys.argv[1:], prog_name="egp")
"""


def egp_offline(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-c", NO_NETWORK, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def egp(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def write(tmp: Path, name: str, cert: Certificate) -> Path:
    p = tmp / name
    p.write_text(json.dumps(certificate_to_json(cert)))
    return p


@pytest.fixture()
def files(scenario: Scenario, tmp_path: Path) -> dict[str, Path]:
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(scenario.chain.genesis_doc()))
    return {"genesis": genesis, "old": write(tmp_path, "old.json", scenario.old),
            "new": write(tmp_path, "new.json", scenario.new), "absent": write(tmp_path, "absent.json", scenario.absent)}


runner = CliRunner()


# --------------------------------------------------------------------------- offline verification


def test_verify_offline_in_a_process_without_network(files: dict[str, Path], scenario: Scenario) -> None:
    r = egp_offline("lg", "verify-certificate", str(files["new"]), "--trust", str(files["genesis"]))
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert out.startswith(f"GENUINE: guarantee {scenario.lg_id}")
    for text in ("DEMANDED", "400,000.00 THB", "0301", "Krung Thai Bank node 1", "50 of 50 voting power",
                 "cannot tell whether the guarantee changed"):
        assert text in out, text
    # the same process refuses a tampered file with exit status 1
    tampered = files["new"].with_name("tampered.json")
    cert = load_certificate(files["new"].read_bytes())
    assert cert.value is not None
    g = Guarantee.decode(cert.value)
    tampered.write_text(json.dumps(certificate_to_json(replace(cert, value=replace(g, paid=0, demand=None,
                                                                                 status="ACTIVE").encode()))))
    r = egp_offline("lg", "verify-certificate", str(tampered), "--trust", str(files["genesis"]))
    assert r.returncode == 1 and r.stdout.startswith("NOT GENUINE") and "record_altered" in r.stdout


def test_verify_json_with_newer_certificate(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import cli.rpc_client

    def no_client(*a: object, **k: object) -> None:
        raise AssertionError("verification must not construct an RPC client")

    monkeypatch.setattr(cli.rpc_client.RpcClient, "__init__", no_client)
    r = runner.invoke(app, ["lg", "verify-certificate", str(files["old"]), "--trust", str(files["genesis"]),
                            "--newer", str(files["new"]), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["genuine"] and doc["guarantee"]["status"] == "ACTIVE"
    assert doc["guarantee"]["available"] == "500,000.00 THB"
    assert doc["newer_state"]["status"] == "DEMANDED" and doc["newer_state"]["changed"] is True
    assert doc["newer_state"]["available"] == "400,000.00 THB"
    assert len(doc["signers"]) == 4 and doc["signed_power"] == "40"


def test_verify_non_inclusion(files: dict[str, Path], scenario: Scenario) -> None:
    r = runner.invoke(app, ["lg", "verify-certificate", str(files["absent"]), "--trust", str(files["genesis"])])
    assert r.exit_code == 0, r.output
    assert "No guarantee with this id existed at this height." in r.stdout and scenario.absent_id in r.stdout


def test_damaged_record_is_not_genuine(files: dict[str, Path]) -> None:
    doc = json.loads(files["old"].read_text())
    raw = bytearray(base64.b64decode(doc["certificate"]))
    raw[len(raw) // 2] ^= 0x10
    doc["certificate"] = base64.b64encode(bytes(raw)).decode()
    files["old"].write_text(json.dumps(doc))
    r = runner.invoke(app, ["lg", "verify-certificate", str(files["old"]), "--trust", str(files["genesis"]),
                            "--json"])
    assert r.exit_code == 1
    assert json.loads(r.stdout)["genuine"] is False


@pytest.mark.parametrize("case", ["missing-file", "not-json", "bad-trust", "missing-trust", "trust-no-validators"])
def test_usage_and_io_errors_exit_2(files: dict[str, Path], tmp_path: Path, case: str) -> None:
    cert, trust = str(files["old"]), str(files["genesis"])
    args = ["lg", "verify-certificate", cert, "--trust", trust]
    if case == "missing-file":
        args[2] = str(tmp_path / "nope.json")
    elif case == "not-json":
        (tmp_path / "x.json").write_text("this is not json")
        args[2] = str(tmp_path / "x.json")
    elif case == "bad-trust":
        (tmp_path / "t.json").write_text("{")
        args[4] = str(tmp_path / "t.json")
    elif case == "missing-trust":
        args = args[:3]
    else:
        (tmp_path / "t.json").write_text(json.dumps({"chain_id": "egp-cert-test", "genesis_time":
                                                     "2025-01-01T00:00:00Z", "validators": []}))
        args[4] = str(tmp_path / "t.json")
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output


def test_html_view_with_qr_code(files: dict[str, Path], scenario: Scenario, tmp_path: Path) -> None:
    page = tmp_path / "cert.html"
    r = runner.invoke(app, ["lg", "verify-certificate", str(files["old"]), "--trust", str(files["genesis"]),
                            "--html", str(page)])
    assert r.exit_code == 0, r.output
    html = page.read_text()
    assert "GENUINE at height" in html and scenario.lg_id in html
    if importlib.util.find_spec("segno") is not None:  # a declared dependency (pyproject); the page degrades without
        assert "<svg" in html
    assert "500,000.00 THB" in html and "Krung Thai Bank node 1" in html
    from cli.certificate_html import qr_payload
    from state.certificate import certificate_hash

    assert qr_payload(scenario.old).endswith(certificate_hash(scenario.old).hex().upper())


def test_trust_period_and_refreshed_anchor(files: dict[str, Path], tmp_path: Path) -> None:
    """The genesis (2025-01-01) is older than 14 days: refused; a saved anchor from a certificate works."""
    args = ["lg", "verify-certificate", str(files["new"]), "--trust", str(files["genesis"])]
    r = runner.invoke(app, [*args, "--trusting-period", "14d"])
    assert r.exit_code == 1 and "trust period expired" in r.stdout
    saved = tmp_path / "anchor.json"
    r = runner.invoke(app, [*args, "--save-trust", str(saved)])
    assert r.exit_code == 0, r.output
    anchor = json.loads(saved.read_text())
    assert anchor["type"] == "egp/trusted-validator-set" and len(anchor["validators"]) == 5
    assert "bank 006 Krung Thai Bank" in {v["name"] for v in anchor["validators"]}  # the validator added later
    r = runner.invoke(app, ["lg", "verify-certificate", str(files["new"]), "--trust", str(saved)])
    assert r.exit_code == 0, r.output


# --------------------------------------------------------------------------- fetching over JSON-RPC


def test_rpc_json_round_trip_keeps_hashes(scenario: Scenario) -> None:
    """The RPC's own encoding of headers and commits converts back to the very records (same hashes)."""
    chain = scenario.chain
    for h in (1, scenario.new.height + 1):
        header = chain.header(h)
        assert header_from_json(encode.header(adapt.header(header))).hash() == header.hash()
        c = chain.commit(h)
        view = CommitView(h, c.round, adapt.block_id(BlockID(header.hash(), PartSetHeader(1, bytes(32)))),
                          tuple(CommitSigView(s.flag, s.validator_address, s.timestamp_ms * 1_000_000, s.signature)
                                for s in c.signatures))
        assert commit_from_json(encode.commit(view)) == c


def test_certificate_command_fetches_from_a_node(tmp_path: Path) -> None:
    chain = MiniChain(tmp_path / "db")
    chain.block()
    lg = chain.issue_guarantee()
    chain.change_validator(key(60), 5)
    chain.blocks(3)
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps(chain.genesis_doc()))
    out, page = tmp_path / "lg.cert.json", tmp_path / "lg.html"
    with rpc_server(chain) as server:
        server.produce_blocks(chain, 0.3)  # the next block carries the app hash of the proven state
        r = egp("lg", "certificate", lg, "--node", server.url, "--out", str(out), "--html", str(page))
        assert r.returncode == 0, r.stdout + r.stderr
        absent = lg_id_of("002", "NO-SUCH-REF")
        r2 = egp("lg", "certificate", absent, "--node", server.url, "--trust", str(genesis))
        assert r2.returncode == 0, r2.stdout + r2.stderr
    cert = load_certificate(out.read_bytes())
    assert cert.guarantee_id == lg and len(cert.changes) == 1
    assert "NOT YET VERIFIED" in page.read_text()
    v = runner.invoke(app, ["lg", "verify-certificate", str(out), "--trust", str(genesis)])
    assert v.exit_code == 0, v.output
    assert "ACTIVE" in v.stdout and "500,000.00 THB" in v.stdout and "45 of 45 voting power" in v.stdout
    assert v.stdout.count("[bank 006 Krung Thai Bank]") == 3 and v.stdout.count("[bank 002 Bangkok Bank]") == 2
    absent_file = tmp_path / "absent.json"
    absent_file.write_text(r2.stdout)
    v = runner.invoke(app, ["lg", "verify-certificate", str(absent_file), "--trust", str(genesis)])
    assert v.exit_code == 0 and "No guarantee with this id existed" in v.stdout


def test_certificate_command_reports_an_unreachable_node(tmp_path: Path) -> None:
    r = runner.invoke(app, ["lg", "certificate", "LG0001", "--node", "http://127.0.0.1:9", "--wait", "0"])
    assert r.exit_code == 4 and "cannot reach the node" in r.output


def test_a_damaged_newer_certificate_does_not_spoil_the_verdict(files: dict[str, Path]) -> None:
    doc = json.loads(files["new"].read_text())
    doc["hash"] = "00" * 32
    files["new"].write_text(json.dumps(doc))
    r = runner.invoke(app, ["lg", "verify-certificate", str(files["old"]), "--trust", str(files["genesis"]),
                            "--newer", str(files["new"])])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("GENUINE") and "newer certificate file was damaged" in r.stdout
    assert "NEWER STATE" not in r.stdout


@pytest.mark.parametrize("bad", ["LG/../x", "LG?prove=1", "  ", "LG" + "0" * 200])
def test_certificate_command_refuses_a_malformed_id(bad: str) -> None:
    r = runner.invoke(app, ["lg", "certificate", bad, "--node", "http://127.0.0.1:9"])
    assert r.exit_code == 2 and "Traceback" not in r.output

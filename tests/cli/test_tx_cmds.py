"""Transaction commands without a node: input errors, offline signing, decode, and the unreachable node.

Offline signing must produce exactly the bytes `state.txs.sign_tx` produces (Ed25519 is deterministic), so
a tx signed on an air-gapped machine is the tx the node decodes.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.errors import EXIT_INPUT, EXIT_KEY, EXIT_NODE
from cli.parse import parse_date
from state import txs
from state.crypto import PrivateKey, save_priv_validator_key, sha256
from state.records import lg_id_of
from tests.cli.conftest import Egp, assert_clean_failure, closed_port_url

OFFLINE = ("--offline", "--nonce", "7", "--chain-id", "egp-test")
TAX_ID = "0105550001232"
THAI_REASON = "หลักประกันไม่ตรงตามแบบที่กำหนด"  # "the security does not follow the prescribed form"


@pytest.fixture
def key_file(tmp_path: Path) -> tuple[PrivateKey, Path]:
    key = PrivateKey.from_seed(bytes(range(32)))
    path = tmp_path / "officer.json"
    save_priv_validator_key(path, key)
    return key, path


def _signed(egp: Egp, key_file: Path, *args: str, encoding: str = "base64") -> bytes:
    r = egp(*args, "--key-file", str(key_file), *OFFLINE, "--encoding", encoding)
    assert r.exit_code == 0, r.output
    text = r.stdout.strip()
    return base64.b64decode(text) if encoding == "base64" else bytes.fromhex(text)


CASES = [
    (("lg", "request", "--bank", "006", "--requirement", "CGD:R1", "--type", "perf", "--amount", "1,250,000.00",
      "--expiry", "2099-06-30"),
     txs.RequestGuarantee("006", "CGD:R1", "PERF", 125_000_000, parse_date("2099-06-30"))),
    (("lg", "issue", "--ref", "KTB-1", "--applicant", TAX_ID, "--requirement", "CGD:R1", "--type", "PERF",
      "--amount", "1250000", "--expiry", "2099-06-30", "--req-version", "2", "--doc-hash", "ab" * 32),
     txs.IssueGuarantee("KTB-1", "", "PERF", TAX_ID, "CGD:R1", 2, 125_000_000, parse_date("2099-06-30"), True, True,
                        False, False, bytes.fromhex("ab" * 32), "")),
    (("lg", "acknowledge", "006:KTB-1"), txs.Acknowledge(lg_id_of("006", "KTB-1"))),
    (("lg", "demand", "LGABC", "--amount", "250,000.00", "--statement-hash", "cd" * 32),
     txs.Demand("LGABC", 25_000_000, bytes.fromhex("cd" * 32), 0)),
    (("lg", "honour", "LGABC"), txs.Honour("LGABC")),
    (("lg", "refuse", "LGABC", "--reason", THAI_REASON), txs.Refuse("LGABC", THAI_REASON)),
    (("lg", "release", "LGABC"), txs.Release("LGABC")),
    (("lg", "reject-demand", "LGABC", "--reason", "late", "--reason", "no statement"),
     txs.RejectDemand("LGABC", ("late", "no statement"))),
    (("lg", "amend", "LGABC", "--amount", "2.00", "--expiry", "2099-01-01"),
     txs.ProposeAmendment("LGABC", 200, parse_date("2099-01-01"), b"")),
    (("credit", "consume", "CCX", "--bind-to", "REG-1"), txs.ConsumeCredit("CCX", "REG-1")),
    (("credit", "request", "--bank", "006", "--purpose", "bid-qualification", "--addressee", "AG1",
      "--threshold", "2,500,000.00", "--project", "P-1"),
     txs.RequestCredit("006", "BID_QUALIFICATION", "AG1", "P-1", 250_000_000)),
    (("credit", "decline", "AB" * 16, "--reason", "no facility"), txs.DeclineCredit("ab" * 16, "no facility")),
    (("credit", "issue", "--ref", "C1", "--applicant", TAX_ID, "--purpose", "EGP_REGISTRATION", "--addressee",
      "CGD", "--amount", "5,000,000.00", "--threshold", "2,500,000.00", "--doc-hash", "ab" * 32),
     txs.IssueCredit("C1", TAX_ID, "EGP_REGISTRATION", "CGD", "", 500_000_000, 250_000_000, 0,
                     bytes.fromhex("ab" * 32))),
    (("rating", "record-event", "--supplier", TAX_ID, "--points", "10", "--reason", "late works"),
     txs.RecordPerformance(TAX_ID, 10, "late works", b"")),
    (("registry", "suspend-supplier", "--tax-id", TAX_ID), txs.SetSupplierStatus(TAX_ID, False)),
    (("validator", "approve", "3"), txs.ApproveValidator(3)),
]


@pytest.mark.parametrize("args,body", CASES, ids=[" ".join(c[0][:2]) for c in CASES])
def test_offline_signing_equals_state_txs(egp: Egp, key_file: tuple[PrivateKey, Path], args: tuple[str, ...],
                                          body: txs.Body) -> None:
    key, path = key_file
    assert _signed(egp, path, *args) == txs.sign_tx(key, "egp-test", 7, body)


def test_offline_hex_json_and_decode(egp: Egp, key_file: tuple[PrivateKey, Path]) -> None:
    key, path = key_file
    raw = _signed(egp, path, "lg", "honour", "LGABC", encoding="hex")
    assert txs.decode_tx(raw).body == txs.Honour("LGABC")
    r = egp("lg", "honour", "LGABC", "--key-file", str(path), *OFFLINE, "--json")
    doc = json.loads(r.stdout)
    assert doc["hash"] == sha256(base64.b64decode(doc["tx"])).hex().upper() and doc["nonce"] == 7
    shown = egp("tx", "decode", raw.hex(), "--json")
    view = json.loads(shown.stdout)
    assert view["type"] == "lg.honour" and view["signer"] == key.address.hex().upper() and view["nonce"] == 7


def test_offline_needs_nonce_and_chain(egp: Egp, key_file: tuple[PrivateKey, Path]) -> None:
    r = egp("lg", "honour", "LGABC", "--key-file", str(key_file[1]), "--offline")
    assert_clean_failure(r, EXIT_INPUT, "--offline needs --nonce")
    r = egp("lg", "issue", "--ref", "R", "--request", "abc", "--key-file", str(key_file[1]), *OFFLINE)
    assert_clean_failure(r, EXIT_INPUT, "--offline cannot look up")


@pytest.mark.parametrize("args,needle", [
    (("lg", "request", "--bank", "006", "--requirement", "C:R", "--type", "PERF", "--amount", "-5",
      "--expiry", "2099-01-01"), "is negative"),
    (("lg", "request", "--bank", "006", "--requirement", "C:R", "--type", "PERF", "--amount", "1.5.0",
      "--expiry", "2099-01-01"), "not a THB amount"),
    (("lg", "request", "--bank", "006", "--requirement", "C:R", "--type", "PERF", "--amount", "10.001",
      "--expiry", "2099-01-01"), "more than 2 decimals"),
    (("lg", "request", "--bank", "6", "--requirement", "C:R", "--type", "PERF", "--amount", "10",
      "--expiry", "2099-01-01"), "must be 3 digits"),
    (("lg", "request", "--bank", "006", "--requirement", "C:R", "--type", "LOAN", "--amount", "10",
      "--expiry", "2099-01-01"), "must be one of BID"),
    (("lg", "issue", "--ref", "R", "--applicant", TAX_ID, "--requirement", "C:R", "--type", "PERF",
      "--amount", "10", "--expiry", "2020-01-01"), "expiry 2020-01-01 is not after the issue date"),
    (("lg", "request", "--bank", "006", "--requirement", "C:R", "--type", "PERF", "--amount", "10",
      "--expiry", "2099-02-30"), "not a calendar date"),
    (("lg", "issue", "--ref", "R", "--applicant", "0105550001233", "--requirement", "C:R", "--type", "PERF",
      "--amount", "10", "--expiry", "2099-01-01"), "check digit is 3, but for 010555000123 it must be 2"),
    (("registry", "add-supplier", "--tax-id", "12345", "--name", "X"), "must have 13 digits"),
    (("lg", "demand", "LGX", "--amount", "10"), "demand statement is required"),
    (("lg", "amend", "LGX"), "changes --amount, --expiry or both"),
    (("rating", "record-event", "--supplier", TAX_ID, "--points", "7", "--reason", "r"), "not an official"),
    (("requirement", "publish", "--id", "R", "--type", "BID", "--min-amount", "1", "--cover-until", "2099-01-01"),
     "needs --bid-deadline"),
    (("credit", "issue", "--ref", "C", "--applicant", TAX_ID, "--purpose", "X", "--addressee", "CGD",
      "--amount", "1"), "purpose 'X' must be one of"),
    (("credit", "issue", "--ref", "C", "--applicant", TAX_ID, "--purpose", "EGP_REGISTRATION", "--addressee",
      "CGD", "--amount", "1", "--threshold", "2"), "threshold cannot exceed"),
    (("credit", "issue", "--ref", "C", "--purpose", "EGP_REGISTRATION", "--addressee", "CGD", "--amount", "1"),
     "missing --applicant (or give --request ID)"),
    (("credit", "request", "--bank", "006", "--purpose", "NOPE", "--addressee", "CGD", "--threshold", "1"),
     "purpose 'NOPE' must be one of"),
])
def test_input_errors_exit_2_with_a_sentence(egp: Egp, key_file: tuple[PrivateKey, Path], args: tuple[str, ...],
                                             needle: str) -> None:
    assert_clean_failure(egp(*args, "--key-file", str(key_file[1])), EXIT_INPUT, needle)


def test_who_signs(egp: Egp, key_file: tuple[PrivateKey, Path]) -> None:
    assert_clean_failure(egp("lg", "honour", "LGX"), EXIT_INPUT, "who signs?")
    assert_clean_failure(egp("lg", "honour", "LGX", "--from", "a", "--key-file", str(key_file[1])), EXIT_INPUT,
                         "not both")
    assert_clean_failure(egp("lg", "honour", "LGX", "--from", "ghost"), EXIT_KEY, "no key named 'ghost'")


def test_wrong_password_when_signing(egp: Egp) -> None:
    assert egp("keys", "add", "bank", "--kdf", "interactive").exit_code == 0
    r = egp("lg", "honour", "LGX", "--from", "bank", *OFFLINE, EGP_PASSWORD="guess")
    assert_clean_failure(r, EXIT_KEY, "wrong password for key 'bank'")
    assert egp("lg", "honour", "LGX", "--from", "bank", *OFFLINE).exit_code == 0


def test_node_unreachable(egp: Egp, key_file: tuple[PrivateKey, Path]) -> None:
    url = closed_port_url()
    for args in (("status",), ("block", "3"), ("validators",), ("lg", "show", "LGX"),
                 ("lg", "honour", "LGX", "--key-file", str(key_file[1])), ("bank", "exposure", "006")):
        r = egp(*args, "--node", url)
        assert_clean_failure(r, EXIT_NODE, f"cannot reach the node at {url}", "connection refused")
    r = egp("status", "--json", EGP_NODE=url)
    assert json.loads(r.stdout)["error"]["kind"] == "node"


def test_broadcast_refuses_garbage(egp: Egp) -> None:
    assert_clean_failure(egp("tx", "broadcast", "zz!"), EXIT_INPUT, "neither hex nor base64")
    assert_clean_failure(egp("tx", "broadcast", "00ff"), EXIT_INPUT, "not a signed egp transaction")


EGP = Path(sys.executable).with_name("egp")


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EGP), *args], capture_output=True, text=True, env=env, timeout=60)


def test_real_process_errors(tmp_path: Path) -> None:
    """The installed command, as a person runs it: the sentence on stderr, the exit code, no traceback."""
    env = {"PATH": "/usr/bin:/bin", "EGP_HOME": str(tmp_path), "HOME": str(tmp_path)}
    url = closed_port_url()
    r = _run("status", "--node", url, env=env)
    assert r.returncode == EXIT_NODE and "cannot reach the node" in r.stderr and "Traceback" not in r.stderr
    r = _run("registry", "add-supplier", "--tax-id", "0105550001233", "--name", "X", "--key-file", "k", env=env)
    assert r.returncode == EXIT_INPUT and "check digit" in r.stderr and "Traceback" not in r.stderr
    r = _run("lg", "request", "--bank", "006", "--requirement", "C:R", "--type", "PERF", "--amount", "-1",
             "--expiry", "2099-01-01", "--key-file", "k", env=env)
    assert r.returncode == EXIT_INPUT and "negative" in r.stderr and "Traceback" not in r.stderr


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=st.integers(min_value=1, max_value=10**14), days=st.integers(min_value=1, max_value=20_000),
       nonce=st.integers(min_value=0, max_value=2**40))
def test_any_amount_and_date_sign_as_state_txs_would(egp: Egp, key_file: tuple[PrivateKey, Path], amount: int,
                                                     days: int, nonce: int) -> None:
    from cli.parse import fmt_date, fmt_thb, now_ms

    key, path = key_file
    expiry = fmt_date(now_ms() + days * 86_400_000)
    r = egp("lg", "request", "--bank", "006", "--requirement", "CGD:R-1", "--type", "BID", "--amount",
            fmt_thb(amount), "--expiry", expiry, "--key-file", str(path), "--offline", "--nonce", str(nonce),
            "--chain-id", "egp-test")
    assert r.exit_code == 0, r.output
    body = txs.RequestGuarantee("006", "CGD:R-1", "BID", amount, parse_date(expiry))
    assert base64.b64decode(r.stdout.strip()) == txs.sign_tx(key, "egp-test", nonce, body)

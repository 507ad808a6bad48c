"""The README walkthrough, run for real: a node process, the demo accounts, and the `egp` command (subprocesses).

One guarantee's whole life (requirement → request → issue → acknowledge → partial demand → honour →
release) and one credit confirmation (request → issue → check → consume, all on the ledger), each step through the
installed `egp` with `--wait`; every printed outcome is checked, then the final state is read over RPC
with a plain JSON-RPC call (not the wallet's own client), and a refusal by the chain must come back as a
sentence with its code and exit status 5.

The network is the devnet's (`tests/e2e/cluster.py` over `devnet.network.build_network`: four bank validators,
the registrar's node, genesis with the demo accounts and their key files) on free ports, with blocks every
200 ms to keep the test short.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.parse import fmt_date, now_ms
from state.records import cc_id_of, lg_id_of

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

EGP = Path(sys.executable).with_name("egp")
DAY = 86_400_000


def _rpc(url: str, method: str, **params: Any) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        doc = json.loads(resp.read())
    assert "error" not in doc, doc
    return doc["result"]


def _query(url: str, path: str) -> Any:
    resp = _rpc(url, "abci_query", path=path, data="")["response"]
    assert int(resp.get("code", 0)) == 0, resp
    return json.loads(base64.b64decode(resp["value"]))["result"]


class Net:
    def __init__(self, root: Path, url: str, accounts: Path, log: Path) -> None:
        self.root, self.url, self.accounts, self.log = root, url, accounts, log

    def log_tail(self) -> str:
        """The end of the wallet's node's log, so a failure says what the node was doing."""
        try:
            return "\n--- node log (tail) ---\n" + self.log.read_text(errors="replace")[-4000:]
        except OSError as e:
            return f"\n(no node log: {e})"

    def egp(self, *args: str, expect: int = 0) -> str:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root), "EGP_NODE": self.url,
               "EGP_HOME": str(self.root / "wallet"), "COLUMNS": "200"}
        r = subprocess.run([str(EGP), *args], capture_output=True, text=True, env=env, timeout=90)
        said = f"{r.stdout}\n{r.stderr}"
        assert r.returncode == expect, f"egp {' '.join(args)} -> {r.returncode}\n{said}{self.log_tail()}"
        assert "Traceback" not in r.stdout + r.stderr
        return r.stdout + r.stderr

    def key(self, name: str) -> str:
        return str(self.accounts / f"{name}.json")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    """The devnet's shape (four bank validators and the registrar's non-validating node) from the runtime
    helper's harness; the wallet talks to the registrar's node, as an agency's back office would."""
    from tests.e2e.cluster import Cluster

    root = tmp_path_factory.mktemp("walk")
    cluster = Cluster(root / "net", "wallet-walkthrough", validators=4, non_validators=1, commit_ms=200)
    try:
        cluster.start_all()
        registrar_node = len(cluster.net.nodes) - 1
        cluster.wait_height(registrar_node, 2, timeout=120)
        yield Net(root, cluster.url(registrar_node), cluster.net.root / "accounts",
                  cluster.logs / f"node{registrar_node}.log")
    finally:
        cluster.stop_all()


def _field(out: str, pattern: str) -> str:
    m = re.search(pattern, out)
    assert m, f"{pattern!r} not in:\n{out}"
    return m.group(1)


def test_one_guarantee_and_one_credit_confirmation(net: Net, tmp_path: Path) -> None:
    today = now_ms()
    cover, expiry = fmt_date(today + 365 * DAY), fmt_date(today + 425 * DAY)
    supplier = json.loads((net.accounts / "supplier1.json").read_text())
    tax_id = _query(net.url, f"/account/{supplier['address'].lower()}")["owner_id"]
    hashes: list[str] = []

    def step(*args: str) -> str:
        out = net.egp(*args, "--wait")
        hashes.append(_field(out, r"· tx ([0-9A-F]{64})"))
        return out

    # 1. the agency publishes what it needs
    out = step("requirement", "publish", "--id", "R-2026-101", "--type", "PERF", "--min-amount", "1,000,000.00",
               "--cover-until", cover, "--project", "P-66010101", "--key-file", net.key("cgd"))
    assert "requirement CGD:R-2026-101: version 1 published (PERF)" in out
    # 2. the supplier asks its bank
    out = step("lg", "request", "--bank", "006", "--requirement", "CGD:R-2026-101", "--type", "PERF",
               "--amount", "1,250,000.00", "--expiry", expiry, "--key-file", net.key("supplier1"))
    request_id = _field(out, r"guarantee request ([0-9a-f]{32}): REQUESTED \(bank 006\)")
    # 3. the bank issues against the request (terms taken from it)
    out = step("lg", "issue", "--ref", "KTB-PERF-0101", "--request", request_id, "--key-file", net.key("ktb"))
    lg = lg_id_of("006", "KTB-PERF-0101")
    assert f"guarantee {lg}: ISSUED (after issue, version 1)" in out
    # 4. the agency acknowledges it
    out = step("lg", "acknowledge", "006:KTB-PERF-0101", "--key-file", net.key("cgd"))
    assert f"guarantee {lg}: ACTIVE (after acknowledge, version 2)" in out
    # 5. a partial demand with its statement
    statement = tmp_path / "demand-statement.pdf"
    statement.write_bytes(b"%PDF demand of 250,000.00 THB: late delivery of lot 1")
    out = step("lg", "demand", lg, "--amount", "250,000.00", "--statement", str(statement),
               "--key-file", net.key("cgd"))
    assert f"guarantee {lg}: DEMANDED (after demand, version 3)" in out
    # 6. the bank pays
    out = step("lg", "honour", lg, "--key-file", net.key("ktb"))
    assert f"guarantee {lg}: ACTIVE (after honour, version 4)" in out
    shown = net.egp("lg", "show", lg)
    assert re.search(r"paid:\s+250,000.00 THB", shown) and re.search(r"available:\s+1,000,000.00 THB", shown)
    # 7. the agency releases it
    out = step("lg", "release", lg, "--key-file", net.key("cgd"))
    assert f"guarantee {lg}: RELEASED (after release, version 5)" in out
    history = net.egp("lg", "history", lg)
    assert "hash chain: intact" in history and history.count("ICT") >= 5

    # a refusal by the chain: no demand on a released guarantee
    refused = net.egp("lg", "demand", lg, "--amount", "1.00", "--statement", str(statement),
                      "--key-file", net.key("cgd"), "--wait", expect=5)
    assert f"Error: refused by the chain (code 403): guarantee {lg} is RELEASED, which is final" in refused

    # the credit confirmation: request (supplier, on the ledger) -> issue against it -> check -> consume
    out = step("credit", "request", "--bank", "006", "--purpose", "EGP_REGISTRATION", "--addressee", "CGD",
               "--threshold", "2,500,000.00", "--key-file", net.key("supplier1"))
    credit_rq = _field(out, r"credit request ([0-9a-f]{32}): REQUESTED \(bank 006\)")
    out = step("credit", "issue", "--ref", "KTB-CC-0101", "--request", credit_rq, "--amount", "5,000,000.00",
               "--key-file", net.key("ktb"))
    cc = cc_id_of("006", "KTB-CC-0101")
    assert f"credit confirmation {cc}: ISSUED (after issue)" in out
    assert f"credit request {credit_rq}: ISSUED (bank 006)" in out
    assert f"YES: {cc}" in net.egp("credit", "check", tax_id, "--threshold", "2,000,000.00")
    out = step("credit", "consume", "006:KTB-CC-0101", "--bind-to", f"EGP-REG-{tax_id}", "--key-file",
               net.key("cgd"))
    assert f"credit confirmation {cc}: CONSUMED (after consume)" in out

    # the final state, read over RPC without the wallet
    g = _query(net.url, f"/lg/{lg}")
    assert (g["status"], g["amount"], g["paid"], g["available"], g["version"]) == (
        "RELEASED", 125_000_000, 25_000_000, 100_000_000, 5)
    assert g["applicant"] == tax_id and g["beneficiary"] == "CGD" and g["bank"] == "006"
    c = _query(net.url, f"/cc/{cc}")
    assert (c["status"], c["bound_to"], c["threshold"]) == ("CONSUMED", f"EGP-REG-{tax_id}", 250_000_000)
    assert "amount" not in c  # never disclosed
    assert _query(net.url, f"/cc-request/{credit_rq}")["cc_id"] == cc
    for h in hashes:
        res = _rpc(net.url, "tx", hash=base64.b64encode(bytes.fromhex(h)).decode())
        assert int(res["tx_result"].get("code", 0)) == 0 and int(res["height"]) > 0

    # two transactions of one key without waiting: the second must not reuse the first's sequence number
    tax2 = _query(net.url, f"/account/{json.loads((net.accounts / 'supplier2.json').read_text())['address'].lower()}")
    first = net.egp("rating", "record-event", "--supplier", tax2["owner_id"], "--points", "5", "--reason",
                    "late works, lot 1", "--key-file", net.key("registrar"))
    assert "Accepted rt.record into the mempool" in first
    out = step("rating", "record-event", "--supplier", tax2["owner_id"], "--points", "10", "--reason",
               "late works, lot 2", "--key-file", net.key("registrar"))
    assert "rating event" in out and "10 points" in out
    first_hash = _field(first, r"· tx ([0-9A-F]{64})")
    assert int(net.egp("tx", "show", first_hash, "--json").count('"height"')) >= 1
    rating = json.loads(net.egp("supplier", "rating", tax2["owner_id"], "--json"))
    assert rating["official"]["points"] == 15
    missing = net.egp("tx", "show", "AB" * 32, expect=2)
    assert "is not in any block" in missing

    # reading commands for scripts
    listed = json.loads(net.egp("lg", "list", "--supplier", tax_id, "--json"))
    assert [x["id"] for x in listed["items"]] == [lg]
    shown_tx = json.loads(net.egp("tx", "show", hashes[2], "--json"))
    assert shown_tx["decoded"]["type"] == "lg.issue" and shown_tx["decoded"]["body"]["request_id"] == request_id
    assert json.loads(net.egp("status", "--json"))["node_info"]["network"] == "egp-devnet"
    assert "BANK 006: Krung Thai Bank" in net.egp("registry", "show", "bank", "006")
    assert "Requirement CGD:R-2026-101 (version 1)" in net.egp("requirement", "show", "CGD:R-2026-101")
    lodged = json.loads(net.egp("requirement", "securities", "CGD:R-2026-101", "--json"))
    assert [x["id"] for x in lodged["items"]] == [lg]
    st = json.loads(net.egp("lg", "stats", "--bank", "006", "--json"))
    assert st["by_type"]["PERF"]["paid"] >= 25_000_000


def test_refusals_through_the_cli_runner(net: Net) -> None:
    """The same refusals in-process (typer's CliRunner): exit 5, code and sentence, JSON for scripts."""
    from typer.testing import CliRunner

    from cli.main import app

    env = {"EGP_NODE": net.url, "EGP_HOME": str(net.root / "wallet"), "EGP_PASSWORD": None, "EGP_FROM": None}

    def run(*args: str) -> Any:
        r = CliRunner().invoke(app, list(args), env=env)
        assert "Traceback" not in r.output and (r.exception is None or isinstance(r.exception, SystemExit))
        return r

    ghost = lg_id_of("006", "NO-SUCH-REF")
    r = run("lg", "release", ghost, "--key-file", net.key("cgd"), "--wait")
    assert r.exit_code == 5 and f"refused by the chain (code 401): guarantee {ghost} does not exist" in r.stderr
    r = run("lg", "release", ghost, "--key-file", net.key("cgd"), "--wait", "--json")
    err = json.loads(r.stdout)["error"]
    assert (err["kind"], err["code"], err["codespace"]) == ("rejected", 401, "egp")
    # a bank may not act as the beneficiary
    r = run("lg", "release", ghost, "--key-file", net.key("ktb"), "--wait")
    assert r.exit_code == 5 and "refused by the chain (code" in r.stderr
    # a sequence number far ahead is refused at CheckTx
    r = run("lg", "release", ghost, "--key-file", net.key("cgd"), "--nonce", "999", "--wait", "--timeout", "8")
    assert r.exit_code == 5 and "refused by the chain (code 108)" in r.stderr and "sequence number is 999" in r.stderr

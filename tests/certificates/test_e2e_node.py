"""A real node process: issue a guarantee with `egp`, fetch its certificate with `egp lg certificate`, take a
partial demand, fetch again, then verify both offline against the node's genesis.json (the old one stays
genuine at its height and reports the newer state only when given the newer certificate).

Under load (CI on a busy 2-core machine) nothing here may rest on timing: the node's ports come from the
reserved test range (tests/ports.py: below the ephemeral ports, locked across xdist workers; two ports of the
ephemeral range picked by bind(0) and released could be taken by another test's node or any outgoing
connection before our node bound them), the node is ready when *its* status (its node id) shows block 1,
a node that exits or never gets there fails the test with its log tail (a skip would let CI pass having tested
nothing), and every wait for a block has a generous deadline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.parse import fmt_date, now_ms
from state.records import lg_id_of
from tests.ports import reserve_span

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

EGP = Path(sys.executable).with_name("egp")
DAY = 86_400_000
START_S = 180.0  # for the node's first block: a Python start under load 10+ on 2 cores takes seconds, not minutes
WAIT = ("--wait", "--timeout", "120")  # a committed tx is seen within a few blocks; 120 s only bounds a hang


def _status(url: str) -> tuple[str, int]:
    """(node id, latest height) of whatever answers `url`."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "status", "params": {}}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
    res = doc["result"]
    return str(res["node_info"]["id"]), int(res["sync_info"]["latest_block_height"])


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"(no log: {exc})"


class Node:
    def __init__(self, root: Path, url: str, accounts: Path, genesis: Path, log: Path) -> None:
        self.root, self.url, self.accounts, self.genesis, self.log = root, url, accounts, genesis, log

    def egp(self, *args: str, expect: int = 0) -> str:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root), "EGP_NODE": self.url,
               "EGP_HOME": str(self.root / "wallet"), "COLUMNS": "200", "NO_COLOR": "1"}
        r = subprocess.run([str(EGP), *args], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == expect, (f"egp {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}\n"
                                        f"node log tail:\n{_tail(self.log)}")
        assert "Traceback" not in r.stdout + r.stderr
        return r.stdout + r.stderr

    def key(self, name: str) -> str:
        return str(self.accounts / f"{name}.json")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    from devnet.network import build_network

    root = tmp_path_factory.mktemp("certnode")
    base = reserve_span("certificates-e2e-node", 2)
    network = build_network(root / "net", validators=1, non_validators=0, p2p_base=base, rpc_base=base + 1,
                            seed="certificates")
    spec = network.nodes[0]
    home = spec.home
    log_path = root / "node.log"
    log = log_path.open("wb")
    proc = subprocess.Popen([str(EGP), "start", "--home", str(home)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = spec.rpc_url
    try:
        deadline = time.monotonic() + START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the node exited (status {proc.returncode}) before block 1:\n{_tail(log_path)}")
            try:
                got, height = _status(url)
            except (OSError, KeyError, ValueError):
                got, height = spec.node_id, 0
            if got != spec.node_id:
                pytest.fail(f"{url} is answered by another node ({got}), not ours ({spec.node_id}): its port was "
                            f"taken before our node bound it\n{_tail(log_path)}")
            if height >= 1:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"the node did not commit block 1 within {START_S:g} s:\n{_tail(log_path)}")
            time.sleep(0.3)
        yield Node(root, url, root / "net" / "accounts", home / "config" / "genesis.json", log_path)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def test_certificates_from_a_running_node(node: Node, tmp_path: Path) -> None:
    today = now_ms()
    cover, expiry = fmt_date(today + 365 * DAY), fmt_date(today + 425 * DAY)
    node.egp("requirement", "publish", "--id", "R-CERT-1", "--type", "PERF", "--min-amount", "1,000,000.00",
             "--cover-until", cover, "--project", "P-CERT", "--key-file", node.key("cgd"), *WAIT)
    out = node.egp("lg", "request", "--bank", "006", "--requirement", "CGD:R-CERT-1", "--type", "PERF",
                   "--amount", "1,250,000.00", "--expiry", expiry, "--key-file", node.key("supplier1"), *WAIT)
    m = re.search(r"guarantee request ([0-9a-f]{32})", out)
    assert m, out
    node.egp("lg", "issue", "--ref", "KTB-CERT-1", "--request", m.group(1), "--key-file", node.key("ktb"), *WAIT)
    lg = lg_id_of("006", "KTB-CERT-1")
    node.egp("lg", "acknowledge", lg, "--key-file", node.key("cgd"), *WAIT)

    old, page = tmp_path / "old.json", tmp_path / "old.html"
    node.egp("lg", "certificate", lg, "--out", str(old), "--html", str(page), "--wait", "120")
    assert lg in page.read_text() and ("<svg" in page.read_text() or importlib.util.find_spec("segno") is None)

    statement = tmp_path / "statement.pdf"
    statement.write_bytes(b"%PDF demand of 250,000.00 THB")
    node.egp("lg", "demand", lg, "--amount", "250,000.00", "--statement", str(statement),
             "--key-file", node.key("cgd"), *WAIT)
    new = tmp_path / "new.json"
    node.egp("lg", "certificate", lg, "--out", str(new), "--trust", str(node.genesis), "--wait", "120")

    trust = ["--trust", str(node.genesis)]
    out = node.egp("lg", "verify-certificate", str(old), *trust)
    assert out.startswith(f"GENUINE: guarantee {lg}") and "ACTIVE" in out and "1,250,000.00 THB" in out
    assert "cannot tell whether the guarantee changed" in out
    doc = json.loads(node.egp("lg", "verify-certificate", str(old), *trust, "--newer", str(new), "--json"))
    assert doc["genuine"] and doc["guarantee"]["status"] == "ACTIVE"
    assert doc["newer_state"]["status"] == "DEMANDED" and doc["newer_state"]["available"] == "1,000,000.00 THB"
    assert doc["signers"] and doc["signed_power"] == doc["total_power"]
    assert all(s["bank"] == "006" and s["bank_name"] for s in doc["signers"]), doc["signers"]

    absent = tmp_path / "absent.json"
    node.egp("lg", "certificate", "006:NO-SUCH-REF", "--out", str(absent), "--wait", "120")
    assert "No guarantee with this id existed" in node.egp("lg", "verify-certificate", str(absent), *trust)

    env_doc = json.loads(old.read_text())
    env_doc["summary_unverified"]["status"] = "RELEASED"  # the summary is never trusted ...
    old.write_text(json.dumps(env_doc))
    assert "ACTIVE" in node.egp("lg", "verify-certificate", str(old), *trust)  # ... the record is

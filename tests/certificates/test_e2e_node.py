"""A real node process: issue a guarantee with `egp`, fetch its certificate with `egp lg certificate`, take a
partial demand, fetch again, then verify both offline against the node's genesis.json (the old one stays
genuine at its height and reports the newer state only when given the newer certificate)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
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

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

EGP = Path(sys.executable).with_name("egp")
DAY = 86_400_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _height(url: str) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "status", "params": {}}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
    return int(doc["result"]["sync_info"]["latest_block_height"])


class Node:
    def __init__(self, root: Path, url: str, accounts: Path, genesis: Path) -> None:
        self.root, self.url, self.accounts, self.genesis = root, url, accounts, genesis

    def egp(self, *args: str, expect: int = 0) -> str:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root), "EGP_NODE": self.url,
               "EGP_HOME": str(self.root / "wallet"), "COLUMNS": "200", "NO_COLOR": "1"}
        r = subprocess.run([str(EGP), *args], capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == expect, f"egp {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
        assert "Traceback" not in r.stdout + r.stderr
        return r.stdout + r.stderr

    def key(self, name: str) -> str:
        return str(self.accounts / f"{name}.json")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    from devnet.network import build_network

    root = tmp_path_factory.mktemp("certnode")
    network = build_network(root / "net", validators=1, non_validators=0, p2p_base=_free_port(),
                            rpc_base=_free_port(), seed="certificates")
    home = network.nodes[0].home
    log = (root / "node.log").open("wb")
    proc = subprocess.Popen([str(EGP), "start", "--home", str(home)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = network.nodes[0].rpc_url
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.skip(f"the node cannot start (exit {proc.returncode}); see {root / 'node.log'}")
            try:
                if _height(url) >= 1:
                    break
            except (OSError, KeyError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.skip("the node did not produce a block within 60 s")
            time.sleep(0.3)
        yield Node(root, url, root / "net" / "accounts", home / "config" / "genesis.json")
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
             "--cover-until", cover, "--project", "P-CERT", "--key-file", node.key("cgd"), "--wait")
    out = node.egp("lg", "request", "--bank", "006", "--requirement", "CGD:R-CERT-1", "--type", "PERF",
                   "--amount", "1,250,000.00", "--expiry", expiry, "--key-file", node.key("supplier1"), "--wait")
    m = re.search(r"guarantee request ([0-9a-f]{32})", out)
    assert m, out
    node.egp("lg", "issue", "--ref", "KTB-CERT-1", "--request", m.group(1), "--key-file", node.key("ktb"), "--wait")
    lg = lg_id_of("006", "KTB-CERT-1")
    node.egp("lg", "acknowledge", lg, "--key-file", node.key("cgd"), "--wait")

    old, page = tmp_path / "old.json", tmp_path / "old.html"
    node.egp("lg", "certificate", lg, "--out", str(old), "--html", str(page))
    assert lg in page.read_text() and ("<svg" in page.read_text() or importlib.util.find_spec("segno") is None)

    statement = tmp_path / "statement.pdf"
    statement.write_bytes(b"%PDF demand of 250,000.00 THB")
    node.egp("lg", "demand", lg, "--amount", "250,000.00", "--statement", str(statement),
             "--key-file", node.key("cgd"), "--wait")
    new = tmp_path / "new.json"
    node.egp("lg", "certificate", lg, "--out", str(new), "--trust", str(node.genesis))

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
    node.egp("lg", "certificate", "006:NO-SUCH-REF", "--out", str(absent))
    assert "No guarantee with this id existed" in node.egp("lg", "verify-certificate", str(absent), *trust)

    env_doc = json.loads(old.read_text())
    env_doc["summary_unverified"]["status"] = "RELEASED"  # the summary is never trusted ...
    old.write_text(json.dumps(env_doc))
    assert "ACTIVE" in node.egp("lg", "verify-certificate", str(old), *trust)  # ... the record is

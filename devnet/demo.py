"""The demo lifecycle submitted when a fresh devnet comes up, so the first blocks carry real guarantees.

An agency (CGD) publishes a performance-security requirement; Krung Thai Bank issues an e-LG for supplier 1
against it; the agency acknowledges it; Bangkok Bank issues a bid guarantee for supplier 2 for a second
requirement. Every tx is signed with the demo account keys written by `devnet.network` (nonces start at 0,
so the demo runs only on a fresh network).

Each batch is sent once the previous one is in a block, as the node's `tx` query shows (by hash, with a
deadline), not after a fixed number of blocks: on a loaded machine a tx may miss the next block or two, and a
batch sent too early is rejected (the e-LG's requirement is not on the ledger yet).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from devnet.network import Network
from devnet.rpc import RpcError, broadcast, call
from devnet.wait import WaitTimeout, until
from state.crypto import sha256
from state.records import lg_id_of
from state.txs import Acknowledge, Body, IssueGuarantee, PublishRequirement, sign_tx

DAY = 86_400_000
COMMIT_TIMEOUT_S = 60.0  # per batch; a block a second when idle, so only a stuck network comes near it


class DemoError(Exception):
    """The demo could not go on (a batch not committed before the deadline); the message says which and why."""


def demo_txs(net: Network, now_ms: int | None = None) -> list[tuple[str, list[bytes]]]:
    """Batches of (label, txs); each batch depends on the previous one being committed."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    nonces: dict[str, int] = {}

    def sign(who: str, body: Body) -> bytes:
        acct = net.account(who)
        n = nonces.get(who, 0)
        nonces[who] = n + 1
        return sign_tx(acct.key, net.chain_id, n, body)

    sup1, sup2 = net.account("supplier1").code, net.account("supplier2").code
    cover = now + 400 * DAY
    ktb, bbl = net.account("ktb").code, net.account("bbl").code
    lg1 = lg_id_of(ktb, "KTB-PERF-0001")
    batches = [
        ("publish two requirements (CGD)", [
            sign("cgd", PublishRequirement("R-2026-001", "P-66019999", "1", "PERF", 50_000_000, cover, 0,
                                           "CGD-LG-2566")),
            sign("cgd", PublishRequirement("R-2026-002", "P-66020001", "1", "PERF", 20_000_000, cover, 0,
                                           "CGD-LG-2566")),
        ]),
        ("issue e-LGs (KTB for supplier 1, BBL for supplier 2)", [
            sign("ktb", IssueGuarantee("KTB-PERF-0001", "", "PERF", sup1, "CGD:R-2026-001", 1, 100_000_000,
                                       cover + 30 * DAY, True, True, True, False, sha256(b"KTB-PERF-0001"), "")),
            sign("bbl", IssueGuarantee("BBL-PERF-0001", "", "PERF", sup2, "CGD:R-2026-002", 1, 40_000_000,
                                       cover + 30 * DAY, True, True, True, False, sha256(b"BBL-PERF-0001"), "")),
        ]),
        (f"acknowledge {lg1} (CGD)", [sign("cgd", Acknowledge(lg1))]),
    ]
    del bbl
    return batches


def run_demo(net: Network, url: str, say: Callable[[str], None], *, timeout: float = COMMIT_TIMEOUT_S) -> int:
    """Submit the batches one after the other, each once the previous one is committed; returns how many txs
    were accepted into the mempool. Raises DemoError when a batch's accepted txs are not all in a block within
    `timeout` seconds of its sending."""
    accepted = 0
    for label, txs in demo_txs(net):
        codes = []
        waiting = []
        for tx in txs:
            try:
                res = broadcast(url, tx)
                codes.append(int(res.get("code", 0)))
                if int(res.get("code", 0)) == 0:
                    accepted += 1
                    waiting.append(sha256(tx).hex().upper())
                else:
                    say(f"  rejected: {res.get('log', '')}")
            except Exception as exc:
                say(f"  broadcast failed: {exc}")
        say(f"demo: {label}: {len(txs)} tx(s), codes {codes}")
        for h, res in _wait_committed(url, waiting, timeout, label).items():
            result = res.get("tx_result") or {}
            if int(result.get("code", 0)) != 0:
                say(f"  tx {h[:12]}… failed in block {res.get('height')}: {result.get('log', '')}")
    return accepted


def _wait_committed(url: str, hashes: list[str], timeout: float, label: str) -> dict[str, dict[str, Any]]:
    """The node's `tx` answers for `hashes` once all are in blocks (a tx's index entry is written with its
    block, and the node answers `tx` only after that block's commit, when check_tx sees its effects)."""
    found: dict[str, dict[str, Any]] = {}
    last = [""]

    def all_in() -> bool:
        for h in hashes:
            if h in found:
                continue
            try:
                found[h] = call(url, "tx", {"hash": "0x" + h})
            except RpcError as exc:  # not in a block yet, or the node is busy or down: ask again
                last[0] = str(exc)
                return False
        return True

    try:
        until(all_in, timeout, f"demo: {label}: {len(hashes) - len(found)} tx(s) in a block",
              last=lambda: f"the node's last answer: {last[0]}")
    except WaitTimeout as exc:
        raise DemoError(str(exc)) from None
    return found

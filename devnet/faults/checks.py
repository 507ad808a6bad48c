"""The verdicts after a run, read from the nodes over JSON-RPC and from the validators' signer state files.

Safety: (1) every node has the same block hash and app hash at every height it has (`/blockchain`
headers, 20 per call); (2) every acknowledged tx is in the final chain exactly once (a scan of every block
of the highest node for duplicates and presence, plus `/tx` by hash for a sample); (3) no correct validator
signed conflicting messages: no committed evidence names it, and its signer state file is at or above the
last height its signature appears in a commit (a guard whose state is behind what the chain proves it signed
did not persist, and would sign again after a restart: the deliberately broken build). Evidence: when the
Byzantine validator double-voted, its evidence is in a block and `/validators` gives it power 0 (or drops it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from node.messages import EvidenceMsg, decode_message
from state.codec import DecodeError
from state.crypto import load_priv_validator_key, sha256


class Rpc:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.s = session

    async def call(self, url: str, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
        for attempt in range(3):
            try:
                async with self.s.post(url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                    doc = await r.json(content_type=None)
                if "error" in doc:
                    raise RuntimeError(f"{method}: {doc['error']}")
                return doc["result"]
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
                if attempt == 2:
                    raise
                await asyncio.sleep(0.5)
        raise AssertionError("unreachable")

    async def height(self, url: str, timeout: float = 2.0) -> int | None:
        try:
            res = await self.call(url, "status", timeout=timeout)
            return int(res["sync_info"]["latest_block_height"])
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError, KeyError, RuntimeError):
            return None


@dataclass
class Verdict:
    safety_ok: bool = True
    liveness_ok: bool = True
    violations: list[str] = field(default_factory=list)
    liveness_notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def violate(self, what: str) -> None:
        self.safety_ok = False
        self.violations.append(what)


async def headers(rpc: Rpc, url: str, top: int) -> dict[int, tuple[str, str]]:
    out: dict[int, tuple[str, str]] = {}
    hi = top
    while hi >= 1:
        res = await rpc.call(url, "blockchain", {"minHeight": str(max(1, hi - 19)), "maxHeight": str(hi)})
        metas = res.get("block_metas") or []
        if not metas:
            break
        for m in metas:
            out[int(m["header"]["height"])] = (m["block_id"]["hash"], m["header"]["app_hash"])
        hi = min(out) - 1
    return out


async def check_agreement(rpc: Rpc, urls: list[str], v: Verdict) -> int:
    """Same block and app hash at every height on every answering node; returns the highest node index."""
    tops = [await rpc.height(u, 5.0) for u in urls]
    v.facts["final_heights"] = tops
    live = [i for i, t in enumerate(tops) if t is not None]
    if not live:
        v.violate("no node answers RPC at the end of the run")
        return 0
    per: dict[int, dict[int, tuple[str, str]]] = {}
    for i in live:
        per[i] = await headers(rpc, urls[i], tops[i] or 0)
    mismatches = 0
    for h in range(1, max(tops[i] or 0 for i in live) + 1):
        seen = {i: per[i][h] for i in live if h in per[i]}
        if len(set(seen.values())) > 1:
            mismatches += 1
            if mismatches <= 5:
                v.violate(f"fork at height {h}: " + json.dumps({f"node{i}": s for i, s in seen.items()}))
    v.facts["heights_compared"] = max(tops[i] or 0 for i in live)
    v.facts["fork_heights"] = mismatches
    return max(live, key=lambda i: tops[i] or 0)


@dataclass
class ChainScan:
    tx_heights: dict[str, list[int]] = field(default_factory=dict)  # hash hex -> heights it appears at
    evidence: list[dict[str, Any]] = field(default_factory=list)
    last_signed: dict[str, int] = field(default_factory=dict)  # validator address hex -> last height in a commit
    txs: int = 0


async def scan_chain(rpc: Rpc, url: str, top: int) -> ChainScan:
    scan = ChainScan()
    sem = asyncio.Semaphore(8)

    async def one(h: int) -> dict[str, Any]:
        async with sem:
            return await rpc.call(url, "block", {"height": str(h)}, timeout=20.0)  # type: ignore[no-any-return]

    for lo in range(1, top + 1, 64):
        blocks = await asyncio.gather(*(one(h) for h in range(lo, min(top, lo + 63) + 1)))
        for b in blocks:
            blk = b["block"]
            h = int(blk["header"]["height"])
            for t in blk["data"].get("txs") or []:
                hx = sha256(base64.b64decode(t)).hex().upper()
                scan.tx_heights.setdefault(hx, []).append(h)
                scan.txs += 1
            for s in blk.get("last_commit", {}).get("signatures") or []:
                addr = s.get("validator_address")
                if addr:
                    scan.last_signed[addr] = max(scan.last_signed.get(addr, 0), h - 1)
            for e in blk.get("evidence", {}).get("evidence") or []:
                try:
                    msg = decode_message(base64.b64decode(e["value"]))
                except (DecodeError, ValueError, KeyError, TypeError):
                    scan.evidence.append({"height": h, "undecodable": True})
                    continue
                if isinstance(msg, EvidenceMsg):
                    a, b2 = msg.vote_a, msg.vote_b
                    scan.evidence.append({"height": h, "validator": a.validator.hex().upper(), "vote_height": a.height,
                                          "round": a.round, "type": a.type,
                                          "values": [x.hex() if x else None for x in (a.value_id, b2.value_id)]})
    try:
        c = await rpc.call(url, "commit", {"height": str(top)})
        for s in c["signed_header"]["commit"].get("signatures") or []:
            addr = s.get("validator_address")
            if addr:
                scan.last_signed[addr] = max(scan.last_signed.get(addr, 0), top)
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError, KeyError, RuntimeError):
        pass
    return scan


async def check_txs(rpc: Rpc, url: str, scan: ChainScan, acked: dict[str, dict[str, Any]],
                    submitted: dict[str, Any], v: Verdict, seed: int) -> None:
    dups = {h: hs for h, hs in scan.tx_heights.items() if len(hs) > 1}
    lost = [h for h in acked if h not in scan.tx_heights]
    twice = [h for h in acked if len(scan.tx_heights.get(h, [])) > 1]
    ours = sum(1 for h in submitted if h in scan.tx_heights)
    v.facts.update({"txs_in_chain": scan.txs, "submitted_found_in_chain": ours,
                    "acknowledged_found": len(acked) - len(lost), "acknowledged_lost": len(lost),
                    "duplicate_txs_in_chain": len(dups)})
    if dups:
        v.violate(f"{len(dups)} txs appear more than once in the chain, e.g. {next(iter(dups.items()))}")
    if lost:
        v.violate(f"{len(lost)} acknowledged txs are not in the final chain, e.g. {lost[:3]}")
    if twice:
        v.violate(f"{len(twice)} acknowledged txs are in the chain more than once")
    sample = random.Random(seed).sample(sorted(acked), min(100, len(acked)))
    bad = 0
    for h in sample:
        try:
            res = await rpc.call(url, "tx", {"hash": "0x" + h})
            if int(res["height"]) not in scan.tx_heights.get(h, []):
                bad += 1
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError, KeyError, RuntimeError):
            bad += 1
    v.facts["tx_by_hash_sample"] = len(sample)
    v.facts["tx_by_hash_mismatch"] = bad
    if bad:
        v.violate(f"{bad} of {len(sample)} acknowledged txs sampled are not found by /tx at their block")


def validator_addresses(homes: list[Path]) -> list[str]:
    return [load_priv_validator_key(h / "config" / "priv_validator_key.json").address.hex().upper() for h in homes]


def check_signers(homes: list[Path], addrs: list[str], byz: int | None, scan: ChainScan, v: Verdict) -> None:
    """No correct validator double-signed, and every correct guard persisted at least what the chain proves."""
    states: dict[str, Any] = {}
    for i, (home, addr) in enumerate(zip(homes, addrs, strict=True)):
        if i == byz:
            continue
        path = home / "data" / "priv_validator_state.json"
        try:
            st = json.loads(path.read_text())
            st_h = int(st["height"])
        except (OSError, ValueError, KeyError):
            v.violate(f"node{i}: signer state file {path} unreadable")
            continue
        signed = scan.last_signed.get(addr, 0)
        states[f"node{i}"] = {"state_height": st_h, "last_height_signed_in_chain": signed}
        if st_h < signed:
            v.violate(f"node{i}: conflicting-signature risk: its signer state says height {st_h} but its signature "
                      f"is in the commit of height {signed}: the guard did not persist what it signed")
        accused = [e for e in scan.evidence if e.get("validator") == addr]
        if accused:
            v.violate(f"node{i} (a correct validator) double-signed: evidence {accused[:2]}")
    v.facts["signer_states"] = states


async def check_byzantine(rpc: Rpc, url: str, byz_addr: str, scan: ChainScan, v: Verdict) -> None:
    ev = [e for e in scan.evidence if e.get("validator") == byz_addr]
    v.facts["byzantine_evidence"] = ev[:5]
    v.facts["byzantine_evidence_count"] = len(ev)
    if not ev:
        v.violate("the Byzantine validator double-voted but no evidence against it was committed")
    res = await rpc.call(url, "validators", {"per_page": "100"})
    power = {x["address"]: int(x["voting_power"]) for x in res.get("validators") or []}
    v.facts["byzantine_power_after"] = power.get(byz_addr, 0)
    v.facts["validator_powers_after"] = power
    if power.get(byz_addr, 0) != 0:
        v.violate(f"the Byzantine validator still has voting power {power[byz_addr]}")

"""A run's report: the JSON as produced, and a Markdown page an operator can read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write `<out>.json` and `<out>.md`; returns both paths."""
    out.parent.mkdir(parents=True, exist_ok=True)
    j, m = out.with_suffix(".json"), out.with_suffix(".md")
    j.write_text(json.dumps(report, indent=2, default=str) + "\n")
    m.write_text(markdown(report))
    return j, m


def markdown(r: dict[str, Any]) -> str:
    ok = "PASS" if r.get("passed") else "FAIL"
    load = r.get("load", {})
    facts = r.get("facts", {})
    live = r.get("liveness", {})
    stall = r.get("longest_stall", {})
    cov = r.get("coverage", {})
    missing = cov.get("missing", {})
    if missing:
        coverage = "**INCOMPLETE**: not injected: " + "; ".join(f"{k} ({why})" for k, why in missing.items())
    else:
        coverage = f"**every requested kind injected** ({', '.join(cov.get('injected', [])) or 'none requested'})"
    if cov.get("extended_s", 0) > 0:
        coverage += (f"; the harness fell behind its plan and ran {cov['extended_s']} s past the load's end to "
                     "give each kind its turn")
    lines = [
        f"# Fault run, seed {r.get('seed')}: {ok}", "",
        f"Replay: `{r.get('command')}`", "",
        f"{r.get('validators')} validators, {r.get('duration_s')} s at {r.get('rate')} tx/s, "
        f"{r.get('fault_count')} faults; Byzantine validator: "
        f"{'node' + str(r['byzantine_node']) if r.get('byzantine_node') is not None else 'none'}. {r.get('disk', '')}",
        "", "## Verdicts", "",
        f"- Safety: **{'OK' if r.get('safety', {}).get('ok') else 'VIOLATED'}**",
    ]
    lines += [f"  - {v}" for v in r.get("safety", {}).get("violations", [])]
    lines += [
        f"- Liveness after the last heal: **{'OK' if live.get('ok') else 'FAILED'}** (every node past height "
        f"{live.get('target_height')} within {live.get('bound_s')} s: {live.get('seconds_to_target')})",
        f"- Longest stall of the network: {stall.get('seconds')} s (t={stall.get('from_s')}..{stall.get('to_s')} s),"
        f" cause: {stall.get('cause')}",
        f"- Fault coverage: {coverage}",
        "", "## Transactions", "",
        "| submitted | accepted by check_tx | acknowledged | by broadcast_tx_commit | by Tx event | acknowledged found "
        "| acknowledged lost | duplicates in chain | txs in chain |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {load.get('submitted')} | {load.get('accepted_by_check_tx')} | {load.get('acknowledged')} | "
        f"{load.get('acked_by_broadcast_tx_commit')} | {load.get('acked_by_tx_event')} | "
        f"{facts.get('acknowledged_found')} | {facts.get('acknowledged_lost')} | {facts.get('duplicate_txs_in_chain')} "
        f"| {facts.get('txs_in_chain')} |",
        "", f"Sender: {load.get('rpc_errors')} RPC errors, {load.get('failovers')} fail-overs, "
        f"{load.get('nonce_resyncs')} sequence re-syncs, lag at most {load.get('sender_lag_max_s')} s. "
        f"/tx by hash on {facts.get('tx_by_hash_sample')} acknowledged txs: {facts.get('tx_by_hash_mismatch')} wrong.",
        "", "## Heights", "",
        f"Highest height seen per node: {r.get('heights')}; final: {facts.get('final_heights')}; "
        f"block and app hashes compared on every node up to {facts.get('heights_compared')} "
        f"({facts.get('fork_heights')} heights disagree).",
        "", "## Signers and evidence", "",
        f"Signer state vs. the last height each correct validator's signature is in a commit: "
        f"{facts.get('signer_states')}",
    ]
    if "byzantine_evidence_count" in facts:
        lines.append(f"Evidence against the Byzantine validator: {facts.get('byzantine_evidence_count')} item(s), "
                     f"e.g. {facts.get('byzantine_evidence', [])[:1]}; its power afterwards: "
                     f"{facts.get('byzantine_power_after')}.")
    lines += ["", "## Faults", "", "Times in seconds since the load started; recovery = from the heal until the node "
              "was back at the network's height (long runs wait for it, up to a bound, before the next fault).", "",
              "| # | kind | node | at | healed | recovery | detail | note |", "|---:|---|---:|---:|---:|---:|---|---|"]
    for k, f in enumerate(r.get("faults", []), 1):
        lines.append(f"| {k} | {f['kind']} | {f['node']} | {f.get('started')} | {f.get('healed')} | "
                     f"{f.get('recovered_s')} | {json.dumps(f['detail'])} | {f.get('note', '')} |")
    return "\n".join(lines) + "\n"

"""Turn a run's raw records into the figures: per-step throughput, latency, rejects, blocks, CPU and memory.

Why the windows look the way they do: the load is open-loop and continuous across the steps of a
staircase, so a step's committed rate is the commits *observed* inside the step's window (after a short
ramp), not "how many of this step's txs were committed eventually" (a saturated network commits them later,
which would flatter it). Latency is per transaction, attributed to the step in which it was sent.
Targets of issue 9 are printed next to the figures; nothing here asserts them.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from devnet.bench import procstat
from devnet.bench.loadgen import LoadSettings, Prepared, Records
from devnet.bench.memprobe import slope_mib
from node.genesis import parse_rfc3339_ns

DISTURBED_CORES = 0.2  # other processes using more than this during a step: repeat it (docs/performance.md)
TARGETS = {
    "sustained_tx_s": 2000,
    "p50_at_1000_s": 0.5,
    "p99_at_1000_s": 1.5,
    "p99_at_100_s": 1.0,
}


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q / 100 * (len(v) - 1))))]


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(x, nd)


def _cpu_between(samples: list[dict[str, Any]], lo: float, hi: float) -> dict[str, Any]:
    """Cores used per node, by this process and by everything else, between the samples nearest lo and hi."""
    inside = [s for s in samples if lo <= s["t"] <= hi]
    if len(inside) < 2:
        return {}
    a, b = inside[0], inside[-1]
    dt = b["t"] - a["t"]
    nodes: list[float | None] = []
    ours = 0.0
    for na, nb in zip(a["nodes"], b["nodes"], strict=True):
        if na is None or nb is None:
            nodes.append(None)
            continue
        c = (nb["cpu_s"] - na["cpu_s"]) / dt
        nodes.append(round(c, 3))
        ours += c
    own = (b["own_cpu_s"] - a["own_cpu_s"]) / dt if a["own_cpu_s"] is not None else None
    other = None
    if a["busy_s"] is not None and b["busy_s"] is not None:
        other = round(max(0.0, (b["busy_s"] - a["busy_s"]) / dt - ours - (own or 0.0)), 3)
    return {"node_cores": nodes, "loadgen_cores": _r(own), "other_cores": other,
            "machine_cores": _r((b["busy_s"] - a["busy_s"]) / dt) if a["busy_s"] is not None else None}


def _threads_between(samples: list[dict[str, Any]], pids: list[int], lo: float, hi: float) -> list[dict[str, Any]]:
    """Per node, its own CPU split by thread between the thread samples nearest lo and hi
    (`procstat.ThreadSampler`, `procstat.thread_roles`): cores and share of the node's CPU for each role, and
    the busiest threads. Children (none in a node today) are not in it: `node_cores` counts them."""
    inside = [s for s in samples if lo <= s["t"] <= hi]
    if len(inside) < 2:
        return []
    a, b = inside[0], inside[-1]
    dt = b["t"] - a["t"]
    out: list[dict[str, Any]] = []
    for pid, na, nb in zip(pids, a["nodes"], b["nodes"], strict=True):
        if na is None or nb is None or dt <= 0:
            out.append({})
            continue
        total = nb["cpu_s"] - na["cpu_s"]
        by_role, rows = procstat.thread_split(pid, na["tasks"], nb["tasks"], total)
        out.append({"cores": round(total / dt, 3),
                    "by_role_cores": {r: round(v / dt, 3) for r, v in by_role.items()},
                    "by_role_share": {r: round(v / total, 3) if total > 0 else None for r, v in by_role.items()},
                    "threads": [r | {"cores": round(r.pop("cpu_s") / dt, 3)} for r in rows[:12]]})
    return out


def _queries(rec: Records, lo: float, hi: float) -> dict[str, Any] | None:
    """Guarantee look-ups with proofs answered by the queried node inside the window."""
    if not rec.queries:
        return None
    done = [(a, b, ok) for a, b, ok in rec.queries if lo <= b < hi]
    lat = [b - a for a, b, ok in done if ok]
    return {"served_per_s": round(len(lat) / (hi - lo), 1), "failed": sum(1 for *_, ok in done if not ok),
            "latency_s_p50": _r(pct(lat, 50)), "latency_s_p99": _r(pct(lat, 99))}


def summarize(settings: LoadSettings, prep: Prepared, rec: Records, saturated_at: int | None,
              threads: list[dict[str, Any]] | None = None, pids: list[int] | None = None) -> dict[str, Any]:
    """`threads`: the run's thread samples (`procstat.ThreadSampler.relative`) of the nodes `pids`."""
    steps: list[dict[str, Any]] = []
    for k, rate in enumerate(settings.rates):
        if saturated_at is not None and k > saturated_at:
            break  # the staircase stopped: the few txs already due in the next step are not a step
        start = prep.step_starts[k]
        end = start + settings.step_s
        idx = [i for i in range(rec.n) if prep.step[i] == k and rec.sent[i]]
        if not idx:
            continue
        lo = start + min(2.0, settings.step_s / 4)
        in_window = [b for b in rec.blocks if lo <= b["at"] < end]
        commits = sum(b["ours"] for b in in_window)
        # from the due time: a tx the generator held back (its lane's `outstanding` bound) waited too
        lat = [rec.committed[i] - prep.due[i] for i in idx if rec.committed[i]]
        lag = [rec.sent[i] - prep.due[i] for i in idx]
        check = Counter(rec.check_code[i] for i in idx)
        errors = Counter(rec.rpc_error[i] for i in idx if i in rec.rpc_error)
        deliver = Counter(rec.deliver_code[i] for i in idx if rec.committed[i])
        accepted_not_committed = sum(1 for i in idx if rec.check_code[i] == 0 and not rec.committed[i])
        times = [parse_rfc3339_ns(b["time"]) / 1e9 for b in in_window]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        steps.append({
            "offered_tx_s": rate,
            "sent": len(idx),
            "sent_tx_s": round(sum(1 for i in idx if lo <= rec.sent[i] < end) / (end - lo), 1),
            "committed_tx_s": round(commits / (end - lo), 1),
            "latency_s": {"p50": _r(pct(lat, 50)), "p95": _r(pct(lat, 95)), "p99": _r(pct(lat, 99)),
                          "max": _r(max(lat, default=None)), "n": len(lat)},
            "generator_lag_s": {"p50": _r(pct(lag, 50)), "p99": _r(pct(lag, 99)), "max": _r(max(lag, default=None))},
            "check_tx": {"accepted": check.get(0, 0), "unanswered": check.get(-1, 0),
                         "rejected_by_code": {str(c): n for c, n in sorted(check.items()) if c > 0},
                         "rpc_errors": dict(errors.most_common(8))},
            "committed": {"ok": deliver.get(0, 0), "failed_by_code": {str(c): n for c, n in sorted(deliver.items())
                                                                      if c != 0}},
            "accepted_not_committed": accepted_not_committed,
            "blocks": {"n": len(in_window), "interval_s_mean": _r(sum(gaps) / len(gaps)) if gaps else None,
                       "interval_s_p50": _r(pct(gaps, 50)), "interval_s_max": _r(max(gaps, default=None)),
                       "txs_mean": round(sum(b["txs"] for b in in_window) / len(in_window), 1) if in_window else 0},
            "cpu": _cpu_between(rec.samples, lo, end) | (
                {"threads": _threads_between(threads, pids or [], lo, end)} if threads else {}),
            "proof_queries": _queries(rec, lo, end),
            "saturated": saturated_at == k,
        })
        cpu = steps[-1]["cpu"]
        node_cores = sum(c for c in cpu.get("node_cores", []) if c is not None)
        if node_cores and steps[-1]["committed_tx_s"] > 0:
            # robust to a shared machine: what one committed tx costs the whole network in CPU, and the rate
            # the machine's cores could sustain at that cost if nothing else ran (load generator excluded)
            per_tx = node_cores / steps[-1]["committed_tx_s"]
            cpu["network_cpu_ms_per_tx"] = round(1000 * per_tx, 3)
            cpu["idle_machine_projection_tx_s"] = round((os.cpu_count() or 1) / per_tx, 0)
        other = cpu.get("other_cores")
        steps[-1]["disturbed"] = other is not None and other > DISTURBED_CORES
    return {"steps": steps, "memory": memory(rec.samples), "blocks_total": len(rec.blocks),
            "saturated_at_tx_s": settings.rates[saturated_at] if saturated_at is not None else None,
            "prepare_s": round(prep.gen_s, 2), "targets": target_check(steps),
            "proofs_checked": rec.proofs_checked, "proofs_failed": rec.proofs_failed}


def memory(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per node: peak RSS, RSS after the first tenth of the run and at the end (growth = end - early), and the
    growth over the run's last half (least-squares line, `devnet.bench.memprobe.slope_mib`) of the RSS and of
    its anonymous part: the node's own memory, without the file-backed pages (shared libraries and the
    LevelDB tables it reads through mmap, which follow the database's size on disk; state/kv_level.py)."""
    out: list[dict[str, Any]] = []
    if not samples:
        return out
    early = samples[min(len(samples) - 1, max(1, len(samples) // 10))]
    for j in range(len(samples[0]["nodes"])):
        series = [s["nodes"][j] for s in samples if s["nodes"][j] is not None]
        if not series:
            out.append({})
            continue
        e = early["nodes"][j] or series[0]
        m = {"peak_rss_mib": round(max(n["hwm_kb"] for n in series) / 1024, 1),
             "rss_early_mib": round(e["rss_kb"] / 1024, 1), "rss_end_mib": round(series[-1]["rss_kb"] / 1024, 1),
             "rss_series_mib": [round(n["rss_kb"] / 1024, 1) for n in series[:: max(1, len(series) // 60)]]}
        timed = [(float(s["t"]), s["nodes"][j]) for s in samples if s["nodes"][j] is not None]
        m["rss_last_half_mib"] = slope_mib([(t, n["rss_kb"] / 1024) for t, n in timed]).get("last_half_grown_mib")
        if series[-1].get("anon_kb"):
            m["anon_early_mib"] = round(e.get("anon_kb", 0) / 1024, 1)
            m["anon_end_mib"] = round(series[-1]["anon_kb"] / 1024, 1)
            m["anon_last_half_mib"] = slope_mib([(t, n["anon_kb"] / 1024) for t, n in timed]).get("last_half_grown_mib")
            m["anon_series_mib"] = [round(n["anon_kb"] / 1024, 1) for n in series[:: max(1, len(series) // 60)]]
        out.append(m)
    return out


def target_check(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue-9 targets next to what this run measured (None: the run did not cover that rate)."""
    def at(rate: float) -> dict[str, Any] | None:
        return next((s for s in steps if abs(s["offered_tx_s"] - rate) < 1e-6), None)

    best = max((s["committed_tx_s"] for s in steps), default=0.0)
    s1000, s100 = at(1000), at(100)
    return {
        "best_committed_tx_s": best, "target_sustained_tx_s": TARGETS["sustained_tx_s"],
        "at_1000": None if s1000 is None else {"p50": s1000["latency_s"]["p50"], "p99": s1000["latency_s"]["p99"],
                                               "target_p50": TARGETS["p50_at_1000_s"],
                                               "target_p99": TARGETS["p99_at_1000_s"]},
        "at_100": None if s100 is None else {"p99": s100["latency_s"]["p99"], "target_p99": TARGETS["p99_at_100_s"],
                                             "proofs_served_per_s": (s100["proof_queries"] or {}).get("served_per_s"),
                                             "target_proofs_per_s": 1000},
    }


def print_summary(summary: dict[str, Any], say: Any) -> None:
    say("")
    say(f"{'offered':>8} {'committed':>10} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7} {'max s':>7} {'blk s':>6} "
        f"{'rej':>6} {'nodes cores':>24} {'gen':>5} {'other':>5}")
    for s in summary["steps"]:
        lat, cpu = s["latency_s"], s["cpu"]
        rej = sum(s["check_tx"]["rejected_by_code"].values()) + sum(s["check_tx"]["rpc_errors"].values())
        nodes = " ".join("-" if c is None else f"{c:.2f}" for c in cpu.get("node_cores", []))

        def f(x: float | None) -> str:
            return "-" if x is None else f"{x:.3f}"

        say(f"{s['offered_tx_s']:>8.0f} {s['committed_tx_s']:>10.1f} {f(lat['p50']):>7} {f(lat['p95']):>7} "
            f"{f(lat['p99']):>7} {f(lat['max']):>7} {f(s['blocks']['interval_s_mean']):>6} {rej:>6} {nodes:>24} "
            f"{f(cpu.get('loadgen_cores')):>5} {f(cpu.get('other_cores')):>5}"
            + ("  SATURATED" if s["saturated"] else "") + ("  DISTURBED" if s.get("disturbed") else ""))
    for s in summary["steps"]:
        c = s["cpu"]
        if "network_cpu_ms_per_tx" in c:
            say(f"at {s['offered_tx_s']:.0f} tx/s: nodes spent {c['network_cpu_ms_per_tx']} ms CPU per committed tx "
                f"(all cores of this machine for the nodes alone: ~{c['idle_machine_projection_tx_s']:.0f} tx/s)")
    if any(s["cpu"].get("threads") for s in summary["steps"]):
        say("each node's CPU by thread (main: the event loop; egp-commit: block execution and commit; "
            "egp-verify: signature checks; native: LevelDB's compaction thread; ended: threads gone since):")
    for s in summary["steps"]:
        for j, t in enumerate(s["cpu"].get("threads", [])):
            if t:
                say(f"node{j} at {s['offered_tx_s']:.0f} tx/s: {t['cores']:.3f} cores = " + thread_line(t))
    for j, m in enumerate(summary["memory"]):
        if m:
            say(f"node{j}: peak RSS {m['peak_rss_mib']} MiB, RSS {m['rss_early_mib']} -> {m['rss_end_mib']} MiB"
                + (f" (anonymous {m['anon_early_mib']} -> {m['anon_end_mib']}); last half: RSS "
                   f"{m['rss_last_half_mib']:+} MiB, anonymous {m['anon_last_half_mib']:+} MiB"
                   if m.get("anon_last_half_mib") is not None else ""))
    t = summary["targets"]
    say(f"best committed: {t['best_committed_tx_s']:.0f} tx/s (target >= {t['target_sustained_tx_s']} sustained 5 min)")
    if t["at_1000"]:
        say(f"at 1,000 tx/s: p50 {t['at_1000']['p50']} s (target <= 0.5), p99 {t['at_1000']['p99']} s (target <= 1.5)")
    if t["at_100"]:
        served = t["at_100"]["proofs_served_per_s"]
        say(f"at 100 tx/s: p99 {t['at_100']['p99']} s (target <= 1.0)" + ("" if served is None else
            f"; guarantee look-ups with proofs served by one node: {served}/s (target >= 1,000)"))
    for s in summary["steps"]:
        q = s.get("proof_queries")
        if q:
            say(f"at {s['offered_tx_s']:.0f} tx/s: {q['served_per_s']}/s proofs served (p50 {q['latency_s_p50']} s, "
                f"p99 {q['latency_s_p99']} s, {q['failed']} failed)")
    if summary.get("proofs_checked"):
        say(f"proofs checked against the next header's app hash: {summary['proofs_checked']}, "
            f"failed {summary['proofs_failed']}")


def thread_line(t: dict[str, Any]) -> str:
    """`main 0.210 (46 %), egp-commit 0.150 (33 %), ...`: a node's CPU by thread role, busiest first; the
    roles that spent nothing are left out (`procstat.thread_roles` says what each is)."""
    cores, share = t["by_role_cores"], t["by_role_share"]
    parts = [f"{r} {c:.3f}" + ("" if share[r] is None else f" ({100 * share[r]:.0f} %)")
             for r, c in sorted(cores.items(), key=lambda x: -x[1]) if c > 0]
    return ", ".join(parts) or "no CPU"


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")


def plot(summary: dict[str, Any], path: Path, title: str) -> bool:
    """Throughput and latency against offered rate (PNG). matplotlib is the optional `bench` extra."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    steps = summary["steps"]
    x = [s["offered_tx_s"] for s in steps]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax1.plot(x, [s["committed_tx_s"] for s in steps], "o-", label="committed")
    ax1.plot(x, x, ":", color="grey", label="offered")
    ax1.set_xlabel("offered tx/s")
    ax1.set_ylabel("committed tx/s")
    ax1.legend()
    ax1.grid(alpha=0.3)
    for q in ("p50", "p95", "p99"):
        ax2.plot(x, [s["latency_s"][q] for s in steps], "o-", label=q)
    ax2.set_xlabel("offered tx/s")
    ax2.set_ylabel("submission -> commit latency (s)")
    ax2.set_yscale("log")
    ax2.legend()
    ax2.grid(alpha=0.3, which="both")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True

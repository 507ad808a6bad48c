"""`egp bench` / `python -m devnet.bench.runner`: the load benchmark from the command line.

    # a fresh 4-validator network in a temp dir, 1,000 tx/s for 60 s, then stopped
    python -m devnet.bench.runner --devnet --rate 1000 --duration 60
    # the staircase until saturation (each step 30 s), with a py-spy profile of node 0
    python -m devnet.bench.runner --devnet --saturate --profile
    # a running bench network (built by `python -m devnet.bench.run_network up --root R`)
    python -m devnet.bench.runner --network R --rate 100

Writes `<out>/bench-<time>.json` (machine, git commit, settings, per-step results, other load on the
machine) and `<out>/bench-<time>.png` (throughput and latency against offered rate; needs the optional
`bench` extra, matplotlib). Exit code 0 when the run completed, 2 on bad arguments, 1 when the network
could not be started or reached.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from devnet.bench import procstat
from devnet.bench.loadgen import LoadSettings, Run, prepare
from devnet.bench.profile_tools import summarize_raw
from devnet.bench.report import plot, print_summary, summarize, write_json
from devnet.bench.run_network import (
    ROOT,
    SKIP_TIMEOUT_COMMIT,
    TIMEOUT_COMMIT_MS,
    WorkloadSpec,
    bench_network,
    read_pids,
)

STAIRCASE = [250.0, 500.0, 1000.0, 1500.0, 2000.0, 3000.0, 4000.0, 6000.0]


def say(msg: str) -> None:
    print(msg, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="egp bench", description="Drive a network with the seeded e-GP workload "
                                 "over JSON-RPC and measure committed tx/s, latency, CPU and memory.")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--devnet", action="store_true", help="start a fresh bench network in a temp dir")
    where.add_argument("--network", type=Path, help="root of a running bench network (run_network up)")
    where.add_argument("--url", action="append", help="RPC URL of a node (repeat for each node)")
    ap.add_argument("--pid", type=int, action="append", default=[], help="node PID to sample (with --url)")
    load = ap.add_mutually_exclusive_group()
    load.add_argument("--rate", type=float, help="offered tx/s (open loop), one step")
    load.add_argument("--rates", help="comma-separated staircase of tx/s, one step each")
    load.add_argument("--saturate", action="store_true", help=f"staircase {STAIRCASE} until saturation")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per step (default 30)")
    ap.add_argument("--drain", type=float, default=20.0, help="seconds to wait for commits after sending")
    ap.add_argument("--transport", choices=("ws", "http"), default="ws")
    ap.add_argument("--lanes", type=int, default=2, help="connections per node")
    ap.add_argument("--outstanding", type=int, default=LoadSettings.outstanding,
                    help="txs a lane may have sent and not seen committed before it waits, as a bank's gateway "
                         "would (default %(default)s: the 4 nodes x 2 lanes stay below a node's 5,000-tx "
                         "mempool); 0: no bound (the full rate is offered whatever the network commits)")
    ap.add_argument("--tick-ms", type=float, default=LoadSettings.tick_s * 1000,
                    help="a lane waiting for its next tx wakes at the due time rounded up to a multiple of this "
                         "(default %(default)s ms; each wake-up of the generator costs CPU the nodes share; a tx "
                         "leaves at most one tick late, which its latency includes); 0: each lane at its own due "
                         "time, at least 1 ms apart")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--invalid-share", type=float, default=0.0,
                    help="share of adversarial txs in the workload (default 0: since check_tx applies the domain "
                         "rules, a pre-signed tx refused there leaves a gap in its signer's sequence numbers)")
    ap.add_argument("--verifiers", type=int, default=0,
                    help="concurrent clients asking node 0 for committed guarantees with proofs during the load")
    ap.add_argument("--causal-gap", type=float, default=3.0,
                    help="seconds between a tx and a follow-up signed by someone else (0: generation order)")
    ap.add_argument("--validators", type=int, default=4, help="with --devnet")
    ap.add_argument("--timeout-commit-ms", type=int, default=TIMEOUT_COMMIT_MS,
                    help="with --devnet (genesis consensus param)")
    ap.add_argument("--skip-timeout-commit", action=argparse.BooleanOptionalAction, default=SKIP_TIMEOUT_COMMIT,
                    help="with --devnet (genesis consensus param: next height as soon as every precommit is in)")
    ap.add_argument("--mempool-size", type=int, default=5000, help="with --devnet (config.toml [mempool] size)")
    ap.add_argument("--trie-cache-mib", type=int, default=None,
                    help="with --devnet (config.toml [storage] trie_cache_mib; default: the node's default)")
    ap.add_argument("--log-level", default="info", help="with --devnet")
    ap.add_argument("--keep", action="store_true", help="with --devnet: keep the network's directory")
    ap.add_argument("--profile", action="store_true", help="py-spy profile of node 0 during the run")
    ap.add_argument("--out", type=Path, default=Path("bench-results"), help="directory for JSON/PNG/profile")
    ap.add_argument("--label", default="", help="free text recorded in the JSON")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                    help="first wait up to SECONDS until other processes use < --quiet-cores")
    ap.add_argument("--quiet-cores", type=float, default=0.25)
    a = ap.parse_args(argv)
    if a.duration <= 0 or a.drain < 0 or a.lanes < 1 or a.causal_gap < 0 or a.verifiers < 0 \
            or not 0 <= a.invalid_share < 1 or not 0 <= a.tick_ms <= 1000:
        ap.error("--duration must be > 0, --drain >= 0, --lanes >= 1, --causal-gap >= 0, --verifiers >= 0, "
                 "0 <= --invalid-share < 1, 0 <= --tick-ms <= 1000")
    if a.rates:
        try:
            a.rate_list = [float(x) for x in a.rates.split(",") if x.strip()]
        except ValueError:
            ap.error("--rates: comma-separated numbers, e.g. 100,500,1000")
    elif a.saturate:
        a.rate_list = list(STAIRCASE)
    else:
        a.rate_list = [a.rate if a.rate is not None else 100.0]
    if not a.rate_list or any(r <= 0 for r in a.rate_list):
        ap.error("rates must be positive")
    return a


@contextmanager
def _target(a: argparse.Namespace, spec: WorkloadSpec) -> Iterator[tuple[list[str], list[int], str]]:
    if a.url:
        yield a.url, a.pid, "urls"
        return
    if a.network:
        pids, urls = read_pids(a.network)
        yield urls, pids, str(a.network)
        return
    tmp = Path(tempfile.mkdtemp(prefix="egp-bench-"))
    try:
        say(f"starting a fresh {a.validators}-validator network in {tmp} ...")
        with bench_network(tmp, spec, validators=a.validators, timeout_commit_ms=a.timeout_commit_ms,
                           skip_timeout_commit=a.skip_timeout_commit, mempool_size=a.mempool_size,
                           log_level=a.log_level, trie_cache_mib=a.trie_cache_mib) as net:
            say(f"  nodes up: {', '.join(net.urls)} (pids {net.pids})")
            yield net.urls, net.pids, str(tmp)
    finally:
        if a.keep:
            say(f"network directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        say("  (py-spy not installed: `pip install py-spy`; no profile)")
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100",
                             "--format", "raw", "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _busy_cores(seconds: float) -> float | None:
    b0, t0 = procstat.machine_busy_s(), time.monotonic()
    time.sleep(seconds)
    b1 = procstat.machine_busy_s()
    return None if b0 is None or b1 is None else round((b1 - b0) / (time.monotonic() - t0), 3)


def claim_stamp(out: Path, prefix: str) -> str:
    """This run's UTC stamp, made unique in `out` by claiming `<prefix>-<stamp>.json` (exclusive create):
    two runs started in the same second get `...Z` and `...Z-2` instead of overwriting one file."""
    out.mkdir(parents=True, exist_ok=True)
    base = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 1000):
        stamp = base if n == 1 else f"{base}-{n}"
        try:
            (out / f"{prefix}-{stamp}.json").open("x").close()
        except FileExistsError:
            continue
        return stamp
    raise RuntimeError(f"no free result name for {base} in {out}")


def run(a: argparse.Namespace) -> int:
    stamp = claim_stamp(a.out, "bench")
    claimed = a.out / f"bench-{stamp}.json"
    try:
        return _run(a, stamp)
    finally:
        if claimed.exists() and claimed.stat().st_size == 0:  # the run ended before it wrote its result
            claimed.unlink()


def _run(a: argparse.Namespace, stamp: str) -> int:
    spec = WorkloadSpec(seed=a.seed, invalid_share=a.invalid_share)
    settings = LoadSettings(rates=a.rate_list, step_s=a.duration, transport=a.transport, lanes_per_node=a.lanes,
                            drain_s=a.drain, workload=spec, causal_gap_s=a.causal_gap,
                            verifiers=a.verifiers, outstanding=a.outstanding if a.outstanding > 0 else 10**9,
                            tick_s=a.tick_ms / 1000)
    machine = procstat.machine_info()
    before: dict[str, Any] = {"loadavg": procstat.loadavg()}
    before["other_cores_1s_before"] = other = _busy_cores(1.0)
    deadline = time.monotonic() + a.wait_quiet
    while other is not None and other >= a.quiet_cores and time.monotonic() < deadline:
        say(f"  other processes use {other:.2f} cores; waiting for < {a.quiet_cores} ...")
        time.sleep(4.0)
        before["other_cores_1s_before"] = other = _busy_cores(1.0)
    say(f"machine: {machine['cpu_model']}, {machine['cores']} cores, {machine['memory_gib']} GiB; "
        f"other load before the run: {before.get('other_cores_1s_before', '?')} cores")
    try:
        n_nodes = len(a.url) if a.url else len(read_pids(a.network)[1]) if a.network else a.validators
    except (OSError, ValueError, KeyError) as e:
        say(f"error: {a.network} is not a running bench network ({e})")
        return 2
    say(f"pre-generating and signing {sum(int(r * a.duration) for r in a.rate_list):,} txs ...")
    prep = prepare(settings, n_nodes, say)  # before any network starts: its blocks carry the load from the first
    say(f"  done in {prep.gen_s:.1f} s; load: {', '.join(f'{r:.0f}' for r in a.rate_list)} tx/s, "
        f"{a.duration:.0f} s each, {a.transport} x{a.lanes} per node")
    with _target(a, spec) as (urls, pids, where):
        spy = None
        a.out.mkdir(parents=True, exist_ok=True)
        prof_path = a.out / f"bench-{stamp}.pyspy.txt"
        if a.profile and pids:
            spy = _start_profile(pids[0], len(a.rate_list) * a.duration, prof_path)
        runner = Run(settings, urls, pids, prep, say)
        # every thread of every node, once a second: the split of each node's CPU (a native thread such as
        # LevelDB's compaction thread is invisible to py-spy; procstat.thread_roles)
        threads = procstat.ThreadSampler(pids).start()
        try:
            records = asyncio.run(runner.run())
        except (aiohttp.ClientError, OSError) as e:
            say(f"error: the network did not answer: {e}")
            return 1
        finally:
            threads.stop()
            if spy is not None:
                try:
                    spy.wait(30)
                except subprocess.TimeoutExpired:
                    spy.kill()
                    spy.wait()
    summary = summarize(settings, prep, records, runner.saturated_at, threads.relative(runner.t0), pids)
    summary["reconnects"] = runner.reconnects
    summary["generator"] = gen = runner.sender_report()
    print_summary(summary, say)
    if gen["sent"]:
        say(f"generator: {gen['held_back']:,} of {gen['sent']:,} txs ({100 * gen['held_back'] / gen['sent']:.0f} %) "
            f"held back by their lane's bound ({gen['outstanding_bound']} sent and not yet committed), waiting "
            f"p50 {gen['held_wait_s_p50'] or 0:.2f} s, p99 {gen['held_wait_s_p99'] or 0:.2f} s; its own lateness "
            f"otherwise p50 {1000 * (gen['own_lag_s_p50'] or 0):.1f} ms, "
            f"p99 {1000 * (gen['own_lag_s_p99'] or 0):.1f} ms")
    doc: dict[str, Any] = {
        "kind": "egp-bench/load", "started": stamp, "label": a.label, "machine": machine,
        "git": procstat.git_commit(ROOT), "load_before": before,
        "settings": {"rates": a.rate_list, "step_s": a.duration, "drain_s": a.drain, "transport": a.transport,
                     "lanes_per_node": a.lanes, "outstanding": a.outstanding, "tick_ms": a.tick_ms,
                     "seed": a.seed, "causal_gap_s": a.causal_gap, "verifiers": a.verifiers,
                     "nodes": len(urls), "network": where, "pids": pids,
                     "devnet": bool(a.devnet), "timeout_commit_ms": a.timeout_commit_ms if a.devnet else None,
                     "skip_timeout_commit": a.skip_timeout_commit if a.devnet else None,
                     "mempool_size": a.mempool_size if a.devnet else None,
                     "trie_cache_mib": a.trie_cache_mib if a.devnet else None, "workload": vars(spec)},
        "results": summary,
    }
    if spy is not None and prof_path.exists():
        doc["profile"] = {"file": str(prof_path), "top": summarize_raw(prof_path, 25)}
        say(f"profile of node 0: {prof_path}")
    path = a.out / f"bench-{stamp}.json"
    write_json(path, doc)
    say(f"results: {path}")
    if not a.no_plot:
        png = path.with_suffix(".png")
        if plot(summary, png, f"egp-chain, {len(urls)} nodes, {machine['cores']} cores, {a.transport}"):
            say(f"plot: {png}")
        else:
            say("plot skipped: matplotlib is not installed (pip install -e '.[bench]')")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

"""Restart benchmark: a validator of a chain with many blocks of the workload is stopped and started again;
how long until it is back in consensus (issue 9: within 60 s after 10,000 blocks)? Prints, asserts nothing.

    python -m devnet.bench.restart_bench --blocks 10000 --timeout-commit-ms 50 --rate 100
    python -m devnet.bench.restart_bench --blocks 300 --down 5          # a quick look

A fresh 4-validator bench network gets the seeded workload on nodes 0-2 (open loop, `--rate`) with a short
`timeout_commit` so that many blocks accumulate quickly; when node 0 reaches `--blocks`, node 3 is stopped
(SIGTERM, by PID), kept down `--down` seconds while the others go on, and started again. Measured from
the restart: RPC answering, caught up (height within one of node 0), and back in consensus (its
signature in a commit of a height after the restart). Writes `<out>/restart-<time>.json`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from devnet.bench import procstat
from devnet.bench.loadgen import LoadSettings, Run, prepare
from devnet.bench.report import write_json
from devnet.bench.run_network import (
    ROOT,
    SKIP_TIMEOUT_COMMIT,
    WorkloadSpec,
    bench_network,
    height,
    start_node,
    stop_pids,
    write_pids,
)


def rpc(url: str, method: str, params: dict[str, Any] | None = None, timeout: float = 3.0) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())["result"]


def _height_or(url: str, default: int = -1) -> int:
    try:
        return height(url)
    except (OSError, ValueError, KeyError):
        return default


def signed(url: str, h: int, address: str) -> bool:
    try:
        sigs = rpc(url, "commit", {"height": str(h)})["signed_header"]["commit"]["signatures"]
    except (OSError, ValueError, KeyError):
        return False
    return any(s["validator_address"] == address and s.get("signature") for s in sigs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=2000, help="chain height at which node 3 is stopped")
    ap.add_argument("--down", type=float, default=10.0, help="seconds node 3 stays down")
    ap.add_argument("--rate", type=float, default=100.0, help="offered tx/s on nodes 0-2 throughout")
    ap.add_argument("--timeout-commit-ms", type=int, default=50)
    ap.add_argument("--skip-timeout-commit", action=argparse.BooleanOptionalAction, default=SKIP_TIMEOUT_COMMIT,
                    help="genesis skip_timeout_commit (the next height as soon as every precommit is in)")
    ap.add_argument("--limit", type=float, default=600.0, help="give up waiting for node 3 after this many s")
    ap.add_argument("--out", type=Path, default=Path("bench-results"))
    a = ap.parse_args(argv)
    if a.blocks < 2 or a.down < 0 or a.rate <= 0:
        ap.error("--blocks >= 2, --down >= 0, --rate > 0")
    spec = WorkloadSpec()
    tmp = Path(tempfile.mkdtemp(prefix="egp-restart-"))
    result: dict[str, Any] = {"kind": "egp-bench/restart", "machine": procstat.machine_info(),
                              "git": procstat.git_commit(ROOT), "settings": vars(a) | {"out": str(a.out)}}
    try:
        # the load is made before the network starts, so the chain's blocks carry it from the first one
        horizon = max(60.0, 1.5 * a.blocks * (a.timeout_commit_ms / 1000 + 0.1)) + a.down + a.limit
        settings = LoadSettings(rates=[a.rate], step_s=horizon, drain_s=2.0, workload=spec, progress_s=1e9,
                                stop_when_saturated=False)
        print(f"pre-generating {int(a.rate * horizon):,} txs (load for up to {horizon:.0f} s) ...", flush=True)
        prep = prepare(settings, 3, lambda m: None)
        with bench_network(tmp, spec, timeout_commit_ms=a.timeout_commit_ms, skip_timeout_commit=a.skip_timeout_commit,
                           log_level="warn") as net:
            url0, url3 = net.urls[0], net.urls[3]
            address = rpc(url3, "status")["validator_info"]["address"]
            run = Run(settings, net.urls[:3], net.pids[:3], prep, lambda m: None)
            loader = threading.Thread(target=lambda: __import__("asyncio").run(run.run()), daemon=True)
            loader.start()
            t0 = time.monotonic()
            while (h := _height_or(url0, 0)) < a.blocks:
                print(f"  height {h:,}/{a.blocks:,} ({time.monotonic() - t0:.0f} s)", flush=True)
                time.sleep(5.0)
            h_stop = _height_or(url3)
            stop_pids([net.pids[3]])
            t_stop = time.monotonic()
            print(f"node 3 stopped at height {h_stop:,}; down for {a.down:.0f} s", flush=True)
            time.sleep(a.down)
            p = start_node(tmp, 3, "warn")
            net.procs[3], net.pids[3] = p, p.pid
            write_pids(net)
            t_start = time.monotonic()
            h_restart = _height_or(url0)
            marks: dict[str, float] = {}
            while time.monotonic() - t_start < a.limit and p.poll() is None:
                h3, h0 = _height_or(url3), _height_or(url0)
                now = time.monotonic() - t_start
                if h3 >= 0:
                    marks.setdefault("rpc_s", now)
                if h3 >= 0 and h3 >= h0 - 1:
                    marks.setdefault("caught_up_s", now)
                if "caught_up_s" in marks and any(signed(url0, h, address) for h in (h0, h0 - 1) if h > h_restart):
                    marks["signing_s"] = now
                    break
                time.sleep(0.2)
            run.stop_off = 0.0
            loader.join(60)
            committed = sum(1 for x in run.r.committed if x)
            result["results"] = {
                "txs_committed_during_run": committed,
                "height_at_stop": h_stop, "network_height_at_restart": h_restart, "blocks_behind": h_restart - h_stop,
                "down_s": round(t_start - t_stop, 1), **{k: round(v, 2) for k, v in marks.items()},
                "back_in_consensus": "signing_s" in marks, "target_s": 60,
                "node3_exit": p.poll(), "node3_log_tail": net.log_tail(3, 1500) if "signing_s" not in marks else "",
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    r = result.get("results", {})
    print(json.dumps({k: v for k, v in r.items() if k != "node3_log_tail"}, indent=1))
    path = a.out / f"restart-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    write_json(path, result)
    print(f"results: {path}")
    return 0 if r.get("back_in_consensus") else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""What a block costs a node, and what a node costs per second with nothing to do.

A fresh 4-validator bench network (the genesis and homes of `egp bench --devnet`: `run_network`), measured
in phases on the same network, each a window of node CPU read from /proc (`procstat`, user + system, all
threads) and of committed heights (RPC `status`):

- `quiet`: a chain that makes no blocks (`create_empty_blocks = false`, a separate network, started only
  when asked): what the node spends per second on ticks, status, metrics and the loop alone.
- `idle`: no txs; the chain makes its empty blocks (one per `timeout_commit`, 1 s as generated): CPU per
  idle second and per empty block.
- `load`: `--rate` tx/s (the seeded workload through `loadgen.Run`, WebSocket lanes, NewBlock subscriber
  on node 0 as in `egp bench`): blocks come every ~`next_block_delay` + a round, each small, so the CPU per
  block is mostly the block's fixed work (consensus, signatures, fsyncs, stores, events).

    python -m devnet.bench.block_overhead                              # idle 30 s, then 40 tx/s for 30 s
    python -m devnet.bench.block_overhead --phases quiet,idle,load --profile load
    python -m devnet.bench.block_overhead --timeout-commit-ms 250 --phases idle   # 4 empty blocks a second

Prints, per phase and node: CPU per second (cores), blocks, CPU per block (ms) and, under load, per tx.
`--profile PHASE` records node 0 with py-spy during that phase (`python -m devnet.bench.profile_tools`).
Figures are CPU, not wall time, but the machine is shared: each phase prints the machine's other load.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devnet.bench import procstat
from devnet.bench.loadgen import LoadSettings, Run, prepare
from devnet.bench.run_network import BenchNetwork, WorkloadSpec, bench_network, height


def say(msg: str) -> None:
    print(msg, flush=True)


def _user_sys_io(pid: int) -> tuple[float, float, int, int]:
    """User and system CPU seconds (all threads), write syscalls and fsync-ish context: /proc/<pid>/stat, io."""
    try:
        f = procstat.stat_fields(pid)
        if f is None:
            return 0.0, 0.0, 0, 0
        user, system = int(f[11]) / procstat.TICK, int(f[12]) / procstat.TICK
        io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        return user, system, int(io["syscw"]), int(io["write_bytes"])
    except (OSError, ValueError, KeyError, IndexError):
        return 0.0, 0.0, 0, 0


def snapshot(net: BenchNetwork) -> dict[str, Any]:
    tree = procstat.parents()
    cpu = []
    for pid in net.pids:
        s = procstat.sample(pid, tree)
        cpu.append(s.cpu_s if s else float("nan"))
    detail = [_user_sys_io(pid) for pid in net.pids]
    heights = []
    for url in net.urls:
        try:
            heights.append(height(url))
        except (OSError, ValueError, KeyError):
            heights.append(-1)
    return {"t": time.monotonic(), "cpu": cpu, "heights": heights, "busy": procstat.machine_busy_s(),
            "detail": detail}


def window(a: dict[str, Any], b: dict[str, Any], txs: int | None = None) -> dict[str, Any]:
    dt_s = b["t"] - a["t"]
    blocks = max(hb - ha for ha, hb in zip(a["heights"], b["heights"], strict=True))
    cpu = [cb - ca for ca, cb in zip(a["cpu"], b["cpu"], strict=True)]
    nodes_cores = sum(cpu) / dt_s
    other = None
    if a["busy"] is not None and b["busy"] is not None:
        other = round((b["busy"] - a["busy"]) / dt_s - nodes_cores, 3)
    out: dict[str, Any] = {
        "seconds": round(dt_s, 2), "blocks": blocks, "blocks_per_s": round(blocks / dt_s, 3),
        "cpu_s": [round(c, 3) for c in cpu], "cores_per_node": [round(c / dt_s, 4) for c in cpu],
        "ms_per_block_per_node": [round(1000 * c / blocks, 2) if blocks else None for c in cpu],
        "other_cores": other, "loadavg": procstat.loadavg(),
    }
    d = [[y - x for x, y in zip(da, db, strict=True)] for da, db in zip(a["detail"], b["detail"], strict=True)]
    out["user_s"] = [round(x[0], 3) for x in d]
    out["system_s"] = [round(x[1], 3) for x in d]
    out["write_syscalls"] = [x[2] for x in d]
    out["disk_write_bytes"] = [x[3] for x in d]
    if txs:
        out["txs"] = txs
        out["txs_per_block"] = round(txs / blocks, 1) if blocks else None
        out["ms_per_tx_all_nodes"] = round(1000 * sum(cpu) / txs, 3)
    return out


def show(name: str, w: dict[str, Any]) -> None:
    per_block = w["ms_per_block_per_node"]
    mean_block = (sum(per_block) / len(per_block)) if per_block and per_block[0] is not None else None
    say(f"[{name}] {w['seconds']:.1f} s, {w['blocks']} blocks ({w['blocks_per_s']:.2f}/s)"
        + (f", {w['txs']} txs ({w.get('txs_per_block')}/block, {w['ms_per_tx_all_nodes']} ms CPU/tx, 4 nodes)"
           if w.get("txs") else ""))
    say(f"  node CPU, cores:      {' '.join(f'{c:.4f}' for c in w['cores_per_node'])}"
        f"   (mean {1000 * sum(w['cores_per_node']) / len(w['cores_per_node']):.1f} ms/s per node)")
    if mean_block is not None:
        say(f"  node CPU per block:   {' '.join(f'{c:.2f}' for c in per_block)} ms   (mean {mean_block:.2f} ms)")
    if blocks := w["blocks"]:
        say(f"  per block and node: user {1000 * sum(w['user_s']) / 4 / blocks:.2f} ms, system "
            f"{1000 * sum(w['system_s']) / 4 / blocks:.2f} ms, {sum(w['write_syscalls']) / 4 / blocks:.1f} write "
            f"syscalls, {sum(w['disk_write_bytes']) / 4 / blocks / 1024:.1f} KiB to disk")
    else:
        say(f"  per second and node: user {1000 * sum(w['user_s']) / 4 / w['seconds']:.2f} ms, system "
            f"{1000 * sum(w['system_s']) / 4 / w['seconds']:.2f} ms, "
            f"{sum(w['write_syscalls']) / 4 / w['seconds']:.1f} write syscalls")
    say(f"  other load: {w['other_cores']} cores; loadavg {w['loadavg']}")


GIL_ONLY = False  # --gil: py-spy samples only the thread holding the GIL (CPU in Python, not fsync waits)
PROFILE_HZ = 100


def start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        say("  (py-spy not installed; no profile)")
        return None
    say(f"  profiling node 0 (pid {pid}) for {seconds:.0f} s -> {out}")
    cmd = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(PROFILE_HZ),
           "--format", "raw", "--output", str(out), "--nonblocking", *(["--gil"] if GIL_ONLY else [])]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def end_profile(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is None:
        return
    try:
        spy.wait(30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait()


def measured_sleep(net: BenchNetwork, seconds: float, profile: Path | None) -> dict[str, Any]:
    spy = start_profile(net.pids[0], seconds, profile) if profile else None
    a = snapshot(net)
    time.sleep(seconds)
    b = snapshot(net)
    end_profile(spy)
    return window(a, b)


async def load_phase(net: BenchNetwork, settings: LoadSettings, seconds: float, warm_s: float,
                     profile: Path | None) -> dict[str, Any]:
    prep = prepare(settings, len(net.urls), lambda m: None)
    runner = Run(settings, net.urls, [], prep, lambda m: None)
    job = asyncio.create_task(runner.run())
    await asyncio.sleep(warm_s)
    spy = start_profile(net.pids[0], seconds, profile) if profile else None
    a = await asyncio.to_thread(snapshot, net)
    c0 = sum(b["ours"] for b in runner.r.blocks)
    await asyncio.sleep(seconds)
    b = await asyncio.to_thread(snapshot, net)
    c1 = sum(blk["ours"] for blk in runner.r.blocks)
    await asyncio.to_thread(end_profile, spy)
    runner.stop_off = 0.0  # nothing more is sent
    job.cancel()
    await asyncio.gather(job, return_exceptions=True)
    return window(a, b, txs=c1 - c0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phases", default="idle,load", help="comma-separated: quiet, idle, load (in this order)")
    ap.add_argument("--seconds", type=float, default=30.0, help="measured window of each phase")
    ap.add_argument("--warm", type=float, default=5.0, help="seconds before each window")
    ap.add_argument("--rate", type=float, default=40.0, help="tx/s offered in the load phase")
    ap.add_argument("--timeout-commit-ms", type=int, default=1000)
    ap.add_argument("--next-block-delay-ms", type=int, default=100)
    ap.add_argument("--profile", default="", help="phases (comma-separated) whose node 0 is recorded with py-spy")
    ap.add_argument("--gil", action="store_true",
                    help="profile only the thread holding the GIL (py-spy --gil): the Python CPU, without the "
                         "waits (fsync, epoll) that a wall-clock profile of all threads shows")
    ap.add_argument("--hz", type=int, default=100, help="py-spy samples per second")
    ap.add_argument("--out", type=Path, default=Path("bench-results"))
    ap.add_argument("--log-level", default="info")
    a = ap.parse_args(argv)
    phases = [p for p in a.phases.split(",") if p]
    global GIL_ONLY, PROFILE_HZ
    GIL_ONLY, PROFILE_HZ = a.gil, a.hz
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    a.out.mkdir(parents=True, exist_ok=True)

    def prof(phase: str) -> Path | None:
        return a.out / f"overhead-{stamp}-{phase}.pyspy.txt" if phase in a.profile.split(",") else None

    spec = WorkloadSpec()
    results: dict[str, Any] = {"kind": "egp-bench/block-overhead", "started": stamp, "machine": procstat.machine_info(),
                               "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
                               "phases": {}, "pids": []}
    @contextmanager
    def network(empty_blocks: bool) -> Iterator[BenchNetwork]:
        """A fresh 4-validator network in a temp dir, its PIDs recorded in the results."""
        with tempfile.TemporaryDirectory(prefix="egp-overhead-", ignore_cleanup_errors=True) as tmp, \
                bench_network(Path(tmp), spec, timeout_commit_ms=a.timeout_commit_ms, skip_timeout_commit=True,
                              next_block_delay_ms=a.next_block_delay_ms, create_empty_blocks=empty_blocks,
                              log_level=a.log_level) as net:
            results["pids"] += net.pids
            yield net

    if "quiet" in phases:
        with network(empty_blocks=False) as net:
            time.sleep(a.warm)
            w = measured_sleep(net, a.seconds, prof("quiet"))
            show("quiet: no blocks", w)
            results["phases"]["quiet"] = w
    if "idle" in phases or "load" in phases:
        with network(empty_blocks=True) as net:
            if "idle" in phases:
                time.sleep(a.warm)
                w = measured_sleep(net, a.seconds, prof("idle"))
                show("idle: empty blocks", w)
                results["phases"]["idle"] = w
            if "load" in phases:
                settings = LoadSettings(rates=[a.rate], step_s=a.seconds + a.warm + 10, workload=spec,
                                        progress_s=1e9, drain_s=0.0)
                w = asyncio.run(load_phase(net, settings, a.seconds, a.warm, prof("load")))
                show(f"load: {a.rate:.0f} tx/s", w)
                results["phases"]["load"] = w
    out = a.out / f"overhead-{stamp}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    say(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

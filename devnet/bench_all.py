"""`make bench`: every micro-benchmark, one after the other, each printing its figures (nothing asserted).

    python -m devnet.bench_all                 # the full set (several minutes on the 2-core machine)
    python -m devnet.bench_all --smoke         # every benchmark tiny (CI: the tooling must not rot)
    python -m devnet.bench_all --only codec,merkle --state-size 1000000

In this process (one core): codec (tx encode / strict decode, canonical value codec), Ed25519 sign/verify,
Merkle roots of a block's txs, authenticated-state trie updates on a large trie. As subprocesses, the
owners' benchmarks: the application (check_tx, finalize_block + commit on a LevelDB state of
`--state-size` instruments, proof queries: devnet/bench/app_bench.py), consensus messages/s in the
simulator (devnet/bench/sim_bench.py, when present), RPC requests/s against a real node
(devnet/bench/rpc_bench.py) and P2P frames/s (devnet/bench/p2p_bench.py). In-process figures are per
CPU-second of this process (robust on a shared machine); the subprocesses print their own. A benchmark that fails is
reported and the others still run; the exit code is 1 if any failed. Compare with the machine's limits in
/work/shared/docs/limits.md (Ed25519 ~21k verifies/s per core, aiohttp ~15k trivial requests/s).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from state.crypto import PrivateKey, verify
from state.kv import MemoryKV
from state.merkle import merkle_root
from state.trie import CachedNodes, Trie
from state.txs import decode_tx
from state.workload import Workload

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "devnet" / "bench"


def rate(fn: Callable[[int], object], items: int, seconds: float) -> float:
    """Calls of `fn(i)` per CPU-second of this process over about `seconds` of CPU (at least one pass).

    CPU time, not wall time: on a machine shared with other work the figure stays the cost of the code."""
    n, t0 = 0, time.process_time()
    while True:
        for i in range(items):
            fn(i)
        n += items
        dt = time.process_time() - t0
        if dt >= seconds:
            return n / dt


def _fmt(x: float) -> str:
    return f"{x:,.0f}/s"


def bench_codec(a: argparse.Namespace, out: dict[str, Any]) -> None:
    wl = Workload(seed=3, n_agencies=50, n_suppliers=200)
    txs = [tx for _, batch in wl.blocks(4, 250) for tx in batch][:1000]
    decoded = [decode_tx(t) for t in txs]
    from state.codec import decode, encode

    values = [{"id": f"LG-{i}", "amount": i * 1000, "parties": ["a", "b"], "flags": [True, False]} for i in range(100)]
    blobs = [encode(v) for v in values]
    r = {
        "tx_strict_decode_per_s": rate(lambda i: decode_tx(txs[i]), len(txs), a.seconds),
        "tx_encode_per_s": rate(lambda i: decoded[i].tx.encode(), len(txs), a.seconds),
        "value_encode_per_s": rate(lambda i: encode(values[i]), len(values), a.seconds),
        "value_decode_per_s": rate(lambda i: decode(blobs[i]), len(blobs), a.seconds),
        "mean_tx_bytes": sum(map(len, txs)) / len(txs),
    }
    print(f"codec: strict tx decode {_fmt(r['tx_strict_decode_per_s'])}, tx encode {_fmt(r['tx_encode_per_s'])}, "
          f"value encode {_fmt(r['value_encode_per_s'])}, decode {_fmt(r['value_decode_per_s'])} "
          f"(workload txs average {r['mean_tx_bytes']:.0f} B)")
    out["codec"] = r


def bench_crypto(a: argparse.Namespace, out: dict[str, Any]) -> None:
    keys = [PrivateKey.from_seed(hashlib.sha256(b"k%d" % i).digest()) for i in range(100)]
    msgs = [os.urandom(250) for _ in range(100)]
    sigs = [k.sign(m) for k, m in zip(keys, msgs, strict=True)]
    pubs = [k.public_key.raw for k in keys]
    r = {"sign_per_s": rate(lambda i: keys[i].sign(msgs[i]), 100, a.seconds),
         "verify_per_s": rate(lambda i: verify(pubs[i], msgs[i], sigs[i]), 100, a.seconds)}
    print(f"ed25519: sign {_fmt(r['sign_per_s'])}, verify {_fmt(r['verify_per_s'])} (per CPU-second)")
    out["crypto"] = r


def bench_merkle(a: argparse.Namespace, out: dict[str, Any]) -> None:
    n = 200 if a.smoke else 10_000
    txs = [os.urandom(300) for _ in range(n)]
    per = rate(lambda _: merkle_root(txs), 1, a.seconds)
    r = {"block_txs": n, "roots_per_s": per, "ms_per_root": 1000 / per}
    print(f"merkle: root of {n:,} txs in {r['ms_per_root']:.2f} ms")
    out["merkle"] = r


def bench_trie(a: argparse.Namespace, out: dict[str, Any]) -> None:
    """Block-sized trie updates on a large trie, used as the application uses it: one `Trie` per block over
    the shared `CachedNodes`, its node writes persisted, then applied to the cache."""
    size = min(a.state_size, 2_000) if a.smoke else min(a.state_size, 200_000)
    kv = MemoryKV()
    nodes = CachedNodes(kv)

    def h(i: int, v: int = 0) -> bytes:
        return hashlib.sha256(b"%d/%d" % (i, v)).digest()

    def block(changes: dict[bytes, bytes | None]) -> None:
        trie = Trie(nodes)
        trie.update(changes)
        for k, v in trie.writes.items():
            kv.delete(k) if v is None else kv.put(k, v)
        nodes.apply(trie.changes)

    t0 = time.process_time()
    chunk = 5_000
    for s in range(0, size, chunk):
        block({h(i): h(i, 1) for i in range(s, min(size, s + chunk))})
    load_s = time.process_time() - t0
    per_block = 50 if a.smoke else 2_000
    rounds = 2 if a.smoke else 5
    t0 = time.process_time()
    for r_ in range(rounds):
        block({h((r_ * per_block + j) * 7 % size): h(j, r_ + 2) for j in range(per_block)})
    dt = time.process_time() - t0
    r = {"trie_keys": size, "load_keys_per_s": size / load_s, "changes_per_block": per_block,
         "updates_per_s": rounds * per_block / dt, "ms_per_block_update": 1000 * dt / rounds}
    print(f"trie: {per_block:,} changed keys on a {size:,}-key trie: {r['ms_per_block_update']:.1f} ms CPU "
          f"({_fmt(r['updates_per_s'])}, nodes persisted); initial load {_fmt(r['load_keys_per_s'])}")
    out["trie"] = r


def _sub(name: str, args: list[str], out: dict[str, Any], timeout: float) -> bool:
    script = BENCH / f"{name}.py"
    if not script.exists():
        print(f"{name}: skipped ({script.relative_to(ROOT)} does not exist yet)")
        out[name] = {"skipped": True}
        return True
    print(f"{name}: python -m devnet.bench.{name} {' '.join(args)}", flush=True)
    t0 = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, "-m", f"devnet.bench.{name}", *args], cwd=ROOT, timeout=timeout,
                           capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    except subprocess.TimeoutExpired:
        print(f"{name}: FAILED (timed out after {timeout:.0f} s)")
        out[name] = {"ok": False, "error": "timeout"}
        return False
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    for ln in lines:
        print(f"  {ln}")
    out[name] = {"ok": p.returncode == 0, "output": lines, "wall_s": round(time.perf_counter() - t0, 1)}
    if p.returncode != 0:
        print(f"{name}: FAILED (exit {p.returncode}): {p.stderr.strip()[-800:]}")
        out[name]["error"] = p.stderr[-2000:]
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="every benchmark tiny")
    ap.add_argument("--only", default="", help="comma-separated subset: codec,crypto,merkle,trie,app,sim,rpc,p2p,floor")
    ap.add_argument("--state-size", type=int, default=200_000, help="instruments / trie keys of the large state")
    ap.add_argument("--seconds", type=float, default=None, help="time per in-process measurement")
    ap.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    a = ap.parse_args(argv)
    a.seconds = a.seconds if a.seconds is not None else (0.05 if a.smoke else 1.5)
    if a.state_size < 1:
        ap.error("--state-size must be positive")
    smoke = a.smoke
    inproc: dict[str, Callable[[argparse.Namespace, dict[str, Any]], None]] = {
        "codec": bench_codec, "crypto": bench_crypto, "merkle": bench_merkle, "trie": bench_trie}
    subs: dict[str, list[str]] = {
        "app": (["--instruments", "500", "--blocks", "2", "--txs", "100", "--queries", "100"] if smoke else
                ["--instruments", str(a.state_size), "--blocks", "10", "--txs", "2000"]),
        "sim_bench": ["--smoke"] if smoke else [],
        "rpc_bench": ["--requests", "200", "--txs", "50", "--concurrency", "8"] if smoke else [],
        "p2p_bench": ["--frames", "5000", "--big-frames", "50"] if smoke else [],
        "floor": ["--smoke"] if smoke else [],
    }
    names = {"app": "app_bench", "sim": "sim_bench", "rpc": "rpc_bench", "p2p": "p2p_bench", "floor": "floor"}
    wanted = [w.strip() for w in a.only.split(",") if w.strip()] or [*inproc, *names]
    unknown = [w for w in wanted if w not in inproc and w not in names]
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(unknown)}")
    out: dict[str, Any] = {"smoke": smoke, "state_size": a.state_size}
    failed: list[str] = []
    for w in wanted:
        t0 = time.perf_counter()
        if w in inproc:
            try:
                inproc[w](a, out)
            except Exception as e:  # report and go on: one broken benchmark must not hide the others
                print(f"{w}: FAILED: {e!r}")
                failed.append(w)
        else:
            name = names[w]
            args = subs["app" if w == "app" else name]
            if not _sub(name, args, out, 300 if smoke else 3600):
                failed.append(w)
        print(f"  ({w}: {time.perf_counter() - t0:.1f} s)", flush=True)
    if a.json:
        a.json.write_text(json.dumps(out, indent=1, default=str) + "\n")
        print(f"figures: {a.json}")
    print("all benchmarks ran" if not failed else f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

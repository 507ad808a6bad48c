"""Does the application's memory level off? A long in-process run of finalize_block + commit, printing memory.

    python -m devnet.bench.memflat --blocks 300 --txs 1000            # 300,000 txs, default caches
    python -m devnet.bench.memflat --blocks 300 --trie-cache-mib 64

The txs (state/workload.py's realistic mix, signed) are generated first by a child process into a file, so the
generator's own memory (its wallets, the ids it follows up) is not in the measured process. Then one process,
one core: an `Application` on a fresh LevelDB state, genesis, and block after block `finalize_block` +
`commit` with what a node adds around them (node/gctune.py's collector settings, node/memtrim.py's
`malloc_trim` pace). Every `--every` blocks it prints: anonymous and file-backed RSS, what the bounded caches
hold by their own accounting (the trie page cache in bytes against `trie_cache_mib`, the StateCache's entries,
the signature cache), glibc's bytes in use and free (mallinfo2), CPython's arenas, LevelDB's own estimate of
its memory (memtables + block cache), and the CPU per tx of the interval. At the end: the least-squares growth
of anonymous RSS over the last half of the run, and what the caches held then. Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devnet.bench.memprobe import mallinfo, proc_status, pymalloc, slope_mib

_HEAD = struct.Struct(">QI")
_LEN = struct.Struct(">I")


def generate(path: Path, blocks: int, txs: int, seed: int, block_ms: int) -> None:
    """Write the genesis request and `blocks` blocks of about `txs` workload txs to `path`."""
    from state.workload import Workload

    wl = Workload(seed=seed, n_agencies=200, n_suppliers=2_000)  # egp bench's parties
    with path.open("wb") as f:
        meta = {"start_ms": wl.start_ms, "chain_id": wl.chain_id,
                "validators": [[p.hex(), w] for p, w in wl.genesis_validators()],
                "app_state": wl.genesis_app_state()}
        raw = json.dumps(meta).encode()
        f.write(_LEN.pack(len(raw)) + raw)
        for t, block in wl.blocks(blocks, txs, block_ms=block_ms):
            f.write(_HEAD.pack(t, len(block)))
            for tx in block:
                f.write(_LEN.pack(len(tx)) + tx)


def ensure_data(args: argparse.Namespace, tmp: Path) -> Path:
    """`args.data`, generated if it does not exist yet (or a file in `tmp`), in a process of its own so the
    generator's memory is not the measured process's (args: blocks, txs, seed, block_ms)."""
    data: Path = args.data or tmp / "txs.bin"
    if not data.exists():
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "devnet.bench.memflat", "--gen-only", "--data", str(data),
                        "--blocks", str(args.blocks), "--txs", str(args.txs), "--seed", str(args.seed),
                        "--block-ms", str(args.block_ms)], check=True)
        print(f"generated {args.blocks} blocks into {data} ({data.stat().st_size >> 20} MiB, "
              f"{time.perf_counter() - t0:.0f} s)", flush=True)
    return data


def read_blocks(f: object) -> Iterator[tuple[int, list[bytes]]]:
    read = f.read  # type: ignore[attr-defined]
    while True:
        head = read(_HEAD.size)
        if len(head) < _HEAD.size:
            return
        t, n = _HEAD.unpack(head)
        out = []
        for _ in range(n):
            (ln,) = _LEN.unpack(read(4))
            out.append(read(ln))
        yield t, out


def _mib(kib: int | None) -> float:
    return (kib or 0) / 1024


def run(args: argparse.Namespace, tmp: Path, data: Path) -> None:
    from state.abci import Application
    from state.kv_level import LevelKV

    kv = LevelKV(tmp / "db")
    app = Application(kv, trie_cache_bytes=args.trie_cache_mib << 20)
    saved = gc.get_threshold()
    try:
        _run(args, app, kv, data)
    finally:  # the collector as it was (a smoke test runs this inside pytest)
        gc.set_threshold(*saved)
        gc.unfreeze()
        kv.close()


def init_from_data(f: Any, app: Any) -> dict[str, Any]:
    """Read a workload file's header from `f` (left at its first block) and commit its genesis in `app`."""
    from state.abci import RequestInitChain, ValidatorUpdate

    (ln,) = _LEN.unpack(f.read(4))
    meta: dict[str, Any] = json.loads(f.read(ln))
    vals = [ValidatorUpdate(bytes.fromhex(p), w) for p, w in meta["validators"]]
    app.init_chain(RequestInitChain(meta["start_ms"], meta["chain_id"], vals, json.dumps(meta["app_state"]).encode()))
    app.commit()
    return meta


def _run(args: argparse.Namespace, app: Any, kv: Any, data: Path) -> None:
    from node import gctune, memtrim
    from state.abci import RequestFinalizeBlock

    with data.open("rb") as f:
        init_from_data(f, app)
        gctune.tune_for_node()
        print(f"{'block':>6} {'txs':>8} {'anon MiB':>8} {'file':>6} {'trie cache MiB':>14} {'pages':>7} "
              f"{'state cache':>11} {'sigs':>5} {'malloc use/free':>15} {'py arenas':>9} {'ldb MiB':>7} "
              f"{'us/tx':>6}", flush=True)
        series: list[tuple[float, float]] = []
        done = 0
        c0 = time.process_time()
        t_start = time.perf_counter()
        for h, (t, txs) in enumerate(read_blocks(f), start=app.height + 1):
            app.finalize_block(RequestFinalizeBlock(txs, h, t))
            app.commit()
            memtrim.after_commit(len(txs))
            done += len(txs)
            if h % args.every == 0:
                c1 = time.process_time()
                st = proc_status()
                mi = mallinfo()
                pm = pymalloc()
                try:
                    ldb = int(kv._level.db.get_property(b"leveldb.approximate-memory-usage") or 0) / 2**20
                except Exception:  # bench: a missing property prints 0
                    ldb = 0.0
                anon = _mib(st.get("RssAnon"))
                series.append((float(done), anon))
                trie = app.nodes
                print(f"{h:6d} {done:8,d} {anon:8.1f} {_mib(st.get('RssFile')):6.1f} "
                      f"{trie.weight / 2**20:7.1f} / {args.trie_cache_mib:<4d} {len(trie):7,d} "
                      f"{len(app.cache) if app.cache is not None else 0:11,d} {len(app._sig_cache):5d} "
                      f"{mi.get('in_use', 0) / 2**20:7.1f}/{mi.get('free', 0) / 2**20:<6.1f} "
                      f"{pm.get('arenas', -1):9d} {ldb:7.1f} "
                      f"{1e6 * (c1 - c0) / max(1, args.every * args.txs):6.0f}", flush=True)
                c0 = time.process_time()
        fit = slope_mib(series)  # x in txs here, not seconds: only the MiB figures are printed
        print(f"{done:,} txs in {time.perf_counter() - t_start:.0f} s; anonymous RSS {fit.get('first_mib', 0):.1f} -> "
              f"{fit.get('last_mib', 0):.1f} MiB, over the last half of the samples (least squares) "
              f"{fit.get('last_half_grown_mib', 0):+.1f} MiB")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=300)
    ap.add_argument("--txs", type=int, default=1_000)
    ap.add_argument("--every", type=int, default=10, help="print every this many blocks")
    ap.add_argument("--trie-cache-mib", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--block-ms", type=int, default=1_000, help="chain time between blocks")
    ap.add_argument("--data", type=Path, default=None, help="reuse (or keep) the generated txs in this file")
    ap.add_argument("--gen-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.gen_only:
        assert args.data is not None
        generate(args.data, args.blocks, args.txs, args.seed, args.block_ms)
        return
    tmp = Path(tempfile.mkdtemp(prefix="egp-memflat-"))
    try:
        data = ensure_data(args, tmp)
        gc.collect()
        run(args, tmp, data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

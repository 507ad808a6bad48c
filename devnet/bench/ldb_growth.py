"""LevelDB's cost as the database grows: a long in-process run of the node's whole write path.

    python -m devnet.bench.ldb_growth --blocks 500                   # 500 x ~1,000 workload txs
    python -m devnet.bench.ldb_growth --blocks 500 --data /tmp/txs.bin --write-buffer-mib 32 --max-file-mib 8
    python -m devnet.bench.ldb_growth --blocks 500 --data /tmp/txs.bin --shrink ix/th=12 --skip wal/   # what-ifs
    python -m devnet.bench.ldb_growth --insert-cost 16 64      # the commit thread's CPU per entry written

Why: LevelDB's background (compaction) thread took ~0.021 cores a node in a 40 s saturation run and 0.065 in
a 5-minute one (docs/performance.md): its cost grows with the database, and a py-spy profile does not show
it. Here one process writes what a node writes, block after block, from a fresh chain (genesis of
`egp bench`'s parties): the consensus WAL's records of the height (the proposal with its block, eight votes;
deleted when the next height starts, as node/wal.py does), then `BlockApplier.apply` (node/applier.py, the
node's own code: the block and its seen commit in one synced write, then finalize, results, index, the
app's commit and the node state in the second), on one `LevelKV` with the node's namespaces. The txs are
state/workload.py's realistic mix, generated once by a child process (devnet/bench/memflat.py's file format,
`--data` keeps it for the next run); their signatures are taken as verified (the node's verify thread does
that work), so the run is the commit thread's and LevelDB's.

Every `--every` blocks it prints, for that interval: the CPU per committed tx of this thread and of LevelDB's
own threads (/proc/self/task/*/stat: every thread but this one, i.e. the compaction thread), the bytes
written per tx, the database's size on disk and its files per level, what LevelDB's compactions read and
wrote (its `leveldb.stats`), and the anonymous / file-backed RSS. At the end the bytes written per tx by key
family (written, and on disk: what compactions carry), the LevelDB threads' CPU per tx by quarter of the run,
and the options in force. LevelDB options come from state/kv_level.py; the flags override them for this run
only. What-ifs (`--skip`, `--shrink`): a family not stored, or its values cut, to see what it costs LevelDB
before anyone changes a layout. Run variants side by side (two at once on this machine) and compare the
compaction MB as well as the CPU: the CPU per interval varies by ~15 % between identical runs, compaction
bytes by ~5 %. Prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import itertools
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from devnet.bench.memflat import _LEN, ensure_data, read_blocks
from devnet.bench.memprobe import proc_status

_TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of each thread of this process, by native thread id."""
    out: dict[int, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:  # a thread that just ended
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)
    return out


def family(key: bytes) -> str:
    """The key family a write belongs to, for the bytes-written table (namespaces of node/assemble.py)."""
    for ns, more in ((b"app/", 1), (b"ix/", 2), (b"blockstore/", 1), (b"node/", 0), (b"wal/", 0)):
        if key.startswith(ns):
            return key[: len(ns) + more].decode(errors="replace")
    return key[:1].decode(errors="replace")


def dir_bytes(path: Path) -> int:
    """The size of the files in `path` (a table that a compaction deletes meanwhile counts 0)."""
    total = 0
    for p in path.iterdir():
        with contextlib.suppress(FileNotFoundError):
            total += p.stat().st_size
    return total


def level_stats(db: Any) -> tuple[list[int], float, float]:
    """(files per level, MB read and MB written by compactions so far) from LevelDB's `leveldb.stats`."""
    raw = (db.get_property(b"leveldb.stats") or b"").decode()
    files, read, written = [0] * 7, 0.0, 0.0
    for line in raw.splitlines():
        parts = line.split()
        if len(parts) == 6 and parts[0].isdigit():
            files[int(parts[0])] = int(parts[1])
            read += float(parts[4])
            written += float(parts[5])
    return files, read, written


# state/kv_level.py's options the flags override: (its name there, the flag, the flag's unit as a shift)
_OPTIONS = (("WRITE_BUFFER_BYTES", "write_buffer_mib", 20), ("MAX_FILE_BYTES", "max_file_mib", 20),
            ("BLOCK_BYTES", "block_kib", 10), ("MAX_OPEN_FILES", "max_open_files", 0))


class _Wal:
    """A record with the bytes of a consensus message: what `ConsensusWAL.append` stores is `msg.encode()`."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def encode(self) -> bytes:
        return self.raw


def run(args: argparse.Namespace, tmp: Path, data: Path) -> None:
    from node import gctune
    from node.applier import BlockApplier
    from node.blockstore import BlockStore
    from node.genesis import Genesis, GenesisValidator
    from node.indexer import Indexer
    from node.nodeapp import NodeApp
    from node.statestore import StateStore, state_from_genesis
    from node.wal import ConsensusWAL
    from state import chain, kv_level
    from state.abci import Application
    from state.errors import TxError
    from state.txs import decode_tx

    options = {name: getattr(kv_level, name) for name, _, _ in _OPTIONS}
    for name, flag, shift in _OPTIONS:
        if getattr(args, flag):
            setattr(kv_level, name, getattr(args, flag) << shift)
    saved_gc = gc.get_threshold()
    try:
        kv = kv_level.LevelKV(tmp / "db")
        in_force = (f"LevelDB: memtable {kv_level.WRITE_BUFFER_BYTES >> 20} MiB, max file "
                    f"{(kv_level.MAX_FILE_BYTES or 2 << 20) >> 20} MiB, block {(kv_level.BLOCK_BYTES or 4096) >> 10} "
                    f"KiB, max_open_files {kv_level.MAX_OPEN_FILES}, compression {kv_level.COMPRESSION}")
    finally:  # the module's options as they were (a smoke test runs this inside pytest)
        for name, value in options.items():
            setattr(kv_level, name, value)
    db = kv._level.db
    written: collections.Counter[str] = collections.Counter()
    entries: collections.Counter[str] = collections.Counter()
    write = kv._level.write

    skip = set(args.skip)
    shrink = {f: int(n) for f, _, n in (x.partition("=") for x in args.shrink)}

    def counting_write(ops: list[tuple[bytes, bytes | None]], sync: bool) -> None:
        for k, v in ops:
            f = family(k)
            written[f] += len(k) + (len(v) if v is not None else 0)
            entries[f] += 1
        if skip:
            ops = [(k, v) for k, v in ops if family(k) not in skip]
        if shrink:
            ops = [(k, v if v is None or (n := shrink.get(family(k))) is None else v[:n]) for k, v in ops]
        write(ops, sync)

    kv._level.write = counting_write  # type: ignore[method-assign]
    gets = [0]
    db_get = db.get

    def counting_get(key: bytes) -> bytes | None:
        gets[0] += 1
        value: bytes | None = db_get(key)
        return value

    kv._level.get = counting_get  # type: ignore[method-assign]
    try:
        with data.open("rb") as f:
            (ln,) = _LEN.unpack(f.read(4))
            meta = json.loads(f.read(ln))
            genesis = Genesis(meta["chain_id"], meta["start_ms"] * 1_000_000,
                              tuple(GenesisValidator(bytes.fromhex(p), w) for p, w in meta["validators"]),
                              app_state=meta["app_state"])
            store = BlockStore(kv)
            app = Application(kv.prefixed(b"app/"), trie_cache_bytes=args.trie_cache_mib << 20,
                              stored_response=None if args.replay_record else store.load_results)
            node_app = NodeApp(app)
            states = StateStore(kv, b"node/")
            indexer = Indexer(kv, b"ix/")
            wal = ConsensusWAL(kv.prefixed(b"wal/"))
            st = state_from_genesis(genesis, node_app.init_chain(genesis))
            states.save(st)
            applier = BlockApplier(node_app, store, kv, states, index=indexer.index_chain_block)
            gctune.tune_for_node()
            vals = [v.address for v in genesis.validators]
            vote = _Wal(b"\x00" * 160)  # a VoteMsg is ~160 bytes (type, height, round, block id, address, time, sig)
            last_commit = chain.Commit.empty()
            me = threading.get_native_id()
            print(f"{in_force}; trie cache {args.trie_cache_mib} MiB; app replay record "
                  f"{'written' if args.replay_record else 'left to the block store'}"
                  f"{'; NOT stored (what-if): ' + ', '.join(sorted(skip)) if skip else ''}"
                  f"{'; values cut (what-if): ' + ', '.join(args.shrink) if shrink else ''}", flush=True)
            print(f"{'block':>6} {'txs':>8} {'main us/tx':>10} {'ldb us/tx':>9} {'B/tx':>6} {'gets/tx':>7} "
                  f"{'db MB':>6} {'files L0-L4':>18} {'cmp rd/wr MB':>13} {'anon':>6} {'file':>6}", flush=True)
            cpu0, done, w0, g0 = thread_cpu(), 0, 0, gets[0]
            ldb_series: list[tuple[int, float]] = []  # (txs in the interval, LevelDB threads' CPU s)
            t_start = time.perf_counter()
            for t, txs in itertools.islice(read_blocks(f), args.blocks):
                for raw in txs:  # signatures verified by the node's verify thread before the block commits
                    with contextlib.suppress(TxError):  # the workload's invalid share: finalize refuses them
                        app.admit_verified(decode_tx(raw))
                block = chain.build_block(st.block_context(), time_ms=t, proposer_address=vals[st.height % len(vals)],
                                          txs=txs, last_commit=last_commit)
                h = block.header.height
                wal.start_height(h)
                # the proposal, with its block
                wal.append(h, _Wal(b"\x00" * 120 + block.packed()), sync=False)  # type: ignore[arg-type]
                for i in range(8):  # prevotes and precommits; our own two fsynced
                    wal.append(h, vote, sync=i in (0, 4))  # type: ignore[arg-type]
                bid = block.block_id()
                seen = chain.Commit(h, 0, bid, tuple(chain.CommitSig(chain.FLAG_COMMIT, a, t + 500 + i, b"\x01" * 64)
                                                     for i, a in enumerate(vals)))
                st = applier.apply(st, block, seen).state
                last_commit = seen
                done += len(txs)
                if h % args.every == 0:
                    cpu1 = thread_cpu()
                    n = done - sum(k for k, _ in ldb_series)
                    main = cpu1.get(me, 0.0) - cpu0.get(me, 0.0)
                    ldb = sum(c - cpu0.get(tid, 0.0) for tid, c in cpu1.items() if tid != me)
                    ldb_series.append((n, ldb))
                    cpu0 = cpu1
                    w = sum(written.values())
                    files, rd, wr = level_stats(db)
                    size = dir_bytes(tmp / "db") / 1e6
                    s = proc_status()
                    print(f"{h:6d} {done:8,d} {1e6 * main / n:10.0f} {1e6 * ldb / n:9.1f} {(w - w0) / n:6.0f} "
                          f"{(gets[0] - g0) / n:7.2f} "
                          f"{size:6.0f} {' '.join(str(x) for x in files[:5]):>18} {rd:6.0f}/{wr:<6.0f} "
                          f"{(s.get('RssAnon') or 0) / 1024:6.1f} {(s.get('RssFile') or 0) / 1024:6.1f}", flush=True)
                    w0, g0 = w, gets[0]
        total = sum(written.values())
        print(f"{done:,} txs in {time.perf_counter() - t_start:.0f} s; app hash {app.app_hash.hex().upper()}")
        cuts = [len(ldb_series) * i // 4 for i in range(5)]
        quarters = [ldb_series[a:b] for a, b in itertools.pairwise(cuts) if b > a]
        print("LevelDB threads' CPU per tx by quarter of the run: " + " / ".join(
            f"{1e6 * sum(c for _, c in part) / max(1, sum(k for k, _ in part)):.1f}" for part in quarters) + " us")
        files, rd, wr = level_stats(db)
        print(f"compactions read {rd:,.0f} MB, wrote {wr:,.0f} MB ({wr * 1e6 / max(total, 1):.2f} x the "
              f"{total / 1e6:,.0f} MB written); files per level {files[:5]}")
        print("written per tx by family (bytes / entries):")
        for fam in sorted(written, key=lambda k: -written[k]):
            print(f"  {fam:12s} {written[fam] / done:8.0f} B  {entries[fam] / done:6.2f}  "
                  f"({100 * written[fam] / total:4.1f} %)")
        print(f"  {'total':12s} {total / done:8.0f} B")
        sizes = {fam: db.approximate_size(fam.encode(), fam.encode() + b"\xff") for fam in written}
        print("on disk per tx by family (LevelDB's approximate sizes, what compactions carry): " + ", ".join(
            f"{fam} {sizes[fam] / done:,.0f}" for fam in sorted(sizes, key=lambda k: -sizes[k]) if sizes[fam]))
    finally:
        kv.close()
        gc.set_threshold(*saved_gc)
        gc.unfreeze()


def insert_cost(args: argparse.Namespace) -> None:
    """`--insert-cost`: the commit thread's CPU per LevelDB entry of a block's batch, building the batch (plyvel's
    puts) and writing it (LevelDB's log append and memtable inserts), for each memtable size given: blocks of
    random entries of the node's sizes (~9 entries a tx in the node: the families' table) into a filling
    memtable (`--blocks`, at most 60, of 9 x `--txs` entries), interleaved, best of 3 rounds."""
    import random

    import plyvel

    from state import kv_level

    rnd = random.Random(args.seed)
    per_block = 9 * args.txs
    blocks = [[(b"app/t" + rnd.randbytes(rnd.choice((3, 20, 33))), rnd.randbytes(rnd.choice((0, 40, 300, 400))))
               for _ in range(per_block)] for _ in range(min(args.blocks, 60))]
    warm = len(blocks) // 6  # the memtable holds something already, as in a running node
    best: dict[int, tuple[float, float]] = {}
    for _ in range(3):
        for mib in args.insert_cost:
            path = Path(tempfile.mkdtemp(prefix="egp-insert-", dir=args.dir))
            db = plyvel.DB(str(path), create_if_missing=True, write_buffer_size=mib << 20,
                           compression=kv_level.COMPRESSION, bloom_filter_bits=kv_level.BLOOM_BITS)
            build = write = 0.0
            try:
                for i, ops in enumerate(blocks):
                    t0 = time.process_time()
                    wb = db.write_batch(transaction=True)
                    put = wb.put
                    for k, v in ops:
                        put(k, v)
                    t1 = time.process_time()
                    wb.write()
                    if i >= warm:
                        build += t1 - t0
                        write += time.process_time() - t1
            finally:
                db.close()
                shutil.rmtree(path, ignore_errors=True)
            n = (len(blocks) - warm) * per_block
            b, w = best.get(mib, (1e9, 1e9))
            best[mib] = (min(b, 1e6 * build / n), min(w, 1e6 * write / n))
    for mib, (b, w) in best.items():
        print(f"memtable {mib:3d} MiB: build {b:.2f} us per entry, write (log + memtable insert) {w:.2f} us per entry")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=500, help="blocks to commit (a longer --data file is cut)")
    ap.add_argument("--txs", type=int, default=1_000)
    ap.add_argument("--every", type=int, default=25, help="print every this many blocks")
    ap.add_argument("--trie-cache-mib", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--block-ms", type=int, default=600, help="chain time between blocks")
    ap.add_argument("--data", type=Path, default=None, help="reuse (or keep) the generated txs in this file")
    ap.add_argument("--write-buffer-mib", type=int, default=0, help="LevelDB's memtable (default: state/kv_level.py)")
    ap.add_argument("--max-file-mib", type=int, default=0, help="LevelDB's table size (default: state/kv_level.py)")
    ap.add_argument("--block-kib", type=int, default=0, help="LevelDB's block size (default: state/kv_level.py)")
    ap.add_argument("--max-open-files", type=int, default=0, help="LevelDB's table cache (default: state/kv_level.py)")
    ap.add_argument("--replay-record", action="store_true",
                    help="the app writes its own replay record (as before 2026-11-26 session 6)")
    ap.add_argument("--skip", action="append", default=[], metavar="FAMILY",
                    help="what-if: do not store this key family (e.g. ix/th, wal/; repeatable); counted as written. "
                         "Only for families nothing in the run reads back")
    ap.add_argument("--shrink", action="append", default=[], metavar="FAMILY=N",
                    help="what-if: store only the first N bytes of this family's values (e.g. ix/th=12)")
    ap.add_argument("--dir", type=Path, default=None, help="where the database goes (a temporary directory)")
    ap.add_argument("--insert-cost", type=int, nargs="+", metavar="MIB", default=None,
                    help="instead: the commit thread's CPU per entry written, for these memtable sizes (MiB)")
    args = ap.parse_args(argv)
    if args.insert_cost:
        insert_cost(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="egp-ldb-growth-", dir=args.dir))
    try:
        data = ensure_data(args, tmp)
        run(args, tmp, data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

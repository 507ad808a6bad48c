"""LevelDB's cost as the database grows: a long in-process run of the node's whole write path.

    python -m devnet.bench.ldb_growth --blocks 500                   # 500 x ~1,000 workload txs
    python -m devnet.bench.ldb_growth --blocks 500 --data /tmp/txs.bin --write-buffer-mib 32 --max-file-mib 8
    python -m devnet.bench.ldb_growth --blocks 500 --data /tmp/txs.bin --shrink ix/th=12 --skip wal/   # what-ifs
    python -m devnet.bench.ldb_growth --blocks 400 --data /tmp/txs.bin --route blockstore/=hist --route ix/=hist
    python -m devnet.bench.ldb_growth --blocks 400 --data /tmp/txs.bin --defer-trie 12:8 --bloom-bits 0
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
before anyone changes a layout; `--route` puts families in LevelDB instances of their own (each its own
levels: LevelDB 1.22's level sizes are fixed, so N instances are N times the level base; per-instance levels
printed at the end), `--defer-trie` writes the trie's top pages only every N-th block. The commit thread's
CPU is printed with its part inside LevelDB's writes (log append + memtable inserts, fsyncs), and the sum
with LevelDB's threads by quarter: an option that cuts one and raises the other is judged on that sum. Run
variants side by side (two at once on this machine) and compare the compaction MB as well as the CPU: the
CPU per interval varies by ~15 % between identical runs, compaction bytes by ~5 %. Prints numbers, asserts
nothing.
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
from collections.abc import Iterator
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


def level_table(db: Any) -> str:
    """LevelDB's per-level line (files, MB, compaction MB read / written into the level) for each level in use."""
    raw = (db.get_property(b"leveldb.stats") or b"").decode()
    out = []
    for line in raw.splitlines():
        parts = line.split()
        if len(parts) == 6 and parts[0].isdigit():
            out.append(f"L{parts[0]} {parts[1]} files {float(parts[2]):.0f} MB, rd {float(parts[4]):,.0f} / "
                       f"wr {float(parts[5]):,.0f}")
    return "; ".join(out)


# state/kv_level.py's options the flags override: (its name there, the flag, the flag's unit as a shift)
_OPTIONS = (("WRITE_BUFFER_BYTES", "write_buffer_mib", 20), ("MAX_FILE_BYTES", "max_file_mib", 20),
            ("BLOCK_BYTES", "block_kib", 10), ("MAX_OPEN_FILES", "max_open_files", 0),
            ("BLOOM_BITS", "bloom_bits", 0), ("BLOCK_RESTART_INTERVAL", "restart_interval", 0))


def open_kv(path: Path, args: argparse.Namespace, write_buffer_mib: int | None = None) -> tuple[Any, str]:
    """A `LevelKV` at `path` with state/kv_level.py's options, overridden for this one open by the flags (and
    `write_buffer_mib`), and those options as text. The module's options are left as they were (a smoke test
    runs this inside pytest)."""
    from state import kv_level

    options = {name: getattr(kv_level, name) for name, _, _ in _OPTIONS}
    try:
        for name, flag, shift in _OPTIONS:
            if getattr(args, flag) is not None:
                setattr(kv_level, name, getattr(args, flag) << shift)
        if write_buffer_mib is not None:
            kv_level.WRITE_BUFFER_BYTES = write_buffer_mib << 20
        kv = kv_level.LevelKV(path)
        return kv, (f"memtable {kv_level.WRITE_BUFFER_BYTES >> 20} MiB, max file "
                    f"{(kv_level.MAX_FILE_BYTES or 2 << 20) >> 20} MiB, block {(kv_level.BLOCK_BYTES or 4096) >> 10} "
                    f"KiB, restart interval {kv_level.BLOCK_RESTART_INTERVAL or 16}, bloom bits "
                    f"{kv_level.BLOOM_BITS}, max_open_files {kv_level.MAX_OPEN_FILES}, compression "
                    f"{kv_level.COMPRESSION}")
    finally:
        for name, value in options.items():
            setattr(kv_level, name, value)


def _write_db(db: Any, ops: list[tuple[bytes, bytes | None]], sync: bool) -> None:
    from state.kv_level import write_ops

    write_ops(db, ops, sync)


def parse_routes(specs: list[str]) -> list[tuple[str, str, int | None]]:
    """`--route FAMILY=NAME[:MIB]` → (family prefix, instance name, its memtable MiB or None)."""
    out = []
    for spec in specs:
        fam, sep, rest = spec.partition("=")
        name, _, mib = rest.partition(":")
        if not sep or not fam or not name or name == "main":
            raise SystemExit(f"--route {spec!r}: expected FAMILY=NAME[:MIB] (NAME not 'main')")
        out.append((fam, name, int(mib) if mib else None))
    return out


class _Layout:
    """The what-if storage layouts, behind the node's one `LevelKV` root: families routed to LevelDB instances
    of their own (`--route`), and trie pages above a depth held back and written only every N-th block
    (`--defer-trie`; meanwhile gets read the held versions, so the run stays exact: the app hash shows it).
    Routing is by key family (`family`), so a route's FAMILY is a family or a prefix of families."""

    def __init__(self, main_db: Any, write: Any, routes: dict[str, Any], defer: tuple[int, int] | None) -> None:
        self.main_db, self._write, self.routes = main_db, write, routes
        self._by_family: dict[str, Any] = {}
        self.defer_depth, self.defer_every = defer or (0, 0)
        self.pending: dict[bytes, bytes | None] = {}
        self.app_commits = 0
        self.own_cpu = 0.0  # this thread's CPU in the routing and holding back (Python a real layout would not run)

    def db_of(self, fam: str) -> Any:
        db = self._by_family.get(fam)
        if db is None:
            db = self.main_db
            for prefix in sorted(self.routes, key=len, reverse=True):
                if fam.startswith(prefix):
                    db = self.routes[prefix]
                    break
            self._by_family[fam] = db
        return db

    def write(self, ops: list[tuple[bytes, bytes | None]], sync: bool) -> None:
        t0 = time.thread_time()
        if self.defer_depth:
            kept, trie = [], False
            for k, v in ops:
                if k.startswith(b"app/t"):
                    trie = True
                    if int.from_bytes(k[5:7], "big") < self.defer_depth:
                        self.pending[k] = v
                        continue
                kept.append((k, v))
            if trie:
                self.app_commits += 1
                if self.app_commits % self.defer_every == 0:
                    kept.extend(self.pending.items())
                    self.pending.clear()
            ops = kept
        if not self.routes:
            self.own_cpu += time.thread_time() - t0
            self._write(ops, sync)
            return
        parts: dict[int, tuple[Any, list[tuple[bytes, bytes | None]]]] = {}
        for k, v in ops:
            db = self.db_of(family(k))
            parts.setdefault(id(db), (db, []))[1].append((k, v))
        self.own_cpu += time.thread_time() - t0
        for db, part in parts.values():  # a crash between two would break atomicity: a what-if, not a design
            _write_db(db, part, sync)

    def get(self, key: bytes) -> bytes | None:
        if self.pending and key in self.pending:
            return self.pending[key]
        value: bytes | None = (self.db_of(family(key)) if self.routes else self.main_db).get(key)
        return value

    def scan(self, start: bytes | None, stop: bytes | None, reverse: bool) -> Iterator[tuple[bytes, bytes]]:
        db = self.db_of(family(start or stop or b"")) if self.routes else self.main_db
        it = db.iterator(start=start, stop=stop, reverse=reverse)
        try:
            yield from it
        finally:
            it.close()


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
    from state import chain
    from state.abci import Application
    from state.errors import TxError
    from state.txs import decode_tx

    saved_gc = gc.get_threshold()
    kv, in_force = open_kv(tmp / "db", args)
    in_force = f"LevelDB: {in_force}"
    db = kv._level.db
    route_kvs: dict[str, Any] = {}
    for _, name, mib in parse_routes(args.route):
        if name not in route_kvs:
            route_kvs[name], text = open_kv(tmp / name, args, mib)
            in_force += f"; instance {name!r}: {text.split(',')[0]}"
    routes = {fam: route_kvs[name]._level.db for fam, name, _ in parse_routes(args.route)}
    defer = None
    if args.defer_trie:
        d, _, n = args.defer_trie.partition(":")
        defer = (int(d), int(n or 1))
    layout = _Layout(db, kv._level.write, routes, defer)
    written: collections.Counter[str] = collections.Counter()
    entries: collections.Counter[str] = collections.Counter()
    trie_depth: collections.Counter[int] = collections.Counter()  # bytes written per trie page depth
    trie_depth_n: collections.Counter[int] = collections.Counter()
    write = layout.write if (routes or defer) else kv._level.write
    # this thread's CPU inside LevelDB's calls: writes (log append, memtable inserts, fsyncs) and gets. What an
    # option of LevelDB's changes in the commit thread; the rest of its CPU is the node's Python, the same
    # whatever LevelDB does, and noisier than this on a loaded machine.
    write_cpu = [0.0]
    thread_time = time.thread_time

    skip = set(args.skip)
    shrink = {f: int(n) for f, _, n in (x.partition("=") for x in args.shrink)}

    def counting_write(ops: list[tuple[bytes, bytes | None]], sync: bool) -> None:
        for k, v in ops:
            f = family(k)
            size = len(k) + (len(v) if v is not None else 0)
            written[f] += size
            entries[f] += 1
            if f == "app/t":
                depth = int.from_bytes(k[5:7], "big")
                trie_depth[depth] += size
                trie_depth_n[depth] += 1
        if skip:
            ops = [(k, v) for k, v in ops if family(k) not in skip]
        if shrink:
            ops = [(k, v if v is None or (n := shrink.get(family(k))) is None else v[:n]) for k, v in ops]
        t0 = thread_time()
        write(ops, sync)
        write_cpu[0] += thread_time() - t0

    kv._level.write = counting_write
    gets = [0]
    db_get = layout.get if (routes or defer) else db.get

    def counting_get(key: bytes) -> bytes | None:
        gets[0] += 1
        t0 = thread_time()
        value: bytes | None = db_get(key)
        write_cpu[0] += thread_time() - t0
        return value

    kv._level.get = counting_get
    kv.get = counting_get  # the root view's own fast path reads plyvel directly
    if routes:
        kv._level.scan = layout.scan
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
            deferred = f"; trie pages above depth {defer[0]} written every {defer[1]} blocks (what-if)" if defer else ""
            print(f"{in_force}; trie cache {args.trie_cache_mib} MiB; app replay record "
                  f"{'written' if args.replay_record else 'left to the block store'}"
                  f"{'; NOT stored (what-if): ' + ', '.join(sorted(skip)) if skip else ''}"
                  f"{'; values cut (what-if): ' + ', '.join(args.shrink) if shrink else ''}"
                  f"{'; routed (what-if): ' + ', '.join(args.route) if routes else ''}"
                  f"{deferred}", flush=True)
            print(f"{'block':>6} {'txs':>8} {'main us/tx':>10} {'ldb us/tx':>9} {'in ldb':>8} {'B/tx':>6} "
                  f"{'gets/tx':>7} {'db MB':>6} {'files L0-L4':>18} {'cmp rd/wr MB':>13} {'anon':>6} {'file':>6}",
                  flush=True)
            cpu0, done, w0, g0, wc0 = thread_cpu(), 0, 0, gets[0], 0.0
            # per interval: (txs, this thread's CPU s, LevelDB threads' CPU s, this thread's CPU in LevelDB writes)
            series: list[tuple[int, float, float, float]] = []
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
                    n = done - sum(x[0] for x in series)
                    main = cpu1.get(me, 0.0) - cpu0.get(me, 0.0)
                    ldb = sum(c - cpu0.get(tid, 0.0) for tid, c in cpu1.items() if tid != me)
                    series.append((n, main, ldb, write_cpu[0] - wc0))
                    cpu0, wc0 = cpu1, write_cpu[0]
                    w = sum(written.values())
                    files, rd, wr = level_stats(db)
                    for other in route_kvs.values():
                        rd, wr = rd + level_stats(other._level.db)[1], wr + level_stats(other._level.db)[2]
                    size = sum(dir_bytes(tmp / name) for name in ("db", *route_kvs)) / 1e6
                    s = proc_status()
                    print(f"{h:6d} {done:8,d} {1e6 * main / n:10.0f} {1e6 * ldb / n:9.1f} "
                          f"{1e6 * series[-1][3] / n:8.1f} {(w - w0) / n:6.0f} {(gets[0] - g0) / n:7.2f} "
                          f"{size:6.0f} {' '.join(str(x) for x in files[:5]):>18} {rd:6.0f}/{wr:<6.0f} "
                          f"{(s.get('RssAnon') or 0) / 1024:6.1f} {(s.get('RssFile') or 0) / 1024:6.1f}", flush=True)
                    w0, g0 = w, gets[0]
        total = sum(written.values())
        print(f"{done:,} txs in {time.perf_counter() - t_start:.0f} s; app hash {app.app_hash.hex().upper()}")
        cuts = [len(series) * i // 4 for i in range(5)]
        quarters = [series[a:b] for a, b in itertools.pairwise(cuts) if b > a]

        def by_quarter(cpu: Any) -> str:
            return " / ".join(f"{1e6 * sum(cpu(x) for x in part) / max(1, sum(x[0] for x in part)):.1f}"
                              for part in quarters)

        print(f"LevelDB threads' CPU per tx by quarter of the run: {by_quarter(lambda x: x[2])} us")
        print(f"this (commit) thread's CPU per tx by quarter: {by_quarter(lambda x: x[1])} us (in LevelDB's "
              f"writes and gets: {by_quarter(lambda x: x[3])})")
        print(f"sum (this thread + LevelDB threads) per tx by quarter: {by_quarter(lambda x: x[1] + x[2])} us")
        print(f"LevelDB's part of it (LevelDB threads + this thread in LevelDB's writes and gets): "
              f"{by_quarter(lambda x: x[2] + x[3])} us")
        if routes or defer:
            print(f"of this thread's CPU, the what-if's own routing / holding back in Python: "
                  f"{1e6 * layout.own_cpu / max(done, 1):.1f} us per tx over the run (a real layout would not pay it)")
        files, rd, wr = level_stats(db)
        for other in route_kvs.values():
            rd, wr = rd + level_stats(other._level.db)[1], wr + level_stats(other._level.db)[2]
        print(f"compactions read {rd:,.0f} MB, wrote {wr:,.0f} MB ({wr * 1e6 / max(total, 1):.2f} x the "
              f"{total / 1e6:,.0f} MB written); files per level {files[:5]}")
        for name, d in (("main", db), *((k, v._level.db) for k, v in route_kvs.items())):
            print(f"  instance {name}: {level_table(d)}")
        print("written per tx by family (bytes / entries):")
        for fam in sorted(written, key=lambda k: -written[k]):
            print(f"  {fam:12s} {written[fam] / done:8.0f} B  {entries[fam] / done:6.2f}  "
                  f"({100 * written[fam] / total:4.1f} %)")
        print(f"  {'total':12s} {total / done:8.0f} B")
        if trie_depth:
            print("trie pages written per tx by page depth (bytes / entries): " + ", ".join(
                f"{d}: {trie_depth[d] / done:.0f} / {trie_depth_n[d] / done:.3f}" for d in sorted(trie_depth)))
        sizes = {fam: layout.db_of(fam).approximate_size(fam.encode(), fam.encode() + b"\xff") for fam in written}
        print("on disk per tx by family (LevelDB's approximate sizes, what compactions carry): " + ", ".join(
            f"{fam} {sizes[fam] / done:,.0f}" for fam in sorted(sizes, key=lambda k: -sizes[k]) if sizes[fam]))
    finally:
        kv.close()
        for other in route_kvs.values():
            other.close()
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
    ap.add_argument("--write-buffer-mib", type=int, default=None,
                    help="LevelDB's memtable (default: state/kv_level.py)")
    ap.add_argument("--max-file-mib", type=int, default=None, help="LevelDB's table size (default: state/kv_level.py)")
    ap.add_argument("--block-kib", type=int, default=None, help="LevelDB's block size (default: state/kv_level.py)")
    ap.add_argument("--max-open-files", type=int, default=None,
                    help="LevelDB's table cache (default: state/kv_level.py)")
    ap.add_argument("--bloom-bits", type=int, default=None,
                    help="bloom filter bits per key, 0: no filter (default: state/kv_level.py)")
    ap.add_argument("--restart-interval", type=int, default=None,
                    help="LevelDB's block_restart_interval, keys between restart points (default: state/kv_level.py)")
    ap.add_argument("--route", action="append", default=[], metavar="FAMILY=NAME[:MIB]",
                    help="what-if: keys of this family (or families with this prefix, e.g. ix/) go to a LevelDB "
                         "instance NAME of their own (same options, memtable MIB if given); repeatable, several "
                         "families may share a NAME. Not atomic across instances: a measurement, not a design")
    ap.add_argument("--defer-trie", default=None, metavar="DEPTH[:N]",
                    help="what-if: trie pages whose top is above DEPTH (app/t keys with depth < DEPTH, e.g. 12: the "
                         "273 pages every block rewrites) are written only every N-th block, their latest version")
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

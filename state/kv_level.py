"""The KV protocol over LevelDB (plyvel): the node's only durable store.

Every multi-key change goes through `write_batch(transaction=True)`, which LevelDB applies atomically
(one log record), optionally fsynced; a crash leaves each batch wholly present or wholly absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import plyvel

from state.kv import Op, View

# LevelDB's read options. Its default block cache is 8 MiB: with a state of a few hundred thousand
# instruments most reads of trie nodes and records below the application's own caches missed it and paid a
# read + decompression of a 4 KiB block (18 us per get measured, 9.5 us with 64 MiB). The cache is bounded,
# so memory plateaus. The bloom filter (10 bits per key, ~1 % false positives) lets a get of an absent key
# (new records, index probes) skip the tables that do not hold it; it does not change any stored value.
#
# Since the tables are written without compression (COMPRESSION below, session 4), this cache holds nothing
# for them: LevelDB 1.22 reads an mmapped table's uncompressed blocks in place and does not cache them ("do not
# double-cache"; 200,000 gets over a 40 MB database leave `leveldb.approximate-memory-usage` at the memtable's
# 4 KiB, session 7). It serves only blocks of Snappy tables an older home still has, until compactions rewrite
# them, and costs nothing otherwise (it allocates as it fills). So the trie's pages (state/trie.py
# `CachedNodes`) and the state records (state/state_cache.py) are not held twice in the node's own memory:
# their stored bytes sit once more only in the OS file cache (file-backed RSS, see below), and a trie page
# miss is a get from mapped memory plus its decode.
BLOCK_CACHE_BYTES = 32 << 20
# Session 8 (ldb_growth, 64 MiB memtable, three pairs side by side at 400-600 blocks): without the filter
# (`--bloom-bits 0`) LevelDB's part of the CPU per tx by quarter was -0.8/-3.5/-0.5/-3.0, +0.7/-1.5/-2.7/-9.7
# and -0.5/-3.3/-4.9/-4.0 us (the compaction thread no longer builds a filter for each table it writes; the
# commit thread's gets, present keys, cost the same). Kept at 10: the gain is ~1.5 % of the commit path at the
# 5-minute state, and the reads of absent keys the bench does not run (RPC `tx` of an unknown hash, any read
# the app's key filter does not answer) would then search every level.
BLOOM_BITS = 10
# What LevelDB holds in memory, and what a node's RSS shows of it (devnet/bench/memprobe.py measures both):
# the block cache above, two memtables of `write_buffer_size` (WRITE_BUFFER_BYTES below) and the table cache of
# MAX_OPEN_FILES - 10 open tables. On 64-bit Linux LevelDB reads an open table through mmap, and its index
# block and bloom filter are read in place, so every page of a table that was read (gets, compactions) counts
# in the process's RSS as *file-backed* memory: RSS follows the size of the database on disk (~1.5 KB per
# committed tx under the bench workload) up to MAX_OPEN_FILES tables of ~2 MiB. Those are pages of the OS
# file cache: clean, shared, dropped by the kernel under memory pressure, and the same memory a read() would
# have cached outside the process. The node's own memory is the *anonymous* RSS, bounded by the caches.
# A smaller table cache would bound the mapped bytes but re-open tables on reads: with 64 tables cached and
# 80 in the database a random get cost 51.5 us instead of 16.4 us (process CPU, 100,000 gets).
MAX_OPEN_FILES = 1000  # LevelDB's default, written out so the bound above is visible
# No block compression (LevelDB's default is Snappy). What we store is mostly SHA-256 output (trie pages, tx
# hashes in the index, signatures in blocks), which Snappy cannot shrink, yet LevelDB's background thread
# compresses every table block again at each compaction (and reads decompress them). On the node's commit
# path (`python -m devnet.bench.commit_bench --state 50000 --blocks 20 --compression snappy|none`: finalize,
# results, index, the app's commit, 1,000-tx blocks) LevelDB's threads took 240 us of CPU per committed tx
# with Snappy and 117 us without (process CPU 489 -> 358 us per tx), for a database 10 % larger on disk.
# A py-spy profile does not show these threads. Tables written with Snappy stay readable (each block records
# its own compression), so existing homes need nothing.
COMPRESSION = None
# The memtable: larger than LevelDB's 4 MiB (16 MiB since session 4; 64 MiB tried in session 8, see the end).
# A block's commit writes ~3 MB (1,000 txs), so a 4 MiB memtable went to a level-0 table every block or two,
# and the pages of the trie's top (rewritten by every block) and the other hot keys were compacted again and again.
# commit_bench --state 50000 --blocks 60 (LevelDB threads' CPU per committed tx): 4 MiB 131 us, 16 MiB 69 us,
# 32 MiB 47 us; the synced write in the commit thread 13.9 -> 15.4 -> 18.8 us (a deeper skip list). Memory:
# up to two memtables, bounded; a restart replays up to one memtable's log.
# At scale (session 6, `python -m devnet.bench.ldb_growth --blocks 500`: the node's whole write path from genesis
# to 500,000 workload txs) LevelDB's thread grows from ~7 to ~72 us per tx as the database grows (compactions
# write ~5.7x what the node writes: its level sizes are fixed, 10 MB for L1 and x10 a level, so each byte that
# reaches L2 is rewritten ~11 times); 64 MiB cut that thread by ~12 us per tx over the run but made every entry
# the commit thread writes dearer (log + memtable insert, a cache-missing skip list), so 16 MiB stayed then.
# Session 8 judged it again on the sum of both threads at the state of a 5-minute run (ldb_growth with the
# commit thread's CPU inside LevelDB's writes and gets, the same --data, variants side by side):
#   600 blocks (600,000 txs, load 2-4), by quarter of 150,000 txs, LevelDB's part of the CPU per tx (its
#   thread + the commit thread in its calls): 16 MiB 38.6 / 76.8 / 111.4 / 133.7 us, 64 MiB 33.8 / 62.5 /
#   78.2 / 94.7 (-5 / -14 / -33 / -39); the commit thread in LevelDB's calls +5.5 to +6.7 us of it; the
#   commit thread's whole CPU + LevelDB's thread 186 / 252 / 290 / 325 -> 184 / 237 / 258 / 283 us;
#   compactions wrote 10,285 -> 5,862 MB (7.0x -> 4.0x the 1,461 MB the node wrote).
#   400 blocks (load 10-14), by quarter of 100,000 txs: 16 MiB 28.3 / 62.5 / 93.4 / 114.9 us, 64 MiB 25.0 /
#   60.0 / 74.9 / 75.6 (another pair 16 MiB 29.3 / 57.5 / 79.5 / 115.6 against 32 MiB 28.4 / 55.0 / 69.9 /
#   92.3: 32 MiB half way); compactions wrote 5,215 -> 2,898 MB.
#   600 blocks again, quiet machine (load 0.6-2.9): 32.4 / 70.4 / 107.1 / 131.2 -> 29.3 / 58.8 / 74.8 / 101.8 us,
#   the sum 154 / 233 / 280 / 329 -> 151 / 223 / 252 / 298 us; compactions wrote 9,713 -> 5,813 MB.
# So 64 MiB: not dearer at a small state (-3 to -5 us per tx in the first quarter), -39 us per tx of a node's
# CPU at the end of 5 minutes. Where it saves (400 blocks, compaction MB written into L1 / L2 / L3): 906 /
# 1,947 / 1,516 -> 456 / 1,029 / 637: fewer, larger level-0 tables, so the overwritten keys (the trie's
# pages, ~1.1 KB a tx, 49 % of what the node writes) meet their newer versions in level 0 more often
# instead of being carried down. (Session 6's smaller gain was measured before the index's tx record became
# a pointer and with a 256 MiB trie cache; not re-run.)
# Costs: anonymous RSS up to +96 MiB (two memtables; +54 MiB at the end of the 600-block run, 212 -> 267 MiB),
# bounded, in a sawtooth as each memtable fills (~25 blocks of 1,000 txs) and is flushed; a restart replays
# up to one memtable's log: ~0.8 s of CPU for 62 MiB (0.12 s for 14 MiB at 16 MiB), ~1 s more at start.
# But the network said otherwise, so 16 MiB stays: `egp bench --devnet --rate 2000 --duration 300` (quiet
# machine, session 8, other load 0.025-0.028 cores, one run each, the same hour): 64 MiB 1,448 tx/s committed,
# 1.308 ms of node CPU per tx (per node per tx: commit thread 157 us, verify thread 82, loop 66, LevelDB's
# thread 24); the same code with 16 MiB 1,589 tx/s, 1.190 ms (143 / 73 / 58 / 45); the session's start
# (`82dcd4e`, 16 MiB) 1,528 tx/s, 1.217 ms. LevelDB's thread did save ~20 us a tx, as in process, but every
# Python thread got dearer, the verify thread's Ed25519 included (+9 us), which no LevelDB call explains: four
# nodes' 2 x 64 MiB of memtables on two cores, i.e. caches and memory, is the likely cause (not established).
WRITE_BUFFER_BYTES = 16 << 20
# LevelDB's table size (`max_file_size`, its default 2 MiB) and block size (`block_size`, its default 4 KiB):
# None leaves LevelDB's default. Bigger tables are worse here: at 32 MiB, L1 (10 MB) holds a single table
# spanning every key, so each L1 -> L2 compaction rewrites all of L2 (LevelDB's thread 80 against 55 us per
# tx at 300,000 txs).
MAX_FILE_BYTES: int | None = None
BLOCK_BYTES: int | None = None
# Keys between restart points in a table block (`block_restart_interval`, LevelDB's default 16): None leaves
# LevelDB's default. Session 8 (ldb_growth, 400 blocks, 64 MiB memtable, side by side): 32 within noise of 16
# (LevelDB's part 21.6/43.8/53.8/62.7 against 21.4/43.4/52.9/64.5 us per tx), and so was a 4 MiB table size
# (22.9/50.3/56.8/65.9 against 23.3/49.6/55.3/67.3, compaction bytes +8 %).
BLOCK_RESTART_INTERVAL: int | None = None


def write_ops(db: plyvel.DB, ops: list[Op], sync: bool) -> None:
    """`ops` ((key, value) puts, (key, None) deletes) in one atomic LevelDB write batch, optionally fsynced."""
    with db.write_batch(transaction=True, sync=sync) as wb:
        put, delete = wb.put, wb.delete
        for key, value in ops:
            if value is None:
                delete(key)
            else:
                put(key, value)


class _LevelRoot:
    def __init__(self, path: Path, block_cache_bytes: int = BLOCK_CACHE_BYTES) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.db = plyvel.DB(str(path), create_if_missing=True, lru_cache_size=block_cache_bytes,
                            bloom_filter_bits=BLOOM_BITS, max_open_files=MAX_OPEN_FILES,
                            compression=COMPRESSION, write_buffer_size=WRITE_BUFFER_BYTES,
                            max_file_size=MAX_FILE_BYTES, block_size=BLOCK_BYTES,
                            block_restart_interval=BLOCK_RESTART_INTERVAL)
        self.get = self.db.get  # type: ignore[method-assign]  # plyvel's own: no Python frame per read

    def get(self, key: bytes) -> bytes | None:  # (replaced by `db.get` on each instance; kept for the protocol)
        value: bytes | None = self.db.get(key)
        return value

    def write(self, ops: list[Op], sync: bool) -> None:
        write_ops(self.db, ops, sync)

    def scan(self, start: bytes | None, stop: bytes | None, reverse: bool) -> Iterator[tuple[bytes, bytes]]:
        it = self.db.iterator(start=start, stop=stop, reverse=reverse)
        try:
            yield from it
        finally:
            it.close()


class LevelKV(View):
    """A LevelDB database at `path` (created if missing)."""

    def __init__(self, path: str | Path, *, block_cache_bytes: int = BLOCK_CACHE_BYTES) -> None:
        self._level = _LevelRoot(Path(path), block_cache_bytes)
        super().__init__(self._level)
        if type(self) is LevelKV:  # the root view reads straight from plyvel (a subclass may override `get`)
            self.get = self._level.db.get  # type: ignore[method-assign]

    def close(self) -> None:
        self._level.db.close()

    @property
    def closed(self) -> bool:
        return bool(self._level.db.closed)

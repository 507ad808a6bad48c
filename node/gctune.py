"""Set the garbage collector for a long-running node: fewer, cheaper cyclic collections.

Why: CPython's default thresholds (700, 10, 10) run a young collection every 700 container allocations and
a full one every 70,000. A node under load allocates hundreds of thousands of short-lived containers a second
(decoded txs, records, trie pages, JSON documents) and keeps hundreds of thousands of long-lived ones (the
trie page cache, the signature cache, the mempool), so collections ran all the time and the older
generations' passes walked those caches again and again. The node's garbage is almost all freed by reference
counting (our records hold no cycles); the collector only has to catch the rare cycle (asyncio futures and
tracebacks), which a collection every 100,000 allocations still does.

Measured (devnet/bench/app_bench.py, 50,000 instruments, 10 blocks of 1,000 txs, interleaved runs, machine
load ~3.5): finalize_block + commit 145-154 -> 120-126 us of app-thread CPU per tx, the trie 43-46 -> 37-38 us
per changed key; check_tx unchanged (84-86 us). `gc.freeze()` after start-up moves what the node built before
its first block (modules, genesis, caches' first contents) out of the collector's sight for good.

Young threshold 100,000 since session 7 (50,000 before). Measured with devnet/bench/gc_ab.py: one thread runs a
node's two block-rate paths (check_tx of a block's txs, then the commit thread's finalize + index + results +
commit + synced write) on a copy of a 50,000-instrument state with a node's cache sizes, after 12 warm-up blocks
(the signature cache full), 80 blocks of 1,000 txs a run, every pass timed by `gc.callbacks` (thread CPU), a
forced young pass at the end charged to the run; one fresh process per (round, setting), the settings' order
rotating; medians of 3 rounds, load 13-15:

    young      collector us/tx   pause per young pass (ms CPU)   passes
    50,000     11.5              p50 105, max 151                 1 per ~10 blocks
    100,000     6.5              ~210 (180-241)                   1 per ~20 blocks
    200,000     5.6              ~330 (301-353)                   1 per ~41 blocks
    400,000     4.2              ~330 (the forced one at 80 blocks; none came by itself)

Again 50,000 vs 100,000 alone (4 rounds, load 3.4): 9.7 vs 5.8 us per tx, pauses 87-117 vs ~184 ms; the two
paths' CPU 202.4 vs 195.1 us per tx (paired by round: -10 us median, the collector's -4 and the noise). A network
check (`EGP_GC_THRESHOLDS=... egp bench --devnet --rate 2000 --duration 40`, two pairs, all four DISTURBED by the
machine's load: 885-1,354 tx/s committed): 0.934 / 0.977 vs 0.915 / 0.903 ms of node CPU per committed tx, the
same sign as above and within a network run's noise.
(Of ~195-220 us per tx for the two paths; the young count grows ~4,900 per block in the steady state, so the
threshold sets the interval; every pass came in the commit path.) A middle pass (50,000,2,100 as a probe) costs
~100 ms; at MIDDLE_EVERY 20 it comes every ~400 blocks.

Why the young passes cost so much: what survives between two passes is walked once, and most of it by
references is the trie cache's new committed pages (state/trie.py `Frozen`: 64-slot tuples of distinct bytes
objects; ~1,800 per 1,000-tx block). CPython untracks such a tuple at its first pass, but only after
reading every item's header there (three walks), each one a cache miss: ~3 us per new page (a pass over 9,000 new
pages: 26-37 ms, against 0.8 ms were each page one bytes object: `python -m devnet.bench.gc_ab --page-cost`;
`--probe`: ~9,000 new pages, 576,000 of a 50,000-pass's ~720,000 references). Nothing keeps them
tracked after that (checked: all pages are untracked after a pass). A higher threshold helps only through what
dies before the next pass (pages replaced by a later block, evicted cache entries), and the pause grows with it
until it levels off at what the caches hold (~330 ms here at 200,000 and at 400,000).

Why 100,000 and not more: it takes two thirds of what the thresholds can save (-5.0 of -7.3 us per tx), while the
pause goes from ~105-150 to ~210 ms of CPU; 200,000 saves 0.9 us more for ~120 ms more pause. A pass holds the
GIL, so it stops every thread of the node (the event loop too) whichever thread triggers it: it counts in the
latency target (p99 <= 1.5 s at 1,000 tx/s, 0.9 s in session 6: a ~0.2 s stall every ~20 blocks) and against
consensus timeouts (timeout_propose 3 s: node/genesis.py). Measured on the quiet network (session 7, `7571779`,
other load <= 0.01 cores, `egp bench --devnet`): at 1,000 tx/s for 60 s p50 0.263 / p99 0.771 s at 100,000 against
0.265 / 0.824 s with EGP_GC_THRESHOLDS=50000,20,100; at 100 tx/s with 16 proof clients p99 0.498 and 0.244 s
(2,184 and 2,301 proofs/s) against 0.216 and 0.256 s (2,771 and 2,024 proofs/s): no change beyond run-to-run noise.
Set 50,000 back here if a later p99 moves.

Memory: a cycle lives until the next young pass (~20 blocks under load); nothing else changes (peak RSS alike in
the measurements above). No stored byte, hash or decision depends on the collector.
"""

from __future__ import annotations

import gc
import os

YOUNG_THRESHOLD = 100_000  # allocations minus deallocations of containers between young collections
MIDDLE_EVERY = 20  # young collections per middle-generation collection
OLD_EVERY = 100  # middle collections per full collection (CPython 3.11 also waits for 25 % new long-lived objects)


# For benchmarks only (devnet/bench/gc_ab.py runs the same code with other settings): "young,middle,old". Not an
# operator setting: a node's options live in config.toml (node/config.py), and this one has none yet.
ENV_THRESHOLDS = "EGP_GC_THRESHOLDS"


def thresholds() -> tuple[int, int, int]:
    """The settings `tune_for_node` applies: this module's, unless a benchmark set EGP_GC_THRESHOLDS."""
    raw = os.environ.get(ENV_THRESHOLDS, "").strip()
    if not raw:
        return YOUNG_THRESHOLD, MIDDLE_EVERY, OLD_EVERY
    try:
        young, middle, old = (int(x) for x in raw.split(","))
    except ValueError:
        raise ValueError(f"{ENV_THRESHOLDS}={raw!r}: expected three integers 'young,middle,old'") from None
    if young < 1 or middle < 1 or old < 1:
        raise ValueError(f"{ENV_THRESHOLDS}={raw!r}: each threshold must be at least 1 (0 would turn the "
                         "collector off)")
    return young, middle, old


def tune_for_node() -> None:
    """Called once by `run_node` after the node is built, before it serves anything."""
    settings = thresholds()  # a bad benchmark setting fails here, before the collector is touched
    gc.collect()
    gc.freeze()
    gc.set_threshold(*settings)

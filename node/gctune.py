"""Set the garbage collector for a long-running node: fewer, cheaper cyclic collections.

Why: CPython's default thresholds (700, 10, 10) run a young collection every 700 container allocations and
a full one every 70,000. A node under load allocates hundreds of thousands of short-lived containers a second
(decoded txs, records, trie pages, JSON documents) and keeps hundreds of thousands of long-lived ones (the
trie page cache, the signature cache, the mempool), so collections ran all the time and the older
generations' passes walked those caches again and again. The node's garbage is almost all freed by reference
counting (our records hold no cycles); the collector only has to catch the rare cycle (asyncio futures and
tracebacks), which a collection every 50,000 allocations still does.

Measured (devnet/bench/app_bench.py, 50,000 instruments, 10 blocks of 1,000 txs, interleaved runs, machine
load ~3.5): finalize_block + commit 145-154 -> 120-126 us of app-thread CPU per tx, the trie 43-46 -> 37-38 us
per changed key; check_tx unchanged (84-86 us). `gc.freeze()` after start-up moves what the node built before
its first block (modules, genesis, caches' first contents) out of the collector's sight for good.

Memory: a cycle now lives until the next young collection (50,000 allocations: well under a second under
load); nothing else changes. No stored byte, hash or decision depends on the collector.
"""

from __future__ import annotations

import gc
import os

YOUNG_THRESHOLD = 50_000  # allocations minus deallocations of containers between young collections
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

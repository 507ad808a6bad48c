"""A path-compressed binary Merkle trie over sha256(key), stored a page of levels per KV entry.

The trie (hash rules, proofs: state/proofs.py) is that of the positions (depth, prefix of the key hash):
a position holds a leaf (the only key below it), an inner node (two or more keys below) or nothing. Its
root depends only on the set of (key hash, value hash) pairs.

Storage: a *page* is the part of the trie in the `PAGE_LEVELS` (k) levels below a position at a depth that
is a multiple of k, plus its frontier k levels down: slots 1 .. 2^(k+1) - 1 in heap order (slot s has
children 2s and 2s + 1; slots 2^k .. 2^(k+1) - 1 are the frontier). A page exists iff its top slot holds a
node; below the root page, only an inner node there makes a page (a leaf at a page's frontier is kept in
its parent page, as its slot). A frontier slot holding an inner node stores only that node's hash: the
node is the top of the child page at (depth + k, prefix ‖ the slot's k bits). One KV entry per page, under
the key `depth (2 bytes) ‖ prefix bits packed into bytes` of its top position; its value lists the occupied
slots in slot order, each as a token byte (slot number, 0x80 for a leaf) followed by the leaf's
`key_hash ‖ value_hash` (leaf), the 32-byte hash (inner node at the frontier) or nothing (inner node inside
the page: its hash is recomputed from its children when the page is read). The layout is canonical (a
function of the key set), so no stale entry is ever left where a later walk could read it. Only the latest
version is kept: queries and proofs are served at the latest committed height.

A decoded page is a flat list (W = 2^(k+1)): `page[s]` the hash of slot s (the `EMPTY` object when the
slot is empty), `page[W + s]` the slot's stored record (token, then the leaf's hashes or the frontier inner
node's hash) or None, `page[0]` its memory estimate. Encoding a page is one `b"".join` of its records. A
changed key costs one dict lookup per page (k levels) and, per level, a few list reads on the way down and
one sha256 on the way up; a block writes one KV entry per touched page instead of one per touched node.

`Trie.update(changes)` applies a whole block's changes at once: the changed key hashes are sorted and the
trie is walked once, each touched path hashed once, subtrees without changes left alone. Touched pages are
copied (the committed pages in `CachedNodes` are shared with queries) into `changes`; the application
persists `write_items()` in the same atomic batch as the records, then makes them the cache's pages.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections.abc import Mapping
from typing import Any, Protocol

from state.proofs import EMPTY, TrieProof

PAGE_LEVELS = 4  # levels per stored page: changing it changes the stored layout (not the hashes)

Node = tuple[bytes, bytes, bytes]  # logical view: (b"L", key_hash, value_hash) | (b"I", left_hash, right_hash)
Item = tuple[int, bytes, bytes | None]  # (key hash as int, key hash, value hash or None = delete)
Page = list[Any]  # a page being changed (a `Trie`'s own copy)
Frozen = tuple[Any, ...]  # a committed page, as the cache holds it: immutable, so off the garbage collector
Pos = tuple[int, int]  # (depth, prefix) of a page's top position
_sha256 = hashlib.sha256
_MISS: Any = object()


class NodeReader(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


class TrieLayoutError(ValueError):
    """A stored trie entry is not a page of this layout (e.g. a home written before pages: reset it)."""


_POS_HEAD = [d.to_bytes(2, "big") for d in range(257)]
_POS_SHIFT = [-d % 8 for d in range(257)]
_POS_BYTES = [(d + 7) >> 3 for d in range(257)]


def position(depth: int, prefix: int) -> bytes:
    """The KV key of a position (used for pages' top positions): `depth` (2 bytes) ‖ the prefix's bits packed
    from the most significant end. `Trie.write_items` inlines the same tables in its loop."""
    return _POS_HEAD[depth] + (prefix << _POS_SHIFT[depth]).to_bytes(_POS_BYTES[depth], "big")


def node_hash(node: Node | None) -> bytes:
    """`leaf_hash` / `inner_hash` of state/proofs.py for a logical node."""
    if node is None:
        return EMPTY
    return _sha256((b"\x00" if node[0] == b"L" else b"\x01") + node[1] + node[2]).digest()


# ---------------------------------------------------------------- pages
_LEAF_FLAG = 0x80
_BAD_BITS = 0x40  # never set in a token: the first byte of a node of the old layout (b"L", b"I") has it
_TOKENS = [bytes([s]) for s in range(64)]
_LEAF_TOKENS = [bytes([s | _LEAF_FLAG]) for s in range(64)]
_LEAF_REC = 65  # token + key hash + value hash; an inner node's record is its token (+ its hash at the frontier)


# What an occupied slot counts besides twice its record's length: its hash object is 65 bytes as tracemalloc
# sees it, 80 in pymalloc's size classes. Counted as 65 until session 5, the cache's weight was ~10 % above
# tracemalloc's bytes but ~8 % below what the process's anonymous memory grew by per unit of weight (500,000
# keys, trie_cache_mib 128 vs 256, 60 blocks each: RSS 232 vs 367 MiB for weights 124 vs 249 MiB); with 72 the
# bound holds in resident bytes and stays within a quarter above tracemalloc's (tests/state/test_trie_pages.py).
SLOT_BYTES = 72


def page_base_bytes(levels: int) -> int:
    """Memory of an empty cached page: the list of 2W slots, its generation-dict entry and (depth, prefix) key
    (tracemalloc; tests/state/test_trie_pages.py holds the estimate to the measured memory)."""
    return 56 + 8 * (4 << levels) + 200


_EMPTY_PAGES: dict[int, Page] = {lv: [None] + [EMPTY] * ((2 << lv) - 1) + [None] * (2 << lv) for lv in range(1, 6)}


def new_page(levels: int) -> Page:
    return _EMPTY_PAGES[levels].copy()


def _size(levels: int, records: list[Any], stored: int) -> int:
    # per occupied slot: its hash (65 B) and its record (a leaf's 98 B, a frontier inner node's 66 B, a shared
    # token): SLOT_BYTES + 2 * len(record) bounds each from above
    return page_base_bytes(levels) + SLOT_BYTES * (len(records) - records.count(None)) + 2 * stored


def page_bytes(page: Page, levels: int) -> int:
    """Estimated memory of a decoded page (bytes), cached in `page[0]`."""
    size = page[0]
    if size is None:
        records = page[2 << levels:]
        size = page[0] = _size(levels, records, sum(map(len, filter(None, records))))
    return int(size)


def encode_page(page: Page | Frozen, levels: int) -> bytes:
    """The stored form of a page: its slots' records in slot order (every slot below an empty slot or a leaf
    is empty, so the form is canonical)."""
    return b"".join(filter(None, page[2 << levels:]))


def decode_page(raw: bytes, levels: int) -> Frozen:
    n = 1 << levels
    w = n << 1
    page = _EMPTY_PAGES[levels].copy()
    inner: list[int] = []
    i, end, count = 0, len(raw), 0
    sha, tokens = _sha256, _TOKENS
    while i < end:
        t = raw[i]
        s = t & 0x3F
        if t & _BAD_BITS or not 0 < s < w:
            raise TrieLayoutError(f"not a trie page (token {t:#x} at byte {i}): a home written with another "
                                  "trie layout must be reset")
        count += 1
        if t & _LEAF_FLAG:
            j = i + _LEAF_REC
            page[w + s] = rec = raw[i:j]
            page[s] = sha(b"\x00" + rec[1:]).digest()
        elif s >= n:
            j = i + 33
            page[w + s] = rec = raw[i:j]
            page[s] = rec[1:]
        else:
            j = i + 1
            page[w + s] = tokens[s]
            inner.append(s)
        i = j
    if i != end:
        raise TrieLayoutError("truncated trie page")
    for s in reversed(inner):  # children (2s, 2s + 1) have larger slot numbers: done first
        page[s] = sha(b"\x01" + page[2 * s] + page[2 * s + 1]).digest()
    page[0] = page_base_bytes(levels) + SLOT_BYTES * count + 2 * end  # as `_size`
    return tuple(page)


# A cached page whose weight is below this is *sparse*: a page at the trie's bottom with a few leaves (about 3:
# 694 + 276 bytes a leaf), its weight mostly the fixed cost of a decoded page. Reads per byte of such pages are
# a fraction of the denser pages' above them (session 7, 600,000 workload txs: the depth-20 pages, 1.34 KB on
# average, took 0.25 reads per tx for 115 MiB; the depth-16 pages, 2.46 KB, 1.47 reads per tx for 153 MiB),
# so `CachedNodes` keeps them apart and evicts them first. Not a stored-format matter: any value is correct.
SPARSE_BYTES = 1_600

# The default bound of the decoded-page cache (`CachedNodes`); a node takes its own from config.toml
# ([storage] trie_cache_mib, node/config.py), passed in by node/assemble.py through the Application.
# Why 128 MiB (256 until session 7): a node's memory should level off early in its life, not after half a million
# txs. With sparse pages evicted first, 128 MiB misses 0.53 pages per tx at a 600,000-tx state (256 MiB: 0.02;
# a miss ~10-30 us: ~+3 % of the commit thread, trie_cache_sim, session 7) and is full by ~220,000 txs, so the
# 5-minute 2,000 tx/s run is flat over its last half (256 MiB was still filling at its end: +90 MiB). An
# operator with memory to spare raises it (config.toml; see node/config.py).
CACHE_BYTES = 128 << 20


class CachedNodes:
    """Committed trie pages, decoded, with a read cache keyed by (depth, prefix) and bounded in bytes.

    The application is the only writer of its trie: after a commit is durable it calls `apply` with the
    block's page changes, so the cache never serves a stale page.

    Pages are held as tuples: immutable (queries and the next block's `Trie` share them; a `Trie` changes
    its own list copies) and, holding only bytes, ints and None, untracked by the garbage collector.

    Bound: each page counts its estimated memory (`page_bytes`: the slot tuple, its dict entry and key, its
    distinct hashes and records; measured with tracemalloc), so `max_bytes` (`CACHE_BYTES` unless given) is what
    the cache holds at most (plus one page). With `max_entries`, each page counts 1 instead (tests).

    Eviction. Sparse pages (weight below `SPARSE_BYTES`, and positions without a page) are kept apart, oldest
    first, and go first: a page that holds a few leaves costs most of what a dense page costs in memory and
    is read far less often, so when the trie does not fit, the bound is spent on the dense pages that most
    paths cross (session 7, the last third of 600,000 workload txs, devnet/bench/trie_cache_sim.py: misses per
    tx 0.62 -> 0.53 at 128 MiB, 0.40 -> 0.29 at 160, against one order for all pages).
    The other pages are held in two generations (an LRU approximation at dict speed): reads and writes go to
    the young dict, a page found in the old one moves back to the young one, and a page written again moves to
    the young dict's end. When the cache holds more than the bound, sparse pages go, then the old generation's
    oldest pages (in the order they were last written or moved into the young one), down to 15/16 of the
    bound (so eviction runs once per 1/16 of the bound, not per page); when the old generation is empty the
    young one becomes the old one. What every block touches (the top of the trie, the paths of busy keys such
    as a hot signer's account) stays; the cache fills its whole bound and its memory plateaus there, whatever
    the size of the state. (Until session 7 a page written again kept its place in the young dict: the top
    pages, the first ones a block reads, were the first evicted after each turn of generations and read again
    from LevelDB by the next block. Until session 5 the young generation became the old one, and the old one
    was dropped, whenever it reached 7/16 of the bound: the cache held 7/16 to 14/16 of its bound.)

    Not done, measured (session 8): a cold tier of pages as their stored bytes in the same bound (~4-5x more pages a
    MiB). A cold hit still pays `decode_page` (the SHA-256s of the page's leaves and inner nodes: ~10-11 us of a
    depth-16 page, ~40 % of a miss's get + decode), the pages a block reads are the ones it rewrites (each cold
    hit is followed by a new decoded version, and later another `encode_page`), and the cold tier's room comes
    out of the decoded pages' hot hits: at 600,000 txs and 128 MiB, 0.53 misses per tx became 0.03 misses + 0.87
    cold hits + 1.3 encodes (modelled -2 us per tx at most: devnet/bench/trie_cache_sim.py `tier`, `--get-us`),
    and in process (ldb_growth, two pairs) the commit path was not faster."""

    def __init__(self, nodes: NodeReader, max_entries: int | None = None, *, max_bytes: int = CACHE_BYTES,
                 levels: int = PAGE_LEVELS) -> None:
        if not 1 <= levels <= 5:
            raise ValueError("levels per page must be 1..5")
        self._nodes = nodes
        self.levels = levels
        self._cache: dict[Pos, Frozen | None] = {}  # the young generation
        self._old: dict[Pos, Frozen | None] = {}
        self._sparse: dict[Pos, Frozen | None] = {}  # sparse pages and absent ones, oldest first
        self._by_count = max_entries is not None
        self._max = max(2, max_entries if max_entries is not None else max_bytes)
        self._slack = self._max // 16  # what an eviction frees below the bound
        self._young = 0  # weight of the young generation
        self._held = 0  # weight of the old generation
        self._thin = 0  # weight of the sparse pages
        self._none = page_base_bytes(levels)
        self._dense = 0 if self._by_count else SPARSE_BYTES  # (counted in pages, every page is dense)

    def __len__(self) -> int:
        return len(self._cache) + len(self._old) + len(self._sparse)

    def _weight(self, page: Frozen | None) -> int:
        if self._by_count:
            return 1
        return self._none if page is None else int(page[0])

    @property
    def weight(self) -> int:
        """What the cache holds now, in its unit (bytes, or pages with `max_entries`); at most the bound."""
        w = self._weight
        return sum(map(w, self._cache.values())) + sum(map(w, self._old.values())) + sum(map(w, self._sparse.values()))

    def page(self, depth: int, prefix: int) -> Frozen | None:
        """The committed page at (depth, prefix), None if there is none. Shared: never modify it."""
        key = (depth, prefix)
        page = self._cache.get(key, _MISS)
        if page is not _MISS:
            return page  # type: ignore[no-any-return]
        page = self._old.pop(key, _MISS)
        if page is _MISS:
            page = self._sparse.get(key, _MISS)
            if page is not _MISS:
                return page  # type: ignore[no-any-return]
            raw = self._nodes.get(position(depth, prefix))
            page = None if raw is None else decode_page(raw, self.levels)
        else:
            self._held -= 1 if self._by_count else self._none if page is None else page[0]
        return self._keep(key, page)

    def _keep(self, key: Pos, page: Frozen | None) -> Frozen | None:
        """Hold `page` (read from the store, or taken from the old generation) unless `apply` put a version of it
        meanwhile, and return the version held. In the node only the commit thread calls `page` (proof queries on
        the event loop read through `shared()`, `SharedPages`, which never writes), so nothing lands meanwhile
        there; this guards a caller that reads from another thread all the same: LevelDB's get releases the GIL,
        and a page read before a commit landed must not replace the one `apply` put, which the next block's
        update would build on (a wrong app hash). `setdefault` never replaces what is there, and a version in
        the other dict (a page that changed class) wins too."""
        w = 1 if self._by_count else self._none if page is None else page[0]
        into, other = (self._sparse, self._cache) if w < self._dense else (self._cache, self._sparse)
        got = into.setdefault(key, page)
        if got is not page:
            return got
        if key in other:
            into.pop(key, None)
            return other.get(key, page)
        if into is self._cache:
            self._young += w
        else:
            self._thin += w
        if self._young + self._held + self._thin > self._max:
            self._evict()
        return page

    def _evict(self) -> None:
        """Down to 15/16 of the bound: sparse pages first (oldest first), then the old generation's oldest pages;
        the young generation becomes the old one when the old one is empty (a block larger than the bound keeps
        its newest pages)."""
        target, weight = self._max - self._slack, self._weight
        if self._young + self._held + self._thin > target and self._sparse:
            self._thin -= self._drop(self._sparse, self._young + self._held + self._thin - target)
            if not self._sparse:
                self._thin = 0  # (recounted: see the threads note below)
        while self._young + self._held + self._thin > target:
            if not self._old:
                if not self._cache:  # nothing held: counts that drifted (two threads' reads racing: the
                    self._young = self._held = self._thin = 0  # threads note below) start from zero
                    return
                self._old, self._cache = self._cache, {}
                self._held, self._young = sum(map(weight, self._old.values())), 0  # re-counted each generation
            self._held -= self._drop(self._old, self._young + self._held + self._thin - target)

    def _drop(self, pages: dict[Pos, Frozen | None], excess: int) -> int:
        """Drop the first pages of `pages` until `excess` is freed (or none is left); returns the weight freed."""
        weight = self._weight
        drop = freed = 0
        for p in pages.values():
            if freed >= excess:
                break
            freed += weight(p)
            drop += 1
        if drop == len(pages):
            pages.clear()
        else:  # (one pass: deleting from the front one at a time would rescan the deleted slots each time)
            for k in list(itertools.islice(pages, drop)):
                del pages[k]
        return freed

    # Threads: in the node only the commit thread changes the cache (proof queries read through `SharedPages`).
    # Should two threads read through `page` at once, each dict operation is atomic, but two reads of the same
    # missing page may both count it, so the weights could drift up by a page now and then (the cache evicts a
    # little early): `_evict` counts the old generation again whenever the young one becomes it, and the sparse
    # pages' weight whenever none is left, so a drift lasts one generation at most.
    def apply(self, changes: Mapping[Pos, Page | Frozen | None]) -> None:
        """Make committed page changes visible (call after they are durably written); the cache keeps
        immutable copies."""
        old, young, sparse, by_count, none, lv = self._old, self._cache, self._sparse, self._by_count, self._none, \
            self.levels
        dense = self._dense
        w = held = thin = 0
        for key, page in changes.items():
            if old:
                gone = old.pop(key, _MISS)
                if gone is not _MISS:
                    held += 1 if by_count else none if gone is None else gone[0]
            prev = young.pop(key, _MISS)
            if prev is not _MISS:  # read this block (to be copied): replaced, not added, and moved to the end
                w -= 1 if by_count else none if prev is None else prev[0]
            if sparse:
                prev = sparse.pop(key, _MISS)
                if prev is not _MISS:
                    thin -= 1 if by_count else none if prev is None else prev[0]
            if page is None:
                pw = 1 if by_count else none
            else:
                if page.__class__ is not tuple:
                    if page[0] is None:
                        page_bytes(page, lv)  # type: ignore[arg-type]
                    page = tuple(page)
                pw = 1 if by_count else page[0]
            if pw < dense:
                sparse[key] = page
                thin += pw
            else:
                young[key] = page
                w += pw
        self._young += w
        self._held -= held
        self._thin += thin
        if self._young + self._held + self._thin > self._max:
            self._evict()

    def clear(self) -> None:
        self._cache.clear()
        self._old.clear()
        self._sparse.clear()
        self._young = self._held = self._thin = 0

    def shared(self) -> SharedPages:
        """A read-only view of this cache for another thread (see `SharedPages`)."""
        return SharedPages(self)


class SharedPages:
    """A read-only view of a `CachedNodes` for threads other than the one that applies commits: proof queries
    on the event loop (state/queries.py) read the pages held and, on a miss, the store, and never change the cache.

    Why: the cache's dicts are changed by the commit thread (its own misses, `apply`, `_evict`'s passes over them).
    A query that also inserted, promoted or evicted pages could (1) store a page it read from LevelDB just before
    a commit landed over the newer one (or after `_evict` dropped the newer one), and the next block would build
    on the stale page: a wrong app hash; (2) change a dict's size while the commit thread iterates it in `_evict`:
    "dictionary changed size during iteration" in the commit thread, a halted node. With one writing thread
    neither can happen; a query's miss costs the same read and decode as before, without warming the cache for
    the next query (the pages every path crosses are held anyway: the commit thread reads them every block)."""

    __slots__ = ("_c", "levels")

    def __init__(self, cache: CachedNodes) -> None:
        self._c = cache
        self.levels = cache.levels

    def page(self, depth: int, prefix: int) -> Frozen | None:
        """The committed page at (depth, prefix), None if there is none. Shared: never modify it."""
        c, key = self._c, (depth, prefix)
        for held in (c._cache, c._sparse, c._old):  # (each `get` is atomic; `_evict` may swap the dicts meanwhile)
            page = held.get(key, _MISS)
            if page is not _MISS:
                return page  # type: ignore[no-any-return]
        raw = c._nodes.get(position(depth, prefix))
        return None if raw is None else decode_page(raw, c.levels)


class Trie:
    """The trie over a page store (a KV of positions, or `CachedNodes`); pending changes kept in memory.

    A `Trie` serves one block's update (or reads)."""

    def __init__(self, nodes: NodeReader | CachedNodes | SharedPages) -> None:
        self._src: CachedNodes | SharedPages = (
            nodes if isinstance(nodes, CachedNodes | SharedPages) else CachedNodes(nodes, max_entries=1 << 40))
        # (a private unbounded cache: a Trie over a plain store lives for one update or one query)
        k = self._k = self._src.levels
        self._n = 1 << k  # the first frontier slot
        self._w = 2 << k  # slots; page[W + s] is slot s's leaf
        # pages written (None: deleted), in the order made: lists while `update` runs, then tuples
        self.changes: dict[Pos, Page | Frozen | None] = {}
        self._encoded: dict[Pos, bytes] = {}  # a changed page's stored form, made when `update` freezes it

    def write_items(self) -> list[tuple[bytes, bytes | None]]:
        """The pending page changes as KV operations: (position key, encoded page or None = delete), in the
        order they were made."""
        head, shift, nbytes, k, enc = _POS_HEAD, _POS_SHIFT, _POS_BYTES, self._k, self._encoded
        return [(head[d] + (p << shift[d]).to_bytes(nbytes[d], "big"),
                 None if pg is None else enc.get((d, p)) or encode_page(pg, k))
                for (d, p), pg in self.changes.items()]

    @property
    def writes(self) -> dict[bytes, bytes | None]:
        """The pending page changes as a map (position key -> encoded page, None = delete)."""
        return dict(self.write_items())

    # ---------------------------------------------------------------- reading
    def _page(self, depth: int, prefix: int) -> Page | Frozen | None:
        page = self.changes.get((depth, prefix), _MISS)
        if page is _MISS:
            return self._src.page(depth, prefix)
        return page  # type: ignore[no-any-return]

    def _writable(self, depth: int, prefix: int) -> Page:
        """The page at (depth, prefix) to modify: this update's copy (made on first use)."""
        key = (depth, prefix)
        changes = self.changes
        page = changes.get(key, _MISS)
        if page.__class__ is tuple:  # frozen by an earlier `update` of this Trie
            page = changes[key] = list(page)
            page[0] = None
        elif page is _MISS or page is None:
            src = self._src.page(depth, prefix) if page is _MISS else None
            if src is None:
                if depth:
                    raise TrieLayoutError(f"trie page ({depth}, {prefix}) is missing under an inner node")
                page = new_page(self._k)  # the root of an empty trie
            else:
                page = list(src)
                page[0] = None
            changes[key] = page
        return page  # type: ignore[no-any-return]

    def root(self) -> bytes:
        page = self._page(0, 0)
        return EMPTY if page is None else page[1]

    def prove(self, key_hash: bytes) -> TrieProof:
        k = int.from_bytes(key_hash, "big")
        n, w, lv = self._n, self._w, self._k
        siblings: list[bytes] = []
        page = self._page(0, 0)
        if page is None:
            return TrieProof((), b"", b"")
        d = p = g = 0
        s = 1
        while True:
            rec = page[w + s]
            if rec is None:
                return TrieProof(tuple(siblings), b"", b"")
            if rec[0] & _LEAF_FLAG:
                return TrieProof(tuple(siblings), rec[1:33], rec[33:])
            if s >= n:
                d, p = d + lv, (p << lv) | (s - n)
                page = self._page(d, p)
                if page is None:
                    raise TrieLayoutError(f"trie page ({d}, {p}) is missing under an inner node")
                s = 1
            c = 2 * s + ((k >> (255 - g)) & 1)
            siblings.append(page[c ^ 1])
            s = c
            g += 1

    def get_value_hash(self, key_hash: bytes) -> bytes | None:
        proof = self.prove(key_hash)
        return proof.leaf_value_hash if proof.leaf_key == key_hash else None

    def node(self, depth: int, prefix: int) -> Node | None:
        """The logical node at a position (None: empty, or below a leaf), for tools and tests."""
        n, w, lv = self._n, self._w, self._k
        page = self._page(0, 0)
        d = p = g = 0
        s = 1
        while page is not None:
            rec = page[w + s]
            if rec is None:
                return None
            leaf = rec[0] & _LEAF_FLAG
            if s >= n and not leaf:
                d, p = d + lv, (p << lv) | (s - n)
                page = self._page(d, p)
                s = 1
                continue
            if g == depth:
                return (b"L", rec[1:33], rec[33:]) if leaf else (b"I", page[2 * s], page[2 * s + 1])
            if leaf:
                return None
            s = 2 * s + ((prefix >> (depth - 1 - g)) & 1)
            g += 1
        return None

    # ---------------------------------------------------------------- writing
    def update(self, changes: Mapping[bytes, bytes | None]) -> bytes:
        """Apply {key_hash: value_hash or None (delete)} and return the new root."""
        items: list[Item] = sorted((int.from_bytes(kh, "big"), kh, vh) for kh, vh in changes.items())
        if not items:
            return self.root()
        page = self._writable(0, 0)
        self._apply(page, 0, 0, 1, 0, items)
        root = page[1]
        made, w, enc = self.changes, self._w, self._encoded
        if root is EMPTY:
            made[(0, 0)] = None
        base = page_base_bytes(self._k)
        for key, pg in made.items():  # freeze: tuples of bytes leave the garbage collector's lists
            if pg.__class__ is list:
                if pg[0] is None:  # changed by this update: its stored form and memory estimate (`_size`) at once
                    records = list(filter(None, pg[w:]))
                    raw = enc[key] = b"".join(records)
                    pg[0] = base + SLOT_BYTES * len(records) + 2 * len(raw)
                made[key] = tuple(pg)
        return root  # type: ignore[no-any-return]

    def _apply(self, page: Page, d: int, p: int, s: int, g: int, items: list[Item]) -> None:
        """Set slot s (global depth g) of `page` (this update's copy, at (d, p)) to its subtree with `items`
        applied; pages below are copied, made or deleted in `changes`."""
        n, w = self._n, self._w
        rec = page[w + s]
        leaf = rec is not None and rec[0] & _LEAF_FLAG
        if s >= n and rec is not None and not leaf:  # an inner node at the frontier: into its page
            cd, cp = d + self._k, (p << self._k) | (s - n)
            child = self._writable(cd, cp)
            self._apply(child, cd, cp, 1, g, items)
            self._settle(page, s, child, cd, cp)
            return
        if len(items) == 1 and items[0][2] is not None:
            self._upsert(page, d, p, s, g, items[0])
            return
        if rec is None:
            self._build(page, d, p, s, g, [it for it in items if it[2] is not None])
            return
        if leaf:
            merged = {it[1]: it for it in items}
            lk = rec[1:33]
            if lk not in merged:
                merged[lk] = (int.from_bytes(lk, "big"), lk, rec[33:])
            self._build(page, d, p, s, g, sorted(it for it in merged.values() if it[2] is not None))
            return
        split = _split(items, g)
        left, right = 2 * s, 2 * s + 1
        if split:
            self._apply(page, d, p, left, g + 1, items[:split])
        if split < len(items):
            self._apply(page, d, p, right, g + 1, items[split:])
        lh, rh = page[left], page[right]
        if lh is EMPTY or rh is EMPTY:
            if lh is EMPTY and rh is EMPTY:
                page[s], page[w + s] = EMPTY, None
                return
            c = right if lh is EMPTY else left
            crec = page[w + c]
            if crec[0] & _LEAF_FLAG:  # one leaf left below: it moves up (path compression)
                page[s], page[w + s] = page[c], _LEAF_TOKENS[s] + crec[1:]
                page[c], page[w + c] = EMPTY, None
                return
        page[s] = _sha256(b"\x01" + lh + rh).digest()

    def _settle(self, page: Page, s: int, child: Page, cd: int, cp: int) -> None:
        """After an update of the child page under frontier slot s: an emptied child page goes, a child
        reduced to a leaf goes and its leaf moves up into slot s, an inner node's new hash is recorded."""
        h = child[1]
        rec = child[self._w + 1]
        if rec is None:
            page[s], page[self._w + s] = EMPTY, None
            self.changes[(cd, cp)] = None
        elif rec[0] & _LEAF_FLAG:
            page[s], page[self._w + s] = h, _LEAF_TOKENS[s] + rec[1:]
            self.changes[(cd, cp)] = None
        else:
            page[s], page[self._w + s] = h, _TOKENS[s] + h

    def _upsert(self, page: Page, d: int, p: int, s: int, g: int, item: Item) -> None:
        """`_apply` of one item that sets a value, as one loop down and one up (no recursion, no splits): below
        the first few levels of a block's update every touched path carries a single key, and most keys are
        set, not deleted. Setting a value never empties a subtree, so no leaf moves up on the way back: each
        inner node on the path gets the new hash of its child on the key's side."""
        k, kh, vh = item
        assert vh is not None
        n, w = self._n, self._w
        crossed: list[tuple[Page, int, int]] = []  # (parent page, its start slot, its frontier slot)
        s0 = s
        while True:
            rec = page[w + s]
            if rec is None or rec[0] & _LEAF_FLAG:
                break
            if s >= n:  # an inner node at the frontier: continue in its page
                lv = self._k
                crossed.append((page, s0, s))
                d, p = d + lv, (p << lv) | (s - n)
                page = self._writable(d, p)
                s = s0 = 1
                continue
            s = 2 * s + ((k >> (255 - g)) & 1)
            g += 1
        if rec is None or rec.startswith(kh, 1):
            payload = kh + vh
            page[w + s] = _LEAF_TOKENS[s] + payload
            page[s] = _sha256(b"\x00" + payload).digest()
        else:  # another key's leaf: both go below it
            lk = rec[1:33]
            other = (int.from_bytes(lk, "big"), lk, rec[33:])
            self._build(page, d, p, s, g, [item, other] if k < other[0] else [other, item])
        sha, tokens = _sha256, _TOKENS
        while True:
            while s > s0:
                s >>= 1
                page[s] = sha(b"\x01" + page[2 * s] + page[2 * s + 1]).digest()
            if not crossed:
                return
            parent, s0, s = crossed.pop()
            h = parent[s] = page[1]
            parent[w + s] = tokens[s] + h
            page = parent

    def _build(self, page: Page, d: int, p: int, s: int, g: int, live: list[Item]) -> None:
        """Slot s (global depth g, empty below) set to the subtree of `live` items; new pages as needed."""
        w = self._w
        if len(live) < 2:
            if live:
                payload = live[0][1] + live[0][2]  # type: ignore[operator]
                page[w + s] = _LEAF_TOKENS[s] + payload
                page[s] = _sha256(b"\x00" + payload).digest()
            else:
                page[s], page[w + s] = EMPTY, None
            return
        if s >= self._n:  # two keys or more at the frontier: an inner node, the top of a new page
            cd, cp = d + self._k, (p << self._k) | (s - self._n)
            child = new_page(self._k)
            self.changes[(cd, cp)] = child
            self._build(child, cd, cp, 1, g, live)
            h = page[s] = child[1]
            page[w + s] = _TOKENS[s] + h
            return
        split = _split(live, g)
        self._build(page, d, p, 2 * s, g + 1, live[:split])
        self._build(page, d, p, 2 * s + 1, g + 1, live[split:])
        page[s] = _sha256(b"\x01" + page[2 * s] + page[2 * s + 1]).digest()
        page[w + s] = _TOKENS[s]


def _split(items: list[Item], depth: int) -> int:
    """Index of the first item whose bit `depth` is 1 (items share their first `depth` bits, sorted)."""
    shift = 255 - depth
    if len(items) <= 8:  # most calls, deep in the trie: a scan beats bisect's key calls
        for i, it in enumerate(items):
            if (it[0] >> shift) & 1:
                return i
        return len(items)
    base = (items[0][0] >> (shift + 1)) << (shift + 1)
    return bisect.bisect_left(items, base | (1 << shift), key=lambda it: it[0])

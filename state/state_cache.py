"""The application's caches of the committed state, read by the block overlay and the check state (state/store.py
`Overlay`) before LevelDB: `StateCache`, committed records (bytes, and the registry's decoded) across blocks, and
`KeyFilter`, a Bloom filter of the committed state's keys that proves a key absent without a read. Both are
kept exact by the application at commit (state/abci.py), so a read answers what the store would.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable


class StateCache:
    """Committed state entries across blocks: full key (`NS_STATE` + key) -> (its stored bytes or None if absent,
    the decoded record or None). Owned by the application, which updates it at commit from the block's reads
    (values of the committed state) and writes (so every entry is the committed value: nothing is invalidated
    by guessing), and only there. Bounded by two generations: `update` adds to the young one; when it holds
    `generation` entries it becomes the old one and the previous old one is dropped. A key read in a block is
    added again at its commit, so what blocks keep using stays.

    Threads: read by finalize_block (the node's commit thread) and check_tx (the loop), written only by commit,
    while the node holds check_tx (node/commit_thread.py `CommitThread.lock_mempool_for_commit`); a plain dict
    read or update is atomic under the GIL."""

    def __init__(self, max_entries: int = 65_536) -> None:
        self.generation = max(1, max_entries // 2)
        self.young: dict[bytes, tuple[bytes | None, object]] = {}
        self.old: dict[bytes, tuple[bytes | None, object]] = {}
        # the committed state's keys (set by the application), consulted on a miss here: see KeyFilter
        self.keys: KeyFilter | None = None

    def get(self, key: bytes) -> tuple[bytes | None, object] | None:
        e = self.young.get(key)
        return self.old.get(key) if e is None else e

    def update(self, entries: dict[bytes, tuple[bytes | None, object]]) -> None:
        young = self.young
        young.update(entries)
        if len(young) >= self.generation:
            self.old, self.young = young, {}

    def clear(self) -> None:
        self.young, self.old = {}, {}

    def __len__(self) -> int:
        return len(self.young) + len(self.old)


class KeyFilter:
    """A Bloom filter of the committed state's keys: `may_hold(key)` False proves that the committed store holds
    no value at `key`, so the block overlay and the check state answer None without asking LevelDB. A block
    reads ~0.9 absent keys per tx (the new requirement, guarantee id and live key of an issue, a credit's id:
    existence checks the rules need), each a LevelDB miss of 3-5 us of CPU on a small state and 7-11 us on a
    500,000-instrument one (most of the state's LevelDB reads in a long run); a test here costs ~0.3 us.

    Exactness: every key the committed state holds was added (the application scans its state keys when it
    starts and adds every key a commit or init_chain writes, before the write lands), so a key missing from the
    filter is absent; a deleted key stays in the filter (it only costs a read). A wrong "may hold" is a LevelDB
    read, as without the filter: results are those of the store. Two probes from Python's `hash` of the key
    (computed once per bytes object; never reaches a stored byte or a hash). Sized at the start for ~32 bits per
    key; as the state grows past that the false "may hold" rate rises (~5 % at 8 bits per key) until the next
    start sizes it again.

    It also holds the scan marks of the committed index keys of the `SCAN_FILTERED` families (state/store.py
    `scan_marks`,
    added by the same scan at start and by commit): `Overlay.iterate` skips the store's scan under a prefix that
    has no mark. The marks are index prefixes, never state keys, and a few per open credit request."""

    MIN_BITS_LOG2 = 23  # 1 MiB: ~260,000 keys at 32 bits per key
    MAX_BITS_LOG2 = 28  # 32 MiB: 8 M keys at 32 bits per key

    def __init__(self, bits_log2: int = MIN_BITS_LOG2) -> None:
        self.bits = bytearray(1 << (bits_log2 - 3))
        self.mask = (1 << bits_log2) - 1
        self.count = 0  # keys added (with repeats)

    @classmethod
    def of(cls, keys: Iterable[bytes]) -> KeyFilter:
        """A filter holding `keys`, sized for ~32 bits per key (MIN_BITS_LOG2 to MAX_BITS_LOG2): their hashes
        are gathered first (an array of 8 bytes a key, filled in C), then set."""
        hashes = array("q", map(hash, keys))
        log2 = cls.MIN_BITS_LOG2
        while log2 < cls.MAX_BITS_LOG2 and (1 << log2) < 32 * len(hashes):
            log2 += 1
        f = cls(log2)
        f._set(hashes)
        return f

    def _set(self, hashes: Iterable[int]) -> None:
        m, b = self.mask, self.bits
        n = 0
        for h in hashes:
            i = h & m
            b[i >> 3] |= 1 << (i & 7)
            i = (h >> 32) & m
            b[i >> 3] |= 1 << (i & 7)
            n += 1
        self.count += n

    def add(self, key: bytes) -> None:
        self._set((hash(key),))

    def update(self, keys: Iterable[bytes]) -> None:
        self._set(map(hash, keys))

    def may_hold(self, key: bytes) -> bool:
        h, m, b = hash(key), self.mask, self.bits
        i = h & m
        if not b[i >> 3] >> (i & 7) & 1:
            return False
        i = (h >> 32) & m
        return bool(b[i >> 3] >> (i & 7) & 1)

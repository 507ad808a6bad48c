"""A path-compressed binary Merkle trie over sha256(key), stored node by node in the KV.

Nodes live at positions (depth, prefix of the key hash): the key of a position is `depth byte ‖ prefix
bits packed into bytes`. A position holds a leaf `L ‖ key_hash ‖ value_hash` or an inner node
`I ‖ left_hash ‖ right_hash`; an empty subtree has no entry. Only the latest version is kept (queries and
proofs are served at the latest committed height), so the trie costs one node per level per touched key.

`Trie.update(changes)` applies a whole block's changes at once: the changed key hashes are sorted and the
trie is walked once, each touched path hashed once, subtrees without changes left alone. Node writes go to
an in-memory `writes` map; the application persists them in the same atomic batch as the records.
Hash rules and proof verification: state/proofs.py.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping
from typing import Protocol

from state.proofs import EMPTY, TrieProof

Node = tuple[bytes, bytes, bytes]  # (b"L", key_hash, value_hash) | (b"I", left_hash, right_hash)
Item = tuple[int, bytes, bytes | None]  # (key hash as int, key hash, value hash or None = delete)
_UNCHANGED: Node = (b"U", b"", b"")
_sha256 = hashlib.sha256


class NodeReader(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


Pos = tuple[int, int]  # (depth, prefix)


_MISS: Node = (b"M", b"", b"")


class CachedNodes:
    """Committed trie nodes, decoded, with a read cache keyed by (depth, prefix) and bounded in bytes.

    The application is the only writer of its trie: after a commit is durable it calls `apply` with the
    block's node changes, so the cache never serves a stale node.

    Bound: an entry (key tuple, prefix int, node tuple and its two hashes, dict slot) takes ~340 bytes
    (tracemalloc), so `max_bytes` (64 MiB) holds ~200,000 nodes. Eviction is by two generations (an LRU
    approximation at dict speed): reads and writes go to the young dict; when it holds half the bound it
    becomes the old one and the previous old one is dropped; a node found in the old generation moves back
    to the young one. What every block touches (the top of the trie, the paths of busy keys such as a hot
    signer's account) stays; a node deep down touched once goes after two generations, and the memory
    plateaus whatever the size of the state."""

    ENTRY_BYTES = 340

    def __init__(self, nodes: NodeReader, max_entries: int | None = None, *, max_bytes: int = 64 << 20) -> None:
        self._nodes = nodes
        self._cache: dict[Pos, Node | None] = {}  # the young generation (`Trie._upsert` reads it directly)
        self._old: dict[Pos, Node | None] = {}
        self._max = max(2, max_bytes // self.ENTRY_BYTES if max_entries is None else max_entries)
        self._gen = self._max // 2

    def __len__(self) -> int:
        return len(self._cache) + len(self._old)

    def node(self, depth: int, prefix: int) -> Node | None:
        key = (depth, prefix)
        node = self._cache.get(key, _MISS)
        if node is not _MISS:
            return node
        node = self._old.pop(key, _MISS)
        if node is _MISS:
            raw = self._nodes.get(position(depth, prefix))
            node = None if raw is None else _decode(raw)
        self._cache[key] = node
        if len(self._cache) >= self._gen:
            self._old, self._cache = self._cache, {}
        return node

    def apply(self, changes: Mapping[Pos, Node | None]) -> None:
        """Make committed node changes visible (call after they are durably written)."""
        old = self._old
        if old:
            for key in changes:
                old.pop(key, None)
        self._cache.update(changes)
        if len(self._cache) >= self._gen:
            self._old, self._cache = self._cache, {}
            if len(self._old) > self._gen:  # a block larger than a generation: keep what fits
                self._old = dict(list(self._old.items())[-self._gen:])

    def clear(self) -> None:
        self._cache.clear()
        self._old.clear()


_POS_HEAD = [d.to_bytes(2, "big") for d in range(257)]
_POS_SHIFT = [-d % 8 for d in range(257)]
_POS_BYTES = [(d + 7) >> 3 for d in range(257)]


def position(depth: int, prefix: int) -> bytes:
    nbytes = (depth + 7) // 8
    packed = (prefix << (nbytes * 8 - depth)).to_bytes(nbytes, "big") if nbytes else b""
    return depth.to_bytes(2, "big") + packed


def node_hash(node: Node | None) -> bytes:
    """`leaf_hash` / `inner_hash` of state/proofs.py (the rules proofs are checked against), inlined: this runs
    once per level of every touched path (the golden app hashes and proof checks of tests/state hold it to them)."""
    if node is None:
        return EMPTY
    return _sha256((b"\x00" if node[0] == b"L" else b"\x01") + node[1] + node[2]).digest()


def _encode(node: Node) -> bytes:
    return node[0] + node[1] + node[2]


def _decode(raw: bytes) -> Node:
    return (raw[:1], raw[1:33], raw[33:65])


class Trie:
    """The trie over a node store (a KV of positions, or `CachedNodes`); pending changes kept in memory."""

    def __init__(self, nodes: NodeReader | CachedNodes) -> None:
        self._src = nodes if isinstance(nodes, CachedNodes) else CachedNodes(nodes, max_entries=1 << 40)
        # (a private unbounded cache: a Trie over a plain store lives for one update or one query)
        self.changes: dict[Pos, Node | None] = {}

    def write_items(self) -> list[tuple[bytes, bytes | None]]:
        """The pending node changes as KV operations: (position key, encoded node or None = delete), in the
        order they were made. `position` and `_encode` inlined with per-depth tables (one entry per touched
        level of every changed key, every block): (-d) % 8 == nbytes * 8 - d, and (0).to_bytes(0) == b""
        covers the root."""
        head, shift, nbytes, join = _POS_HEAD, _POS_SHIFT, _POS_BYTES, b"".join
        return [(head[d] + (p << shift[d]).to_bytes(nbytes[d], "big"), None if n is None else join(n))
                for (d, p), n in self.changes.items()]

    @property
    def writes(self) -> dict[bytes, bytes | None]:
        """The pending node changes as a map (position key -> encoded node, None = delete)."""
        return dict(self.write_items())

    # ---------------------------------------------------------------- reading
    def _load(self, depth: int, prefix: int) -> Node | None:
        key = (depth, prefix)
        if key in self.changes:
            return self.changes[key]
        return self._src.node(depth, prefix)

    def _store(self, depth: int, prefix: int, node: Node | None) -> None:
        self.changes[(depth, prefix)] = node

    def root(self) -> bytes:
        return node_hash(self._load(0, 0))

    def prove(self, key_hash: bytes) -> TrieProof:
        k = int.from_bytes(key_hash, "big")
        siblings: list[bytes] = []
        node = self._load(0, 0)
        depth, prefix = 0, 0
        while node is not None and node[0] == b"I":
            bit = (k >> (255 - depth)) & 1
            siblings.append(node[1] if bit else node[2])
            prefix = (prefix << 1) | bit
            depth += 1
            node = self._load(depth, prefix)
        if node is None:
            return TrieProof(tuple(siblings), b"", b"")
        return TrieProof(tuple(siblings), node[1], node[2])

    def get_value_hash(self, key_hash: bytes) -> bytes | None:
        proof = self.prove(key_hash)
        return proof.leaf_value_hash if proof.leaf_key == key_hash else None

    # ---------------------------------------------------------------- writing
    def update(self, changes: Mapping[bytes, bytes | None]) -> bytes:
        """Apply {key_hash: value_hash or None (delete)} and return the new root."""
        items: list[Item] = sorted((int.from_bytes(kh, "big"), kh, vh) for kh, vh in changes.items())
        if not items:
            return self.root()
        new = self._apply(0, 0, self._load(0, 0), items)
        self._store(0, 0, new)
        return node_hash(new)

    def _apply(self, depth: int, prefix: int, node: Node | None, items: list[Item]) -> Node | None:
        if len(items) == 1 and items[0][2] is not None:
            return self._upsert(depth, prefix, node, items[0])
        if node is None:
            return self._build(depth, prefix, [it for it in items if it[2] is not None])
        if node[0] == b"L":
            merged = {it[1]: it for it in items}
            if node[1] not in merged:
                merged[node[1]] = (int.from_bytes(node[1], "big"), node[1], node[2])
            live = sorted(it for it in merged.values() if it[2] is not None)
            return self._build(depth, prefix, live)
        split = _split(items, depth)
        lp, rp = prefix << 1, (prefix << 1) | 1
        d1, changes, node_at = depth + 1, self.changes, self._src.node  # `_load` inlined: once per level per key
        if split:
            kl = (d1, lp)
            new_l = self._apply(d1, lp, changes[kl] if kl in changes else node_at(d1, lp), items[:split])
        else:
            new_l = _UNCHANGED
        if split < len(items):
            kr = (d1, rp)
            new_r = self._apply(d1, rp, changes[kr] if kr in changes else node_at(d1, rp), items[split:])
        else:
            new_r = _UNCHANGED
        lh = node[1] if new_l is _UNCHANGED else node_hash(new_l)
        rh = node[2] if new_r is _UNCHANGED else node_hash(new_r)
        if lh == EMPTY and rh == EMPTY:
            self._clear(depth + 1, lp, new_l)
            self._clear(depth + 1, rp, new_r)
            return None
        if lh == EMPTY or rh == EMPTY:
            only_l = rh == EMPTY
            other = new_l if only_l else new_r
            other_p = lp if only_l else rp
            if other is _UNCHANGED:
                other = self._load(depth + 1, other_p)
            if other is not None and other[0] == b"L":
                self._clear(depth + 1, lp, new_l)
                self._clear(depth + 1, rp, new_r)
                self._store(depth + 1, other_p, None)
                return other
        if new_l is not _UNCHANGED:
            changes[(depth + 1, lp)] = new_l
        if new_r is not _UNCHANGED:
            changes[(depth + 1, rp)] = new_r
        return (b"I", lh, rh)

    def _upsert(self, depth: int, prefix: int, node: Node | None, item: Item) -> Node:
        """`_apply` of one item that sets a value, as one loop down and one up (no recursion, no splits): below
        the first few levels of a block's update every touched path carries a single key, and most keys are
        set, not deleted. Setting a value never empties a subtree, so no leaf is pulled up on the way back:
        each inner node on the path gets the new hash on the key's side and keeps its other child. Returns
        the new node at (depth, prefix), whose subtree's changed nodes are in `changes` (as `_apply`)."""
        k, kh, vh = item
        assert vh is not None
        changes, cache, node_at = self.changes, self._src._cache, self._src.node
        path: list[tuple[int, Node]] = []  # (bit, inner node) at depth, depth + 1, ...
        d, p = depth, prefix
        while node is not None and node[0] == b"I":
            bit = (k >> (255 - d)) & 1
            path.append((bit, node))
            d += 1
            p = (p << 1) | bit
            key = (d, p)
            node = changes.get(key, _MISS)
            if node is _MISS:
                node = cache.get(key, _MISS)
                if node is _MISS:
                    node = node_at(d, p)
        if node is None or node[1] == kh:
            new: Node = (b"L", kh, vh)
        else:  # another key's leaf: both go below it
            other = (int.from_bytes(node[1], "big"), node[1], node[2])
            new = self._build(d, p, [item, other] if k < other[0] else [other, item])  # type: ignore[assignment]
        sha = _sha256
        for bit, inner in reversed(path):
            changes[(d, p)] = new
            h = sha((b"\x00" if new[0] == b"L" else b"\x01") + new[1] + new[2]).digest()
            new = (b"I", inner[1], h) if bit else (b"I", h, inner[2])
            d -= 1
            p >>= 1
        return new

    def _clear(self, depth: int, prefix: int, node: Node | None) -> None:
        if node is not _UNCHANGED:
            self._store(depth, prefix, None)

    def _build(self, depth: int, prefix: int, live: list[Item]) -> Node | None:
        """The subtree for `live` items at an empty position (positions below are empty)."""
        if not live:
            return None
        if len(live) == 1:
            vh = live[0][2]
            assert vh is not None
            return (b"L", live[0][1], vh)
        split = _split(live, depth)
        lp, rp = prefix << 1, (prefix << 1) | 1
        left = self._build(depth + 1, lp, live[:split])
        right = self._build(depth + 1, rp, live[split:])
        if left is not None:
            self._store(depth + 1, lp, left)
        if right is not None:
            self._store(depth + 1, rp, right)
        return (b"I", node_hash(left), node_hash(right))


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

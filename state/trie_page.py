"""A trie page in memory (state/trie.py): a few byte strings instead of a tuple of per-slot objects.

A page of k levels has slots 1 .. W - 1 (W = 2^(k+1), heap order: slot s has children 2s and 2s + 1; the
frontier is n = 2^k .. W - 1). Its stored form `raw` lists the occupied slots in slot order, each as a token
byte (slot number, 0x80 for a leaf) followed by the leaf's key_hash ‖ value_hash, the frontier inner node's
hash, or nothing (an inner node inside the page: its hash is recomputed from its children). In memory:

    page = (size, hashes, kinds, raw, offs)                 frozen: shared by the cache, queries, the next block
    page = [None, hashes, kinds, raw, offs, mv, restruct]   being changed: a `Trie`'s own

- `hashes`: the slots' hashes in n cells of 65 bytes, cell c = 0x01 ‖ hash of slot 2c ‖ hash of slot 2c + 1
  (slot s at `OFF[s]`; cell 0 holds the page's top, slot 1, after 32 unused bytes). A node's two children are
  adjacent behind the inner-hash prefix byte, so inner slot c's hash is one sha256 of `hashes[65c:65c+65]`
  (state/proofs.py `inner_hash`; `mv` is a memoryview of `hashes` to slice it without copies). An empty slot's
  hash is `EMPTY` (zeros).
- `kinds`: one byte a slot: 0 empty, 1 inner node, 2 leaf.
- `raw`: the stored form itself; `offs` (2 bytes a slot, little-endian) the offset of a leaf's or frontier inner
  node's record in it. A changed key's leaf value and a frontier node's new hash are written into `raw` in
  place, so a page whose shape did not change is stored as it is, without encoding. A change of shape (a leaf
  added, removed or moved, a node made or gone) makes the page *restructured*: its `kinds` and `offs` become
  its own copies, new records are appended to `raw`, and freezing encodes `raw` again in slot order.

No per-slot objects: copying a page is two memcpys (`kinds` and `offs` are shared until the page is
restructured), and a frozen page is five objects of which only its tuple is tracked by the garbage collector
(untracked at the first collection it meets, as it holds no containers). Freezing a page copies nothing but its
stored form (which goes to the store as bytes): a frozen page keeps the bytearrays it was changed in, and no
code writes to them again (`Trie._writable` changes a copy; `thaw`, `restructure`).
"""

from __future__ import annotations

import hashlib
from itertools import compress
from typing import Any

_sha256 = hashlib.sha256

LEAF_FLAG = 0x80
BAD_BITS = 0x40  # never set in a token: the first byte of a node of the old layout (b"L", b"I") has it
LEAF_REC = 65  # a leaf's record: token + key hash + value hash
FRONT_REC = 33  # a frontier inner node's record: token + hash
CELL = 65  # a hash cell: 0x01 + the hashes of two sibling slots
EMPTY_KIND, INNER, LEAF = 0, 1, 2


class TrieLayoutError(ValueError):
    """A stored trie entry is not a page of this layout (e.g. a home written before pages: reset it)."""


OFF = [CELL * (s >> 1) + 1 + 32 * (s & 1) for s in range(64)]  # slot s's hash in `hashes`
HASH = [slice(o, o + 32) for o in OFF]  # ... as a slice
CELLS = [slice(CELL * s, CELL * s + CELL) for s in range(64)]  # inner slot s's hash input: 0x01 ‖ its children's
TOP = HASH[1]  # the page's top
TOKENS = [bytes([s]) for s in range(64)]
LEAF_TOKENS = [bytes([s | LEAF_FLAG]) for s in range(64)]
SLOTS = range(64)
ZERO32 = bytes(32)

_EMPTY_HASHES = {lv: (b"\x01" + bytes(64)) * (1 << lv) for lv in range(1, 6)}

Buf = bytes | bytearray
Page = list[Any]  # a page being changed: [None, hashes, kinds, raw, offs, memoryview of hashes, restructured]
Frozen = tuple[int, Buf, Buf, bytes, Buf]  # a committed page: (size, hashes, kinds, raw, offs), never written


def page_base_bytes(levels: int) -> int:
    """Memory of a cached page besides its stored form's bytes, as the allocators hand it out (pymalloc rounds to
    16 bytes; a buffer over 512 bytes comes from malloc, + 8 rounded to 16): the 5-tuple (80) and its size int
    (32); `hashes`, a bytearray (64 with its header's rounding) of 65 n bytes + 1 from malloc; `kinds` and `offs`,
    bytearrays (64 each) of W + 1 and 2 W + 1 bytes; `raw`'s bytes header (33, + 15 for rounding); its entry in
    a generation dict with its (depth, prefix) key (200). tests/state/test_trie_pages.py holds the estimate
    between tracemalloc's requested bytes and 1.25 times them."""
    n = 1 << levels
    return 80 + 32 + 64 + (CELL * n + 1 + 8 + 15 & ~15) + 64 + (2 * n + 1 + 15 & ~15) + 64 + (4 * n + 1 + 15 & ~15) \
        + 48 + 200


def page_bytes(page: Page | Frozen, levels: int) -> int:
    """Estimated memory of a page once frozen (bytes): `page[0]` when known."""
    if page[0] is not None:
        return int(page[0])
    return page_base_bytes(levels) + len(encode_page(page, levels))


def new_page(levels: int) -> Page:
    """An empty page to change (the root page of an empty trie, or a new page below a frontier slot)."""
    h = bytearray(_EMPTY_HASHES[levels])
    return [None, h, bytearray(2 << levels), bytearray(), bytearray(4 << levels), memoryview(h), True]


def thaw(page: Frozen) -> Page:
    """A copy of a frozen page to change (its `kinds` and `offs` shared until it is restructured)."""
    h = bytearray(page[1])
    return [None, h, page[2], bytearray(page[3]), page[4], memoryview(h), False]


def restructure(page: Page) -> None:
    """Before a change of the page's shape: its own `kinds` and `offs` to change."""
    if not page[6]:
        page[2], page[4], page[6] = bytearray(page[2]), bytearray(page[4]), True


def record_at(page: Page | Frozen, s: int) -> int:
    """The offset in `raw` of slot s's record (a leaf or a frontier inner node)."""
    offs = page[4]
    return offs[2 * s] | offs[2 * s + 1] << 8


def append_record(page: Page, s: int, kind: int, record: bytes | bytearray) -> None:
    """Slot s of a restructured page becomes a leaf or a frontier inner node with this record."""
    raw, offs = page[3], page[4]
    o = len(raw)
    raw += record
    offs[2 * s], offs[2 * s + 1] = o & 0xFF, o >> 8
    page[2][s] = kind


def leaf_of(page: Page | Frozen, s: int) -> bytes:
    """key_hash ‖ value_hash of the leaf at slot s."""
    o = record_at(page, s)
    return bytes(page[3][o + 1:o + LEAF_REC])


def slot_hash(page: Page | Frozen, s: int) -> bytes:
    return bytes(page[1][HASH[s]])


def _encode(page: Page | Frozen, levels: int) -> tuple[bytes, bytearray]:
    """The stored form of a restructured page (its records in slot order: canonical, as every slot below an
    empty slot or a leaf is empty) and the offsets of its records in it."""
    n = 1 << levels
    kinds, raw, offs = page[2], page[3], page[4]
    out = bytearray()
    new = bytearray(4 << levels)
    for s in compress(SLOTS, kinds):
        if kinds[s] == INNER and s < n:
            out += TOKENS[s]
            continue
        o = offs[2 * s] | offs[2 * s + 1] << 8
        p = len(out)
        new[2 * s], new[2 * s + 1] = p & 0xFF, p >> 8
        if kinds[s] == INNER:
            out += raw[o:o + FRONT_REC]
        else:  # a leaf may have moved up since its record was written: its token again
            out += LEAF_TOKENS[s]
            out += raw[o + 1:o + LEAF_REC]
    return bytes(out), new


def encode_page(page: Page | Frozen, levels: int) -> bytes:
    """The stored form of a page."""
    if page.__class__ is list and page[6]:
        return _encode(page, levels)[0]
    return bytes(page[3])


def freeze(page: Page, levels: int) -> tuple[Frozen, bytes]:
    """A changed page frozen (its memory estimate in `size`), and its stored form."""
    if page[6]:
        raw, offs = _encode(page, levels)
        frozen = (page_base_bytes(levels) + len(raw), page[1], page[2], raw, offs)
    else:
        raw = bytes(page[3])
        frozen = (page_base_bytes(levels) + len(raw), page[1], page[2], raw, page[4])
    return frozen, raw


def decode_page(raw: bytes, levels: int) -> Frozen:
    """A stored page read back: its records located, the inner nodes inside it hashed bottom-up."""
    n = 1 << levels
    w = n << 1
    h = bytearray(_EMPTY_HASHES[levels])
    mv = memoryview(h)
    kinds = bytearray(w)
    offs = bytearray(2 * w)
    inner: list[int] = []
    i, end = 0, len(raw)
    sha, off = _sha256, OFF
    while i < end:
        t = raw[i]
        s = t & 0x3F
        if t & BAD_BITS or not 0 < s < w:
            raise TrieLayoutError(f"not a trie page (token {t:#x} at byte {i}): a home written with another "
                                  "trie layout must be reset")
        if t & LEAF_FLAG:
            j = i + LEAF_REC
            kinds[s] = LEAF
            o = off[s]
            h[o:o + 32] = sha(b"\x00" + raw[i + 1:j]).digest()
        elif s >= n:
            j = i + FRONT_REC
            kinds[s] = INNER
            if j <= end:
                o = off[s]
                h[o:o + 32] = raw[i + 1:j]
        else:
            kinds[s] = INNER
            inner.append(s)
            i += 1
            continue
        offs[2 * s], offs[2 * s + 1] = i & 0xFF, i >> 8
        i = j
    if i != end:
        raise TrieLayoutError("truncated trie page")
    for s in reversed(inner):  # children (2s, 2s + 1) have larger slot numbers: done first
        h[HASH[s]] = sha(mv[CELLS[s]]).digest()
    mv.release()
    return (page_base_bytes(levels) + end, h, kinds, raw, offs)

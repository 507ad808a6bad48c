"""A trie page in memory (state/trie.py): a few byte strings instead of a tuple of per-slot objects.

A page of k levels has slots 1 .. W - 1 (W = 2^(k+1), heap order: slot s has children 2s and 2s + 1; the
frontier is n = 2^k .. W - 1). Its stored form `raw` lists the occupied slots in slot order, each as a token
byte (slot number, 0x80 for a leaf) followed by the leaf's key_hash ‖ value_hash, the frontier inner node's
hash, or nothing (an inner node inside the page: its hash is recomputed from its children). In memory:

    page = (size, hashes, lens, raw)                frozen: shared by the cache, queries and the next block
    page = [None, hashes, lens, raw, mv, own_lens]  being changed: a `Trie`'s own

- `hashes`: the slots' hashes in n cells of 65 bytes, cell c = 0x01 ‖ hash of slot 2c ‖ hash of slot 2c + 1
  (slot s at `HASH[s]`; cell 0 holds the page's top, slot 1, after 32 unused bytes). A node's two children are
  adjacent behind the inner-hash prefix byte, so inner slot c's hash is one sha256 of `hashes[CELLS[c]]`
  (state/proofs.py `inner_hash`; `mv` is a memoryview of `hashes` to slice it without copies). An empty slot's
  hash is `EMPTY` (zeros).
- `lens`: one byte a slot, the length of its record, which also says what the slot holds: 0 empty, 1 an inner
  node inside the page (`INNER`), 33 an inner node at the frontier (`FRONT`), 65 a leaf (`LEAF`).
- `raw`: the stored form itself, always: slot s's record is at `sum(lens[:s])`. A leaf's new value and a
  frontier node's new hash are written into it in place; a slot that changes what it holds has its record
  replaced (`set_record`: one slice assignment). Freezing a page encodes nothing.

No per-slot objects: copying a page is two memcpys (`lens` is shared until the page changes shape), and a
frozen page is four objects of which only its tuple is tracked by the garbage collector (untracked at the first
collection it meets, as it holds no containers). Freezing copies nothing but the stored form (which goes to the
store as bytes): a frozen page keeps the bytearrays it was changed in, and no code writes to them again
(`Trie._writable` changes a copy: `thaw`, `own_lens`).
"""

from __future__ import annotations

import hashlib
from typing import Any

_sha256 = hashlib.sha256

LEAF_FLAG = 0x80
BAD_BITS = 0x40  # never set in a token: the first byte of a node of the old layout (b"L", b"I") has it
EMPTY_SLOT, INNER, FRONT, LEAF = 0, 1, 33, 65  # what a slot holds = its record's length
CELL = 65  # a hash cell: 0x01 + the hashes of two sibling slots


class TrieLayoutError(ValueError):
    """A stored trie entry is not a page of this layout (e.g. a home written before pages: reset it)."""


HASH = [slice(CELL * (s >> 1) + 1 + 32 * (s & 1), CELL * (s >> 1) + 33 + 32 * (s & 1)) for s in range(64)]
CELLS = [slice(CELL * s, CELL * s + CELL) for s in range(64)]  # inner slot s's hash input: 0x01 ‖ its children's
TOP = HASH[1]  # the page's top
TOKENS = [bytes([s]) for s in range(64)]
LEAF_TOKENS = [bytes([s | LEAF_FLAG]) for s in range(64)]
ZERO32 = bytes(32)

_EMPTY_HASHES = {lv: (b"\x01" + bytes(64)) * (1 << lv) for lv in range(1, 6)}

Buf = bytes | bytearray
Page = list[Any]  # a page being changed: [None, hashes, lens, raw, memoryview of hashes, lens is its own]
Frozen = tuple[int, Buf, Buf, bytes]  # a committed page: (size, hashes, lens, raw), never written


def page_base_bytes(levels: int) -> int:
    """Memory of a cached page besides its stored form's bytes, as the allocators hand it out (pymalloc rounds to
    16 bytes; a buffer over 512 bytes comes from malloc, + 8 rounded to 16): the 4-tuple (80 with its rounding)
    and its size int (32); `hashes`, a bytearray (64 with its header's rounding) of 65 n + 1 bytes from malloc;
    `lens`, a bytearray (64) of W + 1 bytes; `raw`'s bytes header (33, + 15 for rounding); its entry in a
    generation dict with its (depth, prefix) key (200); and 144 for the allocators' fragmentation as pages come
    and go. Measured without the 144 (devnet/bench/trie_ab.py --memory-every, 500,000 keys, 60 blocks of 3,000
    changed keys; the cache evicts at both bounds): trie_cache_mib 128 vs 256, anonymous RSS 220-227 vs 354-360
    MiB for 67,000-70,000 vs 137,000-145,000 pages: ~1,920 bytes of RSS per marginal page against ~1,780 by
    weight (8 % under, as session 5 found for the tuple pages); with the 144 the weight is what the process
    grows by, so `trie_cache_mib` bounds resident bytes. tests/state/test_trie_pages.py holds the estimate
    between tracemalloc's requested bytes and 1.25 times them (1.17 on its 30,000-key trie)."""
    n = 1 << levels
    return 80 + 32 + 64 + (CELL * n + 1 + 8 + 15 & ~15) + 64 + (2 * n + 1 + 15 & ~15) + 48 + 200 + 144


def page_bytes(page: Page | Frozen, levels: int) -> int:
    """Estimated memory of a page once frozen (bytes): `page[0]` when known."""
    if page[0] is not None:
        return int(page[0])
    return page_base_bytes(levels) + len(page[3])


def new_page(levels: int) -> Page:
    """An empty page to change (the root page of an empty trie, or a new page below a frontier slot)."""
    h = bytearray(_EMPTY_HASHES[levels])
    return [None, h, bytearray(2 << levels), bytearray(), memoryview(h), True]


def thaw(page: Frozen) -> Page:
    """A copy of a frozen page to change (its `lens` shared until it changes shape: `own_lens`)."""
    h = bytearray(page[1])
    return [None, h, page[2], bytearray(page[3]), memoryview(h), False]


def own_lens(page: Page) -> bytearray:
    """The page's `lens` to change (copied from the committed page's the first time)."""
    if not page[5]:
        page[2], page[5] = bytearray(page[2]), True
    return page[2]  # type: ignore[no-any-return]


def set_record(page: Page, s: int, record: bytes) -> None:
    """Slot s now holds what `record` (its stored form, b"" for nothing) says: the record replaces the slot's
    old one in `raw`, in slot order."""
    lens = page[2] if page[5] else own_lens(page)
    o = sum(lens[:s])
    page[3][o:o + lens[s]] = record
    lens[s] = len(record)


def leaf_of(page: Page | Frozen, s: int) -> bytes:
    """key_hash ‖ value_hash of the leaf at slot s."""
    o = sum(page[2][:s])
    return bytes(page[3][o + 1:o + LEAF])


def slot_hash(page: Page | Frozen, s: int) -> bytes:
    return bytes(page[1][HASH[s]])


def encode_page(page: Page | Frozen, levels: int) -> bytes:
    """The stored form of a page."""
    return bytes(page[3])


def freeze(page: Page, levels: int) -> tuple[Frozen, bytes]:
    """A changed page frozen (its memory estimate in `size`), and its stored form."""
    raw = bytes(page[3])
    return (page_base_bytes(levels) + len(raw), page[1], page[2], raw), raw


def decode_page(raw: bytes, levels: int) -> Frozen:
    """A stored page read back: its records' lengths noted, the inner nodes inside it hashed bottom-up."""
    n = 1 << levels
    w = n << 1
    h = bytearray(_EMPTY_HASHES[levels])
    lens = bytearray(w)
    inner: list[int] = []
    i, end, last = 0, len(raw), 0
    sha, at = _sha256, HASH
    while i < end:
        t = raw[i]
        s = t & 0x3F
        if t & BAD_BITS or not last < s < w:  # (slots in order: each slot's record is where `lens` puts it)
            raise TrieLayoutError(f"not a trie page (token {t:#x} at byte {i}): a home written with another "
                                  "trie layout must be reset")
        last = s
        if t & LEAF_FLAG:
            lens[s] = LEAF
            h[at[s]] = sha(b"\x00" + raw[i + 1:i + LEAF]).digest()
            i += LEAF
        elif s >= n:
            lens[s] = FRONT
            h[at[s]] = raw[i + 1:i + FRONT]  # (cut short only at the end: refused below)
            i += FRONT
        else:
            lens[s] = INNER
            inner.append(s)
            i += INNER
    if i != end:
        raise TrieLayoutError("truncated trie page")
    mv, cells = memoryview(h), CELLS
    for s in reversed(inner):  # children (2s, 2s + 1) have larger slot numbers: done first
        h[at[s]] = sha(mv[cells[s]]).digest()
    mv.release()
    return (page_base_bytes(levels) + end, h, lens, raw)

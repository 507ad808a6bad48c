"""The block store: blocks, commits, FinalizeBlock results and lookups by hash, on the shared KV.

Why every write takes a `Batch`: the node commits a block in CometBFT's durability order (save block + seen
commit → finalize → save results → app commit → state) and may also want one atomic write spanning the block
store, the event index and the application state. So each `save_*` method only *adds operations* to the
caller's batch; with `batch=None` it makes its own batch and commits it with `sync=True`. The store's range
(base, height) is read from the KV, so it only moves when the batch holding the block is committed. Put at
most one block into one uncommitted batch.

Layout (inside the namespace `NS`; heights are 8-byte big-endian so keys sort by height):

    b"b" h → encoded chain.Block          b"m" h → BlockMeta          b"#" block hash → h
    b"c" h → canonical commit of h (the last_commit of block h+1)
    b"s" h → seen commit of h (the +2/3 precommits this node saw)
    b"r" h → chain.FinalizeBlockResult    b"R" → StoreRange(base, height)
    b"t" tx hash → TxLocation (homes written before 2026-11-26 only: read by nothing but `prune`, which
                               deletes them; the tx index's `th` records answer lookups by hash)
    b"e" sha256(evidence item) → h, the height of the block that carried it (node/evidence.py refuses an
                               item already committed: after a restart as before it)
    b"E" → the height up to which `e` entries were rebuilt from the blocks of a home written before them
                               (`index_committed_evidence`, once at start)

`prune(retain_height)` deletes every height below `retain_height` (blocks, metas, commits, results, tx
locations and committed-evidence entries) and raises the base; `prune_below` prunes the state store's history
with it (the node does not prune yet: nothing calls them outside tests).
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from state.chain import (
    MAX_BLOCK_BYTES,
    Block,
    BlockID,
    Commit,
    FinalizeBlockResult,
    Header,
    evidence_hash,
    pack_results,
    tx_hash,
)
from state.codec import Record
from state.crypto import sha256
from state.fastrec import pack, unpack
from state.kv import KV, Batch

if TYPE_CHECKING:
    from node.statestore import ChainState, StateStore

NS = b"blockstore/"
_H = struct.Struct(">Q")


def hkey(prefix: bytes, height: int) -> bytes:
    return prefix + _H.pack(height)


class BlockStoreError(Exception):
    """A save that would break the store's invariants (a gap, a conflicting block, pruning above the top)."""


@dataclass(frozen=True)
class BlockMeta(Record):
    """What `blockchain` and `block_by_hash` need without decoding the whole block."""

    TAG = 0x51
    block_id: BlockID
    block_size: int
    header: Header
    num_txs: int


@dataclass(frozen=True)
class TxLocation(Record):
    TAG = 0x52
    height: int
    index: int


@dataclass(frozen=True)
class StoreRange(Record):
    TAG = 0x53
    base: int
    height: int


class BlockStore:
    def __init__(self, kv: KV, ns: bytes = NS) -> None:
        self._root = kv
        self._kv = kv.prefixed(ns)
        self._ns = ns
        # the stored range as this object last wrote or read it: `height`/`base` are asked for every status
        # message (4 a second and one per block, to each peer) and by RPC; a LevelDB read and a decode each
        # time before. Only this object writes the range (one store per database in a node); a write in a
        # caller's batch turns the cache off for good, since that batch may commit later or never (the node
        # writes it in its own batches). The commit worker writes, the loop reads: a read that raced a write is
        # not kept. `_writes` is odd while a write of ours is in flight (from `_writing_range` until the batch
        # is committed and the new range set), even otherwise; a read keeps what it read only if `_writes` was
        # even before it read and unchanged after, checked and set under `_lock`, which the writer holds to
        # set the new range. (With a bare counter, a read that began after `_writing_range` and read the old
        # record before the commit could store that old range after the writer set the new one: the next
        # save_block then refused its height, "the store holds 1..h-1", and the node halted.)
        self._rng: StoreRange | None = None
        self._writes = 0
        self._lock = threading.Lock()
        self._cached = True
        self._fuller: tuple[int, Commit] | None = None  # `defer_seen_commit`: (height, commit), set on the loop

    # --- range ---------------------------------------------------------------------------------
    def _range(self) -> StoreRange:
        rng = self._rng
        if rng is None:
            writes = self._writes
            raw = self._kv.get(b"R")
            rng = StoreRange(0, 0) if raw is None else StoreRange.decode(raw)
            if not writes & 1 and self._cached:
                with self._lock:
                    if writes == self._writes:
                        self._rng = rng
        return rng

    def _writing_range(self, own: bool) -> None:
        """Before a write of the range: no read keeps a range until `_written_range` (or ever, for a write in
        a caller's batch, which may commit later or never)."""
        with self._lock:
            if not self._writes & 1:  # odd now (after a caller's batch it stays odd: nothing is kept again)
                self._writes += 1
            self._rng = None
            self._cached = self._cached and own

    def _written_range(self, rng: StoreRange) -> None:
        """After our own batch holding the range `rng` committed."""
        with self._lock:
            self._rng = rng if self._cached else None
            self._writes += 1  # even: reads may keep what they read again

    @property
    def base(self) -> int:
        """Lowest stored height (0 when empty)."""
        return self._range().base

    @property
    def height(self) -> int:
        """Highest stored height (0 when empty)."""
        return self._range().height

    def _batch(self, batch: Batch | None) -> tuple[Batch, bool]:
        if batch is None:
            return self._root.batch().prefixed(self._ns), True
        return batch.prefixed(self._ns), False

    # --- writes --------------------------------------------------------------------------------
    def save_block(self, block: Block, seen_commit: Commit, batch: Batch | None = None) -> BlockMeta:
        """Block h, its seen commit, and block h-1's canonical commit (block h's last_commit)."""
        h = block.header.height
        rng = self._range()
        if rng.height and h != rng.height + 1:
            stored = self.load_block_meta(h) if rng.base <= h <= rng.height else None
            if stored is None:
                raise BlockStoreError(f"cannot save block {h}: the store holds {rng.base}..{rng.height}")
            if stored.block_id.hash != block.hash():
                raise BlockStoreError(f"a different block is already stored at height {h}")
            return stored  # idempotent re-save (a replay after a crash)
        data = block.packed()  # every record here is written with fastrec.pack: the bytes of .encode(), cheaper
        block_id = block.block_id()  # (= BlockID(block.hash(), part_set_header(data)), made once per block)
        if seen_commit.height != h or seen_commit.block_id.hash != block_id.hash:
            raise BlockStoreError(f"seen commit is not for block {h} {block_id.hash.hex()}")
        meta = BlockMeta(block_id, len(data), block.header, len(block.txs))
        b, own = self._batch(batch)
        b.put(hkey(b"b", h), data)
        b.put(hkey(b"m", h), pack(meta))
        b.put(b"#" + block_id.hash, _H.pack(h))
        b.put(hkey(b"s", h), pack(seen_commit))
        fuller = self._fuller
        if fuller is not None and fuller[0] == h - 1:  # (`defer_seen_commit`: the previous height's, made fuller)
            b.put(hkey(b"s", h - 1), pack(fuller[1]))
        if block.last_commit.height > 0:
            b.put(hkey(b"c", h - 1), pack(block.last_commit))
        # (no `t` tx locations any more: nothing read them but `prune`; tx lookups are the indexer's `th`)
        for item in block.evidence:  # (rare: most blocks carry none)
            b.put(b"e" + sha256(item), _H.pack(h))
        new_rng = StoreRange(rng.base or h, h)
        b.put(b"R", pack(new_rng))
        self._writing_range(own)
        if own:
            b.commit(sync=True)
            self._written_range(new_rng)
        return meta

    def save_seen_commit(self, height: int, commit: Commit, batch: Batch | None = None) -> None:
        """Replace the seen commit of `height` (late precommits make a fuller one)."""
        b, own = self._batch(batch)
        b.put(hkey(b"s", height), pack(commit))
        if own:
            b.commit(sync=True)

    def defer_seen_commit(self, height: int, commit: Commit) -> None:
        """Replace the seen commit of `height` (the top block's, made fuller by late precommits) in the batch of
        the next block (`save_block` of height + 1) instead of a write of its own, ~once a height; until then
        `load_seen_commit` answers it from memory. Why it may wait: the smaller commit stored with the block is
        as valid (+2/3), so a crash or a stop before the next block leaves a valid, smaller seen commit, which
        is what the write without sync it replaces allowed already (node/seen_commit.py). Called on the loop;
        `save_block` reads it in the commit thread after the next decision, which the hand-off to that thread
        orders after this call."""
        self._fuller = (height, commit)

    def save_results(self, height: int, result: FinalizeBlockResult, batch: Batch | None = None) -> None:
        b, own = self._batch(batch)
        b.put(hkey(b"r", height), pack_results(result))  # = result.encode(), encoded once per block (the app's
        # replay record is the same bytes)
        if own:
            b.commit(sync=True)

    def prune(self, retain_height: int, batch: Batch | None = None) -> int:
        """Delete every height below `retain_height`; returns how many blocks were pruned."""
        rng = self._range()
        if retain_height <= rng.base or rng.height == 0:
            return 0
        if retain_height > rng.height:
            raise BlockStoreError(f"cannot prune to {retain_height}: the store ends at {rng.height}")
        b, own = self._batch(batch)
        for h in range(rng.base, retain_height):
            block = self.load_block(h)
            if block is not None:
                for tx in block.txs:
                    loc = self.tx_location(tx_hash(tx))
                    if loc is not None and loc.height == h:
                        b.delete(b"t" + tx_hash(tx))
                b.delete(b"#" + block.hash())
                for item in block.evidence:
                    b.delete(b"e" + sha256(item))
            for prefix in (b"b", b"m", b"c", b"s", b"r"):
                b.delete(hkey(prefix, h))
        new_rng = StoreRange(retain_height, rng.height)
        b.put(b"R", new_rng.encode())
        self._writing_range(own)
        if own:
            b.commit(sync=True)
            self._written_range(new_rng)
        return retain_height - rng.base

    def index_committed_evidence(self) -> int:
        """Write the `e` entries of the stored blocks saved before `save_block` wrote them (a home written
        before 2026-11-26), once: only blocks whose header has a non-empty evidence hash are read; returns
        how many entries were written."""
        if self._kv.get(b"E") is not None:
            return 0
        rng, empty, n = self._range(), evidence_hash(()), 0
        b, _ = self._batch(None)
        # one range scan of the metas, our own bytes unpacked (~10 us a block against ~50 with a get and the
        # checked decode each: ~1 s for 100,000 blocks, once)
        metas = self._kv.iterate(prefix=b"m", start=hkey(b"m", rng.base), stop=hkey(b"m", rng.height + 1))
        for k, raw in metas if rng.height else ():
            if unpack(BlockMeta, raw).header.evidence_hash == empty:
                continue
            h = int(_H.unpack(k[1:])[0])
            block = self.load_block(h)
            for item in block.evidence if block is not None else ():
                b.put(b"e" + sha256(item), _H.pack(h))
                n += 1
        b.put(b"E", _H.pack(rng.height))
        b.commit(sync=True)
        return n

    def committed_evidence_height(self, item_hash: bytes) -> int | None:
        """The height of the stored block that carried the evidence item of this SHA-256, or None."""
        raw = self._kv.get(b"e" + item_hash)
        return None if raw is None else int(_H.unpack(raw)[0])

    # --- reads ---------------------------------------------------------------------------------
    def load_block_bytes(self, height: int) -> bytes | None:
        return self._kv.get(hkey(b"b", height))

    def load_block(self, height: int) -> Block | None:
        raw = self.load_block_bytes(height)
        return None if raw is None else Block.decode(raw, max_size=MAX_BLOCK_BYTES)

    def height_of(self, block_hash: bytes) -> int | None:
        raw = self._kv.get(b"#" + block_hash)
        return None if raw is None else int(_H.unpack(raw)[0])

    def load_block_by_hash(self, block_hash: bytes) -> Block | None:
        h = self.height_of(block_hash)
        return None if h is None else self.load_block(h)

    def load_block_meta(self, height: int) -> BlockMeta | None:
        raw = self._kv.get(hkey(b"m", height))
        return None if raw is None else BlockMeta.decode(raw, max_size=MAX_BLOCK_BYTES)

    def load_block_meta_by_hash(self, block_hash: bytes) -> BlockMeta | None:
        h = self.height_of(block_hash)
        return None if h is None else self.load_block_meta(h)

    def load_block_commit(self, height: int) -> Commit | None:
        """The canonical commit of `height` (stored with block height+1)."""
        raw = self._kv.get(hkey(b"c", height))
        return None if raw is None else Commit.decode(raw)

    def load_seen_commit(self, height: int) -> Commit | None:
        fuller = self._fuller
        if fuller is not None and fuller[0] == height:
            return fuller[1]
        raw = self._kv.get(hkey(b"s", height))
        return None if raw is None else Commit.decode(raw)

    def load_commit(self, height: int) -> tuple[Commit, bool] | None:
        """(commit, canonical) as RPC `commit` answers: the canonical one if known, else the seen one."""
        c = self.load_block_commit(height)
        if c is not None:
            return c, True
        s = self.load_seen_commit(height)
        return None if s is None else (s, False)

    def load_results(self, height: int) -> FinalizeBlockResult | None:
        raw = self._kv.get(hkey(b"r", height))
        return None if raw is None else unpack(FinalizeBlockResult, raw)  # our own bytes (written by save_results)

    def tx_location(self, txhash: bytes) -> TxLocation | None:
        raw = self._kv.get(b"t" + txhash)
        return None if raw is None else TxLocation.decode(raw)


def prune_below(retain_height: int, blocks: BlockStore, states: StateStore, state: ChainState,
                indexer: Any = None) -> int:
    """Prune below `retain_height` the tx index (if given: node/indexer.py), the block store and the state
    store's history: what a node that prunes must call (never the state store alone). Never inside the
    evidence window of `state` (node/evidence.py `oldest_unexpired_height`: the lowest height whose evidence
    may still be valid keeps its validator set and block time, or this node would judge such evidence, and
    so a block carrying it, unlike the others). Each store is its own synced write, in this order, so a crash
    between two leaves the later ones holding more, never an index entry or a state record short of a stored
    block: the state store keeps what every retained height needs (its validator set and parameters:
    evidence, RPC `validators?height=`, light clients and certificates) and forgets no height the block
    store still holds; the committed-evidence entries of pruned blocks go with them. Returns how many blocks
    were pruned; raises BlockStoreError above the store's top."""
    from node.evidence import oldest_unexpired_height

    if retain_height > blocks.height:
        raise BlockStoreError(f"cannot prune to {retain_height}: the store ends at {blocks.height}")

    def time_ms(h: int) -> int | None:
        meta = blocks.load_block_meta(h)
        return None if meta is None else int(meta.header.time_ms)

    retain_height = min(retain_height, max(blocks.base, oldest_unexpired_height(state, time_ms, blocks.base)))
    if indexer is not None:
        b = blocks._root.batch()
        indexer.prune(b, retain_height)
        b.commit(sync=True)
    n = blocks.prune(retain_height)
    states.prune(min(retain_height, blocks.base))
    return n

"""Tx and block event index, written in the same atomic batch as the block commit.

Why in the commit batch: CometBFT indexes asynchronously, so `tx` says "not found" right after a commit
(cometbft#4236). Here the node calls `Indexer.index_chain_block(batch, block, result)` (the application's
result records as they are) with the batch that also writes the block's results, so a committed tx is
findable at once, and a crash leaves both or neither.

Why exact: CometBFT's kv indexer has silently dropped conditions (cometbft#2101). `search_txs` /
`search_blocks` evaluate every condition through the index and intersect; a query that cannot be answered
exactly is an `IndexError_` with a message, never a shorter answer.

What is indexed (CometBFT `tx_index.indexer = "kv"`): for txs, `tx.hash`, `tx.height` and every event
attribute the application marked `index=true` (lg.id, bank, agency, supplier, type, status …) as
`<event type>.<key>`; for blocks, `block.height` and the indexed attributes of FinalizeBlock's events.

Keys, under the namespace `ns` of the store (big-endian integers, length-prefixed strings so any byte may
appear in a value):
    th <hash32>                  → height u64, index u32, tx at u32, result at u32   the tx record: a pointer
    tB <height u64>                              → hash32 of each tx, in order    the block's txs
    tP <klen u16> key <vlen u32> value <height u64> → index u32, ascending       attribute postings, per block
    bh <height u64>                              → [[key, value], ...]            indexed block attributes
    ba <klen u16> key <vlen u32> value <height u64>             → b""             attribute postings

Why a posting per (attribute, value, block) and not per tx: a block of 1,000 txs repeats the same few values
(lg.type, lg.status, lg.bank …) hundreds of times, and each LevelDB entry costs the commit a put and
LevelDB's compaction thread its share again and again. Per tx there were 8.0 entries and 856 bytes; now 2.3
and 483 (the realistic mix, devnet/bench/commit_bench.py). Searches read the same (height, index) rows; a
row's hash comes from the block's `tB` entry.

Homes indexed before that layout hold `tH <height u64> <index u32> → hash32` and
`ta <klen u16> key <vlen u32> value <height u64> <index u32> → hash32` instead of `tB` / `tP`: they are
read (and pruned) as they are, next to the new entries, so such a home needs no reset.

The tx record `th` is a pointer (height, index, where the tx and its result start in the block store's
records of that height): node/txrecord.py says why and how a lookup reads it, and how the records of older
homes (the tx and its result in the record) are read as they are. Pruning deletes a height's postings from
the block's results record (the block store is pruned after the index, never before).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any, Protocol

import msgpack

from node.blockstore import NS as BLOCKSTORE_NS
from node.blockstore import hkey
from node.rpc.query import Condition, Query
from node.rpc.services import BlockResultsView, EventAttribute, EventView, TxResultView
from node.txrecord import POINTER, SearchError, TxReader, TxRecord, old_record, pointer
from state.chain import (
    ATTR_HEAD,
    EVENT_HEAD,
    RESULT_HEAD,
    Block,
    FinalizeBlockResult,
    msgpack_array_header,
    pack_results,
)
from state.codec import DecodeError, decode
from state.crypto import sha256
from state.fastrec import packb, unpack
from state.kv import KV, Batch

MAX_RESULTS = 100_000
_U64 = struct.Struct(">Q")
_HI = struct.Struct(">QI")


class HasTxs(Protocol):
    @property
    def txs(self) -> Any: ...


def _lp(key: str, value: str | None = None) -> bytes:
    k = key.encode()
    out = struct.pack(">H", len(k)) + k
    if value is not None:
        v = value.encode()
        out += struct.pack(">I", len(v)) + v
    return out


def _split_posting(rest: bytes) -> tuple[str, bytes]:
    """`<vlen u32> value <tail>` → (value, tail)."""
    (n,) = struct.unpack_from(">I", rest)
    return rest[4 : 4 + n].decode(), rest[4 + n :]


_EMPTY_RESULT = TxResultView()
_U32 = struct.Struct(">I")
# event type -> id(attribute) -> (the attribute, its posting key without the height or None, its row in the block's
# results record): the application interns its indexed attributes (state/event_attrs.py `_attr`, per (key, value):
# ~87 % of a block's pairs repeat, and one attribute may serve events of several types), so most attributes of a
# block were seen before. An entry holds its attribute, so the id is not reused while the entry lives; bounded (a
# type's map is emptied when full: ~350 bytes an entry, ~1.4 MB a type; a block has ~1,100 distinct pairs).
_Entry = tuple[Any, bytes | None, bytes]
_ATTR_KEYS: dict[str, dict[int, _Entry]] = {}
_ATTR_KEYS_MAX = 4_096
# (event type, attribute key, index flag) -> (the row's bytes before its value's head: [ATTR_TAG, key; the row's last
# byte: the index flag; the posting key's prefix `tP <klen> type.key`, or None when not indexed): a bounded handful
_Heads = tuple[bytes, bytes, bytes | None]
_HEADS: dict[tuple[str, str, bool], _Heads] = {}


def _str_head(n: int) -> bytes:
    """The msgpack head of a str of `n` UTF-8 bytes (its smallest form, as msgpack's packer writes it)."""
    if n < 32:
        return bytes((0xA0 | n,))
    return b"\xd9" + bytes((n,)) if n < 256 else b"\xda" + n.to_bytes(2, "big") if n < 65_536 else (
        b"\xdb" + n.to_bytes(4, "big"))


def _heads(type_: str, key: str, index: bool) -> _Heads:
    """The heads of (type, key, index) (`_HEADS`), made and remembered (the application's names: a handful)."""
    heads = (_ATTR_ROW + packb([key])[1:], b"\xc3" if index else b"\xc2",
             b"tP" + _lp(f"{type_}.{key}") if index and key and type_ else None)
    if len(_HEADS) < 4096:
        _HEADS[(type_, key, index)] = heads
    return heads


def _attr_entry(seen: dict[int, _Entry], type_: str, a: EventAttribute) -> _Entry:
    """The entry of an attribute not seen lately (~0.85 a tx in the workload: the ids of guarantees and requests,
    suppliers): its row `[ATTR_TAG, key, value, index]` in the results record and, when indexed, its posting key
    without the height (`tP <klen> type.key <vlen u32> value`). Made by hand from the value's UTF-8 bytes (encoded
    once, for both) and the heads remembered per (type, key, index) (`_HEADS`): msgpack's packer of a list per
    attribute and the key's prefix made apart cost about twice as much."""
    k, value, index = a.key, a.value, a.index
    if index.__class__ is not bool:  # (not the application's: packed as it is, as `pack_results` would)
        return _odd_entry(seen, type_, a)
    heads = _HEADS.get((type_, k, index))
    if heads is None:
        heads = _heads(type_, k, index)
    v = value.encode()
    n = len(v)
    pre = heads[2]
    key = None if pre is None else pre + _U32.pack(n) + v
    if len(seen) >= _ATTR_KEYS_MAX:
        seen.clear()
    ent = seen[id(a)] = (a, key, heads[0] + (_FIXSTR[n] if n < 32 else _str_head(n)) + v + heads[1])
    return ent


def _odd_entry(seen: dict[int, _Entry], type_: str, a: EventAttribute) -> _Entry:
    """`_attr_entry` of an attribute whose index flag is not a bool, packed by msgpack as it is."""
    key = None
    if a.index and a.key and type_:
        v = a.value.encode()
        key = b"tP" + _lp(f"{type_}.{a.key}") + _U32.pack(len(v)) + v
    if len(seen) >= _ATTR_KEYS_MAX:
        seen.clear()
    ent = seen[id(a)] = (a, key, _ATTR_ROW + packb([a.key, a.value, a.index])[1:])
    return ent


_FIXSTR = tuple(bytes((0xA0 | n,)) for n in range(32))


# the heads of a tx result's, an event's and an attribute's arrays in the block's results record
# (`state.chain.pack_results`, tagged arrays: a test compares)
_ATTR_ROW, _R_EVENT_HEAD, _R_RESULT_HEAD = ATTR_HEAD, EVENT_HEAD, RESULT_HEAD
_DEFAULT_FIELDS = packb([0, b"", "", "", 0, 0])[1:]  # code .. gas_used of an accepted, empty result
_EMPTY_STR = packb([""])[1:]
_TYPES: dict[str, bytes] = {}  # event type -> its packed str (a handful)


def _indexed(events: Sequence[EventView]) -> Iterator[tuple[str, str]]:
    for ev in events:
        for a in ev.attributes:
            if a.index and ev.type and a.key:
                yield f"{ev.type}.{a.key}", a.value


class Indexer:
    """Reads from `kv.prefixed(ns)`; writes go into batches made from the same `kv`."""

    def __init__(self, kv: KV, ns: bytes = b"ix/", blocks_ns: bytes = BLOCKSTORE_NS) -> None:
        """`blocks_ns`: the block store's namespace in the same `kv` (node/blockstore.py), where a tx record
        points: its `b` (block) and `r` (results) records by height."""
        self.ns = ns
        self.view = kv.prefixed(ns)
        self.blocks = kv.prefixed(blocks_ns)
        self.reader = TxReader(self.view, self.blocks)

    # ------------------------------------------------------------------ writing
    def index_block(self, batch: Batch, block: HasTxs, results: BlockResultsView) -> None:
        """Add the index entries of one committed block to the caller's commit batch."""
        self._write(batch, results.height, block.txs, results.tx_results, results.finalize_block_events)

    def _write(self, batch: Batch, height: int, txs: Sequence[bytes], tx_results: Sequence[TxResultView],
               block_events: Sequence[EventView], hashes: Sequence[bytes] | None = None,
               packed: list[bytes] | None = None) -> None:
        """The results are the application's records as they are (the RPC views are those classes). An
        attribute's posting key and row are made once and found by its identity (`_attr_entry`); a block repeats
        the same few `type.key` names thousands of times, whose key heads are made once (`_HEADS`). `packed`: a
        list that receives, in the same pass over the results that finds the postings, the pieces of each tx
        result's bytes in the block's results record (`state.chain.pack_results`), so the results need no walk
        of their own (`index_chain_block`); a result's offset in that record is the length of the results before
        it, so each result's pieces are joined into one. The tx record is a pointer into the block and the
        results record (the module's docstring). A posting holds its one tx index as an int until a second tx
        of the block has the same attribute (most never do: a guarantee's or a request's id), so most postings
        cost no list."""
        b = batch.prefixed(self.ns)
        put = b.put
        n = len(tx_results)
        hs: list[bytes] = []
        rp: list[bytes] = [] if packed is None else packed
        postings: dict[bytes, Any] = {}  # posting key without the height -> a tx index, or a list of them ascending
        attr_keys = _ATTR_KEYS
        ptr = POINTER.pack
        th = self.ns + b"th"
        th_ops: list[tuple[bytes, bytes]] = []  # (whole key, value): one `extend`, not a `put` a tx
        toff = roff = 0  # the tx's and its result's offsets in the block's txs / the results' tx results
        for i, tx in enumerate(txs):
            raw = bytes(tx)
            h = sha256(raw) if hashes is None else hashes[i]
            hs.append(h)
            th_ops.append((th + h, ptr(height, i, toff, roff)))
            ln = len(raw)
            toff += ln + (2 if ln < 256 else 3 if ln < 65_536 else 5)  # (msgpack's bin 8 / 16 / 32 head)
            r = tx_results[i] if i < n else _EMPTY_RESULT
            # the result's bytes in the results record ([RESULT_TAG, code, data, log, info, gas_wanted, gas_used,
            # events, codespace], events [[EVENT_TAG, type, [[ATTR_TAG, key, value, index], ...]], ...]), each
            # attribute's row packed once (`_attr_entry`), and the attribute postings, in one walk
            if r.code == 0 and not r.gas_wanted and not r.gas_used and not r.data and not r.log and not r.info:
                fields = _DEFAULT_FIELDS
            else:
                fields = packb([r.code, r.data, r.log, r.info, r.gas_wanted, r.gas_used])[1:]
            evs = r.events
            o = [_R_RESULT_HEAD, fields, msgpack_array_header(len(evs))]
            for e in evs:
                t = e.type
                seen = attr_keys.get(t)
                if seen is None:
                    if len(attr_keys) >= 256:  # (the application's event types are a handful)
                        attr_keys.clear()
                    seen = attr_keys[t] = {}
                tb = _TYPES.get(t)
                if tb is None:
                    tb = packb([t])[1:]
                    if len(_TYPES) < 256:
                        _TYPES[t] = tb
                ats = e.attributes
                o.append(_R_EVENT_HEAD)
                o.append(tb)
                o.append(msgpack_array_header(len(ats)))
                for a in ats:
                    ent = seen.get(id(a))
                    if ent is None or ent[0] is not a:
                        ent = _attr_entry(seen, t, a)
                    o.append(ent[2])
                    k = ent[1]
                    if k is not None:
                        got = postings.get(k)
                        if got is None:
                            postings[k] = i
                        elif got.__class__ is int:
                            if got != i:  # the same attribute twice in one tx: one row
                                postings[k] = [got, i]
                        elif got[-1] != i:
                            got.append(i)
            cs = r.codespace
            o.append(_EMPTY_STR if not cs else packb([cs])[1:])
            piece = b"".join(o)
            rp.append(piece)
            roff += len(piece)
        batch.extend(th_ops)
        hb = _U64.pack(height)
        if hs:
            put(b"tB" + hb, b"".join(hs))
        u32, ns = _U32.pack, self.ns
        # (most postings hold one tx: a guarantee's id, a supplier)
        batch.extend([(ns + k + hb, u32(idx) if idx.__class__ is int else struct.pack(f">{len(idx)}I", *idx))
                      for k, idx in postings.items()])
        attrs = sorted(set(_indexed(block_events)))
        put(b"bh" + _U64.pack(height), packb([list(kv) for kv in attrs]))
        for key, value in attrs:
            put(b"ba" + _lp(key, value) + _U64.pack(height), b"")

    def prune(self, batch: Batch, retain_height: int) -> int:
        """Delete the index entries of every height below `retain_height` into the caller's batch (the one
        that prunes the blocks, so the index never points at a pruned block); returns txs pruned."""
        self.reader.forget()  # (the records kept of heights about to go)
        b = batch.prefixed(self.ns)
        n = 0
        for k, hs in self.view.iterate(prefix=b"tB", stop=b"tB" + _U64.pack(retain_height)):
            height = _U64.unpack(k[2:])[0]
            hb = _U64.pack(height)
            b.delete(k)
            results = self._block_results(height)  # (None: the block store lost them; the records may still say)
            for j in range(0, len(hs), 32):
                h, i = hs[j : j + 32], j // 32
                raw = self.view.get(b"th" + h)
                ptr = None if raw is None else pointer(raw)
                rec = None if raw is None or ptr is not None else old_record(h, raw)
                if (ptr[0] if ptr is not None else rec.height if rec is not None else None) == height:
                    b.delete(b"th" + h)  # (a tx committed again later keeps its record)
                # this height's postings of the tx, whatever its record says now (they are keyed by height)
                events = results[i].events if results is not None and i < len(results) else (
                    rec.result.events if rec is not None and rec.height == height else ())
                for key, value in _indexed(events):
                    b.delete(b"tP" + _lp(key, value) + hb)
                n += 1
        for k, h in self.view.iterate(prefix=b"tH", stop=b"tH" + _HI.pack(retain_height, 0)):  # older layout
            rec = self.get_tx(h)
            b.delete(k)
            b.delete(b"th" + h)
            if rec is not None and rec.height < retain_height:
                for key, value in _indexed(rec.result.events):
                    b.delete(b"ta" + _lp(key, value) + _HI.pack(rec.height, rec.index))
            n += 1
        for k, raw in self.view.iterate(prefix=b"bh", stop=b"bh" + _U64.pack(retain_height)):
            height = _U64.unpack(k[2:])[0]
            b.delete(k)
            try:
                pairs = decode(raw)
                for key, value in pairs:
                    b.delete(b"ba" + _lp(key, value) + _U64.pack(height))
            except (DecodeError, ValueError, TypeError):
                continue
        return n

    def index_chain_block(self, batch: Batch, block: Block, result: FinalizeBlockResult) -> None:
        """`index_block` for the node's records: the `IndexHook` of node/applier.py. The block's results record
        (`pack_results`, which the block store and the application keep) is assembled from the pieces this
        pass makes, so the applier indexes before it saves the results."""
        hashes = block.tx_hashes() if isinstance(block, Block) else None  # (benchmarks pass stand-ins)
        pieces: list[bytes] = []
        self._write(batch, block.header.height, block.txs, result.tx_results, result.events, hashes, pieces)
        if len(result.tx_results) == len(block.txs):  # (else the pass made results for txs, not for results)
            pack_results(result, pieces)  # kept on the result: save_results and the app's commit take it

    # ------------------------------------------------------------------ tx lookups
    def get_tx(self, tx_hash: bytes) -> TxRecord | None:
        """The committed tx of this hash with its result, or None; SearchError when the index and the block
        store disagree (node/txrecord.py)."""
        return self.reader.get_txs([tx_hash])[0]

    def get_txs(self, hashes: Sequence[bytes]) -> list[TxRecord | None]:
        """`get_tx` of each hash, in order, each block read once (node/txrecord.py `TxReader.get_txs`)."""
        return self.reader.get_txs(hashes)

    def _block_results(self, height: int) -> tuple[TxResultView, ...] | None:
        """Every tx result of block `height` from the block store (None when it has none)."""
        raw = self.blocks.get(hkey(b"r", height))
        try:
            return None if raw is None else unpack(FinalizeBlockResult, raw).tx_results
        except (ValueError, TypeError, msgpack.UnpackException):
            return None

    def search_txs(self, query: Query) -> list[tuple[int, int, bytes]]:
        """Every (height, index, hash) matching all conditions, ascending."""
        known: dict[tuple[int, int], bytes] = {}  # the hashes the scans came across
        found: set[tuple[int, int]] | None = None
        for cond in query.conditions:
            got = self._tx_condition(cond, known)
            if got is None:
                continue
            found = got if found is None else found & got
            if not found:
                return []
        if found is None:
            found = self._tx_rows(None, None, known, lambda h: True)
        blocks: dict[int, bytes | None] = {}
        out = []
        for h, i in sorted(found):
            th = known.get((h, i))
            if th is None:
                th = self._hash_at(h, i, blocks)
            out.append((h, i, th))
        return out

    def _hash_at(self, height: int, index: int, blocks: dict[int, bytes | None]) -> bytes:
        """The hash of tx (height, index): from the block's `tB` entry (read once per search), or the older
        layout's `tH` entry."""
        if height not in blocks:
            blocks[height] = self.view.get(b"tB" + _U64.pack(height))
        hs = blocks[height]
        h = hs[32 * index : 32 * index + 32] if hs is not None else self.view.get(b"tH" + _HI.pack(height, index))
        if not h or len(h) != 32:
            raise SearchError(f"the index has no tx {index} at height {height}")
        return h

    def _tx_rows(self, lo: int | None, hi: int | None, known: dict[tuple[int, int], bytes],
                 keep: Callable[[int], bool]) -> set[tuple[int, int]]:
        """(height, index) of every tx at heights lo..hi that `keep(height)` accepts; their hashes into `known`."""
        out: set[tuple[int, int]] = set()
        for k, hs in self._scan(b"tB", lo, hi):
            h = _U64.unpack(k[2:])[0]
            if keep(h):
                for i in range(len(hs) // 32):
                    out.add((h, i))
                    known[(h, i)] = hs[32 * i : 32 * i + 32]
                _limit(len(out))
        for k, v in self._scan(b"tH", lo, hi):  # older layout
            h, i = _HI.unpack(k[2:])
            if keep(h):
                out.add((h, i))
                known[(h, i)] = v
        return out

    def _tx_condition(self, c: Condition, known: dict[tuple[int, int], bytes]) -> set[tuple[int, int]] | None:
        if c.tag == "tm.event":
            return None if c.matches_value("Tx") else set()
        if c.tag == "tx.hash":
            try:
                wanted = bytes.fromhex(c.operand) if (c.op == "=" and isinstance(c.operand, str)) else None
            except ValueError:
                return set()
            if wanted is not None:
                loc = self.reader.location(wanted)
                if loc is None:
                    return set()
                known[loc] = wanted
                return {loc}
            rows = self._tx_rows(None, None, known, lambda h: True)
            return {r for r in rows if c.matches_value(known[r].hex().upper())}
        if c.tag == "tx.height":
            lo, hi = _height_bounds(c)
            return self._tx_rows(lo, hi, known, lambda h: c.matches_value(str(h)))
        return self._tx_postings(c, known)

    def _tx_postings(self, c: Condition, known: dict[tuple[int, int], bytes]) -> set[tuple[int, int]]:
        """The (height, index) rows of an attribute condition: `tP` entries (a block's tx indexes) and the
        older layout's `ta` entries (one tx each, with its hash)."""
        exact = c.op == "=" and isinstance(c.operand, str)
        key = _lp(c.tag, c.operand) if exact else _lp(c.tag)  # type: ignore[arg-type]
        out: set[tuple[int, int]] = set()
        for k, v in self._scan(b"tP" + key):
            tail = k[2 + len(key) :]
            if not exact:
                value, tail = _split_posting(tail)
                if not c.matches_value(value):
                    continue
            h = _U64.unpack(tail)[0]
            out.update((h, i) for i in struct.unpack(f">{len(v) // 4}I", v))
            _limit(len(out))
        for k, v in self._scan(b"ta" + key):  # older layout
            tail = k[2 + len(key) :]
            if not exact:
                value, tail = _split_posting(tail)
                if not c.matches_value(value):
                    continue
            h, i = _HI.unpack(tail)
            out.add((h, i))
            known[(h, i)] = v
        return out

    def _postings(self, kind: bytes, c: Condition, row: Callable[[bytes, bytes], Any]) -> set[Any]:
        exact = c.op == "=" and isinstance(c.operand, str)
        prefix = kind + (_lp(c.tag, c.operand) if exact else _lp(c.tag))  # type: ignore[arg-type]
        out = set()
        for k, v in self._scan(prefix):
            if exact:
                out.add(row(k[len(prefix) :], v))
                continue
            value, tail = _split_posting(k[len(prefix) :])
            if c.matches_value(value):
                out.add(row(tail, v))
        return out

    # ------------------------------------------------------------------ blocks
    def search_blocks(self, query: Query) -> list[int]:
        """Every height matching all conditions, ascending."""
        found: set[int] | None = None
        for c in query.conditions:
            got: set[int] | None
            if c.tag == "tm.event":
                got = None if c.matches_value("NewBlock") else set()
            elif c.tag == "block.height":
                lo, hi = _height_bounds(c)
                got = {_U64.unpack(k[2:])[0] for k, _ in self._scan(b"bh", lo, hi)}
                got = {h for h in got if c.matches_value(str(h))}
            else:
                got = self._postings(b"ba", c, lambda tail, v: _U64.unpack(tail)[0])
            if got is None:
                continue
            found = got if found is None else found & got
            if not found:
                return []
        if found is None:
            found = {_U64.unpack(k[2:])[0] for k, _ in self._scan(b"bh")}
        return sorted(found)

    # ------------------------------------------------------------------ helpers
    def _scan(self, prefix: bytes, lo: int | None = None, hi: int | None = None) -> Iterator[tuple[bytes, bytes]]:
        start = prefix + _U64.pack(lo) if lo is not None else None
        stop = prefix + _U64.pack(hi + 1) if hi is not None and hi + 1 < 2**64 else None
        for n, item in enumerate(self.view.iterate(prefix=prefix, start=start, stop=stop)):
            if n >= MAX_RESULTS:
                raise SearchError(f"query scans more than {MAX_RESULTS} index entries; add a narrower condition")
            yield item


def _limit(rows: int) -> None:
    if rows > MAX_RESULTS:
        raise SearchError(f"query matches more than {MAX_RESULTS} index entries; add a narrower condition")


def _height_bounds(c: Condition) -> tuple[int | None, int | None]:
    """Loose inclusive key-range bounds for a height condition (the condition is still applied to each key)."""
    v = c.operand
    if not isinstance(v, Decimal) or c.op not in ("=", "<", "<=", ">", ">="):
        return None, None
    cap = 2**64 - 2
    if c.op in ("<", "<="):
        return (0, -1) if v < 0 else (None, min(int(v), cap))
    if c.op in (">", ">="):
        return min(max(0, math.ceil(v)), cap), None
    if v < 0 or v != int(v) or v > cap:
        return 0, -1
    return int(v), int(v)

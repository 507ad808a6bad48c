"""The tx index's record of a tx (`ix/th <hash>`, node/indexer.py) and how a lookup reads the tx and its result.

The record is a pointer, 20 bytes: height u64, index u32, and where the tx starts in its block's txs array and
its result in the block's results record's tx results array (u32 each, counted from the array's first item).
The tx is in its block (node/blockstore.py `b`) and its result in the block's results record (`r`, the bytes of
`state.chain.pack_results`), both stored before or with the index entries (the applier saves the block, then
the results and the index in one batch), so the record needs nothing else.

Why a pointer: the record used to repeat the tx and its result (`[height, index, tx, result]`: ~380 of the
~1,280 bytes a tx left on disk), which the commit thread packed and handed LevelDB, and every compaction
carried after. Why the offsets: a lookup then unpacks one tx and one result, and skips only the block's header
and the block's events to find where the arrays start (`_items`); skipping to the i-th of 500-1,000 results
instead cost 40-80 us a lookup, against ~7 us for a whole lookup before (devnet/bench/lookup_bench.py). They
are relative to the arrays so the writer needs neither the header's nor the block events' bytes. A lookup
checks that the tx it finds hashes to the key it was asked for: a wrong pointer is a SearchError, never
another tx.

Older homes: records written before 2026-11-26 (session 7) are the msgpack array `[height, index, tx,
[code, data, log, info, gas_wanted, gas_used, events, codespace]]`, told apart by their first byte (0x94; a
pointer's is the height's top byte, 0 below 2**56) and read as they are: such a home needs no reset or reindex.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from node.blockstore import hkey
from node.rpc.services import EventAttribute, EventView, TxResultView
from state.chain import RESULT_HEAD
from state.crypto import sha256
from state.kv import KV

POINTER = struct.Struct(">QIII")  # height, index, the tx's offset, its result's offset
_RESULT_TAG = RESULT_HEAD[1]
_EMPTY_RESULT = TxResultView()
# a block and its results as lookups read them: (block, results, txs, where the txs start, tx results, where they
# start); the last few heights read are kept (`TxReader._records`)
_Records = tuple[bytes, bytes, int, int, int, int]
_RECENT_MAX = 4


class SearchError(ValueError):
    """A search cannot be answered exactly (bad key, too many results); the message goes to the client."""


@dataclass(frozen=True)
class TxRecord:
    hash: bytes
    height: int
    index: int
    tx: bytes
    result: TxResultView


def pointer(raw: bytes) -> tuple[int, int, int, int] | None:
    """(height, index, tx offset, result offset) of a tx record, or None for a record of the older form."""
    if len(raw) != POINTER.size or raw[0] == 0x94:
        return None
    height, index, toff, roff = POINTER.unpack(raw)
    return height, index, toff, roff


def old_record(tx_hash: bytes, raw: bytes) -> TxRecord:
    """A record of the older form (the module's docstring)."""
    try:  # the node's own bytes: read, not re-validated (the canonical decoder was 2/3 of a `tx` lookup)
        height, index, tx, p = msgpack.unpackb(raw, raw=False, use_list=False)
        code, data, log, info, gw, gu, events, codespace = p
        evs = tuple(EventView(t, tuple(EventAttribute(k, v, bool(i)) for k, v, i in attrs)) for t, attrs in events)
        return TxRecord(tx_hash, height, index, tx, TxResultView(code, data, log, info, gw, gu, evs, codespace))
    except (ValueError, TypeError) as e:  # msgpack's errors are ValueErrors
        raise SearchError(f"corrupt index record for tx {tx_hash.hex().upper()}") from e


def _tagged_result_view(p: Any) -> TxResultView:
    """A tx result as the block's results record holds it: the tagged arrays of `state.chain.pack_results`."""
    tag, code, data, log, info, gw, gu, events, codespace = p
    if tag != _RESULT_TAG:
        raise ValueError("not a tx result")
    evs = tuple(EventView(t, tuple(EventAttribute(k, v, bool(i)) for _, k, v, i in attrs)) for _, t, attrs in events)
    return TxResultView(code, data, log, info, gw, gu, evs, codespace)


def _items(record: bytes) -> tuple[int, int]:
    """(count, offset of the first item) of field 2 of a tagged record (`[TAG, x, items, ...]`: a block's txs
    after its header, a block's results' tx results after the block's events); the fields before are skipped,
    not built (msgpack's `Unpacker.skip`, in C, reading the record a few KiB at a time)."""
    u = msgpack.Unpacker(io.BytesIO(record), read_size=4096)
    u.read_array_header()
    u.skip()  # the tag
    u.skip()  # the header / the block's events
    n = u.read_array_header()
    return n, u.tell()


def _bin_at(record: bytes, at: int) -> bytes:
    """The msgpack bin (a tx in its block) that starts at offset `at` of `record`."""
    head = record[at]
    if head == 0xC4:
        start, n = at + 2, record[at + 1]
    elif head == 0xC5:
        start, n = at + 3, int.from_bytes(record[at + 1 : at + 3], "big")
    elif head == 0xC6:
        start, n = at + 5, int.from_bytes(record[at + 1 : at + 5], "big")
    else:
        raise ValueError("not a tx")
    if start + n > len(record):
        raise ValueError("a tx past the block's end")
    return record[start : start + n]


def _item_at(record: bytes, at: int) -> Any:
    """The msgpack item that starts at offset `at` of `record` (a tx result in the block's results), alone."""
    f = io.BytesIO(record)
    f.seek(at)
    return msgpack.Unpacker(f, raw=False, use_list=False, read_size=2048).unpack()


class TxReader:
    """Reads tx records (`view`: the index's namespace) against the block store (`blocks`: its namespace)."""

    def __init__(self, view: KV, blocks: KV) -> None:
        self.view = view
        self.blocks = blocks
        self._recent: dict[int, _Records] = {}  # height -> its records as lookups last read them (`_records`)

    def forget(self) -> None:
        """Drop the kept records (before their heights are pruned)."""
        self._recent = {}

    def location(self, tx_hash: bytes) -> tuple[int, int] | None:
        """(height, index) of the tx from its record alone (a `tx.hash` condition reads no block)."""
        raw = self.view.get(b"th" + tx_hash)
        if raw is None:
            return None
        ptr = pointer(raw)
        if ptr is not None:
            return ptr[0], ptr[1]
        rec = old_record(tx_hash, raw)
        return rec.height, rec.index

    def get_txs(self, hashes: Sequence[bytes]) -> list[TxRecord | None]:
        """The committed tx of each hash with its result, or None, in order; each block and its results read
        once (a page of `tx_search` often holds several txs of one block). SearchError when the index and the
        block store disagree (a record that does not decode, a pointer at a block or tx the store does not
        hold)."""
        out: list[TxRecord | None] = [None] * len(hashes)
        by_height: dict[int, list[tuple[int, int, int, int]]] = {}  # height -> [(position in `out`, pointer)]
        for pos, th in enumerate(hashes):
            raw = self.view.get(b"th" + th)
            if raw is None:
                continue
            ptr = pointer(raw)
            if ptr is None:
                out[pos] = old_record(th, raw)
                continue
            height, index, toff, roff = ptr
            by_height.setdefault(height, []).append((pos, index, toff, roff))
        for height, wanted in by_height.items():
            block, results, n_txs, txs_at, n_results, results_at = self._records(height)
            for pos, index, toff, roff in wanted:
                th = hashes[pos]
                try:
                    tx = _bin_at(block, txs_at + toff) if index < n_txs else b""
                    # (a tx past the end of the block's results has the empty result, as its record had)
                    result = _tagged_result_view(_item_at(results, results_at + roff)) if index < n_results else (
                        _EMPTY_RESULT)
                except (ValueError, TypeError, IndexError, msgpack.UnpackException) as e:
                    raise SearchError(f"the index points tx {th.hex().upper()} at block {height}, which does not "
                                      "hold it there") from e
                if sha256(tx) != th:
                    raise SearchError(f"the index points tx {th.hex().upper()} at tx {index} of block {height}, "
                                      "which is another tx")
                out[pos] = TxRecord(th, height, index, tx, result)
        return out

    def _records(self, height: int) -> _Records:
        """Block `height` and its results record from the block store, with where their txs / tx results start:
        the last `_RECENT_MAX` heights read are kept (a record is never rewritten once stored, and a pruned
        height has no pointer left at it), since lookups cluster on the latest blocks (a client confirming
        its tx, an explorer) and reading a block and its results is most of a lookup's cost (two LevelDB
        values of ~200 and ~140 KB at 1,000 txs: ~17 of ~34 us)."""
        recent = self._recent
        got = recent.get(height)
        if got is not None:
            return got
        block = self.blocks.get(hkey(b"b", height))
        results = self.blocks.get(hkey(b"r", height))
        if block is None or results is None:
            raise SearchError(f"the index points at block {height}, whose "
                              f"{'block' if block is None else 'results'} the block store does not hold")
        try:
            got = (block, results, *_items(block), *_items(results))
        except (ValueError, TypeError, msgpack.UnpackException) as e:
            raise SearchError(f"block {height} or its results do not decode") from e
        if len(recent) >= _RECENT_MAX:
            recent.clear()
        recent[height] = got
        return got

"""The results of FinalizeBlock: one shape from the application to the wire, and its encoding and hash.

Why a module of its own (beside `state.chain`, which re-exports every name here): these records change with
what the application reports (events, tx results, validator updates), the block records with the block
format. The application builds these records (`state.store.Ctx.emit`, `state.abci`, whose ABCI names are
aliases of them), the node stores and indexes them as they are, and the RPC encodes them as they are (its
views of events and tx results are these classes). `pack_results` encodes a block's results once, for the
block store and the application's replay record alike; `results_hash` is the header's `last_results_hash`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from state.chain_limits import MAX_BLOCK_TXS, MAX_VALIDATORS
from state.codec import Record, encode
from state.fastrec import fast_init, packb
from state.merkle import EMPTY_HASH


@dataclass(frozen=True)
class EventAttribute(Record):
    """ABCI event attribute; `index` asks the node to index it for tx_search."""

    TAG = 0x46
    key: str
    value: str
    index: bool


@dataclass(frozen=True)
class Event(Record):
    """ABCI event: a type and its attributes."""

    TAG = 0x47
    MAX_LEN = {"attributes": 1024}
    type: str
    attributes: tuple[EventAttribute, ...]


@dataclass(frozen=True)
class ExecTxResult(Record):
    """A tx's result; only `(code, data)` enter `last_results_hash` (log and events are not consensus). The
    defaults (an accepted, empty result) serve the RPC, whose tx result view this is (node/rpc/services.py)."""

    TAG = 0x48
    code: int = 0
    data: bytes = b""
    log: str = ""
    info: str = ""
    gas_wanted: int = 0
    gas_used: int = 0
    events: tuple[Event, ...] = ()
    codespace: str = ""


@dataclass(frozen=True)
class ValidatorUpdate(Record):
    """An application's validator change (power 0 removes)."""

    TAG = 0x49
    pub_key: bytes
    power: int


@dataclass(frozen=True)
class FinalizeBlockResult(Record):
    """What the block store keeps per height for `block_results` and crash recovery (replay against it)."""

    TAG = 0x4A
    MAX_LEN = {"tx_results": MAX_BLOCK_TXS, "validator_updates": MAX_VALIDATORS}
    events: tuple[Event, ...]
    tx_results: tuple[ExecTxResult, ...]
    validator_updates: tuple[ValidatorUpdate, ...]
    consensus_param_updates: bytes  # encoded parameters record, b"" when unchanged
    app_hash: bytes


# plain __init__s (state.fastrec.fast_init): the application builds an ExecTxResult per tx (2.1 -> ~0.5 us) and an
# Event per event, and decoding a block's results builds them all
fast_init(EventAttribute, Event, ExecTxResult, ValidatorUpdate, FinalizeBlockResult)


_ATTR_TAG, _EVENT_TAG, _RESULT_TAG, _UPDATE_TAG, _RESULTS_TAG = 0x46, 0x47, 0x48, 0x49, 0x4A


def msgpack_array_header(n: int) -> bytes:
    """The msgpack header of an array of `n` items (its smallest form, as msgpack's packer writes it)."""
    if n < 16:
        return _FIXARRAY[n]
    return b"\xdc" + n.to_bytes(2, "big") if n < 65_536 else b"\xdd" + n.to_bytes(4, "big")


_FIXARRAY = tuple(bytes([0x90 | n]) for n in range(16))
# the packed `EventAttribute`s seen lately, by identity (id -> (the attribute, its bytes)): the application
# interns its attributes (state/event_attrs.py `_attr`; ~87 % of a block's pairs repeat), so most are packed once
# and reused across blocks. An entry holds its attribute, so the id is not reused while the entry lives;
# bounded (emptied when full; ~200 bytes an entry).
_ATTR_BYTES: dict[int, tuple[EventAttribute, bytes]] = {}
_ATTR_BYTES_MAX = 16_384
_TYPE_BYTES: dict[str, bytes] = {}  # event type -> its packed str (a handful)
_EVENT_HEAD = bytes([0x93, _EVENT_TAG])
_RESULT_HEAD = bytes([0x99, _RESULT_TAG])
_RESULTS_HEAD = bytes([0x96, _RESULTS_TAG])
_DEFAULT_FIELDS = packb([0, b"", "", "", 0, 0])[1:]  # code .. gas_used of an accepted, empty result
_EMPTY_STR = packb([""])[1:]
# the heads of a tx result's, an event's and an attribute's arrays in `pack_results` (the node's indexer makes a
# block's result pieces in its own pass over the results, node/indexer.py; a test compares the bytes)
RESULT_HEAD, EVENT_HEAD, ATTR_HEAD = _RESULT_HEAD, _EVENT_HEAD, bytes([0x94, _ATTR_TAG])


def _pack_events(out: list[bytes], events: tuple[Event, ...]) -> None:
    """Append the msgpack pieces of `[event.to_list() for event in events]` (array header first) to `out`."""
    out.append(msgpack_array_header(len(events)))
    cache = _ATTR_BYTES
    for e in events:
        t = e.type
        tb = _TYPE_BYTES.get(t)
        if tb is None:
            tb = packb([t])[1:]
            if len(_TYPE_BYTES) < 1024:
                _TYPE_BYTES[t] = tb
        attrs = e.attributes
        out.append(_EVENT_HEAD)
        out.append(tb)
        out.append(msgpack_array_header(len(attrs)))
        for a in attrs:
            ent = cache.get(id(a))
            if ent is None or ent[0] is not a:
                if len(cache) >= _ATTR_BYTES_MAX:
                    cache.clear()
                ent = cache[id(a)] = (a, packb([_ATTR_TAG, a.key, a.value, a.index]))
            out.append(ent[1])


def _pack_tx_result(out: list[bytes], x: ExecTxResult) -> None:
    """Append the msgpack pieces of `x.to_list()` to `out`: an accepted result's constant fields and each
    interned attribute's bytes (`_ATTR_BYTES`)."""
    out.append(_RESULT_HEAD)
    if x.code == 0 and not x.gas_wanted and not x.gas_used and not x.data and not x.log and not x.info:
        out.append(_DEFAULT_FIELDS)
    else:
        out.append(packb([x.code, x.data, x.log, x.info, x.gas_wanted, x.gas_used])[1:])
    if x.events:
        _pack_events(out, x.events)
    else:
        out.append(_FIXARRAY[0])
    cs = x.codespace
    out.append(_EMPTY_STR if not cs else packb([cs])[1:])


def pack_results(r: FinalizeBlockResult, tx_pieces: list[bytes] | None = None) -> bytes:
    """`r.encode()`, built directly and computed once per result: the block store keeps these bytes and the
    application the same bytes as its replay record. Canonical because every field is a primitive msgpack
    packs in its smallest form (as `state.fastrec.pack`, which a test compares it with). Why assembled from
    pieces rather than one `packb` of nested lists: building those lists (one per attribute, ~6,000 in a block
    of 1,000 txs) cost more than the packing; an interned attribute's bytes are made once (`_ATTR_BYTES`) and
    the block's results are one join of the pieces (5.4 -> ~2 us per tx). `tx_pieces`: the msgpack pieces of
    every tx result, in order, already made by a caller that walks the results anyway (the node's indexer
    makes them in its own pass, node/indexer.py); they must be what `_pack_tx_result` appends."""
    cached: bytes | None = r.__dict__.get("_packed")
    if cached is not None:
        return cached
    out = [_RESULTS_HEAD]
    _pack_events(out, r.events)
    results = r.tx_results
    out.append(msgpack_array_header(len(results)))
    if tx_pieces is not None:
        out.extend(tx_pieces)
    else:
        for x in results:
            _pack_tx_result(out, x)
    updates = r.validator_updates
    out.append(msgpack_array_header(len(updates)))
    out.extend([packb([_UPDATE_TAG, u.pub_key, u.power]) for u in updates])
    out.append(packb([r.consensus_param_updates, r.app_hash])[1:])
    raw = b"".join(out)
    r.__dict__["_packed"] = raw  # a frozen record's cache, not a field (equality, repr and encode ignore it)
    return raw



def results_hash(results: Sequence[tuple[int, bytes]]) -> bytes:
    """`last_results_hash` from the deterministic (code, data) of each tx result: `merkle_root` of their
    encodings (a test compares). Why not that call: a block's results repeat a handful of (code, data) pairs
    (~90 % accepted, the rest a few refusal codes; our `data` is empty), so each distinct pair is encoded and
    leaf-hashed once, and an inner node whose two children repeat a pair seen at that level is taken from a
    memo: runs of equal results make equal subtrees (3.1 -> ~1 us per tx)."""
    leaves: dict[tuple[int, bytes], bytes] = {}
    level: list[bytes] = []
    for code, data in results:
        key = (code, data)
        h = leaves.get(key)
        if h is None:
            h = leaves[key] = hashlib.sha256(b"\x00" + encode([code, data])).digest()
        level.append(h)
    n = len(level)
    if n == 0:
        return EMPTY_HASH
    sha = hashlib.sha256
    memo: dict[bytes, bytes] = {}
    while n > 1:  # level by level, as state.merkle.root_of_leaf_hashes (the same tree as RFC 6962's split)
        nxt: list[bytes] = []
        for i in range(0, n - 1, 2):
            pair = b"\x01" + level[i] + level[i + 1]
            h = memo.get(pair)
            if h is None:
                h = memo[pair] = sha(pair).digest()
            nxt.append(h)
        if n & 1:
            nxt.append(level[-1])
        level, n = nxt, len(nxt)
    return level[0]


def exec_results_hash(results: Sequence[ExecTxResult]) -> bytes:
    return results_hash([(r.code, r.data) for r in results])

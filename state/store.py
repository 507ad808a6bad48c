"""Overlays over the committed KV and the execution context handed to the domain functions.

Layout of the application's KV namespace (the node hands the app a prefixed view of its LevelDB):
    s<key>   state records (authenticated: every one is a leaf of the trie)
    h<key>   guarantee histories: LgEvents, hash-chained; the chain's head (`Guarantee.last_event_hash`)
             is in a trie leaf, so the app hash commits to every event without a leaf per event
    i<key>   secondary indexes derived from the records (not hashed; same atomic batch)
    t<pos>   trie nodes
    m<name>  metadata: height, app hash, last FinalizeBlock response

`Overlay` buffers writes over a reader; a block runs in one overlay over the committed KV, and each tx in a
child overlay merged into it only when the tx succeeds. Nothing touches the KV before `commit`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from state.chain import Event as Event  # re-exported: the domain emits these
from state.chain import EventAttribute as EventAttribute
from state.codec import Record, decode, encode
from state.fastrec import pack, unpack
from state.kv import Reader, prefix_upper_bound

NS_STATE, NS_INDEX, NS_TRIE, NS_META, NS_HIST = b"s", b"i", b"t", b"m", b"h"

R = TypeVar("R", bound=Record)


class Overlay:
    """Pending writes over a reader; reads see them. Iteration merges both in key order."""

    def __init__(self, base: Reader, *, cache_reads: bool = False) -> None:
        self.base = base
        self.writes: dict[bytes, bytes | None] = {}
        self._sorted: list[bytes] = []  # keys of `writes`, sorted, as of the last iteration
        self._new: list[bytes] = []  # keys written since
        # with `cache_reads`, what `base` answered (None too) is remembered: only for an overlay whose base
        # does not change while it lives, i.e. the block's overlay and the check state over the committed
        # KV (both dropped at commit). A block reads the signer's institution, the params and other shared
        # records again and again: ~0.9 of ~10 LevelDB gets per tx were repeats, ~0.75 per tx in check_tx
        self._reads: dict[bytes, bytes | None] | None = {} if cache_reads else None

    def get(self, key: bytes) -> bytes | None:
        writes = self.writes
        if key in writes:
            return writes[key]
        reads = self._reads
        if reads is None:
            return self.base.get(key)
        try:
            return reads[key]
        except KeyError:
            value = reads[key] = self.base.get(key)
            return value

    def put(self, key: bytes, value: bytes) -> None:
        if key not in self.writes:
            self._new.append(key)
        self.writes[key] = value

    def delete(self, key: bytes) -> None:
        if key not in self.writes:
            self._new.append(key)
        self.writes[key] = None

    def merge_into(self, parent: Overlay) -> None:
        parent._new.extend(k for k in self.writes if k not in parent.writes)
        parent.writes.update(self.writes)

    def _keys(self) -> list[bytes]:
        if self._new:
            self._new.sort()
            self._sorted = sorted(self._sorted + self._new)  # two sorted runs: a linear merge
            self._new = []
        return self._sorted

    def iterate(
        self,
        *,
        prefix: bytes | None = None,
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        lo = prefix or b""
        hi = prefix_upper_bound(lo) if lo else None
        if start is not None and start > lo:
            lo = start
        if stop is not None and (hi is None or stop < hi):
            hi = stop
        keys = self._keys()
        mine = keys[bisect.bisect_left(keys, lo):bisect.bisect_left(keys, hi) if hi is not None else len(keys)]
        if reverse:
            mine.reverse()
        base = self.base.iterate(prefix=prefix, start=start, stop=stop, reverse=reverse)
        yield from _merge(base, mine, self.writes, reverse)


def _merge(
    base: Iterator[tuple[bytes, bytes]], mine: list[bytes], writes: dict[bytes, bytes | None], reverse: bool
) -> Iterator[tuple[bytes, bytes]]:
    i = 0
    for k, v in base:
        while i < len(mine) and (mine[i] > k if reverse else mine[i] < k):
            w = writes[mine[i]]
            if w is not None:
                yield mine[i], w
            i += 1
        if i < len(mine) and mine[i] == k:
            w = writes[mine[i]]
            i += 1
            if w is not None:
                yield k, w
            continue
        yield k, v
    for key in mine[i:]:
        w = writes[key]
        if w is not None:
            yield key, w


# Events are `state.chain`'s records (re-exported by state.abci): what the domain emits here is what the node
# stores, indexes and the RPC serves, with no conversion on the way.
_ATTRS: dict[tuple[str, str], EventAttribute] = {}
_ATTRS_MAX = 16_384  # bounded (emptied when full): ~2.5 MB at most


def _attr(key: str, value: str) -> EventAttribute:
    """An indexed attribute, interned: a block repeats the same (key, value) pairs (bank, type, status,
    action, a guarantee's id across its transitions) thousands of times (13 % of a workload block's pairs are
    distinct), and a frozen record can be shared. Identity never reaches a hash or a stored byte."""
    a = _ATTRS.get((key, value))
    if a is None:
        if len(_ATTRS) >= _ATTRS_MAX:
            _ATTRS.clear()
        a = _ATTRS[(key, value)] = EventAttribute(key, value, True)
    return a


EventOut = Event  # the name the domain used before events were built directly as records


@dataclass
class Ctx:
    """What a domain function sees: a tx-scoped overlay, block time and height, the signer, the events."""

    view: Overlay
    now: int  # block time, ms since epoch (UTC)
    height: int
    tx_hash: bytes = b""
    signer_addr: bytes = b""
    signer_kind: str = ""
    signer_id: str = ""
    events: list[Event] = field(default_factory=list)
    validator_updates: dict[bytes, int] = field(default_factory=dict)  # pub key -> power

    # state records
    def get(self, key: bytes, cls: type[R]) -> R | None:
        raw = self.view.get(NS_STATE + key)
        return None if raw is None else unpack(cls, raw)

    def put(self, key: bytes, rec: Record) -> None:
        self.view.put(NS_STATE + key, pack(rec))

    def delete(self, key: bytes) -> None:
        self.view.delete(NS_STATE + key)

    def get_str(self, key: bytes) -> str | None:
        raw = self.view.get(NS_STATE + key)
        if raw is None:
            return None
        value = decode(raw)
        return value if isinstance(value, str) else None

    def put_str(self, key: bytes, value: str) -> None:
        self.view.put(NS_STATE + key, encode(value))

    def exists(self, key: bytes) -> bool:
        return self.view.get(NS_STATE + key) is not None

    def scan(self, prefix: bytes, *, stop: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        n = len(NS_STATE)
        for k, v in self.view.iterate(
            prefix=NS_STATE + prefix, stop=None if stop is None else NS_STATE + stop
        ):
            yield k[n:], v

    # histories (hash-chained, committed to through the chain head in a trie leaf)
    def history_put(self, key: bytes, rec: Record) -> None:
        self.view.put(NS_HIST + key, pack(rec))

    def history_put_packed(self, key: bytes, raw: bytes) -> None:
        """`history_put` of a record already packed (`fastrec.pack` bytes)."""
        self.view.put(NS_HIST + key, raw)

    # indexes (derived, outside the trie)
    def index_put(self, key: bytes, value: bytes = b"") -> None:
        self.view.put(NS_INDEX + key, value)

    def index_delete(self, key: bytes) -> None:
        self.view.delete(NS_INDEX + key)

    def index_scan(
        self, prefix: bytes, *, stop: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        n = len(NS_INDEX)
        for k, v in self.view.iterate(
            prefix=NS_INDEX + prefix, stop=None if stop is None else NS_INDEX + stop
        ):
            yield k[n:], v

    def emit(self, type_: str, attrs: dict[str, str | int]) -> None:
        """An event; every attribute is flagged for indexing (so `lg.id='…'` finds a guarantee's history)."""
        self.events.append(Event(type_, tuple([_attr(k, v if type(v) is str else str(v)) for k, v in attrs.items()])))

    def child(self) -> Ctx:
        return Ctx(Overlay(self.view), self.now, self.height, self.tx_hash, self.signer_addr,
                   self.signer_kind, self.signer_id, [], dict(self.validator_updates))

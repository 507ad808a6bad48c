"""The event bus: NewBlock, NewBlockHeader and Tx events for WebSocket subscribers and tx waiters.

The node calls `EventBus.publish_chain_block(block, result)` on its asyncio loop once a block is committed
(after the atomic write, so everything an event announces can already be read over RPC), with the
application's own result records (views of a stored block go through `publish_block`). Each subscriber holds a
CometBFT query (node/rpc/query.py) and a *bounded* queue. Why bounded and cut off rather than blocking or
growing: a subscriber that does not read must never stall consensus (tendermint#2826) nor grow the node's
memory; it is cancelled with CometBFT's reason and may resubscribe (and catch up with `block_search` /
`tx_search`, since the index is written in the commit batch).

`wait_for_tx(hash)` is the non-blocking waiter map behind `broadcast_tx_commit` (pain point 9): one future
per pending tx, resolved by `publish_chain_block`, no subscription machinery per call.

JSON payloads are encoded once per event and only when someone listens; a block's tx results are rendered
as JSON text once and shared by its NewBlock and Tx events, and a Tx event is only prepared for the
subscriptions whose query can hold for it (`_TxRouter`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from node.limits import SUBSCRIPTION_BUFFER_DEFAULT
from node.rpc import adapt, encode
from node.rpc.query import Query, parse_query
from node.rpc.services import BlockResultsView, BlockView, EventView, TxResultView
from state.chain import Block, FinalizeBlockResult
from state.crypto import sha256

OUT_OF_CAPACITY = "internal subscription event buffer is out of capacity"
DEFAULT_BUFFER = SUBSCRIPTION_BUFFER_DEFAULT  # node/limits.py: two maximal blocks' events
MAX_PENDING_BYTES = 32 * 1024 * 1024  # per subscription: many big blocks would otherwise be ~1 GB
MAX_TX_WAITERS = 10_000


class SubscriptionError(Exception):
    """Subscribing or unsubscribing was refused; the message goes to the client."""


class BusEvent:
    """One event shared by every matching subscription. Its JSON payload is built lazily, on first delivery,
    so publishing (in the commit path) costs only the attribute maps, never the encoding of a whole block.
    `text`, when given, renders the data's JSON text directly (node/rpc/encode.py `*_text`: the same bytes as
    dumping `data`, several times cheaper for a block's results); the sender falls back to `data`."""

    __slots__ = ("_data", "_make", "events", "json_text", "size", "text")

    def __init__(self, data: dict[str, Any] | Callable[[], dict[str, Any]], events: dict[str, list[str]],
                 size: int = 1024, text: Callable[[], str] | None = None) -> None:
        self._data = data if isinstance(data, dict) else None
        self._make = None if isinstance(data, dict) else data
        self.events = events
        self.size = size  # estimated encoded bytes (base64 txs and all), for the per-subscription budget
        self.text = text
        self.json_text: str | None = None  # the encoded data and events, cached by the WebSocket sender

    @property
    def data(self) -> dict[str, Any]:
        """{"type": "tendermint/event/<Name>", "value": {...}}"""
        if self._data is None:
            assert self._make is not None
            self._data, self._make = self._make(), None
        return self._data


@dataclass(frozen=True)
class TxCommitted:
    height: int
    index: int
    result: TxResultView


def event_attributes(events: Sequence[EventView], into: dict[str, list[str]]) -> dict[str, list[str]]:
    """`type.key` → values, as CometBFT flattens ABCI events for queries."""
    for ev in events:
        for a in ev.attributes:
            into.setdefault(_attr_name(ev.type, a.key), []).append(a.value)
    return into


_NAMES: dict[tuple[str, str], str] = {}


def _attr_name(type_: str, key: str) -> str:
    """`f"{type_}.{key}"`, remembered: a block repeats the application's handful of names (bounded)."""
    name = _NAMES.get((type_, key))
    if name is None:
        name = f"{type_}.{key}"
        if len(_NAMES) < 4096:
            _NAMES[(type_, key)] = name
    return name


class Subscription:
    """One (client, query) subscription with a bounded queue."""

    def __init__(
        self, subscriber: str, query_text: str, query: Query, capacity: int, bus: EventBus | None = None
    ) -> None:
        self._bus = bus
        self.subscriber = subscriber
        self.query_text = query_text
        self.query = query
        self.capacity = max(1, capacity)
        self.max_bytes = MAX_PENDING_BYTES
        self._bytes = 0
        self._queue: deque[BusEvent] = deque()
        self._ready = asyncio.Event()
        self.cancel_reason: str | None = None

    def push(self, ev: BusEvent) -> None:
        if self.cancel_reason is not None:
            return
        if len(self._queue) >= self.capacity or (self._queue and self._bytes + ev.size > self.max_bytes):
            self.cancel(OUT_OF_CAPACITY)
            return
        self._queue.append(ev)
        self._bytes += ev.size
        self._ready.set()

    def cancel(self, reason: str) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
            self._queue.clear()  # free the memory now
            self._bytes = 0
            self._ready.set()
            if self._bus is not None:
                self._bus.discard(self)

    def pending(self) -> int:
        return len(self._queue)

    async def next(self) -> BusEvent | None:
        """The next event, or None once the subscription is cancelled (see `cancel_reason`)."""
        while True:
            if self.cancel_reason is not None:
                return None
            if self._queue:
                ev = self._queue.popleft()
                self._bytes -= ev.size
                return ev
            self._ready.clear()
            await self._ready.wait()


class EventBus:
    def __init__(self, buffer_size: int = DEFAULT_BUFFER) -> None:
        self.buffer_size = buffer_size
        self._subs: dict[str, dict[str, Subscription]] = {}
        self._waiters: dict[bytes, list[asyncio.Future[TxCommitted]]] = {}

    # ---------------------------------------------------------------- subscriptions
    def subscribe(self, subscriber: str, query_text: str, capacity: int | None = None) -> Subscription:
        query = parse_query(query_text)  # QueryError propagates with its message
        mine = self._subs.setdefault(subscriber, {})
        if query_text in mine:
            raise SubscriptionError("already subscribed")
        sub = Subscription(subscriber, query_text, query, capacity or self.buffer_size, self)
        mine[query_text] = sub
        return sub

    def unsubscribe(self, subscriber: str, query_text: str) -> None:
        mine = self._subs.get(subscriber, {})
        sub = mine.pop(query_text, None)
        if sub is None:
            raise SubscriptionError("subscription not found")
        sub.cancel("unsubscribed")
        if not mine:
            self._subs.pop(subscriber, None)

    def discard(self, sub: Subscription) -> None:
        """Forget a cancelled subscription (the client may subscribe again at once)."""
        mine = self._subs.get(sub.subscriber, {})
        if mine.get(sub.query_text) is sub:
            del mine[sub.query_text]
            if not mine:
                self._subs.pop(sub.subscriber, None)

    def unsubscribe_all(self, subscriber: str) -> None:
        for sub in self._subs.pop(subscriber, {}).values():
            sub.cancel("unsubscribed")

    def num_clients(self) -> int:
        return len(self._subs)

    def num_client_subscriptions(self, subscriber: str) -> int:
        return len(self._subs.get(subscriber, {}))

    def _all(self) -> list[Subscription]:
        return [s for mine in self._subs.values() for s in mine.values()]

    # ---------------------------------------------------------------- tx waiters
    def wait_for_tx(self, tx_hash: bytes) -> asyncio.Future[TxCommitted]:
        if sum(len(w) for w in self._waiters.values()) >= MAX_TX_WAITERS:
            raise SubscriptionError("too many pending broadcast_tx_commit calls; use broadcast_tx_sync and tx")
        fut: asyncio.Future[TxCommitted] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(tx_hash, []).append(fut)
        return fut

    def forget_waiter(self, tx_hash: bytes, fut: asyncio.Future[TxCommitted]) -> None:
        waiters = self._waiters.get(tx_hash)
        if waiters and fut in waiters:
            waiters.remove(fut)
            if not waiters:
                del self._waiters[tx_hash]

    # ---------------------------------------------------------------- publishing
    def publish_block(self, block: BlockView, results: BlockResultsView) -> None:
        """Announce a committed block and its txs. Call on the loop, after the commit write."""
        self._publish(block.header.height, block.txs, lambda: block, results, self._all(), waiters=True)

    def replay_block(self, sub: Subscription, block: BlockView, results: BlockResultsView) -> None:
        """Queue a past block's events for one subscription only (the catch-up cursor of `subscribe`)."""
        self._publish(block.header.height, block.txs, lambda: block, results, [sub], waiters=False)

    def publish_chain_block(self, block: Block, result: FinalizeBlockResult) -> None:
        """`publish_block` for the node's records (the node's `on_block` hook): the results go on as the
        application made them, and the block's view is only made if a block event is encoded."""
        height = block.header.height
        self._publish(height, block.txs, _once(lambda: adapt.block(block)), adapt.block_results(height, result),
                      self._all(), waiters=True, hashes=block.tx_hashes())

    def _publish(self, height: int, txs: Sequence[bytes], block: Callable[[], BlockView], results: BlockResultsView,
                 subs: list[Subscription], *, waiters: bool, hashes: Sequence[bytes] | None = None) -> None:
        """Why per-block sharing: every event of a block, whoever receives it, takes its tx result JSON text from
        one per-block cache (`tx_text`), and the per-tx work (hash, attribute map, query match) is skipped when
        no waiter and no subscription can take a Tx event (a NewBlock observer of a 1,000-tx block)."""
        tx_results = results.tx_results
        cache: list[str | None] = [None] * len(tx_results)

        def tx_text(i: int) -> str:
            j = cache[i]
            if j is None:
                j = cache[i] = encode.tx_result_text(tx_results[i])
            return j

        if subs:
            self._publish_block_events(height, txs, block, results, tx_text, subs)
        tx_subs = [s for s in subs if _may_match(s.query, "Tx")]
        if not tx_subs and not (waiters and self._waiters):
            return
        router = _TxRouter(tx_subs) if tx_subs else None
        n = len(tx_results)
        for i, tx in enumerate(txs):
            h = sha256(tx) if hashes is None else hashes[i]
            result = tx_results[i] if i < n else _EMPTY_RESULT
            if waiters:
                for fut in self._waiters.pop(h, []):
                    if not fut.done():
                        fut.set_result(TxCommitted(height, i, result))
            if router is not None:
                self._publish_tx(router, height, i, tx, h, result, tx_text if i < n else None)

    def _publish_block_events(self, height: int, txs: Sequence[bytes], block: Callable[[], BlockView],
                              results: BlockResultsView, tx_text: Callable[[int], str],
                              subs: list[Subscription]) -> None:
        base = event_attributes(results.finalize_block_events, {"block.height": [str(height)]})
        nb = dict(base, **{"tm.event": ["NewBlock"]})
        nbh = dict(base, **{"tm.event": ["NewBlockHeader"]})
        for attrs in (nb, nbh):
            matching = [s for s in subs if s.query.matches(attrs)]
            if matching:
                if attrs is nb:
                    size = 4096 + 2 * sum(len(t) for t in txs) + 1024 * len(txs)
                    ev = BusEvent(lambda: _new_block(block(), results), attrs, size,
                                  lambda: _new_block_text(block(), results, tx_text))
                else:
                    ev = BusEvent(lambda: _new_header(block()), attrs, 4096)
                for s in matching:
                    s.push(ev)

    def _publish_tx(self, router: _TxRouter, height: int, index: int, tx: bytes, h: bytes,
                    result: TxResultView, tx_text: Callable[[int], str] | None) -> None:
        hash_hex = encode.hex_upper(h)
        subs = router.candidates(hash_hex, height, result.events)
        if not subs:
            return
        attrs = {"tm.event": ["Tx"], "tx.hash": [hash_hex], "tx.height": [str(height)]}
        event_attributes(result.events, attrs)
        matching = [s for s in subs if s.query.matches(attrs)]
        if not matching:
            return
        ev = BusEvent(lambda: _tx_event(height, index, tx, result), attrs, 2048 + 2 * len(tx),
                      lambda: _tx_event_text(height, index, tx, tx_text(index) if tx_text else
                                             encode.tx_result_text(result)))
        for s in matching:
            s.push(ev)


_EMPTY_RESULT = TxResultView()


class _TxRouter:
    """Which subscriptions a tx's event may go to, without trying every query on every tx. A query with an
    exact string condition (`lg.id='LG-1'`, `tx.hash='AB…'`: every condition must hold) can only match a tx
    carrying that value, so it is filed under (tag, value) and found by a lookup; the others (`tm.event='Tx'`
    alone, ranges, CONTAINS, EXISTS) are candidates for every tx. The queries still decide (`Query.matches`):
    this only skips those that cannot hold. Many wallets subscribed to their own guarantees then cost a few
    lookups per tx, not a query each, and a tx nobody can receive costs no attribute map."""

    def __init__(self, subs: list[Subscription]) -> None:
        self.scan: list[Subscription] = []
        self.keyed: dict[tuple[str, str], list[Subscription]] = {}
        for s in subs:
            key = _exact_key(s.query)
            if key is None:
                self.scan.append(s)
            else:
                self.keyed.setdefault(key, []).append(s)
        self.tags = {tag for tag, _ in self.keyed}

    def candidates(self, hash_hex: str, height: int, events: Sequence[EventView]) -> list[Subscription]:
        if not self.keyed:
            return self.scan
        tags, keyed = self.tags, self.keyed
        hits: list[Subscription] = []
        found = [("tx.hash", hash_hex)] if "tx.hash" in tags else []
        if "tx.height" in tags:
            found.append(("tx.height", str(height)))
        for e in events:
            for a in e.attributes:
                name = _attr_name(e.type, a.key)
                if name in tags:
                    found.append((name, a.value))
        for key in found:
            for s in keyed.get(key, ()):
                if s not in hits:
                    hits.append(s)
        return self.scan + hits if hits else self.scan


def _exact_key(query: Query) -> tuple[str, str] | None:
    """A (tag, value) every event the query matches must carry (besides tm.event), if it has one."""
    for c in query.conditions:
        if c.op == "=" and isinstance(c.operand, str) and c.tag != "tm.event":
            return c.tag, c.operand
    return None


def _may_match(query: Query, event: str) -> bool:
    """Whether `query` can hold for some event named `event` (its `tm.event` conditions allow the name)."""
    return all(c.matches_value(event) for c in query.conditions if c.tag == "tm.event")


def _once(make: Callable[[], BlockView]) -> Callable[[], BlockView]:
    made: list[BlockView] = []

    def get() -> BlockView:
        if not made:
            made.append(make())
        return made[0]

    return get


def _new_block(block: BlockView, results: BlockResultsView) -> dict[str, Any]:
    value = {
        "block": encode.block(block),
        "block_id": encode.block_id(block.block_id),
        "result_finalize_block": encode.finalize_block_result(results),
    }
    return {"type": "tendermint/event/NewBlock", "value": value}


def _new_block_text(block: BlockView, results: BlockResultsView, tx_text: Callable[[int], str]) -> str:
    """The JSON text of `_new_block(block, results)`, the tx results taken from the block's cache."""
    rfb = encode.finalize_block_result_text(results, [tx_text(i) for i in range(len(results.tx_results))])
    return (f'{{"type":"tendermint/event/NewBlock","value":{{"block":{encode.compact_json(encode.block(block))},'
            f'"block_id":{encode.compact_json(encode.block_id(block.block_id))},"result_finalize_block":{rfb}}}}}')


def _tx_event(height: int, index: int, tx: bytes, result: TxResultView) -> dict[str, Any]:
    value = {"TxResult": {"height": str(height), "index": index, "tx": encode.b64(tx),
                          "result": encode.tx_result(result)}}
    return {"type": "tendermint/event/Tx", "value": value}


def _tx_event_text(height: int, index: int, tx: bytes, result: str) -> str:
    """The JSON text of `_tx_event`, with the tx result's text."""
    return (f'{{"type":"tendermint/event/Tx","value":{{"TxResult":{{"height":"{height:d}","index":{index:d},'
            f'"tx":"{encode.b64(tx)}","result":{result}}}}}}}')


def _new_header(block: BlockView) -> dict[str, Any]:
    return {"type": "tendermint/event/NewBlockHeader", "value": {"header": encode.header(block.header)}}

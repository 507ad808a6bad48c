"""The bounded mempool: check on entry, dedupe, FIFO reap, re-check after each block, commit waiters.

Why this shape:
- Bounded by count (`size`) and bytes (`max_txs_bytes`) from config; a full pool refuses with CometBFT's
  wording ("mempool is full: ...") so existing clients and dashboards recognise it.
- Every tx passes the application's `check_tx` on entry (against the app's check state); after a block the
  committed txs leave and the rest are re-checked against the new check state (nonces moved on), so the
  next proposal never carries a tx that would now fail.
- A cache of recently seen hashes (the last `cache_size` at least: `node.recent.RecentSet`, as the gossip's
  per-peer known sets) stops a tx from being re-checked
  or re-gossiped again and again (a tx that comes back from three peers costs one check). Rejected txs are
  forgotten, so they may be resubmitted.
- `broadcast_tx_commit` waits on the event bus's per-tx waiter map (`node.events.EventBus.wait_for_tx`,
  cometbft pain point 9), fed by the commit path's last step; the mempool keeps no waiters of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, Protocol

from node.recent import RecentSet
from node.verify_thread import VerifyThread
from state.crypto import sha256


class CheckResult(Protocol):
    code: int
    log: str


@dataclass(frozen=True)
class Checked:
    """What `check_tx` told us about a tx (code 0 = accepted)."""

    code: int
    log: str = ""
    codespace: str = ""
    gas_wanted: int = 0


ACCEPTED = Checked(0)  # the verdict of every accepted tx (immutable, shared: one object, not one per tx)
CheckFn = Callable[[bytes, bool], Checked]  # (tx, recheck) -> verdict
RecheckFn = Callable[[list[bytes], list[bytes]], list[bool]]  # RECHECK of all pending (txs, hashes) -> valid?


class MempoolError(Exception):
    """A tx refused by the mempool itself (full, too large, already known); RPC returns it as an error."""


class MempoolFullError(MempoolError):
    pass


class TxInCacheError(MempoolError):
    def __init__(self) -> None:
        super().__init__("tx already exists in cache")


class TxTooLargeError(MempoolError):
    pass


class Mempool:
    """FIFO pool of checked txs, keyed by SHA-256 of the tx bytes."""

    def __init__(
        self,
        check: CheckFn,
        *,
        size: int = 5000,
        max_txs_bytes: int = 64 * 1024 * 1024,
        max_tx_bytes: int = 1024 * 1024,
        cache_size: int = 10000,
        recheck: bool = True,
        recheck_many: RecheckFn | None = None,
    ) -> None:
        if size <= 0 or max_txs_bytes <= 0 or max_tx_bytes <= 0:
            raise ValueError("mempool limits must be positive")
        self._check = check
        self.size_limit = size
        self.max_txs_bytes = max_txs_bytes
        self.max_tx_bytes = max_tx_bytes
        self.recheck_enabled = recheck
        self._recheck_many = recheck_many  # e.g. state.abci.Application.recheck_txs: one pass, same verdicts
        self._txs: OrderedDict[bytes, bytes] = OrderedDict()  # hash -> tx, in arrival order
        self._bytes = 0
        self._cache = RecentSet(cache_size)
        # the hashes of recently committed txs: a refusal never takes them out of `_cache` (below)
        self._committed = RecentSet(cache_size)
        self.height = 0

    # --- queries -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._txs

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def seen(self, tx_hash: bytes) -> bool:
        """True if the tx is in the pool or was seen recently (gossip uses it to skip known txs)."""
        c = self._cache  # (its sets read here: this runs for every copy of every tx a peer sends)
        return tx_hash in self._txs or tx_hash in c.young or tx_hash in c.old

    def unseen(self, hashes: Sequence[bytes], txs: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
        """(hash, tx) of those of `txs` (with their `hashes`) that are neither pooled nor seen recently: `seen`
        for a peer's whole frame, in one comprehension (no method call per tx)."""
        pool, c = self._txs, self._cache
        young, old = c.young, c.old
        return [(h, tx) for h, tx in zip(hashes, txs, strict=True)
                if h not in pool and h not in young and h not in old]

    def get(self, tx_hash: bytes) -> bytes | None:
        return self._txs.get(tx_hash)

    def items(self) -> list[tuple[bytes, bytes]]:
        """(hash, tx) of every pending tx, in arrival order."""
        return list(self._txs.items())

    def txs(self, limit: int | None = None) -> list[bytes]:
        out = list(self._txs.values())
        return out if limit is None else out[: max(0, limit)]

    # --- entry -------------------------------------------------------------------------------------
    def _full_error(self, extra: int) -> MempoolFullError:
        return MempoolFullError(
            f"mempool is full: number of txs {len(self._txs)} (max: {self.size_limit}), "
            f"total txs bytes {self._bytes} (max: {self.max_txs_bytes})"
        )

    def add(self, tx: bytes) -> Checked:
        """Check and admit `tx`. Returns the app's verdict (code != 0: not admitted); raises MempoolError
        when the pool refuses it before the app sees it."""
        return self.admit_reserved(self.reserve(tx), tx)

    def reserve(self, tx: bytes, pending: int = 0, pending_bytes: int = 0, h: bytes | None = None) -> bytes:
        """The pool's own checks (size, duplicate, room for `pending` more txs of `pending_bytes` already on
        their way in); raises MempoolError, else marks the tx seen and returns its hash. `admit_reserved`
        must follow (a `Admission` does so after the tx's signature was checked in a worker thread). `h` is
        the tx's SHA-256 when the caller has it already."""
        if len(tx) > self.max_tx_bytes:
            raise TxTooLargeError(f"tx too large: {len(tx)} bytes (max: {self.max_tx_bytes})")
        if len(tx) == 0:
            raise MempoolError("tx is empty")
        if h is None:
            h = sha256(tx)
        c = self._cache
        if h in self._txs or h in c.young or h in c.old:
            raise TxInCacheError()
        if len(self._txs) + pending >= self.size_limit or self._bytes + pending_bytes + len(tx) > self.max_txs_bytes:
            raise self._full_error(len(tx))
        c.add(h)
        return h

    def reserve_many(self, items: Iterable[tuple[bytes, bytes]], pending: int = 0, pending_bytes: int = 0
                     ) -> list[tuple[bytes, bytes]]:
        """`reserve` for each (hash, tx) of `items` in turn, the ones reserved before counting as pending, and
        without raising: the (hash, tx) pairs reserved (the very tuples given), in order; the others (too
        large, empty, known, a twin of an earlier one, no room) are left out. One call for a peer's frame
        instead of one per tx (`Admission.submit_many`)."""
        out: list[tuple[bytes, bytes]] = []
        pool, cache = self._txs, self._cache
        young, old = cache.young, cache.old
        max_tx, limit, max_bytes = self.max_tx_bytes, self.size_limit, self.max_txs_bytes
        count, nbytes = len(pool) + pending, self._bytes + pending_bytes
        for item in items:
            h, tx = item
            size = len(tx)
            if (size > max_tx or not size or h in pool or h in young or h in old or count >= limit
                    or nbytes + size > max_bytes):
                continue
            cache.add(h)
            young, old = cache.young, cache.old  # (`add` may have turned the young generation old)
            out.append(item if type(item) is tuple else (h, tx))
            count += 1
            nbytes += size
        return out

    def admit_reserved(self, h: bytes, tx: bytes) -> Checked:
        """The app's check of a reserved tx (hash `h`), and the tx into the pool if it passes."""
        try:
            res = self._check(tx, False)
        except Exception as exc:  # the app must answer with a code; a crash is refused, not propagated
            self._forget(h)
            return Checked(1, f"check_tx failed: {type(exc).__name__}: {exc}")
        if res.code != 0:
            self._forget(h)  # a rejected tx may be corrected and sent again
            return res
        self._txs[h] = tx
        self._bytes += len(tx)
        return res

    def _forget(self, h: bytes) -> None:
        """A refused tx leaves the seen cache, unless a block committed it meanwhile (it was reserved, on its
        way through the verify thread, or held while the admission was paused for a commit): its check then
        fails on its spent sequence number, and forgetting it sent each later copy from a peer through
        Ed25519 and check_tx again (a full mesh relays each tx twice more) instead of stopping it by hash."""
        if h not in self._committed:
            self._cache.remove(h)

    # --- proposal ----------------------------------------------------------------------------------
    def reap(self, max_bytes: int, max_txs: int) -> list[bytes]:
        """Txs in arrival order, as many as fit in `max_bytes` (-1: no limit) and `max_txs` (-1: no limit)."""
        out: list[bytes] = []
        total = 0
        for tx in self._txs.values():
            if 0 <= max_txs <= len(out):
                break
            if max_bytes >= 0 and total + len(tx) > max_bytes:
                break
            out.append(tx)
            total += len(tx)
        return out

    # --- after a block -------------------------------------------------------------------------------
    def update(self, height: int, committed: Iterable[bytes], hashes: Sequence[bytes] | None = None) -> list[bytes]:
        """Remove committed txs (remembered in the cache), then re-check the rest; returns hashes dropped
        by the re-check. `hashes`: the committed txs' SHA-256 in the same order, when the caller has them
        (a block computes them once: `Block.tx_hashes`)."""
        self.height = height
        if hashes is None:
            hashes = [sha256(tx) for tx in committed]
        self._cache.push_many(hashes)
        self._committed.push_many(hashes)
        pop, gone = self._txs.pop, 0
        for h in hashes:
            old = pop(h, None)
            if old is not None:
                gone += len(old)
        self._bytes -= gone
        dropped: list[bytes] = []
        if not self.recheck_enabled or not self._txs:
            return dropped
        if self._recheck_many is not None:
            pending, raw = list(self._txs), list(self._txs.values())
            try:
                verdicts = self._recheck_many(raw, pending)
            except Exception:
                verdicts = []
            if len(verdicts) == len(pending):
                if not all(verdicts):  # (the usual case: every pending tx still valid, nothing to walk)
                    for h, tx, ok in zip(pending, raw, verdicts, strict=True):
                        if not ok:
                            self._drop(h, tx, dropped)
                return dropped
        for h, tx in list(self._txs.items()):
            try:
                ok = self._check(tx, True).code == 0
            except Exception:
                ok = False
            if not ok:
                self._drop(h, tx, dropped)
        return dropped

    def _drop(self, h: bytes, tx: bytes, dropped: list[bytes]) -> None:
        """Forget a tx the re-check refused (and its hash, so a peer may offer it again later)."""
        del self._txs[h]
        self._bytes -= len(tx)
        self._cache.remove(h)
        dropped.append(h)

    def flush(self) -> None:
        self._txs.clear()
        self._bytes = 0


PreverifyFn = Callable[[list[bytes]], Sequence[object | None]]  # worker thread: raw txs -> verified decoded txs
AdmitFn = Callable[[Any], None]  # loop thread: hand one verified decoded tx to the application
AdmittedFn = Callable[[list[tuple[bytes, bytes]]], None]  # loop thread: (hash, tx) admitted by one batch
MAX_VERIFY_BATCH = 64  # txs per worker job: amortises the thread hand-off (~1 us/tx), keeps one job short (~4 ms)
# Smaller batches are verified on the loop: a hand-off to the worker costs ~60 us of CPU (measured: one tx at a
# time 145 us/tx against 84 inline), more than it saves; 16 verifications hold the loop < 1 ms.
INLINE_VERIFY_BELOW = 16


def _call_soon_threadsafe(loop: asyncio.AbstractEventLoop, fn: Callable[..., object], *args: object) -> None:
    """`loop.call_soon_threadsafe`, quietly nothing once the loop is closed (the node stopped while a batch
    was in the worker: its result is not wanted)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)


_Pair = tuple[bytes, bytes]  # (hash, tx): a queued tx, and what `on_admitted` gets, the very same tuple


class Admission:
    """The way into the mempool for txs from RPC and from peers: signatures checked in a worker thread.

    `submit(tx)` runs the pool's own checks at once (size, duplicate, full: MempoolError), marks the tx seen
    (so the same tx from another peer is not taken twice) and queues it. Everything queued during one turn of
    the loop goes, in batches of up to `max_batch`, to a worker thread that decodes and verifies it
    (`preverify`, e.g. `state.abci.Application.preverify`: pure, PyNaCl releases the GIL). Back on the loop,
    each verified decoded tx goes to the application's signature cache (`admit`), then through the mempool's
    serial check (`Mempool.admit_reserved` -> check_tx, which finds the signature verified) **in arrival
    order**: one batch is in the worker at a time and batches are applied in the order they were queued, so
    a signer's sequence numbers reach check_tx in the order its txs arrived, whether by RPC or gossip.
    A tx that `preverify` refuses (None) is still checked, on the loop: check_tx gives its exact refusal.
    `on_admitted` gets the txs each batch admitted (the node gossips them as one frame per peer).

    Threads: `submit`, `pause`, `resume` and every callback run on the event loop's thread, the only one that
    touches the mempool and the application; the worker thread runs `preverify` on a list of bytes only.
    A batch of fewer than `inline_below` txs is verified on the loop (the hand-off would cost more than it
    saves and the stall is < 1 ms); the order rules are the same.
    `pause()` (the node commits a block in a worker thread) holds verified batches back until `resume()`:
    nothing reaches check_tx while the application is being committed (CometBFT locks the mempool during
    Commit). Without `preverify` (tests, tools) batches are checked on the loop, in the same order.
    """

    def __init__(self, pool: Mempool, preverify: PreverifyFn | None = None, admit: AdmitFn | None = None, *,
                 on_admitted: AdmittedFn | None = None, max_batch: int = MAX_VERIFY_BATCH,
                 inline_below: int = INLINE_VERIFY_BELOW, workers: Executor | None = None) -> None:
        self.pool = pool
        self._preverify = preverify
        self._admit = admit
        self.on_admitted = on_admitted
        self.max_batch = max(1, max_batch)
        self.inline_below = inline_below
        self._workers = workers
        self._thread: VerifyThread | None = None  # started at the first batch for the worker (node/verify_thread.py)
        # queued txs as (hash, tx) pairs (a peer's frame gives them so: kept, not copied into an item each); the
        # futures of those submitted with `want_result` apart, by hash (the pool refuses a second tx of one hash)
        self._queue: deque[_Pair] = deque()
        self._futs: dict[bytes, asyncio.Future[Checked]] = {}
        self._ready: deque[tuple[list[_Pair], Sequence[object | None]]] = deque()
        self._inflight = False
        self._scheduled = False
        self._paused = False
        self._closed = False
        self.pending = 0  # submitted, not yet through check_tx (counted against the pool's limits)
        self.pending_bytes = 0
        self.batches = 0  # worker jobs run (metrics and tests)

    @property
    def paused(self) -> bool:
        return self._paused

    def submit(self, tx: bytes, *, want_result: bool = False, h: bytes | None = None) -> asyncio.Future[Checked] | None:
        """Queue `tx` (raises MempoolError when the pool refuses it outright). With `want_result` a future
        resolved with check_tx's verdict once the tx went through it. `h`: its SHA-256 if known. Call on the
        loop thread."""
        h = self.pool.reserve(tx, self.pending, self.pending_bytes, h)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Checked] | None = None
        if want_result:
            fut = self._futs[h] = loop.create_future()
        self._queue.append((h, tx))
        self.pending += 1
        self.pending_bytes += len(tx)
        self._kick(loop)
        return fut

    def submit_many(self, items: Iterable[tuple[bytes, bytes]]) -> int:
        """Queue peers' txs, (SHA-256, tx) each, as `submit` without a result would one by one; a tx the pool
        refuses outright (known, full, too large, empty) is dropped quietly, as gossip wants. One frame's txs
        cost one look-up of the loop and one kick instead of one each. Returns how many were queued. Call on
        the loop thread."""
        reserved = self.pool.reserve_many(items, self.pending, self.pending_bytes)
        if reserved:
            self._queue.extend(reserved)
            self.pending += len(reserved)
            self.pending_bytes += sum([len(tx) for _, tx in reserved])
            self._kick(asyncio.get_running_loop())
        return len(reserved)

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._apply_ready()
        if self._queue:
            self._kick(asyncio.get_running_loop())

    def close(self) -> None:
        """Stop the worker thread this admission started (the node stops); queued txs are dropped, and a job
        still in the worker is ignored when it comes back (the store may be closed by then)."""
        self._closed = True
        self._queue.clear()
        self._ready.clear()
        self._futs.clear()
        if self._thread is not None:
            self._thread.shutdown()
            self._thread = None

    # ------------------------------------------------------------------ internals (loop thread)
    def _kick(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._inflight and not self._scheduled and self._queue:
            self._scheduled = True
            loop.call_soon(self._start)  # after this turn of the loop: everything submitted in it is one batch

    def _start(self) -> None:
        self._scheduled = False
        if self._inflight or not self._queue or self._closed:
            return
        n = min(self.max_batch, len(self._queue))
        batch = [self._queue.popleft() for _ in range(n)]
        if self._preverify is None:
            self._done(batch, [None] * n)
            if self._queue:  # (more than `max_batch` were queued: the rest is the next batch, not stranded)
                self._kick(asyncio.get_running_loop())
            return
        if n < self.inline_below:
            try:
                results: Sequence[object | None] = self._preverify([tx for _, tx in batch])
            except Exception:
                results = [None] * n  # checked by check_tx instead; never lost
            self._done(batch, results if len(results) == n else [None] * n)
            if self._queue:  # more than one batch was queued (possible when inline_below > max_batch)
                self._kick(asyncio.get_running_loop())
            return
        self._inflight = True
        self.batches += 1
        # the worker's result comes back as one callback on the loop (call_soon_threadsafe from the worker), not
        # through an asyncio future chained to an executor's (two loop turns per batch)
        loop = asyncio.get_running_loop()
        raws = [tx for _, tx in batch]
        if self._workers is not None:  # an executor given by the caller
            job = self._workers.submit(self._preverify, raws)
            job.add_done_callback(lambda f: _call_soon_threadsafe(loop, self._executed, batch, f))
            return
        if self._thread is None:
            self._thread = VerifyThread()
        self._thread.submit(self._preverify, raws, loop, lambda res, exc: self._verified(batch, res, exc))

    def _executed(self, batch: list[_Pair], f: Future[Sequence[object | None]]) -> None:
        """A given executor's job is done (on the loop)."""
        if f.cancelled():
            self._verified(batch, None, None)
        else:
            exc = f.exception()
            self._verified(batch, None if exc is not None else f.result(), exc)

    def _verified(self, batch: list[_Pair], res: Sequence[object | None] | None, exc: BaseException | None) -> None:
        """The worker's verdicts on `batch` (on the loop); a failed job (`exc`) or a wrong count leaves every tx
        of it to check_tx on the loop: never lost."""
        self._inflight = False
        if self._closed:
            return
        results: Sequence[object | None]
        if exc is not None or res is None or len(res) != len(batch):
            results = [None] * len(batch)
        else:
            results = res
        self._done(batch, results)
        if self._queue:
            self._kick(asyncio.get_running_loop())

    def _done(self, batch: list[_Pair], results: Sequence[object | None]) -> None:
        self._ready.append((batch, results))
        self._apply_ready()

    def _apply_ready(self) -> None:
        accepted: list[_Pair] = []
        admit, admit_reserved, futs = self._admit, self.pool.admit_reserved, self._futs
        while self._ready and not self._paused and not self._closed:
            batch, results = self._ready.popleft()
            self.pending -= len(batch)
            self.pending_bytes -= sum([len(tx) for _, tx in batch])
            for pair, dtx in zip(batch, results, strict=True):
                if dtx is not None and admit is not None:
                    admit(dtx)
                h, tx = pair
                res = admit_reserved(h, tx)
                if futs:
                    fut = futs.pop(h, None)
                    if fut is not None and not fut.done():
                        fut.set_result(res)
                if res.code == 0:
                    accepted.append(pair)
        if accepted and self.on_admitted is not None:
            self.on_admitted(accepted)

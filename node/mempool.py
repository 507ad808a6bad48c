"""The bounded mempool: check on entry, dedupe, FIFO reap, re-check after each block, commit waiters.

Why this shape:
- Bounded by count (`size`) and bytes (`max_txs_bytes`) from config; a full pool refuses with CometBFT's
  wording ("mempool is full: ...") so existing clients and dashboards recognise it.
- Every tx passes the application's `check_tx` on entry (against the app's check state); after a block the
  committed txs leave and the rest are re-checked against the new check state (nonces moved on), so the
  next proposal never carries a tx that would now fail.
- An LRU cache of seen hashes stops a tx from being re-checked or re-gossiped again and again (a tx that
  comes back from three peers costs one check). Rejected txs are forgotten, so they may be resubmitted.
- `broadcast_tx_commit` waits on the event bus's per-tx waiter map (`node.events.EventBus.wait_for_tx`,
  cometbft pain point 9), fed by the commit path's last step; the mempool keeps no waiters of its own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

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


CheckFn = Callable[[bytes, bool], Checked]  # (tx, recheck) -> verdict


class MempoolError(Exception):
    """A tx refused by the mempool itself (full, too large, already known); RPC returns it as an error."""


class MempoolFullError(MempoolError):
    pass


class TxInCacheError(MempoolError):
    def __init__(self) -> None:
        super().__init__("tx already exists in cache")


class TxTooLargeError(MempoolError):
    pass


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = max(0, size)
        self._d: OrderedDict[bytes, None] = OrderedDict()

    def push(self, key: bytes) -> bool:
        """Add `key`; False if it was there already."""
        if key in self._d:
            self._d.move_to_end(key)
            return False
        self._d[key] = None
        if len(self._d) > self.size:
            self._d.popitem(last=False)
        return True

    def remove(self, key: bytes) -> None:
        self._d.pop(key, None)

    def __contains__(self, key: bytes) -> bool:
        return key in self._d


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
    ) -> None:
        if size <= 0 or max_txs_bytes <= 0 or max_tx_bytes <= 0:
            raise ValueError("mempool limits must be positive")
        self._check = check
        self.size_limit = size
        self.max_txs_bytes = max_txs_bytes
        self.max_tx_bytes = max_tx_bytes
        self.recheck_enabled = recheck
        self._txs: OrderedDict[bytes, bytes] = OrderedDict()  # hash -> tx, in arrival order
        self._bytes = 0
        self._cache = _LRU(cache_size)
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
        return tx_hash in self._txs or tx_hash in self._cache

    def get(self, tx_hash: bytes) -> bytes | None:
        return self._txs.get(tx_hash)

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
        if len(tx) > self.max_tx_bytes:
            raise TxTooLargeError(f"tx too large: {len(tx)} bytes (max: {self.max_tx_bytes})")
        if len(tx) == 0:
            raise MempoolError("tx is empty")
        h = sha256(tx)
        if h in self._txs or h in self._cache:
            raise TxInCacheError()
        if len(self._txs) >= self.size_limit or self._bytes + len(tx) > self.max_txs_bytes:
            raise self._full_error(len(tx))
        self._cache.push(h)
        try:
            res = self._check(tx, False)
        except Exception as exc:  # the app must answer with a code; a crash is refused, not propagated
            self._cache.remove(h)
            return Checked(1, f"check_tx failed: {type(exc).__name__}: {exc}")
        if res.code != 0:
            self._cache.remove(h)  # a rejected tx may be corrected and sent again
            return res
        self._txs[h] = tx
        self._bytes += len(tx)
        return res

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
    def update(self, height: int, committed: Iterable[bytes]) -> list[bytes]:
        """Remove committed txs (remembered in the cache), then re-check the rest; returns hashes dropped
        by the re-check."""
        self.height = height
        for tx in committed:
            h = sha256(tx)
            self._cache.push(h)
            old = self._txs.pop(h, None)
            if old is not None:
                self._bytes -= len(old)
        dropped: list[bytes] = []
        if not self.recheck_enabled:
            return dropped
        for h, tx in list(self._txs.items()):
            try:
                ok = self._check(tx, True).code == 0
            except Exception:
                ok = False
            if not ok:
                del self._txs[h]
                self._bytes -= len(tx)
                self._cache.remove(h)
                dropped.append(h)
        return dropped

    def flush(self) -> None:
        self._txs.clear()
        self._bytes = 0

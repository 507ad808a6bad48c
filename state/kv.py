"""A small key-value protocol, so the application, the block store and tests share one storage seam.

Production runs on LevelDB (`state.kv_level.LevelKV`); the simulator and most unit tests run on
`MemoryKV`, which keeps keys sorted so iteration order is the same as LevelDB's (bytewise). Namespaces are
prefixes (`prefixed`), and a `Batch` made from any view writes through the root store, so one atomic batch
may span namespaces: the node commits a block, its results, its index entries and the application state in
one write.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import Protocol

Op = tuple[bytes, bytes | None]  # (full key, value or None for delete)


class Reader(Protocol):
    """The read half of a store: what overlays and queries need."""

    def get(self, key: bytes) -> bytes | None: ...
    def iterate(
        self,
        *,
        prefix: bytes | None = None,
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]: ...


class KV(Reader, Protocol):
    def put(self, key: bytes, value: bytes) -> None: ...
    def delete(self, key: bytes) -> None: ...
    def prefixed(self, ns: bytes) -> KV: ...
    def batch(self) -> Batch: ...


class RootKV(Protocol):
    """What a backend implements; views and batches are built on it."""

    def get(self, key: bytes) -> bytes | None: ...
    def write(self, ops: list[Op], sync: bool) -> None: ...
    def scan(self, start: bytes | None, stop: bytes | None, reverse: bool) -> Iterator[tuple[bytes, bytes]]: ...


def prefix_upper_bound(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key with `prefix` (None when there is none)."""
    p = bytearray(prefix)
    while p and p[-1] == 0xFF:
        p.pop()
    if not p:
        return None
    p[-1] += 1
    return bytes(p)


class Batch:
    """Puts and deletes applied atomically by `commit`; later operations on a key win."""

    def __init__(self, root: RootKV, ns: bytes = b"", ops: list[Op] | None = None) -> None:
        self._root = root
        self._ns = ns
        self._ops: list[Op] = [] if ops is None else ops

    def put(self, key: bytes, value: bytes) -> None:
        self._ops.append((self._ns + key, bytes(value)))

    def delete(self, key: bytes) -> None:
        self._ops.append((self._ns + key, None))

    def extend(self, ops: Iterable[Op]) -> None:
        """`put` (value) or `delete` (None) each (key, value) in order, without a Python call per operation
        (a block's commit writes tens of thousands). Values must be `bytes` (`put` copies other buffers)."""
        ns = self._ns
        if ns:
            self._ops.extend([(ns + k, v) for k, v in ops])
        else:
            self._ops.extend(ops)

    def prefixed(self, ns: bytes) -> Batch:
        return Batch(self._root, self._ns + ns, self._ops)

    def __len__(self) -> int:
        return len(self._ops)

    def commit(self, sync: bool = False) -> None:
        """Write every operation at once: after a crash all are there or none is."""
        ops, self._ops[:] = list(self._ops), []
        if ops:
            self._root.write(ops, sync)


class View:
    """A namespace of a root store (the root itself has the empty namespace)."""

    def __init__(self, root: RootKV, ns: bytes = b"") -> None:
        self._root = root
        self._ns = ns

    def get(self, key: bytes) -> bytes | None:
        return self._root.get(self._ns + key)

    def put(self, key: bytes, value: bytes) -> None:
        self._root.write([(self._ns + key, bytes(value))], False)

    def delete(self, key: bytes) -> None:
        self._root.write([(self._ns + key, None)], False)

    def iterate(
        self,
        *,
        prefix: bytes | None = None,
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Items in key order with start <= key < stop, all beginning with `prefix`."""
        lo = self._ns + (prefix or b"")
        hi = prefix_upper_bound(lo) if lo else None
        if start is not None and self._ns + start > lo:
            lo = self._ns + start
        if stop is not None:
            s = self._ns + stop
            hi = s if hi is None or s < hi else hi
        cut = len(self._ns)
        for k, v in self._root.scan(lo or None, hi, reverse):
            yield k[cut:], v

    def prefixed(self, ns: bytes) -> View:
        return View(self._root, self._ns + ns)

    def batch(self) -> Batch:
        return Batch(self._root, self._ns)

    def join(self, batch: Batch) -> Batch:
        """`batch` (of this view's root store) seen from this namespace: what is put through the result lands
        in the same atomic write (the node's per-block batch carries the application's commit)."""
        if batch._root is not self._root:
            raise ValueError("the batch belongs to another store")
        return Batch(self._root, self._ns, batch._ops)


class _MemoryRoot:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.keys: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def write(self, ops: list[Op], sync: bool) -> None:
        for key, value in ops:
            if value is None:
                if key in self.data:
                    del self.data[key]
                    i = bisect.bisect_left(self.keys, key)
                    del self.keys[i]
            else:
                if key not in self.data:
                    bisect.insort(self.keys, key)
                self.data[key] = value

    def scan(self, start: bytes | None, stop: bytes | None, reverse: bool) -> Iterator[tuple[bytes, bytes]]:
        lo = 0 if start is None else bisect.bisect_left(self.keys, start)
        hi = len(self.keys) if stop is None else bisect.bisect_left(self.keys, stop)
        selected = self.keys[lo:hi]  # a copy: writes during iteration do not disturb it
        if reverse:
            selected.reverse()
        for k in selected:
            v = self.data.get(k)
            if v is not None:
                yield k, v


class MemoryKV(View):
    """In-memory store with LevelDB's ordering, for tests and the simulator."""

    def __init__(self) -> None:
        super().__init__(_MemoryRoot())

    def close(self) -> None:
        pass

"""The admission's verify thread: one thread running `preverify` jobs in order, each result handed back to the
event loop as one callback.

Why not a `ThreadPoolExecutor(max_workers=1)` (what node/mempool.py `Admission` used until this module): every
job there costs the submitting thread a `Future` (with its `Condition` and lock), a work item, the executor's
two locks and a pass through its idle semaphore's `Condition`: ~19 us of the loop's CPU per job on this VM,
against ~4.5 us for a bare queue put that wakes an idle thread (thread CPU of the submitter, worker idle
between jobs, as the admission's is: it has one job in flight at a time); and the worker then resolved the
future and ran its callbacks before the result went to the loop. The admission only wants each result back
on the loop, in order: a queue and a thread do exactly that.

The thread is a daemon (as the executor's were not, but `Admission.close` is what stops it; a process that
never closes its admission must still be able to exit) named `egp-verify_0` like the executor's single
worker was, so `node.threadnames` and `devnet/bench/procstat.py` tell it apart as before. A job's exception
is handed to the loop with its callback (the admission then checks those txs on the loop); the thread goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

Done = Callable[[Any, BaseException | None], None]  # (result, None) or (None, the job's exception), on the loop
_Job = tuple[Callable[[Any], Any], Any, asyncio.AbstractEventLoop, Done]


class VerifyThread:
    """`submit(fn, arg, loop, done)`: `fn(arg)` in the thread, then `done(result, exc)` on `loop`; jobs run in the
    order submitted. `shutdown()` ends the thread after the jobs queued before it."""

    def __init__(self, name: str = "egp-verify_0") -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def name(self) -> str:
        return self._thread.name

    def submit(self, fn: Callable[[Any], Any], arg: Any, loop: asyncio.AbstractEventLoop, done: Done) -> None:
        self._jobs.put((fn, arg, loop, done))

    def shutdown(self) -> None:
        self._jobs.put(None)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (after `shutdown`); tests and tools."""
        self._thread.join(timeout)

    def _run(self) -> None:
        jobs = self._jobs
        while True:
            job = jobs.get()
            if job is None:
                return
            fn, arg, loop, done = job
            del job
            result: Any = None
            exc: BaseException | None = None
            try:
                result = fn(arg)
            except Exception as e:  # the loop checks those txs itself; the thread goes on
                exc = e
            with contextlib.suppress(RuntimeError):  # the loop is closed: the node stopped, nobody wants it
                loop.call_soon_threadsafe(done, result, exc)
            del fn, arg, loop, done, result, exc  # (nothing of a job kept alive while the thread waits)

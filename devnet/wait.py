"""Waiting for a condition with a deadline, for the devnet tools and the tests that drive real nodes.

How long a step takes on a shared or loaded machine (CI's two cores, other benchmarks beside it) is unknown, so
a tool never sleeps for "long enough" and then assumes the step is done: it polls for the state it needs and
gives up only at a generous deadline, with a message saying what did not happen (and, when known, the last
answer it got), so a slow machine costs time and a broken one gets a clear error instead of a wrong result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(Exception):
    """The condition did not hold before the deadline; the message names it."""


def until(cond: Callable[[], T | None], timeout: float, what: str, *, poll: float = 0.25,
          last: Callable[[], str] | None = None) -> T:
    """Call `cond` every `poll` seconds until it returns a truthy value, and return that value.

    `cond` may raise to give up at once (a node that exited will never answer). At `timeout` seconds, raise
    `WaitTimeout("<what> did not happen within <timeout> s[; <last()>]")`. The condition is always checked once
    more after the deadline, so a step that finished while we slept is never reported as missed.
    """
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() >= deadline:
            got = cond()
            if got:
                return got
            detail = last() if last is not None else ""
            raise WaitTimeout(f"{what} did not happen within {timeout:g} s" + (f"; {detail}" if detail else ""))
        time.sleep(poll)

"""Crash points: named places between the durability steps of a block commit where a test can kill the node.

Why: the claim "a crash at any step loses no committed block and leaves the right app hash" is only worth
what a test that crashes at each step shows. The runtime calls `crash_points.hit(name, height)` between the
steps, in CometBFT's order:

    after_save_block → after_finalize → after_save_results → after_app_commit → after_save_state
    → after_mempool_update

The production object, `CrashPoints`, does nothing. The test variant, `ExitAt`, ends the process with
`os._exit(CRASH_EXIT_CODE)` (no cleanup, no flush: as close to kill -9 as Python gets) at one named point,
optionally only at one height. It is reachable only through the environment variable `EGP_TEST_CRASH_AT`
(`"after_app_commit"` or `"after_app_commit@5"`), read by `from_environment()`, which the runtime calls once
at start; config.toml has no key for it, so no production configuration can enable it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

POINTS = (
    "after_save_block",
    "after_finalize",
    "after_save_results",
    "after_app_commit",
    "after_save_state",
    "after_mempool_update",
)
ENV_VAR = "EGP_TEST_CRASH_AT"
CRASH_EXIT_CODE = 87


class CrashPointError(ValueError):
    """The environment variable names no crash point."""


class CrashPoints:
    """Production: every point is a no-op."""

    def hit(self, name: str, height: int) -> None:
        if name not in POINTS:
            raise CrashPointError(f"unknown crash point {name!r}")


@dataclass
class ExitAt(CrashPoints):
    """Test only: `os._exit(CRASH_EXIT_CODE)` at `point` (at `height` only, when given)."""

    point: str
    height: int | None = None

    def __post_init__(self) -> None:
        if self.point not in POINTS:
            raise CrashPointError(f"unknown crash point {self.point!r}; known: {', '.join(POINTS)}")

    def hit(self, name: str, height: int) -> None:
        super().hit(name, height)
        if name == self.point and (self.height is None or height == self.height):
            os._exit(CRASH_EXIT_CODE)


def parse_spec(spec: str) -> ExitAt:
    """`"point"` or `"point@height"`."""
    point, _, h = spec.strip().partition("@")
    if h and not h.isdigit():
        raise CrashPointError(f"{ENV_VAR}={spec!r}: the height after @ must be a number")
    return ExitAt(point, int(h) if h else None)


def from_environment(environ: Mapping[str, str] | None = None) -> CrashPoints:
    env = os.environ if environ is None else environ
    spec = env.get(ENV_VAR, "")
    return parse_spec(spec) if spec else CrashPoints()

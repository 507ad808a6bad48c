"""The injector gives every requested fault kind its turn, also when an overloaded machine makes it fall behind
its plan, and a kind that could not be injected is named in the report and fails the run.

The schedule runs on a virtual clock (`Runner.now` / `Runner._sleep`) with injections that take `lag` seconds
each, as a kill -9 and restart, a disk fill or a proxy change do on a machine at load 10+; no process starts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from devnet.faults.report import markdown
from devnet.faults.run import Runner, RunOptions
from devnet.faults.schedule import KINDS, Fault


class VirtualRunner(Runner):
    def __init__(self, opt: RunOptions, lag: float, fail: set[str] | None = None) -> None:
        super().__init__(opt, say=lambda _m: None)
        self.clock = 0.0
        self.lag = lag
        self.fail = fail or set()

    def now(self) -> float:
        return self.clock

    async def _sleep(self, seconds: float) -> None:
        self.clock += max(0.0, seconds)

    async def _begin(self, f: Fault, cluster: Any, proxy: Any) -> None:
        self.clock += self.lag
        if f.kind in self.fail:
            raise RuntimeError(f"cannot {f.kind} here")

    async def _end(self, f: Fault, cluster: Any, proxy: Any) -> None:
        self.clock += self.lag

    async def _recovery(self, rpc: Any, cluster: Any, i: int, bound: float) -> float | None:
        self.clock += min(bound, 4 * self.lag)  # runs of 120 s or more wait for the node to catch up
        return None if 4 * self.lag > bound else 4 * self.lag


def _inject(opt: RunOptions, lag: float, fail: set[str] | None = None) -> VirtualRunner:
    from devnet.faults.schedule import make_schedule

    r = VirtualRunner(opt, lag, fail)
    r.schedule = make_schedule(opt.seed, opt.duration, opt.faults, opt.validators)
    asyncio.run(r._inject(None, None, None))  # type: ignore[arg-type]
    return r


def test_the_smoke_schedule_on_an_overloaded_machine_still_runs_every_kind() -> None:
    """The smoke test's plan (seed 3, 60 s): at 2.5 s per injection and per heal the harness falls ~20 s
    behind, which used to skip the sixth kind ("the run ended before its turn") and now runs it late."""
    opt = RunOptions(seed=3, duration=60, rate=100, faults=list(KINDS))
    r = _inject(opt, lag=2.5)
    cov = r._coverage()
    assert cov["missing"] == {} and cov["injected"] == list(KINDS)
    assert cov["extended_s"] > 0
    late = [f for f in r.schedule if f.note.startswith("late:")]
    assert late and all(f.started is not None for f in late)
    skipped = [f for f in r.schedule if f.started is None]
    assert skipped and all("this kind already ran" in f.note for f in skipped)


def test_on_time_runs_are_not_extended() -> None:
    r = _inject(RunOptions(seed=3, duration=60, rate=100, faults=list(KINDS)), lag=0.0)
    cov = r._coverage()
    assert cov["missing"] == {} and cov["extended_s"] <= 0
    assert not [f for f in r.schedule if f.note]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.floats(30, 200), st.floats(0, 6), st.sets(st.sampled_from(KINDS), min_size=1))
def test_every_scheduled_kind_runs_whatever_the_lag(seed: int, duration: float, lag: float, kinds: set[str]) -> None:
    opt = RunOptions(seed=seed, duration=duration, rate=10, faults=sorted(kinds))
    r = _inject(opt, lag)
    planned = {f.kind for f in r.schedule}
    cov = r._coverage()
    assert set(cov["injected"]) == planned
    assert set(cov["missing"]) == kinds - planned
    assert all("not in the schedule" in why for why in cov["missing"].values())
    first = {}
    for f in r.schedule:
        first.setdefault(f.kind, f)
    assert all(f.started is not None for f in first.values())
    assert all(f.started is not None or "already ran" in f.note for f in r.schedule)


def test_a_kind_that_cannot_be_injected_is_named_and_fails_the_run() -> None:
    opt = RunOptions(seed=3, duration=60, rate=100, faults=list(KINDS))
    r = _inject(opt, lag=0.0, fail={"diskfull"})
    cov = r._coverage()
    assert list(cov["missing"]) == ["diskfull"] and "cannot diskfull here" in cov["missing"]["diskfull"]
    report = {"passed": False, "coverage": cov, "faults": [f.to_json() for f in r.schedule]}
    text = markdown(report)
    assert "Fault coverage: **INCOMPLETE**: not injected: diskfull (injection failed: cannot diskfull here" in text
    assert text.startswith("# Fault run, seed None: FAIL")

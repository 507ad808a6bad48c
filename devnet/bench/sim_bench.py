"""Simulator benchmark: scenarios per second and consensus messages handled per second, on one core.

    python -m devnet.bench.sim_bench                  # 500 seeded scenarios
    python -m devnet.bench.sim_bench --scenarios 5000 --start 10000
    python -m devnet.bench.sim_bench --smoke          # 30 scenarios (CI: the tooling must not rot)

Prints three figures (nothing asserted):
  scenarios/s          whole simulator (network, checks, executor, cores) per wall-clock second;
  events/s (sim)       consensus events (proposals, votes, timeouts, values) fed to cores per wall second;
  events/s (core)      the same events per second of time spent inside ``ConsensusCore.handle`` alone,
                       i.e. what one consensus core sustains on one CPU core.
"""

from __future__ import annotations

import argparse
import time

from consensus.machine import ConsensusCore
from consensus.types import Action, Event
from tests.sim.runner import run_seed


class TimedCore(ConsensusCore):
    """The production core with a stopwatch around ``handle`` (behaviour unchanged)."""

    spent = 0.0
    calls = 0

    def handle(self, event: Event) -> list[Action]:
        t0 = time.perf_counter()
        try:
            return super().handle(event)
        finally:
            TimedCore.spent += time.perf_counter() - t0
            TimedCore.calls += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m devnet.bench.sim_bench")
    ap.add_argument("--scenarios", type=int, default=500)
    ap.add_argument("--start", type=int, default=0, help="first seed")
    ap.add_argument("--smoke", action="store_true", help="tiny run")
    a = ap.parse_args(argv)
    n = 30 if a.smoke else a.scenarios
    events = failures = heights = 0
    t0 = time.perf_counter()
    for seed in range(a.start, a.start + n):
        res = run_seed(seed, TimedCore)
        events += res.events
        heights += res.decided_heights
        failures += not res.ok
    wall = time.perf_counter() - t0
    print(f"scenarios:            {n} (seeds {a.start}..{a.start + n - 1}), {failures} failed, {wall:.1f} s")
    print(f"scenarios/s:          {n / wall:,.1f}")
    print(f"events/s (sim):       {events / wall:,.0f}  ({events:,} consensus events, {heights:,} heights)")
    if TimedCore.spent > 0:
        print(f"events/s (core):      {TimedCore.calls / TimedCore.spent:,.0f}  (inside ConsensusCore.handle)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Replay one simulator scenario: ``.venv/bin/python -m tests.sim.replay --seed N [--variant NAME]``.

Prints the scenario (JSON), the verdict, the trace hash and the paper lines reached.  The same seed
always gives the same trace.
"""

from __future__ import annotations

import argparse
import sys

from consensus.machine import ConsensusCore
from tests.sim.runner import run_seed
from tests.sim.variants import VARIANTS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.sim.replay")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--variant", choices=sorted(VARIANTS), help="run a deliberately broken core")
    args = ap.parse_args(argv)
    core_cls = VARIANTS[args.variant] if args.variant else ConsensusCore
    res = run_seed(args.seed, core_cls)
    print(f"scenario: {res.scenario.to_json()}")
    print(f"result:   {'ok' if res.ok else 'VIOLATION: ' + str(res.violation)}")
    print(f"trace:    {res.trace_hash}")
    print(
        f"events:   {res.events} handled, {res.decided_heights} heights decided by every correct node, "
        f"ended at t={res.end_ms}ms"
    )
    print(f"lines:    {' '.join(f'{k}:{v}' for k, v in sorted(res.lines_hit.items()))}")
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""`python -m devnet.faults`: one seeded fault run against a fresh local network; exit 0 only on PASS (safety,
liveness, and every requested fault kind injected: a kind left out is named, with the reason, and fails the run).

    python -m devnet.faults --seed 7 --duration 60 --rate 200 --faults kill,pause,partition,skew,diskfull,byzantine
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from devnet.faults.report import write
from devnet.faults.run import RunOptions, run_sync
from devnet.faults.schedule import KINDS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m devnet.faults", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load and faults")
    ap.add_argument("--rate", type=float, default=200.0, help="offered tx/s")
    ap.add_argument("--faults", default=",".join(KINDS), help=f"comma-separated subset of {','.join(KINDS)}")
    ap.add_argument("--validators", type=int, default=4)
    ap.add_argument("--liveness", type=float, default=45.0, help="seconds allowed to commit after the last heal")
    ap.add_argument("--recovery", type=float, default=None,
                    help="seconds to wait for a disturbed node to catch up before the next fault "
                         "(default 30 in runs of 120 s or more, else 0)")
    ap.add_argument("--out", type=Path, default=Path("faults-report"), help="report path without extension")
    ap.add_argument("--keep", action="store_true", help="keep the run's directory (logs, homes) even on PASS")
    ap.add_argument("--broken-signer", action="store_true",
                    help="run node0 with a signer guard that does not persist (the harness must catch it)")
    a = ap.parse_args(argv)
    kinds = [k for k in a.faults.split(",") if k and k != "none"]
    if a.validators < 4 and "byzantine" in kinds:
        print("error: a Byzantine validator needs at least 4 validators (it must hold < 1/3)", file=sys.stderr)
        return 2
    if a.duration <= 0 or a.rate <= 0:
        print("error: --duration and --rate must be positive", file=sys.stderr)
        return 2
    try:
        opt = RunOptions(seed=a.seed, duration=a.duration, rate=a.rate, faults=kinds, validators=a.validators,
                         liveness_s=a.liveness, keep=a.keep, broken_signer=a.broken_signer,
                         recovery_s=a.recovery)
        report = run_sync(opt)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    j, m = write(report, a.out)
    print(json.dumps({"passed": report["passed"], "safety": report["safety"], "liveness_ok": report["liveness"]["ok"],
                      "coverage": report["coverage"], "json": str(j), "markdown": str(m)}, indent=2))
    for kind, why in report["coverage"]["missing"].items():
        print(f"fault kind {kind} NOT injected: {why}", file=sys.stderr)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

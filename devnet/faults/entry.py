"""The wrapper entry module the fault harness launches instead of `egp start` (never used by `egp start`).

Why: the test seams of `node/byzantine.py` (Byzantine modes, clock skew, the amnesiac signer) only exist in a
process that called `byzantine.arm()`. Only this module calls it, then runs the ordinary `start` command with
the same arguments, so everything else about the node is the production code path.

    python -m devnet.faults.entry --home <home> [--log-level info]
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from node import byzantine

    try:
        byzantine.arm()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    from cli.main import app

    app(["start", *(sys.argv[1:] if argv is None else argv)], prog_name="egp-faults-node")


if __name__ == "__main__":
    main()

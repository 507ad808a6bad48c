"""`python -m devnet up|stop|reset`: the developer's local network (built by the node issue)."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    print("The devnet is not built yet: the node (issue 5) has not landed.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

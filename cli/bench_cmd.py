"""`egp bench`: the load benchmark (and `egp bench micro` for the micro-benchmarks), a thin front door.

Why a subprocess and not an import: the benchmark lives in devnet/bench (it starts node processes and
imports the node's home/testnet code), and cli/ never imports node/ outside the operator commands; the
front door only forwards its arguments, so `egp bench --help` is the benchmark's own help.

    egp bench --devnet --rate 1000 --duration 60
    egp bench --devnet --saturate --profile
    egp bench micro --smoke
"""

from __future__ import annotations

import subprocess
import sys

import typer

CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def bench(ctx: typer.Context) -> None:
    """Benchmark a network with the seeded e-GP workload (`egp bench --help`; `egp bench micro`)."""
    args = list(ctx.args)
    module = "devnet.bench.runner"
    if args[:1] == ["micro"]:
        module, args = "devnet.bench_all", args[1:]
    try:
        code = subprocess.call([sys.executable, "-m", module, *args])
    except KeyboardInterrupt:
        code = 130
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add `egp bench` to the `egp` app (arguments pass through untouched, --help included)."""
    app.command("bench", context_settings=CONTEXT)(bench)

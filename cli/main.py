"""`egp`: the one command line of egp-chain, for operators and wallet users alike.

Each group lives in its own module; this file only assembles them. Commands that need the node's code
(`init`, `testnet`, `start`, …) import it in their own modules, which are the only cli modules allowed to
(tests/test_architecture.py), so wallet commands stay quick to start.
"""

from __future__ import annotations

import typer

import cli.certificate_cmds  # noqa: F401  (adds `egp lg certificate` and `egp lg verify-certificate`)
from cli import bench_cmd, debug_cmd, node_cmds, start_cmd
from cli.wallet import wallet_app

app = typer.Typer(
    name="egp",
    help="egp-chain: bank-validated electronic Letters of Guarantee for Thai e-GP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(wallet_app)
app.add_typer(node_cmds.app)  # init, testnet, show-node-id, show-validator, reset
app.command("start")(start_cmd.start)
bench_cmd.register(app)  # egp bench, egp bench micro
app.add_typer(debug_cmd.app, name="debug")  # egp debug app-hash


@app.command()
def version() -> None:
    """Print the egp-chain version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("egp-chain"))


if __name__ == "__main__":
    app()

"""`egp`: the one command line of egp-chain, for operators and wallet users alike."""

from __future__ import annotations

import typer

from cli.wallet import wallet_app

app = typer.Typer(
    name="egp",
    help="egp-chain: bank-validated electronic Letters of Guarantee for Thai e-GP.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(wallet_app)


@app.command()
def version() -> None:
    """Print the egp-chain version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("egp-chain"))


app.add_typer(__import__("cli.node_cmds", fromlist=["app"]).app)  # init, testnet, show-*, reset (storage helper)
app.command("start")(__import__("cli.start_cmd", fromlist=["start"]).start)  # egp start (runtime helper)
__import__("cli.bench_cmd", fromlist=["register"]).register(app)  # egp bench, egp bench micro (perf helper)
__import__("cli.certificate_cmds")  # egp lg certificate / verify-certificate (certificates helper)

if __name__ == "__main__":
    app()

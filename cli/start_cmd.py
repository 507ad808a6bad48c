"""`egp start`: run a node from its home directory until SIGTERM or Ctrl-C.

Why its own module: it is one of the two cli modules allowed to import `node/` (the operator commands);
the wallet and chain views talk JSON-RPC only.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from node.home import default_home


def start(
    home: Path = typer.Option(None, "--home", help="Node home directory (default: $EGP_HOME or ~/.egp)."),
    log_level: str = typer.Option(None, "--log-level", "--log_level", help="debug, info, warn or error."),
    unsafe_ignore_signer_state: bool = typer.Option(
        False, "--unsafe-ignore-signer-state",
        help="Start although the signer state file is missing on a running chain (double-sign risk).",
    ),
) -> None:
    """Run the node: consensus, P2P, RPC (and /metrics)."""
    from node.assemble import run_node
    from node.config import ConfigError
    from node.genesis import GenesisError
    from node.handshake import HandshakeError
    from node.home import HomeError
    from node.logs import parse_level
    from node.privval import DoubleSignError, SignerStateError
    from state.crypto import KeyFileError

    root = home or default_home()
    if log_level is not None:
        try:
            parse_level(log_level)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--log-level") from None
    try:
        code = asyncio.run(run_node(root, log_level, unsafe_ignore_signer_state=unsafe_ignore_signer_state))
    except (ConfigError, DoubleSignError, GenesisError, HandshakeError, HomeError, KeyFileError, SignerStateError,
            OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)

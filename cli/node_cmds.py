"""Operator commands of `egp`: init, testnet, show-node-id, show-validator, reset.

Why they live in cli/ yet import node/: they manage a node's home directory on the operator's machine
(keys, config, genesis, data), which is node code; this module and `cli/start_cmd.py` are the only parts of
the CLI allowed to import `node` (tests/test_architecture.py). Every command takes `--home`, defaulting to
`$EGP_HOME` or `~/.egp`. Failures print one clear line to stderr and exit with status 1, never a traceback.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from cli.errors import KeystoreError
from cli.keystore import Keystore
from node.config import ConfigError, parse_duration_ms
from node.genesis import GENERATED_PARAMS, GenesisError
from node.home import Home, HomeError, default_home, init_home, reset_home, show_node_id
from node.privval import SignerStateError, load_state
from node.testnet import make_testnet
from state.crypto import KeyFileError, PrivateKey

app = typer.Typer(no_args_is_help=True)

T = TypeVar("T")
HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Node home directory [default: $EGP_HOME or ~/.egp].", show_default=False),
]
_ERRORS = (HomeError, ConfigError, GenesisError, KeyFileError, SignerStateError, KeystoreError, OSError)


def _home(home: Path | None) -> Home:
    return Home((home or default_home()).expanduser())


def _run(fn: Callable[[], T]) -> T:
    """Run `fn`; an operator error becomes one line on stderr and exit status 1."""
    try:
        return fn()
    except _ERRORS as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command("init")
def init_cmd(
    home: HomeOpt = None,
    moniker: Annotated[str | None, typer.Option(help="Name of this node [default: the host name].")] = None,
    chain_id: Annotated[str | None, typer.Option("--chain-id", help="Chain ID [default: egp-chain-<random>].")] = None,
) -> None:
    """Create a home directory: config.toml, keys, a single-validator genesis and data/."""
    h = _home(home)
    name = moniker or socket.gethostname() or "node"
    new_genesis = not h.paths().genesis_file.exists() and not h.config_file.exists()
    registrar = PrivateKey.generate()
    _run(lambda: init_home(h.root, moniker=name, chain_id=chain_id, registrar_pub=registrar.public_key.raw))
    typer.echo(f"Initialised {h.root} (moniker {name!r})")
    typer.echo(f"node ID: {_run(lambda: show_node_id(h))}")
    if new_genesis:
        info = _run(lambda: Keystore(h.root / "keyring").save("registrar", registrar, None))
        typer.echo(f"development registrar key (plaintext): {info.path}")
        typer.echo("for a real network, replace config/genesis.json with the network's genesis")


@app.command("testnet")
def testnet_cmd(
    validators: Annotated[int, typer.Option("--v", help="Number of validators.")] = 4,
    non_validators: Annotated[int, typer.Option("--n", help="Number of non-validating nodes.")] = 0,
    output_dir: Annotated[Path, typer.Option("--output-dir", "--o", "-o", help="Where to write the homes.")] = Path(
        "./mytestnet"
    ),
    chain_id: Annotated[str | None, typer.Option("--chain-id", help="Chain ID [default: random].")] = None,
    host: Annotated[str, typer.Option(help="Host every node listens on and dials.")] = "127.0.0.1",
    starting_port: Annotated[int, typer.Option(help="P2P port of node 0; node i uses +10·i, RPC is P2P+1.")] = 26656,
    monikers: Annotated[str | None, typer.Option(help="Comma-separated monikers [default: bank names].")] = None,
    timeout_commit: Annotated[
        str | None, typer.Option(help="Agreed block interval (genesis timeouts.commit), e.g. 1s.")
    ] = None,
) -> None:
    """Write the homes of a local network sharing one genesis, with persistent peers between them."""
    names = [m.strip() for m in monikers.split(",")] if monikers else None
    params = GENERATED_PARAMS
    if timeout_commit is not None:
        try:
            params = replace(GENERATED_PARAMS, timeout_commit_ms=parse_duration_ms(timeout_commit))
        except ValueError as exc:
            typer.echo(f"Error: --timeout-commit: {exc}", err=True)
            raise typer.Exit(1) from None
    registrar = PrivateKey.generate()
    nodes = _run(
        lambda: make_testnet(
            output_dir.expanduser(),
            validators=validators,
            non_validators=non_validators,
            chain_id=chain_id,
            monikers=names,
            host=host,
            starting_port=starting_port,
            params=params,
            registrar_pub=registrar.public_key.raw,
        )
    )
    info = _run(lambda: Keystore(output_dir.expanduser() / "keyring").save("registrar", registrar, None))
    typer.echo(f"Wrote {len(nodes)} nodes to {output_dir} (chain {nodes[0].home.genesis().chain_id}):")
    for n in nodes:
        role = "validator" if n.validator else "non-validator"
        typer.echo(f"  {n.home.root}  {n.moniker!r:28} {role:13} p2p {n.p2p_address}  rpc {n.rpc_url}")
    typer.echo(f"registrar key (plaintext, for this testnet only): {info.path} (use --keyring-dir {info.path.parent})")


@app.command("show-node-id")
def show_node_id_cmd(home: HomeOpt = None) -> None:
    """Print this node's ID (the hex address of its node key), as used in <id>@host:port."""
    typer.echo(_run(lambda: show_node_id(_home(home))))


@app.command("show-validator")
def show_validator_cmd(home: HomeOpt = None) -> None:
    """Print the validator public key as JSON ({"type": ..., "value": ...})."""
    h = _home(home)
    key = _run(lambda: h.validator_key(h.load_config()))
    typer.echo(json.dumps(key.public_key.to_json()))


@app.command("reset")
def reset_cmd(
    home: HomeOpt = None,
    keep_addr_book: Annotated[bool, typer.Option("--keep-addr-book", help="Keep config/addrbook.json.")] = False,
    unsafe_all: Annotated[
        bool,
        typer.Option(
            "--unsafe-all", help="Also reset the signer state to height 0 (double-sign risk on a live chain)."
        ),
    ] = False,
) -> None:
    """Wipe data/ but keep keys, config, genesis and (unless --unsafe-all) the signer state."""
    h = _home(home)
    removed = _run(lambda: reset_home(h, unsafe_all=unsafe_all, keep_addr_book=keep_addr_book))
    for p in removed:
        typer.echo(f"removed {p}")
    if unsafe_all:
        typer.echo("signer state reset to height 0")
    else:
        st = _run(lambda: load_state(h.paths(h.load_config()).priv_validator_state_file))
        if st.height:
            typer.echo(
                f"signer state kept at height {st.height}: this validator will not sign below it "
                "(use --unsafe-all only when the whole chain restarts from genesis)"
            )
    typer.echo(f"Reset {h.root}")

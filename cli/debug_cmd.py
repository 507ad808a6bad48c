"""`egp debug app-hash`: the application state's subtree hashes, so two operators can find where they diverge.

When two nodes commit different app hashes at the same height (tendermint#2914), the app hash alone says
only "different". This command prints `state.debug.subtree_hashes`: one hash per record kind, per index
kind, for the guarantee histories and the trie's top levels; two operators diff their outputs and the first
differing line names the culprit kind. Three sources:
- `--home H` (default): the stopped node's LevelDB, at its committed height. LevelDB is single-process: if
  the node runs, its lock refuses us, and we say so and point at `--node`.
- `--node URL`: a running node, over RPC (`abci_query /debug/subtrees`), at its latest height.
- `--height N` (with `--home`): the state after block N, recomputed by replaying the home's stored blocks from
  genesis on a fresh in-memory store (the application keeps only its latest state). Needs blocks from the
  initial height on (not a pruned store).

It is an operator module (tests/test_architecture.py OPERATOR_MODULES): it opens a node's home with node/ code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.errors import NodeError
from cli.rpc_client import RpcClient
from consensus.validators import ValidatorSet
from node.blockstore import BlockStore
from node.config import ConfigError
from node.convert import valset_from_info
from node.genesis import GenesisError
from node.home import Home, HomeError, default_home
from node.statestore import StateStore
from state.abci import Application
from state.debug import render, subtree_hashes
from state.kv import MemoryKV
from state.kv_level import LevelKV

app = typer.Typer(no_args_is_help=True, help="Debugging tools for operators.")

Rows = list[tuple[str, int, bytes]]


class DebugError(Exception):
    """An operator mistake or an unusable home: one line on stderr, exit status 1."""


def _open(home: Home) -> LevelKV:
    db = home.paths(home.load_config()).db_path
    if not db.exists():
        raise DebugError(f"{home.root} has no database at {db} (the node never started)")
    try:
        return LevelKV(db)
    except Exception as exc:  # plyvel: IOError when the lock is held, its own Error otherwise
        if "lock" in str(exc).lower():
            raise DebugError(f"{db} is locked: the node is running. Stop it, or ask it over RPC with "
                             f"--node http://127.0.0.1:26657") from None
        raise DebugError(f"cannot open {db}: {exc}") from None


def stored_rows(home: Home) -> Rows:
    """The subtree hashes of a stopped node's committed state."""
    from node.assemble import NS_APP  # the node's full assembly: imported only when needed

    kv = _open(home)
    try:
        return subtree_hashes(kv.prefixed(NS_APP))
    finally:
        kv.close()


def replayed_rows(home: Home, height: int) -> Rows:
    """Replay the home's stored blocks from genesis to `height` on a fresh in-memory application."""
    from node.assemble import NS_NODE
    from node.nodeapp import NodeApp

    cfg = home.load_config()
    genesis = home.genesis(cfg)
    if height < genesis.initial_height - 1:
        raise DebugError(f"height {height} is before the chain's initial height {genesis.initial_height}")
    kv = _open(home)
    try:
        store, states = BlockStore(kv), StateStore(kv, NS_NODE)
        if height > store.height:
            raise DebugError(f"this home's block store ends at height {store.height}, not {height}")
        if store.base > genesis.initial_height and height >= genesis.initial_height:
            raise DebugError(f"this home's block store was pruned below height {store.base}: cannot replay "
                             f"from genesis (height {genesis.initial_height})")
        nodeapp = NodeApp(Application(MemoryKV()))

        def valset_of(h: int) -> ValidatorSet | None:  # evidence powers, as the node computes them
            info = states.load_validators(h)
            return None if info is None else valset_from_info(info)

        nodeapp.valset_of = valset_of
        nodeapp.init_chain(genesis)
        for h in range(genesis.initial_height, height + 1):
            block = store.load_block(h)
            if block is None:
                raise DebugError(f"block {h} is missing from this home's block store")
            nodeapp.finalize(block, block.evidence)
            nodeapp.commit()
        return subtree_hashes(nodeapp.app.kv)
    finally:
        kv.close()


def rpc_rows(url: str) -> Rows:
    """The running node's subtree hashes over RPC (`abci_query /debug/subtrees`)."""
    import base64

    resp = RpcClient(url).abci_query("/debug/subtrees")
    if int(resp.get("code", 0) or 0) != 0:
        raise DebugError(f"the node refused /debug/subtrees: {resp.get('log', '')}")
    doc = json.loads(base64.b64decode(resp.get("value") or ""))
    items = doc.get("result", doc) if isinstance(doc, dict) else doc
    return [(str(r["name"]), int(r["count"]), bytes.fromhex(r["hash"])) for r in items]


def as_json(rows: Rows) -> str:
    return json.dumps([{"name": n, "count": c, "hash": h.hex().upper()} for n, c, h in rows], indent=1)


@app.command("app-hash")
def app_hash_cmd(
    home: Annotated[Path | None, typer.Option("--home", help="Node home [default: $EGP_HOME or ~/.egp].",
                                              show_default=False)] = None,
    height: Annotated[int | None, typer.Option("--height", help="Recompute at this height by replaying the "
                                               "stored blocks from genesis.", show_default=False)] = None,
    node: Annotated[str | None, typer.Option("--node", help="Ask a running node over RPC instead.",
                                             show_default=False)] = None,
    as_json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the state's subtree hashes (per record kind, index kind, trie top) to diff two nodes' states."""
    try:
        if node is not None:
            if height is not None or home is not None:
                raise DebugError("--node reads the running node's latest state: drop --home and --height")
            rows = rpc_rows(node)
        else:
            h = Home((home or default_home()).expanduser())
            if not h.is_initialised():
                raise DebugError(f"{h.root} is not a node home (no config); pass --home")
            rows = stored_rows(h) if height is None else replayed_rows(h, height)
    except (DebugError, HomeError, ConfigError, GenesisError, NodeError, OSError, ValueError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(as_json(rows) if as_json_out else render(rows))

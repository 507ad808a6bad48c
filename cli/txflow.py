"""Sign, broadcast, wait, tell: the one path every transaction command takes.

1. build the typed body (the command's own code; `Deferred` when building needs the chain, e.g. the
   latest version of a requirement);
2. sign it with `state.txs.sign_tx`, the function the node decodes with, so wallet and chain can never
   disagree on the bytes; the sequence number comes from the node (`/account` query) unless `--nonce`;
3. `--offline`: print the signed tx (base64 or hex) and its hash, touching no network;
4. otherwise the node simulates it under the full domain rules (RPC `check_tx`: the mempool itself checks
   only signer, sequence and signature, as CometBFT apps do) and a refusal is reported with its code and
   sentence before anything is broadcast; then `broadcast_tx_sync`;
5. `--wait`: poll `tx` by hash (the node indexes txs) behind a spinner until the tx is in a block or
   `--timeout` passes, then print the height, the hash and what changed, read from the tx's ABCI events
   (`lg`: guarantee id, status, version; `lgrq`: request id; `cc`: credit confirmation id; ...).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer

from cli import chainq
from cli.common import Options
from cli.errors import CommitTimeout, InputError, NodeError, RejectedError
from cli.rpc_client import RpcClient, RpcError, b64, events_of, to_int
from state import errors as E
from state.crypto import PrivateKey
from state.txs import Body, decode_tx, sign_tx, tx_hash

POLL_SECONDS = 0.25


@dataclass
class Session:
    """What a `Deferred` body may consult: the signer, and the node unless offline."""

    key: PrivateKey
    opts: Options
    _client: RpcClient | None = None

    @property
    def client(self) -> RpcClient:
        if self._client is None:
            self._client = RpcClient(self.opts.node)
        return self._client

    def need_online(self, what: str) -> None:
        if self.opts.offline:
            raise InputError(f"--offline cannot look up {what}; give it explicitly")


@dataclass
class Deferred:
    """A body that can only be built with the chain's help."""

    build: Callable[[Session], Body]


def run(func: Callable[..., Any], kwargs: dict[str, Any], opts: Options) -> None:
    """`tx_command` runner: build, sign, send, report."""
    made = func(**kwargs)  # validate the user's input before asking for a password
    key = opts.signer()
    session = Session(key, opts)
    body = made.build(session) if isinstance(made, Deferred) else made
    if opts.offline:
        return _offline(key, body, opts)
    client = session.client
    chain_id = opts.chain_id or client.chain_id()
    nonce = opts.nonce if opts.nonce is not None else chainq.next_nonce(client, key.address)
    tx = sign_tx(key, chain_id, nonce, body)
    submit(client, tx, opts, label=body.TYPE)


def _offline(key: PrivateKey, body: Body, opts: Options) -> None:
    if opts.nonce is None or not opts.chain_id:
        raise InputError("--offline needs --nonce N and --chain-id ID (ask `egp account show` or the operator)")
    if opts.encoding not in ("base64", "hex"):
        raise InputError("--encoding must be base64 or hex")
    tx = sign_tx(key, opts.chain_id, opts.nonce, body)
    text = b64(tx) if opts.encoding == "base64" else tx.hex()
    if opts.json_out:
        typer.echo(json.dumps({"tx": text, "encoding": opts.encoding, "hash": tx_hash(tx).hex().upper(),
                               "type": body.TYPE, "nonce": opts.nonce, "chain_id": opts.chain_id}, sort_keys=True))
    else:
        typer.echo(text)
        typer.echo(f"signed {body.TYPE} · nonce {opts.nonce} · chain {opts.chain_id} · "
                   f"hash {tx_hash(tx).hex().upper()}", err=True)
        typer.echo("Send it with: egp tx broadcast <TX>", err=True)


def submit(client: RpcClient, tx: bytes, opts: Options, label: str = "") -> dict[str, Any]:
    """Broadcast `tx` (sync), optionally wait for its block, print the outcome; returns the JSON shown."""
    label = label or decode_tx(tx).tx.type
    h = tx_hash(tx)
    try:
        res = client.check_tx(tx)
        if to_int(res.get("code")) in (0, E.BAD_NONCE.code):  # 108: maybe this very tx, already pending
            res = client.broadcast_sync(tx)
    except RpcError as exc:
        if "already exists" in f"{exc.rpc_message} {exc.rpc_data}":
            raise NodeError(f"the node already holds this exact transaction ({h.hex().upper()}); follow it with "
                            f"egp tx show {h.hex().upper()}", hash=h.hex().upper()) from None
        raise
    code = to_int(res.get("code"))
    if code != 0:
        raise RejectedError(code, str(res.get("log", "")), str(res.get("codespace", "") or "egp"),
                            hash=h.hex().upper(), stage="check_tx")
    if not opts.wait:
        out = {"hash": h.hex().upper(), "type": label, "committed": False, "check_tx": {"code": 0}}
        if opts.json_out:
            typer.echo(json.dumps(out, sort_keys=True))
        else:
            typer.echo(f"Accepted {label} into the mempool · tx {h.hex().upper()}")
            typer.echo(f"Not yet in a block; follow it with: egp tx show {h.hex().upper()}")
        return out
    found = wait_for_tx(client, h, opts)
    return report_committed(found, label, opts)


def wait_for_tx(client: RpcClient, h: bytes, opts: Options) -> dict[str, Any]:
    deadline = time.monotonic() + opts.timeout
    spinner = None
    if not opts.json_out and sys.stderr.isatty():
        from rich.console import Console

        spinner = Console(stderr=True).status(f"Waiting for tx {h.hex().upper()[:12]}… to be committed")
        spinner.start()
    try:
        while True:
            try:
                return client.tx(h)
            except RpcError as exc:
                if "not found" not in f"{exc.rpc_message} {exc.rpc_data}".lower():
                    raise
            if time.monotonic() >= deadline:
                raise CommitTimeout(f"tx {h.hex().upper()} was accepted but not seen in a block within "
                                    f"{opts.timeout:g} s; it may still be committed: egp tx show {h.hex().upper()}",
                                    hash=h.hex().upper())
            time.sleep(POLL_SECONDS)
    finally:
        if spinner is not None:
            spinner.stop()


def summarise(events: list[tuple[str, dict[str, str]]]) -> list[str]:
    """One line per state change, from the tx's ABCI events."""
    lines = []
    for typ, a in events:
        if typ == "lg":
            lines.append(f"guarantee {a.get('id')}: {a.get('status')} (after {a.get('action')}, "
                         f"version {a.get('version')})")
        elif typ == "lgrq":
            lines.append(f"guarantee request {a.get('id')}: {a.get('status')} (bank {a.get('bank')})")
        elif typ == "ccrq":
            lines.append(f"credit request {a.get('id')}: {a.get('status')} (bank {a.get('bank')})")
        elif typ == "cc":
            lines.append(f"credit confirmation {a.get('id')}: {a.get('status')} (after {a.get('action')})")
        elif typ == "req":
            lines.append(f"requirement {a.get('id')}: version {a.get('version')} published ({a.get('type')})")
        elif typ == "rating":
            lines.append(f"rating event {a.get('id')} for supplier {a.get('supplier')}: {a.get('points')} points")
        elif typ == "val":
            detail = ", ".join(f"{k} {v}" for k, v in a.items() if k != "action")
            lines.append(f"validators: {a.get('action')} ({detail})")
        elif typ == "reg":
            detail = ", ".join(f"{k} {v}" for k, v in a.items() if k != "action")
            lines.append(f"registry: {a.get('action')} ({detail})")
    return lines


def report_committed(found: dict[str, Any], label: str, opts: Options) -> dict[str, Any]:
    result = found.get("tx_result") or {}
    height = to_int(found.get("height"))
    h = str(found.get("hash", "")).upper()
    code = to_int(result.get("code"))
    if code != 0:
        raise RejectedError(code, str(result.get("log", "")), str(result.get("codespace", "") or "egp"),
                            hash=h, height=height, stage="deliver")
    events = events_of(result)
    out = {"hash": h, "height": height, "type": label, "committed": True, "code": 0,
           "events": [{"type": t, "attributes": a} for t, a in events]}
    if opts.json_out:
        typer.echo(json.dumps(out, sort_keys=True))
    else:
        typer.echo(f"Committed {label} at height {height} · tx {h}")
        for line in summarise(events):
            typer.echo(f"  {line}")
    return out

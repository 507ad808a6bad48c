"""Chain views and raw transactions: `egp status`, `egp block [H]`, `egp validators`, `egp tx show|broadcast`,
`egp account show`.

These speak plain CometBFT RPC (status, block, validators, tx, broadcast_tx_sync), so they also work as a
quick health check of any node. A transaction shown by `tx show` is decoded with `state.txs.decode_tx`:
the officer sees the typed body (who signed, which guarantee, which amount), not base64.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import chainq
from cli.common import Options, broadcast_command, local_command, read_command
from cli.errors import InputError
from cli.parse import fmt_thb, parse_height, parse_hex
from cli.render import fields, print_json, table
from cli.rpc_client import RpcClient, RpcError, events_of, from_b64, to_int
from state.crypto import address
from state.errors import TxError
from state.txs import decode_tx

tx_app = typer.Typer(name="tx", help="Show a transaction, or broadcast one signed with --offline.",
                     no_args_is_help=True)
account_app = typer.Typer(name="account", help="A signing key's ledger account (owner, sequence number).",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    read_command(app, "status")(status)
    read_command(app, "block")(block)
    read_command(app, "validators")(validators)
    app.add_typer(tx_app)
    app.add_typer(account_app)


def status(opts: Options) -> None:
    """Show the node's chain, latest block and sync state."""
    st = RpcClient(opts.node).status()
    if opts.json_out:
        print_json(st)
        return
    ni, si, vi = st.get("node_info", {}), st.get("sync_info", {}), st.get("validator_info", {})
    fields(f"Node {ni.get('moniker', '')} ({ni.get('id', '')})", [
        ("chain", ni.get("network")), ("version", ni.get("version")),
        ("latest height", si.get("latest_block_height")), ("latest block", si.get("latest_block_hash")),
        ("block time", si.get("latest_block_time")), ("app hash", si.get("latest_app_hash")),
        ("catching up", "yes" if si.get("catching_up") else "no"),
        ("validator", f"{vi.get('address', '')} (power {vi.get('voting_power', '0')})"),
    ])


def block(opts: Options, height: Annotated[str | None, typer.Argument(help="Height (default: latest).")] = None,
          ) -> None:
    """Show a block: header, proposer, transactions (decoded)."""
    res = RpcClient(opts.node).block(parse_height(height))
    if opts.json_out:
        print_json(res)
        return
    blk = res.get("block", {})
    hdr = blk.get("header", {})
    txs = (blk.get("data") or {}).get("txs") or []
    sigs = (blk.get("last_commit") or {}).get("signatures") or []
    fields(f"Block {hdr.get('height')} of {hdr.get('chain_id')}", [
        ("hash", res.get("block_id", {}).get("hash")), ("time", hdr.get("time")),
        ("proposer", hdr.get("proposer_address")), ("app hash", hdr.get("app_hash")),
        ("validators hash", hdr.get("validators_hash")), ("txs", str(len(txs))),
        ("last commit", f"{sum(1 for s in sigs if s.get('block_id_flag') == 2)} of {len(sigs)} signatures"),
    ])
    rows = []
    for i, t in enumerate(txs):
        raw = from_b64(t)
        rows.append([i, _tx_hash(raw), *_tx_summary(raw)])
    if rows:
        table("Transactions", ["#", "hash", "type", "signer", "nonce"], rows)


def _tx_hash(raw: bytes) -> str:
    from state.crypto import sha256

    return sha256(raw).hex().upper()


def _tx_summary(raw: bytes) -> list[str]:
    try:
        d = decode_tx(raw)
    except TxError as exc:
        return [f"(undecodable: {exc})", "", ""]
    return [d.tx.type, address(d.tx.signer).hex().upper(), str(d.tx.nonce)]


def validators(opts: Options, height: Annotated[str | None, typer.Argument(help="Height (default: latest).")]
               = None) -> None:
    """List the validator set: address, public key, voting power, operating bank."""
    client = RpcClient(opts.node)
    res = client.validators(parse_height(height))
    banks: dict[str, str] = {}
    try:
        for v in chainq.get(client, "validators") or []:
            banks[str(v.get("address", "")).upper()] = str(v.get("bank", ""))
    except Exception:  # the operator's bank is a nicety; the RPC answer above is the authority
        banks = {}
    if opts.json_out:
        for v in res.get("validators", []):
            v["bank"] = banks.get(str(v.get("address", "")).upper(), "")
        print_json(res)
        return
    vals = res.get("validators", [])
    total = sum(to_int(v.get("voting_power")) for v in vals)
    table(f"Validators at height {res.get('block_height')} (total power {total})",
          ["address", "bank", "power", "public key (base64)"],
          [[v.get("address"), banks.get(str(v.get("address", "")).upper(), ""), v.get("voting_power"),
            (v.get("pub_key") or {}).get("value")] for v in vals], right=["power"])


# ----------------------------------------------------------------- tx
def _parse_tx_hash(text: str) -> bytes:
    return parse_hex(text, 32, "transaction hash")


def body_view(raw: bytes) -> dict[str, Any]:
    d = decode_tx(raw)
    body = {f.name: getattr(d.body, f.name) for f in dataclasses.fields(d.body)}  # type: ignore[arg-type]
    return {"type": d.tx.type, "chain_id": d.tx.chain_id, "signer": address(d.tx.signer).hex().upper(),
            "signer_pub_key": d.tx.signer.hex(), "nonce": d.tx.nonce, "hash": d.hash.hex().upper(),
            "body": {k: (v.hex() if isinstance(v, bytes) else list(v) if isinstance(v, tuple) else v)
                     for k, v in body.items()}}


def _show_tx(opts: Options, tx_hash: Annotated[str, typer.Argument(metavar="HASH", help="Tx hash (hex).")]) -> None:
    """Show a committed transaction: block, result, events and the decoded body."""
    try:
        res = RpcClient(opts.node).tx(_parse_tx_hash(tx_hash))
    except RpcError as exc:
        if "not found" in f"{exc.rpc_message} {exc.rpc_data}".lower():
            raise InputError(f"transaction {tx_hash.upper()} is not in any block (yet); if it was just sent, "
                             "it may still be in the mempool") from None
        raise
    raw = from_b64(res.get("tx"))
    try:
        view: dict[str, Any] = body_view(raw)
    except TxError as exc:
        view = {"undecodable": str(exc)}
    result = res.get("tx_result") or {}
    if opts.json_out:
        print_json({**res, "decoded": view})
        return
    code = to_int(result.get("code"))
    outcome = "OK" if code == 0 else f"REFUSED (code {code}): {result.get('log', '')}"
    fields(f"Transaction {res.get('hash')}", [
        ("height", res.get("height")), ("index", res.get("index")), ("outcome", outcome),
        ("type", view.get("type")), ("signer", view.get("signer")), ("nonce", view.get("nonce")),
    ])
    body = view.get("body", {})
    if body:
        fields("  body", [(k, _show_value(k, v)) for k, v in body.items()])
    for typ, attrs in events_of(result):
        typer.echo(f"  event {typ}: " + ", ".join(f"{k}={v}" for k, v in attrs.items()))


def _show_value(name: str, v: Any) -> Any:
    if isinstance(v, int) and not isinstance(v, bool) and name in ("amount", "new_amount", "min_amount", "threshold"):
        return f"{fmt_thb(v)} THB"
    if isinstance(v, int) and not isinstance(v, bool) and v > 10**12 and name in (
            "expiry", "new_expiry", "must_cover_until", "bid_deadline", "valid_until", "extension_offer",
            "obligation_end", "cover_until"):
        from cli.parse import fmt_time

        return fmt_time(v)
    return v


def decode_tx_text(text: str) -> bytes:
    """A signed tx as printed by --offline: base64 or hex, or @FILE holding either."""
    raw = text.strip()
    if raw.startswith("@"):
        try:
            raw = Path(raw[1:]).expanduser().read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {text[1:]}: {exc}") from None
    try:
        data = bytes.fromhex(raw)
    except ValueError:
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("the transaction is neither hex nor base64") from None
    try:
        decode_tx(data)
    except TxError as exc:
        raise InputError(f"that is not a signed egp transaction: {exc}") from None
    return data


def _broadcast(opts: Options, tx: Annotated[str, typer.Argument(
        metavar="TX", help="Signed tx (base64 or hex, as --offline prints it), or @FILE.")]) -> None:
    """Broadcast a transaction signed elsewhere (e.g. with --offline on an air-gapped machine)."""
    from cli.txflow import submit

    submit(RpcClient(opts.node), decode_tx_text(tx), opts)


def _decode(opts: Options, tx: Annotated[str, typer.Argument(metavar="TX", help="Signed tx, or @FILE.")]) -> None:
    """Decode a signed transaction locally (check what you are about to broadcast)."""
    view = body_view(decode_tx_text(tx))
    if opts.json_out:
        print_json(view)
        return
    fields(f"{view['type']} signed by {view['signer']} (nonce {view['nonce']}, chain {view['chain_id']})",
           [(k, _show_value(k, v)) for k, v in view["body"].items()])
    typer.echo(f"  hash: {view['hash']}")


def _account(opts: Options, addr: Annotated[str, typer.Argument(metavar="ADDRESS", help="Address (hex).")]) -> None:
    """Show who owns a key on the ledger and its next sequence number."""
    acct = chainq.get(RpcClient(opts.node), "account", parse_hex(addr, 20, "address").hex())
    if acct is None:
        raise InputError(f"no key with address {addr.upper()} is registered on the ledger")
    if opts.json_out:
        print_json(acct)
        return
    fields(f"Account {addr.upper()}", [("owner", f"{acct.get('owner_kind')} {acct.get('owner_id')}"),
                                       ("next nonce", acct.get("nonce")),
                                       ("active", "yes" if acct.get("active") else "REVOKED"),
                                       ("public key", acct.get("pub_key"))])


read_command(tx_app, "show")(_show_tx)
local_command(tx_app, "decode")(_decode)
broadcast_command(tx_app, "broadcast")(_broadcast)
read_command(account_app, "show")(_account)

"""`egp keys add|import|export|list|show|delete`: the officer's keyring (see cli/keystore.py for the file).

Secrets never travel on the command line (shell history, `ps`): a seed to import is read from a file or
stdin, a password from `--password-file`, `EGP_PASSWORD` or a hidden prompt. Export is explicit, warns on
stderr, and writes files readable by the owner only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import KEYRING_PARAMS, Options, complete_key_names, local_command, read_password
from cli.errors import InputError, KeystoreError, warn
from cli.keystore import DEFAULT_KDF, KDF_LIMITS, KeyInfo, key_file_needs_password, parse_seed_text, read_key_file
from cli.render import print_json, table
from state.crypto import PrivateKey, write_private_file

app = typer.Typer(name="keys", help="Manage signing keys: an encrypted keyring, one file per key.",
                  no_args_is_help=True)

Kdf = Annotated[str, typer.Option(
    "--kdf", help="Password hardening: moderate (256 MiB, default) or interactive (64 MiB, faster).")]
Plain = Annotated[bool, typer.Option("--unsafe-plaintext", help="Store the key UNENCRYPTED (devnet keys only).")]
KeyName = Annotated[str, typer.Argument(metavar="NAME", help="Key name in the keyring.",
                                        autocompletion=complete_key_names)]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace a key of the same name.")]


def _show(info: KeyInfo, opts: Options, headline: str = "") -> None:
    if opts.json_out:
        print_json(info.to_json())
        return
    if headline:
        typer.echo(headline)
    typer.echo(f"name:     {info.name}")
    typer.echo(f"address:  {info.address}")
    typer.echo(f"pub_key:  {info.pub_key.hex()}")
    typer.echo(f"          {info.to_json()['pub_key_b64']} (base64)")
    typer.echo(f"stored:   {'encrypted' if info.encrypted else 'PLAINTEXT (unsafe)'} in {info.path}")


def _store_new(opts: Options, name: str, key: PrivateKey, kdf: str, unsafe_plaintext: bool,
               overwrite: bool, verb: str) -> None:
    if kdf not in KDF_LIMITS:
        raise InputError(f"--kdf must be one of {', '.join(KDF_LIMITS)}")
    store = opts.keystore()
    store.path(name)  # validates the name before prompting
    if store.exists(name) and not overwrite:
        raise KeystoreError(f"a key named '{name}' already exists in {store.dir} (use --overwrite to replace it)")
    if unsafe_plaintext:
        warn("the key is stored UNENCRYPTED; anyone who reads the file can sign as you")
        password = None
    else:
        password = read_password(opts.password_file, prompt=f"New password for '{name}'", confirm=True)
    info = store.save(name, key, password, kdf, overwrite=overwrite)
    _show(info, opts, f"{verb} key '{name}'.")


@local_command(app, "add", KEYRING_PARAMS)
def add(opts: Options, name: Annotated[str, typer.Argument(help="A name for the new key.")],
        kdf: Kdf = DEFAULT_KDF, unsafe_plaintext: Plain = False, overwrite: Overwrite = False) -> None:
    """Create a new Ed25519 key and store it encrypted under a password."""
    _store_new(opts, name, PrivateKey.generate(), kdf, unsafe_plaintext, overwrite, "Created")


@local_command(app, "import", KEYRING_PARAMS)
def import_(opts: Options, name: Annotated[str, typer.Argument(help="Name to store the key under.")],
            source: Annotated[str, typer.Argument(
                help="File holding the seed as hex, or a CometBFT priv_validator_key.json / egp keystore "
                     "file; '-' reads stdin.")] = "-",
            kdf: Kdf = DEFAULT_KDF, unsafe_plaintext: Plain = False, overwrite: Overwrite = False) -> None:
    """Import an existing key (hex seed or CometBFT key file) into the keyring."""
    if source == "-":
        if sys.stdin.isatty():
            typer.echo("Paste the seed (64 hex digits) or the key JSON, then Ctrl-D:", err=True)
        key = parse_seed_text(sys.stdin.read(), "the key on stdin")
    else:
        path = Path(source).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
        if '"crypto"' in text or '"priv_key"' in text:
            password = read_password(opts.password_file, prompt=f"Password of {path}") \
                if key_file_needs_password(path) else None
            key = read_key_file(path, password)
        else:
            key = parse_seed_text(text, str(path))
    _store_new(opts, name, key, kdf, unsafe_plaintext, overwrite, "Imported")


@local_command(app, "export", KEYRING_PARAMS)
def export(opts: Options, name: KeyName,
           fmt: Annotated[str, typer.Option("--format", help="cometbft (priv_validator_key.json, default) or "
                                            "hex (the 32-byte seed).")] = "cometbft",
           output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file (mode 0600).")]
           = None) -> None:
    """Export a key's secret (CometBFT key file or hex seed). Handle the result as you would the key."""
    if fmt not in ("cometbft", "hex"):
        raise InputError("--format must be cometbft or hex")
    store = opts.keystore()
    info = store.info(name)
    key = store.load(name, read_password(opts.password_file, prompt=f"Password for key '{name}'")
                     if info.encrypted else None)
    if fmt == "hex":
        text = key.seed.hex() + "\n"
    else:
        doc = {"address": key.address.hex().upper(), "pub_key": key.public_key.to_json(), "priv_key": key.to_json()}
        text = json.dumps(doc, indent=2) + "\n"
    if opts.json_out and fmt == "hex":
        text = json.dumps({"name": name, "address": key.address.hex().upper(), "seed": key.seed.hex()}) + "\n"
    warn(f"this is the secret key of '{name}' in clear; anyone holding it can sign as you")
    if output is not None:
        write_private_file(output.expanduser(), text)
        typer.echo(f"Wrote {output} (mode 0600).", err=True)
    else:
        typer.echo(text, nl=False)


@local_command(app, "list", KEYRING_PARAMS)
def list_(opts: Options) -> None:
    """List the keys in the keyring: names, addresses, public keys."""
    keys = opts.keystore().list()
    if opts.json_out:
        print_json([k.to_json() for k in keys])
        return
    if not keys:
        typer.echo(f"No keys in {opts.keystore().dir}. Create one with: egp keys add NAME")
        return
    table("Keys", ["name", "address", "public key (hex)", "stored"],
          [[k.name, k.address, k.pub_key.hex(), "encrypted" if k.encrypted else "PLAINTEXT"] for k in keys])


@local_command(app, "show", KEYRING_PARAMS)
def show(opts: Options, name: KeyName,
         address_only: Annotated[bool, typer.Option("--address", "-a", help="Print only the address.")] = False,
         pubkey_only: Annotated[bool, typer.Option("--pubkey", "-p", help="Print only the public key (hex).")]
         = False) -> None:
    """Show one key: address and public key (never the secret)."""
    info = opts.keystore().info(name)
    if address_only:
        typer.echo(info.address)
    elif pubkey_only:
        typer.echo(info.pub_key.hex())
    else:
        _show(info, opts)


@local_command(app, "delete", KEYRING_PARAMS)
def delete(opts: Options, name: KeyName,
           yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False) -> None:
    """Delete a key file from the keyring (export it first if you may need it again)."""
    store = opts.keystore()
    info = store.info(name)
    question = f"Delete key '{name}' ({info.address})? This cannot be undone"
    if not yes and not typer.confirm(question, default=False, err=True):
        raise typer.Exit(1)
    store.delete(name)
    if opts.json_out:
        print_json({"deleted": info.to_json()})
    else:
        typer.echo(f"Deleted key '{name}' ({info.address}).")

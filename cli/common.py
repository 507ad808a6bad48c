"""Options every wallet command shares, and the decorators that attach them.

Why decorators: each of ~40 transaction commands takes the same dozen options (who signs, which node,
offline signing, waiting, JSON output). Declaring them once and appending them to each command's
signature keeps every command's own code to what is specific to it: its arguments and the typed body it
builds. typer reads `__signature__`, so the appended options show in `--help` under their own panels.

Where things come from:
- home: `--home` / `EGP_HOME` (default `~/.egp`); the keyring is `<home>/keyring` unless `--keyring-dir`;
- the signer: `--from NAME` (keyring, env `EGP_FROM`) or `--key-file PATH` (a CometBFT
  `priv_validator_key.json`, e.g. the devnet's demo accounts, or an egp keystore file);
- the password: `--password-file`, else `EGP_PASSWORD`, else a hidden prompt;
- the node: `--node URL`, else `EGP_NODE`, else http://127.0.0.1:26657.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.errors import InputError, KeystoreError, guard
from cli.keystore import Keystore, key_file_needs_password, read_key_file
from state.crypto import PrivateKey

SIGNING, NODE, OUTPUT = "Signing", "Node", "Output"


def complete_key_names(incomplete: str) -> list[str]:
    """Shell completion of `--from` and key-name arguments from the keyring (names only, no secrets)."""
    try:
        names = [k.name for k in Keystore(keyring_dir(None, None)).list()]
    except Exception:  # completion must never print an error into the user's shell
        return []
    return [n for n in names if n.startswith(incomplete)]


def _opt(name: str, annotation: Any, default: Any, *decls: str, panel: str, help: str,
         envvar: str | None = None, **extra: Any) -> inspect.Parameter:
    info = typer.Option(*decls, help=help, envvar=envvar, rich_help_panel=panel, show_default=False, **extra)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[annotation, info])


NODE_PARAMS = [
    _opt("node", str | None, None, "--node", panel=NODE, envvar="EGP_NODE",
         help="RPC address of a node (default http://127.0.0.1:26657)."),
]
OUTPUT_PARAMS = [_opt("json_out", bool, False, "--json", panel=OUTPUT, help="Print JSON for scripts.")]
KEYRING_PARAMS = [
    _opt("home", Path | None, None, "--home", panel=SIGNING, envvar="EGP_HOME",
         help="Wallet home (default ~/.egp); keys live in <home>/keyring."),
    _opt("keyring_dir", Path | None, None, "--keyring-dir", panel=SIGNING, help="Keyring directory."),
    _opt("password_file", Path | None, None, "--password-file", panel=SIGNING,
         help="Read the key password from this file (else EGP_PASSWORD, else a prompt)."),
]
SIGNER_PARAMS = [
    _opt("from_", str | None, None, "--from", panel=SIGNING, envvar="EGP_FROM",
         help="Name of the signing key in the keyring.", autocompletion=complete_key_names),
    _opt("key_file", Path | None, None, "--key-file", panel=SIGNING,
         help="Sign with this key file instead (CometBFT priv_validator_key.json or an egp keystore file)."),
    *KEYRING_PARAMS,
]
WAIT_PARAMS = [
    _opt("wait", bool, False, "--wait", panel=NODE, help="Wait for the block that includes it; print the outcome."),
    _opt("timeout", float, 30.0, "--timeout", panel=NODE, help="Seconds to wait with --wait (default 30)."),
]
TX_PARAMS = [
    *SIGNER_PARAMS,
    *WAIT_PARAMS,
    _opt("offline", bool, False, "--offline", panel=SIGNING,
         help="Sign without a node (needs --nonce and --chain-id) and print the signed tx."),
    _opt("nonce", int | None, None, "--nonce", panel=SIGNING, min=0, max=2**63 - 1,
         help="Sequence number to sign with (default: asked from the node)."),
    _opt("chain_id", str | None, None, "--chain-id", panel=SIGNING, help="Chain id (default: asked from the node)."),
    _opt("encoding", str, "base64", "--encoding", panel=OUTPUT,
         help="How --offline prints the signed tx: base64 (default) or hex."),
    *NODE_PARAMS,
    *OUTPUT_PARAMS,
]
READ_PARAMS = [*NODE_PARAMS, *OUTPUT_PARAMS]
BROADCAST_PARAMS = [*WAIT_PARAMS, *NODE_PARAMS, *OUTPUT_PARAMS]


@dataclass
class Options:
    """The shared options of one invocation."""

    json_out: bool = False
    node: str | None = None
    from_: str | None = None
    key_file: Path | None = None
    home: Path | None = None
    keyring_dir: Path | None = None
    password_file: Path | None = None
    wait: bool = False
    timeout: float = 30.0
    offline: bool = False
    nonce: int | None = None
    chain_id: str | None = None
    encoding: str = "base64"

    @classmethod
    def pop_from(cls, kwargs: dict[str, Any], params: list[inspect.Parameter]) -> Options:
        return cls(**{p.name: kwargs.pop(p.name) for p in params})

    # ------------------------------------------------------------- keys
    def keystore(self) -> Keystore:
        return Keystore(keyring_dir(self.home, self.keyring_dir))

    def signer(self) -> PrivateKey:
        """The signing key from --key-file or --from, asking for its password only when it is encrypted."""
        if self.key_file is not None and self.from_ is not None:
            raise InputError("give either --from NAME or --key-file PATH, not both")
        if self.key_file is not None:
            password = read_password(self.password_file) if key_file_needs_password(self.key_file) else None
            return read_key_file(self.key_file, password)
        if self.from_ is None:
            raise InputError("who signs? give --from NAME (a key in `egp keys list`) or --key-file PATH")
        store = self.keystore()
        password = read_password(self.password_file, prompt=f"Password for key '{self.from_}'") \
            if store.needs_password(self.from_) else None
        return store.load(self.from_, password)


def wallet_home(home: Path | None) -> Path:
    if home is not None:
        return home.expanduser()
    env = os.environ.get("EGP_HOME")
    return Path(env).expanduser() if env else Path.home() / ".egp"


def keyring_dir(home: Path | None, explicit: Path | None) -> Path:
    return explicit.expanduser() if explicit is not None else wallet_home(home) / "keyring"


def read_password(password_file: Path | None, *, prompt: str = "Password", confirm: bool = False) -> str:
    """--password-file, then EGP_PASSWORD, then a hidden prompt (with confirmation for a new key)."""
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeystoreError(f"cannot read the password file {password_file}: {exc.strerror or exc}") from None
        password = text.splitlines()[0] if text else ""
    elif "EGP_PASSWORD" in os.environ:
        password = os.environ["EGP_PASSWORD"]
    else:
        password = str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True))
    if not password:
        raise KeystoreError("the password is empty")
    return password


# ----------------------------------------------------------------- decorators
def with_params(app: typer.Typer, name: str, params: list[inspect.Parameter],
                runner: Callable[[Callable[..., Any], dict[str, Any], Options], Any],
                **command_kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `func` as command `name`, with `params` appended to its own parameters.

    `runner(func, own_kwargs, options)` runs inside `guard()`, so every failure is one clear line."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "opts"]  # `opts` is ours, not a CLI param

        @functools.wraps(func)
        def command(**kwargs: Any) -> None:
            opts = Options.pop_from(kwargs, params)
            with guard(opts.json_out):
                runner(func, kwargs, opts)

        merged = [*own, *params]
        command.__signature__ = sig.replace(parameters=merged)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in merged}
        del command.__wrapped__  # typer must see the merged signature, not func's
        app.command(name, **command_kwargs)(command)
        return func

    return decorate


def _run_plain(func: Callable[..., Any], kwargs: dict[str, Any], opts: Options) -> None:
    func(opts, **kwargs)


def read_command(app: typer.Typer, name: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A command that reads from the node: `func(opts, **own)`; gets --node and --json."""
    return with_params(app, name, READ_PARAMS, _run_plain, **kw)


def local_command(app: typer.Typer, name: str, params: list[inspect.Parameter] | None = None,
                  **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A command that works without a node (keys): `func(opts, **own)`."""
    return with_params(app, name, [*(params or []), *OUTPUT_PARAMS], _run_plain, **kw)


def broadcast_command(app: typer.Typer, name: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A command that submits an already signed tx: `func(opts, **own)`; gets --wait, --timeout, --node, --json."""
    return with_params(app, name, BROADCAST_PARAMS, _run_plain, **kw)


def tx_command(app: typer.Typer, name: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A transaction command: `func(**own)` returns the body (or a `Deferred`); signing, broadcast, waiting
    and printing the outcome are shared (cli/txflow.py)."""
    from cli import txflow

    return with_params(app, name, TX_PARAMS, txflow.run, **kw)

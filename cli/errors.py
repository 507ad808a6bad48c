"""Errors a person understands: one sentence, a stable exit code, never a traceback.

Every wallet command runs inside `guard()`. Anything the wallet expects to go wrong (bad input, a wrong
password, an unreachable node, a rejection by the chain) is raised as a `WalletError` carrying the exit code
of its class, and `guard` prints `Error: <sentence>` on stderr (and, with `--json`, an error object on
stdout so scripts can branch on it). Anything unexpected is still caught and reported in one line, with
a hint to set `EGP_DEBUG=1` for the traceback, because a bank officer should never face a stack dump.

Exit codes (documented in `egp --help` of each group and relied on by scripts):
    0 success · 2 invalid input (as click's usage errors) · 3 key or keystore problem (wrong password,
    unknown key) · 4 node unreachable or RPC error · 5 refused by the chain (code and sentence) ·
    6 not committed in time (the tx may still be included later) · 1 anything else.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer

EXIT_OTHER = 1
EXIT_INPUT = 2
EXIT_KEY = 3
EXIT_NODE = 4
EXIT_REJECTED = 5
EXIT_TIMEOUT = 6


class WalletError(Exception):
    """An expected failure: `str(exc)` is the sentence shown, `exit_code` the process status."""

    exit_code = EXIT_OTHER
    kind = "error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.details = details

    def to_json(self) -> dict[str, object]:
        return {"error": {"kind": self.kind, "message": str(self), **self.details}}


class InputError(WalletError):
    """The user typed something the wallet cannot accept (amount, date, tax ID, hex, file)."""

    exit_code = EXIT_INPUT
    kind = "input"


class KeystoreError(WalletError):
    """A key could not be found, read or decrypted."""

    exit_code = EXIT_KEY
    kind = "key"


class NodeError(WalletError):
    """The node could not be reached, or answered with a JSON-RPC error."""

    exit_code = EXIT_NODE
    kind = "node"


class RejectedError(WalletError):
    """The chain refused the transaction or the query, with its code and sentence."""

    exit_code = EXIT_REJECTED
    kind = "rejected"

    def __init__(self, code: int, log: str, codespace: str = "egp", **details: object) -> None:
        super().__init__(f"refused by the chain (code {code}): {log}", code=code, codespace=codespace,
                         log=log, **details)
        self.code = code
        self.log = log
        self.codespace = codespace


class CommitTimeout(WalletError):
    """The transaction was accepted but not seen in a block before the wait ended."""

    exit_code = EXIT_TIMEOUT
    kind = "timeout"


def fail(exc: WalletError, *, json_out: bool = False) -> typer.Exit:
    """Report `exc` and return the `typer.Exit` to raise."""
    if json_out:
        typer.echo(json.dumps(exc.to_json(), sort_keys=True))
    typer.echo(f"Error: {exc}", err=True)
    return typer.Exit(exc.exit_code)


@contextmanager
def guard(json_out: bool = False) -> Iterator[None]:
    """Turn every failure inside into one clear line on stderr and a non-zero exit code."""
    try:
        yield
    except typer.Exit:
        raise
    except WalletError as exc:
        raise fail(exc, json_out=json_out) from None
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        raise typer.Exit(130) from None
    except Exception as exc:
        if _is_click_control(exc):
            raise
        if os.environ.get("EGP_DEBUG"):
            raise
        message = f"unexpected {type(exc).__name__}: {exc} (set EGP_DEBUG=1 to see the traceback)"
        raise fail(WalletError(message), json_out=json_out) from None


def _is_click_control(exc: BaseException) -> bool:
    """click's own control-flow exceptions (Abort, usage errors) must reach click untouched."""
    module = type(exc).__module__
    return module.startswith(("typer", "click"))


def warn(message: str) -> None:
    typer.echo(f"Warning: {message}", err=True)


def stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False

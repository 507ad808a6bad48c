"""Output for people (rich tables, aligned fields) and for scripts (`--json`, one JSON document on stdout).

rich is imported only when a table is drawn, to keep `egp` quick to start. Amounts are shown in THB with
two decimals and dates in Asia/Bangkok, the way a bank officer reads them on the paper form.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import typer


def print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=_default))


def _default(obj: Any) -> Any:
    if isinstance(obj, bytes):
        return obj.hex()
    raise TypeError(f"cannot print {type(obj).__name__} as JSON")


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, right: Sequence[str] = ()) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        t.add_column(c, justify="right" if c in right else "left", overflow="fold")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    _console().print(t)


def _console() -> Any:
    """A terminal gets rich's own width; a pipe or a file gets wide lines instead of 80-column wrapping."""
    import os
    import sys

    from rich.console import Console

    if sys.stdout.isatty():
        return Console(soft_wrap=False)
    return Console(soft_wrap=False, width=int(os.environ.get("COLUMNS", "160")))


def fields(title: str, pairs: Sequence[tuple[str, Any]]) -> None:
    """A record as aligned `label: value` lines, skipping empty values."""
    if title:
        typer.echo(title)
    shown = [(k, v) for k, v in pairs if v not in (None, "", b"")]
    width = max((len(k) for k, _ in shown), default=0)
    for k, v in shown:
        typer.echo(f"  {k + ':':<{width + 1}} {v}")

"""Shared helpers of the wallet tests: a CliRunner on the real `egp` app, a closed port, a quick keyring."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.main import app


def closed_port_url() -> str:
    """An address on 127.0.0.1 where nothing listens (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Egp:
    """`egp` in-process, with its own wallet home and no environment leaking in from the developer's shell."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {"EGP_HOME": str(home), "EGP_NODE": closed_port_url(), "EGP_PASSWORD": "pw-for-tests",
                    "EGP_FROM": "", "COLUMNS": "200"}

    def __call__(self, *args: str, input: str | None = None, **env: str) -> Result:
        merged = {**self.env, **env}
        unset = [k for k, v in merged.items() if v == ""]
        return CliRunner().invoke(app, list(args), input=input,
                                  env={k: (None if k in unset else v) for k, v in merged.items()})


@pytest.fixture
def egp(tmp_path: Path) -> Egp:
    return Egp(tmp_path / "home")


def assert_clean_failure(result: Result, code: int, *needles: str) -> None:
    """Exit code as documented, the sentence on stderr, and never a traceback."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    for n in needles:
        assert n in result.stderr, (n, result.stderr)

"""Typed method parameters from JSON-RPC bodies (named or positional) and from GET query strings.

Why so lenient in form and so strict in value: cosmjs sends heights as decimal strings, tx as base64 and
abci_query data as hex; scripts send numbers; the GET form sends `0x`-hex or `"quoted"` strings as CometBFT
documents. Every form is accepted, every wrong value is an "Invalid params" error naming the parameter.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from node.rpc.errors import invalid_params

INT64_MAX = 2**63 - 1
_DEC = re.compile(r"-?[0-9]{1,19}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


@dataclass(frozen=True)
class P:
    """One parameter: name, kind (int|bool|str|b64|hex|hash|json) and default (None = absent)."""

    name: str
    kind: str
    default: Any = None
    required: bool = False


def _unquote(v: str) -> tuple[str, bool]:
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        return v[1:-1], True
    return v, False


def _to_int(name: str, v: Any, uri: bool) -> int:
    if isinstance(v, bool):
        raise invalid_params(f"{name}: expected an integer, got a boolean")
    if isinstance(v, int):
        n = v
    elif isinstance(v, str):
        s = _unquote(v)[0] if uri else v
        if not _DEC.fullmatch(s):
            raise invalid_params(f"{name}: expected a decimal integer, got {v[:40]!r}")
        n = int(s)
    else:
        raise invalid_params(f"{name}: expected an integer")
    if not -INT64_MAX - 1 <= n <= INT64_MAX:
        raise invalid_params(f"{name}: integer out of range")
    return n


def _to_bool(name: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and _unquote(v)[0].lower() in ("true", "false"):
        return _unquote(v)[0].lower() == "true"
    raise invalid_params(f"{name}: expected true or false")


def _hex(name: str, s: str) -> bytes:
    if not _HEX.fullmatch(s):
        raise invalid_params(f"{name}: invalid hex")
    return bytes.fromhex(s)


def _b64(name: str, s: str) -> bytes:
    try:
        return base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as e:
        raise invalid_params(f"{name}: invalid base64") from e


def _to_bytes(name: str, kind: str, v: Any, uri: bool) -> bytes:
    if not isinstance(v, str):
        raise invalid_params(f"{name}: expected a string")
    if uri:  # CometBFT URI form: 0x-prefixed hex or a "quoted" raw string
        if v.startswith(("0x", "0X")):
            return _hex(name, v[2:])
        s, quoted = _unquote(v)
        if quoted:
            return s.encode()
        v = s
    if kind == "hex":
        return _hex(name, v[2:] if v.startswith(("0x", "0X")) else v)
    if kind == "hash":  # hex of 32 bytes, or base64 (Go []byte)
        if len(v) == 64 and _HEX.fullmatch(v):
            return bytes.fromhex(v)
        if v.startswith(("0x", "0X")):
            return _hex(name, v[2:])
    return _b64(name, v)


def convert(p: P, v: Any, uri: bool) -> Any:
    if p.kind == "int":
        return _to_int(p.name, v, uri)
    if p.kind == "bool":
        return _to_bool(p.name, v)
    if p.kind == "str":
        if not isinstance(v, str):
            raise invalid_params(f"{p.name}: expected a string")
        try:
            v.encode("utf-8")
        except UnicodeEncodeError as e:
            raise invalid_params(f"{p.name}: not valid Unicode text (lone surrogate)") from e
        return _unquote(v)[0] if uri else v
    if p.kind in ("b64", "hex", "hash"):
        return _to_bytes(p.name, p.kind, v, uri)
    if p.kind == "json":
        return v
    raise invalid_params(f"{p.name}: unsupported parameter kind")


def bind(spec: tuple[P, ...], raw: Any, uri: bool = False) -> dict[str, Any]:
    """Named (object) or positional (array) params → keyword arguments; null/absent take defaults."""
    if raw is None:
        raw = {}
    if isinstance(raw, list):
        if len(raw) > len(spec):
            raise invalid_params(f"expected at most {len(spec)} parameters, got {len(raw)}")
        raw = {p.name: v for p, v in zip(spec, raw, strict=False)}
    if not isinstance(raw, Mapping):
        raise invalid_params("params must be an object or an array")
    known = {p.name for p in spec}
    unknown = [k for k in raw if k not in known]
    if unknown:
        raise invalid_params(f"unknown parameter {str(unknown[0])[:40]!r}")
    out: dict[str, Any] = {}
    for p in spec:
        v = raw.get(p.name)
        if v is None or (uri and v == ""):
            if p.required:
                raise invalid_params(f"missing parameter {p.name!r}")
            out[p.name] = p.default
        else:
            out[p.name] = convert(p, v, uri)
    return out

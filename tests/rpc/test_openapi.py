"""docs/openapi.yaml documents exactly the methods the server registers, with their parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.rpc.registry import METHODS

yaml = pytest.importorskip("yaml")  # PyYAML comes with schemathesis (dev extra)

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())


def test_every_method_is_documented_with_its_parameters() -> None:
    http_methods = {n for n, m in METHODS.items() if not m.ws_only}
    documented = {p.strip("/") for p in SPEC["paths"] if p not in ("/", "/openapi.yaml")}
    assert documented == http_methods
    for name in http_methods:
        params = {p["name"]: p.get("required", False) for p in SPEC["paths"][f"/{name}"]["get"].get("parameters", [])}
        assert params == {p.name: p.required for p in METHODS[name].params}, name


def test_websocket_methods_are_described() -> None:
    ws = {n for n, m in METHODS.items() if m.ws_only}
    assert ws == {"subscribe", "unsubscribe", "unsubscribe_all"}
    assert all(n in SPEC["info"]["description"] for n in ws)

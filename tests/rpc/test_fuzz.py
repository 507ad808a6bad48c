"""Random and mutated JSON at every method: every answer is a well-formed JSON-RPC response, never a crash.

Also runs schemathesis against docs/openapi.yaml: no server error, and every response matches the document.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from node.rpc.config import RpcConfig
from node.rpc.registry import METHODS
from tests.rpc.threaded import threaded_server

CODES = {-32700, -32600, -32601, -32602, -32603, -32000}
CONFIG = RpcConfig(laddr_port=0, timeout_broadcast_tx_commit_s=0.05, max_body_bytes=20_000)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with threaded_server(tmp_path_factory.mktemp("fuzz"), CONFIG) as (url, _):
        yield url


def _post(url: str, body: bytes) -> tuple[int, bytes]:
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=30)
    try:
        conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def _check_one(resp: Any, sent_id: Any) -> None:
    assert isinstance(resp, dict) and resp.get("jsonrpc") == "2.0", resp
    assert ("result" in resp) != ("error" in resp), resp
    if sent_id is not ...:
        assert resp["id"] == sent_id or resp["id"] is None
    if "error" in resp:
        e = resp["error"]
        assert e["code"] in CODES and isinstance(e["message"], str) and isinstance(e["data"], str), e
        assert "Traceback" not in e["data"]


def _check(status: int, raw: bytes, sent: Any) -> None:
    assert status in (200, 204, 400, 413), (status, raw[:200])
    if status == 204:
        return
    out = json.loads(raw)
    if isinstance(out, list):
        assert isinstance(sent, list)
        for r in out:
            _check_one(r, ...)
    else:
        _check_one(out, sent.get("id", None) if isinstance(sent, dict) else None)


TEXT = st.text(st.characters(exclude_categories=[]), max_size=30)  # lone surrogates included
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                      st.floats(allow_nan=False, allow_infinity=False), TEXT,
                      st.sampled_from(["1", "0", "-1", "99999999999999999999", "0x00", "AAAA", "\"5\"",
                                       "tm.event='Tx'", "lg.id='x' AND", "abcd", "asc", "desc", ""]))
JSON = st.recursive(JSON_LEAF, lambda c: st.lists(c, max_size=4) | st.dictionaries(TEXT, c, max_size=4),
                    max_leaves=10)
NAMES = [*sorted(METHODS), "", "nope", "block/..", "__init__"]
PARAM_NAMES = sorted({p.name for m in METHODS.values() for p in m.params})
PARAMS = st.one_of(JSON, st.dictionaries(st.sampled_from(PARAM_NAMES), JSON, max_size=4),
                   st.lists(JSON, max_size=4))
REQUEST = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "2.0", "1.0", 2]), "id": st.one_of(st.integers(-5, 2**40), TEXT),
     "method": st.sampled_from(NAMES) | TEXT, "params": PARAMS})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(REQUEST, st.lists(REQUEST, min_size=1, max_size=3), JSON))
def test_random_requests(server: str, req: Any) -> None:
    status, raw = _post(server, json.dumps(req).encode())
    _check(status, raw, req)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(METHODS)), st.binary(max_size=8), st.integers(0, 200), st.integers(0, 4))
def test_mutated_bytes(server: str, name: str, junk: bytes, pos: int, cut: int) -> None:
    good = json.dumps({"jsonrpc": "2.0", "id": 7, "method": name, "params": {"height": "1", "query": "a='b'"}})
    i = min(pos, len(good))
    body = good.encode()[:i] + junk + good.encode()[i + cut:]
    status, raw = _post(server, body)
    try:
        sent = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        sent = None
    _check(status, raw, sent)


@pytest.mark.slow
def test_schemathesis_finds_no_violation(tmp_path: Path) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    spec = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
    failures: list[str] = []
    with threaded_server(tmp_path, CONFIG) as (url, _):
        schema = schemathesis.openapi.from_path(str(spec))
        # JSON-RPC answers a method's bad params with HTTP 200 and an error object (cosmjs needs it), so
        # "negative data must get a 4xx" does not apply; every other check (server errors, response schema,
        # content type, status codes documented) does.
        from schemathesis.specs.openapi.checks import negative_data_rejection

        excluded = [negative_data_rejection]
        modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
        for op in schema.get_all_operations():
            operation = op.ok()
            for mode in modes:

                @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
                @given(case=operation.as_strategy(generation_mode=mode))
                def check(case: Any) -> None:
                    case.call_and_validate(base_url=url, excluded_checks=excluded)

                try:
                    check()
                except Unsatisfiable:  # nothing to make invalid (no parameters): nothing to test in this mode
                    continue
                except Exception as e:  # collect every operation's failure, then report them all
                    failures.append(f"{operation.label} ({mode.value}): {type(e).__name__}: {str(e)[:600]}")
    assert not failures, "\n".join(failures)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(REQUEST, JSON, st.lists(REQUEST, min_size=1, max_size=3)), min_size=1, max_size=5))
def test_random_websocket_messages(server: str, msgs: list[Any]) -> None:
    import asyncio

    import aiohttp

    async def go() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(server + "/websocket") as ws:
            for m in msgs:
                await ws.send_str(json.dumps(m))
            await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": "end", "method": "health"}))
            while True:
                msg = await asyncio.wait_for(ws.receive(), 30)
                assert msg.type == aiohttp.WSMsgType.TEXT, msg
                out = json.loads(msg.data)
                for r in out if isinstance(out, list) else [out]:
                    _check_one(r, ...)
                if isinstance(out, dict) and out.get("id") == "end":
                    break

    asyncio.run(go())

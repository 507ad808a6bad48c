"""Garbage never crashes the application; the overlay iterates like the store it buffers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from state.abci import RequestCheckTx, RequestQuery
from state.kv import MemoryKV
from state.store import Overlay
from tests.state.harness import Chain

_CHAIN = Chain()
_CHAIN.active()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.binary(max_size=40), st.booleans(), st.integers(-2, 5))
def test_queries_never_raise(path: str, data: bytes, prove: bool, height: int) -> None:
    for p in (path, "/" + path, "/lg/" + path, "/supplier/" + path + "/rating", "/lg/expiring?" + path):
        r = _CHAIN.app.query(RequestQuery(p, data, height, prove))
        assert r.code == 0 or r.codespace == "egp"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_check_tx_never_raises(tx: bytes) -> None:
    assert _CHAIN.app.check_tx(RequestCheckTx(tx)).code != 0


def test_finalize_with_garbage() -> None:
    c = Chain()
    res = c.block([b"", b"\x90", b"\xc1" * 10, bytes(range(256))])
    assert all(r.code != 0 and r.codespace == "egp" for r in res)


ops = st.lists(st.tuples(st.binary(min_size=1, max_size=3), st.one_of(st.none(), st.binary(max_size=3))),
               max_size=30)


@settings(max_examples=200, deadline=None)
@given(ops, ops, st.binary(max_size=2), st.booleans())
def test_overlay_iterates_like_a_store(base_ops: list[tuple[bytes, bytes | None]],
                                       top_ops: list[tuple[bytes, bytes | None]], prefix: bytes,
                                       reverse: bool) -> None:
    kv = MemoryKV()
    model: dict[bytes, bytes] = {}
    for k, v in base_ops:
        if v is None:
            kv.delete(k)
            model.pop(k, None)
        else:
            kv.put(k, v)
            model[k] = v
    ov = Overlay(kv)
    for k, v in top_ops:
        if v is None:
            ov.delete(k)
            model.pop(k, None)
        else:
            ov.put(k, v)
            model[k] = v
    want = sorted(((k, v) for k, v in model.items() if k.startswith(prefix)), reverse=reverse)
    assert list(ov.iterate(prefix=prefix or None, reverse=reverse)) == want
    assert all(ov.get(k) == model.get(k) for k, _ in base_ops + top_ops)

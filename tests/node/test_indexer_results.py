"""The indexer's pass also makes the block's results record (`pack_results` from its pieces): the same bytes as
`FinalizeBlockResult.encode()`, and the same index entries as a pass that makes no results. (Whatever the order
of the applier's steps, the results are right: without the pieces `save_results` packs them itself.)"""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.indexer import Indexer, _str_head
from state.chain import Event, EventAttribute, ExecTxResult, FinalizeBlockResult, ValidatorUpdate, pack_results
from state.kv import MemoryKV

# (str heads of every size: fixstr, str 8 at 32 and 255 bytes, str 16 past 255 bytes, multi-byte UTF-8)
_TEXT = st.text(max_size=12) | st.sampled_from(["", "id", "x" * 31, "x" * 32, "x" * 40, "x" * 255, "x" * 256,
                                                "\u00e9" * 16, "\u0e01" * 100])
_INT = st.integers(0, 2**64 - 1) | st.sampled_from([0, 127, 128, 65_536])
POOL = [EventAttribute(k, v, i) for k in ("id", "bank", "") for v in ("A", "B", "") for i in (True, False)]
_ATTR = st.builds(EventAttribute, _TEXT, _TEXT, st.booleans()) | st.sampled_from(POOL)  # fresh or shared objects
_EVENT = st.builds(Event, _TEXT | st.sampled_from(["lg", "req"]), st.lists(_ATTR, max_size=17).map(tuple))
_RESULT = st.builds(ExecTxResult, st.integers(0, 2**32 - 1) | st.just(0), st.binary(max_size=8), _TEXT, _TEXT,
                    _INT, _INT, st.lists(_EVENT, max_size=3).map(tuple), _TEXT) | st.just(ExecTxResult())


class _Block:
    """A stand-in with the block's header height and txs (what `index_chain_block` reads of a block)."""

    def __init__(self, height: int, txs: list[bytes]) -> None:
        self.header = type("H", (), {"height": height})()
        self.txs = tuple(txs)


def _indexed(height: int, txs: list[bytes], result: FinalizeBlockResult, *, chain: bool) -> list[tuple[bytes, bytes]]:
    kv = MemoryKV()
    ix = Indexer(kv)
    batch = kv.batch()
    if chain:
        ix.index_chain_block(batch, _Block(height, txs), result)  # type: ignore[arg-type]
    else:
        ix._write(batch, height, txs, result.tx_results, result.events)
    batch.commit()
    return list(kv.iterate())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=1, max_size=300), _RESULT), min_size=0, max_size=12),
       st.lists(_EVENT, max_size=3).map(tuple), st.integers(1, 2**40), st.integers(-1, 1),
       st.lists(st.builds(ValidatorUpdate, st.binary(min_size=32, max_size=32), st.integers(0, 100)), max_size=2))
def test_the_index_pass_makes_the_results_bytes(txs: list[tuple[bytes, ExecTxResult]], block_events: tuple[Event, ...],
                                                 height: int, extra: int, updates: list[ValidatorUpdate]) -> None:
    raws = [t for t, _ in txs]
    results = tuple(r for _, r in txs)
    if extra < 0 and results:  # more txs than results, or more results than txs: no pieces are used
        results = results[:-1]
    elif extra > 0:
        results = (*results, ExecTxResult(1, b"", "x"))
    make = lambda: FinalizeBlockResult(block_events, results, tuple(updates), b"", b"\x01" * 32)  # noqa: E731
    res = make()
    entries = _indexed(height, raws, res, chain=True)
    assert entries == _indexed(height, raws, make(), chain=False)  # the same index entries
    assert pack_results(res) == res.encode() == pack_results(make())  # the same results bytes, kept on `res`
    assert res.__dict__.get("_packed") == res.encode()



@pytest.mark.parametrize("n", [0, 1, 31, 32, 255, 256, 65_535, 65_536])
def test_a_str_head_is_msgpacks(n: int) -> None:
    """The index pass packs an attribute's row by hand (node/indexer.py `_attr_entry`): each str head as msgpack's."""
    assert _str_head(n) == msgpack.packb("x" * n)[:-n or None]


def test_an_attribute_flag_that_is_not_a_bool_is_packed_as_it_is() -> None:
    """Not what the application makes (its flags are bools), but the results record stays `encode()`'s bytes."""
    odd = EventAttribute("id", "A", 1)  # type: ignore[arg-type]
    res = FinalizeBlockResult((), (ExecTxResult(events=(Event("lg", (odd, EventAttribute("id", "A", True))),)),), (),
                              b"", b"\x01" * 32)
    _indexed(1, [b"tx"], res, chain=True)
    assert pack_results(res) == res.encode()

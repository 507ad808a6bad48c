"""One event/result shape from the application to the wire: the application's records are the RPC views,
the block's results reach the indexer and the event bus untouched, and every event of a block takes its tx
result JSON from one per-block encoding."""

from __future__ import annotations

import asyncio
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from node.events import EventBus, _may_match
from node.indexer import Indexer
from node.rpc import adapt, encode
from node.rpc.dispatch import dumps
from node.rpc.query import parse_query
from node.rpc.services import EventAttribute, EventView, TxResultView, ValidatorUpdateView
from node.rpc.websocket import _event_json
from state import abci, chain, store
from state.chain import Block, BlockID, Commit, Event, ExecTxResult, FinalizeBlockResult, Header, PartSetHeader
from state.crypto import sha256
from state.kv import MemoryKV

Z = b"\x00" * 32


def _block(txs: tuple[bytes, ...]) -> tuple[Block, FinalizeBlockResult]:
    hdr = Header(11, 1, "egp-test", 3, 1_736_935_200_000, BlockID(sha256(b"2"), PartSetHeader(1, Z)), Z, Z, Z, Z, Z,
                 b"", Z, Z, b"\x01" * 20)
    ev = [Event("lg", (EventAttribute("id", f"LG-{i}", True), EventAttribute("note", "ไทย", False)))
          for i in range(len(txs))]
    results = tuple(ExecTxResult(0, b"", "", "", 0, 0, (ev[i],), "") if i % 2 == 0 else
                    ExecTxResult(402, b"", "over-draw", "", 0, 0, (), "egp") for i in range(len(txs)))
    res = FinalizeBlockResult((Event("blk", (EventAttribute("n", "3", True),)),), results, (), b"", b"\xaa" * 32)
    return Block(hdr, txs, (), Commit.empty()), res


def test_the_application_records_are_the_views() -> None:
    assert store.Event is abci.Event is chain.Event is EventView
    assert store.EventAttribute is abci.EventAttribute is chain.EventAttribute is EventAttribute
    assert abci.ExecTxResult is chain.ExecTxResult is TxResultView
    assert abci.ResponseFinalizeBlock is chain.FinalizeBlockResult
    assert abci.ValidatorUpdate is chain.ValidatorUpdate is ValidatorUpdateView
    assert TxResultView() == ExecTxResult(0, b"", "", "", 0, 0, (), "")  # the RPC's empty result
    _, res = _block((b"a", b"b"))
    view = adapt.block_results(3, res)
    assert view.tx_results is res.tx_results and view.finalize_block_events is res.events


def test_tx_events_are_only_prepared_for_queries_that_can_take_them() -> None:
    assert not _may_match(parse_query("tm.event='NewBlock'"), "Tx")
    assert not _may_match(parse_query("tm.event='NewBlockHeader' AND block.height > 2"), "Tx")
    assert _may_match(parse_query("tm.event='Tx' AND lg.id='LG-0'"), "Tx")
    assert _may_match(parse_query("lg.id='LG-0'"), "Tx")  # no tm.event condition: any event
    assert _may_match(parse_query("tm.event EXISTS"), "Tx")


def test_block_and_tx_events_share_one_tx_result_encoding_and_waiters_get_the_records() -> None:
    async def go() -> None:
        bus = EventBus()
        block, res = _block((b"k1=v", b"k2=v", b"k3=v"))
        nb_only = bus.subscribe("a", "tm.event='NewBlock'")
        fut = bus.wait_for_tx(sha256(b"k2=v"))
        bus.publish_chain_block(block, res)
        assert fut.done() and fut.result().result is res.tx_results[1] and fut.result().index == 1
        assert nb_only.pending() == 1  # a NewBlock observer gets one event per block, none per tx

        txs = bus.subscribe("b", "tm.event='Tx'")
        nb = bus.subscribe("b", "tm.event='NewBlock' AND blk.n='3'")
        bus.publish_chain_block(block, res)
        new_block = await nb.next()
        tx_events = [await txs.next() for _ in range(3)]
        assert new_block is not None
        # the rendered text is, byte for byte, the dict path's JSON; a Tx event carries the very text of its
        # result that the block's event carries
        text = _event_json(new_block)
        assert text == dumps(new_block.data) + ',"events":' + dumps(new_block.events)
        for i, e in enumerate(tx_events):
            assert e is not None
            assert _event_json(e) == dumps(e.data) + ',"events":' + dumps(e.events)
            tr = e.data["value"]["TxResult"]
            assert tr["index"] == i and tr["result"] == encode.tx_result(res.tx_results[i])
            assert encode.tx_result_text(res.tx_results[i]) in text and e.text is not None
            assert e.events.get("lg.id") == ([f"LG-{i}"] if i % 2 == 0 else None)
        rfb = new_block.data["value"]["result_finalize_block"]
        assert rfb["tx_results"][0]["events"][0]["attributes"][1] == {"key": "note", "value": "ไทย", "index": False}
        assert json.loads(text.rsplit(',"events":', 1)[0])["value"]["block"]["header"]["height"] == "3"

    asyncio.run(go())


def _indexed(block: Block, res: FinalizeBlockResult) -> tuple[MemoryKV, Indexer]:
    """The block, its results and its index entries in one batch, as the node's applier writes them."""
    from node.blockstore import BlockStore

    kv = MemoryKV()
    ix = Indexer(kv)
    b = kv.batch()
    store = BlockStore(kv)
    store.save_block(block, Commit(block.header.height, 0, block.block_id(), ()), b)
    ix.index_chain_block(b, block, res)
    store.save_results(block.header.height, res, b)
    b.commit()
    return kv, ix


def test_the_indexer_takes_the_records_as_they_are() -> None:
    block, res = _block((b"k1=v", b"k2=v"))
    _, ix = _indexed(block, res)
    rec = ix.get_tx(sha256(b"k1=v"))
    assert rec is not None and rec.result == res.tx_results[0] and type(rec.result) is ExecTxResult


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12) | st.sampled_from(
    ["", '"', "\\", "\n\t\x00\x1f\x7f", "ไทย", "\u2028", "💶"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_TEXT, st.lists(st.tuples(_TEXT, _TEXT, st.booleans()), max_size=4)), max_size=3),
       st.integers(0, 2**32 - 1), st.binary(max_size=8), _TEXT, st.integers(0, 2**63 - 1))
def test_rendered_json_text_is_the_dumped_dicts(events: list[tuple[str, list[tuple[str, str, bool]]]], code: int,
                                                data: bytes, log: str, gas: int) -> None:
    evs = tuple(Event(t, tuple(EventAttribute(k, v, i) for k, v, i in attrs)) for t, attrs in events)
    r = ExecTxResult(code, data, log, log[::-1], gas, gas // 2, evs, log[:3])
    assert encode.tx_result_text(r) == dumps(encode.tx_result(r))
    accepted = ExecTxResult(events=evs + evs, codespace=log[:3])  # the constant head; attributes seen before
    assert encode.tx_result_text(accepted) == dumps(encode.tx_result(accepted))
    res = FinalizeBlockResult(evs, (r, r), (chain.ValidatorUpdate(b"\x01" * 32, gas),), data, b"\xaa" * 32)
    view = adapt.block_results(5, res)
    text = encode.finalize_block_result_text(view, [encode.tx_result_text(x) for x in res.tx_results])
    assert text == dumps(encode.finalize_block_result(view))
    from node.events import event_attributes

    amap = event_attributes(evs, {"tm.event": ["Tx"], "tx.height": [str(gas)]})
    assert encode.attribute_map_text(amap) == dumps(amap)


def test_a_text_that_cannot_be_utf8_falls_back_to_escapes_as_dumps_does() -> None:
    async def go() -> None:
        bus = EventBus()
        sub = bus.subscribe("a", "tm.event='Tx'")
        block, _ = _block((b"k1=v",))
        bad = ExecTxResult(0, b"", "\ud800", "", 0, 0, (), "")  # a lone surrogate (never from msgpack)
        bus.publish_chain_block(block, FinalizeBlockResult((), (bad,), (), b"", Z))
        ev = await sub.next()
        assert ev is not None
        text = _event_json(ev)
        assert text.isascii() and "\\ud800" in text and text == dumps(ev.data) + ',"events":' + dumps(ev.events)

    asyncio.run(go())


def test_emitted_attributes_are_interned_and_the_table_stays_bounded() -> None:
    ctx = store.Ctx(store.Overlay(MemoryKV()), 0, 1)
    ctx.emit("lg", {"bank": "006", "version": 2})
    ctx.emit("lg", {"bank": "006", "version": 2})
    a, b = ctx.events
    assert a == b == Event("lg", (EventAttribute("bank", "006", True), EventAttribute("version", "2", True)))
    assert a.attributes[0] is b.attributes[0] and a.attributes[1] is b.attributes[1]
    for i in range(store._ATTRS_MAX + 10):
        ctx.emit("x", {"n": i})
    assert len(store._ATTRS) <= store._ATTRS_MAX
    assert ctx.events[-1].attributes == (EventAttribute("n", str(store._ATTRS_MAX + 9), True),)


def test_tx_events_reach_exactly_the_subscriptions_whose_queries_hold() -> None:
    """The router files exact-value queries under their (tag, value) and tries the rest on every tx; what each
    subscription receives must be what trying every query on every tx gives (the previous publisher)."""
    from node.events import event_attributes

    txs = tuple(b"k%d=v" % i for i in range(6))
    hdr = Header(11, 1, "egp-test", 3, 1_736_935_200_000, BlockID(sha256(b"2"), PartSetHeader(1, Z)), Z, Z, Z, Z, Z,
                 b"", Z, Z, b"\x01" * 20)
    block = Block(hdr, txs, (), Commit.empty())

    def lg(id_: str, status: str) -> Event:
        return Event("lg", (EventAttribute("id", id_, True), EventAttribute("status", status, True)))

    results = (ExecTxResult(events=(lg("LG-1", "ACTIVE"),)),
               ExecTxResult(events=(lg("LG-2", "ACTIVE"), lg("LG-2", "X"))),  # a value twice: received once
               ExecTxResult(402, log="over-draw"), ExecTxResult(events=(lg("LG-1", "RELEASED"),)),
               ExecTxResult(events=(Event("cc", (EventAttribute("id", "LG-1", True),)),)))  # 5 results, 6 txs
    res = FinalizeBlockResult((Event("blk", (EventAttribute("n", "3", True),)),), results, (), b"", Z)
    queries = ["tm.event='Tx'", "tm.event='Tx' AND lg.id='LG-1'", "lg.id='LG-2'", "lg.id='LG-9'",
               "lg.id='LG-1' AND lg.status='RELEASED'", "lg.status='ACTIVE' AND tx.height >= 3",
               f"tx.hash='{sha256(txs[2]).hex().upper()}'", "tx.height='3' AND cc.id='LG-1'", "tx.height = 3",
               "lg.id CONTAINS 'LG'", "lg.status EXISTS", "blk.n='3'", "tm.event='NewBlock'", "cc.id='LG-1'"]

    async def go() -> None:
        bus = EventBus()
        subs = [bus.subscribe(f"c{i}", q) for i, q in enumerate(queries)]
        bus.publish_chain_block(block, res)
        seen: list[int] = []
        for q, s in zip(queries, subs, strict=True):
            want = []
            for i, tx in enumerate(txs):
                r = results[i] if i < len(results) else ExecTxResult()
                attrs = {"tm.event": ["Tx"], "tx.hash": [sha256(tx).hex().upper()], "tx.height": ["3"]}
                if parse_query(q).matches(event_attributes(r.events, attrs)):
                    want.append(i)
            got = []
            while s.pending():
                ev = await s.next()
                assert ev is not None
                if ev.events["tm.event"] == ["Tx"]:
                    got.append(ev.data["value"]["TxResult"]["index"])
            assert got == want, q
            seen.append(len(want))
        assert seen[:3] == [6, 2, 1] and sum(seen) > 12  # the expectations are not all empty

    asyncio.run(go())


def test_a_corrupt_index_record_is_a_search_error() -> None:
    import struct

    import pytest

    from node.txrecord import SearchError

    block, res = _block((b"k1=v", b"k2=v"))
    kv, ix = _indexed(block, res)
    h = sha256(b"k1=v")
    good = kv.get(b"ix/th" + h)
    assert good == struct.pack(">QIII", 3, 0, 0, 0)  # the pointer (height, index, the tx's and result's offsets)
    old = b"\x94\x03\x00\xc4\x04k1=v\x98\x00\xc4\x00\xa0\xa0\x00\x00\x90\xa0"  # an older home's record
    second = kv.get(b"ix/th" + sha256(b"k2=v"))
    assert second is not None
    # no such block, another tx, no such tx, an offset inside a tx, past the end, a result's offset inside one
    pointers = (struct.pack(">QIII", 4, 0, 0, 0), second, struct.pack(">QIII", 3, 2, 12, 0),
                struct.pack(">QIII", 3, 0, 1, 0), struct.pack(">QIII", 3, 0, 10**6, 0),
                struct.pack(">QIII", 3, 0, 0, 1), struct.pack(">QIII", 3, 0, 0, 10**6), good[:12])
    for bad in (b"", b"\xc1", good[:-3], good + b"\x00", b"\x93\x01\x02\x03", b"\x94\x01\x02\xa1x\x92\x01\x02",
                old[:-1], *pointers):
        kv.put(b"ix/th" + h, bad)
        with pytest.raises(SearchError):
            ix.get_tx(h)
    kv.put(b"ix/th" + h, old)
    rec = ix.get_tx(h)
    assert rec is not None and (rec.height, rec.index, rec.tx, rec.result) == (3, 0, b"k1=v", ExecTxResult())
    kv.delete(b"blockstore/r" + struct.pack(">Q", 3))
    kv.put(b"ix/th" + h, good)
    assert ix.get_tx(h) is not None  # (the records of the heights read last are kept: never rewritten once stored)
    with pytest.raises(SearchError, match="results"):  # the block store lost the block's results
        Indexer(kv).get_tx(h)

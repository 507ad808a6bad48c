"""One event/result shape from the application to the wire: the application's records are the RPC views,
the block's results reach the indexer and the event bus untouched, and every event of a block takes its tx
result JSON from one per-block encoding."""

from __future__ import annotations

import asyncio
import json

from node.events import EventBus, _may_match
from node.indexer import Indexer
from node.rpc import adapt, encode
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
        assert new_block is not None and all(e is not None for e in tx_events)
        rfb = new_block.data["value"]["result_finalize_block"]
        for i, e in enumerate(tx_events):
            assert e is not None
            tr = e.data["value"]["TxResult"]
            assert tr["index"] == i and tr["result"] is rfb["tx_results"][i]  # one dict, encoded once per block
            assert tr["result"] == encode.tx_result(res.tx_results[i])
            assert e.events.get("lg.id") == ([f"LG-{i}"] if i % 2 == 0 else None)
        assert rfb["tx_results"][0]["events"][0]["attributes"][1] == {"key": "note", "value": "ไทย", "index": False}
        text = _event_json(new_block)
        assert json.loads(text.rsplit(',"events":', 1)[0])["value"]["block"]["header"]["height"] == "3"

    asyncio.run(go())


def test_the_indexer_takes_the_records_as_they_are() -> None:
    block, res = _block((b"k1=v", b"k2=v"))
    kv = MemoryKV()
    ix = Indexer(kv)
    b = kv.batch()
    ix.index_chain_block(b, block, res)
    b.commit()
    rec = ix.get_tx(sha256(b"k1=v"))
    assert rec is not None and rec.result == res.tx_results[0] and type(rec.result) is ExecTxResult

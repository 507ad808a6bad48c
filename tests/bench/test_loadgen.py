"""The load generator's bookkeeping without a network: the `outstanding` bound per lane and the saturation
check of a staircase whose lanes were held back by it."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from devnet.bench.loadgen import LoadSettings, Prepared, Run, read_new_block
from node.events import EventBus
from node.rpc.websocket import _event_json
from state.chain import (
    Block,
    BlockID,
    Commit,
    Event,
    EventAttribute,
    ExecTxResult,
    FinalizeBlockResult,
    Header,
    PartSetHeader,
)
from state.crypto import sha256


def _run(rates: list[float], step_s: float, n_per_step: int, lanes: int = 1) -> Run:
    due = [k * step_s + j * step_s / n_per_step for k in range(len(rates)) for j in range(n_per_step)]
    prep = Prepared(due=due, step=[int(d // step_s) for d in due], lane=[i % lanes for i in range(len(due))],
                    payload=["{}"] * len(due), hashes={}, step_starts=[k * step_s for k in range(len(rates))],
                    gen_s=0.0)
    settings = LoadSettings(rates=rates, step_s=step_s, lanes_per_node=lanes, outstanding=3)
    return Run(settings, ["http://127.0.0.1:1"], [], prep, lambda _: None)


def test_a_lane_counts_its_txs_until_committed_or_refused() -> None:
    r = _run([10.0], 1.0, 10)
    r.t0 = time.monotonic()
    for i in range(3):
        r.open_txs[0].append(i)
    assert r._outstanding(0) == 3
    r._answer({"id": 0, "result": {"code": 0}}, 0)  # accepted: still outstanding until committed
    r._answer({"id": 1, "error": {"message": "mempool is full"}}, 0)  # refused: settled
    assert r._outstanding(0) == 3  # only the head is popped: tx 0 is not settled yet
    r._settle(0)  # seen committed
    assert r._outstanding(0) == 1 and list(r.open_txs[0]) == [2]


def test_a_staircase_held_back_by_the_bound_is_found_saturated() -> None:
    """The lanes sent only what was committed (a third of the offered rate): the step is saturated although
    committed == sent, because the offered rate is judged from the txs due in the window."""
    r = _run([90.0, 180.0], 1.0, 90)
    r.t0 = time.monotonic() - 5.0  # both steps are over: the watch does not sleep
    for i in range(0, 90, 3):  # a third of step 0 sent, and committed, inside the window
        r.r.sent[i] = r.p.due[i]
    r.r.blocks.append({"height": 2, "time": "", "at": 0.9, "txs": 25, "ours": 25})
    asyncio.run(r._saturation_watch())
    assert r.saturated_at == 0


def test_txs_held_back_by_the_bound_are_told_apart_from_the_generators_own_lateness() -> None:
    """Five txs due at once on a lane bounded at 3 outstanding: the last two wait for commits, and the
    report says so (the generator could not offer them on time because the network had not committed)."""
    r = _run([5.0], 1.0, 5)
    r.p.due[:] = [0.0] * 5
    sent: list[int] = []

    async def send(i: int) -> None:
        sent.append(i)

    async def main() -> None:
        r.t0 = time.monotonic()
        pacer = asyncio.create_task(r._paced(0, list(range(5)), send))
        for k in range(2):
            await asyncio.sleep(0.05)
            assert len(sent) == 3 + k  # held at the bound until a commit settles one
            r._settle(k)
        await asyncio.wait_for(pacer, 5)

    asyncio.run(main())
    assert sent == [0, 1, 2, 3, 4]
    assert r.r.held[:3] == [0.0] * 3 and all(h > 0.03 for h in r.r.held[3:])
    rep = r.sender_report()
    assert rep["sent"] == 5 and rep["held_back"] == 2 and rep["lanes"] == {"0": {"sent": 5, "held_back": 2}}
    assert rep["held_wait_s_p50"] is not None and rep["own_lag_s_max"] is not None
    assert rep["own_lag_s_max"] < min(r.r.held[3:])  # the wait is not counted as the generator's own lateness


# ---------------------------------------------------------------- the commit observer reads a NewBlock message


def _message(txs: tuple[bytes, ...], results: tuple[ExecTxResult, ...]) -> str:
    """The NewBlock message the node writes to the subscriber (node/events.py, node/rpc/websocket.py)."""
    hdr = Header(11, 1, "egp-test", 7, 1_736_935_200_000, BlockID(sha256(b"6"), PartSetHeader(1, Z)), Z, Z, Z, Z,
                 Z, b"", Z, Z, b"\x01" * 20)
    res = FinalizeBlockResult((Event("blk", (EventAttribute("n", '{"code":9,"data":', True),)),), results, (),
                              b"", b"\xaa" * 32)

    async def go() -> str:
        bus = EventBus()
        sub = bus.subscribe("obs", "tm.event='NewBlock'")
        bus.publish_chain_block(Block(hdr, txs, (), Commit.empty()), res)
        ev = await sub.next()
        assert ev is not None
        head = '{"jsonrpc":"2.0","id":"bench","result":{"query":"tm.event=\'NewBlock\'","data":'
        return head + _event_json(ev) + "}}"

    return asyncio.run(go())


def _whole(text: str) -> tuple[dict[str, Any], list[str], list[int]]:
    value = json.loads(text)["result"]["data"]["value"]
    return (value["block"]["header"], value["block"]["data"]["txs"] or [],
            [r["code"] for r in value["result_finalize_block"]["tx_results"]])


Z = b"\x00" * 32
_odd = st.lists(st.sampled_from([*'{}[]",:\\ abc0ไ', '{"code":1,"data":', '],"validator_updates":']),
                max_size=6).map("".join)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=1, max_size=40), st.integers(0, 2**32 - 1), _odd, _odd, _odd),
                max_size=6))
def test_read_new_block_reads_what_the_whole_message_says(rows: list[tuple[bytes, int, str, str, str]]) -> None:
    """Header, txs and deliver codes as a full parse finds them, whatever the logs and event values say."""
    txs = tuple(r[0] for r in rows)
    results = tuple(ExecTxResult(code, b"\x01", log, "", 1, 2, (Event("lg", (EventAttribute("v", val, True),)),),
                                 space) for _, code, log, val, space in rows)
    text = _message(txs, results)
    assert read_new_block(text) == _whole(text)
    assert _whole(text)[1] == [base64.b64encode(t).decode() for t in txs]


def test_read_new_block_leaves_other_messages_to_the_full_parse() -> None:
    assert read_new_block('{"jsonrpc":"2.0","id":"bench","result":{}}') is None
    assert read_new_block('{"jsonrpc":"2.0","id":"bench","error":{"code":-32000,"message":"x"}}') is None
    text = _message((b"a", b"b"), (ExecTxResult(), ExecTxResult(3)))
    cut = text.replace('"tx_results":[{"code":0,', '"tx_results":[{"code":0 ,')  # not the node's shape
    assert read_new_block(cut) is None and read_new_block(text) is not None


def test_the_observer_records_the_same_commits_either_way() -> None:
    """`_observe`'s two paths (read_new_block, the full parse) record the same commits and codes; a tx is
    known by its base64 text, a tx not found so (not ours) by its SHA-256."""
    txs = [b"tx-%d" % i for i in range(5)]
    payload = [f'{{"jsonrpc":"2.0","id":{i},"method":"broadcast_tx_sync","params":{{"tx":"'
               f'{base64.b64encode(t).decode()}"}}}}' for i, t in enumerate(txs)]
    block = (txs[3], b"foreign", txs[0], txs[4])
    text = _message(block, (ExecTxResult(), ExecTxResult(), ExecTxResult(5), ExecTxResult()))
    records = []
    for fast in (True, False):
        by_text = {base64.b64encode(t).decode(): i for i, t in enumerate(txs)} if fast else {}
        prep = Prepared(due=[0.0] * 5, step=[0] * 5, lane=[0] * 5, payload=payload,
                        hashes={sha256(t): i for i, t in enumerate(txs)}, step_starts=[0.0], gen_s=0.0,
                        by_text=by_text)
        r = Run(LoadSettings(rates=[5.0]), ["http://127.0.0.1:1"], [], prep, lambda _: None)
        parts = read_new_block(text) if fast else _whole(text)
        assert parts is not None
        r._on_block(*parts, 1.5)
        records.append((r.r.committed, r.r.deliver_code, r.r.blocks, r.app_hash))
    assert records[0] == records[1]
    assert records[0][0] == [1.5, 0.0, 0.0, 1.5, 1.5] and records[0][1] == [5, -1, -1, 0, 0]
    assert records[0][2] == [{"height": 7, "time": records[0][2][0]["time"], "at": 1.5, "txs": 4, "ours": 3}]


def test_an_answer_read_from_its_text_is_recorded_as_the_parsed_one() -> None:
    """`_answer_text` (accepted answers matched, not parsed) records what `_answer(json.loads(...))` does."""
    texts = ['{"jsonrpc":"2.0","id":0,"result":{"code":0,"data":"","log":"","codespace":"","hash":"AB"}}',
             '{"jsonrpc":"2.0","id":1,"result":{"code":108,"data":"","log":"nonce","codespace":"egp","hash":"AB"}}',
             '{"jsonrpc":"2.0","id":2,"error":{"code":-32603,"message":"Internal error","data":"mempool is full"}}',
             '{"jsonrpc":"2.0","id":99,"result":{"code":0,"data":"","log":"","codespace":"","hash":"AB"}}',
             '{"jsonrpc":"2.0","id":"x","result":{"code":0,"data":"","log":"","codespace":"","hash":"AB"}}',
             '{"jsonrpc":"2.0","id":3,"result":{"code":0,"data":"","log":"","codespace":"","hash":"AB"}}']
    seen = []
    for by_text in (True, False):
        r = _run([10.0], 1.0, 5)
        r.t0 = time.monotonic()
        r.r.committed[3] = 1.0
        r.inflight[0] = 6
        for t in texts:
            if by_text:
                r._answer_text(t, 0)
            else:
                r._answer(json.loads(t), 0)
        seen.append((r.r.check_code, r.r.rpc_error, r.inflight, r.accepted, r.committed_accepted, bytes(r.settled),
                     [bool(a) for a in r.r.answered]))
    assert seen[0] == seen[1]
    assert seen[0][0] == [0, 108, -2, 0, -1] and seen[0][3:5] == (2, 1)


def test_the_ws_frames_carry_the_requests_and_the_texts_find_their_txs() -> None:
    """`prepare` keeps one form of each request: for the ws transport the masked frame, which carries the
    JSON-RPC request the http transport would post; each tx's base64 text finds its (first) number."""
    from devnet.bench.loadplan import prepare

    preps = {t: prepare(LoadSettings(rates=[40.0], step_s=1.0, transport=t, causal_gap_s=0.0), 2, lambda _: None)
             for t in ("ws", "http")}
    ws, http = preps["ws"], preps["http"]
    assert ws.payload == [] and http.frames == [] and len(ws.frames) == len(http.payload) == 40
    for prep in (ws, http):
        for i in range(40):
            doc = json.loads(prep.request_text(i))
            assert doc["id"] == i and doc["method"] == "broadcast_tx_sync"
            j = prep.by_text[doc["params"]["tx"]]
            assert j <= i and json.loads(prep.request_text(j))["params"] == doc["params"]
            assert prep.hashes[sha256(base64.b64decode(doc["params"]["tx"]))] == j

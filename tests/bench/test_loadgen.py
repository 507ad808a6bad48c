"""The load generator's bookkeeping without a network: the `outstanding` bound per lane and the saturation
check of a staircase whose lanes were held back by it."""

from __future__ import annotations

import asyncio
import time

from devnet.bench.loadgen import LoadSettings, Prepared, Run


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

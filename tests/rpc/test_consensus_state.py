"""`consensus_state` / `dump_consensus_state`: CometBFT 0.38's shapes (fixture), and the real core's position
on an in-process node that is committing (its height, its own prevote and precommit, a sane step)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from node import round_view
from node.rpc.methods_consensus import bit_array, vote_string
from node.rpc.services import VoteSlotView, VoteView
from tests.consensus.helpers import ADDR, VS, A, H, new_core, prop, pv
from tests.rpc.chain_fixture import FixtureChain
from tests.rpc.conftest import init_single_home, inprocess_node, run, serve, wait_height

VOTE = re.compile(r"^Vote\{\d+:[0-9A-F]{12} \d+/\d\d/[12]\((Prevote|Precommit)\) [0-9A-F]{12} [0-9A-F]{12} @ \S+Z\}$")


def test_vote_strings_and_bit_arrays_as_cometbft_prints_them() -> None:
    v = VoteView(1, 7, 0, bytes.fromhex("634ADAF1F402") + b"\x00" * 26, 1_564_660_355_513,
                 bytes.fromhex("7BB974E1BA40") * 2)
    s = VoteSlotView(0, bytes.fromhex("000001E443FD") + b"\x00" * 14, v)
    assert vote_string(s) == "Vote{0:000001E443FD 7/00/1(Prevote) 634ADAF1F402 7BB974E1BA40 @ 2019-08-01T11:52:35.513Z}"
    nil = VoteView(2, 7, 1, None, 0, b"\x02" * 64)
    assert "7/01/2(Precommit) 000000000000 020202020202" in vote_string(VoteSlotView(3, b"\x01" * 20, nil))
    assert vote_string(VoteSlotView(1, b"\x01" * 20, None)) == "nil-Vote"
    slots = (s, VoteSlotView(1, b"\x01" * 20, None), s)
    assert bit_array(slots, 2, 3) == "BA{3:x_x} 2/3 = 0.67"
    assert bit_array((), 0, 0) == "BA{0:} 0/0 = 0.00"


def test_the_view_of_a_core_in_a_round_with_votes() -> None:
    """The real core (four validators, tests/consensus/helpers.py): after validator 0's proposal and three
    prevotes for it, the view is at step Precommit of round 0, locked on the value, the votes in their places."""
    core = new_core()
    core.start_height(H, VS)
    for ev in (prop(0, A), pv(0, 0, A), pv(1, 0, A), pv(2, 0, A)):
        core.handle(ev)
    rs = round_view.round_state(core, in_consensus=True, next_height=H, next_valset=VS, round_started_ms=1_000)
    assert (rs.height, rs.round, rs.step, rs.start_time_ns) == (H, 0, round_view.STEP_PRECOMMIT, 1_000_000_000)
    assert rs.proposal_block_hash == A and rs.locked_block_hash == A and rs.locked_round == 0
    assert rs.proposer_index == 0 and [v.address for v in rs.validators] == ADDR
    [r0] = rs.votes
    assert [s.vote is not None for s in r0.prevotes] == [True, True, True, False]
    assert (r0.prevote_power, r0.total_power) == (3, 4)
    waiting = round_view.round_state(core, in_consensus=True, next_height=H + 1, next_valset=VS,
                                      round_started_ms=1_000)
    assert waiting.step == round_view.STEP_NEW_HEIGHT and waiting.votes == () and waiting.start_time_ns
    assert waiting.proposer_index == VS.index_of(VS.proposer)
    syncing = round_view.round_state(core, in_consensus=False, next_height=H + 5, next_valset=VS,
                                      round_started_ms=1_000)
    assert (syncing.height, syncing.step, syncing.start_time_ns) == (H + 5, round_view.STEP_NEW_HEIGHT, None)


def test_shapes_over_the_server(chain: FixtureChain) -> None:
    chain.make_block([b"lg/1=issued"])

    async def go() -> None:
        async with serve(chain) as c:
            rs = (await c.result("consensus_state"))["round_state"]
            assert rs["height/round/step"] == "2/0/4"
            assert rs["proposal_block_hash"] == "AB" * 32 and rs["locked_block_hash"] == ""
            [r0] = rs["height_vote_set"]
            assert r0["round"] == 0 and VOTE.match(r0["prevotes"][0]) and r0["precommits"][0] == "nil-Vote"
            assert r0["prevotes_bit_array"].startswith("BA{") and rs["proposer"]["index"] == 0
            dump = await c.result("dump_consensus_state")
            d = dump["round_state"]
            assert d["height"] == "2" and d["step"] == 4 and d["locked_round"] == -1
            assert d["validators"]["proposer"]["address"] == rs["proposer"]["address"]
            [peer] = dump["peers"]
            assert peer["node_address"].startswith("ab" * 20 + "@")
            assert peer["peer_state"]["round_state"] == {"height": "2", "round": 0, "step": 3}

    run(go)


@pytest.mark.e2e
def test_a_committing_node_reports_its_round_and_its_own_votes(tmp_path: Path) -> None:
    init_single_home(tmp_path / "home", "egp-cs")

    async def go() -> None:
        async with inprocess_node(tmp_path / "home") as (_node, c):
            await wait_height(c, 2)
            # a sole validator passes propose/prevote/precommit within one loop turn: it is seen waiting
            # for the next height (NewHeight, 1) or committing (Commit, 8)
            rs = (await c.result("consensus_state"))["round_state"]
            latest = int((await c.result("status"))["sync_info"]["latest_block_height"])
            h, r, step = (int(x) for x in rs["height/round/step"].split("/"))
            assert h in (latest + 1, latest + 2) and r >= 0 and step in (1, 8)
            assert rs["start_time"] > "2000"
            dump = await c.result("dump_consensus_state")
            d = dump["round_state"]
            [me] = d["validators"]["validators"]
            assert d["validators"]["proposer"]["address"] == me["address"] and dump["peers"] == []
            # a sole validator's own votes are in the set of every round it has passed
            votes = [v for rv in d["votes"] for v in rv["prevotes"] + rv["precommits"] if v != "nil-Vote"]
            assert all(VOTE.match(v) and f":{me['address'][:12]} " in v for v in votes)

    run(go)

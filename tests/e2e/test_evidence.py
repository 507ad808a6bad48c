"""A validator that double-votes is caught end to end: the honest nodes detect the conflicting prevotes,
the evidence is gossiped and proposed, the application receives the misbehaviour and jails the validator,
whose power is 0 at the latest height while `validators` at an older height still shows it.

The Byzantine node runs through the fault harness's test-only entry (devnet/faults/entry.py, node/byzantine.py
double-vote mode: every prevote is followed by a conflicting one signed with the raw key)."""

from __future__ import annotations

from typing import Any

import pytest

from devnet.rpc import call

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("e2e")]


def test_double_voting_validator_is_proposed_as_evidence_and_loses_its_power(cluster_factory: Any) -> None:
    c = cluster_factory(non_validators=0)
    c.start_all(only=[0, 1, 2])
    c.start_byzantine(3, "double-vote")
    c.wait_height(0, 1, 60)
    url = c.url(0)
    c.wait(lambda: c.height(3) >= 1, 120, "the Byzantine node's RPC")
    addr = call(c.url(3), "status")["validator_info"]["address"].upper()
    found: dict[str, int] = {}

    def evidence_in_a_block() -> bool:
        for h in range(found.get("scanned", 0) + 1, c.height(0) + 1):
            evidence = call(url, "block", {"height": str(h)})["block"]["evidence"]["evidence"]
            found["scanned"] = h  # after the answer: a height whose ask failed is asked again
            if evidence:
                found["at"] = h
                return True
        return False

    c.wait(evidence_in_a_block, 180, "duplicate-vote evidence in a block")
    h = found["at"]
    events = call(url, "block_results", {"height": str(h)})["finalize_block_events"]
    assert any(e["type"] == "evidence" for e in events), events

    def jailed() -> bool:
        vals = call(url, "validators", {"height": str(c.tip(0))})["validators"]
        return all(v["address"].upper() != addr or v["voting_power"] == "0" for v in vals)

    c.wait(jailed, 180, "the double-voter's power to drop to 0")
    before = call(url, "validators", {"height": "1"})  # history: the set of height 1 still has it
    assert any(v["address"].upper() == addr and v["voting_power"] == "10" for v in before["validators"])
    top = c.tip(0)
    c.wait_height(1, top)
    c.wait_height(2, top)
    c.assert_same_chain([0, 1, 2], top)

"""A validator-set change voted on the ledger takes effect at H+2 and the new validator signs blocks."""

from __future__ import annotations

from typing import Any

import pytest

from devnet.rpc import broadcast, call
from node.privval import LastSignState, save_state
from state.crypto import PrivateKey, save_priv_validator_key
from state.txs import ApproveValidator, ProposeValidator, sign_tx

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("e2e")]


def test_new_validator_approved_by_two_thirds_joins_and_signs(cluster_factory: Any) -> None:
    c = cluster_factory()
    home4 = c.net.nodes[4].home
    key = PrivateKey.generate()
    save_priv_validator_key(home4 / "config" / "priv_validator_key.json", key)
    save_state(home4 / "data" / "priv_validator_state.json", LastSignState())
    c.start_all()
    c.wait_height(0, 2)
    chain_id, url = c.net.chain_id, c.url(0)
    assert broadcast(url, sign_tx(c.net.account("registrar").key, chain_id, 0,
                                  ProposeValidator(key.public_key.raw, 10, "006")))["code"] == 0
    c.wait_height(0, c.tip(0) + 2)
    for bank in ("ktb", "bbl", "kbank"):  # 30 of 40: more than 2/3
        assert broadcast(url, sign_tx(c.net.account(bank).key, chain_id, 0, ApproveValidator(1)))["code"] == 0
    addr = key.address.hex().upper()

    def signed_by_new() -> bool:
        h = c.tip(0)
        sigs = call(url, "commit", {"height": str(h)})["signed_header"]["commit"]["signatures"]
        return any(s.get("validator_address", "").upper() == addr and s["block_id_flag"] == 2 for s in sigs)

    c.wait(signed_by_new, 180, "the new validator's precommit in a commit")
    vals = call(url, "validators", {"height": str(c.tip(0))})
    assert int(vals["total"]) == 5
    c.kill9(3)  # 40 of 50 remain: only enough because the new validator counts
    h = c.tip(0)
    c.wait_height(0, h + 3)
    c.assert_same_chain([0, 1, 2, 4], h + 3)

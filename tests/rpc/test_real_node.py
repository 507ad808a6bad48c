"""The RPC over the real node assembled in-process (node/assemble.py): LevelDB block store, the real
Application, mempool, commit path, indexer and event bus behind node/services.py. Real signed txs go in;
what comes out is checked against the chain (the Tx event, `tx` at once after commit, `tx_search` by the
application's indexed attributes, abci_query with a proof that verifies against the next header's app hash).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from consensus.sign_bytes import vote_sign_bytes
from consensus.types import Vote, VoteType
from node.messages import EvidenceMsg, VoteMsg
from state.crypto import PrivateKey
from state.proofs import StateProof
from state.txs import RegisterSupplier, sign_tx
from tests.rpc.conftest import REGISTRAR, Client, init_single_home, inprocess_node, run, wait_height

TAX_A, TAX_B = "0105551234567", "0105551234575"


@pytest.mark.e2e
def test_rpc_over_the_real_node(tmp_path: Path) -> None:
    init_single_home(tmp_path / "home", "egp-inproc")

    async def go() -> None:
        async with inprocess_node(tmp_path / "home") as (node, c):
            await _check(c, REGISTRAR)
            assert node.pv is not None
            await _check_evidence(c, node.pv.key)

    run(go)


async def _check(c: Client, reg: PrivateKey) -> None:
    await wait_height(c, 1)
    st = await c.result("status")
    assert st["node_info"]["network"] == "egp-inproc" and st["validator_info"]["voting_power"] != "0"
    key_a = PrivateKey.from_seed(b"\x01" * 32).public_key.raw
    key_b = PrivateKey.from_seed(b"\x02" * 32).public_key.raw
    tx_a = sign_tx(reg, "egp-inproc", 0, RegisterSupplier(TAX_A, "Supplier A", (key_a,)))
    tx_b = sign_tx(reg, "egp-inproc", 1, RegisterSupplier(TAX_B, "Supplier B", (key_b,)))

    async with c.session.ws_connect(c.base + "/websocket") as ws:
        await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 9, "method": "subscribe",
                                      "params": {"query": f"tm.event='Tx' AND reg.supplier='{TAX_B}'"}}))
        assert json.loads((await ws.receive(timeout=10)).data)["result"] == {}
        for _ in range(2):  # a dry run as a NEW tx: the registrar's sequence number does not move
            ck = await c.result("check_tx", tx=base64.b64encode(tx_a).decode())
            assert ck["code"] == 0, ck
        sync = await c.result("broadcast_tx_sync", tx=base64.b64encode(tx_a).decode())
        assert sync["code"] == 0, sync
        dup = await c.error("broadcast_tx_sync", tx=base64.b64encode(tx_a).decode())
        assert dup["data"] == "tx already exists in cache"
        done = await c.result("broadcast_tx_commit", tx=base64.b64encode(tx_b).decode())
        assert done["tx_result"]["code"] == 0 and int(done["height"]) >= 1, done
        ev = json.loads((await ws.receive(timeout=10)).data)
        assert ev["id"] == 9 and ev["result"]["events"]["tx.hash"] == [done["hash"]]

    got = await c.result("tx", hash=done["hash"], prove=True)  # indexed in the commit batch: found at once
    assert got["height"] == done["height"]
    hdr = (await c.result("block", height=got["height"]))["block"]["header"]
    assert got["proof"]["root_hash"] == hdr["data_hash"]
    assert got["hash"] == hashlib.sha256(tx_b).hexdigest().upper()
    found = await c.result("tx_search", query=f"reg.supplier='{TAX_B}'")
    assert found["total_count"] == "1" and found["txs"][0]["hash"] == done["hash"]
    both = await c.result("tx_search", query="reg.action='supplier'")
    assert both["total_count"] == "2"  # tx_a (nonce 0) is committed no later than tx_b (nonce 1)

    q = (await c.result("abci_query", path=f"/supplier/{TAX_B}", prove=True))["response"]
    assert q["code"] == 0 and json.loads(base64.b64decode(q["value"]))["result"]["name"] == "Supplier B"
    h = int(q["height"])
    await wait_height(c, h + 1)
    next_hdr: dict[str, Any] = (await c.result("header", height=str(h + 1)))["header"]
    op = q["proof_ops"]["ops"][0]
    proof = StateProof.decode(base64.b64decode(op["data"]))
    assert op["type"] == "egp/trie" and proof.key == base64.b64decode(op["key"])
    assert proof.verify(bytes.fromhex(next_hdr["app_hash"]))  # the state record under the signed app hash

    br = await c.result("block_results", height=done["height"])
    assert any(r["events"] for r in br["txs_results"])
    cm = await c.result("commit", height=done["height"])
    assert cm["signed_header"]["header"]["height"] == done["height"]
    vals = await c.result("validators")
    assert vals["total"] == "1"
    first = await c.result("validators", height="1")  # every stored height answers, not only the latest
    assert first["block_height"] == "1" and first["total"] == "1"
    assert first["validators"][0]["address"] == vals["validators"][0]["address"]
    cp = await c.result("consensus_params", height="1")
    assert cp["block_height"] == "1" and cp["consensus_params"]["block"]["max_bytes"] == "1048576"
    # the agreed timeouts, next_block_delay among them, as genesis.json writes them
    gen = (await c.result("genesis"))["genesis"]
    assert cp["consensus_params"]["timeouts"] == gen["consensus_params"]["timeouts"]
    assert cp["consensus_params"]["timeouts"]["next_block_delay"] == "100ms"
    assert (await c.result("abci_info"))["response"]["last_block_height"] != "0"
    assert gen["chain_id"] == "egp-inproc"
    assert (await c.result("num_unconfirmed_txs"))["total"] == "0"


async def _check_evidence(c: Client, key: PrivateKey) -> None:
    """A client's duplicate-vote evidence is verified, proposed in a block and handed to the application."""
    votes = []
    for value in (b"\x01" * 32, b"\x02" * 32):
        v = Vote(VoteType.PREVOTE, 1, 7, value, key.address, 1_767_225_600_000)
        votes.append(VoteMsg.of(replace(v, signature=key.sign(vote_sign_bytes("egp-inproc", v)))))
    ev = EvidenceMsg(votes[0], votes[1])
    raw = base64.b64encode(ev.encode()).decode()
    forged = EvidenceMsg(votes[0], replace(votes[1], signature=b"\0" * 64))
    bad = await c.error("broadcast_evidence", evidence={"type": "egp/Evidence",
                                                        "value": base64.b64encode(forged.encode()).decode()})
    assert bad["data"] == "failed to add evidence: bad evidence signature"
    ok = await c.result("broadcast_evidence", evidence={"type": "egp/Evidence", "value": raw})
    start = int((await c.result("status"))["sync_info"]["latest_block_height"])
    for h in range(start, start + 30):
        await wait_height(c, h)
        blk = (await c.result("block", height=str(h)))["block"]
        if blk["evidence"]["evidence"]:
            assert len(blk["evidence"]["evidence"]) == 1
            break
    else:
        raise AssertionError("the evidence was not proposed")
    res = await c.result("block_results", height=str(h))
    assert any(e["type"] == "evidence" for e in res["finalize_block_events"])  # the app received Misbehavior
    again = await c.error("broadcast_evidence", evidence={"type": "egp/Evidence", "value": raw})
    assert again["data"] == "failed to add evidence: evidence was already committed"
    assert len(ok["hash"]) == 64

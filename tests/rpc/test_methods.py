"""Every method over a real server: CometBFT v0.38 shapes (docs/cometbft.md §4.3) and its errors."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from node.rpc.config import RpcConfig
from state.merkle import Proof
from tests.rpc.chain_fixture import CHAIN_ID, FixtureChain
from tests.rpc.conftest import run, serve

HEX = re.compile(r"^[0-9A-F]*$")
HASH = re.compile(r"^[0-9A-F]{64}$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def check_block_id(bid: dict[str, Any]) -> None:
    assert HASH.match(bid["hash"]) and HASH.match(bid["parts"]["hash"])
    assert isinstance(bid["parts"]["total"], int) and bid["parts"]["total"] > 0


def check_header(h: dict[str, Any], height: int) -> None:
    assert h["chain_id"] == CHAIN_ID and h["height"] == str(height)
    assert TIME.match(h["time"]) and h["version"]["block"] == "11"
    for k in ("last_commit_hash", "data_hash", "validators_hash", "next_validators_hash", "consensus_hash",
              "app_hash", "last_results_hash", "evidence_hash", "proposer_address"):
        assert isinstance(h[k], str) and HEX.match(h[k]), k
    assert len(h["proposer_address"]) == 40
    if height == 1:
        assert h["last_block_id"] == {"hash": "", "parts": {"total": 0, "hash": ""}}
    else:
        check_block_id(h["last_block_id"])


def test_status_block_commit_and_chain_views(chain: FixtureChain) -> None:
    chain.make_block([b"lg/1=issued"])
    chain.make_block([b"lg/2=issued", b"lg/1=active"])

    async def go() -> None:
        async with serve(chain) as c:
            assert await c.result("health") == {}
            st = await c.result("status")
            ni, si, vi = st["node_info"], st["sync_info"], st["validator_info"]
            assert ni["version"].startswith("0.38.") and ni["network"] == CHAIN_ID
            assert re.fullmatch(r"[0-9a-f]{40}", ni["id"]) and ni["moniker"]
            assert all(isinstance(v, str) for v in ni["other"].values())
            assert all(re.fullmatch(r"\d+", v) for v in ni["protocol_version"].values())
            assert si["latest_block_height"] == "2" and HASH.match(si["latest_block_hash"])
            assert HASH.match(si["latest_app_hash"]) and si["catching_up"] is False
            assert si["earliest_block_height"] == "1" and TIME.match(si["latest_block_time"])
            assert vi["pub_key"]["type"] == "tendermint/PubKeyEd25519" and vi["voting_power"] == "10"

            blk = await c.result("block", height="2")
            check_block_id(blk["block_id"])
            check_header(blk["block"]["header"], 2)
            assert blk["block"]["data"]["txs"] == [b64(b"lg/2=issued"), b64(b"lg/1=active")]
            lc = blk["block"]["last_commit"]
            assert lc["height"] == "1" and lc["round"] == 0
            sig = lc["signatures"][0]
            assert sig["block_id_flag"] == 2 and TIME.match(sig["timestamp"]) and len(sig["validator_address"]) == 40
            assert len(base64.b64decode(sig["signature"])) == 64
            assert blk["block"]["header"]["time"] == "2025-01-15T10:00:02.512Z"

            first = await c.result("block", height=1)
            assert first["block"]["last_commit"] == {
                "height": "0", "round": 0, "block_id": {"hash": "", "parts": {"total": 0, "hash": ""}},
                "signatures": []}
            latest = await c.result("block")
            assert latest["block"]["header"]["height"] == "2"
            by_hash = await c.result("block_by_hash", hash=b64(bytes.fromhex(blk["block_id"]["hash"])))
            assert by_hash["block_id"] == blk["block_id"]
            by_hex = await c.result("block_by_hash", hash=blk["block_id"]["hash"])
            assert by_hex["block"]["header"]["height"] == "2"

            bc = await c.result("blockchain", minHeight="1", maxHeight="2")
            assert bc["last_height"] == "2" and [m["header"]["height"] for m in bc["block_metas"]] == ["2", "1"]
            assert bc["block_metas"][0]["num_txs"] == "2" and int(bc["block_metas"][0]["block_size"]) > 0

            cm = await c.result("commit", height="1")
            assert cm["canonical"] is True and cm["signed_header"]["commit"]["height"] == "1"
            assert (await c.result("commit"))["canonical"] is False
            hd = await c.result("header", height=2)
            assert hd["header"] == blk["block"]["header"]

            br = await c.result("block_results", height="2")
            assert br["height"] == "2" and len(br["txs_results"]) == 2
            r0 = br["txs_results"][0]
            assert r0["code"] == 0 and r0["gas_used"] == "0"
            assert {"key": "key", "value": "lg/2", "index": True} in r0["events"][0]["attributes"]
            assert br["finalize_block_events"][0]["type"] == "block"

            vals = await c.result("validators", height="1", page="1", per_page="30")
            assert vals["block_height"] == "1" and vals["count"] == "1" and vals["total"] == "1"
            assert vals["validators"][0]["voting_power"] == "10"

            cp = await c.result("consensus_params", height=1)
            assert cp["consensus_params"]["block"]["max_gas"] == "-1"
            assert cp["consensus_params"]["validator"]["pub_key_types"] == ["ed25519"]

            g = await c.result("genesis")
            assert g["genesis"]["chain_id"] == CHAIN_ID and "consensus_params" in g["genesis"]
            gc = await c.result("genesis_chunked", chunk=0)
            assert gc["total"] == "1" and base64.b64decode(gc["data"])

            ni2 = await c.result("net_info")
            assert ni2["n_peers"] == "1" and ni2["peers"][0]["node_info"]["moniker"] == "bank-b"

    run(go)


def test_height_errors_are_cometbft_messages_with_http_200(chain: FixtureChain) -> None:
    chain.make_block([b"a=1"])

    async def go() -> None:
        async with serve(chain) as c:
            e = await c.error("block", height="99")
            assert e["code"] == -32603
            assert e["data"] == "height 99 must be less than or equal to the current blockchain height 1"
            e = await c.error("block", height=0)
            assert e["data"] == "height must be greater than 0, but got 0"
            e = await c.error("block", height="x")
            assert e["code"] == -32602 and "height" in e["data"]
            e = await c.error("validators", page=5)
            assert e["data"] == "page should be within [1, 1] range, given 5"
            e = await c.error("blockchain", minHeight=-1)
            assert e["data"] == "heights must be non-negative"
            e = await c.error("no_such_method")
            assert e["code"] == -32601
            e = await c.error("block", heigth=1)
            assert e["code"] == -32602 and "heigth" in e["data"]
            e = await c.error("subscribe", query="tm.event='NewBlock'")
            assert e["code"] == -32601 and "WebSocket" in e["data"]

    run(go)


def test_broadcast_mempool_tx_and_proof(chain: FixtureChain) -> None:
    async def go() -> None:
        async with serve(chain) as c:
            tx = b"lg/7=issued"
            r = await c.result("broadcast_tx_sync", tx=b64(tx))
            assert r == {"code": 0, "data": "", "log": "", "codespace": "",
                         "hash": hashlib.sha256(tx).hexdigest().upper()}
            e = await c.error("broadcast_tx_sync", tx=b64(tx))
            assert e == {"code": -32603, "message": "Internal error", "data": "tx already exists in cache"}
            bad = await c.result("broadcast_tx_sync", tx=b64(b"bad=1"))
            assert bad["code"] == 1 and bad["codespace"] == "kv"
            a = await c.result("broadcast_tx_async", tx=b64(b"lg/8=issued"))
            assert a["code"] == 0 and HASH.match(a["hash"])
            n = await c.result("num_unconfirmed_txs")
            assert n["total"] == "2" and n["total_bytes"] == str(len(tx) + len(b"lg/8=issued"))
            u = await c.result("unconfirmed_txs", limit="1")
            assert u["n_txs"] == "1" and u["total"] == "2" and u["txs"] == [b64(tx)]
            ck = await c.result("check_tx", tx=b64(b"bad"))
            assert ck["code"] == 1
            assert (await c.result("num_unconfirmed_txs"))["total"] == "2"  # check_tx adds nothing

            chain.make_block()
            h = hashlib.sha256(tx).digest()
            got = await c.result("tx", hash=b64(h), prove=True)
            assert got["height"] == "1" and got["index"] == 0 and got["tx"] == b64(tx)
            assert got["hash"] == h.hex().upper() and got["tx_result"]["code"] == 0
            p = got["proof"]
            assert p["root_hash"] == (await c.result("block", height=1))["block"]["header"]["data_hash"]
            proof = Proof(int(p["proof"]["total"]), int(p["proof"]["index"]),
                          tuple(base64.b64decode(a) for a in p["proof"]["aunts"]))
            assert proof.verify(bytes.fromhex(p["root_hash"]), h)
            assert "proof" not in await c.result("tx", hash=h.hex())
            e = await c.error("tx", hash=b64(b"\x01" * 32))
            assert e["data"] == f"tx ({'01' * 32}) not found"

    run(go)


def test_broadcast_tx_commit_waits_for_the_block_and_times_out(chain: FixtureChain) -> None:
    async def go() -> None:
        import asyncio

        async with serve(chain, RpcConfig(laddr_port=0, timeout_broadcast_tx_commit_s=0.5)) as c:
            tx = b"lg/9=issued"
            call = asyncio.create_task(c.result("broadcast_tx_commit", tx=b64(tx)))
            while len(chain.mempool) == 0:
                await asyncio.sleep(0.01)
            chain.make_block()
            r = await call
            assert r["height"] == "1" and r["check_tx"]["code"] == 0 and r["tx_result"]["code"] == 0
            assert r["hash"] == hashlib.sha256(tx).hexdigest().upper()
            # the tx is findable the moment the commit returned (index in the commit batch)
            assert (await c.result("tx", hash=r["hash"]))["height"] == "1"
            bad = await c.result("broadcast_tx_commit", tx=b64(b"bad=2"))
            assert bad["height"] == "0" and bad["tx_result"] == {} and bad["check_tx"]["code"] == 1
            e = await c.error("broadcast_tx_commit", tx=b64(b"never=committed"))
            assert e["data"] == "timed out waiting for tx to be included in a block"
            assert not chain.event_bus._waiters

    run(go)


def test_abci_info_query_and_evidence(chain: FixtureChain) -> None:
    chain.make_block([b"lg/1=issued"])

    async def go() -> None:
        async with serve(chain) as c:
            info = (await c.result("abci_info"))["response"]
            assert info["last_block_height"] == "1" and base64.b64decode(info["last_block_app_hash"])
            q = (await c.result("abci_query", path="/store", data=b"lg/1".hex(), prove=True))["response"]
            assert q["code"] == 0 and base64.b64decode(q["value"]) == b"issued" and q["height"] == "1"
            assert q["proof_ops"]["ops"][0]["type"] == "kv:sha256"
            q = (await c.result("abci_query", path="/store", data=b"nope".hex()))["response"]
            assert q["value"] == "" and q["proof_ops"] is None
            q = (await c.result("abci_query", path="/nope"))["response"]
            assert q["code"] == 6
            e = await c.error("abci_query", path="/store", data="zz")
            assert e["code"] == -32602
            ev = await c.result("broadcast_evidence", evidence={"type": "tendermint/DuplicateVoteEvidence",
                                                                "value": {}})
            assert HASH.match(ev["hash"])
            e = await c.error("broadcast_evidence", evidence={"type": "x"})
            assert e["data"] == "failed to add evidence: unsupported evidence type"

    run(go)


def test_status_before_first_block_has_a_non_empty_app_hash(chain: FixtureChain) -> None:
    async def go() -> None:
        async with serve(chain) as c:
            si = (await c.result("status"))["sync_info"]
            assert si["latest_block_height"] == "0" and HASH.match(si["latest_app_hash"])
            e = await c.error("block")
            assert e["code"] == -32603

    run(go)


def test_tx_search_and_block_search_paging_and_order(chain: FixtureChain) -> None:
    for h in range(1, 5):
        chain.make_block([f"lg/{h}-{i}=v{i}".encode() for i in range(3)])

    async def go() -> None:
        async with serve(chain) as c:
            r = await c.result("tx_search", query="kv.owner='lg' AND tx.height>=2", page="1", per_page="4")
            assert r["total_count"] == "9" and len(r["txs"]) == 4
            assert [(t["height"], t["index"]) for t in r["txs"]] == [("2", 0), ("2", 1), ("2", 2), ("3", 0)]
            last = await c.result("tx_search", query="kv.owner='lg' AND tx.height>=2", page="3", per_page="4")
            assert len(last["txs"]) == 1

    async def errors() -> None:
        async with serve(chain) as c:
            e = await c.error("tx_search", query="kv.key='lg/4-2' OR x='y'")
            assert e["code"] == -32603 and "expected AND" in e["data"]
            e = await c.error("tx_search", query="kv.owner='lg'", order_by="up")
            assert e["code"] == -32602
            e = await c.error("tx_search", query="kv.owner='lg'", page=9)
            assert e["data"] == "page should be within [1, 1] range, given 9"
            d = await c.result("tx_search", query="kv.owner='lg'", order_by="desc", per_page=2, prove=True)
            assert [(t["height"], t["index"]) for t in d["txs"]] == [("4", 2), ("4", 1)] and "proof" in d["txs"][0]
            b = await c.result("block_search", query="block.txs=3 AND block.height>1")
            assert b["total_count"] == "3" and [x["block"]["header"]["height"] for x in b["blocks"]] == ["4", "3", "2"]
            b = await c.result("block_search", query="block.height>1", order_by="asc", per_page=1)
            assert b["blocks"][0]["block"]["header"]["height"] == "2"
            e = await c.error("block_search", query="")
            assert e["code"] in (-32602, -32603)

    run(go)
    run(errors)


def test_broadcast_tx_async_reports_mempool_refusals_but_not_check_tx(chain: FixtureChain) -> None:
    async def go() -> None:
        async with serve(chain) as c:
            assert (await c.result("broadcast_tx_async", tx=b64(b"bad")))["code"] == 0  # verdict not reported
            assert (await c.result("broadcast_tx_async", tx=b64(b"x=1")))["code"] == 0
            e = await c.error("broadcast_tx_async", tx=b64(b"x=1"))
            assert e["data"] == "tx already exists in cache"
            assert (await c.result("num_unconfirmed_txs"))["total"] == "1"

    run(go)

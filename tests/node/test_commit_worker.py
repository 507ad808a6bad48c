"""A decided block is committed in a worker thread: the node's loop answers RPC meanwhile.

A real single-validator node (node.assemble.build: LevelDB in a tmp dir, the real application, RPC on
127.0.0.1) commits a block of 1,500 txs. The commit is held twice inside the worker (threading.Events in
front of `BlockApplier.apply` and of the application's commit) so that the test, not the machine's speed,
decides how long it lasts: `health` over HTTP and over WebSocket is answered while it runs; a new tx is
admitted while the block is finalized but waits while the application commits (the mempool lock); `status`,
which reads chain state, waits for the commit and then reports the new height; nothing is half visible.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from pathlib import Path
from typing import Any

import aiohttp

from node.assemble import Running, build
from state.crypto import PrivateKey, sha256
from state.kv import Batch
from tests.node.solo import solo_home, supplier_txs

CHAIN = "egp-commit-worker"
REG = PrivateKey.from_seed(b"\x44" * 32)
N_TXS = 1500


def _home(root: Path) -> Path:
    return solo_home(root, CHAIN, REG, rpc=True)


def _txs(n: int, start: int = 0) -> list[bytes]:
    return supplier_txs(REG, CHAIN, n, start, tax_prefix="0108", key_seed=b"c")


async def _rpc(session: aiohttp.ClientSession, url: str, method: str, **params: Any) -> Any:
    async with session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}) as r:
        doc = await r.json()
    assert "error" not in doc, doc
    return doc["result"]


def results_txs(node: Any, height: int) -> list[bytes]:
    block = node.store.load_block(height)
    return list(block.txs) if block is not None else []


async def _until(cond: Any, what: str, timeout: float = 60.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_node_answers_health_while_it_commits_a_large_block(tmp_path: Path) -> None:
    async def main() -> None:
        run: Running = await build(_home(tmp_path / "h"))
        node = run.node
        txs = _txs(N_TXS)
        for tx in txs:
            assert node.mempool.add(tx).code == 0
        release, entered = threading.Event(), threading.Event()
        held_in: list[str] = []
        apply = node.applier.apply

        def held_apply(*args: Any, **kwargs: Any) -> Any:
            if len(args[1].txs) == N_TXS and not entered.is_set():
                held_in.append(threading.current_thread().name)
                entered.set()
                release.wait(60)
            return apply(*args, **kwargs)

        node.applier.apply = held_apply  # type: ignore[method-assign]
        release2, entered2 = threading.Event(), threading.Event()
        app_commit = run.app.commit

        def held_app_commit(batch: Batch | None = None) -> None:  # the applier's per-block batch
            if entered.is_set() and not entered2.is_set():
                entered2.set()
                release2.wait(60)
            app_commit(batch)

        run.app.commit = held_app_commit  # type: ignore[method-assign]
        late = _txs(2, start=N_TXS)
        await run.p2p.start()
        assert run.rpc is not None
        url = f"http://127.0.0.1:{await run.rpc.start()}"
        try:
            node.start()
            await _until(entered.is_set, "the commit of the large block")
            assert node.committing and held_in and held_in[0].startswith("egp-commit")
            async with aiohttp.ClientSession() as s:
                before = int((await _rpc(s, url, "num_unconfirmed_txs"))["n_txs"])
                assert await _rpc(s, url, "health") == {}  # answered by the loop during the commit
                async with s.ws_connect(url + "/websocket", heartbeat=None) as ws:
                    await ws.send_json({"jsonrpc": "2.0", "id": 7, "method": "health", "params": {}})
                    msg = await ws.receive_json(timeout=30)
                    assert msg["id"] == 7 and msg["result"] == {}
                    await ws.ping()  # the WebSocket control frames are served too
                # while the block is being finalized a new tx goes through check_tx (mempool not locked)
                b64 = base64.b64encode(late[0]).decode()
                assert (await _rpc(s, url, "broadcast_tx_sync", tx=b64))["code"] == 0
                assert node.committing and len(node.mempool) == N_TXS + 1
                status = asyncio.ensure_future(_rpc(s, url, "status"))
                await asyncio.sleep(0.2)
                assert not status.done() and node.committing  # it reads chain state: it waits for the commit
                assert before == N_TXS
                release.set()
                await _until(entered2.is_set, "the application's commit")
                assert node.committing and node.admission.paused  # the mempool is locked for app.commit
                b64 = base64.b64encode(late[1]).decode()
                second = asyncio.ensure_future(_rpc(s, url, "broadcast_tx_sync", tx=b64))
                await asyncio.sleep(0.2)
                assert not second.done() and not status.done()
                release2.set()
                assert (await second)["code"] == 0  # checked after the commit, against the new height
                st = await status
                h = int(st["sync_info"]["latest_block_height"])
                results = await _rpc(s, url, "block_results", height=str(h))
                assert len(results["txs_results"]) == N_TXS  # the whole block is visible at once
                assert all(r["code"] == 0 for r in results["txs_results"])
                assert not any(t in late for t in results_txs(node, h))  # the late txs were not in it
                await _until(lambda: len(node.mempool) == 0, "the late txs' block")
                for t in late:  # admitted and then committed in a later block
                    found = await _rpc(s, url, "tx", hash="0x" + sha256(t).hex())
                    assert int(found["height"]) > h and found["tx_result"]["code"] == 0
        finally:
            release.set()
            release2.set()
            await node.stop()
            await run.rpc.stop()
            await run.p2p.stop()
            run.kv.close()

    asyncio.run(main())

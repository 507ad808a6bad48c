"""A decided block is committed in a worker thread: the node's loop answers RPC meanwhile.

A real single-validator node (node.assemble.build: LevelDB in a tmp dir, the real application, RPC on
127.0.0.1) commits a block of 1,500 txs. The commit is held inside the worker (a threading.Event in front of
`BlockApplier.apply`) so that the test, not the machine's speed, decides how long it lasts: `health` over
HTTP and over WebSocket is answered while it runs; `status`, which reads chain state, waits for the commit
and then reports the new height; nothing of the commit is half visible.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import aiohttp

from node.assemble import Running, build
from node.config import Config
from node.home import init_home
from state.crypto import PrivateKey, sha256
from state.registry import with_check_digit
from state.txs import RegisterSupplier, sign_tx

CHAIN = "egp-commit-worker"
REG = PrivateKey.from_seed(b"\x44" * 32)
N_TXS = 1500


def _home(root: Path) -> Path:
    cfg = Config()
    cfg.p2p.laddr = "tcp://127.0.0.1:0"
    cfg.rpc.laddr = "tcp://127.0.0.1:0"
    cfg.blocksync.enable = False
    init_home(root, moniker="bank-a", chain_id=CHAIN, config=cfg, registrar_pub=REG.public_key.raw)
    return root


def _txs(n: int) -> list[bytes]:
    return [sign_tx(REG, CHAIN, i, RegisterSupplier(with_check_digit(f"0108{i:08d}"), f"Supplier {i}",
                                                    (PrivateKey.from_seed(sha256(b"c" + i.to_bytes(4, "big")))
                                                     .public_key.raw,)))
            for i in range(n)]


async def _rpc(session: aiohttp.ClientSession, url: str, method: str, **params: Any) -> Any:
    async with session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}) as r:
        doc = await r.json()
    assert "error" not in doc, doc
    return doc["result"]


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
                status = asyncio.ensure_future(_rpc(s, url, "status"))
                await asyncio.sleep(0.2)
                assert not status.done() and node.committing  # it reads chain state: it waits for the commit
                assert before == N_TXS
                release.set()
                st = await status
                h = int(st["sync_info"]["latest_block_height"])
                results = await _rpc(s, url, "block_results", height=str(h))
                assert len(results["txs_results"]) == N_TXS  # the whole block is visible at once
                assert all(r["code"] == 0 for r in results["txs_results"])
                await _until(lambda: len(node.mempool) == 0, "the mempool update after the commit")
                assert not node.committing and node.state.last_height == h
        finally:
            release.set()
            await node.stop()
            await run.rpc.stop()
            await run.p2p.stop()
            run.kv.close()

    asyncio.run(main())

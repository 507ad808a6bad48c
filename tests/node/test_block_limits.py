"""Block limits: the proposer never builds a block over the limits, and a block over them is refused.

Why: one block carrying a 5,000-tx backlog held the node's event loop for more than 10 s (RPC timeouts,
failed rounds, SIGTERM unanswered). Genesis `block.max_bytes` (1 MiB by default) and
`blockrules.MAX_TXS_PER_BLOCK` bound a block; these tests use the real node assembly, mempool and application.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from node import blockrules
from node.assemble import Running, build
from node.config import Config
from node.genesis import ConsensusParams
from node.home import init_home
from state.chain import Commit
from state.crypto import PrivateKey, sha256
from state.registry import with_check_digit
from state.txs import RegisterSupplier, sign_tx

CHAIN = "egp-limits"
REG = PrivateKey.from_seed(b"\x42" * 32)


def _home(root: Path, block_max_bytes: int | None = None) -> Path:
    cfg = Config()
    cfg.p2p.laddr = "tcp://127.0.0.1:0"
    cfg.rpc.laddr = ""
    cfg.blocksync.enable = False
    init_home(root, moniker="bank-a", chain_id=CHAIN, config=cfg, registrar_pub=REG.public_key.raw)
    if block_max_bytes is not None:
        g = root / "config" / "genesis.json"
        doc = json.loads(g.read_text())
        doc["consensus_params"]["block"]["max_bytes"] = str(block_max_bytes)
        doc["consensus_params"]["evidence"]["max_bytes"] = str(block_max_bytes // 4)
        g.write_text(json.dumps(doc))
    return root


def _txs(n: int, name_len: int = 40) -> list[bytes]:
    return [sign_tx(REG, CHAIN, i, RegisterSupplier(with_check_digit(f"0105{i:08d}"), f"S{i}".ljust(name_len, "x"),
                                                    (_key(i),))) for i in range(n)]


def _key(i: int) -> bytes:
    return PrivateKey.from_seed(sha256(b"supplier" + i.to_bytes(4, "big"))).public_key.raw


async def _propose(run: Running, txs: list[bytes]) -> tuple[int, int]:
    """Fill the real mempool through check_tx, let the node make its proposal; (txs in it, its bytes). The
    node builds it in its commit worker thread (node/commit_thread.py `CommitThread.build`): the value comes later."""
    for tx in txs:
        assert run.node.mempool.add(tx).code == 0
    st = run.node.state
    assert run.node.request_value(st.height, 0) is None  # built off the loop
    for _ in range(6000):
        if run.node.blocks:
            break
        await asyncio.sleep(0.01)
    assert len(run.node.blocks) == 1
    block, raw = next(iter(run.node.blocks.values()))
    assert run.node.check_block(block) is None  # our own proposal passes our own validation
    return len(block.txs), len(raw)


async def _with_node(home: Path, body) -> None:  # type: ignore[no-untyped-def]
    run = await build(home)
    try:
        await body(run)
    finally:
        assert run.node.commit_worker is not None
        run.node.commit_worker.shutdown(wait=True)
        run.kv.close()


def test_default_genesis_block_limit_is_one_mib() -> None:
    assert ConsensusParams().block_max_bytes == 1024 * 1024


def test_a_backlog_over_the_tx_cap_makes_a_block_of_at_most_the_cap(tmp_path: Path) -> None:
    async def body(run: Running) -> None:
        n_txs, size = await _propose(run, _txs(blockrules.MAX_TXS_PER_BLOCK + 150))
        assert n_txs == blockrules.MAX_TXS_PER_BLOCK
        assert size <= run.node.state.consensus_params.block_max_bytes
        assert len(run.node.mempool) == blockrules.MAX_TXS_PER_BLOCK + 150  # the rest waits for the next block

    asyncio.run(_with_node(_home(tmp_path / "h"), body))


def test_a_backlog_over_max_bytes_makes_a_block_within_max_bytes(tmp_path: Path) -> None:
    limit = 128 * 1024
    txs = _txs(600, name_len=250)
    assert sum(map(len, txs)) > limit

    async def body(run: Running) -> None:
        n_txs, size = await _propose(run, txs)
        assert 0 < n_txs < len(txs) and size <= limit

    asyncio.run(_with_node(_home(tmp_path / "h", block_max_bytes=limit), body))


def test_blocks_over_the_limits_are_refused(tmp_path: Path) -> None:
    async def body(run: Running) -> None:
        node, st = run.node, run.node.state
        assert node.address is not None
        many = [sha256(i.to_bytes(4, "big")) for i in range(blockrules.MAX_TXS_PER_BLOCK + 1)]
        block = blockrules.make_block(st, node.address, Commit.empty(), st.last_block_time_ms, many, ())
        reason = node.check_block(block)
        assert reason is not None and f"exceeds the {blockrules.MAX_TXS_PER_BLOCK} txs" in reason
        big = [bytes([i % 256]) * 1000 for i in range(st.consensus_params.block_max_bytes // 1000 + 10)]
        big = big[:blockrules.MAX_TXS_PER_BLOCK]
        block = blockrules.make_block(st, node.address, Commit.empty(), st.last_block_time_ms, big, ())
        reason = node.check_block(block)
        assert reason is not None and "exceeds max_bytes" in reason

    asyncio.run(_with_node(_home(tmp_path / "h", block_max_bytes=256 * 1024), body))

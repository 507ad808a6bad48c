"""A small real chain for RPC tests: real chain records, the real block store on LevelDB, the real mempool,
indexer and event bus; a block, its results and its index entries are written in one batch, as the node does.

Test-only, for tests that must decide when blocks happen (floods, cursors, timeouts). What is simplified is
consensus (one validator signs each block as it is made) and the application (a key-value store: tx
`key=value` sets a key; `bad…` is rejected by CheckTx; its events mark `kv.key`, `kv.owner`, `kv.size` for
the index and `kv.value` not). The RPC over the real node and application is tests/rpc/test_real_node.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from node.blockstore import BlockStore
from node.events import EventBus
from node.indexer import Indexer
from node.mempool import Checked, Mempool
from node.rpc import adapt
from node.rpc.services import (
    AppInfoView,
    BlockMetaView,
    BlockResultsView,
    BlockView,
    CommitView,
    ConsensusParamsView,
    EvidenceError,
    NodeInfoView,
    PeerRoundView,
    PeerView,
    QueryResultView,
    RoundStateView,
    RoundVotesView,
    TxResultView,
    ValidatorView,
    VoteSlotView,
    VoteView,
)
from state.chain import (
    BlockContext,
    BlockID,
    Commit,
    CommitSig,
    Event,
    EventAttribute,
    ExecTxResult,
    FinalizeBlockResult,
    build_block,
    exec_results_hash,
    validators_hash,
)
from state.codec import encode
from state.crypto import PrivateKey, node_id, sha256
from state.kv_level import LevelKV

CHAIN_ID = "egp-test"
T0_MS = 1_736_935_200_000  # 2025-01-15T10:00:00Z


def kv_check(tx: bytes, recheck: bool = False) -> Checked:
    if tx.startswith(b"bad") or b"=" not in tx:
        return Checked(1, "tx must be key=value and not start with 'bad'", "kv")
    return Checked(0)


class FixtureChain:
    def __init__(self, home: Path, n_validators: int = 1) -> None:
        self.keys = [PrivateKey.from_seed(bytes([i + 1]) * 32) for i in range(n_validators)]
        self.node_key = PrivateKey.from_seed(b"\x77" * 32)
        self.db = LevelKV(str(home / "db"))
        self.event_bus = EventBus()
        self.indexer = Indexer(self.db)
        self.mempool = Mempool(kv_check, size=1000)
        self.state: dict[str, str] = {}
        self.store = BlockStore(self.db)
        self.evidence: list[dict[str, Any]] = []
        vals = sorted(((k.public_key.raw, 10) for k in self.keys), key=lambda v: sha256(v[0])[:20])
        self.vals_hash = validators_hash(vals)
        self.app_hash = hashlib.sha256(b"genesis").digest()

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ making blocks
    def make_block(self, txs: list[bytes] | None = None) -> int:
        """Commit the next block with `txs` (default: the mempool's) and publish its events."""
        txs = self.mempool.reap(-1, -1) if txs is None else txs
        h = self.store.height + 1
        last = self.store.load_block(h - 1) if h > 1 else None
        last_id = last.block_id() if last else BlockID.zero()
        seen = self.store.load_seen_commit(h - 1) if h > 1 else None
        last_commit = seen if seen is not None else Commit(0, 0, BlockID.zero(), ())
        prev = self.store.load_results(h - 1) if h > 1 else None
        prev_results = prev.tx_results if prev is not None else ()
        ctx = BlockContext(
            chain_id=CHAIN_ID, initial_height=1, height=h, last_block_id=last_id,
            last_block_time_ms=T0_MS + (h - 1) * 1000, app_hash=self.app_hash,
            last_results_hash=exec_results_hash(prev_results), validators_hash=self.vals_hash,
            next_validators_hash=self.vals_hash, consensus_hash=sha256(b"params"),
            validator_addresses=frozenset(k.public_key.address for k in self.keys),
            last_validator_count=len(self.keys), max_bytes=4_000_000, app_version=1,
        )
        block = build_block(ctx, time_ms=T0_MS + h * 1000 + 512, proposer_address=self.keys[0].public_key.address,
                            txs=txs, last_commit=last_commit)
        bid = block.block_id()
        sigs = tuple(CommitSig(2, k.public_key.address, T0_MS + h * 1000 + 600, k.sign(encode([h, bid.hash])))
                     for k in self.keys)
        results = []
        for tx in txs:
            key, _, value = tx.decode(errors="replace").partition("=")
            self.state[key] = value
            attrs = (EventAttribute("key", key, True), EventAttribute("value", value, False),
                     EventAttribute("owner", key.split("/")[0], True), EventAttribute("size", str(len(tx)), True))
            results.append(ExecTxResult(0, b"", "", "", 0, 0, (Event("kv", attrs),), ""))
        self.app_hash = hashlib.sha256(encode(sorted(self.state.items()))).digest()
        fbe = (Event("block", (EventAttribute("txs", str(len(txs)), True),)),)
        res = FinalizeBlockResult(fbe, tuple(results), (), b"", self.app_hash)
        batch = self.db.batch()
        self.store.save_block(block, Commit(h, 0, bid, sigs), batch)
        self.store.save_results(h, res, batch)
        self.indexer.index_chain_block(batch, block, res)
        batch.commit(sync=False)
        self.mempool.update(h, txs)
        self.event_bus.publish_chain_block(block, res)
        return h

    # ------------------------------------------------------------------ RpcServices
    def node_info(self) -> NodeInfoView:
        return NodeInfoView(node_id(self.node_key.public_key.raw), "tcp://127.0.0.1:26656", CHAIN_ID, "bank-a",
                            protocol_app=1, rpc_address="tcp://127.0.0.1:26657")

    def validator_info(self) -> ValidatorView:
        k = self.keys[0].public_key
        return ValidatorView(k.address, k.raw, 10)

    def catching_up(self) -> bool:
        return False

    def peers(self) -> list[PeerView]:
        other = NodeInfoView("ab" * 20, "tcp://127.0.0.1:26666", CHAIN_ID, "bank-b")
        return [PeerView(other, True, "127.0.0.1")]

    def listeners(self) -> list[str]:
        return ["Listener(@127.0.0.1:26656)"]

    def genesis(self) -> dict[str, Any]:
        return {
            "genesis_time": "2025-01-15T10:00:00Z", "chain_id": CHAIN_ID, "initial_height": "1",
            "consensus_params": {"block": {"max_bytes": "4000000", "max_gas": "-1"},
                                 "evidence": {"max_age_num_blocks": "100000", "max_age_duration": "172800000000000",
                                              "max_bytes": "1048576"},
                                 "validator": {"pub_key_types": ["ed25519"]}, "version": {"app": "1"},
                                 "abci": {"vote_extensions_enable_height": "0"}},
            "validators": [{"address": k.public_key.address.hex().upper(), "pub_key": k.public_key.to_json(),
                            "power": "10", "name": f"bank-{i}"} for i, k in enumerate(self.keys)],
            "app_hash": "", "app_state": {},
        }

    def round_state(self) -> RoundStateView:
        """Height tip + 1, round 0, prevote step: validator 0 prevoted the tip's hash, the others not yet."""
        h = self.store.height + 1
        vals = tuple(ValidatorView(k.public_key.address, k.public_key.raw, 10) for k in self.keys)
        mine = VoteView(1, h, 0, b"\xab" * 32, 1_736_935_200_000, b"\x01" * 64)
        prevotes = tuple(VoteSlotView(i, v.address, mine if i == 0 else None) for i, v in enumerate(vals))
        precommits = tuple(VoteSlotView(i, v.address, None) for i, v in enumerate(vals))
        votes = (RoundVotesView(0, prevotes, precommits, 10 * len(vals), 10, 0),)
        return RoundStateView(h, 0, 4, 1_736_935_200_000_000_000, b"\xab" * 32, None, -1, None, -1, vals, 0, votes)

    def peer_round_states(self) -> list[PeerRoundView]:
        return [PeerRoundView("ab" * 20, f"{'ab' * 20}@127.0.0.1:26666", self.store.height + 1, 0, 3)]

    def base_height(self) -> int:
        return self.store.base

    def latest_height(self) -> int:
        return self.store.height

    def block(self, height: int) -> BlockView | None:
        b = self.store.load_block(height)
        return None if b is None else adapt.block(b)

    def block_height_by_hash(self, block_hash: bytes) -> int | None:
        return self.store.height_of(block_hash)

    def block_meta(self, height: int) -> BlockMetaView | None:
        m = self.store.load_block_meta(height)
        if m is None:
            return None
        return BlockMetaView(adapt.block_id(m.block_id), m.block_size, adapt.header(m.header), m.num_txs)

    def commit(self, height: int) -> tuple[CommitView, bool] | None:
        got = self.store.load_commit(height)
        c = None if got is None else adapt.commit(got[0])
        return None if got is None or c is None else (c, got[1])

    def block_results(self, height: int) -> BlockResultsView | None:
        r = self.store.load_results(height)
        return None if r is None else adapt.block_results(height, r)

    def validators(self, height: int) -> list[ValidatorView] | None:
        if not 1 <= height <= self.store.height + 1:
            return None
        vals = [ValidatorView(k.public_key.address, k.public_key.raw, 10) for k in self.keys]
        return sorted(vals, key=lambda v: v.address)

    def consensus_params(self, height: int) -> ConsensusParamsView | None:
        return ConsensusParamsView(version_app=1)

    def mempool_size(self) -> tuple[int, int]:
        return len(self.mempool), self.mempool.size_bytes

    def mempool_txs(self, limit: int) -> list[bytes]:
        return self.mempool.txs(limit)

    async def check_tx(self, tx: bytes) -> TxResultView:
        c = kv_check(tx)
        return TxResultView(code=c.code, log=c.log, codespace=c.codespace)

    async def broadcast_tx(self, tx: bytes) -> TxResultView:
        c = self.mempool.add(tx)
        return TxResultView(code=c.code, log=c.log, codespace=c.codespace, gas_wanted=c.gas_wanted)

    async def abci_info(self) -> AppInfoView:
        return AppInfoView("kv", "0.1.0", 1, self.store.height, self.app_hash)

    async def abci_query(self, path: str, data: bytes, height: int, prove: bool) -> QueryResultView:
        key = data.decode(errors="replace")
        value = self.state.get(key)
        h = self.store.height
        if path != "/store":
            return QueryResultView(code=6, log=f"unknown query path {path!r}", height=h, codespace="kv")
        if value is None:
            return QueryResultView(code=0, log="does not exist", key=data, height=h)
        ops = (("kv:sha256", data, sha256(value.encode())),) if prove else ()
        return QueryResultView(code=0, log="exists", key=data, value=value.encode(), proof_ops=ops, height=h)

    async def broadcast_evidence(self, evidence: dict[str, Any]) -> bytes:
        if evidence.get("type") != "tendermint/DuplicateVoteEvidence":
            raise EvidenceError("unsupported evidence type")
        self.evidence.append(evidence)
        return sha256(encode(repr(sorted(evidence.items()))))

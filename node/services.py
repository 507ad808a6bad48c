"""`RpcServices` (node/rpc/services.py) implemented over the running node: stores, app, mempool, p2p.

Why an adapter: the RPC only sees small view dataclasses; this module is the one place that turns the
node's records (blocks, commits, results, validator sets) into them, so neither side leaks into the other.
Every method runs on the node's loop and never raises for a missing item (it returns None).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from node import round_view
from node.convert import valset_from_info
from node.events import EventBus
from node.evidence import parse_rpc_evidence
from node.indexer import Indexer
from node.mempool import Checked
from node.mempool import MempoolError as PoolError
from node.rpc import adapt
from node.rpc import services as sv
from state import abci

if TYPE_CHECKING:
    from node.assemble import Running

# The record → view conversions are node/rpc/adapt.py's (one set, shared with the indexer and the event bus).
block_view = adapt.block
results_view = adapt.block_results


class NodeServices:
    def __init__(self, run: Running, event_bus: EventBus, indexer: Indexer) -> None:
        self.run = run
        self.event_bus = event_bus
        self.indexer = indexer

    # ---- node
    def node_info(self) -> sv.NodeInfoView:
        r = self.run
        host, port = r.p2p.listen_address
        return sv.NodeInfoView(r.p2p.node_id, f"tcp://{host}:{port}", r.genesis.chain_id, r.config.base.moniker,
                               rpc_address=r.config.rpc.laddr)

    def validator_info(self) -> sv.ValidatorView:
        r = self.run
        if r.pv is None:
            return sv.ValidatorView(b"\x00" * 20, b"\x00" * 32, 0)
        vs = valset_from_info(r.node.state.validators)
        return sv.ValidatorView(r.pv.address, r.pv.pub_key, vs.power_of(r.pv.address))

    def catching_up(self) -> bool:
        return self.run.node.catching_up

    def peers(self) -> list[sv.PeerView]:
        out = []
        for p in self.run.p2p.peers():
            ni = p.node_info
            info = sv.NodeInfoView(p.node_id, ni.listen_addr, ni.network, ni.moniker)
            status = {"duration": "0", "send_monitor": {"Bytes": str(p.bytes_sent)},
                      "recv_monitor": {"Bytes": str(p.bytes_received)}}
            out.append(sv.PeerView(info, p.outbound, p.remote_host, status))
        return out

    def listeners(self) -> list[str]:
        host, port = self.run.p2p.listen_address
        return [f"Listener(@{host}:{port})"]

    def genesis(self) -> dict[str, Any]:
        return self.run.genesis.to_json()

    def round_state(self) -> sv.RoundStateView:
        n = self.run.node
        return round_view.round_state(n.core, in_consensus=n.in_consensus, next_height=n.state.height,
                                      next_valset=valset_from_info(n.state.validators),
                                      round_started_ms=n.executor.round_started_ms)

    def peer_round_states(self) -> list[sv.PeerRoundView]:
        return round_view.peer_rounds(self.run.node.gossip, self.run.p2p)

    # ---- block store
    def base_height(self) -> int:
        return self.run.store.base

    def latest_height(self) -> int:
        return self.run.store.height

    def block(self, height: int) -> sv.BlockView | None:
        b = self.run.store.load_block(height)
        return None if b is None else block_view(b)

    def block_height_by_hash(self, block_hash: bytes) -> int | None:
        return self.run.store.height_of(block_hash)

    def block_meta(self, height: int) -> sv.BlockMetaView | None:
        m = self.run.store.load_block_meta(height)
        if m is None:
            return None
        return sv.BlockMetaView(adapt.block_id(m.block_id), m.block_size, adapt.header(m.header), m.num_txs)

    def commit(self, height: int) -> tuple[sv.CommitView, bool] | None:
        c = self.run.store.load_commit(height)
        view = None if c is None else adapt.commit(c[0])
        return None if c is None or view is None else (view, c[1])

    def block_results(self, height: int) -> sv.BlockResultsView | None:
        r = self.run.store.load_results(height)
        return None if r is None else results_view(height, r)

    def validators(self, height: int) -> list[sv.ValidatorView] | None:
        info = self.run.node.applier.states.load_validators(height)
        if info is None:
            return None
        return [adapt.validator(v) for v in info.validators]

    def consensus_params(self, height: int) -> sv.ConsensusParamsView | None:
        p = self.run.node.applier.states.load_params(height)
        if p is None:
            return None
        return sv.ConsensusParamsView(p.block_max_bytes, p.block_max_gas, p.evidence_max_age_num_blocks,
                                      p.evidence_max_age_duration_ns, p.evidence_max_bytes, p.pub_key_types,
                                      p.app_version, p.vote_extensions_enable_height, p.to_json()["timeouts"])

    # ---- mempool
    def mempool_size(self) -> tuple[int, int]:
        mp = self.run.node.mempool
        return len(mp), mp.size_bytes

    def mempool_txs(self, limit: int) -> list[bytes]:
        return self.run.node.mempool.txs(limit)

    async def check_tx(self, tx: bytes) -> sv.TxResultView:
        r = self.run.app.probe(tx)
        return sv.TxResultView(r.code, r.data, r.log, r.info, r.gas_wanted, r.gas_used, (), r.codespace)

    def submit_tx(self, tx: bytes, h: bytes) -> asyncio.Future[Checked]:
        """The WebSocket's broadcast fast path (node/rpc/websocket.py `WsSession.pipeline`): `tx` (SHA-256 `h`)
        into the admission queue now, as `Node.submit_local_tx` puts it there; the future gives check_tx's
        verdict. Raises node.mempool.MempoolError when the pool refuses it outright (full, known, too
        large), as `broadcast_tx` does (there converted to the RPC's MempoolError, same text)."""
        fut = self.run.node.admission.submit(tx, want_result=True, h=h)
        assert fut is not None
        return fut

    async def broadcast_tx(self, tx: bytes) -> sv.TxResultView:
        try:
            res = await self.run.node.submit_local_tx(tx)  # signature verified off the loop
        except PoolError as exc:
            raise sv.MempoolError(str(exc)) from None
        return sv.TxResultView(code=res.code, log=res.log, codespace=res.codespace)

    # ---- application
    async def abci_info(self) -> sv.AppInfoView:
        i = self.run.app.app.info()
        return sv.AppInfoView(i.data, i.version, i.app_version, i.last_block_height, i.last_block_app_hash)

    async def abci_query(self, path: str, data: bytes, height: int, prove: bool) -> sv.QueryResultView:
        q = self.run.app.app.query(abci.RequestQuery(path, data, height, prove))
        return sv.QueryResultView(q.code, q.log, q.info, q.index, q.key, q.value,
                                  tuple((o.type, o.key, o.data) for o in q.proof_ops), q.height, q.codespace)

    # ---- evidence
    async def broadcast_evidence(self, evidence: dict[str, Any]) -> bytes:
        """Verified against the chain (node/evidence.py), then pending, gossiped and proposed like our own."""
        try:
            msg = parse_rpc_evidence(evidence)
        except ValueError as exc:
            raise sv.EvidenceError(str(exc)) from None
        key, reason = self.run.node.add_evidence(msg)
        if reason is not None:
            raise sv.EvidenceError(reason)
        return key

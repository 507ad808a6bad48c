"""The node's view of the application: `state.abci.Application` adapted to the commit path's types.

Why an adapter: the application speaks ABCI requests; the node speaks blocks. The results need no
conversion: the application's FinalizeBlock response *is* a `state.chain.FinalizeBlockResult` (what the block
store keeps for `block_results` and crash recovery), built once by the application and passed on untouched.
Evidence items in a block are encoded `node.messages.EvidenceMsg`; they reach the application as ABCI
`Misbehavior`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from consensus.validators import ValidatorSet
from node.genesis import Genesis
from node.mempool import ACCEPTED, Checked
from node.messages import EvidenceMsg, decode_message
from state import abci
from state.chain import Block, FinalizeBlockResult
from state.codec import DecodeError
from state.errors import CODESPACE
from state.kv import Batch, View


class NodeApp:
    def __init__(self, app: abci.Application) -> None:
        self.app = app
        self.valset_of: Callable[[int], ValidatorSet | None] = lambda height: None  # set by the node

    def last_height_and_hash(self) -> tuple[int, bytes]:
        info = self.app.info()
        return info.last_block_height, info.last_block_app_hash

    def init_chain(self, genesis: Genesis) -> bytes:
        req = abci.RequestInitChain(
            time_ms=genesis.genesis_time_ms,
            chain_id=genesis.chain_id,
            validators=[abci.ValidatorUpdate(v.pub_key, v.power) for v in genesis.validators],
            app_state_bytes=json.dumps(genesis.app_state).encode(),
            initial_height=genesis.initial_height,
        )
        return self.app.init_chain(req).app_hash

    def check(self, tx: bytes, recheck: bool) -> Checked:
        """check_tx (NEW or RECHECK: the application checks both alike) for the mempool: one shared
        `ACCEPTED`, or the refusal's code and log."""
        code, log = self.app.check_code(tx)
        return ACCEPTED if code == 0 else Checked(code, log, CODESPACE)

    def probe(self, tx: bytes) -> abci.ResponseCheckTx:
        """check_tx as a NEW tx without admitting it (RPC `check_tx`): the application's dry run works on a
        throw-away layer over the check state, so the sender's pending sequence number does not move."""
        return self.app.check_tx(abci.RequestCheckTx(tx, abci.CheckTxType.NEW), dry_run=True)

    def prepare(self, txs: list[bytes], max_bytes: int, height: int, time_ms: int, proposer: bytes) -> list[bytes]:
        req = abci.RequestPrepareProposal(max_bytes, txs, height, time_ms, [], proposer)
        return list(self.app.prepare_proposal(req).txs)

    def process(self, block: Block) -> bool:
        h = block.header
        req = abci.RequestProcessProposal(list(block.txs), h.height, h.time_ms, self._misbehavior(block.evidence),
                                          block.hash(), h.proposer_address, h.next_validators_hash,
                                          tx_hashes=block.tx_hashes())
        return self.app.process_proposal(req).status == abci.ProposalStatus.ACCEPT

    def _misbehavior(self, evidence: Sequence[bytes]) -> list[abci.Misbehavior]:
        out: list[abci.Misbehavior] = []
        for raw in evidence:
            try:
                ev = decode_message(raw)
            except DecodeError:
                continue
            if isinstance(ev, EvidenceMsg):
                v = ev.vote_a
                vs = self.valset_of(v.height)
                power = vs.power_of(v.validator) if vs else 0
                total = vs.total_power if vs else 0
                out.append(abci.Misbehavior(1, v.validator, power, v.height, v.timestamp_ms, total))
        return out

    def finalize(self, block: Block, misbehavior: Sequence[bytes]) -> FinalizeBlockResult:
        h = block.header
        req = abci.RequestFinalizeBlock(list(block.txs), h.height, h.time_ms, self._misbehavior(misbehavior),
                                        block.hash(), h.proposer_address, h.next_validators_hash,
                                        tx_hashes=block.tx_hashes())
        return self.app.finalize_block(req)  # already the node's record (state.abci_types)

    def commit(self, batch: Batch | None = None) -> None:
        """With `batch` (the applier's per-block batch over the node's whole KV), the app's writes join it;
        the applier commits it before anything reads the app again (node/applier.py)."""
        if batch is None:
            self.app.commit()
            return
        kv = self.app.kv
        if not isinstance(kv, View):
            raise TypeError("the application's store is not a namespace of the node's store")
        self.app.commit(kv.join(batch), written_before_reads=True)

"""state.chain records → RPC views, for the node's `RpcServices` implementation and for tests.

Why here: the node stores `state.chain.Block` / `Commit` / `FinalizeBlockResult` (times in milliseconds,
evidence as opaque encoded items); the RPC speaks views with nanosecond times. Keeping the conversion next
to the views means the node's adapter is a few one-line delegations. Events, tx results and validator
updates need none: the views are those records (node/rpc/services.py), passed through as they are.
"""

from __future__ import annotations

import base64
from typing import Any

from node.rpc.services import (
    BlockIDView,
    BlockMetaView,
    BlockResultsView,
    BlockView,
    CommitSigView,
    CommitView,
    EventView,
    HeaderView,
    TxResultView,
    ValidatorView,
)
from state.chain import (
    Block,
    BlockID,
    Commit,
    CommitSig,
    Event,
    ExecTxResult,
    FinalizeBlockResult,
    Header,
    ValidatorInfo,
)

MS = 1_000_000  # nanoseconds per millisecond


def block_id(b: BlockID) -> BlockIDView:
    return BlockIDView(b.hash, b.parts.total, b.parts.hash)


def header(h: Header) -> HeaderView:
    return HeaderView(
        chain_id=h.chain_id, height=h.height, time_ns=h.time_ms * MS, last_block_id=block_id(h.last_block_id),
        last_commit_hash=h.last_commit_hash, data_hash=h.data_hash, validators_hash=h.validators_hash,
        next_validators_hash=h.next_validators_hash, consensus_hash=h.consensus_hash, app_hash=h.app_hash,
        last_results_hash=h.last_results_hash, evidence_hash=h.evidence_hash,
        proposer_address=h.proposer_address, version_block=h.version_block, version_app=h.version_app,
    )


def commit_sig(s: CommitSig) -> CommitSigView:
    absent = s.flag == 1
    return CommitSigView(s.flag, s.validator_address, None if absent else s.timestamp_ms * MS,
                         None if absent else s.signature)


def commit(c: Commit) -> CommitView | None:
    """None for the empty "last commit" of the initial block."""
    if c.height == 0 and not c.signatures:
        return None
    return CommitView(c.height, c.round, block_id(c.block_id), tuple(commit_sig(s) for s in c.signatures))


def evidence_json(raw: bytes) -> dict[str, Any]:
    """Evidence items are opaque encoded records; clients get them typed and base64 (cosmjs passes them on)."""
    return {"type": "egp/Evidence", "value": base64.b64encode(raw).decode()}


def block(b: Block) -> BlockView:
    return BlockView(block_id(b.block_id()), header(b.header), tuple(b.txs), commit(b.last_commit),
                     tuple(evidence_json(e) for e in b.evidence))


def block_meta(b: Block, size: int | None = None) -> BlockMetaView:
    return BlockMetaView(block_id(b.block_id()), len(b.encode()) if size is None else size, header(b.header),
                         len(b.txs))


def events(evs: tuple[Event, ...]) -> tuple[EventView, ...]:
    return evs  # the records are the views


def tx_result(r: ExecTxResult) -> TxResultView:
    return r  # the record is the view


def block_results(height: int, r: FinalizeBlockResult) -> BlockResultsView:
    """The results as they were stored: events, tx results and validator updates are passed on, not copied."""
    cpu = {"egp_params": base64.b64encode(r.consensus_param_updates).decode()} if r.consensus_param_updates else None
    return BlockResultsView(height, r.tx_results, r.events, r.validator_updates, cpu, r.app_hash)


def validator(v: ValidatorInfo) -> ValidatorView:
    return ValidatorView(v.address, v.pub_key, v.power, v.proposer_priority)

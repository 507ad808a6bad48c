"""ABCI++ (CometBFT 0.38) request and response types of the application, as in-process values.

Times are block times in ms since the epoch (UTC). The types that are persisted or hashed (events, tx
results, validator updates, the FinalizeBlock response) are `state.chain`'s records under their ABCI names:
the application builds the records the node stores, indexes and serves, so nothing converts them on the way
(`ResponseFinalizeBlock` is `state.chain.FinalizeBlockResult`; the application leaves its
`consensus_param_updates` empty). `state.abci` re-exports all of them.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from state.chain import Event, EventAttribute, ExecTxResult, FinalizeBlockResult, ValidatorUpdate

ResponseFinalizeBlock = FinalizeBlockResult


@dataclass(frozen=True)
class Misbehavior:
    type: int  # 1 = DUPLICATE_VOTE, 2 = LIGHT_CLIENT_ATTACK
    validator_address: bytes
    validator_power: int
    height: int
    time_ms: int
    total_voting_power: int


class CheckTxType(enum.IntEnum):
    NEW = 0
    RECHECK = 1


class ProposalStatus(enum.IntEnum):
    UNKNOWN = 0
    ACCEPT = 1
    REJECT = 2


@dataclass(frozen=True)
class RequestInfo:
    version: str = ""
    block_version: int = 11
    p2p_version: int = 8
    abci_version: str = "2.0.0"


@dataclass(frozen=True)
class ResponseInfo:
    data: str
    version: str
    app_version: int
    last_block_height: int
    last_block_app_hash: bytes


@dataclass(frozen=True)
class RequestInitChain:
    time_ms: int
    chain_id: str
    validators: list[ValidatorUpdate]
    app_state_bytes: bytes
    initial_height: int = 1


@dataclass(frozen=True)
class ResponseInitChain:
    validators: list[ValidatorUpdate]
    app_hash: bytes


@dataclass(frozen=True)
class RequestCheckTx:
    tx: bytes
    type: CheckTxType = CheckTxType.NEW


@dataclass(frozen=True)
class ResponseCheckTx:
    code: int = 0
    data: bytes = b""
    log: str = ""
    info: str = ""
    gas_wanted: int = 0
    gas_used: int = 0
    events: list[Event] = field(default_factory=list)
    codespace: str = ""
    sender: bytes = b""  # signer address (for the mempool's per-sender ordering)
    nonce: int = 0


@dataclass(frozen=True)
class RequestPrepareProposal:
    max_tx_bytes: int
    txs: list[bytes]
    height: int
    time_ms: int
    misbehavior: list[Misbehavior] = field(default_factory=list)
    proposer_address: bytes = b""
    next_validators_hash: bytes = b""


@dataclass(frozen=True)
class ResponsePrepareProposal:
    txs: list[bytes]


@dataclass(frozen=True)
class RequestProcessProposal:
    txs: list[bytes]
    height: int
    time_ms: int
    misbehavior: list[Misbehavior] = field(default_factory=list)
    hash: bytes = b""
    proposer_address: bytes = b""
    next_validators_hash: bytes = b""
    # the SHA-256 of each of `txs` when the caller has them (the node: `Block.tx_hashes()`, made for the data
    # hash); None: process_proposal hashes them. As RequestFinalizeBlock.tx_hashes: they only find a tx in the
    # signature cache (whose entry is then compared byte for byte), so a wrong hash changes no verdict
    tx_hashes: Sequence[bytes] | None = None


@dataclass(frozen=True)
class ResponseProcessProposal:
    status: ProposalStatus


@dataclass(frozen=True)
class RequestFinalizeBlock:
    txs: list[bytes]
    height: int
    time_ms: int
    misbehavior: list[Misbehavior] = field(default_factory=list)
    hash: bytes = b""
    proposer_address: bytes = b""
    next_validators_hash: bytes = b""
    decided_last_commit: Any = None
    # the SHA-256 of each of `txs` when the caller has them (the node: `Block.tx_hashes()`, computed once per
    # block for its data hash); None: finalize_block hashes them. They only find a tx in the signature cache
    # (whose entry is then compared byte for byte) and evict it at commit: a wrong hash changes no result
    tx_hashes: Sequence[bytes] | None = None


@dataclass(frozen=True)
class ResponseCommit:
    retain_height: int = 0


@dataclass(frozen=True)
class RequestQuery:
    path: str
    data: bytes = b""
    height: int = 0
    prove: bool = False


@dataclass(frozen=True)
class ProofOp:
    type: str  # "egp/trie"
    key: bytes  # the state key proven
    data: bytes  # encoded state.proofs.TrieProof


@dataclass(frozen=True)
class ResponseQuery:
    code: int = 0
    log: str = ""
    info: str = ""
    index: int = 0
    key: bytes = b""
    value: bytes = b""
    proof_ops: list[ProofOp] = field(default_factory=list)
    height: int = 0
    codespace: str = ""


def to_events(out: list[Event]) -> tuple[Event, ...]:
    return tuple(out)


__all__ = ["Event", "EventAttribute", "ExecTxResult", "ResponseFinalizeBlock", "ValidatorUpdate"]

"""The seam between the RPC server and the node: exactly what the RPC reads and asks of it.

Why a seam: the RPC must be testable on its own and the node must be free to change its internals. The
node (node/node.py) implements `RpcServices` by adapting its block store, application, mempool, p2p and
evidence pool to the small *view* dataclasses below; the RPC turns views into CometBFT JSON
(node/rpc/encode.py) and never touches the node's records itself.

Conventions of the views: hashes and addresses are raw `bytes`; times are integer Unix nanoseconds (UTC);
JSON-ready values (`genesis`, evidence) are plain dicts already in CometBFT's shape. Events, tx results and
validator updates are the chain's own records (`state.chain`, which the application builds): their fields
are already the view's, so a block's results reach the indexer, the event bus and the JSON encoder untouched.

Threading: every method is called on the node's asyncio loop. Synchronous methods must be fast reads (the
block store); anything that may wait (the application, the mempool) is a coroutine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from state.chain import Event, ExecTxResult, ValidatorUpdate
from state.chain import EventAttribute as EventAttribute

if TYPE_CHECKING:
    from node.events import EventBus
    from node.indexer import Indexer


class MempoolError(Exception):
    """The mempool refused a tx before CheckTx (duplicate, full, too large); the message goes to the client
    verbatim, e.g. "tx already exists in cache", "mempool is full: ...", "Tx too large. Max size is N"."""


class EvidenceError(Exception):
    """Submitted evidence is malformed or invalid; the message goes to the client."""


@dataclass(frozen=True)
class BlockIDView:
    hash: bytes
    parts_total: int = 1
    parts_hash: bytes = b""


EMPTY_BLOCK_ID = BlockIDView(b"", 0, b"")


@dataclass(frozen=True)
class HeaderView:
    chain_id: str
    height: int
    time_ns: int
    last_block_id: BlockIDView
    last_commit_hash: bytes
    data_hash: bytes
    validators_hash: bytes
    next_validators_hash: bytes
    consensus_hash: bytes
    app_hash: bytes
    last_results_hash: bytes
    evidence_hash: bytes
    proposer_address: bytes
    version_block: int = 11
    version_app: int = 0


@dataclass(frozen=True)
class CommitSigView:
    block_id_flag: int  # 1 absent, 2 commit, 3 nil
    validator_address: bytes
    timestamp_ns: int | None
    signature: bytes | None


@dataclass(frozen=True)
class CommitView:
    height: int
    round: int
    block_id: BlockIDView
    signatures: tuple[CommitSigView, ...]


@dataclass(frozen=True)
class BlockView:
    block_id: BlockIDView
    header: HeaderView
    txs: tuple[bytes, ...]
    last_commit: CommitView | None  # None at the initial height
    evidence: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class BlockMetaView:
    block_id: BlockIDView
    block_size: int
    header: HeaderView
    num_txs: int


# The chain's records under their view names (one shape: see the module docstring).
EventView = Event  # (type, attributes: tuple[EventAttribute(key, value, index), ...])
TxResultView = ExecTxResult  # ABCI CheckTx / ExecTxResult; every field defaults (an accepted, empty result)
ValidatorUpdateView = ValidatorUpdate  # (pub_key, power)


@dataclass(frozen=True)
class ValidatorView:
    address: bytes
    pub_key: bytes  # Ed25519, 32 bytes
    voting_power: int
    proposer_priority: int = 0


@dataclass(frozen=True)
class BlockResultsView:
    height: int
    tx_results: tuple[TxResultView, ...]
    finalize_block_events: tuple[EventView, ...] = ()
    validator_updates: tuple[ValidatorUpdateView, ...] = ()
    consensus_param_updates: dict[str, Any] | None = None
    app_hash: bytes = b""


@dataclass(frozen=True)
class ConsensusParamsView:
    block_max_bytes: int = 4 * 1024 * 1024
    block_max_gas: int = -1
    evidence_max_age_num_blocks: int = 100_000
    evidence_max_age_duration_ns: int = 172_800_000_000_000
    evidence_max_bytes: int = 1_048_576
    validator_pub_key_types: tuple[str, ...] = ("ed25519",)
    version_app: int = 0
    vote_extensions_enable_height: int = 0
    # the agreed timeouts as genesis.json writes them (`consensus_params.timeouts`: commit,
    # skip_timeout_commit, next_block_delay, ...); not in CometBFT's view, which has no such section
    timeouts: dict[str, Any] | None = None


@dataclass(frozen=True)
class AppInfoView:
    data: str = ""
    version: str = ""
    app_version: int = 0
    last_block_height: int = 0
    last_block_app_hash: bytes = b""


@dataclass(frozen=True)
class QueryResultView:
    code: int = 0
    log: str = ""
    info: str = ""
    index: int = 0
    key: bytes = b""
    value: bytes = b""
    proof_ops: tuple[tuple[str, bytes, bytes], ...] = ()  # (type, key, data)
    height: int = 0
    codespace: str = ""


@dataclass(frozen=True)
class NodeInfoView:
    node_id: str  # 40 lowercase hex
    listen_addr: str
    network: str  # chain id
    moniker: str
    version: str = "0.38.17"
    protocol_p2p: int = 8
    protocol_block: int = 11
    protocol_app: int = 0
    channels: bytes = bytes.fromhex("40202122233038606100")
    tx_index: str = "on"
    rpc_address: str = ""


@dataclass(frozen=True)
class PeerView:
    node_info: NodeInfoView
    is_outbound: bool
    remote_ip: str
    connection_status: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VoteView:
    type: int  # 1 prevote, 2 precommit (CometBFT's SignedMsgType)
    height: int
    round: int
    block_hash: bytes | None  # None: a vote for nil
    timestamp_ms: int
    signature: bytes


@dataclass(frozen=True)
class VoteSlotView:
    """One validator's place in a round's vote set: its vote, or None (CometBFT prints "nil-Vote")."""

    index: int
    address: bytes
    vote: VoteView | None


@dataclass(frozen=True)
class RoundVotesView:
    round: int
    prevotes: tuple[VoteSlotView, ...]
    precommits: tuple[VoteSlotView, ...]
    total_power: int
    prevote_power: int
    precommit_power: int


@dataclass(frozen=True)
class RoundStateView:
    """The consensus core's position, for `consensus_state` / `dump_consensus_state` (operators' debugging)."""

    height: int
    round: int
    step: int  # CometBFT's RoundStepType: 1 NewHeight, 3 Propose, 4 Prevote, 6 Precommit, 8 Commit
    start_time_ns: int | None
    proposal_block_hash: bytes | None
    locked_block_hash: bytes | None
    locked_round: int
    valid_block_hash: bytes | None
    valid_round: int
    validators: tuple[ValidatorView, ...]
    proposer_index: int  # -1 when there is no validator set yet
    votes: tuple[RoundVotesView, ...]


@dataclass(frozen=True)
class PeerRoundView:
    node_id: str
    address: str  # id@host:port
    height: int | None  # from the peer's last status (None: no status yet)
    round: int | None
    step: int | None


class RpcServices(Protocol):
    """What the RPC needs from a node. Heights are ints; a missing item is None (never an exception)."""

    event_bus: EventBus
    indexer: Indexer

    # ---- node
    def node_info(self) -> NodeInfoView: ...
    def validator_info(self) -> ValidatorView: ...
    def catching_up(self) -> bool: ...
    def peers(self) -> list[PeerView]: ...
    def listeners(self) -> list[str]: ...
    def genesis(self) -> dict[str, Any]: ...
    def round_state(self) -> RoundStateView: ...
    def peer_round_states(self) -> list[PeerRoundView]: ...

    # ---- block store
    def base_height(self) -> int: ...
    def latest_height(self) -> int: ...
    def block(self, height: int) -> BlockView | None: ...
    def block_height_by_hash(self, block_hash: bytes) -> int | None: ...
    def block_meta(self, height: int) -> BlockMetaView | None: ...
    def commit(self, height: int) -> tuple[CommitView, bool] | None:
        """The commit for `height` and whether it is canonical (False for the latest height's seen commit)."""
        ...

    def block_results(self, height: int) -> BlockResultsView | None: ...
    def validators(self, height: int) -> list[ValidatorView] | None: ...
    def consensus_params(self, height: int) -> ConsensusParamsView | None: ...

    # ---- mempool
    def mempool_size(self) -> tuple[int, int]:
        """(number of txs, total bytes)."""
        ...

    def mempool_txs(self, limit: int) -> list[bytes]: ...
    async def check_tx(self, tx: bytes) -> TxResultView:
        """CheckTx without adding to the mempool."""
        ...

    async def broadcast_tx(self, tx: bytes) -> TxResultView:
        """CheckTx and, if accepted, add to the mempool and gossip; raises MempoolError."""
        ...

    # ---- application
    async def abci_info(self) -> AppInfoView: ...
    async def abci_query(self, path: str, data: bytes, height: int, prove: bool) -> QueryResultView: ...

    # ---- evidence
    async def broadcast_evidence(self, evidence: dict[str, Any]) -> bytes:
        """Verify and add evidence to the pool; returns its hash; raises EvidenceError."""
        ...

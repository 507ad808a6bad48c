"""Chain data: headers, blocks, commits and their hashes, shared by the node, block sync, RPC and the wallet.

Why here (in `state/`, needing nothing but `state`): the wallet's offline certificate verifier must hash a
header and check a commit without the node, and block sync must hash exactly as consensus did. One module,
one set of rules:

- every structure is a `state.codec.Record` (fixed-order arrays, canonical bytes, bounded lengths);
- `Header.hash()` (the block hash) = RFC-6962 Merkle root of the canonical encodings of the header's fields in
  declaration order, as CometBFT hashes its header fields;
- `data_hash` = `txs_hash(txs)` = Merkle root of SHA-256(tx), as CometBFT's `Txs.Hash` (so a tx inclusion
  proof proves the tx hash, see `tx_proof`);
- `last_commit_hash` = Merkle root of the encoded `CommitSig`s, in validator-set order;
- `last_results_hash` = Merkle root of the encoded deterministic `(code, data)` pair of each tx result
  (`state.block_results.results_hash`);
- `validators_hash` = Merkle root of the encoded `(pub_key, power)` pairs sorted by address;
- `evidence_hash` = Merkle root of the encoded evidence items; `consensus_hash` = SHA-256 of the encoded
  consensus parameters.

Times are integers: milliseconds since the Unix epoch (UTC), the unit of the consensus core's votes and BFT
time. `validate_block` is the pure structural check of a block against the previous state (it does not check
signatures: `consensus.commit.verify_commit` does, through `node.convert`).

The records of FinalizeBlock's results (events, tx results, validator updates; they change with what the
application reports, not with the block format) live in `state.block_results`, the bounds both decode with in
`state.chain_limits`; every name of theirs is re-exported here, where callers import them from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# re-exported: their home was this module (callers import them from here)
from state.block_results import ATTR_HEAD as ATTR_HEAD
from state.block_results import EVENT_HEAD as EVENT_HEAD
from state.block_results import RESULT_HEAD as RESULT_HEAD
from state.block_results import Event as Event
from state.block_results import EventAttribute as EventAttribute
from state.block_results import ExecTxResult as ExecTxResult
from state.block_results import FinalizeBlockResult as FinalizeBlockResult
from state.block_results import ValidatorUpdate as ValidatorUpdate
from state.block_results import exec_results_hash as exec_results_hash
from state.block_results import msgpack_array_header as msgpack_array_header
from state.block_results import pack_results as pack_results
from state.block_results import results_hash as results_hash
from state.chain_limits import ADDRESS_LEN as ADDRESS_LEN
from state.chain_limits import BLOCK_PROTOCOL as BLOCK_PROTOCOL
from state.chain_limits import FLAG_ABSENT as FLAG_ABSENT
from state.chain_limits import FLAG_COMMIT as FLAG_COMMIT
from state.chain_limits import FLAG_NIL as FLAG_NIL
from state.chain_limits import HASH_LEN as HASH_LEN
from state.chain_limits import MAX_BLOCK_BYTES as MAX_BLOCK_BYTES
from state.chain_limits import MAX_BLOCK_TXS as MAX_BLOCK_TXS
from state.chain_limits import MAX_CHAIN_ID_LEN as MAX_CHAIN_ID_LEN
from state.chain_limits import MAX_EVIDENCE as MAX_EVIDENCE
from state.chain_limits import MAX_VALIDATORS as MAX_VALIDATORS
from state.chain_limits import PART_SIZE as PART_SIZE
from state.chain_limits import SIGNATURE_LEN as SIGNATURE_LEN
from state.codec import Record, encode
from state.crypto import address, sha256
from state.fastrec import pack, strict
from state.merkle import Proof, merkle_proof, merkle_root


def _check_hash(name: str, value: bytes, *, allow_empty: bool = True) -> None:
    if len(value) != HASH_LEN and not (allow_empty and not value):
        raise ValueError(f"{name} must be {HASH_LEN} bytes{' or empty' if allow_empty else ''}")


@dataclass(frozen=True)
class PartSetHeader(Record):
    """How a block's encoding is cut into 64 KiB parts: `hash` = Merkle root of the parts."""

    TAG = 0x40
    total: int
    hash: bytes

    def __post_init__(self) -> None:
        if self.total < 0 or self.total > MAX_BLOCK_BYTES // PART_SIZE + 1:
            raise ValueError("part total out of range")
        _check_hash("parts hash", self.hash)


@dataclass(frozen=True)
class BlockID(Record):
    """A block's identity: its header hash plus the part-set header. The zero id means "no block"."""

    TAG = 0x41
    hash: bytes
    parts: PartSetHeader

    def __post_init__(self) -> None:
        _check_hash("block hash", self.hash)

    @classmethod
    def zero(cls) -> BlockID:
        return cls(b"", PartSetHeader(0, b""))

    def is_zero(self) -> bool:
        return not self.hash and self.parts.total == 0 and not self.parts.hash

    def is_complete(self) -> bool:
        return len(self.hash) == HASH_LEN and self.parts.total > 0 and len(self.parts.hash) == HASH_LEN


@dataclass(frozen=True)
class Header(Record):
    """CometBFT's header fields in CometBFT's order; `time_ms` is milliseconds since the epoch (UTC)."""

    TAG = 0x42
    MAX_LEN = {"chain_id": MAX_CHAIN_ID_LEN}
    version_block: int
    version_app: int
    chain_id: str
    height: int
    time_ms: int
    last_block_id: BlockID
    last_commit_hash: bytes
    data_hash: bytes
    validators_hash: bytes
    next_validators_hash: bytes
    consensus_hash: bytes
    app_hash: bytes
    last_results_hash: bytes
    evidence_hash: bytes
    proposer_address: bytes

    def __post_init__(self) -> None:
        if not 1 <= len(self.chain_id) <= MAX_CHAIN_ID_LEN:
            raise ValueError("chain_id must have 1..50 characters")
        if self.height <= 0:
            raise ValueError("height must be positive")
        if self.time_ms < 0:
            raise ValueError("time must not be negative")
        for name in (
            "last_commit_hash",
            "data_hash",
            "validators_hash",
            "next_validators_hash",
            "consensus_hash",
            "last_results_hash",
            "evidence_hash",
        ):
            _check_hash(name, getattr(self, name))
        if len(self.app_hash) > 64:
            raise ValueError("app_hash longer than 64 bytes")
        if len(self.proposer_address) != ADDRESS_LEN:
            raise ValueError("proposer_address must be 20 bytes")

    def hash(self) -> bytes:
        """The block hash: Merkle root of the encoded fields (the tag is not a field). Computed once per header
        object (a node asks for it on the proposal, in process_proposal, at decision and at commit)."""
        cached: bytes | None = self.__dict__.get("_hash")
        if cached is None:
            cached = self.__dict__["_hash"] = merkle_root([encode(v) for v in self.to_value()[1:]])
        return cached


@dataclass(frozen=True)
class CommitSig(Record):
    """One validator's precommit in a commit: flag ABSENT=1 (empty address/signature, time 0), COMMIT=2, NIL=3."""

    TAG = 0x43
    flag: int
    validator_address: bytes
    timestamp_ms: int
    signature: bytes

    def __post_init__(self) -> None:
        if self.flag == FLAG_ABSENT:
            if self.validator_address or self.signature or self.timestamp_ms:
                raise ValueError("an absent signature carries no address, time or signature")
        elif self.flag in (FLAG_COMMIT, FLAG_NIL):
            if len(self.validator_address) != ADDRESS_LEN:
                raise ValueError("validator_address must be 20 bytes")
            if len(self.signature) != SIGNATURE_LEN:
                raise ValueError("signature must be 64 bytes")
        else:
            raise ValueError(f"unknown block_id_flag {self.flag}")

    @classmethod
    def absent(cls) -> CommitSig:
        return cls(FLAG_ABSENT, b"", 0, b"")


@dataclass(frozen=True)
class Commit(Record):
    """+2/3 precommits for `block_id` at (height, round): one `CommitSig` per validator, in set order."""

    TAG = 0x44
    MAX_LEN = {"signatures": MAX_VALIDATORS}
    height: int
    round: int
    block_id: BlockID
    signatures: tuple[CommitSig, ...]

    def __post_init__(self) -> None:
        if self.height < 0 or self.round < 0:
            raise ValueError("commit height and round must not be negative")

    @classmethod
    def empty(cls) -> Commit:
        """The last commit of the initial block."""
        return cls(0, 0, BlockID.zero(), ())

    def hash(self) -> bytes:
        return commit_hash(self.signatures)


@dataclass(frozen=True)
class Block(Record):
    """Header, transactions, evidence (opaque encoded items) and the canonical commit of the previous block."""

    TAG = 0x45
    MAX_LEN = {"txs": MAX_BLOCK_TXS, "evidence": MAX_EVIDENCE}
    header: Header
    txs: tuple[bytes, ...]
    evidence: tuple[bytes, ...]
    last_commit: Commit

    def hash(self) -> bytes:
        return self.header.hash()

    def block_id(self) -> BlockID:
        """Computed once per block object (the node asks for it when it saves the seen commit, updates its
        state and announces the block), from `packed()`."""
        cached: BlockID | None = self.__dict__.get("_block_id")
        if cached is None:
            cached = self.__dict__["_block_id"] = BlockID(self.header.hash(), part_set_header(self.packed()))
        return cached

    def packed(self) -> bytes:
        """The bytes of `encode()`, made once per block object with `fastrec.pack` (~10x cheaper); a block
        decoded by `from_packed` keeps the bytes it was decoded from (the same bytes: they are canonical).
        Validation (its size), the block id, the block store and our proposal's message all use them."""
        cached: bytes | None = self.__dict__.get("_packed")
        if cached is None:
            cached = self.__dict__["_packed"] = pack(self)
        return cached

    @classmethod
    def from_packed(cls, data: bytes, max_size: int = MAX_BLOCK_BYTES) -> Block:
        """Strictly decode untrusted bytes (`fastrec.strict`: every field checked, and the bytes must be the
        canonical encoding, else `DecodeError`), keeping them as the block's `packed()`."""
        block = strict(cls, data, max_size)
        block.__dict__["_packed"] = bytes(data)  # (a frozen record's cache, not a field)
        return block

    def tx_hashes(self) -> tuple[bytes, ...]:
        """SHA-256 of each tx (its id), computed once per block object: validation (`data_hash`), the block
        store's tx locations, the index and the event bus all need them."""
        cached: tuple[bytes, ...] | None = self.__dict__.get("_tx_hashes")
        if cached is None:
            cached = self.__dict__["_tx_hashes"] = tuple([sha256(tx) for tx in self.txs])
        return cached

    @classmethod
    def decode_block(cls, data: bytes) -> Block:
        return cls.decode(data, max_size=MAX_BLOCK_BYTES)




@dataclass(frozen=True)
class ValidatorInfo(Record):
    """A validator as persisted in the state store and carried by certificates."""

    TAG = 0x4B
    address: bytes
    pub_key: bytes
    power: int
    proposer_priority: int

    def __post_init__(self) -> None:
        if len(self.pub_key) != 32 or self.address != address(self.pub_key):
            raise ValueError("validator address must be the address of its 32-byte public key")
        if self.power <= 0:
            raise ValueError("validator power must be positive")


@dataclass(frozen=True)
class ValidatorSetInfo(Record):
    """A validator set (sorted by address) with its current proposer."""

    TAG = 0x4C
    MAX_LEN = {"validators": MAX_VALIDATORS}
    validators: tuple[ValidatorInfo, ...]
    proposer: bytes

    def hash(self) -> bytes:
        return validators_hash([(v.pub_key, v.power) for v in self.validators])



# --------------------------------------------------------------------------- hash helpers


def tx_hash(tx: bytes) -> bytes:
    return sha256(tx)


def txs_hash(txs: Sequence[bytes]) -> bytes:
    """`data_hash`: Merkle root of the SHA-256 of each tx (CometBFT `Txs.Hash`)."""
    return merkle_root([sha256(tx) for tx in txs])


def tx_proof(txs: Sequence[bytes], index: int) -> Proof:
    """Inclusion proof of tx `index` against `data_hash`; verify with `proof.verify(data_hash, tx_hash(tx))`."""
    return merkle_proof([sha256(tx) for tx in txs], index)



def commit_hash(signatures: Sequence[CommitSig]) -> bytes:
    """`last_commit_hash`: Merkle root of the encoded commit signatures, in validator-set order."""
    return merkle_root([s.encode() for s in signatures])


def validators_hash(validators: Sequence[tuple[bytes, int]]) -> bytes:
    """Merkle root of `(pub_key, power)` pairs in set order (sorted by address, as the consensus set is)."""
    ordered = sorted(validators, key=lambda v: address(v[0]))
    return merkle_root([encode([pub_key, power]) for pub_key, power in ordered])


def evidence_hash(evidence: Sequence[bytes]) -> bytes:
    return merkle_root(list(evidence))


def consensus_hash(encoded_params: bytes) -> bytes:
    """SHA-256 of the canonical encoding of the consensus parameters (node.genesis.ConsensusParams)."""
    return sha256(encoded_params)


def split_parts(block_bytes: bytes) -> list[bytes]:
    return [block_bytes[i : i + PART_SIZE] for i in range(0, max(len(block_bytes), 1), PART_SIZE)]


def part_set_header(block_bytes: bytes) -> PartSetHeader:
    parts = split_parts(block_bytes)
    return PartSetHeader(len(parts), merkle_root(parts))


# --------------------------------------------------------------------------- building and validating


@dataclass(frozen=True)
class BlockContext:
    """What the previous state says the next block must carry (CometBFT `state.State` as `validateBlock` sees it).

    `last_block_time_ms` is the genesis time at the initial height (the first block carries it exactly).
    `validator_addresses` is the set of height `height`; `last_validator_count` the size of height-1's set
    (0 at the initial height).
    """

    chain_id: str
    initial_height: int
    height: int
    last_block_id: BlockID
    last_block_time_ms: int
    app_hash: bytes
    last_results_hash: bytes
    validators_hash: bytes
    next_validators_hash: bytes
    consensus_hash: bytes
    validator_addresses: frozenset[bytes]
    last_validator_count: int
    max_bytes: int
    app_version: int = 0
    block_version: int = BLOCK_PROTOCOL
    max_evidence_bytes: int = 1_048_576


def build_block(
    ctx: BlockContext,
    *,
    time_ms: int,
    proposer_address: bytes,
    txs: Sequence[bytes],
    last_commit: Commit,
    evidence: Sequence[bytes] = (),
) -> Block:
    """The block a proposer makes at `ctx.height` (every derived hash filled in; the tx hashes `data_hash` is
    made of are kept as the block's `tx_hashes()`, not computed again)."""
    hashes = tuple([sha256(tx) for tx in txs])
    header = Header(
        version_block=ctx.block_version,
        version_app=ctx.app_version,
        chain_id=ctx.chain_id,
        height=ctx.height,
        time_ms=time_ms,
        last_block_id=ctx.last_block_id,
        last_commit_hash=commit_hash(last_commit.signatures),
        data_hash=merkle_root(hashes),  # = txs_hash(txs)
        validators_hash=ctx.validators_hash,
        next_validators_hash=ctx.next_validators_hash,
        consensus_hash=ctx.consensus_hash,
        app_hash=ctx.app_hash,
        last_results_hash=ctx.last_results_hash,
        evidence_hash=evidence_hash(evidence),
        proposer_address=proposer_address,
    )
    block = Block(header, tuple(txs), tuple(evidence), last_commit)
    block.__dict__["_tx_hashes"] = hashes  # (the cache `tx_hashes()` fills)
    return block


def _header_reason(h: Header, ctx: BlockContext) -> str | None:
    checks: list[tuple[bool, str]] = [
        (h.version_block == ctx.block_version, f"wrong block version {h.version_block}, expected {ctx.block_version}"),
        (h.version_app == ctx.app_version, f"wrong app version {h.version_app}, expected {ctx.app_version}"),
        (h.chain_id == ctx.chain_id, f"wrong chain_id {h.chain_id!r}, expected {ctx.chain_id!r}"),
        (h.height == ctx.height, f"wrong height {h.height}, expected {ctx.height}"),
        (h.last_block_id == ctx.last_block_id, "wrong last_block_id"),
        (h.app_hash == ctx.app_hash, f"wrong app_hash {h.app_hash.hex()}, expected {ctx.app_hash.hex()}"),
        (h.last_results_hash == ctx.last_results_hash, "wrong last_results_hash"),
        (h.validators_hash == ctx.validators_hash, "wrong validators_hash"),
        (h.next_validators_hash == ctx.next_validators_hash, "wrong next_validators_hash"),
        (h.consensus_hash == ctx.consensus_hash, "wrong consensus_hash"),
        (h.proposer_address in ctx.validator_addresses, "proposer is not a validator of this height"),
    ]
    for ok, reason in checks:
        if not ok:
            return reason
    if ctx.height == ctx.initial_height:
        if h.time_ms != ctx.last_block_time_ms:
            return f"time {h.time_ms} of the initial block must equal the genesis time {ctx.last_block_time_ms}"
    elif h.time_ms <= ctx.last_block_time_ms:
        return f"time {h.time_ms} not after the previous block's time {ctx.last_block_time_ms}"
    return None


def _last_commit_reason(block: Block, ctx: BlockContext) -> str | None:
    lc = block.last_commit
    if ctx.height == ctx.initial_height:
        if lc != Commit.empty():
            return "the initial block must have an empty last commit"
        return None
    if lc.height != ctx.height - 1:
        return f"last commit is for height {lc.height}, expected {ctx.height - 1}"
    if lc.block_id != ctx.last_block_id:
        return "last commit is for another block"
    if len(lc.signatures) != ctx.last_validator_count:
        return f"last commit has {len(lc.signatures)} signatures for {ctx.last_validator_count} validators"
    return None


def validate_block(block: Block, ctx: BlockContext) -> str | None:
    """The first reason `block` cannot follow the state described by `ctx`, or None.

    Structural only: signatures of the last commit are verified by `consensus.commit.verify_commit` and BFT
    time by `node.convert.check_block_time` (both run the consensus core's own functions on converted types).
    """
    if not isinstance(block, Block):
        return "not a block"
    try:
        size = len(block.packed())  # (= len(block.encode()); a received block's own bytes)
    except (ValueError, TypeError, OverflowError) as exc:  # (msgpack's refusals of an out-of-range field)
        return f"block cannot be encoded: {exc}"
    if size > ctx.max_bytes:
        return f"block of {size} bytes exceeds max_bytes {ctx.max_bytes}"
    ev_size = sum(len(ev) for ev in block.evidence)
    if ev_size > ctx.max_evidence_bytes:
        return f"evidence of {ev_size} bytes exceeds max_bytes {ctx.max_evidence_bytes} of the evidence parameters"
    reason = _header_reason(block.header, ctx)
    if reason is not None:
        return reason
    if block.header.data_hash != merkle_root(list(block.tx_hashes())):  # = txs_hash(block.txs)
        return "data_hash does not match the transactions"
    if block.header.evidence_hash != evidence_hash(block.evidence):
        return "evidence_hash does not match the evidence"
    if block.header.last_commit_hash != commit_hash(block.last_commit.signatures):
        return "last_commit_hash does not match the last commit"
    return _last_commit_reason(block, ctx)

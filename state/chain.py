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
- `last_results_hash` = Merkle root of the encoded deterministic `(code, data)` pair of each tx result;
- `validators_hash` = Merkle root of the encoded `(pub_key, power)` pairs sorted by address;
- `evidence_hash` = Merkle root of the encoded evidence items; `consensus_hash` = SHA-256 of the encoded
  consensus parameters.

Times are integers: milliseconds since the Unix epoch (UTC), the unit of the consensus core's votes and BFT
time. `validate_block` is the pure structural check of a block against the previous state (it does not check
signatures: `consensus.commit.verify_commit` does, through `node.convert`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from state.codec import MAX_SIZE, Record, encode
from state.crypto import address, sha256
from state.fastrec import fast_init, pack, packb, strict
from state.merkle import EMPTY_HASH, Proof, merkle_proof, merkle_root

BLOCK_PROTOCOL = 11  # CometBFT's block protocol version, reported as header.version.block
HASH_LEN = 32
ADDRESS_LEN = 20
SIGNATURE_LEN = 64
MAX_CHAIN_ID_LEN = 50
MAX_VALIDATORS = 10_000
MAX_BLOCK_TXS = 200_000
MAX_EVIDENCE = 1_000
MAX_BLOCK_BYTES = MAX_SIZE  # hard decode limit; the genesis `block.max_bytes` is the agreed, lower one
PART_SIZE = 65_536  # CometBFT's BlockPartSizeBytes

FLAG_ABSENT = 1
FLAG_COMMIT = 2
FLAG_NIL = 3


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


# --------------------------------------------------------------------------- results of FinalizeBlock
# One shape from the application to the wire: the application builds these records (`state.store.Ctx.emit`,
# `state.abci`, whose ABCI names are aliases of them), the node stores and indexes them as they are, and the
# RPC encodes them as they are (its views of events and tx results are these classes). `pack_results` encodes
# a block's results once, for the block store and the application's replay record alike.


@dataclass(frozen=True)
class EventAttribute(Record):
    """ABCI event attribute; `index` asks the node to index it for tx_search."""

    TAG = 0x46
    key: str
    value: str
    index: bool


@dataclass(frozen=True)
class Event(Record):
    """ABCI event: a type and its attributes."""

    TAG = 0x47
    MAX_LEN = {"attributes": 1024}
    type: str
    attributes: tuple[EventAttribute, ...]


@dataclass(frozen=True)
class ExecTxResult(Record):
    """A tx's result; only `(code, data)` enter `last_results_hash` (log and events are not consensus). The
    defaults (an accepted, empty result) serve the RPC, whose tx result view this is (node/rpc/services.py)."""

    TAG = 0x48
    code: int = 0
    data: bytes = b""
    log: str = ""
    info: str = ""
    gas_wanted: int = 0
    gas_used: int = 0
    events: tuple[Event, ...] = ()
    codespace: str = ""


@dataclass(frozen=True)
class ValidatorUpdate(Record):
    """An application's validator change (power 0 removes)."""

    TAG = 0x49
    pub_key: bytes
    power: int


@dataclass(frozen=True)
class FinalizeBlockResult(Record):
    """What the block store keeps per height for `block_results` and crash recovery (replay against it)."""

    TAG = 0x4A
    MAX_LEN = {"tx_results": MAX_BLOCK_TXS, "validator_updates": MAX_VALIDATORS}
    events: tuple[Event, ...]
    tx_results: tuple[ExecTxResult, ...]
    validator_updates: tuple[ValidatorUpdate, ...]
    consensus_param_updates: bytes  # encoded parameters record, b"" when unchanged
    app_hash: bytes


# plain __init__s (state.fastrec.fast_init): the application builds an ExecTxResult per tx (2.1 -> ~0.5 us) and an
# Event per event, and decoding a block's results builds them all
fast_init(EventAttribute, Event, ExecTxResult, ValidatorUpdate, FinalizeBlockResult)


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


_ATTR_TAG, _EVENT_TAG, _RESULT_TAG, _UPDATE_TAG, _RESULTS_TAG = 0x46, 0x47, 0x48, 0x49, 0x4A


def msgpack_array_header(n: int) -> bytes:
    """The msgpack header of an array of `n` items (its smallest form, as msgpack's packer writes it)."""
    if n < 16:
        return _FIXARRAY[n]
    return b"\xdc" + n.to_bytes(2, "big") if n < 65_536 else b"\xdd" + n.to_bytes(4, "big")


_FIXARRAY = tuple(bytes([0x90 | n]) for n in range(16))
# the packed `EventAttribute`s seen lately, by identity (id -> (the attribute, its bytes)): the application
# interns its attributes (state/store.py `_attr`; ~87 % of a block's pairs repeat), so most are packed once
# and reused across blocks. An entry holds its attribute, so the id is not reused while the entry lives;
# bounded (emptied when full; ~200 bytes an entry).
_ATTR_BYTES: dict[int, tuple[EventAttribute, bytes]] = {}
_ATTR_BYTES_MAX = 16_384
_TYPE_BYTES: dict[str, bytes] = {}  # event type -> its packed str (a handful)
_EVENT_HEAD = bytes([0x93, _EVENT_TAG])
_RESULT_HEAD = bytes([0x99, _RESULT_TAG])
_RESULTS_HEAD = bytes([0x96, _RESULTS_TAG])
_DEFAULT_FIELDS = packb([0, b"", "", "", 0, 0])[1:]  # code .. gas_used of an accepted, empty result
_EMPTY_STR = packb([""])[1:]
# the heads of a tx result's, an event's and an attribute's arrays in `pack_results` (the node's indexer makes a
# block's result pieces in its own pass over the results, node/indexer.py; a test compares the bytes)
RESULT_HEAD, EVENT_HEAD, ATTR_HEAD = _RESULT_HEAD, _EVENT_HEAD, bytes([0x94, _ATTR_TAG])


def _pack_events(out: list[bytes], events: tuple[Event, ...]) -> None:
    """Append the msgpack pieces of `[event.to_list() for event in events]` (array header first) to `out`."""
    out.append(msgpack_array_header(len(events)))
    cache = _ATTR_BYTES
    for e in events:
        t = e.type
        tb = _TYPE_BYTES.get(t)
        if tb is None:
            tb = packb([t])[1:]
            if len(_TYPE_BYTES) < 1024:
                _TYPE_BYTES[t] = tb
        attrs = e.attributes
        out.append(_EVENT_HEAD)
        out.append(tb)
        out.append(msgpack_array_header(len(attrs)))
        for a in attrs:
            ent = cache.get(id(a))
            if ent is None or ent[0] is not a:
                if len(cache) >= _ATTR_BYTES_MAX:
                    cache.clear()
                ent = cache[id(a)] = (a, packb([_ATTR_TAG, a.key, a.value, a.index]))
            out.append(ent[1])


def _pack_tx_result(out: list[bytes], x: ExecTxResult) -> None:
    """Append the msgpack pieces of `x.to_list()` to `out`: an accepted result's constant fields and each
    interned attribute's bytes (`_ATTR_BYTES`)."""
    out.append(_RESULT_HEAD)
    if x.code == 0 and not x.gas_wanted and not x.gas_used and not x.data and not x.log and not x.info:
        out.append(_DEFAULT_FIELDS)
    else:
        out.append(packb([x.code, x.data, x.log, x.info, x.gas_wanted, x.gas_used])[1:])
    if x.events:
        _pack_events(out, x.events)
    else:
        out.append(_FIXARRAY[0])
    cs = x.codespace
    out.append(_EMPTY_STR if not cs else packb([cs])[1:])


def pack_results(r: FinalizeBlockResult, tx_pieces: list[bytes] | None = None) -> bytes:
    """`r.encode()`, built directly and computed once per result: the block store keeps these bytes and the
    application the same bytes as its replay record. Canonical because every field is a primitive msgpack
    packs in its smallest form (as `state.fastrec.pack`, which a test compares it with). Why assembled from
    pieces rather than one `packb` of nested lists: building those lists (one per attribute, ~6,000 in a block
    of 1,000 txs) cost more than the packing; an interned attribute's bytes are made once (`_ATTR_BYTES`) and
    the block's results are one join of the pieces (5.4 -> ~2 us per tx). `tx_pieces`: the msgpack pieces of
    every tx result, in order, already made by a caller that walks the results anyway (the node's indexer
    makes them in its own pass, node/indexer.py); they must be what `_pack_tx_result` appends."""
    cached: bytes | None = r.__dict__.get("_packed")
    if cached is not None:
        return cached
    out = [_RESULTS_HEAD]
    _pack_events(out, r.events)
    results = r.tx_results
    out.append(msgpack_array_header(len(results)))
    if tx_pieces is not None:
        out.extend(tx_pieces)
    else:
        for x in results:
            _pack_tx_result(out, x)
    updates = r.validator_updates
    out.append(msgpack_array_header(len(updates)))
    out.extend([packb([_UPDATE_TAG, u.pub_key, u.power]) for u in updates])
    out.append(packb([r.consensus_param_updates, r.app_hash])[1:])
    raw = b"".join(out)
    r.__dict__["_packed"] = raw  # a frozen record's cache, not a field (equality, repr and encode ignore it)
    return raw


# --------------------------------------------------------------------------- hash helpers


def tx_hash(tx: bytes) -> bytes:
    return sha256(tx)


def txs_hash(txs: Sequence[bytes]) -> bytes:
    """`data_hash`: Merkle root of the SHA-256 of each tx (CometBFT `Txs.Hash`)."""
    return merkle_root([sha256(tx) for tx in txs])


def tx_proof(txs: Sequence[bytes], index: int) -> Proof:
    """Inclusion proof of tx `index` against `data_hash`; verify with `proof.verify(data_hash, tx_hash(tx))`."""
    return merkle_proof([sha256(tx) for tx in txs], index)


def results_hash(results: Sequence[tuple[int, bytes]]) -> bytes:
    """`last_results_hash` from the deterministic (code, data) of each tx result: `merkle_root` of their
    encodings (a test compares). Why not that call: a block's results repeat a handful of (code, data) pairs
    (~90 % accepted, the rest a few refusal codes; our `data` is empty), so each distinct pair is encoded and
    leaf-hashed once, and an inner node whose two children repeat a pair seen at that level is taken from a
    memo: runs of equal results make equal subtrees (3.1 -> ~1 us per tx)."""
    leaves: dict[tuple[int, bytes], bytes] = {}
    level: list[bytes] = []
    for code, data in results:
        key = (code, data)
        h = leaves.get(key)
        if h is None:
            h = leaves[key] = hashlib.sha256(b"\x00" + encode([code, data])).digest()
        level.append(h)
    n = len(level)
    if n == 0:
        return EMPTY_HASH
    sha = hashlib.sha256
    memo: dict[bytes, bytes] = {}
    while n > 1:  # level by level, as state.merkle.root_of_leaf_hashes (the same tree as RFC 6962's split)
        nxt: list[bytes] = []
        for i in range(0, n - 1, 2):
            pair = b"\x01" + level[i] + level[i + 1]
            h = memo.get(pair)
            if h is None:
                h = memo[pair] = sha(pair).digest()
            nxt.append(h)
        if n & 1:
            nxt.append(level[-1])
        level, n = nxt, len(nxt)
    return level[0]


def exec_results_hash(results: Sequence[ExecTxResult]) -> bytes:
    return results_hash([(r.code, r.data) for r in results])


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

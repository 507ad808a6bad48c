"""The evidence pool: duplicate-vote evidence waiting for a block, and the rules that make an item valid.

Why a module of its own: evidence reaches the node three ways — the core's own detection (`Node.report`),
peers (the evidence channel) and clients (RPC `broadcast_evidence`) — and every path, plus the check of a
received block (node/blockrules.py), must apply one rule set, as CometBFT's `evidence.Pool.verify`:

- two votes of one validator, same height/round/type, for different blocks, both signatures valid;
- the validator is in the set *of the evidence height* (from node/statestore.py's per-height history);
- not from a future height, and not expired: expired when both older than `evidence_max_age_num_blocks`
  blocks and `evidence_max_age_duration_ns` (block time at the evidence height vs the last block's time);
- not already committed, in either vote order (`evidence_keys`): the block store keeps the hash of every
  item its blocks carry (node/blockstore.py `e` entries, written with the block), so a restarted node
  refuses it as before the restart, and the application never punishes one double vote twice. The entries
  go with their blocks when the node prunes (node/blockstore.py `prune_below`), and so does the validator
  set of the evidence height, so evidence of a pruned height is refused either way.

"Now" is the chain state (last height and block time), never the wall clock, so every node judges a block's
evidence identically. Items are kept in one canonical order (`canonical`), so every node's copy of a pair is
one item with one hash.
"""

from __future__ import annotations

import base64
import re
from calendar import timegm
from collections.abc import Callable
from typing import Any, Protocol

from consensus.sign_bytes import vote_sign_bytes
from consensus.validators import ValidatorSet
from node.convert import valset_from_info
from node.messages import EvidenceMsg, VoteMsg, decode_message
from node.statestore import ChainState, StateStore
from state.codec import DecodeError
from state.crypto import sha256, verify

ALREADY_COMMITTED = "evidence was already committed"
BAD_SIGNATURE = "bad evidence signature"  # a peer sending this is at fault; every other reason may be honest


class History(Protocol):
    """What the rules need of the past: the validator set and the block time of a height (None if unknown)."""

    def validators_at(self, height: int) -> ValidatorSet | None: ...

    def block_time_ms(self, height: int) -> int | None: ...

    def committed_height(self, item_hash: bytes) -> int | None:
        """The height of the block that committed the evidence item of this SHA-256 (None: not committed)."""
        ...


class StoredHistory:
    """`History` over the node's stores: per-height validator sets (StateStore), block times and committed
    evidence (block store). Made at start: the block store's committed-evidence entries of a home written
    before them are rebuilt then, once (`BlockStore.index_committed_evidence`)."""

    def __init__(self, states: StateStore, store: Any) -> None:
        self.states = states
        self.store = store
        store.index_committed_evidence()

    def validators_at(self, height: int) -> ValidatorSet | None:
        info = self.states.load_validators(height)
        return None if info is None else valset_from_info(info)

    def block_time_ms(self, height: int) -> int | None:
        meta = self.store.load_block_meta(height)
        return None if meta is None else int(meta.header.time_ms)

    def committed_height(self, item_hash: bytes) -> int | None:
        h: int | None = self.store.committed_evidence_height(item_hash)
        return h


def evidence_keys(ev: EvidenceMsg) -> tuple[bytes, bytes]:
    """The hashes of the item in its two vote orders (one pair of votes, one piece of evidence): the
    canonical one first (the pool's key)."""
    c = canonical(ev)
    return sha256(c.encode()), sha256(EvidenceMsg(c.vote_b, c.vote_a).encode())


def oldest_unexpired_height(state: ChainState, block_time_ms: Callable[[int], int | None], base: int) -> int:
    """The lowest height whose evidence may still be valid on top of `state` (or of any later state): below
    it evidence is expired by both ages (`evidence_reason`), above it a node needs the validator set and the
    block time of the height to judge it as every other node does, so a pruning node keeps them (node/
    blockstore.py `prune_below`). `block_time_ms` of the stored heights from `base` (times never decrease)."""
    params = state.consensus_params
    by_blocks = state.last_height - params.evidence_max_age_num_blocks
    cutoff = state.last_block_time_ms - params.evidence_max_age_duration_ns // 1_000_000
    lo, hi = max(base, 1), max(state.last_height, 1)  # the first stored height whose block time >= cutoff
    while lo < hi:
        mid = (lo + hi) // 2
        t = block_time_ms(mid)
        if t is not None and t >= cutoff:
            hi = mid
        else:
            lo = mid + 1
    return max(0, min(by_blocks, lo))


def canonical(msg: EvidenceMsg) -> EvidenceMsg:
    return EvidenceMsg(msg.vote_b, msg.vote_a) if msg.vote_b.encode() < msg.vote_a.encode() else msg


def evidence_reason(chain_id: str, state: ChainState, raw: bytes, history: History) -> str | None:
    """Why `raw` is not valid evidence on top of `state`, or None."""
    try:
        ev = decode_message(raw)
    except DecodeError as exc:
        return str(exc)
    if not isinstance(ev, EvidenceMsg):
        return "not evidence"
    a, b = ev.vote_a, ev.vote_b
    if a.value_id == b.value_id:
        return "the two votes are for the same block"
    if any(history.committed_height(k) is not None for k in evidence_keys(ev)):
        return ALREADY_COMMITTED
    h = a.height
    if h > state.height:
        return f"evidence from a future height {h} (the chain is at {state.height})"
    vs = state.validator_set() if h == state.height else history.validators_at(h)
    if vs is None:
        return f"the validator set of height {h} is not known (pruned?)"
    val = vs.get(a.validator)
    if val is None:
        return f"validator {a.validator.hex().upper()} is not in the validator set of height {h}"
    params = state.consensus_params
    age_blocks = state.last_height - h
    if age_blocks > params.evidence_max_age_num_blocks:
        t = history.block_time_ms(h) if h <= state.last_height else None
        ev_time = min(a.timestamp_ms, b.timestamp_ms) if t is None else t
        age_ns = (state.last_block_time_ms - ev_time) * 1_000_000
        if age_ns > params.evidence_max_age_duration_ns:
            return f"evidence from height {h} is too old (max age {params.evidence_max_age_num_blocks} blocks)"
    for vm in (a, b):
        if not verify(val.pub_key, vote_sign_bytes(chain_id, vm.vote()), vm.signature):
            return BAD_SIGNATURE
    return None


class EvidencePool:
    """Pending evidence (to gossip and propose); the committed is refused by the rules (`history`)."""

    def __init__(self, chain_id: str, history: History) -> None:
        self.chain_id = chain_id
        self.history = history
        self.pending: dict[bytes, bytes] = {}

    def reason(self, state: ChainState, raw: bytes) -> str | None:
        return evidence_reason(self.chain_id, state, raw, self.history)

    def add(self, state: ChainState, msg: EvidenceMsg) -> tuple[bytes, str | None, bool]:
        """(hash, why refused or None, newly added). Already pending is not an error (as CometBFT)."""
        raw = canonical(msg).encode()
        key = sha256(raw)
        if key in self.pending:
            return key, None, False
        reason = self.reason(state, raw)
        if reason is None:
            self.pending[key] = raw
        return key, reason, reason is None

    def for_proposal(self, state: ChainState, limit: int) -> list[bytes]:
        """Valid pending items (what our own check_block accepts); the invalid ones (expired, their validator
        since removed) are dropped."""
        for k, raw in list(self.pending.items()):
            if self.reason(state, raw) is not None:
                del self.pending[k]
        return list(self.pending.values())[:limit]

    def committed_block(self, evidence: tuple[bytes, ...] | list[bytes]) -> None:
        """Drop from the pending what a committed block carried (the block store has it now: see `add`)."""
        for raw in evidence:
            try:
                ev = decode_message(raw)
            except DecodeError:
                continue
            if isinstance(ev, EvidenceMsg):
                self.pending.pop(evidence_keys(ev)[0], None)


# ---------------------------------------------------------------- RPC `broadcast_evidence` input
_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$")
_VOTE_TYPES = {1: 1, 2: 2, "1": 1, "2": 2, "SIGNED_MSG_TYPE_PREVOTE": 1, "SIGNED_MSG_TYPE_PRECOMMIT": 2}


def _time_ms(text: Any) -> int:
    m = _TIME.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"bad timestamp {text!r} (RFC 3339, UTC)")
    y, mo, d, hh, mi, ss = (int(g) for g in m.groups()[:6])
    secs = timegm((y, mo, d, hh, mi, ss, 0, 0, 0))
    ns = int((m.group(7) or "0").ljust(9, "0"))
    if ns % 1_000_000:
        raise ValueError("vote timestamps are whole milliseconds on this chain")
    return secs * 1000 + ns // 1_000_000


def _vote(obj: Any) -> VoteMsg:
    if not isinstance(obj, dict):
        raise ValueError("a vote must be an object")
    vtype = _VOTE_TYPES.get(obj.get("type"))
    if vtype is None:
        raise ValueError(f"bad vote type {obj.get('type')!r}")
    bid = obj.get("block_id") or {}
    hash_hex = bid.get("hash", "") if isinstance(bid, dict) else ""
    value_id = bytes.fromhex(hash_hex) if hash_hex else None
    return VoteMsg(vtype, int(obj["height"]), int(obj["round"]), value_id, bytes.fromhex(obj["validator_address"]),
                   _time_ms(obj["timestamp"]), base64.b64decode(obj["signature"], validate=True))


def parse_rpc_evidence(ev: dict[str, Any]) -> EvidenceMsg:
    """CometBFT's `tendermint/DuplicateVoteEvidence` JSON, or this chain's `egp/Evidence` (base64 of the
    item exactly as blocks carry it, so evidence seen in any block can be resubmitted). Raises ValueError."""
    kind, value = ev.get("type"), ev.get("value")
    try:
        if kind == "egp/Evidence" and isinstance(value, str):
            msg = decode_message(base64.b64decode(value, validate=True))
            if not isinstance(msg, EvidenceMsg):
                raise ValueError("not duplicate-vote evidence")
            return msg
        if kind == "tendermint/DuplicateVoteEvidence" and isinstance(value, dict):
            return EvidenceMsg(_vote(value.get("vote_a")), _vote(value.get("vote_b")))
    except (KeyError, TypeError, ValueError, DecodeError) as exc:
        raise ValueError(f"malformed evidence: {exc}") from None
    raise ValueError(f"unsupported evidence type {kind!r} (tendermint/DuplicateVoteEvidence or egp/Evidence)")


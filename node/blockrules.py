"""What makes a block the right next block: building the proposer's block and checking a received one.

Why apart from `node/node.py`: these are the rules every bank must apply identically (a proposal one node
accepts and another refuses costs a round), so they live in one small module a reviewer can read against
CometBFT's `validateBlock`: the structural checks of `state.chain.validate_block`, then the last commit
verified with `consensus.commit.verify_commit` (the function block sync uses too), the BFT time, and
every evidence item (node/evidence.py's rules: a duplicate vote of a validator of the set at its height,
both signatures valid, not expired, not already committed; the pool refuses, and never proposes, what these
refuse), and no pair of votes twice (in either order).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from consensus.bft_time import block_time_ms
from consensus.commit import verify_commit
from node.convert import commit_to_consensus, valset_from_info
from node.evidence import History, evidence_keys, evidence_reason
from node.limits import MAX_TXS_PER_BLOCK as MAX_TXS_PER_BLOCK  # re-exported: the block rules' tx cap
from node.messages import EvidenceMsg, decode_message
from node.statestore import ChainState
from state.chain import Block, Commit, build_block, validate_block
from state.crypto import verify

MAX_EVIDENCE_PER_BLOCK = 16
TX_BUDGET_MARGIN = 64 * 1024  # header, last commit and evidence overhead kept out of the tx budget


class VerifiedSignatures:
    """Ed25519 checks that passed recently, so the same (key, message, signature) is not checked twice.

    Why: every precommit in a block's LastCommit was checked once already as a vote of the previous height
    (node/inbound.py `on_vote`; our own is added when signed), and `check_block` checked them all again:
    3-4 Ed25519 verifications per block and node (~50 us each on an idle core). A hit means this exact
    triple verified before, so the verdict is the same; a miss is verified and remembered. Bounded (oldest
    out); each operation is one call on an OrderedDict, so the loop (votes) and the commit worker (a
    proposal's `check_block`) can share it."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._ok: OrderedDict[tuple[bytes, bytes, bytes], None] = OrderedDict()
        self.hits = 0

    def add(self, pub_key: bytes, msg: bytes, sig: bytes) -> None:
        """Remember a signature known to be valid (one this node just made)."""
        self._ok[(pub_key, msg, sig)] = None
        if len(self._ok) > self.limit:
            self._ok.popitem(last=False)

    def verify(self, pub_key: bytes, msg: bytes, sig: bytes) -> bool:
        if (pub_key, msg, sig) in self._ok:
            self.hits += 1
            return True
        if not verify(pub_key, msg, sig):
            return False
        self.add(pub_key, msg, sig)
        return True


def next_block_time(state: ChainState, last_commit: Commit) -> int:
    """The BFT time of the block after `state` whose last commit is `last_commit`."""
    if state.height == state.initial_height:
        return state.last_block_time_ms
    assert state.last_validators is not None
    return block_time_ms(commit_to_consensus(last_commit), valset_from_info(state.last_validators),
                         state.last_block_time_ms)


def make_block(state: ChainState, proposer: bytes, last_commit: Commit, time_ms: int,
               txs: Sequence[bytes], evidence: Sequence[bytes]) -> Block:
    return build_block(state.block_context(), time_ms=time_ms, proposer_address=proposer, txs=txs,
                       last_commit=last_commit, evidence=evidence)


def block_due(state: ChainState, store: Any, mempool_txs: int, create_empty_blocks: bool) -> bool:
    """With create_empty_blocks = false: a block is due when txs wait, or to prove a new app hash."""
    if create_empty_blocks or mempool_txs > 0 or state.last_height == 0:
        return True
    meta = store.load_block_meta(state.last_height)
    return meta is None or meta.header.app_hash != state.app_hash


def tx_budget(max_bytes: int, evidence: Sequence[bytes]) -> int:
    return max_bytes - TX_BUDGET_MARGIN - sum(len(e) for e in evidence)


def check_block(chain_id: str, state: ChainState, block: Block, history: History,
                verify_sig: Callable[[bytes, bytes, bytes], bool] = verify) -> str | None:
    """Why `block` cannot be the next block after `state`, or None (sizes from the state's consensus params).
    `verify_sig` checks the last commit's signatures (a `VerifiedSignatures.verify` in the node)."""
    if isinstance(block, Block) and len(block.txs) > MAX_TXS_PER_BLOCK:  # before hashing a giant block
        return f"block of {len(block.txs)} txs exceeds the {MAX_TXS_PER_BLOCK} txs a block may carry"
    reason = validate_block(block, state.block_context())
    if reason is not None:
        return reason
    if block.header.height > state.initial_height:
        assert state.last_validators is not None
        last_vals = valset_from_info(state.last_validators)
        core_lc = commit_to_consensus(block.last_commit)
        v = verify_commit(chain_id, last_vals, state.last_height, state.last_block_id.hash, core_lc, verify_sig)
        if not v.ok:
            return f"last commit does not verify: {v.reason}"
        want = block_time_ms(core_lc, last_vals, state.last_block_time_ms)
        if block.header.time_ms != want:
            return f"block time {block.header.time_ms} is not the BFT time {want}"
    if len(block.evidence) > MAX_EVIDENCE_PER_BLOCK:
        return f"more than {MAX_EVIDENCE_PER_BLOCK} evidence items"
    if len(set(block.evidence)) != len(block.evidence):
        return "the same evidence twice"
    seen: set[bytes] = set()
    for raw in block.evidence:
        reason = evidence_reason(chain_id, state, raw, history)  # (it decoded `raw`: an EvidenceMsg)
        if reason is not None:
            return f"invalid evidence: {reason}"
        ev = decode_message(raw)
        assert isinstance(ev, EvidenceMsg)
        key = evidence_keys(ev)[0]
        if key in seen:
            return "the same evidence twice"
        seen.add(key)
    return None

"""The node's replicated state between blocks (CometBFT's `state.State`) and the core ↔ chain conversions.

Why a record of its own: the handshake compares three heights — the application's (`info`), the block
store's and this state's — so this state must be persisted separately, as the *last* durable step of the
commit path ("state/meta"). It holds what the next block must carry (last block id and time, app hash,
results hash, the validator sets of heights H, H+1, H+2 with their proposer priorities) so a restarted node
proposes and validates exactly as it would have without the restart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from consensus.types import BlockIDFlag
from consensus.types import Commit as CoreCommit
from consensus.types import CommitSig as CoreCommitSig
from consensus.validators import Validator, ValidatorPipeline, ValidatorSet, ValidatorUpdate
from state.chain import (
    FLAG_ABSENT,
    BlockContext,
    BlockID,
    Commit,
    CommitSig,
    ValidatorInfo,
    ValidatorSetInfo,
    consensus_hash,
)
from state.codec import Record
from state.crypto import address
from state.kv import KV
from state.merkle import merkle_root

STATE_KEY = b"state"


def valset_to_info(vs: ValidatorSet) -> ValidatorSetInfo:
    return ValidatorSetInfo(
        tuple(ValidatorInfo(v.address, v.pub_key, v.power, v.proposer_priority) for v in vs.validators), vs.proposer
    )


def valset_from_info(info: ValidatorSetInfo) -> ValidatorSet:
    return ValidatorSet([Validator(v.address, v.pub_key, v.power, v.proposer_priority) for v in info.validators],
                        info.proposer)


def valset_hash(vs: ValidatorSet) -> bytes:
    return valset_to_info(vs).hash()


def to_chain_commit(c: CoreCommit, block_id: BlockID) -> Commit:
    sigs = tuple(
        CommitSig.absent() if s.flag == BlockIDFlag.ABSENT else CommitSig(int(s.flag), s.validator, s.timestamp_ms,
                                                                           s.signature)
        for s in c.signatures
    )
    return Commit(c.height, c.round, block_id, sigs)


def to_core_commit(c: Commit) -> CoreCommit:
    sigs = tuple(
        CoreCommitSig(BlockIDFlag.ABSENT, b"") if s.flag == FLAG_ABSENT
        else CoreCommitSig(BlockIDFlag(s.flag), s.validator_address, s.timestamp_ms, s.signature)
        for s in c.signatures
    )
    return CoreCommit(c.height, c.round, c.block_id.hash, sigs)


def updates_to_core(updates: tuple[tuple[bytes, int], ...]) -> list[ValidatorUpdate]:
    return [ValidatorUpdate(pk, power, address(pk)) for pk, power in updates]


@dataclass(frozen=True)
class ChainState(Record):
    """State after block `last_height` (0 before the first block)."""

    TAG = 0x60
    chain_id: str
    initial_height: int
    last_height: int
    last_block_id: BlockID
    last_block_time_ms: int  # genesis time before the first block
    app_hash: bytes
    last_results_hash: bytes
    last_validators: ValidatorSetInfo | None  # set of `last_height` (None before the first block)
    validators: ValidatorSetInfo  # set of `last_height + 1`
    next_validators: ValidatorSetInfo  # set of `last_height + 2`
    consensus_params: bytes  # canonical encoding of the genesis consensus parameters

    @property
    def height(self) -> int:
        """The height this state is waiting for."""
        return max(self.last_height + 1, self.initial_height)

    def pipeline(self) -> ValidatorPipeline:
        return ValidatorPipeline(self.height, valset_from_info(self.validators), valset_from_info(self.next_validators))

    def context(self, max_bytes: int) -> BlockContext:
        vs = self.validators
        return BlockContext(
            chain_id=self.chain_id,
            initial_height=self.initial_height,
            height=self.height,
            last_block_id=self.last_block_id,
            last_block_time_ms=self.last_block_time_ms,
            app_hash=self.app_hash,
            last_results_hash=self.last_results_hash,
            validators_hash=vs.hash(),
            next_validators_hash=self.next_validators.hash(),
            consensus_hash=consensus_hash(self.consensus_params),
            validator_addresses=frozenset(v.address for v in vs.validators),
            last_validator_count=0 if self.last_validators is None else len(self.last_validators.validators),
            max_bytes=max_bytes,
        )

    def advance(self, height: int, block_id: BlockID, time_ms: int, app_hash: bytes, results_hash: bytes,
                updates: list[ValidatorUpdate]) -> ChainState:
        """The state after committing block `height` whose application returned `updates` (H+2 rule)."""
        if height != self.height:
            raise ValueError(f"cannot apply block {height} to the state at height {self.height}")
        nxt = self.pipeline().advance(updates)
        return replace(
            self,
            last_height=height,
            last_block_id=block_id,
            last_block_time_ms=time_ms,
            app_hash=app_hash,
            last_results_hash=results_hash,
            last_validators=self.validators,
            validators=valset_to_info(nxt.current),
            next_validators=valset_to_info(nxt.next),
        )

    @classmethod
    def genesis(cls, chain_id: str, initial_height: int, time_ms: int, validators: list[Validator],
                app_hash: bytes, consensus_params: bytes) -> ChainState:
        pipe = ValidatorPipeline.genesis(initial_height, validators)
        return cls(chain_id, initial_height, 0, BlockID.zero(), time_ms, app_hash, merkle_root([]), None,
                   valset_to_info(pipe.current), valset_to_info(pipe.next), consensus_params)


def load_state(kv: KV) -> ChainState | None:
    raw = kv.get(STATE_KEY)
    return None if raw is None else ChainState.decode(raw)


def _vals_key(height: int) -> bytes:
    return b"vals/" + height.to_bytes(8, "big")


def save_state_op(kv: KV, st: ChainState, sync: bool = True) -> None:
    """The state, plus the validator sets of the next two heights (kept per height for RPC `validators`)."""
    b = kv.batch()
    b.put(STATE_KEY, st.encode())
    b.put(_vals_key(st.height), st.validators.encode())
    b.put(_vals_key(st.height + 1), st.next_validators.encode())
    b.commit(sync=sync)


def load_validators(kv: KV, height: int) -> ValidatorSetInfo | None:
    """The validator set of `height` (with the proposer priorities it started with), if known."""
    raw = kv.get(_vals_key(height))
    return None if raw is None else ValidatorSetInfo.decode(raw)

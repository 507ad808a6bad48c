"""The consensus state between blocks (CometBFT's `state.State`) and its store.

`ChainState` says what the next block must carry: last height, block id and time; the validator sets of the
last, the next and the one after (the H+2 rule: updates returned by FinalizeBlock at H take effect at H+2); the
consensus parameters; the last results hash and the app hash. `update_state` is CometBFT's `updateState`:
a pure function of (state, committed block, FinalizeBlock result). `ChainState.block_context()` gives
`state.chain.validate_block` and `state.chain.build_block` what they need.

Why a record of its own: the handshake compares three heights — the application's (`info`), the block
store's and this state's — so the state is persisted separately, as the *last* durable step of the commit
path (node/applier.py). It holds what the next block must carry, with the proposer priorities, so a restarted
node proposes and validates exactly as it would have without the restart.

The store keeps the latest state under one key and, per height, the validator set and parameters in force,
so RPC `validators?height=` / `consensus_params?height=`, evidence checks and block sync can look back. Every
save adds to a caller's `Batch` (or commits its own, synced), as the block store does.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace

from consensus.validators import Validator, ValidatorPipeline, ValidatorSet
from node.convert import updates_to_consensus, valset_from_info, valset_to_info
from node.genesis import ConsensusParams, Genesis
from state.chain import BlockContext, BlockID, ExecTxResult, FinalizeBlockResult, Header, ValidatorSetInfo
from state.chain import exec_results_hash as _results_hash
from state.codec import Record
from state.fastrec import pack
from state.kv import KV, Batch
from state.merkle import EMPTY_HASH

NS = b"statestore/"
_H = struct.Struct(">Q")


@dataclass(frozen=True)
class ChainState(Record):
    TAG = 0x60
    chain_id: str
    initial_height: int
    last_block_height: int  # initial_height - 1 before the first block
    last_block_id: BlockID
    last_block_time_ms: int  # the genesis time before the first block
    validators: ValidatorSetInfo  # of height last_block_height + 1
    next_validators: ValidatorSetInfo  # of height last_block_height + 2
    last_validators: ValidatorSetInfo | None  # of last_block_height (None before the first block)
    last_height_validators_changed: int
    consensus_params: ConsensusParams
    last_height_params_changed: int
    last_results_hash: bytes
    app_hash: bytes

    @property
    def height(self) -> int:
        """The height of the next block."""
        return self.last_block_height + 1

    @property
    def last_height(self) -> int:
        """The height of the last committed block; 0 before the first one (whatever the initial height)."""
        return self.last_block_height if self.last_block_height >= self.initial_height else 0

    def validator_set(self) -> ValidatorSet:
        return valset_from_info(self.validators)

    def last_validator_set(self) -> ValidatorSet | None:
        return None if self.last_validators is None else valset_from_info(self.last_validators)

    def block_context(self) -> BlockContext:
        """What a block after this state must carry (`state.chain.validate_block`, `build_block`); made once per
        state object (the validator sets' and parameters' hashes: ~65 us), asked by every check_block and
        make_block of the height."""
        cached: BlockContext | None = self.__dict__.get("_block_context")
        if cached is None:
            cached = self.__dict__["_block_context"] = self._make_block_context()
        return cached

    def _make_block_context(self) -> BlockContext:
        return BlockContext(
            chain_id=self.chain_id,
            initial_height=self.initial_height,
            height=self.height,
            last_block_id=self.last_block_id,
            last_block_time_ms=self.last_block_time_ms,
            app_hash=self.app_hash,
            last_results_hash=self.last_results_hash,
            validators_hash=self.validators.hash(),
            next_validators_hash=self.next_validators.hash(),
            consensus_hash=self.consensus_params.hash(),
            validator_addresses=frozenset(v.address for v in self.validators.validators),
            last_validator_count=0 if self.last_validators is None else len(self.last_validators.validators),
            max_bytes=self.consensus_params.block_max_bytes,
            app_version=self.consensus_params.app_version,
            max_evidence_bytes=self.consensus_params.evidence_max_bytes,
        )


def state_from_genesis(genesis: Genesis, app_hash: bytes | None = None) -> ChainState:
    """The state before the initial block; `app_hash` is InitChain's answer (genesis's when None)."""
    vals = [Validator(v.address, v.pub_key, v.power) for v in genesis.validators]
    pipe = ValidatorPipeline.genesis(genesis.initial_height, vals)
    return ChainState(
        chain_id=genesis.chain_id,
        initial_height=genesis.initial_height,
        last_block_height=genesis.initial_height - 1,
        last_block_id=BlockID.zero(),
        last_block_time_ms=genesis.genesis_time_ms,
        validators=valset_to_info(pipe.current),
        next_validators=valset_to_info(pipe.next),
        last_validators=None,
        last_height_validators_changed=genesis.initial_height,
        consensus_params=genesis.consensus_params,
        last_height_params_changed=genesis.initial_height,
        last_results_hash=EMPTY_HASH,
        app_hash=genesis.app_hash if app_hash is None else app_hash,
    )


def update_state(state: ChainState, block_id: BlockID, header: Header, result: FinalizeBlockResult) -> ChainState:
    """The state after committing `header`'s block whose FinalizeBlock returned `result` (CometBFT updateState)."""
    if header.height != state.height:
        raise ValueError(f"block {header.height} does not follow state at {state.last_block_height}")
    changed_vals = state.last_height_validators_changed
    next_vs = valset_from_info(state.next_validators)
    if result.validator_updates:
        next_vs = next_vs.apply_updates(updates_to_consensus(result.validator_updates))
        changed_vals = header.height + 2
    params, changed_params = state.consensus_params, state.last_height_params_changed
    if result.consensus_param_updates:
        params = ConsensusParams.decode(result.consensus_param_updates)
        changed_params = header.height + 1
    return replace(
        state,
        last_block_height=header.height,
        last_block_id=block_id,
        last_block_time_ms=header.time_ms,
        last_validators=state.validators,
        validators=state.next_validators,
        next_validators=valset_to_info(next_vs.copy_increment(1)),
        last_height_validators_changed=changed_vals,
        consensus_params=params,
        last_height_params_changed=changed_params,
        last_results_hash=exec_results_hash(result.tx_results),
        app_hash=result.app_hash,
    )


def exec_results_hash(results: Sequence[ExecTxResult]) -> bytes:
    return _results_hash(results)


class StateStore:
    """The latest `ChainState` plus, per height, the validator set and consensus parameters in force."""

    def __init__(self, kv: KV, ns: bytes = NS) -> None:
        self._root = kv
        self._kv = kv.prefixed(ns)
        self._ns = ns

    def load(self) -> ChainState | None:
        raw = self._kv.get(b"S")
        return None if raw is None else ChainState.decode(raw)

    def save(self, state: ChainState, batch: Batch | None = None) -> None:
        """The state, plus the validator sets of heights h+1, h+2 and the parameters of h+1."""
        own = batch is None
        b = (self._root.batch() if batch is None else batch).prefixed(self._ns)
        # fastrec.pack: the bytes of .encode() (tests/node/test_block_overhead.py), ~15x cheaper for the state
        # (188 -> 13 us on a loaded machine), in the commit worker once per block
        b.put(b"S", pack(state))
        h = state.height
        b.put(b"v" + _H.pack(h), pack(state.validators))
        b.put(b"v" + _H.pack(h + 1), pack(state.next_validators))
        b.put(b"p" + _H.pack(h), pack(state.consensus_params))
        if own:
            b.commit(sync=True)

    def load_validators(self, height: int) -> ValidatorSetInfo | None:
        raw = self._kv.get(b"v" + _H.pack(height))
        return None if raw is None else ValidatorSetInfo.decode(raw)

    def load_params(self, height: int) -> ConsensusParams | None:
        raw = self._kv.get(b"p" + _H.pack(height))
        return None if raw is None else ConsensusParams.decode(raw)

    def prune(self, retain_height: int, batch: Batch | None = None) -> None:
        """Forget validator sets and parameters of heights below `retain_height`."""
        own = batch is None
        b = (self._root.batch() if batch is None else batch).prefixed(self._ns)
        for prefix in (b"v", b"p"):
            for k, _ in self._kv.iterate(prefix=prefix, stop=prefix + _H.pack(retain_height)):
                b.delete(k)
        if own:
            b.commit(sync=True)

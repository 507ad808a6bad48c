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

The store keeps the latest state under one key and the history of validator sets and parameters, so RPC
`validators?height=` / `consensus_params?height=`, evidence checks and block sync can look back. Every save
adds to a caller's `Batch` (or commits its own, synced), as the block store does.

Layout (inside the namespace; heights 8-byte big-endian, so keys sort by height), as CometBFT's state store
(`ValidatorsInfo.LastHeightChanged`, `ConsensusParamsInfo`) but without its per-height pointer records:

    b"S"     → the latest ChainState
    b"v" h   → the full validator set of height h, written only where the set changed (the H+2 rule's
               `last_height_validators_changed`), at the first save, and every VALSET_CHECKPOINT heights
    b"p" h   → the consensus parameters of height h, written only where they changed and at the first save
    b"B"     → the lowest height answered after a `prune` (absent: no prune of this layout)

The set of a height h is the last `v` record at or below h advanced by the proposer-priority increment once per
height between (what `update_state` does from one height to the next when nothing changed); the parameters
of h are the last `p` record at or below h. Heights above the latest state (h > height + 1 for sets, h >
height for parameters) and below `B` are unknown (None). Homes written before (a full `v` and `p` record at
every height) are read as they are: a lookup lands on the record of its own height. Before: ~1.6 KB per
block (the state, two sets and the parameters); now the state's ~1 KB plus a set every VALSET_CHECKPOINT
heights.
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
from state.fastrec import pack, unpack
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


VALSET_CHECKPOINT = 100  # a full validator set at least every 100 heights: a lookup replays <= 99 increments
# (~35 us each with 4 validators on a loaded machine: <= ~3.5 ms; CometBFT's Go one checkpoints every 100,000)


class StateStore:
    """The latest `ChainState` plus the history of validator sets and consensus parameters (layout above)."""

    def __init__(self, kv: KV, ns: bytes = NS) -> None:
        self._root = kv
        self._kv = kv.prefixed(ns)
        self._ns = ns
        self._top: tuple[bytes, ChainState] | None = None  # the stored state's bytes and the state: a lookup's
        # bound and its latest sets
        self._vcache: dict[int, ValidatorSetInfo] = {}  # sets computed by lookups (bounded: emptied when full)
        self._saved = False  # a state was saved through this object (or found stored by its first save)

    def load(self) -> ChainState | None:
        raw = self._kv.get(b"S")
        return None if raw is None else ChainState.decode(raw)

    def save(self, state: ChainState, batch: Batch | None = None) -> None:
        """The state, plus the validator set of h (h+1) where it changes at h (h+1) or h+1 is a checkpoint,
        and the parameters of h where they change at h (h = state.height). The first save (no state stored
        yet) writes the set and parameters of h whatever they are."""
        own = batch is None
        first = not self._saved and self._kv.get(b"S") is None
        self._saved = True
        b = (self._root.batch() if batch is None else batch).prefixed(self._ns)
        # fastrec.pack: the bytes of .encode() (tests/node/test_block_overhead.py), ~15x cheaper for the state
        # (188 -> 13 us on a loaded machine), in the commit worker once per block
        b.put(b"S", pack(state))
        h = state.height
        vc = state.last_height_validators_changed
        if first or vc == h:
            b.put(b"v" + _H.pack(h), pack(state.validators))
        if vc == h + 1 or (h + 1) % VALSET_CHECKPOINT == 0:
            b.put(b"v" + _H.pack(h + 1), pack(state.next_validators))
        if first or state.last_height_params_changed == h:
            b.put(b"p" + _H.pack(h), pack(state.consensus_params))
        if own:
            b.commit(sync=True)

    def _latest(self) -> ChainState | None:
        """The stored state (committed: read from the KV, never from a pending batch), unpacked once per new
        state (fastrec.unpack of our own bytes: ~30 us against ~190 for the checked decode)."""
        raw = self._kv.get(b"S")
        if raw is None:
            return None
        top = self._top
        if top is None or raw != top[0]:
            top = self._top = (raw, unpack(ChainState, raw))
        return top[1]

    def _base(self) -> int:
        raw = self._kv.get(b"B")
        return 0 if raw is None else int(_H.unpack(raw)[0])

    def _last_record(self, prefix: bytes, height: int) -> tuple[int, bytes] | None:
        """The last `prefix` record at or below `height`: (its height, its bytes)."""
        for k, raw in self._kv.iterate(prefix=prefix, stop=prefix + _H.pack(height + 1), reverse=True):
            return int(_H.unpack(k[1:])[0]), raw
        return None

    def load_validators(self, height: int) -> ValidatorSetInfo | None:
        st = self._latest()
        if st is None or height < 1 or height > st.height + 1 or height < self._base():
            return None
        # the latest heights (RPC `validators` without a height asks the last one) come from the state itself
        if height == st.height + 1:
            return st.next_validators
        if height == st.height:
            return st.validators
        if height == st.height - 1 and st.last_validators is not None:
            return st.last_validators
        cache = self._vcache
        info = cache.get(height)
        if info is not None:
            return info
        prev = cache.get(height - 1)
        if prev is not None and self._kv.get(b"v" + _H.pack(height)) is None:
            at, info = height - 1, prev  # (a walk up the heights: one increment each)
        else:
            found = self._last_record(b"v", height)
            if found is None:
                return None
            at, info = found[0], unpack(ValidatorSetInfo, found[1])
        if at < height:  # the set did not change since `at`: advance the priorities as update_state does
            vs = valset_from_info(info)  # (one increment per height: copy_increment(n) rescales once, not n times)
            for _ in range(height - at):
                vs = vs.copy_increment(1)  # (no round trip through ValidatorSetInfo: the same set, it only copied)
            info = valset_to_info(vs)
        if len(cache) >= 256:
            cache.clear()
        cache[height] = info  # a stored height's set never changes (a prune is checked before the cache)
        return info

    def load_params(self, height: int) -> ConsensusParams | None:
        st = self._latest()
        if st is None or height < 1 or height > st.height or height < self._base():
            return None
        if height == st.height:
            return st.consensus_params
        found = self._last_record(b"p", height)
        return None if found is None else unpack(ConsensusParams, found[1])  # our own bytes (save: pack)

    def prune(self, retain_height: int, batch: Batch | None = None) -> None:
        """Forget validator sets and parameters of heights below `retain_height` (lookups of them answer
        None); the last record at or below it stays, since the lookups of retained heights start there. The
        caller never passes a height the block store still holds below it (node/blockstore.py `prune_below`)."""
        if retain_height <= self._base():
            return
        own = batch is None
        b = (self._root.batch() if batch is None else batch).prefixed(self._ns)
        for prefix in (b"v", b"p"):
            anchor = self._last_record(prefix, retain_height)
            if anchor is None:
                continue
            for k, _ in self._kv.iterate(prefix=prefix, stop=prefix + _H.pack(anchor[0])):
                b.delete(k)
        b.put(b"B", _H.pack(retain_height))
        if own:
            b.commit(sync=True)

"""A tiny deterministic chain for storage tests: real keys, real signatures, real state transitions.

Validators sign real precommits (consensus sign bytes, Ed25519), blocks are built with `chain.build_block`
from `ChainState.block_context()`, and the state advances with `statestore.update_state`, so the tests use
the same path the node does; no component of ours is mocked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consensus.sign_bytes import vote_sign_bytes
from consensus.types import Vote, VoteType
from node.convert import expected_block_time_ms, valset_from_info
from node.genesis import ConsensusParams, Genesis, GenesisValidator
from node.statestore import ChainState, state_from_genesis, update_state
from state import chain
from state.crypto import PrivateKey, sha256

CHAIN_ID = "egp-test"
GENESIS_TIME_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def keys(n: int, salt: bytes = b"") -> list[PrivateKey]:
    return [PrivateKey.from_seed(sha256(b"validator" + salt + bytes([i]))) for i in range(n)]


def make_genesis(n: int = 4, **params: Any) -> tuple[Genesis, dict[bytes, PrivateKey]]:
    ks = keys(n)
    g = Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ns=GENESIS_TIME_MS * 1_000_000,
        validators=tuple(GenesisValidator(k.public_key.raw, 10, f"bank{i}") for i, k in enumerate(ks)),
        consensus_params=ConsensusParams(**params),
        app_hash=b"",
    )
    return g, {k.address: k for k in ks}


def sign_commit(
    state: ChainState, block_id: chain.BlockID, signers: dict[bytes, PrivateKey], time_ms: int, round_: int = 0
) -> chain.Commit:
    """Precommits of every validator of the block's height, in set order."""
    sigs = []
    for i, v in enumerate(state.validators.validators):
        key = signers.get(v.address)
        if key is None:
            sigs.append(chain.CommitSig.absent())
            continue
        ts = time_ms + i
        vote = Vote(VoteType.PRECOMMIT, state.height, round_, block_id.hash, v.address, ts)
        sig = key.sign(vote_sign_bytes(state.chain_id, vote))
        sigs.append(chain.CommitSig(chain.FLAG_COMMIT, v.address, ts, sig))
    return chain.Commit(state.height, round_, block_id, tuple(sigs))


def app_hash_after(prev: bytes, txs: tuple[bytes, ...]) -> bytes:
    return sha256(prev + b"".join(txs))


@dataclass
class Chain:
    genesis: Genesis
    signers: dict[bytes, PrivateKey]
    state: ChainState
    blocks: list[chain.Block] = field(default_factory=list)
    seen_commits: list[chain.Commit] = field(default_factory=list)
    results: list[chain.FinalizeBlockResult] = field(default_factory=list)
    states: list[ChainState] = field(default_factory=list)

    @classmethod
    def start(cls, n: int = 4) -> Chain:
        g, signers = make_genesis(n)
        return cls(g, signers, state_from_genesis(g))

    def next_block(self, txs: tuple[bytes, ...] = ()) -> chain.Block:
        st = self.state
        ctx = st.block_context()
        if st.last_validators is None:
            time_ms, last_commit = st.last_block_time_ms, chain.Commit.empty()
        else:
            last_commit = self.seen_commits[-1]
            time_ms = expected_block_time_ms(last_commit, valset_from_info(st.last_validators), st.last_block_time_ms)
        proposer = valset_from_info(st.validators).proposer
        return chain.build_block(ctx, time_ms=time_ms, proposer_address=proposer, txs=txs, last_commit=last_commit)

    def commit_block(self, block: chain.Block) -> chain.Commit:
        block_id = block.block_id()
        seen = sign_commit(self.state, block_id, self.signers, block.header.time_ms + 500)
        results = tuple(chain.ExecTxResult(0, sha256(tx)[:4], "ok", "", 0, 0, (), "") for tx in block.txs)
        res = chain.FinalizeBlockResult((), results, (), b"", app_hash_after(self.state.app_hash, block.txs))
        self.states.append(self.state)
        self.state = update_state(self.state, block_id, block.header, res)
        self.blocks.append(block)
        self.seen_commits.append(seen)
        self.results.append(res)
        return seen

    def grow(self, n: int, txs_per_block: int = 2) -> None:
        for _ in range(n):
            h = self.state.height
            self.commit_block(self.next_block(tuple(f"tx-{h}-{i}".encode() for i in range(txs_per_block))))

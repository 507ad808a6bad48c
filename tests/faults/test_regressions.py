"""Small regressions the fault harness found in the node (each was invisible until a fault run looked)."""

from __future__ import annotations

import base64

from consensus.types import VoteType
from node.assemble import _rpc_config
from node.config import Config
from node.messages import EvidenceMsg, VoteMsg, decode_message
from node.services import block_view
from state.chain import BlockContext, BlockID, Commit, build_block
from state.crypto import sha256


def test_block_view_carries_the_blocks_evidence() -> None:
    """/block and NewBlock showed `evidence: []` although the block held duplicate-vote evidence."""
    a = VoteMsg(int(VoteType.PREVOTE), 1, 0, sha256(b"x"), b"\x01" * 20, 5, b"\x02" * 64)
    b = VoteMsg(int(VoteType.PREVOTE), 1, 0, None, b"\x01" * 20, 5, b"\x03" * 64)
    ev = EvidenceMsg(a, b).encode()
    ctx = BlockContext(chain_id="c", initial_height=1, height=1, last_block_id=BlockID.zero(), last_block_time_ms=1,
                       app_hash=b"", last_results_hash=b"", validators_hash=b"\x01" * 32,
                       next_validators_hash=b"\x01" * 32, consensus_hash=b"\x02" * 32,
                       validator_addresses=frozenset({b"\x01" * 20}), last_validator_count=0, max_bytes=1 << 20)
    block = build_block(ctx, time_ms=1, proposer_address=b"\x01" * 20, txs=[], last_commit=Commit.empty(),
                        evidence=[ev])
    view = block_view(block)
    assert len(view.evidence) == 1
    assert decode_message(base64.b64decode(view.evidence[0]["value"])) == EvidenceMsg(a, b)


def test_rpc_limits_of_config_toml_reach_the_server() -> None:
    """subscription_buffer_size and the other [rpc] limits were dropped when the node built its RPC config."""
    cfg = Config()
    cfg.rpc.laddr = "tcp://127.0.0.1:1"
    cfg.rpc.subscription_buffer_size = 12_345
    cfg.rpc.max_subscription_clients = 7
    rc = _rpc_config(cfg)
    assert rc is not None
    assert (rc.subscription_buffer_size, rc.max_subscription_clients) == (12_345, 7)

"""Block-size limits every node applies alike, and the buffer sizes derived from them.

Why a module of its own: the tx cap is a protocol rule (node/blockrules.py enforces it on every block), and
defaults elsewhere must follow it — config.toml's `rpc.subscription_buffer_size`, the RPC server's and the
event bus's — while node/config.py cannot import the block rules (they import genesis, which imports config).
"""

from __future__ import annotations

# Most txs in one block, on top of the genesis `block.max_bytes`: the commit of a block runs on the node's one
# event loop, so its size bounds how long the node cannot answer RPC, peers or a signal (5,000 txs took > 10 s
# on a loaded 2-core machine). Like blockrules.MAX_EVIDENCE_PER_BLOCK a protocol rule.
MAX_TXS_PER_BLOCK = 2000

# Events one block publishes besides its Tx events (NewBlock, NewBlockHeader, NewBlockEvents,
# ValidatorSetUpdates, NewEvidence per item up to blockrules.MAX_EVIDENCE_PER_BLOCK = 16), with headroom.
BLOCK_EVENTS_MAX = 32

# Default events buffered per WebSocket subscription: every event of two maximal blocks, so a client that reads
# at the chain's pace — even one block behind — is never cut off by a full block, while a client that stops
# reading still is (CometBFT's "out of capacity" error). Bounded in bytes too (node/events.py).
SUBSCRIPTION_BUFFER_DEFAULT = 2 * (MAX_TXS_PER_BLOCK + BLOCK_EVENTS_MAX)

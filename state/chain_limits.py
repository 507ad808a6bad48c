"""The bounds of chain data: the protocol version, field sizes, the counts a decoder accepts, the commit flags.

Why a module of its own: the block records (`state.chain`) and the results records (`state.block_results`)
both bound their decoding by these, and `state.chain` re-exports every name here for its callers.
"""

from __future__ import annotations

from state.codec import MAX_SIZE

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

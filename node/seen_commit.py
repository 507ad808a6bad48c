"""The seen commit of the last block: kept in memory, and made fuller by late precommits.

A block's seen commit (the +2/3 precommits the node saw for it) is stored with the block and becomes the
next block's LastCommit. The node reads it back once a height (our proposal's LastCommit, then the check for
late precommits when the COMMIT step ends), so `SeenCommits` keeps the last one in memory instead of a read
and decode of a commit per height (~1 ms each way at 1,000 txs of a 4-validator chain), and stores a fuller
one when precommits that came after the decision add signatures (in the next block's batch,
`BlockStore.defer_seen_commit`, answered from memory until then) (docs/design.md section 9, "Late
precommits"; CometBFT's LastCommit: validators are not recorded absent just for being a little late).

Kept apart from node/node.py because the cached commit has three writers (`Node.decide`, a synced block,
`keep_fuller`) and two readers that must agree on one rule: the cached one serves only its own height, else
the block store's. On the loop only.
"""

from __future__ import annotations

from consensus.types import Commit as CoreCommit
from node.applier import StorePort
from node.convert import commit_from_consensus
from state.chain import FLAG_ABSENT, Commit


class SeenCommits:
    """The seen commit of the block decided or synced last (`last`), and the block store's for others."""

    def __init__(self, store: StorePort) -> None:
        self.store = store
        self.last: Commit | None = None  # what the block store got with the last block (or its fuller version)

    def get(self, height: int) -> Commit | None:
        """The seen commit of `height`: the one in memory if it is that height's, else the block store's."""
        seen = self.last
        if seen is None or seen.height != height:
            seen = self.store.load_seen_commit(height)
        return seen

    def keep_fuller(self, commit: CoreCommit | None, height: int, last_height: int) -> None:
        """The COMMIT step of `height` is over and `commit` is the core's decided commit (with the precommits
        that came late): if it is fuller than the seen commit stored with the block (`last_height`: the
        node's last committed height), store it, so the next block's LastCommit names every validator that
        voted."""
        if commit is None or commit.height != height or height != last_height:
            return
        seen = self.get(height)  # the one `decide` stored with the block: no read and decode of it per height
        if seen is None or seen.block_id.hash != commit.value_id:
            return
        if sum(s.flag != FLAG_ABSENT for s in seen.signatures) >= sum(s.flag != FLAG_ABSENT for s in commit.signatures):
            return  # (the core's BlockIDFlag is an IntEnum with the chain's values)
        fuller = commit_from_consensus(commit, seen.block_id)
        self.store.defer_seen_commit(height, fuller)  # written with the next block, not a write of its own
        self.last = fuller

"""Block sync: fetch, verify and apply blocks when behind the peers; switch to consensus when caught up.

It runs at start-up *and* whenever a running node falls more than `switch_threshold` blocks behind the
highest block its peers report (cometbft#3372: CometBFT never goes back to block sync). `catching_up` is
true exactly while consensus is suspended for block sync, so RPC `status` never says "caught up" while the
node is hundreds of blocks behind. "Caught up" is at most one block behind the highest peer, checked after
every applied block as well as on each tick (the tip moves on while we fetch; consensus takes the last block).

Every block is verified with `consensus.commit.verify_commit` — the function consensus itself uses — against
the validator set of its height taken from our own state (never from the peer), then applied through the
node's one commit path. Requests are pipelined (a window of heights, spread over the peers that have them)
and re-sent to another peer after a timeout. A peer that sends an undecodable or invalid block is dropped.
Small gaps (1..threshold) are closed without leaving consensus: the missing decided block is requested the
same way and applied, and consensus restarts at the next height.
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING

from node.logs import get_logger
from node.messages import BlockRequestMsg, BlockResponseMsg
from state.chain import Block, Commit
from state.codec import DecodeError

if TYPE_CHECKING:
    from node.node import Node

log = get_logger("blocksync")
WINDOW = 32
REQUEST_TIMEOUT_S = 4.0
STARTUP_WAIT_S = 3.0
MAX_BUFFERED = 256
MAX_STRIKES = 3
CAUGHT_UP_GAP = 1  # blocks behind the highest peer at which block sync hands over to consensus


class BlockSync:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.pending: dict[int, tuple[str, float]] = {}  # height -> (peer, sent at)
        self.received: dict[int, tuple[str, Block, Commit]] = {}
        self._rr = itertools.count()
        self.started = time.monotonic()
        self.synced_blocks = 0
        self.strikes: dict[str, int] = {}

    def serve(self, height: int) -> BlockResponseMsg | None:
        """A stored block with its seen commit for a peer (the server side of block sync), or None."""
        store = self.node.store
        if not 0 < height <= store.height:
            return None
        raw = store.load_block_bytes(height)  # the stored bytes are the block's encoding: not decoded to be
        commit = store.load_seen_commit(height)  # encoded again (~1 ms each way for 1,000 txs)
        if raw is None or commit is None:
            return None
        return BlockResponseMsg(height, raw, commit.encode())

    def gap(self) -> int:
        return self.node.gossip.max_peer_store_height() - self.node.state.last_height

    def tick(self) -> None:
        n = self.node
        gap = self.gap()
        if n.in_consensus:
            if gap > n.opt.switch_threshold:
                n.leave_consensus(f"{gap} blocks behind the peers")
            elif gap > 0:
                self._request_window(1)
            return
        if not self._switch_if_caught_up(gap):
            self._request_window(WINDOW)

    def _switch_if_caught_up(self, gap: int) -> bool:
        """Enter consensus if we are caught up: at most CAUGHT_UP_GAP blocks behind the highest peer. Not
        "exactly at the peers' height": while the peers commit a block faster than we can fetch one round
        trip, a tip that moves on between our last applied block and the check would keep us out of
        consensus indefinitely (CometBFT's IsCaughtUp also allows one block); consensus fetches that block
        itself (the small-gap path in `tick`, the peers' catch-up gossip). True if switched."""
        n = self.node
        have_status = any(p.status is not None for p in n.gossip.peers.values())
        if n.state.last_height == 0 and time.time() * 1000 < n.state.last_block_time_ms:
            return False  # genesis time not reached: no block may be made before it (CometBFT waits too)
        waited = have_status or n.sole_validator or time.monotonic() - self.started > STARTUP_WAIT_S
        if gap > CAUGHT_UP_GAP or not waited:
            return False
        if self.synced_blocks:
            log.info("block sync done", blocks=self.synced_blocks, height=n.state.last_height, behind=max(gap, 0))
        self.pending.clear()
        self.received.clear()
        n.enter_consensus()
        return True

    def _request_window(self, window: int, retry: bool = True) -> None:
        """Request the heights of the window that are neither received nor in flight; with `retry`, also
        re-send (and strike) the timed-out ones — that is the tick's job, so strikes stay one per tick."""
        n = self.node
        now = time.monotonic()
        struck: set[str] = set()  # one strike per peer per tick: a slow peer with many requests is not a liar
        for h in range(n.state.height, n.state.height + window):
            if h in self.received:
                continue
            sent = self.pending.get(h)
            if sent is not None and (not retry or now - sent[1] < REQUEST_TIMEOUT_S):
                continue
            if sent is not None:
                del self.pending[h]
                if sent[0] not in struck:
                    struck.add(sent[0])
                    self._strike(sent[0])
            peers = n.gossip.peers_with_block(h)
            if sent is not None and len(peers) > 1:
                peers = [p for p in peers if p != sent[0]] or peers
            if not peers:
                break
            peer = peers[next(self._rr) % len(peers)]
            self.pending[h] = (peer, now)
            n.send(peer, BlockRequestMsg(h))

    def _strike(self, peer_id: str) -> bool:
        """A request to `peer_id` timed out. After MAX_STRIKES its height claims are no longer believed (a
        peer that claims blocks it never serves must not keep us out of consensus); True if dropped."""
        self.strikes[peer_id] = self.strikes.get(peer_id, 0) + 1
        if self.strikes[peer_id] < MAX_STRIKES:
            return False
        self.strikes.pop(peer_id, None)
        for h in [h for h, (p, _) in self.pending.items() if p == peer_id]:
            del self.pending[h]
        self.node.gossip.remove_peer(peer_id)
        self.node.net.disconnect(peer_id, "does not serve the blocks it claims to have")
        return True

    def on_no_block(self, peer_id: str, height: int) -> None:
        sent = self.pending.get(height)
        if sent is not None and sent[0] == peer_id:
            del self.pending[height]

    def on_response(self, peer_id: str, msg: BlockResponseMsg) -> None:
        n = self.node
        if msg.height < n.state.height or msg.height >= n.state.height + MAX_BUFFERED:
            return
        try:
            block = Block.decode_block(msg.block)
            commit = Commit.decode(msg.commit)
        except DecodeError as exc:
            n.net.disconnect(peer_id, f"undecodable block response: {exc}")
            return
        if block.header.height != msg.height or commit.height != msg.height:
            n.net.disconnect(peer_id, "block response for another height")
            return
        self.pending.pop(msg.height, None)
        self.strikes.pop(peer_id, None)
        self.received.setdefault(msg.height, (peer_id, block, commit))
        self._apply_ready()
        if n.in_consensus or n.fatal or n.stopping:
            return
        # keep the pipeline full between ticks, and switch as soon as we reach the tip: a check only once
        # per tick (0.25 s) almost never sees us at the tip when blocks come every few tens of ms
        if not self._switch_if_caught_up(self.gap()):
            self._request_window(WINDOW, retry=False)

    def _apply_ready(self) -> None:
        n = self.node
        while True:
            entry = self.received.pop(n.state.height, None)
            if entry is None:
                return
            peer_id, block, commit = entry
            if not n.apply_synced_block(block, commit):
                n.net.disconnect(peer_id, "sent an invalid block")
                return
            self.synced_blocks += 1
            for h in [h for h in self.received if h < n.state.height]:
                del self.received[h]

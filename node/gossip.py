"""Gossip: who gets which proposal, vote, tx and evidence, and catch-up of peers behind us.

Why push with per-peer "known" sets rather than CometBFT's per-channel gossip routines: a permissioned
network of 4–22 banks on persistent links is small and dense, so a message is pushed once to every peer
that is not known to have it (received from it, or already sent to it), which is at most one copy per
link (cometbft pain point 3 without have/want). Loss is repaired by the periodic catch-up tick:

- a peer at our height (from its `StatusMsg`) is sent the proposals and votes of that height it is not
  known to have, so a restarted validator, or one that missed messages, converges (the core's round skip
  takes it to the others' round);
- a peer at a lower height is sent the stored block and commit of its height (`BlockResponseMsg`), which it
  verifies and applies through its commit path, as block sync does; one height behind, only once its
  status has not moved for `STUCK_RESEND_S` (until then it is most likely committing that block).

Txs are not pushed the moment they are admitted: `queue_txs` gathers them for `LOCAL_TXS_DELAY_S` (ours,
from RPC) or `RELAYED_TXS_DELAY_S` (only a peer's, which we relay), then sends everything queued as one frame
per peer (relays ride with the next own txs). Every tx is still relayed to every peer not known to have it,
so any connected topology carries it everywhere; in a full mesh the relays are redundant (the origin sent
to everyone), and the longer wait turns them into few frames, and lets a peer that relays a tx to us first
be skipped. Not done: CometBFT v1's have/reset-route
messages, or relaying nothing when the mesh is full: a node cannot tell from its own links whether its
peers' are complete, and a duplicate costs its receiver ~1 us (devnet/bench/ingest_bench.py `dup_in_us`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from node.messages import MAX_BATCH_TXS, BlockResponseMsg, ProposalMsg, StatusMsg, VoteMsg
from node.recent import RecentSet, TxHashes
from state.codec import Record

VoteKey = tuple[int, int, int, bytes, bytes | None]  # type, height, round, validator, value
ProposalKey = tuple[int, int, bytes]  # height, round, value
KNOWN_TXS = 20000  # a peer's known tx hashes: the KNOWN_TXS // 2 most recent at least, KNOWN_TXS at most
TX_FRAME_BYTES = 1024 * 1024  # txs per gossip frame, in bytes (the transport's frame limit is 4 MiB)
CATCHUP_RESEND_S = 2.0
STUCK_RESEND_S = 3.0
# How long admitted txs wait to be gossiped (`Gossip.queue_txs`), so that one frame per peer carries many:
# a frame alone costs its sender and receiver ~50-200 us of CPU each (the loops' wake-ups and a send() that
# wakes the receiver; devnet/bench/p2p_bench.py, paced round), against ~1 us a tx in a frame. The pushes
# are timed, so at a trickle every node sends 3 peers a frame per wait whatever the rate: 25 ms (was 10)
# is 120 frames/s per node and as many received, instead of 300 + 60 relays, for ~7 ms more on a tx's first
# hop (each tx waits 0-25 ms). Txs that came from a peer (a relay, pure redundancy in a full mesh, where
# their origin sent them to everyone) wait longer than our own when nothing else is queued.
LOCAL_TXS_DELAY_S = 0.025
RELAYED_TXS_DELAY_S = 0.05


def vote_key(v: VoteMsg) -> VoteKey:
    return (v.type, v.height, v.round, v.validator, v.value_id)


def proposal_key(p: ProposalMsg) -> ProposalKey:
    return (p.height, p.round, p.value_id)


def _frames_of(txs: list[bytes]) -> list[list[bytes]]:
    """`txs` cut, in order, into frames of at most `MAX_BATCH_TXS` txs and `TX_FRAME_BYTES` bytes (a tx above
    the byte bound goes alone)."""
    chunks: list[list[bytes]] = []
    fresh: list[bytes] = []
    size = 0
    for tx in txs:
        if fresh and (len(fresh) >= MAX_BATCH_TXS or size + len(tx) > TX_FRAME_BYTES):
            chunks.append(fresh)
            fresh, size = [], 0
        fresh.append(tx)
        size += len(tx)
    if fresh:
        chunks.append(fresh)
    return chunks


@dataclass
class PeerState:
    peer_id: str
    status: StatusMsg | None = None
    status_at: float = 0.0
    known_votes: set[VoteKey] = field(default_factory=set)
    known_proposals: set[ProposalKey] = field(default_factory=set)
    known_txs: RecentSet = field(default_factory=lambda: RecentSet(KNOWN_TXS // 2))
    sent_block_at: dict[int, float] = field(default_factory=dict)
    progress_at: float = 0.0  # when its (height, round, step) last changed
    resent_at: float = 0.0

    def prune(self, height: int) -> None:
        """Forget votes and proposals below `height` (memory stays bounded by one height's messages)."""
        self.known_votes = {k for k in self.known_votes if k[1] >= height}
        self.known_proposals = {k for k in self.known_proposals if k[0] >= height}


Send = Callable[[str, Record], None]


MakeTxs = Callable[[list[bytes]], Record]


class Gossip:
    def __init__(self, send: Send) -> None:
        self.send = send
        self.peers: dict[str, PeerState] = {}
        self._queued: list[tuple[bytes, bytes]] = []  # (hash, tx) admitted and not pushed yet, in order
        self._flush_at: asyncio.TimerHandle | None = None
        self._due = 0.0  # loop time of the pending push
        self._make: MakeTxs | None = None
        # the hashes of the txs peers sent lately, by their bytes: a relayed copy is looked up, not hashed again
        # (node/inbound.py `on_txs`; node/recent.py `TxHashes` says why)
        self.tx_hashes = TxHashes(KNOWN_TXS // 2)

    # --- peers -------------------------------------------------------------------------------------
    def add_peer(self, peer_id: str) -> PeerState:
        return self.peers.setdefault(peer_id, PeerState(peer_id))

    def remove_peer(self, peer_id: str) -> None:
        self.peers.pop(peer_id, None)

    def on_status(self, peer_id: str, msg: StatusMsg) -> None:
        ps = self.add_peer(peer_id)
        now = time.monotonic()
        if ps.status is not None and msg.height > ps.status.height:
            ps.prune(msg.height)
        if ps.status is None or (msg.height, msg.round, msg.step) != (ps.status.height, ps.status.round,
                                                                       ps.status.step):
            ps.progress_at = now
        ps.status, ps.status_at = msg, now

    def max_peer_store_height(self) -> int:
        return max((p.status.store_height for p in self.peers.values() if p.status), default=0)

    def peers_with_block(self, height: int) -> list[str]:
        return [p.peer_id for p in self.peers.values()
                if p.status is not None and p.status.base <= height <= p.status.store_height and p.status.base > 0]

    # --- marks (what a peer has) ----------------------------------------------------------------------
    def mark_vote(self, peer_id: str, v: VoteMsg) -> None:
        ps = self.peers.get(peer_id)
        if ps is not None:
            ps.known_votes.add(vote_key(v))

    def mark_proposal(self, peer_id: str, p: ProposalMsg) -> None:
        ps = self.peers.get(peer_id)
        if ps is not None:
            ps.known_proposals.add(proposal_key(p))

    def mark_tx(self, peer_id: str, tx_hash: bytes) -> None:
        ps = self.peers.get(peer_id)
        if ps is not None:
            ps.known_txs.add(tx_hash)

    def known_txs_of(self, peer_id: str) -> RecentSet | None:
        """The set of tx hashes `peer_id` is known to have (`add` marks one), None for an unknown peer."""
        ps = self.peers.get(peer_id)
        return None if ps is None else ps.known_txs

    # --- push ----------------------------------------------------------------------------------------
    def push_vote(self, v: VoteMsg) -> None:
        k = vote_key(v)
        for ps in self.peers.values():
            if k not in ps.known_votes:
                ps.known_votes.add(k)
                self.send(ps.peer_id, v)

    def push_proposal(self, p: ProposalMsg) -> None:
        k = proposal_key(p)
        for ps in self.peers.values():
            if k not in ps.known_proposals:
                ps.known_proposals.add(k)
                self.send(ps.peer_id, p)

    def queue_txs(self, txs: list[tuple[bytes, bytes]], make: MakeTxs) -> None:
        """`push_txs`, a little later: `LOCAL_TXS_DELAY_S` after our own txs (no peer is known to have them:
        they came by RPC), `RELAYED_TXS_DELAY_S` after txs that are all relays (a peer sent them to us). One
        push takes everything queued, so relayed txs ride in the frames of the next own ones (one frame per
        peer, where a push per kind cost two: a frame costs its receiver a wake-up, ~60-140 us, a tx in it
        ~1 us). A peer that sends us one of them in the meantime is not sent it back. Without a running
        event loop (tools, tests), at once."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.push_txs(txs, make)
            return
        self._make = make
        queued = self._queued
        queued.extend(txs)
        now = loop.time()
        if self._flush_at is not None and self._due <= now + LOCAL_TXS_DELAY_S:
            return  # a push is due before either delay would end: they ride with it (no need to tell relays apart)
        relays = not txs
        if txs and self.peers:
            known = [ps.known_txs for ps in self.peers.values()]
            if any(txs[0][0] in k for k in known):  # (own txs stop here: their first is no peer's)
                rest = {h for h, _ in txs}  # the hashes no peer is known to have, narrowed peer by peer
                for k in known:
                    rest = rest.difference(k.young).difference(k.old)  # (O(len(rest)): a set's difference)
                    if not rest:
                        break
                relays = not rest
        if not queued:
            return
        due = now + (RELAYED_TXS_DELAY_S if relays else LOCAL_TXS_DELAY_S)
        if self._flush_at is None or due < self._due:
            if self._flush_at is not None:
                self._flush_at.cancel()
            self._due = due
            self._flush_at = loop.call_at(due, self._flush)

    def _flush(self) -> None:
        self._flush_at = None
        txs, self._queued = self._queued, []
        if txs and self._make is not None:
            self.push_txs(txs, self._make)

    def flush_txs(self) -> None:
        """Push what `queue_txs` holds now (tests, benchmarks)."""
        if self._flush_at is not None:
            self._flush_at.cancel()
        self._flush()

    def queued_txs(self) -> int:
        return len(self._queued)

    def push_due_in(self) -> float | None:
        """Seconds until the queued txs are pushed (None: nothing queued)."""
        if self._flush_at is None:
            return None
        return self._flush_at.when() - asyncio.get_running_loop().time()

    def push_txs(self, txs: list[tuple[bytes, bytes]], make: Callable[[list[bytes]], Record]) -> None:
        """`txs` = (hash, tx) pairs; each peer gets those it is not known to have, in frames of at most
        `MAX_BATCH_TXS` txs and `TX_FRAME_BYTES` bytes (one frame for a usual batch). Peers that get the same
        txs (the usual case for our own) get the same message object, so it is made and encoded once."""
        made: list[tuple[list[bytes], Record]] = []
        hashes = [h for h, _ in txs]
        for peer_id in list(self.peers):
            made = self._push_txs_to(peer_id, txs, make, made, hashes)

    def push_txs_to(self, peer_id: str, txs: list[tuple[bytes, bytes]], make: Callable[[list[bytes]], Record]) -> None:
        """One peer's share of `push_txs`; also what a peer gets of our whole mempool when it connects (as
        CometBFT's mempool reactor walks the pool for each new peer): a tx admitted while we had no
        connection to anyone would otherwise never leave this node."""
        self._push_txs_to(peer_id, txs, make, [], [h for h, _ in txs])

    def _push_txs_to(self, peer_id: str, txs: list[tuple[bytes, bytes]], make: Callable[[list[bytes]], Record],
                     made: list[tuple[list[bytes], Record]], hashes: list[bytes]) -> list[tuple[list[bytes], Record]]:
        """Send `peer_id` its frames; `made`: the previous peer's (txs, message) per frame, reused where this
        peer's frame holds the very same txs; `hashes`: the txs' hashes, in order. Returns this peer's.

        The peer's txs are picked by comprehensions (and all of them at once when the peer is known to have
        none: our own txs, tested by two C-level set scans) and sized once, rather than branched on tx by tx:
        the push runs for every tx and every peer (gossip_ab: see the commit)."""
        ps = self.peers.get(peer_id)
        if ps is None:
            return made
        known = ps.known_txs
        young, old = known.young, known.old  # (`h in known` without a method call per tx; marked after)
        marks: list[bytes]
        fresh: list[bytes]
        if young.isdisjoint(hashes) and old.isdisjoint(hashes):  # none known: all of them
            marks, fresh = hashes, [tx for _, tx in txs]
        else:
            pairs = [p for p in txs if p[0] not in young and p[0] not in old]
            marks, fresh = [h for h, _ in pairs], [tx for _, tx in pairs]
        if not fresh:
            return []
        known.push_many(marks)  # (`txs` holds each hash once: admitted txs, or the pool's)
        if len(fresh) <= MAX_BATCH_TXS and sum(map(len, fresh)) <= TX_FRAME_BYTES:
            chunks = [fresh]  # (the usual push: one frame)
        else:
            chunks = _frames_of(fresh)
        out: list[tuple[list[bytes], Record]] = []
        for i, chunk in enumerate(chunks):
            msg = made[i][1] if i < len(made) and made[i][0] == chunk else make(chunk)
            out.append((chunk, msg))
            self.send(ps.peer_id, msg)
        return out

    def push_all(self, msg: Record) -> None:
        for pid in list(self.peers):
            self.send(pid, msg)

    # --- catch-up ------------------------------------------------------------------------------------
    def catch_up(
        self,
        height: int,
        proposals: list[ProposalMsg],
        votes: list[VoteMsg],
        load_block: Callable[[int], BlockResponseMsg | None],
        max_per_peer: int = 200,
    ) -> None:
        """One tick: send each peer what its last status says it lacks."""
        now = time.monotonic()
        for ps in list(self.peers.values()):
            st = ps.status
            if st is None:
                continue
            if st.height == height:
                if now - ps.progress_at > STUCK_RESEND_S and now - ps.resent_at > STUCK_RESEND_S:
                    # the peer has not moved for a while: whatever we marked as sent may have been lost
                    # (e.g. it arrived while the peer was restarting); send the whole height again
                    ps.known_votes.clear()
                    ps.known_proposals.clear()
                    ps.resent_at = now
                sent = 0
                for p in proposals:
                    k = proposal_key(p)
                    if k not in ps.known_proposals and p.round <= st.round + 1:
                        ps.known_proposals.add(k)
                        self.send(ps.peer_id, p)
                for v in votes:
                    if sent >= max_per_peer:
                        break
                    vk = vote_key(v)
                    if vk not in ps.known_votes:
                        ps.known_votes.add(vk)
                        self.send(ps.peer_id, v)
                        sent += 1
            elif 0 < st.height < height:
                if st.height == height - 1 and now - ps.progress_at < STUCK_RESEND_S:
                    # one height behind and moving: most likely committing that very block (its status
                    # pauses meanwhile); sending it the block then cost a load and encode here and a decode
                    # there for nothing (~1 % of a node's CPU under load). Stuck that long, it gets it.
                    continue
                last = ps.sent_block_at.get(st.height, 0.0)
                if now - last >= CATCHUP_RESEND_S:
                    resp = load_block(st.height)
                    if resp is not None:
                        ps.sent_block_at = {st.height: now}
                        self.send(ps.peer_id, resp)

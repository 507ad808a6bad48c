"""The asyncio node: consensus, gossip, block sync and the commit path on one event loop.

Everything runs on the loop's thread, in the loop's order, except jobs handed to worker threads and
awaited by the loop: the signature checks of incoming txs (node/mempool.py `Admission`: pure, on bytes), and
in the single commit thread (node/commit_thread.py `CommitThread`, which says which thread touches what) the
commit of a decided block, the block of our own proposal and the validation of a peer's proposal.
No lock is needed: nothing is touched by two threads at once. See `node/__init__.py` for
the theory of operation; `node/assemble.py` builds a `Node` from a home directory. Around it: when a COMMIT
timeout starts the next height in node/commit_hold.py, peers' messages are checked and dispatched in
node/inbound.py, block rules in node/blockrules.py, evidence in node/evidence.py, the block sync client and
server in node/blocksync.py, the durable commit steps in node/applier.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Executor as ThreadExecutor

from consensus.commit import commit_vote, verify_commit
from consensus.machine import ConsensusCore
from consensus.sign_bytes import SignBytesError, vote_sign_bytes
from consensus.types import (
    BlockIDFlag,
    CommitReceived,
    DuplicateVoteEvidence,
    Proposal,
    Step,
    Timeout,
    TimeoutFired,
    TimeoutKind,
    ValueId,
    Vote,
    VoteType,
)
from consensus.types import (
    Commit as CoreCommit,
)
from consensus.validators import ValidatorSet
from node import blockrules, inbound
from node.applier import Applied, BlockApplier
from node.blocksync import BlockSync
from node.commit_hold import CommitHold
from node.commit_thread import CommitThread
from node.commit_thread import LockingAppPort as LockingAppPort  # (node/assemble.py imports it from here)
from node.consensus_ports import LoopTimers, WallClock
from node.convert import commit_from_consensus, commit_to_consensus, valset_from_info
from node.evidence import EvidencePool, StoredHistory, canonical
from node.executor import Executor
from node.gossip import Gossip, proposal_key, vote_key
from node.logs import get_logger
from node.mempool import Admission, Checked, Mempool
from node.messages import (
    EvidenceMsg,
    ProposalMsg,
    StatusMsg,
    TxsMsg,
    VoteMsg,
    is_txs_message,
)
from node.metrics import Metrics
from node.nodeapp import NodeApp
from node.privval import FilePV, state_text
from node.runtime import (
    BadPeer,
    Network,
    NodeOptions,
    NoSigner,
    channel_of,
    last_signed_vote,
)
from node.seen_commit import SeenCommits
from node.statestore import ChainState
from node.storagefault import storage_failure
from node.wal import ConsensusWAL
from state.chain import Block, Commit, FinalizeBlockResult
from state.codec import Record
from state.crypto import sha256

log = get_logger("node")
TICK_S = 0.25
STATUS_REFRESH_S = 1.0  # an unchanged status is sent again this often (`_broadcast_status`)
MAX_FUTURE_MSGS = 2000
_VOTE_FRAME = b"\x98\x03"  # how a VoteMsg frame starts: an array of 8 (tag + 7 fields), tag 3
_PROPOSAL_FRAME = b"\x99\x02"  # and a ProposalMsg frame: an array of 9, tag 2


class Node:
    def __init__(
        self,
        *,
        options: NodeOptions,
        state: ChainState,
        app: NodeApp,
        applier: BlockApplier,
        mempool: Mempool,
        signer: object | None,
        address: bytes | None,
        network: Network,
        metrics: Metrics,
        on_block: Callable[[Block, FinalizeBlockResult], None] | None = None,
        wal: ConsensusWAL | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.wal = wal
        self.opt = options
        self.chain_id = options.chain_id
        self.state = state
        self.app = app
        self.applier = applier
        self.store = applier.store
        self.mempool = mempool
        # txs from RPC and peers: signatures checked in a worker thread, then check_tx in arrival order
        self.admission = admission if admission is not None else Admission(mempool)
        self.admission.on_admitted = self._on_admitted
        # the commit worker thread's jobs: a decided block, our proposal's block, a peer's (node/commit_thread.py)
        self.commit_thread = CommitThread(self)
        self.net = network
        self.metrics = metrics
        self.on_block = on_block
        self.address = address
        self.gossip = Gossip(self.send)
        self.blocksync = BlockSync(self)
        self.core = ConsensusCore(address, options.params)
        self.timers = LoopTimers(self._on_timeout)
        self.signer = signer
        self.executor = Executor(self.core, signer=signer or NoSigner(), transport=self, timers=self.timers,  # type: ignore[arg-type]
                                 values=self, decisions=self, evidence=self, clock=WallClock())
        self.in_consensus = False
        self.blocks: dict[bytes, tuple[Block, bytes]] = {}  # candidate blocks of the current height
        self.proposals: dict[tuple[int, int, bytes], ProposalMsg] = {}
        # the frames of the votes in `votes`: a copy relayed by another peer is recognised without decoding
        self.vote_frames: dict[bytes, VoteMsg] = {}
        self.votes: dict[tuple[int, int, int, bytes, bytes | None], VoteMsg] = {}
        self.future: list[tuple[str, Record]] = []
        self.evidence = EvidencePool(self.chain_id, StoredHistory(applier.states, applier.store))
        # votes' signatures checked on arrival (node/inbound.py) and our own: a block's LastCommit holds them
        self.verified = blockrules.VerifiedSignatures()
        self.last_block_at: float | None = None
        self.started_at = time.monotonic()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self.failed = asyncio.Event()  # set when the node must stop (run_node exits non-zero)
        self.fatal = ""
        self.stopping = False  # set by the signal handler, even mid-commit: nothing new is started after it
        self.fatal_logged = False  # the fatal line is already in the log (run_node need not repeat it)
        self.data_dir = ""  # where storage errors without a file name are reported (set by node/assemble.py)
        self._replaying = False
        self.hold = CommitHold(self)  # when a COMMIT timeout starts the next height (node/commit_hold.py)
        self.seen_commits = SeenCommits(applier.store)  # the last block's, fuller (node/seen_commit.py)
        self._status_sent: StatusMsg | None = None  # what `_broadcast_status` last sent, and when
        self._status_sent_at = 0.0
        self._journal_signer()

    def _journal_signer(self) -> None:
        """With a WAL and the file signer: the signer's state rides in the WAL's synced write of each own message
        (node/privval.py "Journaled mode": one synced write per signature instead of two). What that write last
        stored was taken back into the state file before the signer opened (node/assemble.py
        `take_back_journal`). A wrapped signer (the fault harness's) keeps its own writes."""
        pv = self.signer
        if self.wal is not None and isinstance(pv, FilePV):
            pv.journal_in_wal()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._tick_loop(), name="node-tick"))
        if not self.opt.blocksync_enable:
            self.enter_consensus()

    async def stop(self) -> None:
        self.stopping = True
        self._stopped.set()
        self.timers.cancel_all()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.wait_idle()  # the block being committed completes (its batches are atomic), nothing after it
        if self.wal is not None and not self.fatal:
            try:
                self.wal.flush()  # peers' records it held for our next signed one (node/wal.py)
            except Exception:  # (a failing disk: nothing is lost that peers do not resend)
                log.error("consensus WAL not flushed at stop", exc=True)
        if isinstance(self.signer, FilePV) and self.signer.journaled and not self.fatal:
            try:
                self.signer.sync_file()  # the state file durable as it is (it followed the WAL without fsync)
            except Exception:  # (the WAL's record holds it: taken back at the next start)
                log.error("signer state file not synced at stop", exc=True)
        self.admission.close()
        if self.commit_worker is not None:
            self.commit_worker.shutdown(wait=True)

    @property
    def sole_validator(self) -> bool:
        """We hold more than 2/3 of the voting power (a one-validator chain): every block needs our signature,
        so no peer can be ahead of us and block sync need not wait STARTUP_WAIT_S for a peer's status."""
        if self.address is None:
            return False
        vs = valset_from_info(self.state.validators)
        return vs.has_two_thirds(vs.power_of(self.address))

    @property
    def catching_up(self) -> bool:
        return not self.in_consensus

    def enter_consensus(self) -> None:
        if self.in_consensus:
            return
        self.in_consensus = True
        self.metrics.catching_up = False
        log.info("switching to consensus", height=self.state.height)
        self._start_height()

    def leave_consensus(self, reason: str) -> None:
        if not self.in_consensus:
            return
        log.warning("falling back to block sync", height=self.state.height, reason=reason)
        self.in_consensus = False
        self.metrics.catching_up = True
        self.timers.cancel_all()

    def _start_height(self) -> None:
        self._reset_height()
        replay = self.wal.replay(self.state.height) if self.wal is not None else []
        self.executor.start_height(self.state.height, valset_from_info(self.state.validators))
        if replay:
            log.info("replaying the consensus WAL", height=self.state.height, messages=len(replay))
            self._replaying = True
            try:
                for msg in replay:
                    with contextlib.suppress(BadPeer):
                        self.handle_message("", msg)
            finally:
                self._replaying = False
        self._recover_last_signed()
        self._broadcast_status()
        self._replay_future()

    def _recover_last_signed(self) -> None:
        """Re-send the vote the signer guard says we signed at this height (a kill between the guard's fsync
        and the WAL write loses it from the WAL; without it the guard would refuse every other vote of that
        round and a network short of validators could stall). With the journal (`_journal_signer`) the state
        and the vote are stored in one batch, so this finds the vote in the WAL already; kept for a signer
        without it."""
        msg = last_signed_vote(self.signer, self.chain_id, self.state.height, self.address)
        if msg is not None and vote_key(msg) not in self.votes:
            log.info("re-sending the last signed vote", height=msg.height, round=msg.round, type=msg.type)
            with contextlib.suppress(BadPeer):
                inbound.on_vote(self, "", msg)

    def _reset_height(self) -> None:
        if self.wal is not None:
            self.wal.start_height(self.state.height)
        self.blocks.clear()
        self.proposals.clear()
        self.votes.clear()
        self.vote_frames.clear()

    def _replay_future(self) -> None:
        """Messages of the height just started that arrived during our commit timeout."""
        if self.committing:
            self.commit_thread.after_commit.append(self._replay_future)
            return
        future, self.future = self.future, []
        for peer, msg in future:
            try:
                self.handle_message(peer, msg)
            except BadPeer as exc:
                self.net.disconnect(peer, str(exc))

    # ------------------------------------------------------------------ transport port
    def send(self, peer_id: str, msg: Record) -> None:
        try:
            self.net.send(peer_id, channel_of(msg), msg.encode())
        except ValueError as exc:  # e.g. larger than the transport's frame limit: never into consensus
            log.error("message not sent", peer=peer_id, type=type(msg).__name__, reason=str(exc))

    def broadcast_proposal(self, proposal: Proposal) -> None:
        entry = self.blocks.get(proposal.value_id)
        if entry is None:
            log.error("own proposal without its block", height=proposal.height)
            return
        msg = ProposalMsg.of(proposal, entry[1])
        self.proposals[proposal_key(msg)] = msg
        self._journal_own(proposal.height, msg)
        self.gossip.push_proposal(msg)

    def broadcast_vote(self, vote: Vote) -> None:
        val = self.core.valset.get(vote.validator) if self.core.valset is not None else None
        if val is not None and vote.type == VoteType.PRECOMMIT:  # the next block's LastCommit holds it
            with contextlib.suppress(SignBytesError):
                self.verified.add(val.pub_key, vote_sign_bytes(self.chain_id, vote), vote.signature)
        msg = VoteMsg.of(vote)
        self.votes[vote_key(msg)] = msg
        self.vote_frames[msg.encode()] = msg
        self._journal_own(vote.height, msg)
        self.gossip.push_vote(msg)

    def _journal_own(self, height: int, msg: Record) -> None:
        """Our signed message into the WAL, synced, with the signer's new state in the same batch, before the
        caller sends it; then the state file follows (its mirror, no fsync). If the WAL did not store it (no
        WAL, another height), the state is written durably by the signer itself, as without the journal."""
        pv = self.signer
        pending = pv.take_pending() if isinstance(pv, FilePV) else None
        text = state_text(pending).encode() if pending is not None else None
        stored = self.wal.append(height, msg, sync=True, signer_state=text) if self.wal is not None else False
        if pending is not None:
            assert isinstance(pv, FilePV)
            if stored:
                pv.mirror(pending)
            else:
                pv.persist(pending)

    # ------------------------------------------------------------------ proposals from peers
    def take_proposal(self, peer_id: str, msg: ProposalMsg, p: Proposal) -> None:
        """A peer's proposal for our height whose signature checked (node/inbound.py `on_proposal`): its block
        validated on the spot (`inbound.validate_proposal`; on the loop, not in the commit worker thread:
        node/commit_thread.py says why), then handed to the core; a peer at fault raises BadPeer."""
        verdict = inbound.validate_proposal(self, self.state, msg, p.value_id)
        if verdict.bad_peer is not None:
            raise BadPeer(verdict.bad_peer)
        inbound.accept_proposal(self, msg, p, verdict)

    # ------------------------------------------------------------------ value source
    def request_value(self, height: int, round_: int) -> ValueId | None:
        st = self.state
        if height != st.height or self.address is None:
            return None
        if height == st.initial_height:
            last_commit = Commit.empty()
        else:
            seen = self.seen_commits.get(height - 1)
            if seen is None:
                log.error("no seen commit for the previous height", height=height - 1)
                return None
            last_commit = seen
        t = blockrules.next_block_time(st, last_commit)
        evidence = self.evidence.for_proposal(st, blockrules.MAX_EVIDENCE_PER_BLOCK)  # what check_block accepts
        budget = blockrules.tx_budget(st.consensus_params.block_max_bytes, evidence)
        reaped = self.mempool.reap(budget, blockrules.MAX_TXS_PER_BLOCK)  # the mempool is the loop's
        # built in the commit worker thread (`CommitThread.build`): its id comes later, as ValueReady
        return self.commit_thread.build_value(height, round_, st, last_commit, t, reaped, budget, evidence)

    # ------------------------------------------------------------------ decision sink
    def decide(self, height: int, round_: int, value_id: ValueId, commit: CoreCommit) -> None:
        entry = self.blocks.get(value_id)
        if entry is None or height != self.state.height:
            log.error("decided a block we do not have", height=height)
            return
        block = entry[0]
        seen = commit_from_consensus(commit, block.block_id())
        self.seen_commits.last = seen  # what the block store gets with the block (read back by _keep_fuller_commit)
        if self.commit_worker is not None:
            self.commit_thread.commit(block, seen, round_)
        else:
            self._commit_block(block, seen, round_)

    def validator_set(self, height: int) -> ValidatorSet:
        """Called by the executor right before it starts `height`: reset the per-height message log and
        replay what arrived early once the core is at the new height."""
        self._keep_fuller_commit(height - 1)
        self._reset_height()
        self.timers.cancel_below(height)  # what the core would ignore, without a loop wake-up each
        asyncio.get_running_loop().call_soon(self._replay_future)
        return valset_from_info(self.state.validators)

    def _keep_fuller_commit(self, height: int) -> None:
        """The COMMIT step is over: if late precommits made the decided commit fuller than the seen commit
        stored with the block, store it, so the next block's LastCommit names every validator that voted
        (CometBFT's LastCommit; validators are not recorded absent just for being a little late)."""
        self.seen_commits.keep_fuller(self.core.decided_commit(), height, self.state.last_height)

    def report(self, evidence: DuplicateVoteEvidence) -> None:
        a = evidence.vote_a
        log.warning("duplicate vote evidence", validator=a.validator, height=a.height, round=a.round,
                    type=int(a.type))
        self.add_evidence(EvidenceMsg(VoteMsg.of(evidence.vote_a), VoteMsg.of(evidence.vote_b)))

    def add_evidence(self, msg: EvidenceMsg) -> tuple[bytes, str | None]:
        """Our own, a peer's or a client's (RPC) evidence: into the pool and gossiped if valid and new.
        Returns (hash, why refused or None)."""
        key, reason, added = self.evidence.add(self.state, msg)
        if added:
            self.gossip.push_all(canonical(msg))
        return key, reason

    # ------------------------------------------------------------------ the commit path
    def _commit_block(self, block: Block, seen_commit: Commit, round_: int, save_block: bool = True) -> None:
        h = block.header.height
        try:
            applied = self.applier.apply(self.state, block, seen_commit, save_block=save_block)
        except Exception as exc:
            self._commit_failed(h, exc)
            raise
        self._after_apply(block, applied, round_)

    def _commit_failed(self, h: int, exc: Exception) -> None:
        # A decided block that cannot be committed (an application bug, a full disk): continuing would
        # fork this node from the others. Stop; the handshake resumes from the disk after the fix.
        if not self.storage_failed(exc):
            log.error("cannot commit a decided block; stopping the node", exc=True, height=h)
            self._halt(f"block {h} could not be committed: {exc}")

    @property
    def commit_worker(self) -> ThreadExecutor | None:
        """The commit worker thread (a one-thread executor set by node/assemble.py; None in tests and tools:
        then decided blocks, our proposals' blocks and peers' proposals are handled on the loop)."""
        return self.commit_thread.executor

    @commit_worker.setter
    def commit_worker(self, executor: ThreadExecutor | None) -> None:
        self.commit_thread.executor = executor

    @property
    def committing(self) -> bool:
        """A decided block is being committed in the worker thread (`CommitThread.commit`)."""
        return self.commit_thread.committing

    def install_commit_lock(self, port: LockingAppPort) -> None:
        """`port` is the app port of this node's applier: its `commit()` will lock the mempool first."""
        self.commit_thread.install_lock(port)

    async def wait_idle(self) -> None:
        """Return when no block is being committed (at once when none is)."""
        ct = self.commit_thread
        while ct.committing:
            await ct.idle.wait()

    def _after_apply(self, block: Block, applied: Applied, round_: int) -> None:
        """Steps 6-7 of the commit path, on the loop."""
        h = block.header.height
        self.state = applied.state
        dropped = self.mempool.update(h, block.txs, block.tx_hashes())  # step 6 (hashes computed once per block)
        if dropped:
            log.info("re-check dropped txs from the mempool", height=h, dropped=len(dropped))
        self.applier.crash("after_mempool_update", h)
        self.evidence.committed_block(block.evidence)
        now = time.monotonic()
        interval = None if self.last_block_at is None else now - self.last_block_at
        self.last_block_at = now
        self.metrics.observe_block(h, round_, len(block.txs), interval)
        self.metrics.mempool_size, self.metrics.mempool_bytes = len(self.mempool), self.mempool.size_bytes
        log.info("committed block", height=h, round=round_, txs=len(block.txs), hash=block.hash(),
                 app_hash=applied.result.app_hash)
        # step 7: events (the event bus also resolves broadcast_tx_commit waiters)
        if self.on_block is not None:
            try:
                self.on_block(block, applied.result)
            except Exception:
                log.error("event publication failed", exc=True, height=h)
        self._broadcast_status()

    def storage_failed(self, exc: BaseException) -> bool:
        """If `exc` is a failed write to storage (or the node already stopped on one): stop the node with one
        fatal line and return True, so callers skip their per-message traceback. Else False."""
        if self.fatal:
            return True
        line = storage_failure(exc, self.data_dir)
        if line is None:
            return False
        log.error(line)
        self.fatal_logged = True
        self._halt(line)
        return True

    def _halt(self, reason: str) -> None:
        """The node's one fatal path: consensus stops here, `run_node` shuts down and exits 1."""
        if not self.fatal:
            self.fatal = reason
        self.failed.set()
        self.in_consensus = False
        self.timers.cancel_all()

    def apply_synced_block(self, block: Block, commit: Commit) -> bool:
        """Verify and commit a block received from a peer (block sync or catch-up); False if invalid. In
        consensus, a block of the height the core is at is decided by the core (`_decide_synced`), else it is
        committed here, beside the core, and consensus restarts at the next height."""
        st = self.state
        if block.header.height != st.height:
            return False
        reason = self.check_block(block)
        if reason is None and commit.block_id.hash != block.hash():
            reason = "commit is for another block"
        if reason is None:
            v = verify_commit(self.chain_id, valset_from_info(st.validators), st.height, block.hash(),
                              commit_to_consensus(commit), self.verified.verify)
            reason = None if v.ok else f"commit does not verify: {v.reason}"
        if reason is not None:
            log.warning("rejected synced block", height=block.header.height, reason=reason)
            return False
        if self.in_consensus:
            why = self._decide_synced(block, commit)
            if why is None:
                return True
            log.info("synced block committed beside consensus", height=block.header.height, round=commit.round,
                     reason=why)
            self.timers.cancel_all()
        self.seen_commits.last = commit
        self._commit_block(block, commit, commit.round)
        if self.in_consensus:
            self._start_height()
        return True

    def _decide_synced(self, block: Block, commit: Commit) -> str | None:
        """A checked block of the height our core is at, with the commit a peer stored for it: the commit's
        precommits go to the core as ordinary votes (`inbound.on_vote`: logged, in the WAL, relayed), then the
        block as that commit's value (`CommitReceived`), so the core decides it as L49 would (with or without
        the round's proposal) and first signs our own precommit for it when we had not precommitted in that
        round (`decide_precommit`): the others, waiting for every precommit (`skip_timeout_commit`), need not
        wait the full `commit` for ours. The block is then committed by `decide`, as any decided block, and the
        next height starts right after it (a peer is past this height: the COMMIT step ends at once, unheld).
        Before, it was committed beside the core and our precommit was never sent. Returns None when the core
        decided it, else why the core cannot take it (the caller then commits it beside the core, as before):
        the core is at another height, or decided without the block, or the commit's round is beyond its round
        window. A core still in the COMMIT step of h - 1 ends it first and starts h (seen on a network with a
        node paused: its commit of h - 1 ended after the others had decided h; beside the core, the others
        then waited the full `commit` for its precommit of h)."""
        c = self.core
        h, value = block.header.height, block.hash()
        if c.height == h - 1 and c.step is Step.DECIDED and not self.executor.suspended:
            # our COMMIT step of h - 1 (its block is committed): a peer is past h already, nothing is left to
            # wait for; start h now (any hold of that step dropped), so the core can take h's block below
            if self.hold.held is not None and self.hold.held.timeout.height == c.height:
                self.hold.held = None
            self.executor.handle(TimeoutFired(Timeout(TimeoutKind.COMMIT, c.height, 0)))
        if c.height != h or c.keeper is None:
            return f"consensus is at height {c.height}"
        if c.step is Step.DECIDED:
            return "consensus decided without the block"
        if commit.round > c.keeper.max_round:
            return f"round {commit.round} is beyond the round window ({c.keeper.max_round})"
        self.blocks.setdefault(value, (block, block.packed()))
        signed = c.lines_hit.get("decide_precommit", 0)
        had = (value in c.proposed_values(commit.round), c.round, c.step.name)  # (for the log line: what was missing)
        cc = commit_to_consensus(commit)
        for sig in cc.signatures:
            if sig.flag != BlockIDFlag.ABSENT:  # (signatures checked by verify_commit: cached, not checked again)
                inbound.on_vote(self, "", VoteMsg.of(commit_vote(cc, sig)))
        self.executor.handle(CommitReceived(h, commit.round, value, True))
        if c.decision is None:  # (2f+1 checked precommits and the value: cannot happen; committed beside it)
            return "consensus did not decide it"
        log.info("synced block decided by consensus", height=h, round=commit.round,
                 precommitted=c.lines_hit.get("decide_precommit", 0) > signed, had_proposal=had[0], at_round=had[1],
                 at_step=had[2])
        # a peer is past this height already: no commit wait (nor hold), the next height starts once the block
        # is committed, as it did beside the core (queued behind the commit while the executor is suspended)
        self.executor.handle(TimeoutFired(Timeout(TimeoutKind.COMMIT, h, commit.round)))
        return None

    # ------------------------------------------------------------------ block validation
    def check_block(self, block: Block) -> str | None:
        """Why `block` cannot be the next block, or None (node/blockrules.py)."""
        return blockrules.check_block(self.chain_id, self.state, block, self.evidence.history, self.verified.verify)

    # ------------------------------------------------------------------ inbound messages (node/inbound.py)
    def handle_payload(self, peer_id: str, payload: bytes) -> None:
        if self.fatal or self.stopping:  # stopping: nothing more is handled (or written)
            return
        if not self.in_consensus:
            pass  # (on_vote/on_proposal may keep a message for later then: inbound decides)
        elif payload[:2] == _VOTE_FRAME:
            known = self.vote_frames.get(payload)
            if known is not None:  # a vote we hold, byte for byte: another peer's relay (each foreign vote comes
                self.gossip.mark_vote(peer_id, known)  # ~3 times in a full mesh); on_vote would only mark it
                return
        elif payload[:2] == _PROPOSAL_FRAME:
            for prop in self.proposals.values():  # (one or two a height) the same, with its whole block: only
                if prop.encode() == payload:  # marked, not decoded again (a copy of the block per relay)
                    self.gossip.mark_proposal(peer_id, prop)
                    return
        if self.committing and not is_txs_message(payload):  # txs go to the admission queue at once; the rest
            self.commit_thread.after_commit.append(lambda: self.handle_payload(peer_id, payload))  # waits for it
            return
        inbound.handle_payload(self, peer_id, payload)

    def handle_message(self, peer_id: str, msg: Record) -> None:
        inbound.dispatch(self, peer_id, msg)

    def defer(self, peer_id: str, msg: Record, height: int) -> bool:
        """Keep a message of the height we start next (we are in the commit timeout, or still deciding at
        start-up whether to block-sync); True if kept. Peers mark what they sent as known, so a message
        dropped here would not come again until the stuck-peer resend."""
        nxt = self.core.height + 1 if self.in_consensus else self.state.height
        if height == nxt and len(self.future) < MAX_FUTURE_MSGS:
            self.future.append((peer_id, msg))
            fired = self.hold.commit_fired
            if self.hold.held is not None:
                asyncio.get_running_loop().call_soon(self.hold.release)
            elif (isinstance(fired, Timeout) and fired.height == self.core.height and not self.committing
                  and self._peers_past()):  # in next_block_delay's wait (its early timeout fired): end it now
                asyncio.get_running_loop().call_soon(lambda: self._on_timeout(TimeoutFired(fired), hold=False))
            return True
        return False

    def _peers_past(self) -> bool:
        """Our COMMIT step may end early (skip_timeout_commit: every precommit is in) and a peer's message of
        the next height waits in `future`: that peer is past our height, so neither the commit hold nor
        `next_block_delay` keeps us (docs/design.md §9: a peer's message of H+1 ends them). Before, a message
        that came during our block commit (deferred until after it) or during the delay did not: the node,
        slower to commit than the others, waited the delay (100 ms) or a hold (up to the full `commit`) more
        with the next height's proposal and votes in hand."""
        return (self.in_consensus and self.core.step is Step.DECIDED and self.core.commit_skipped
                and any(peer for peer, _ in self.future))

    def add_local_tx(self, tx: bytes) -> object:
        """A tx from RPC, checked on the calling thread at once: check, admit, gossip. Returns the app's
        verdict; raises MempoolError. (`submit_local_tx` is the node's way: signature in a worker thread.)"""
        res = self.mempool.add(tx)
        if res.code == 0:
            self._on_admitted([(sha256(tx), tx)])
        return res

    async def submit_local_tx(self, tx: bytes) -> Checked:
        """A tx from RPC through the admission queue (node/mempool.py `Admission`): the pool's own refusals
        raise MempoolError at once; the app's verdict comes once its signature was verified off the loop and
        check_tx ran, in arrival order. Admitted txs are gossiped by `_on_admitted`."""
        fut = self.admission.submit(tx, want_result=True)
        assert fut is not None
        return await fut

    def send_mempool_to(self, peer_id: str) -> None:
        """A peer just connected: offer it every pending tx it is not known to have."""
        if self.opt.broadcast_txs and len(self.mempool):
            self.gossip.push_txs_to(peer_id, self.mempool.items(), lambda batch: TxsMsg(tuple(batch)))

    def _on_admitted(self, txs: list[tuple[bytes, bytes]]) -> None:
        """Txs just admitted to the mempool (one admission batch, RPC and peers mixed): gossip them a little
        later in one frame per peer with the next batches' (`Gossip.queue_txs`; peers that sent us a tx are
        known to have it), and wake a held commit timeout."""
        if self.opt.broadcast_txs:
            self.gossip.queue_txs(txs, lambda batch: TxsMsg(tuple(batch)))
        if self.hold.held is not None:
            self.hold.release(force=False)
        self.metrics.mempool_size, self.metrics.mempool_bytes = len(self.mempool), self.mempool.size_bytes

    def _on_timeout(self, ev: TimeoutFired, hold: bool = True) -> None:
        """The consensus timers' callback (`LoopTimers`): after a commit in progress, unless the commit hold
        keeps it (`hold=False`: released by the hold), into the consensus executor."""
        if self.committing:  # handled, in order, once the commit in the worker thread is done
            self.commit_thread.after_commit.append(lambda: self._on_timeout(ev, hold))
            return
        t = ev.timeout
        if hold and t.kind is TimeoutKind.COMMIT and t.height == self.core.height and self._peers_past():
            hold = False  # a peer's message of the next height came first: neither held nor put off
        if hold and self.hold.holds(ev):  # held, or put off, until the next height is due (node/commit_hold.py)
            return
        if self.in_consensus and not self.stopping and not self.fatal:
            if log.is_debug():
                log.debug("timeout", kind=ev.timeout.kind.name, height=ev.timeout.height, round=ev.timeout.round,
                          core_round=self.core.round, step=self.core.step.name)
            try:
                self.executor.handle(ev)
            except Exception as exc:
                if not self.storage_failed(exc):
                    log.error("consensus step failed", exc=True, height=self.core.height, round=self.core.round)

    # ------------------------------------------------------------------ status and ticks
    def status(self) -> StatusMsg:
        store_h = self.store.height
        base = self.store.base if store_h > 0 else 0
        if self.in_consensus and self.core.height == self.state.height:
            rnd, step = max(self.core.round, 0), min(int(self.core.step), int(Step.DECIDED))
        else:
            rnd, step = 0, 0
        return StatusMsg(self.state.height, rnd, step, base, store_h)

    def _broadcast_status(self, changed_only: bool = False) -> None:
        """Our status to every peer; with `changed_only` (the tick) only if it changed since we last sent it
        or `STATUS_REFRESH_S` passed. Peers get it at connection (node/assemble.py `_pump`), after every block
        and at every new height anyway; the tick adds round and step changes. Before, the tick sent it 4 times
        a second whatever happened: 12 frames out and 12 in a second per node on an idle 4-node network."""
        st = self.status()
        now = time.monotonic()
        if changed_only and st == self._status_sent and now - self._status_sent_at < STATUS_REFRESH_S:
            return
        self._status_sent, self._status_sent_at = st, now
        self.gossip.push_all(st)

    async def _tick_loop(self) -> None:
        while not self._stopped.is_set():
            await asyncio.sleep(TICK_S)
            if self.stopping or self.fatal:
                continue
            try:
                self.tick()
            except Exception as exc:
                if not self.storage_failed(exc):
                    log.error("tick failed", exc=True)

    def tick(self) -> None:
        if self.committing:
            return
        self._broadcast_status(changed_only=True)
        self.blocksync.tick()
        if self.in_consensus:
            self.gossip.catch_up(self.core.height, list(self.proposals.values()), list(self.votes.values()),
                                 self.blocksync.serve)
        self.metrics.peers = len(self.gossip.peers)

"""egp-chain node: the imperative shell around the pure consensus core and the application.

Theory of operation
-------------------
One process, one asyncio loop; two worker threads take the loop's longest jobs (Ed25519 checks of incoming
txs; and in the commit thread the commit of a decided block, the block of our proposal and the validation of
a peer's proposal; `node/commit_thread.py` says who touches what). `node/assemble.py` builds
everything from a home directory and `egp start` runs it until SIGTERM/SIGINT (graceful: stop consensus and
timers, RPC, P2P, close LevelDB).

Storage: ONE LevelDB (`data/egp.db`) with namespaces `app/` (application state and trie), `blockstore/`,
`node/` (`ChainState` and the validators/params of every height, node/statestore.py), `wal/` (consensus WAL),
`ix/` (tx/block index). The signer's last-signed state is the separate `priv_validator_state.json`
(node/privval.py); in a node with a WAL its durable copy rides in the WAL's synced write of each own message
(key `wal/\xffsigner-state`) and the file follows it without fsync ("Journaled mode"): one synced write per
signature; without a WAL, one atomic write per signature (temp file, fsync, rename, as CometBFT's FilePV).

Consensus: `consensus.ConsensusCore` driven by the shared `node/executor.py`; `node/node.py` implements its
ports — transport (gossip), timers (`loop.call_later`), value source (mempool reap → app.prepare_proposal →
`state.chain.build_block`), decision sink (the commit path), evidence sink — and the signer is `FilePV`.
Timeouts and the block interval come from genesis consensus parameters, so every bank runs the same ones.
Received proposals are checked (signature, block hash, then node/blockrules.py: `validate_block`, last
commit with `consensus.commit.verify_commit`, BFT time, evidence; then app.process_proposal) before the
core sees them. With `create_empty_blocks = false` the commit timeout is held until a tx arrives, a peer
moves to the next height, or the interval elapses (a block that proves a new app hash is never held).

Commit path (node/applier.py), CometBFT's order with crash points between the steps: save block + seen
commit (synced) → finalize → results + index entries + the app's commit + `ChainState` (one synced batch)
→ mempool update → events. A decided block that cannot be committed stops the node (exit 1) rather than
letting it run on forked. At start `node/handshake.py` compares the app, block-store and state heights and
replays what is missing, so a crash at any point loses no block and ends on the right app hash.

Evidence (node/evidence.py): duplicate votes found by our core, received from peers or submitted over RPC
`broadcast_evidence` pass one rule set — the validator is in the set of the evidence height (the state store
keeps every height's set and parameters), the votes are for different blocks, both signatures verify, and it
is not older than the consensus params' max age (blocks and duration, judged on chain time) — then wait in
one pool, are gossiped and proposed; the app receives them as Misbehavior and jails the validator.

Gossip (node/gossip.py): whole blocks in proposals (node/messages.py says why), votes, tx batches and
evidence pushed once per link (per-peer known sets); a periodic tick sends a peer at our height the votes
and proposals it lacks and a peer at a lower height the stored block + commit. Messages of the next height
that arrive during our commit timeout are kept and replayed when it starts.

Block sync (node/blocksync.py): at start, and whenever a running node falls more than
`blocksync.switch_threshold` blocks behind its peers (cometbft#3372), consensus is suspended, blocks are
fetched (pipelined, from the peers that have them), verified with `verify_commit` against our own
validator set and applied through the same commit path; `catching_up` is true exactly then. A peer whose
block requests keep timing out loses its height claim (no one keeps us out of consensus by lying).

The consensus WAL (node/wal.py): yes, the node needs one. The core's lock (paper L36-L43) lives only in
memory; a validator restarted mid-height without it could prevote against its lock, and the signer guard
(which only refuses a *different* signature for the same height/round/step) would also leave it unable to
vote again in the round it crashed in — several validators restarting together could stall the network
(we saw exactly that before the WAL). The WAL keeps the current height's proposals and votes (our own
fsynced before they are broadcast, with the peers' records we acted on written ahead of them in the same
batch: peers' records are held in memory until then, as CometBFT's buffered `Write` is flushed by
`WriteSync`) and replays them through the core at start; finished heights are deleted; a corrupt record
is skipped, never fatal. The signer's own record of its last vote is re-sent
too, and at start the signer takes back from the WAL what it signed when its state file is behind, torn
or missing (`take_back_journal`, `FilePV.recover`); `egp reset` does the same before
it wipes `data/`.

Mempool (node/mempool.py): bounded by count and bytes, check_tx on entry, a bounded recent set of seen
hashes (node/recent.py), FIFO reap,
re-check after each block, CometBFT's "mempool is full" wording. RPC (node/rpc, served with `/metrics`)
reads the node through `node/services.py`. Logs: node/logs.py (key=value or JSON, one line an event).
"""

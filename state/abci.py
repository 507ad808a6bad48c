"""The application behind an ABCI++ (CometBFT 0.38) boundary, as in-process calls.

Call order per height: prepare_proposal (proposer) -> process_proposal (every validator) ->
finalize_block -> commit -> check_tx(RECHECK) for what is left in the mempool. Times are block times in
ms since the epoch (UTC); the app never reads a clock.

Determinism duties (every node must compute the same app hash from the same blocks):
 1. finalize_block depends only on the committed state and the request (txs, height, time, misbehavior);
    no wall clock, no randomness, no floats, no iteration over sets or dicts whose order reaches a hash
    (the trie sorts its changes; records are canonical msgpack).
 2. finalize_block executes against an in-memory overlay and persists nothing; commit writes the state
    records, indexes, trie nodes and metadata (height, app hash, the FinalizeBlock response unless the
    caller stores it: `stored_response`) in ONE atomic batch with sync=True.
 3. Replay is idempotent: finalize_block at the height already committed returns the stored response
    (same app hash) and writes nothing; running finalize_block again before commit discards the first run.
 4. process_proposal is deterministic and rejects only provably invalid blocks (undecodable or oversized
    txs); prepare_proposal may drop txs but never reorders a signer's sequence numbers.
 5. check_tx (mempool admission) checks envelope, signer, sequence number, signature and an active owner
    on a separate check state (an overlay of the accepted mempool txs' nonces) reset at every commit; it
    never touches committed state. The domain rules run in the block; `check_tx(dry_run=True)` runs them
    as a simulation for the RPC `check_tx` method. A signature verified by check_tx is remembered by tx hash (bounded
    cache) and not verified again by finalize_block on this node; a tx never seen is verified.
 6. app_hash = root of the Merkle trie over every state record (state/proofs.py), never empty.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from state import errors as E
from state.abci_types import (
    CheckTxType,
    Event,
    EventAttribute,
    ExecTxResult,
    Misbehavior,
    ProofOp,
    ProposalStatus,
    RequestCheckTx,
    RequestFinalizeBlock,
    RequestInfo,
    RequestInitChain,
    RequestPrepareProposal,
    RequestProcessProposal,
    RequestQuery,
    ResponseCheckTx,
    ResponseCommit,
    ResponseFinalizeBlock,
    ResponseInfo,
    ResponseInitChain,
    ResponsePrepareProposal,
    ResponseProcessProposal,
    ResponseQuery,
    ValidatorUpdate,
    to_events,
)
from state.chain import pack_results
from state.codec import DecodeError
from state.commit_writes import _committed_entries, _state_writes, _trie_changes, _write_overlay
from state.crypto import sha256, verify
from state.errors import CODESPACE, TxError
from state.execute import begin_block, run_tx
from state.fastrec import unpack
from state.kv import KV, Batch
from state.mempool_checks import MempoolChecks
from state.proofs import EMPTY
from state.records import Account, Params, k_account, k_params
from state.registry import load_genesis, parse_app_state
from state.store import NS_META, NS_STATE, NS_TRIE, SCAN_FILTERED, Ctx, KeyFilter, Overlay, StateCache, scan_marks
from state.trie import CACHE_BYTES as TRIE_CACHE_BYTES
from state.trie import CachedNodes, Trie
from state.txs import MAX_TX_BYTES, DecodedTx, decode_tx

__all__ = [
    "Application",
    "CheckTxType",
    "Event",
    "EventAttribute",
    "ExecTxResult",
    "Misbehavior",
    "ProofOp",
    "ProposalStatus",
    "RequestCheckTx",
    "RequestFinalizeBlock",
    "RequestInfo",
    "RequestInitChain",
    "RequestPrepareProposal",
    "RequestProcessProposal",
    "RequestQuery",
    "ResponseCheckTx",
    "ResponseCommit",
    "ResponseFinalizeBlock",
    "ResponseInfo",
    "ResponseInitChain",
    "ResponsePrepareProposal",
    "ResponseProcessProposal",
    "ResponseQuery",
    "ValidatorUpdate",
    "to_events",
]

APP_VERSION = 1
_PROPOSED_MAX = 20_000  # decoded txs of peers' proposals kept for finalize_block (Application._proposed)
VERSION = "egp-chain/0.1.0"


@dataclass
class _Pending:
    height: int
    block_hash: bytes
    overlay: Overlay
    trie: Trie
    response: ResponseFinalizeBlock
    time_ms: int
    txs: list[bytes]
    tx_hashes: list[bytes]  # sha256 of each of `txs`: the caller's (RequestFinalizeBlock.tx_hashes) or computed once
    state_writes: list[tuple[bytes, bytes | None]]  # the overlay's writes of state records (`_state_writes`)


_M_HEIGHT, _M_HASH, _M_RESP, _M_BLOCK = b"height", b"app_hash", b"last_response", b"last_block_hash"
_M_TIME = b"time"


class Application(MempoolChecks):
    """The e-GP application. `kv` is the app's own namespace of the node's store (a `KV`)."""

    def __init__(self, kv: KV, *, sig_cache_size: int = 10_000, state_cache_size: int = 65_536,
                 trie_cache_bytes: int = TRIE_CACHE_BYTES, key_filter: bool = True,
                 stored_response: Callable[[int], ResponseFinalizeBlock | None] | None = None) -> None:
        self.kv = kv
        self._meta = kv.prefixed(NS_META)
        # The replay record (duty 3): the last FinalizeBlock response, kept so that finalize_block at the
        # committed height answers it. `stored_response(height)`: where the caller keeps every committed
        # height's response already (the node's block store keeps its results, the same bytes, in the same
        # atomic batch as the app's commit): then commit writes no record of its own (~140 bytes per tx the
        # node wrote twice; docs/performance.md) and the replay asks the caller. A record left by a home
        # written before is deleted at the first commit, so no stale answer is ever read back.
        self._stored_response = stored_response
        self._drop_replay_record = stored_response is not None and self._meta.get(_M_RESP) is not None
        # tx hash -> the decoded tx whose signature check_tx verified (bounded, oldest evicted; a committed tx
        # leaves it at commit). It only has to span check -> commit, i.e. the mempool (5,000 by default):
        # 10,000 entries of ~1.15 KB (tracemalloc) is ~12 MB; it held 100,000 (~115 MB) before
        self._sig_cache: OrderedDict[bytes, DecodedTx] = OrderedDict()
        self._sig_cache_size = sig_cache_size
        # tx hash -> a tx of an accepted peer's proposal that was not in the signature cache, as process_proposal
        # decoded it (signature NOT verified): finalize_block takes it instead of decoding the tx again, and
        # verifies it. Written by process_proposal (the node's loop, never while a block commits), read by
        # finalize_block and emptied at commit (the commit thread); bounded by _PROPOSED_MAX
        self._proposed: dict[bytes, DecodedTx] = {}
        # the tx `admit_verified` was handed last, until the next `_decode` (of any bytes) takes or drops it:
        # the mempool checks that very tx next; it is in the signature cache as well, so this only saves the
        # hash that finds it there. A `decode_tx` result: what `_decode(dtx.raw)` would return anyway
        self._handed: DecodedTx | None = None
        self._pending: _Pending | None = None
        raw_h = self._meta.get(_M_HEIGHT)
        self.height = int.from_bytes(raw_h, "big") if raw_h else 0
        self.app_hash = self._meta.get(_M_HASH) or EMPTY
        raw_t = self._meta.get(_M_TIME)
        self.last_time = int.from_bytes(raw_t, "big") if raw_t else 0  # block time of `height`, ms
        self._params: Params | None = None
        # committed state records (bytes and decoded) across blocks, updated at commit (state/store.py)
        self.cache: StateCache | None = StateCache(state_cache_size) if state_cache_size > 0 else None
        if self.cache is not None and key_filter:
            # the committed state's keys, scanned once here (~1 us a key: ~0.2 s for 60,000 instruments' 200,000
            # keys, 1.7 s of CPU for 1.5 M), kept up to date by commit and init_chain: the block and the check
            # state answer "absent" without LevelDB for most keys the store does not hold (store.KeyFilter).
            # Like the cache, it assumes that the app's state changes only through this object.
            self.cache.keys = KeyFilter.of(k for k, _ in kv.iterate(prefix=NS_STATE))
            for fam in SCAN_FILTERED:  # the index families whose empty scans it answers (the open credit requests)
                self.cache.keys.update([m for k, _ in kv.iterate(prefix=fam) for m in scan_marks(k)])
        self._check = Overlay(kv, cache_reads=True, shared=self.cache)
        self.nodes = CachedNodes(kv.prefixed(NS_TRIE), max_bytes=trie_cache_bytes)  # config.toml [storage]

    # ---------------------------------------------------------------- helpers
    @property
    def params(self) -> Params:
        if self._params is None:
            raw = self.kv.get(NS_STATE + k_params())
            if raw is None:
                raise RuntimeError("the chain has no genesis state yet (init_chain not called)")
            self._params = Params.decode(raw)
        return self._params

    def _decode(self, raw: bytes) -> DecodedTx:
        """`decode_tx(raw)`, or the decoded tx the signature cache already holds for these exact bytes (the
        cache only holds what `decode_tx` returned): a node sees each tx in check_tx, RECHECK after every
        commit, prepare/process_proposal and finalize_block; it is decoded once. Raises TxError as decode_tx.
        The tx `admit_verified` was just handed (the mempool's next check_tx is of those bytes) is taken
        without hashing the bytes again to find it (~0.85 us a tx on the loop: devnet/bench/check_ab.py)."""
        handed = self._handed
        if handed is not None:
            self._handed = None
            if handed.raw == raw:  # (the same bytes object, as the mempool passes it: no comparison of bytes)
                return handed
        if len(raw) <= MAX_TX_BYTES:  # an oversized tx is refused by decode_tx before anything is hashed
            cached = self._sig_cache.get(sha256(raw))
            if cached is not None and cached.raw == raw:
                return cached
        return decode_tx(raw)

    def _remember_sig(self, dtx: DecodedTx) -> None:
        self._sig_cache[dtx.hash] = dtx
        if len(self._sig_cache) > self._sig_cache_size:
            self._sig_cache.popitem(last=False)

    # ---------------------------------------------------------------- info / genesis
    def info(self, req: RequestInfo | None = None) -> ResponseInfo:
        return ResponseInfo("egp-chain", VERSION, APP_VERSION, self.height, self.app_hash)

    def init_chain(self, req: RequestInitChain) -> ResponseInitChain:
        """Write the genesis state (idempotent: a second call returns the stored genesis app hash)."""
        if self._meta.get(b"genesis") is not None:
            return ResponseInitChain([], self.app_hash)
        overlay = Overlay(self.kv)
        ctx = Ctx(overlay, req.time_ms, req.initial_height - 1)
        vals = [(v.pub_key, v.power) for v in req.validators]
        load_genesis(ctx, req.chain_id, parse_app_state(req.app_state_bytes), vals)
        trie = Trie(self.kv.prefixed(NS_TRIE))
        state_writes = _state_writes(overlay)
        root = trie.update(_trie_changes(state_writes))
        self._note_keys(overlay, state_writes)
        batch = self.kv.batch()
        _write_overlay(batch, overlay, trie.write_items())
        meta = batch.prefixed(NS_META)
        meta.put(_M_HEIGHT, (req.initial_height - 1).to_bytes(8, "big"))
        meta.put(_M_HASH, root)
        meta.put(b"genesis", b"1")
        meta.put(_M_TIME, req.time_ms.to_bytes(8, "big"))
        batch.commit(sync=True)
        self.height, self.app_hash, self.last_time = req.initial_height - 1, root, req.time_ms
        self._params = None
        self._check = Overlay(self.kv)
        self.nodes.clear()
        if self.cache is not None:
            self.cache.clear()
        return ResponseInitChain([], root)

    # ---------------------------------------------------------------- mempool: signatures checked off the loop
    @staticmethod
    def preverify(raws: list[bytes]) -> list[DecodedTx | None]:
        """Decode and Ed25519-verify a batch of txs; None for a tx that does not decode or whose signature
        fails. Thread-safe: it touches no state of the application (a pure function of the bytes), so the node
        runs it in a worker thread (PyNaCl releases the GIL while it verifies). What it returns is handed to
        `admit_verified` on the application's own thread; check_tx then finds those signatures verified."""
        out: list[DecodedTx | None] = []
        for raw in raws:
            try:
                dtx = decode_tx(raw)
            except TxError:
                out.append(None)
                continue
            tx = dtx.tx
            out.append(dtx if verify(tx.signer, tx.sign_bytes(), tx.signature) else None)
        return out

    def admit_verified(self, dtx: DecodedTx) -> None:
        """Remember `dtx` (from `preverify`: decoded and its signature verified) in the signature cache, so
        check_tx, the proposals and finalize_block neither decode nor verify it again. Not thread-safe: call
        it from the thread that calls check_tx. The next `_decode` (the mempool's check_tx of this tx, which
        follows at once) takes `dtx` straight, without hashing the bytes to find it in the cache."""
        self._remember_sig(dtx)
        self._handed = dtx

    # ---------------------------------------------------------------- proposals
    def prepare_proposal(self, req: RequestPrepareProposal) -> ResponsePrepareProposal:
        """Keep mempool order; drop undecodable txs, txs whose sequence cannot fit, and what exceeds the size."""
        out: list[bytes] = []
        size = 0
        nonces: dict[bytes, int] = {}
        for tx in req.txs:
            if size + len(tx) > req.max_tx_bytes:
                break
            try:
                dtx = self._decode(tx)
            except TxError:
                continue
            addr = dtx.signer_address
            if addr not in nonces:
                acct = self._committed_account(addr)
                if acct is None:
                    continue
                nonces[addr] = acct.nonce
            if dtx.tx.nonce != nonces[addr]:
                continue
            nonces[addr] += 1
            out.append(tx)
            size += len(tx)
        return ResponsePrepareProposal(out)

    def _committed_account(self, addr: bytes) -> Account | None:
        """The committed account of `addr`: from the state cache (decoded there), else the store."""
        key = NS_STATE + k_account(addr)
        e = self.cache.get(key) if self.cache is not None else None
        if e is not None:
            raw, rec = e
            if raw is None:
                return None
            return rec if isinstance(rec, Account) else unpack(Account, raw)
        raw = self.kv.get(key)
        return None if raw is None else unpack(Account, raw)

    def process_proposal(self, req: RequestProcessProposal) -> ResponseProcessProposal:
        """Every tx decodes (the rules run in finalize_block). `req.tx_hashes` (the node's block's) find the
        txs check_tx decoded already without hashing each again (a peer's proposal: on the node's loop)."""
        txs, given = req.txs, req.tx_hashes
        if given is None or len(given) != len(txs):
            given = [b""] * len(txs)
        cache = self._sig_cache
        decoded: list[DecodedTx] = []
        for tx, h in zip(txs, given, strict=True):
            if len(tx) > MAX_TX_BYTES:
                return ResponseProcessProposal(ProposalStatus.REJECT)
            cached = cache.get(h or sha256(tx))
            if cached is not None and cached.raw == tx:
                continue  # decoded (and verified) by check_tx
            try:
                decoded.append(decode_tx(tx))
            except TxError:
                return ResponseProcessProposal(ProposalStatus.REJECT)
        if decoded:
            proposed = self._proposed
            if len(proposed) + len(decoded) > _PROPOSED_MAX:
                proposed.clear()
            for dtx in decoded:
                proposed[dtx.hash] = dtx
        return ResponseProcessProposal(ProposalStatus.ACCEPT)

    # ---------------------------------------------------------------- blocks
    def finalize_block(self, req: RequestFinalizeBlock) -> ResponseFinalizeBlock:
        if req.height <= self.height:
            return self._replayed(req)
        if req.height != self.height + 1:
            raise ValueError(f"finalize_block at height {req.height}, but the app is at {self.height}")
        params = self.params
        # the committed KV does not change until commit; the state cache holds committed values
        overlay = Overlay(self.kv, cache_reads=True, shared=self.cache)
        ctx = Ctx(overlay, req.time_ms, req.height)
        begin_block(ctx, [(m.type, m.validator_address, m.height, m.time_ms, m.validator_power)
                          for m in req.misbehavior])
        block_events = to_events(ctx.events)
        txs, given = req.txs, req.tx_hashes
        hashes = list(given) if given is not None and len(given) == len(txs) else [sha256(raw) for raw in txs]
        deliver = self._deliver
        results = [deliver(ctx, raw, h, params) for raw, h in zip(txs, hashes, strict=True)]
        updates = tuple(ValidatorUpdate(pk, p) for pk, p in sorted(ctx.validator_updates.items()))
        trie = Trie(self.nodes)
        state_writes = _state_writes(overlay)
        root = trie.update(_trie_changes(state_writes))
        resp = ResponseFinalizeBlock(block_events, tuple(results), updates, b"", root)
        self._pending = _Pending(req.height, req.hash, overlay, trie, resp, req.time_ms, req.txs, hashes,
                                 state_writes)
        return resp

    def _deliver(self, ctx: Ctx, raw: bytes, h: bytes, params: Params) -> ExecTxResult:
        """Execute the tx `raw` whose sha256 is `h`."""
        ctx.events = []
        cached = self._sig_cache.get(h)
        if cached is not None and cached.raw == raw:
            dtx, verified = cached, True
        else:
            verified = False
            dtx_ = self._proposed.get(h)  # decoded by process_proposal, not verified
            if dtx_ is not None and dtx_.raw == raw:
                dtx = dtx_
            else:
                try:
                    dtx = decode_tx(raw)
                except TxError as err:
                    return ExecTxResult(err.code, b"", err.log, "", 0, 0, (), CODESPACE)
        return run_tx(ctx, dtx, params, verified=verified)  # the result as the block keeps it, built once

    def _replayed(self, req: RequestFinalizeBlock) -> ResponseFinalizeBlock:
        if req.height != self.height:
            raise ValueError(f"height {req.height} is already committed (app at {self.height})")
        stored_hash = self._meta.get(_M_BLOCK) or b""
        if req.hash and stored_hash and req.hash != stored_hash:
            raise ValueError(f"a different block was committed at height {req.height}")
        if self._stored_response is not None:
            resp = self._stored_response(req.height)
            if resp is None or resp.app_hash != self.app_hash:
                raise ValueError(f"height {req.height} is committed, but its response is not stored")
            return resp
        raw = self._meta.get(_M_RESP)
        if raw is None:
            raise ValueError(f"height {req.height} is already committed (app at {self.height})")
        return unpack(ResponseFinalizeBlock, raw)

    def commit(self, batch: Batch | None = None, *, written_before_reads: bool = False) -> ResponseCommit:
        """Persist the finalized block in one atomic batch (sync). With `batch` (a batch over this app's
        namespace), the ops are added to it and the caller commits them with its own writes;
        `written_before_reads`: the caller writes it before anything reads this app again (the node's commit
        path), so the next check state may remember what the store answers."""
        p = self._pending
        if p is None:
            return ResponseCommit(0)
        own = batch is None
        self._note_keys(p.overlay, p.state_writes)  # before the write lands: the filter may only know more keys
        b = self.kv.batch() if batch is None else batch
        _write_overlay(b, p.overlay, p.trie.write_items())
        meta = b.prefixed(NS_META)
        meta.put(_M_HEIGHT, p.height.to_bytes(8, "big"))
        meta.put(_M_HASH, p.response.app_hash)
        if self._stored_response is None:
            meta.put(_M_RESP, pack_response(p.response))
        elif self._drop_replay_record:
            meta.delete(_M_RESP)
            self._drop_replay_record = False
        meta.put(_M_BLOCK, p.block_hash)
        meta.put(_M_TIME, p.time_ms.to_bytes(8, "big"))
        if own:
            b.commit(sync=True)
        self.nodes.apply(p.trie.changes)  # with a caller's batch: it must be committed before the next block
        if self.cache is not None:
            self.cache.update(_committed_entries(p.overlay, p.state_writes, self.cache.young))
        cache = self._sig_cache
        for h in p.tx_hashes:  # committed: never checked or executed again (a replay is refused by its nonce)
            cache.pop(h, None)
        self._proposed.clear()  # the next height's proposals come after this commit
        self.height, self.app_hash, self.last_time = p.height, p.response.app_hash, p.time_ms
        self._pending = None
        # a caller's batch may not be written yet, unless the caller says it is written before any read
        self._check = Overlay(self.kv, cache_reads=own or written_before_reads, shared=self.cache)
        return ResponseCommit(0)

    def _note_keys(self, overlay: Overlay, state_writes: list[tuple[bytes, bytes | None]]) -> None:
        """Add the state keys `overlay` writes a value to (not its deletes) to the key filter, and the scan marks
        of the index keys it writes in the families the filter covers (store.SCAN_FILTERED). A key the block read
        with a value from the committed state (its read cache says so) is in the filter already (the filter
        holds every committed key): only the others are added (~0.3 us a key; most writes update a record
        the block read first)."""
        keys = self.cache.keys if self.cache is not None else None
        if keys is not None:
            read = (overlay._reads or {}).get
            keys.update([k for k, v in state_writes if v is not None and read(k) is None])
            for fam in SCAN_FILTERED:
                keys.update([m for k in overlay.written_under(fam) for m in scan_marks(k)])

    # ---------------------------------------------------------------- queries
    def query(self, req: RequestQuery) -> ResponseQuery:
        from state.queries import run_query

        if req.height not in (0, self.height):
            err = TxError(E.HEIGHT_UNAVAILABLE, height=req.height, latest=self.height)
            return ResponseQuery(code=err.code, log=err.log, codespace=CODESPACE, height=self.height)
        try:
            return run_query(self, req)
        except TxError as err:
            return ResponseQuery(code=err.code, log=err.log, codespace=CODESPACE, height=self.height)
        except (DecodeError, ValueError, UnicodeDecodeError) as exc:
            bad = TxError(E.BAD_QUERY, reason=str(exc))
            return ResponseQuery(code=bad.code, log=bad.log, codespace=CODESPACE, height=self.height)


def pack_response(r: ResponseFinalizeBlock) -> bytes:
    """The replay record: `r.encode()`, the very bytes the node's block store keeps for this block's results
    (`state.chain.pack_results`, computed once per block). Homes written before this format (tags 80-84)
    must be reset: their last response no longer decodes."""
    return pack_results(r)

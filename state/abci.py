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
from hashlib import sha256 as _sha256

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
from state.crypto import sha256, verify
from state.errors import CODESPACE, TxError
from state.execute import ante_tx, begin_block, run_tx
from state.fastrec import unpack
from state.kv import KV, Batch
from state.proofs import EMPTY
from state.records import Account, Institution, Params, Supplier, k_account, k_params
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
# authentication refusals raised before (or by) the signature check: the signature was not verified
_UNVERIFIED = frozenset(k.code for k in (E.WRONG_CHAIN, E.UNKNOWN_SIGNER, E.KEY_REVOKED, E.BAD_NONCE, E.BAD_SIGNATURE))


class Application:
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

    # ---------------------------------------------------------------- mempool
    def check_tx(self, req: RequestCheckTx, *, dry_run: bool = False) -> ResponseCheckTx:
        """Mempool admission (NEW, and RECHECK after a commit against the fresh check state): envelope,
        signer, sequence number, signature and an active owner (`ante_tx`), on the check state; an accepted
        tx's sequence number stays taken there so the signer's next tx is judged after it. The domain rules
        run once, in the block (as CometBFT apps built on the Cosmos SDK do): executing every tx twice on
        every validator cost a fifth of a node's CPU, and a refusal here left a gap in the signer's sequence
        that stranded every later tx of that signer. With `dry_run` (the RPC `check_tx` method, which the
        wallet calls before it broadcasts) the full rules run as a simulation and nothing is kept."""
        if not dry_run:
            code, log, dtx = self._check_new(req.tx)
            if code or dtx is None:
                return ResponseCheckTx(code=code, log=log, codespace=CODESPACE)
            return ResponseCheckTx(code=0, sender=dtx.signer_address, nonce=dtx.tx.nonce)
        try:
            dtx = self._decode(req.tx)
            params = self.params
        except TxError as err:
            return ResponseCheckTx(code=err.code, log=err.log, codespace=CODESPACE)
        out = run_tx(Ctx(Overlay(self._check), self.last_time, self.height + 1), dtx, params,
                     verified=self._signature_known(dtx))
        if out.code:
            return ResponseCheckTx(code=out.code, log=out.log, codespace=CODESPACE)
        return ResponseCheckTx(code=0, sender=dtx.signer_address, nonce=dtx.tx.nonce)

    def check_code(self, raw: bytes) -> tuple[int, str]:
        """`check_tx` (NEW or RECHECK: the same check) as the node's mempool takes it: the verdict's code and
        log only ((0, "") = accepted), without the ABCI request and response objects (~3 us a tx)."""
        code, log, _ = self._check_new(raw)
        return code, log

    _check_ctx: Ctx | None = None  # the context over `_check` that `_check_new` reuses (rebuilt with it)

    def _check_new(self, raw: bytes) -> tuple[int, str, DecodedTx | None]:
        """check_tx's admission check: `ante_tx` straight on the check state (as `recheck_txs`: it writes only
        when it accepts, so a refused tx leaves nothing), through one context per check state instead of a
        child layer, a context and a merge per tx (~4 us a tx)."""
        try:
            dtx = self._decode(raw)
            params = self.params
        except TxError as err:
            return err.code, err.log, None
        verified = self._signature_known(dtx)
        ctx = self._check_ctx
        if ctx is None or ctx.view is not self._check:  # a commit (or init_chain) made a new check state
            ctx = self._check_ctx = Ctx(self._check, self.last_time, self.height + 1)
        out = ante_tx(ctx, dtx, params, verified=verified)
        if not verified and out.code not in _UNVERIFIED:
            self._remember_sig(dtx)  # the signature is good even if this check refuses the tx: another
            # proposer, whose block runs later than our check state, may still include it
        return out.code, out.log, dtx

    def _signature_known(self, dtx: DecodedTx) -> bool:
        """This very tx (same bytes) had its signature verified already (the signature cache)."""
        cached = self._sig_cache.get(dtx.hash)
        return cached is not None and cached.raw == dtx.raw

    def recheck_txs(self, raws: list[bytes], hashes: list[bytes] | None = None) -> list[bool]:
        """The RECHECK of every tx still in the mempool after a commit, in one pass: True where
        `check_tx(RECHECK)` of that tx, called for each in turn, would accept it (and it leaves the same check
        state). `hashes`: the txs' SHA-256 when the caller has them (the mempool does).

        Cheaper per tx than check_tx one by one: the accepted txs' sequence numbers go straight into the check
        state (`ante_tx` writes only when it accepts), and a signer's txs after one `ante_tx` accepted in this
        pass are judged without it: `ante_tx` of an accepted tx changes nothing but its signer's sequence
        number (its account's `nonce`: tests/node/test_recheck.py holds it to that), so the next tx of that
        signer, of this chain, with a verified signature (in the cache) and the next number, is accepted; its
        account is written once with the final number. Anything else goes through `ante_tx` (after that
        write). After a block the mempool holds a few hot signers' runs of txs (a bank's), so most txs take
        the short way: 1-2 instead of 4-6 us a tx."""
        from dataclasses import replace

        try:
            params = self.params
        except TxError:
            return [False] * len(raws)
        ctx = Ctx(self._check, self.last_time, self.height + 1)
        cache, chain_id = self._sig_cache, params.chain_id
        runs: dict[bytes, list[int]] = {}  # signer -> [next sequence number, accepted since its account was written]

        def settle(addr: bytes, run: list[int]) -> None:
            """Write the sequence numbers `run` took the short way (what as many `ante_tx` would write)."""
            if run[1]:
                key = k_account(addr)
                acct = ctx.get(key, Account)
                if acct is not None:  # always: `ante_tx` accepted this signer's tx just before
                    ctx.put(key, replace(acct, nonce=acct.nonce + run[1]))
                run[1] = 0

        out: list[bool] = []
        for i, raw in enumerate(raws):
            h = sha256(raw) if hashes is None else hashes[i]
            cached = cache.get(h)
            if cached is not None and cached.raw == raw:
                dtx, verified = cached, True
            else:
                try:
                    dtx, verified = decode_tx(raw), False
                except TxError:
                    out.append(False)
                    continue
            addr = dtx.signer_address
            run = runs.get(addr)
            tx = dtx.tx
            if run is not None and verified and tx.nonce == run[0] and tx.chain_id == chain_id:
                run[0] += 1
                run[1] += 1
                out.append(True)
                continue
            if run is not None:
                settle(addr, run)
                del runs[addr]
            try:
                code = ante_tx(ctx, dtx, params, verified=verified).code
            except Exception:  # as the mempool treats a check_tx that raises: refused
                out.append(False)
                continue
            if not verified and code not in _UNVERIFIED:
                self._remember_sig(dtx)
            if code == 0:
                runs[addr] = [tx.nonce + 1, 0]
            out.append(code == 0)
        for addr, run in runs.items():
            settle(addr, run)
        return out

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


def _state_writes(overlay: Overlay) -> list[tuple[bytes, bytes | None]]:
    """The overlay's writes of state records (key with its namespace, value or None): the trie's changes, the
    key filter's new keys and the state cache's entries come from this one pass over the block's writes."""
    overlay.pack_records()  # the accounts `put_rec` wrote, packed once each (execute.bump_nonce)
    s = NS_STATE[0]
    return [(k, v) for k, v in overlay.writes.items() if k[0] == s]


def _trie_changes(state_writes: list[tuple[bytes, bytes | None]]) -> dict[bytes, bytes | None]:
    h = _sha256  # hashlib's constructor straight (crypto.sha256 is this, behind a Python call)
    return {h(k[1:]).digest(): (None if v is None else h(v).digest()) for k, v in state_writes}


# the records the state cache keeps decoded across blocks: the small registry records every tx reads (its
# signer's account and institution or supplier, the params). The others (guarantees: 2.5 KB decoded against
# ~0.4 KB of bytes; requirements, requests...) are kept as bytes: they are read again once or twice, and
# decoding one (`unpack`, 2.4 us for a guarantee) is cheap next to the LevelDB read the cache saves.
# Measured at 30,559 entries after 25 blocks of app_bench: 968 bytes an entry with every record decoded.
_DECODED_ACROSS_BLOCKS = frozenset({Account, Institution, Supplier, Params})


def _committed_entries(overlay: Overlay, state_writes: list[tuple[bytes, bytes | None]],
                       young: dict[bytes, tuple[bytes | None, object]]) -> dict[bytes, tuple[bytes | None, object]]:
    """What the block read from the committed state and what it wrote there, with the decoded registry
    records the overlay holds for them: the entries of `StateCache` after this block's commit. A read the
    cache's young generation already holds (the same committed value) is left out: adding it again would
    change nothing there (`StateCache.update` adds to the young generation before it may turn it old)."""
    writes, get, keep = overlay.writes, overlay.objs.get, _DECODED_ACROSS_BLOCKS
    s = NS_STATE[0]
    out = {k: (v, o if (o := get(k)).__class__ in keep else None)
           for k, v in (overlay._reads or {}).items() if k[0] == s and k not in writes and k not in young}
    out.update({k: (v, o if (o := get(k)).__class__ in keep else None) for k, v in state_writes})
    return out


def _write_overlay(batch: Batch, overlay: Overlay, trie_writes: list[tuple[bytes, bytes | None]]) -> None:
    """The block's records and trie nodes into `batch`, as two bulk extends (`Batch.extend`)."""
    overlay.pack_records()  # a no-op after `_state_writes` (nothing writes the overlay in between)
    batch.extend(overlay.writes.items())
    batch.prefixed(NS_TRIE).extend(trie_writes)

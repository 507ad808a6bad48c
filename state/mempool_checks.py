"""The application's mempool admission: check_tx, its check state and the RECHECK after a commit.

Why a module of its own: these rules change with what the mempool admits (duty 5 of `state.abci`: envelope,
signer, sequence number, signature, an active owner; never the committed state), the rest of the application
with blocks. `MempoolChecks` is a base class of `state.abci.Application` (the methods are looked up on the
class as before: no call layer); it uses the application's signature cache (`_decode`, `_remember_sig`) and
its check state (`_check`), which `Application.__init__` and `commit` make.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from state import errors as E
from state.abci_types import RequestCheckTx, ResponseCheckTx
from state.crypto import sha256
from state.errors import CODESPACE, TxError
from state.execute import ante_tx, run_tx
from state.records import Account, Params, k_account
from state.store import Ctx, Overlay
from state.txs import DecodedTx, decode_tx

# authentication refusals raised before (or by) the signature check: the signature was not verified
_UNVERIFIED = frozenset(k.code for k in (E.WRONG_CHAIN, E.UNKNOWN_SIGNER, E.KEY_REVOKED, E.BAD_NONCE, E.BAD_SIGNATURE))


class MempoolChecks:
    """check_tx, check_code and recheck_txs of `state.abci.Application` (its base class)."""

    _sig_cache: OrderedDict[bytes, DecodedTx]
    _check: Overlay
    height: int
    last_time: int

    if TYPE_CHECKING:  # the application's own, which these methods use

        @property
        def params(self) -> Params: ...

        def _decode(self, raw: bytes) -> DecodedTx: ...

        def _remember_sig(self, dtx: DecodedTx) -> None: ...

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

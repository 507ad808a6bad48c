"""Executing a block's transactions: authentication, nonces, dispatch to the domain, per-tx isolation.

A transaction whose envelope, signer and sequence number are valid consumes its sequence number even if
the domain then rejects it (so nobody can replay a failed transaction later, when it might succeed); its
domain writes are kept only on success. Automatic transitions (evidence, expiry) run at the start of the
block, before any transaction, on the block's own time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from state import credit, demands, guarantees, issuance, rating, registry, validators
from state import errors as E
from state.chain import ExecTxResult
from state.crypto import verify
from state.errors import CODESPACE, TxError
from state.fastrec import remember
from state.records import Account, Params, k_account
from state.store import NS_STATE, Ctx, Event
from state.txs import DecodedTx

Handler = Callable[[Ctx, Any], None]

HANDLERS: dict[str, Handler] = {
    "reg.institution": registry.register_institution,
    "reg.institution_status": registry.set_institution_status,
    "reg.supplier": registry.register_supplier,
    "reg.supplier_status": registry.set_supplier_status,
    "reg.add_key": registry.add_key,
    "reg.revoke_key": registry.revoke_key,
    "lg.requirement": issuance.publish_requirement,
    "lg.request": issuance.request_guarantee,
    "lg.decline": issuance.decline_request,
    "lg.issue": issuance.issue_guarantee,
    "lg.acknowledge": guarantees.acknowledge,
    "lg.refuse": guarantees.refuse,
    "lg.cancel": guarantees.cancel,
    "lg.amend": guarantees.propose_amendment,
    "lg.amend_accept": guarantees.accept_amendment,
    "lg.amend_reject": guarantees.reject_amendment,
    "lg.reduce": guarantees.reduce,
    "lg.demand": demands.demand,
    "lg.honour": demands.honour,
    "lg.reject_demand": demands.reject_demand,
    "lg.suspend": demands.suspend,
    "lg.extend": demands.extend,
    "lg.withdraw_demand": demands.withdraw,
    "lg.release": guarantees.release,
    "lg.expire": guarantees.expire,
    "lg.obligation": guarantees.record_obligation,
    "cc.issue": credit.issue_credit,
    "cc.consume": credit.consume_credit,
    "cc.revoke": credit.revoke_credit,
    "cc.request": credit.request_credit,
    "cc.decline": credit.decline_credit,
    "rt.record": rating.record_performance,
    "val.propose": validators.propose,
    "val.approve": validators.approve,
}


@dataclass
class TxOutcome:  # ante_tx's verdict (run_tx returns the block's ExecTxResult straight)
    code: int
    log: str
    events: list[Event] = field(default_factory=list)


def authenticate(ctx: Ctx, dtx: DecodedTx, params: Params, *, verified: bool) -> Account:
    """Chain id, registered active key, sequence number, signature (unless already verified): the envelope's
    rules, in the order their refusals are given. `run_tx` (every tx of a block) and `ante_tx` (the mempool's
    check) both call it, with `bump_nonce`: the rules and the write are stated once each."""
    tx = dtx.tx
    if tx.chain_id != params.chain_id:
        raise TxError(E.WRONG_CHAIN, got=tx.chain_id, want=params.chain_id)
    addr = dtx.signer_address
    acct = ctx.view.get_rec(_ACCOUNT_STATE_KEYS.get(addr) or _account_key(addr), Account)
    if acct is None:
        raise TxError(E.UNKNOWN_SIGNER, address=addr.hex())
    if not acct.active:
        raise TxError(E.KEY_REVOKED, address=addr.hex())
    if tx.nonce != acct.nonce:
        raise TxError(E.BAD_NONCE, got=tx.nonce, want=acct.nonce)
    if not verified and not verify(tx.signer, tx.sign_bytes(), tx.signature):
        raise TxError(E.BAD_SIGNATURE)
    return acct


def bump_nonce(ctx: Ctx, addr: bytes, acct: Account) -> None:
    """The signer's next sequence number. The account is packed when the block's writes are taken, not per tx
    (`Overlay.put_rec`): a hot signer's is rewritten by each of its txs. Its fields are the stored
    account's with `nonce + 1` (it grows by one a tx from 0: never near msgpack's 2**64), so packing it
    cannot fail there."""
    ctx.view.put_rec(_ACCOUNT_STATE_KEYS.get(addr) or _account_key(addr),
                     Account(acct.pub_key, acct.owner_kind, acct.owner_id, acct.nonce + 1, acct.active))


_ACCOUNT_STATE_KEYS: dict[bytes, bytes] = {}  # address -> `NS_STATE + k_account(address)`: read and written by
# each of the signer's txs (bounded: fastrec.remember; the hot paths above read it inline, `_account_key` on a miss)


def _account_key(addr: bytes) -> bytes:
    key = _ACCOUNT_STATE_KEYS.get(addr)
    return key if key is not None else remember(_ACCOUNT_STATE_KEYS, addr, NS_STATE + k_account(addr))


def run_tx(block: Ctx, dtx: DecodedTx, params: Params, *, verified: bool) -> ExecTxResult:
    """Execute one decoded transaction inside the block context; returns its result as the block keeps it (code,
    log, events; a refusal's codespace), built once here rather than from an intermediate outcome per tx.

    The domain writes straight into the block's overlay between `begin()` and `keep()`; a refusal (or a bug)
    rolls them back (`Overlay.rollback`), with the events and validator updates of the tx, so only the
    sequence number stays taken, as when each tx ran in a child overlay merged on success."""
    block.tx_hash = dtx.hash
    try:
        acct = authenticate(block, dtx, params, verified=verified)
    except TxError as err:
        return ExecTxResult(err.code, b"", err.log, "", 0, 0, (), CODESPACE)
    addr = dtx.signer_address
    bump_nonce(block, addr, acct)
    view = block.view
    events: list[Event] = []
    block.events = events
    vu = block.validator_updates
    saved_vu = dict(vu) if vu else None
    block.signer_addr, block.signer_kind, block.signer_id = addr, acct.owner_kind, acct.owner_id
    view.begin()
    try:
        registry.check_owner_active(block, acct.owner_kind, acct.owner_id)
        HANDLERS[dtx.tx.type](block, dtx.body)
    except Exception as exc:
        view.rollback()
        vu.clear()
        if saved_vu:
            vu.update(saved_vu)
        block.events = []
        if isinstance(exc, TxError):
            return ExecTxResult(exc.code, b"", exc.log, "", 0, 0, (), CODESPACE)
        # a bug must still give every node the same answer
        return ExecTxResult(E.INTERNAL.code, b"", E.INTERNAL.template.format(kind=type(exc).__name__), "", 0, 0, (),
                            CODESPACE)
    view.keep()
    return ExecTxResult(0, b"", "", "", 0, 0, tuple(events), "")


def ante_tx(block: Ctx, dtx: DecodedTx, params: Params, *, verified: bool) -> TxOutcome:
    """What the mempool checks (CometBFT/Cosmos CheckTx: the ante handler, not the messages): envelope,
    registered active key, sequence number, signature, and that the signer's institution or supplier is
    active; the sequence number is taken. The domain rules run once, in the block: a tx refused by them
    there is committed with its code and still takes its sequence number, so a signer's later txs are not
    stranded behind it. `run_tx` with the full rules serves the RPC `check_tx` (a simulation)."""
    try:
        acct = authenticate(block, dtx, params, verified=verified)
        registry.check_owner_active(block, acct.owner_kind, acct.owner_id)
    except TxError as err:
        return TxOutcome(err.code, err.log)
    bump_nonce(block, dtx.signer_address, acct)
    return TxOutcome(0, "")


def begin_block(ctx: Ctx, misbehavior: list[tuple[int, bytes, int, int, int]]) -> None:
    """Evidence first, then automatic expiry of guarantees and credit confirmations due by block time."""
    for kind, addr, height, time, power in misbehavior:
        validators.record_misbehavior(ctx, kind, addr, height, time, power)
    guarantees.expire_due(ctx)
    credit.expire_due_credit(ctx)

"""Validator-set changes approved by more than 2/3 of the current voting power, and evidence handling.

The registrar proposes (pub key, power, operating bank); banks approve with an officer key; each bank's
approval counts the power of the validators it operates in the current set. When approvals exceed 2/3 of
the total current power the change applies and is returned to consensus as a validator update (power 0
removes a validator). Duplicate-vote evidence from consensus sets the offender's power to 0 (recorded,
`jailed`) until a proposal approved the same way reinstates it.
"""

from __future__ import annotations

import dataclasses

from state import errors as E
from state.codec import encode
from state.crypto import address, sha256
from state.errors import TxError
from state.fastrec import unpack
from state.records import (
    Counter,
    EvidenceRecord,
    Validator,
    ValidatorProposal,
    k_counter,
    k_evidence,
    k_proposal,
    k_validator,
)
from state.registry import BANK, REGISTRAR, require_institution, signer_is
from state.store import Ctx
from state.txs import ApproveValidator, ProposeValidator

MAX_POWER = 1_000_000
OPEN, APPLIED = "OPEN", "APPLIED"


def current_set(ctx: Ctx) -> list[Validator]:
    return [v for v in (unpack(Validator, raw) for _, raw in ctx.scan(b"val/")) if v.power > 0]


def propose(ctx: Ctx, b: ProposeValidator) -> None:
    signer_is(ctx, REGISTRAR, "proposing a validator change")
    if len(b.pub_key) != 32:
        raise TxError(E.BAD_FIELD, field="pub_key", reason="an Ed25519 public key has 32 bytes")
    if not 0 <= b.power <= MAX_POWER:
        raise TxError(E.BAD_POWER, power=b.power, max=MAX_POWER)
    require_institution(ctx, BANK, b.bank)
    counter = ctx.get(k_counter("valp"), Counter) or Counter(0)
    pid = counter.value + 1
    ctx.put(k_counter("valp"), Counter(pid))
    ctx.put(k_proposal(pid), ValidatorProposal(pid, b.pub_key, b.power, b.bank, ctx.now, OPEN, ()))
    ctx.emit("val", {"action": "propose", "proposal": pid, "bank": b.bank, "power": b.power,
                     "validator": address(b.pub_key).hex()})


def approve(ctx: Ctx, b: ApproveValidator) -> None:
    signer_is(ctx, BANK, "approving a validator change")
    p = ctx.get(k_proposal(b.proposal), ValidatorProposal)
    if p is None:
        raise TxError(E.UNKNOWN_PROPOSAL, id=b.proposal)
    if p.status != OPEN:
        raise TxError(E.PROPOSAL_CLOSED, id=p.id, status=p.status)
    bank = ctx.signer_id
    if bank in p.approvals:
        raise TxError(E.ALREADY_APPROVED, bank=bank, id=p.id)
    vals = current_set(ctx)
    if not any(v.bank == bank for v in vals):
        raise TxError(E.NOT_A_VALIDATOR_OPERATOR, bank=bank)
    approvals = tuple(sorted((*p.approvals, bank)))
    total = sum(v.power for v in vals)
    yes = sum(v.power for v in vals if v.bank in approvals)
    if 3 * yes > 2 * total:
        _apply(ctx, p, vals)
        p = dataclasses.replace(p, status=APPLIED)
    ctx.put(k_proposal(p.id), dataclasses.replace(p, approvals=approvals))
    ctx.emit("val", {"action": "approve", "proposal": p.id, "bank": bank, "status": p.status})


def _apply(ctx: Ctx, p: ValidatorProposal, vals: list[Validator]) -> None:
    addr = address(p.pub_key)
    remaining = sum(v.power for v in vals if v.pub_key != p.pub_key) + p.power
    if remaining <= 0:
        raise TxError(E.LAST_VALIDATOR)
    ctx.put(k_validator(addr), Validator(p.pub_key, p.power, p.bank, False, 0))
    ctx.validator_updates[p.pub_key] = p.power
    ctx.emit("val", {"action": "update", "validator": addr.hex(), "power": p.power, "bank": p.bank})


def record_misbehavior(ctx: Ctx, kind: int, validator_addr: bytes, height: int, time: int, power: int) -> bool:
    """Record evidence once and set the offender's power to 0; True when this changed the set."""
    eid = sha256(encode([kind, validator_addr, height, time]))
    if ctx.exists(k_evidence(eid)):
        return False
    ctx.put(k_evidence(eid), EvidenceRecord(eid, kind, validator_addr, height, time, power, ctx.now))
    v = ctx.get(k_validator(validator_addr), Validator)
    ctx.emit("evidence", {"validator": validator_addr.hex(), "height": height, "type": kind})
    if v is None or v.power == 0:
        return False
    if sum(x.power for x in current_set(ctx)) - v.power <= 0:
        return False  # never jail the last voting power; the evidence stays recorded
    ctx.put(k_validator(validator_addr), Validator(v.pub_key, 0, v.bank, True, v.power))
    ctx.validator_updates[v.pub_key] = 0
    ctx.emit("val", {"action": "jail", "validator": validator_addr.hex(), "power": 0, "bank": v.bank})
    return True

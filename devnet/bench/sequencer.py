"""Causal spacing for the compressed workload: a follow-up never leaves before its cause could be committed.

Why: `state/workload.py` models months of e-GP life and emits an agency's requirement and the bank's
guarantee against it back to back (days apart in reality). Pinned to different nodes (each signer goes to
one node, to keep its sequence numbers in order), the guarantee then often reaches a proposer before the
requirement does and fails with UNKNOWN_REQUIREMENT, and everything on that guarantee with
UNKNOWN_GUARANTEE: a first run at 1,000 tx/s lost a third of the load that way, which measures the
generator, not the node. So, before the timed run:

1. every tx gets the instruments it touches (requirement, guarantee, credit confirmation ids, derived as
   the chain derives them) and depends on the last earlier tx touching one of them;
2. its send time is at least its nominal open-loop time and `gap_s` after a cause signed by someone else
   (just after a cause of the same signer: sequence order suffices there);
3. the stream is re-ordered by send time and every signer's transactions are re-signed with sequence
   numbers in that order. Adversarial txs stay adversarial: a bad signature keeps its bytes, a replay
   becomes a copy of the final bytes of the tx it replays.

The offered rate is unchanged on average; a dependent tx is only moved later by up to a few gaps.
"""

from __future__ import annotations

from dataclasses import dataclass

from state.crypto import PrivateKey, verify
from state.errors import TxError
from state.records import cc_id_of, lg_id_of
from state.txs import DecodedTx, IssueCredit, IssueGuarantee, PublishRequirement, decode_tx, sign_tx
from state.workload import Workload

SAME_SIGNER_GAP = 1e-6


@dataclass(frozen=True)
class Signer:
    code: str
    key: PrivateKey


def signers_of(wl: Workload) -> dict[bytes, Signer]:
    actors = [wl.registrar, *wl.banks, *wl.agencies, *wl.suppliers]
    return {a.key.public_key.raw: Signer(a.code, a.key) for a in actors}


def touched(d: DecodedTx, code: str) -> list[str]:
    """The instrument ids a tx reads or writes (its causal keys)."""
    b = d.body
    if isinstance(b, PublishRequirement):
        return [f"{code}:{b.req_id}"]
    if isinstance(b, IssueGuarantee):
        return [k for k in (b.requirement, b.replaces, lg_id_of(code, b.ref)) if k]
    if isinstance(b, IssueCredit):
        return [cc_id_of(code, b.ref)]
    i = getattr(b, "id", None)
    return [i] if isinstance(i, str) and i else []


def sequence(txs: list[bytes], nominal: list[float], wl: Workload, gap_s: float) -> tuple[list[bytes], list[float]]:
    """(txs re-signed in send order, their send times, ascending)."""
    keys = signers_of(wl)
    n = len(txs)
    send = list(nominal)
    decoded: list[DecodedTx | None] = []
    last: dict[str, int] = {}
    first_of: dict[bytes, int] = {}
    replay_of: dict[int, int] = {}
    for i, raw in enumerate(txs):
        try:
            d: DecodedTx | None = decode_tx(raw)
        except TxError:
            d = None
        decoded.append(d)
        if d is None:
            continue
        if d.hash in first_of:
            replay_of[i] = first_of[d.hash]
            continue
        first_of[d.hash] = i
        s = keys.get(d.tx.signer)
        if s is None or not verify(d.tx.signer, d.tx.sign_bytes(), d.tx.signature):
            decoded[i] = None  # adversarial (bad signature, unknown signer): sent as generated
            continue
        for k in touched(d, s.code):
            j = last.get(k)
            if j is not None:
                prev = decoded[j]
                same = prev is not None and prev.tx.signer == d.tx.signer
                send[i] = max(send[i], send[j] + (SAME_SIGNER_GAP if same else gap_s))
            last[k] = i
    for i, j in replay_of.items():
        send[i] = max(send[i], send[j] + SAME_SIGNER_GAP)  # a replay follows what it replays
    order = sorted(range(n), key=lambda i: (send[i], i))
    nonce: dict[bytes, int] = {}
    final: list[bytes] = list(txs)
    for i in order:
        d = decoded[i]
        if d is None or i in replay_of:
            continue
        s = keys[d.tx.signer]
        seq = nonce.get(d.tx.signer, 0)
        nonce[d.tx.signer] = seq + 1
        final[i] = sign_tx(s.key, d.tx.chain_id, seq, d.body)
    for i, j in replay_of.items():
        final[i] = final[j]
    return [final[i] for i in order], [send[i] for i in order]

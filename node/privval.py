"""The signer guard (CometBFT's FilePV): a validator never signs two different messages for one height/round/step.

Why a file: a validator that signs, crashes and restarts must remember what it signed, or it may sign a
conflicting vote and be a Byzantine double-signer through no fault of the bank. So the last signed (height,
round, step, sign bytes, signature) is written to `data/priv_validator_state.json` *before* the signature is
returned to anyone, with one atomic write as CometBFT's FilePV does (`tempfile.WriteFileAtomic`): a temporary
file, fsync, rename. A crash leaves the old file or the new one, never a torn one. (In a node with a consensus
WAL the durable write is the WAL's instead, before the signed message leaves the node: "Journaled mode" below.)

Why no fsync of the directory per signature (it was a second fsync, ~3 ms under load, twice or three times a
height): without it a power failure can lose the rename itself (cometbft#6031), leaving the previous state.
The node closes that gap with its consensus WAL (node/wal.py): every proposal and vote we sign is appended to
it with a synced write *before* it leaves the node, and on start `FilePV.recover` takes back from the WAL's
current height whatever we signed above the file's state. A signature that never reached the WAL never left
the node, so forgetting it is safe. Writes outside signing (`egp init`, `egp reset`, a fresh state) still fsync
the directory (`save_state`).

Journaled mode (`FilePV.journal_in_wal`, set by the node when it has a consensus WAL): one synced write per
signature instead of two. A signature's new state is not written by `_sign`; it is *pending* until the node
appends the signed message to its WAL (node/node.py `_journal_own`), whose synced LevelDB batch carries the
state too (`ConsensusWAL.SIGNER_KEY`, the state file's JSON text, one key overwritten per signature), and
only then is the message sent. The state file is then written as a mirror without fsync, in place: the JSON
text padded with spaces to `MIRROR_BYTES` (512) and written at offset 0 of a file whose size stays 512 bytes,
through a descriptor kept open (`os.pwrite`: ~6 us, where a temp file and a rename cost ~220 us of CPU and
~2.7 ms of wall per signature under load, the rename starting the file's writeback). A process crash keeps it
(the page cache survives); after a power failure the file holds one of the states written (one 512-byte sector,
written whole by the device, the usual assumption; the file's size and blocks never change, so no metadata is
involved), possibly an older one, which the WAL's record then replaces at start. A state whose text is longer
(a chain id near its 50-character limit) is written by temp file and rename instead. Every whole-file write
(`persist`, `recover`, a clean stop's `sync_file`) closes the descriptor first, as the rename leaves it on the
old file. Why this keeps CometBFT's rule (the state
is durable before the signature leaves the node): the batch that makes the message durable holds the state,
and the message is sent only after that batch is synced; a signature whose message never reached the WAL
never left the node (and a new signature first makes any pending state durable in the file, so nothing relies
on a WAL write that did not happen). At start the node takes the WAL's record back when it is above the
file (`take_back_journal`, before the signer opens), as `recover` does from the WAL's messages.
Measured (in process, load 17): the file's
write with fsync cost 364 us of CPU and ~8 ms of wall per signature (2.25 a block and node), the extra key in
the WAL's batch ~10-50 us and the in-place mirror ~6 us. Stored formats unchanged (the file; one more key in the
WAL's namespace, which older binaries never read or delete).

Rules (`privval/file.go`), with step 1 = proposal, 2 = prevote, 3 = precommit:
- a request below the last (height, round, step) is refused;
- the same (height, round, step) with the same sign bytes returns the stored signature (a replay after a
  crash asks again for what was already signed);
- the same (height, round, step) with sign bytes that differ *only in the timestamp* returns the stored
  signature with the stored timestamp (the crash fell between signing and broadcasting);
- anything else at the same (height, round, step) is a conflict and is refused.

Start-up: a missing state file while the chain already has blocks means the record of what this key signed is
lost; `FilePV.load` refuses to run unless `force=True` (the operator's `egp start --unsafe-ignore-signer-state`,
after making sure the key signed nothing at or above the chain height on any machine). A fresh home has a
state file at height 0 written by `egp init`.

`FilePV` implements the executor's `Signer` port (`node/ports.py`): refusals return None and are kept in
`last_refusal`; the `*_checked` variants raise `DoubleSignError` instead.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from consensus.sign_bytes import (
    SignBytesError,
    decode_proposal_sign_bytes,
    decode_vote_sign_bytes,
    proposal_sign_bytes,
    vote_sign_bytes,
)
from consensus.types import Proposal, Vote, VoteType
from state.chain import FLAG_ABSENT, Commit
from state.crypto import PrivateKey, load_priv_validator_key, write_private_file

STEP_NONE = 0
MIRROR_BYTES = 512  # the journaled mode's in-place state file: one sector (module docstring)
STEP_PROPOSE = 1
STEP_PREVOTE = 2
STEP_PRECOMMIT = 3
_VOTE_STEP = {VoteType.PREVOTE: STEP_PREVOTE, VoteType.PRECOMMIT: STEP_PRECOMMIT}


class DoubleSignError(Exception):
    """A request that could make this validator sign conflicting messages; nothing was signed."""


class SignerStateError(Exception):
    """The signer state file is missing (while the chain has blocks), unreadable or malformed."""


@dataclass(frozen=True)
class LastSignState:
    height: int = 0
    round: int = 0
    step: int = STEP_NONE
    signature: bytes = b""
    sign_bytes: bytes = b""

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {"height": str(self.height), "round": self.round, "step": self.step}
        if self.signature:
            doc["signature"] = base64.b64encode(self.signature).decode()
            doc["signbytes"] = self.sign_bytes.hex().upper()
        return doc

    @classmethod
    def from_json(cls, doc: object) -> LastSignState:
        if not isinstance(doc, dict):
            raise SignerStateError("expected a JSON object")
        try:
            height = int(doc["height"])
            round_ = doc["round"]
            step = doc["step"]
            if not isinstance(round_, int) or not isinstance(step, int) or isinstance(step, bool):
                raise ValueError("round and step must be integers")
            sig = base64.b64decode(doc.get("signature") or "", validate=True)
            sb = bytes.fromhex(doc.get("signbytes") or "")
        except (KeyError, ValueError, TypeError) as exc:
            raise SignerStateError(f"malformed signer state: {exc}") from None
        if height < 0 or round_ < 0 or not STEP_NONE <= step <= STEP_PRECOMMIT or bool(sig) != bool(sb):
            raise SignerStateError("signer state out of range")
        return cls(height, round_, step, sig, sb)


def save_state(path: Path, state: LastSignState) -> None:
    """Durably replace the state file (temp file, fsync, rename, directory fsync)."""
    write_private_file(path, json.dumps(state.to_json(), indent=2) + "\n")


def state_text(state: LastSignState) -> str:
    """`json.dumps(state.to_json(), indent=2) + "\\n"`, written out directly (the same text, a test checks it):
    with an indent `json` runs its pure-Python encoder, ~30 us per signature, twice or three times a height."""
    head = f'{{\n  "height": "{state.height}",\n  "round": {state.round},\n  "step": {state.step}'
    if not state.signature:
        return head + "\n}\n"
    sig = base64.b64encode(state.signature).decode()
    return head + f',\n  "signature": "{sig}",\n  "signbytes": "{state.sign_bytes.hex().upper()}"\n}}\n'


def save_signed_state(path: Path, state: LastSignState, *, fsync: bool = True) -> None:
    """Replace the state file in one atomic write, as CometBFT's FilePV: temp file, fsync, rename (one fsync;
    the rename's own durability comes from the WAL, see the module docstring). The file exists already.
    `fsync=False`: the journaled mode's mirror, whose durability is the WAL's synced record."""
    target = os.fspath(path)  # (a Path keeps its string: no new Path per signature)
    tmp = target + ".tmp"  # = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, state_text(state).encode())
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)


def state_from_text(raw: bytes) -> LastSignState:
    """The state from its JSON text (the file's, or the WAL's record of it); SignerStateError if malformed."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise SignerStateError(f"not JSON: {exc}") from None
    return LastSignState.from_json(doc)


def load_state(path: Path) -> LastSignState:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SignerStateError(f"{path}: no signer state file") from None
    except OSError as exc:
        raise SignerStateError(f"{path}: {exc}") from None
    try:
        return state_from_text(raw)
    except SignerStateError as exc:
        raise SignerStateError(f"{path}: {exc}") from None


def take_back_journal(path: Path, record: bytes | None) -> LastSignState | None:
    """Before the signer opens (a node's start) or before `data/` is wiped (`egp reset`): the state the consensus
    WAL's last synced record holds (`ConsensusWAL.signer_state`, journaled mode) written durably to the state
    file when it is above the file's, or when the file is missing or unreadable (a power failure can leave the
    file, which follows the WAL without fsync, behind or torn). Returns the state taken, None if the file
    stands. A record that does not parse leaves the file as it is (the file's own errors then speak)."""
    if record is None:
        return None
    try:
        found = state_from_text(record)
    except SignerStateError:
        return None
    try:
        last: LastSignState | None = load_state(path)
    except SignerStateError:
        last = None
    if last is not None and (found.height, found.round, found.step) <= (last.height, last.round, last.step):
        return None
    save_state(path, found)
    return found


class FilePV:
    """A validator key behind the double-sign guard, for one chain."""

    def __init__(self, key: PrivateKey, state_path: Path, chain_id: str, state: LastSignState) -> None:
        self.key = key
        self.state_path = state_path
        self.chain_id = chain_id
        self.state = state
        self.last_refusal: str | None = None
        self.journaled = False  # `journal_in_wal`: a new state waits in `pending` for the node's WAL write
        self.pending: LastSignState | None = None
        self._mirror_fd: int | None = None  # the state file, open for `mirror`'s in-place writes

    @classmethod
    def load(
        cls, key_path: Path, state_path: Path, chain_id: str, *, chain_height: int = 0, force: bool = False
    ) -> FilePV:
        """Open the signer; see the module docstring for when a missing state file is refused."""
        key = load_priv_validator_key(key_path)
        if state_path.exists():
            state = load_state(state_path)
        elif chain_height > 0 and not force:
            raise SignerStateError(
                f"{state_path} is missing but the chain is at height {chain_height}: this validator's record of "
                "what it signed is lost, and signing again could double-sign. Restore the file, or if you are "
                "sure this key signed nothing at or above that height anywhere, start with "
                "--unsafe-ignore-signer-state."
            )
        else:
            state = LastSignState()
            save_state(state_path, state)
        return cls(key, state_path, chain_id, state)

    @property
    def address(self) -> bytes:
        return self.key.address

    # --- the journaled mode (module docstring) ---------------------------------------------------
    def journal_in_wal(self) -> None:
        """From now on a signature's state is made durable by the caller's synced WAL write (`take_pending`,
        then `mirror`), or by `persist` when that write did not happen. Only a node with a WAL calls it."""
        self.journaled = True

    def take_pending(self) -> LastSignState | None:
        """The state of the signature just made, not durable yet (None if the last request made none)."""
        st, self.pending = self.pending, None
        return st

    def mirror(self, state: LastSignState) -> None:
        """After the WAL's synced write holding `state`: the state file follows, in place, without fsync."""
        data = state_text(state).encode()
        if len(data) > MIRROR_BYTES:  # (a long chain id: the whole file replaced, as before, no fsync)
            self._close_mirror()
            save_signed_state(self.state_path, state, fsync=False)
            return
        if self._mirror_fd is None:
            self._mirror_fd = os.open(self.state_path, os.O_WRONLY | os.O_CREAT, 0o600)  # (as the temp file's)
        os.pwrite(self._mirror_fd, data.ljust(MIRROR_BYTES), 0)  # JSON allows the trailing spaces

    def _close_mirror(self) -> None:
        """Before a whole-file write (temp file + rename): the kept descriptor would point at the old file."""
        fd, self._mirror_fd = self._mirror_fd, None
        if fd is not None:
            os.close(fd)

    def persist(self, state: LastSignState) -> None:
        """`state`'s durable write of its own (temp file, fsync, rename), as without the journal."""
        self._close_mirror()
        save_signed_state(self.state_path, state)

    def sync_file(self) -> None:
        """A clean stop: what the file holds made durable (with its directory), and any pending state in it."""
        pending = self.take_pending()
        self._close_mirror()
        save_state(self.state_path, pending or self.state)

    @property
    def pub_key(self) -> bytes:
        return self.key.public_key.raw

    # --- the Signer port ------------------------------------------------------------------------
    def sign_vote(self, vote: Vote) -> Vote | None:
        try:
            return self.sign_vote_checked(vote)
        except DoubleSignError as exc:
            self.last_refusal = str(exc)
            return None

    def sign_proposal(self, proposal: Proposal) -> Proposal | None:
        try:
            return self.sign_proposal_checked(proposal)
        except DoubleSignError as exc:
            self.last_refusal = str(exc)
            return None

    # --- checked variants -----------------------------------------------------------------------
    def sign_vote_checked(self, vote: Vote) -> Vote:
        if vote.validator and vote.validator != self.address:
            raise DoubleSignError(f"vote is for validator {vote.validator.hex()}, this key is {self.address.hex()}")
        step = _VOTE_STEP.get(vote.type)
        if step is None:
            raise DoubleSignError(f"unknown vote type {vote.type!r}")
        try:
            sign_bytes = vote_sign_bytes(self.chain_id, vote)
        except SignBytesError as exc:
            raise DoubleSignError(f"cannot sign a malformed vote: {exc}") from None
        sig, ts = self._sign(vote.height, vote.round, step, sign_bytes, vote.timestamp_ms)
        return replace(vote, validator=self.address, timestamp_ms=ts, signature=sig)

    def sign_proposal_checked(self, proposal: Proposal) -> Proposal:
        if proposal.proposer and proposal.proposer != self.address:
            raise DoubleSignError("proposal is for another proposer")
        try:
            sign_bytes = proposal_sign_bytes(self.chain_id, proposal)
        except SignBytesError as exc:
            raise DoubleSignError(f"cannot sign a malformed proposal: {exc}") from None
        sig, ts = self._sign(proposal.height, proposal.round, STEP_PROPOSE, sign_bytes, proposal.timestamp_ms)
        return replace(proposal, proposer=self.address, timestamp_ms=ts, signature=sig)

    def _sign(self, height: int, round_: int, step: int, sign_bytes: bytes, timestamp_ms: int) -> tuple[bytes, int]:
        """(signature, timestamp) for the request, persisting the new state first; raises DoubleSignError."""
        last = self.state
        hrs, last_hrs = (height, round_, step), (last.height, last.round, last.step)
        if hrs < last_hrs:
            raise DoubleSignError(f"height/round/step {hrs} is below the last signed {last_hrs}")
        if hrs == last_hrs:
            if not last.sign_bytes:
                raise DoubleSignError(f"already at {hrs} with no stored signature")
            if sign_bytes == last.sign_bytes:
                return last.signature, timestamp_ms
            stored_ts = _timestamp_only_difference(last.sign_bytes, sign_bytes)
            if stored_ts is not None:
                return last.signature, stored_ts
            raise DoubleSignError(f"conflicting data at height/round/step {hrs}: already signed something else")
        left = self.take_pending()
        if left is not None:  # a signature whose message never reached the WAL: durable now, first
            self.persist(left)
        signature = self.key.sign(sign_bytes)
        new = LastSignState(height, round_, step, signature, sign_bytes)
        if self.journaled:
            self.pending = new  # durable in the node's WAL write of the message, before it is sent
        else:
            self._close_mirror()
            save_signed_state(self.state_path, new)  # on disk before the signature leaves this function
        self.state = new
        return signature, timestamp_ms

    def recover(self, signed: Iterable[Vote | Proposal]) -> LastSignState | None:
        """Take back what this key signed that the state file does not hold (its last rename lost in a power
        failure): `signed` is what the node's consensus WAL kept of the current height (node/assemble.py).
        The highest (height, round, step) signed by this key above the file's becomes the state, written
        durably; others' messages, bad signatures and anything at or below the file's are ignored. Returns
        the new state, or None when the file already held it all."""
        best: LastSignState | None = None
        for m in signed:
            try:
                if isinstance(m, Vote):
                    step = _VOTE_STEP.get(m.type)
                    if step is None or m.validator != self.address:
                        continue
                    sign_bytes = vote_sign_bytes(self.chain_id, m)
                else:
                    step = STEP_PROPOSE
                    if m.proposer != self.address:
                        continue
                    sign_bytes = proposal_sign_bytes(self.chain_id, m)
            except SignBytesError:
                continue
            if not self.key.public_key.verify(sign_bytes, m.signature):
                continue
            cand = LastSignState(m.height, m.round, step, m.signature, sign_bytes)
            top = best or self.state
            if (cand.height, cand.round, cand.step) > (top.height, top.round, top.step):
                best = cand
        if best is not None:
            self._close_mirror()
            save_state(self.state_path, best)
            self.state = best
        return best


def _timestamp_only_difference(stored: bytes, requested: bytes) -> int | None:
    """The stored timestamp when the two sign bytes differ only in their timestamp, else None."""
    try:
        if stored.startswith(b"EGP/vote/"):
            cid_a, va = decode_vote_sign_bytes(stored)
            cid_b, vb = decode_vote_sign_bytes(requested)
            same = cid_a == cid_b and replace(va, timestamp_ms=0) == replace(vb, timestamp_ms=0)
            return va.timestamp_ms if same else None
        cid_a, pa = decode_proposal_sign_bytes(stored)
        cid_b, pb = decode_proposal_sign_bytes(requested)
        same = cid_a == cid_b and replace(pa, timestamp_ms=0) == replace(pb, timestamp_ms=0)
        return pa.timestamp_ms if same else None
    except SignBytesError:
        return None


class CommitSource(Protocol):
    """What the double-sign check reads (node.blockstore.BlockStore provides it)."""

    def load_seen_commit(self, height: int) -> Commit | None: ...
    def load_block_commit(self, height: int) -> Commit | None: ...


def check_double_sign_risk(store: CommitSource, validator: bytes, last_height: int, check_height: int) -> None:
    """`consensus.double_sign_check_height`: refuse to start if `validator` signed one of the last blocks.

    A signature of this key in the commits of the last `check_height` blocks means the key signed recently;
    when this node has not been running, that signer is another machine using the same key, and starting
    here too would make two signers. As in CometBFT, an operator restarting the only instance waits
    `check_height` blocks (or sets it to 0). Raises DoubleSignError naming the height.
    """
    for h in range(last_height, max(last_height - check_height, 0), -1):
        for commit in (store.load_block_commit(h), store.load_seen_commit(h)):
            if commit is not None and any(
                s.flag != FLAG_ABSENT and s.validator_address == validator for s in commit.signatures
            ):
                raise DoubleSignError(
                    f"this validator key signed block {h}, within the last {check_height} blocks "
                    "(consensus.double_sign_check_height): is it running on another machine?"
                )


def reset_state(path: Path) -> None:
    """Forget what was signed (`egp reset --unsafe-all`): only safe on a chain that is being wiped too."""
    save_state(path, LastSignState())

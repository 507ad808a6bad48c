"""Test-only misbehaviour and clock skew for the fault harness (`devnet/faults`); inert in every real node.

Why it exists: a bank operator asks what the chain does when one bank lies. The fault harness answers by
running one validator that double-votes, proposes two blocks in a round or sends garbage frames, and by
skewing a node's wall clock, then checking the chain. Those powers must never be reachable by an operator.

Why a production config cannot reach it:
- nothing happens unless `arm()` was called in the process; only `devnet/faults/entry.py` (the wrapper entry
  module the harness launches instead of `egp start`) calls it, before it hands over to the normal start;
- `config.toml` is parsed into `node.config.Config` dataclasses, and no key of any section is read here;
  `egp start` never calls `arm()`; so setting `EGP_TEST_BYZANTINE` or `EGP_TEST_CLOCK_SKEW_MS` in the
  environment of a real node does nothing at all (`tests/faults/test_byzantine_unit.py` checks this).

Environment, read once by `arm()`:
- `EGP_TEST_BYZANTINE=double-vote|double-propose|garbage`: the signer/transport wrappers returned by
  `install`. double-vote: every prevote is followed, to each peer, by a conflicting prevote signed with the
  raw key (the signer guard is bypassed, as a compromised bank would). double-propose: to half of the peers
  (chosen by peer id) the proposal is replaced by a second, empty block signed for the same round.
  garbage: now and then a frame of random bytes follows a real message on a random channel.
- `EGP_TEST_CLOCK_SKEW_MS=<int>`: added to the node's wall clock (`node.consensus_ports.WallClock`).
- `EGP_TEST_SIGNER=amnesiac`: a deliberately broken build: the signer guard writes its state to a throwaway
  directory, i.e. does not persist it (the harness must catch this; see `devnet/faults/checks.py`).
"""

from __future__ import annotations

import dataclasses
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Protocol

from consensus.sign_bytes import proposal_sign_bytes, vote_sign_bytes
from consensus.types import Proposal, Vote, VoteType
from node.messages import ProposalMsg, VoteMsg, decode_message
from state.chain import Block, txs_hash
from state.codec import DecodeError
from state.crypto import PrivateKey, sha256

ENV_MODE = "EGP_TEST_BYZANTINE"
ENV_SKEW = "EGP_TEST_CLOCK_SKEW_MS"
ENV_SIGNER = "EGP_TEST_SIGNER"
MODES = ("double-vote", "double-propose", "garbage")
MAX_SKEW_MS = 60_000
CH_VOTE, CH_DATA = 0x22, 0x21  # node.node's channel ids (not imported: node.node imports this module's users)
GARBAGE_EVERY = 40  # about one garbage frame per this many sends


@dataclasses.dataclass
class _Armed:
    mode: str | None = None
    skew_ms: int = 0
    signer: str | None = None


_armed: _Armed | None = None


def arm(env: dict[str, str] | None = None) -> None:
    """Enable the test seams for this process (called only by devnet/faults/entry.py); validates the env."""
    global _armed
    e = os.environ if env is None else env
    mode = e.get(ENV_MODE) or None
    if mode is not None and mode not in MODES:
        raise ValueError(f"{ENV_MODE} must be one of {', '.join(MODES)}, not {mode!r}")
    try:
        skew = int(e.get(ENV_SKEW) or 0)
    except ValueError:
        raise ValueError(f"{ENV_SKEW} must be an integer number of milliseconds") from None
    if abs(skew) > MAX_SKEW_MS:
        raise ValueError(f"{ENV_SKEW} beyond ±{MAX_SKEW_MS} ms")
    signer = e.get(ENV_SIGNER) or None
    if signer not in (None, "amnesiac"):
        raise ValueError(f"{ENV_SIGNER} must be 'amnesiac' or unset")
    _armed = _Armed(mode, skew, signer)


def disarm() -> None:
    global _armed
    _armed = None


def armed() -> bool:
    return _armed is not None


def clock_skew_ms() -> int:
    """Milliseconds added to the node's wall clock: always 0 unless armed by the harness."""
    return _armed.skew_ms if _armed is not None else 0


class NetworkLike(Protocol):
    def send(self, peer_id: str, channel: int, payload: bytes) -> bool: ...
    def disconnect(self, peer_id: str, reason: str) -> None: ...


class SignerLike(Protocol):
    key: PrivateKey
    chain_id: str

    def sign_vote(self, vote: Vote) -> Vote | None: ...
    def sign_proposal(self, proposal: Proposal) -> Proposal | None: ...


def install(signer: Any, network: Any) -> tuple[Any, Any]:
    """The signer and transport the node should use: the given ones unless armed with a misbehaviour."""
    if _armed is None:
        return signer, network
    if _armed.signer == "amnesiac" and signer is not None:
        # the broken build: the guard keeps working in memory but its state file is thrown away at exit
        signer.state_path = Path(tempfile.mkdtemp(prefix="egp-amnesiac-")) / "priv_validator_state.json"
    if _armed.mode is None or signer is None:
        return signer, network
    liar = Liar(signer, network, _armed.mode)
    return liar, liar


class Liar:
    """Both the Signer and the Network port of a Byzantine validator (one object sees both sides)."""

    def __init__(self, signer: SignerLike, network: NetworkLike, mode: str) -> None:
        self.signer = signer
        self.net = network
        self.mode = mode
        self.rng = random.Random(sha256(signer.key.public_key.raw)[:8])
        self.twin_votes: dict[tuple[int, int, int], bytes] = {}
        self.twin_proposals: dict[tuple[int, int], bytes] = {}
        self.address = signer.key.address

    def __getattr__(self, name: str) -> Any:  # anything else of the signer (state, ...) or transport (stats, ...)
        for inner in (self.__dict__.get("signer"), self.__dict__.get("net")):
            if inner is not None and hasattr(inner, name):
                return getattr(inner, name)
        raise AttributeError(name)

    # ------------------------------------------------------------------ Signer port
    def sign_vote(self, vote: Vote) -> Vote | None:
        honest = self.signer.sign_vote(vote)
        if honest is not None and self.mode == "double-vote" and honest.type == VoteType.PREVOTE:
            other = None if honest.value_id is not None else sha256(b"byzantine/%d/%d" % (vote.height, vote.round))
            twin = dataclasses.replace(honest, value_id=other, signature=b"")
            twin = dataclasses.replace(twin, signature=self.signer.key.sign(vote_sign_bytes(self.signer.chain_id,
                                                                                             twin)))
            self._remember(self.twin_votes, (twin.height, twin.round, int(twin.type)), VoteMsg.of(twin).encode())
        return honest

    def sign_proposal(self, proposal: Proposal) -> Proposal | None:
        return self.signer.sign_proposal(proposal)

    # ------------------------------------------------------------------ Network port
    def disconnect(self, peer_id: str, reason: str) -> None:
        self.net.disconnect(peer_id, reason)

    def send(self, peer_id: str, channel: int, payload: bytes) -> bool:
        if self.mode == "double-propose" and channel == CH_DATA and sha256(peer_id.encode())[0] & 1:
            alt = self._alternative(payload)
            if alt is not None:
                return self.net.send(peer_id, channel, alt)
        ok = self.net.send(peer_id, channel, payload)
        if self.mode == "double-vote" and channel == CH_VOTE:
            twin = self._twin_of(payload)
            if twin is not None:
                self.net.send(peer_id, channel, twin)
        elif self.mode == "garbage" and self.rng.randrange(GARBAGE_EVERY) == 0:
            junk = self.rng.randbytes(self.rng.randrange(1, 200))
            self.net.send(peer_id, self.rng.choice((CH_VOTE, CH_DATA, 0x20, 0x30, 0x38, 0x40)), junk)
        return ok

    def _twin_of(self, payload: bytes) -> bytes | None:
        try:
            msg = decode_message(payload)
        except (DecodeError, ValueError):
            return None
        if not isinstance(msg, VoteMsg) or msg.validator != self.address:
            return None
        return self.twin_votes.get((msg.height, msg.round, msg.type))

    def _alternative(self, payload: bytes) -> bytes | None:
        """Our proposal replaced by the same round's proposal of an empty block (signed past the guard)."""
        try:
            msg = decode_message(payload)
        except (DecodeError, ValueError):
            return None
        if not isinstance(msg, ProposalMsg) or msg.proposer != self.address:
            return None
        key = (msg.height, msg.round)
        if key in self.twin_proposals:
            return self.twin_proposals[key]
        try:
            block = Block.decode(msg.block)
        except (DecodeError, ValueError):
            return None
        if not block.txs:
            return None  # an empty block has no different valid sibling worth sending
        header = dataclasses.replace(block.header, data_hash=txs_hash(()))
        alt = Block(header, (), block.evidence, block.last_commit)
        prop = dataclasses.replace(msg.proposal(), value_id=alt.hash(), signature=b"")
        prop = dataclasses.replace(prop, signature=self.signer.key.sign(proposal_sign_bytes(self.signer.chain_id,
                                                                                             prop)))
        raw = ProposalMsg.of(prop, alt.encode()).encode()
        self._remember(self.twin_proposals, key, raw)
        return raw

    @staticmethod
    def _remember(d: dict[Any, bytes], key: Any, raw: bytes) -> None:
        d[key] = raw
        while len(d) > 64:
            d.pop(next(iter(d)))

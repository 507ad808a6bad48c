"""Light-client verification: from a trusted validator set to a signed header, across validator changes.

Shared by certificate verification (state/certificate.py, the wallet's `egp lg verify-certificate`) and by
anything else that must accept a header it did not execute. Pure functions: no I/O, no clock (the caller
passes `now_ms`), and a `LightVerdict` value (ok, or the FIRST reason it is not) instead of exceptions,
whatever the input.

Method: sequential verification over the validator-change headers, not CometBFT's skipping verification.
- The chain of trust is `anchor set T0` → hop 1 → … → hop k → target header. A hop is a header signed by
  more than 2/3 of the power of the currently trusted set (its `validators_hash` is that set's hash) whose
  `next_validators_hash` commits to the new set N; N becomes the trusted set. The target header must carry
  the hash of the set trusted after the last hop and be signed by more than 2/3 of it.
- Why sequential: skipping verification accepts a far-ahead header when more than 1/3 (the trust level)
  of the trusted set's power signed it; that is sound only while the trusted set is inside its trusting
  period and only if that much of the old set is still in the new one. Sequential hops need no overlap
  assumption, cost a handful of hops for a consortium of 4–22 banks whose membership changes a few times a
  year, and each hop is a 2/3 approval by the set being replaced: the rule the application itself applies
  to validator proposals, which an auditor already knows.
- Soundness does not need every intermediate header: if the trusted set has less than 1/3 faulty power, a
  header it signed is the chain's header at that height, so its `next_validators_hash` names the set that
  really followed. Heights and times must still increase along the chain so that stale hops are refused.
- Trusting period (long-range attacks): the keys of a set that has been replaced may later leak, and old
  keys can sign any "history". As in CometBFT, a trusted header expires `trusting_period_ms` after its time;
  verification from an expired anchor is refused ("trust period expired"). Along a chain the times only
  grow, so the check reduces to the anchor. It applies only when the caller passes both `now_ms` and a
  period: an agency checking a bid guarantee passes a period and refreshes its anchor (a later verified
  header's set) from time to time; a court replaying history on purpose passes none. Headers dated more
  than `max_clock_drift_ms` after `now_ms` are refused.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from consensus.commit import verify_commit
from consensus.types import BlockIDFlag
from consensus.types import Commit as CCommit
from consensus.types import CommitSig as CCommitSig
from consensus.validators import Validator, ValidatorSet
from state.chain import FLAG_COMMIT, MAX_VALIDATORS, Commit, CommitSig, Header, validators_hash
from state.codec import Record
from state.crypto import address, verify

DEFAULT_MAX_CLOCK_DRIFT_MS = 10_000
MAX_HOPS = 1_000


class Reason(enum.StrEnum):
    """Stable codes of the first failure (the sentence is in `LightVerdict.reason`)."""

    OK = "ok"
    MALFORMED = "malformed"
    WRONG_CHAIN = "wrong_chain"
    EXPIRED = "trust_expired"
    FUTURE = "header_from_future"
    NOT_MONOTONIC = "not_monotonic"
    UNTRUSTED_VALSET = "untrusted_validator_set"
    CHANGE_UNSIGNED = "validator_change_not_signed"
    NEXT_VALSET_MISMATCH = "next_validator_set_mismatch"
    BAD_SIGNATURE = "bad_signature"
    INSUFFICIENT_POWER = "insufficient_power"


@dataclass(frozen=True)
class LightVerdict:
    ok: bool
    code: Reason = Reason.OK
    reason: str = "ok"
    signers: tuple[tuple[bytes, int], ...] = ()  # (address, power) of the target's COMMIT signatures
    signed_power: int = 0
    total_power: int = 0
    validators: tuple[LightValidator, ...] = ()  # the set that signed the target header

    def __bool__(self) -> bool:
        return self.ok


def fail(code: Reason, reason: str) -> LightVerdict:
    return LightVerdict(False, code, reason)


@dataclass(frozen=True)
class LightValidator(Record):
    """What `validators_hash` commits to: the key and the power (the address is derived, never carried)."""

    TAG = 0xC0
    pub_key: bytes
    power: int

    def __post_init__(self) -> None:
        if len(self.pub_key) != 32:
            raise ValueError("a validator key has 32 bytes")
        if self.power <= 0:
            raise ValueError("validator power must be positive")

    @property
    def address(self) -> bytes:
        return address(self.pub_key)


def valset_hash(vals: Sequence[LightValidator]) -> bytes:
    return validators_hash([(v.pub_key, v.power) for v in vals])


def canonical_valset(vals: Sequence[LightValidator]) -> str | None:
    """None when `vals` is non-empty, sorted by address and without duplicates; else what is wrong."""
    if not vals:
        return "empty validator set"
    if len(vals) > MAX_VALIDATORS:
        return "too many validators"
    addrs = [v.address for v in vals]
    if any(a >= b for a, b in itertools.pairwise(addrs)):
        return "validators not sorted by address or duplicated"
    return None


def sorted_valset(vals: Sequence[LightValidator]) -> tuple[LightValidator, ...]:
    return tuple(sorted(vals, key=lambda v: v.address))


@dataclass(frozen=True)
class LightCommit(Record):
    """The precommits for one header: its round and one `CommitSig` per validator, in set order.

    Height and block hash are those of the header it travels with, so a certificate carries nothing a
    verifier cannot check (a CometBFT commit's part-set header is not signed and is left out)."""

    TAG = 0xC1
    MAX_LEN: ClassVar[dict[str, int]] = {"signatures": MAX_VALIDATORS}
    round: int
    signatures: tuple[CommitSig, ...]

    def __post_init__(self) -> None:
        if self.round < 0:
            raise ValueError("round must not be negative")


@dataclass(frozen=True)
class SignedHeader(Record):
    TAG = 0xC2
    header: Header
    commit: LightCommit

    @classmethod
    def from_chain(cls, header: Header, commit: Commit) -> SignedHeader:
        """From the block store's records (a header and the `state.chain.Commit` for it, e.g. the next block's
        last commit). Raises ValueError when the commit is not for this header."""
        if commit.height != header.height or commit.block_id.hash != header.hash():
            raise ValueError(f"the commit (height {commit.height}) is not for header {header.height}")
        return cls(header, LightCommit(commit.round, commit.signatures))


@dataclass(frozen=True)
class ValidatorChange(Record):
    """A hop: a header signed by the trusted set whose `next_validators_hash` is the hash of `next_validators`."""

    TAG = 0xC3
    MAX_LEN: ClassVar[dict[str, int]] = {"next_validators": MAX_VALIDATORS}
    signed: SignedHeader
    next_validators: tuple[LightValidator, ...]


@dataclass(frozen=True)
class TrustAnchor:
    """What the verifier trusts: a chain id and a validator set in force at `height` (time `time_ms`).

    From a genesis: the genesis validators at the initial height and the genesis time. `names` maps a
    validator address to the name the trusted source gives it (never taken from the certificate)."""

    chain_id: str
    height: int
    time_ms: int
    validators: tuple[LightValidator, ...]
    names: dict[bytes, str] = field(default_factory=dict)


def _consensus_commit(header: Header, commit: LightCommit) -> CCommit:
    sigs = tuple(CCommitSig(BlockIDFlag(s.flag), s.validator_address, s.timestamp_ms, s.signature)
                 for s in commit.signatures)
    return CCommit(header.height, commit.round, header.hash(), sigs)


def _consensus_set(vals: Sequence[LightValidator]) -> ValidatorSet:
    first = vals[0].address
    return ValidatorSet([Validator(v.address, v.pub_key, v.power, 0) for v in vals], first)


def check_signed_header(chain_id: str, vals: Sequence[LightValidator], sh: SignedHeader,
                        what: str) -> LightVerdict:
    """Is `sh` a header of `chain_id` whose validator set is `vals`, signed by more than 2/3 of its power?"""
    h = sh.header
    if h.chain_id != chain_id:
        return fail(Reason.WRONG_CHAIN, f"{what} at height {h.height} is from chain {h.chain_id!r}, "
                                        f"not the trusted chain {chain_id!r}")
    if h.validators_hash != valset_hash(vals):
        return fail(Reason.UNTRUSTED_VALSET, f"{what} at height {h.height} names validator set "
                                             f"{h.validators_hash.hex().upper()[:16]}…, not the trusted set: "
                                             "a validator-set change is missing from the chain of trust")
    valset = _consensus_set(vals)
    v = verify_commit(chain_id, valset, h.height, h.hash(), _consensus_commit(h, sh.commit), verify)
    if not v.ok:
        code = Reason.INSUFFICIENT_POWER if v.reason.startswith("insufficient power") else Reason.BAD_SIGNATURE
        text = (f"{what} at height {h.height}: signatures of {v.commit_power} of {valset.total_power} voting "
                "power, not more than 2/3" if code is Reason.INSUFFICIENT_POWER
                else f"{what} at height {h.height}: {v.reason}")
        return fail(code, text)
    signers = tuple((s.validator_address, valset.power_of(s.validator_address))
                    for s in sh.commit.signatures if s.flag == FLAG_COMMIT)
    return LightVerdict(True, Reason.OK, "ok", signers, v.commit_power, valset.total_power, tuple(vals))


def verify_chain(anchor: TrustAnchor, changes: Sequence[ValidatorChange], target: SignedHeader, *,
                 now_ms: int | None = None, trusting_period_ms: int | None = None,
                 max_clock_drift_ms: int = DEFAULT_MAX_CLOCK_DRIFT_MS) -> LightVerdict:
    """Verify `target` from `anchor` through `changes` (sequential hops). See the module docstring.

    Hops below the anchor's height are skipped (a certificate made from the genesis also verifies against a
    later anchor), and a target signed by the anchor's own set verifies at any height (honest signers sign
    only the chain's headers). Never raises: malformed input is a MALFORMED verdict."""
    try:
        return _verify_chain(anchor, changes, target, now_ms, trusting_period_ms, max_clock_drift_ms)
    except Exception as exc:  # defensive: hostile input gets a verdict, never a traceback
        return fail(Reason.MALFORMED, f"malformed chain of trust: {type(exc).__name__}: {exc}")


def _verify_chain(anchor: TrustAnchor, changes: Sequence[ValidatorChange], target: SignedHeader,
                  now_ms: int | None, period_ms: int | None, drift_ms: int) -> LightVerdict:
    problem = canonical_valset(anchor.validators)
    if problem is not None:
        return fail(Reason.MALFORMED, f"trusted validator set: {problem}")
    if len(changes) > MAX_HOPS:
        return fail(Reason.MALFORMED, f"more than {MAX_HOPS} validator changes")
    if now_ms is not None and period_ms is not None and anchor.time_ms + period_ms < now_ms:
        age = _span(now_ms - anchor.time_ms)
        return fail(Reason.EXPIRED, f"trust period expired: the trusted validator set is {age} old, more than the "
                                    f"trusting period of {_span(period_ms)}; verify against a more recent "
                                    "trusted validator set")
    trusted = anchor.validators
    height, time_ms = anchor.height, anchor.time_ms
    hopped = False
    for i, hop in enumerate(changes):
        h = hop.signed.header
        if h.height < anchor.height:
            continue
        what = f"validator change {i + 1}"
        order = _order_problem(h, height, time_ms, now_ms, drift_ms, what)
        if order is not None:
            return order
        bad_next = canonical_valset(hop.next_validators)
        if bad_next is not None:
            return fail(Reason.MALFORMED, f"{what}: new validator set: {bad_next}")
        v = check_signed_header(anchor.chain_id, trusted, hop.signed, what)
        if not v.ok:
            if v.code in (Reason.UNTRUSTED_VALSET, Reason.BAD_SIGNATURE, Reason.INSUFFICIENT_POWER):
                return fail(Reason.CHANGE_UNSIGNED, f"validator-set change at height {h.height} is not signed "
                                                    f"by the previous validator set ({v.reason})")
            return v
        if h.next_validators_hash != valset_hash(hop.next_validators):
            return fail(Reason.NEXT_VALSET_MISMATCH, f"the new validator set carried for height {h.height + 1} "
                                                     f"is not the one header {h.height} commits to")
        trusted, height, time_ms, hopped = hop.next_validators, h.height + 1, h.time_ms, True
    if not hopped:  # the anchor's own set signed it: sound at any height, even below the anchor's
        height, time_ms = 0, 0
    order = _order_problem(target.header, height, time_ms, now_ms, drift_ms, "the header")
    if order is not None:
        return order
    return check_signed_header(anchor.chain_id, trusted, target, "the header")


def _span(ms: int) -> str:
    days, rest = divmod(ms, 86_400_000)
    return f"{days} days" if days >= 1 else f"{rest // 1000} s"


def _order_problem(h: Header, height: int, time_ms: int, now_ms: int | None, drift_ms: int,
                   what: str) -> LightVerdict | None:
    if h.height < height:
        return fail(Reason.NOT_MONOTONIC, f"{what} has height {h.height}, below the trusted height {height}")
    if h.time_ms < time_ms:
        return fail(Reason.NOT_MONOTONIC, f"{what} at height {h.height} is dated before the trusted header")
    if now_ms is not None and h.time_ms > now_ms + drift_ms:
        return fail(Reason.FUTURE, f"{what} at height {h.height} is dated in the future ({h.time_ms} ms > "
                                   f"now {now_ms} ms)")
    return None

"""Assembling a certificate from a chain source: find the validator changes, pick the headers, wrap the proof.

Pure given its `ChainSource` (the wallet reads one over JSON-RPC, tests from an in-process chain): this
module does no I/O of its own. What it must get right:
- the proof of the state after block H is checked against `app_hash` of header H+1, so the certificate
  carries header H (for the time of the state) and header H+1 with its commit;
- the validator changes between the anchor and H+1 are found by bisection on `validators_hash`, O(log n)
  headers per change rather than a scan of the whole chain. Each hop found is a header whose own set is the
  trusted one and whose successor has another set, so `next_validators_hash` of the hop names the new set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from state.certificate import CERT_VERSION, Certificate
from state.chain import Header
from state.codec import DecodeError
from state.light import LightCommit, LightValidator, SignedHeader, ValidatorChange, sorted_valset
from state.proofs import StateProof, TrieProof
from state.records import Validator, k_inst, k_lg, k_validator

MAX_CHANGES = 1_000


class ChainSource(Protocol):
    """Read access to a chain's headers, commits and validator sets by height (raising on failure)."""

    def header(self, height: int) -> Header: ...

    def commit(self, height: int) -> LightCommit:
        """The commit for the header at `height`."""
        ...

    def validators(self, height: int) -> tuple[LightValidator, ...]:
        """The validator set of `height` (the set that signs the header at `height`)."""
        ...


class BuildError(ValueError):
    """The chain source's data cannot make a certificate (a sentence naming what is missing)."""


class _Cached:
    def __init__(self, src: ChainSource) -> None:
        self.src = src
        self.headers: dict[int, Header] = {}

    def header(self, height: int) -> Header:
        h = self.headers.get(height)
        if h is None:
            h = self.src.header(height)
            if h.height != height:
                raise BuildError(f"asked for header {height}, got header {h.height}")
            self.headers[height] = h
        return h

    def commit(self, height: int) -> LightCommit:
        return self.src.commit(height)

    def validators(self, height: int) -> tuple[LightValidator, ...]:
        return self.src.validators(height)


def find_changes(src: ChainSource, anchor_height: int, anchor_hash: bytes, target_height: int) -> list[ValidatorChange]:
    """The hops from the set `anchor_hash` (in force at `anchor_height`) to the set of `target_height`."""
    cache = src if isinstance(src, _Cached) else _Cached(src)
    changes: list[ValidatorChange] = []
    lo, trusted = anchor_height, anchor_hash
    if target_height < anchor_height:
        return changes
    if cache.header(lo).validators_hash != trusted:
        raise BuildError(f"header {lo} is not signed by the trusted validator set (is the trusted genesis for "
                         "this chain?)")
    while cache.header(target_height).validators_hash != trusted:
        if len(changes) >= MAX_CHANGES:
            raise BuildError(f"more than {MAX_CHANGES} validator changes")
        hi = target_height
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if cache.header(mid).validators_hash == trusted:
                lo = mid
            else:
                hi = mid
        hop = cache.header(lo)
        nxt = sorted_valset(cache.validators(hi))
        changes.append(ValidatorChange(SignedHeader(hop, cache.commit(lo)), nxt))
        lo, trusted = hi, hop.next_validators_hash
    return changes


def build_certificate(src: ChainSource, chain_id: str, guarantee_id: str, value: bytes | None, proof: TrieProof,
                      state_height: int, anchor_height: int, anchor_hash: bytes,
                      records: Sequence[StateProof] = ()) -> Certificate:
    """The certificate of `guarantee_id`'s record `value` (None: absent) in the state after `state_height`.

    `records`: proofs of supporting records (`val/<address>`, `inst/BANK/<code>`) from the same state; those
    not about the validators signing header `state_height + 1` (or their banks) are dropped."""
    cache = _Cached(src)
    state_header = cache.header(state_height)
    signed_header = cache.header(state_height + 1)
    commit = src.commit(state_height + 1)
    changes = find_changes(cache, anchor_height, anchor_hash, state_height + 1)
    signing = [v.address for v in src.validators(state_height + 1)]
    return Certificate(CERT_VERSION, chain_id, guarantee_id, k_lg(guarantee_id), value, proof, state_header,
                       SignedHeader(signed_header, commit), tuple(changes), select_records(records, signing))


def select_records(records: Sequence[StateProof], validator_addresses: Sequence[bytes]) -> tuple[StateProof, ...]:
    """The supporting records a verifier accepts for this signing set, in key order, one per key."""
    wanted = {k_validator(a) for a in validator_addresses}
    banks: set[str] = set()
    chosen: dict[bytes, StateProof] = {}
    for r in records:
        if r.key in wanted and r.value is not None:
            try:
                banks.add(Validator.decode(r.value).bank)
            except DecodeError:
                continue
            chosen[r.key] = r
    for r in records:
        if r.value is not None and any(r.key == k_inst("BANK", b) for b in banks if b):
            chosen[r.key] = r
    return tuple(chosen[k] for k in sorted(chosen))

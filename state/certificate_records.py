"""Supporting records of a certificate: which bank operates each validator, proven from the same app hash.

Why: "which banks signed" should not rest on names the verifier's genesis happens to carry (a validator added
after genesis has none). The state holds `val/<address>` (a `Validator` with the operating bank's code) and
`inst/BANK/<code>` (the bank's registered name); a certificate may carry trie proofs of those records against
the very app hash it proves the guarantee with, so the bank behind each signature is as authenticated as the
guarantee. They are optional (a certificate without them still verifies); every one present is checked, in
canonical order, and must be about a validator of the signing set or a bank one of them names, so the file
carries no byte the verifier does not check.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from state.codec import DecodeError
from state.crypto import address
from state.proofs import StateProof
from state.records import Institution, Validator, k_inst, k_validator

MAX_RECORDS = 512
BANK = "BANK"


@dataclass(frozen=True)
class Operator:
    bank: str  # the operating bank's code ("" when the record names none)
    bank_name: str  # its registered name ("" when its record is not carried)


def record_keys(validator_addresses: Sequence[bytes]) -> list[bytes]:
    """The `val/<address>` keys a fetcher proves (bank records follow once the codes are known)."""
    return sorted(k_validator(a) for a in validator_addresses)


def check_records(records: Sequence[StateProof], app_hash: bytes,
                  validator_addresses: Sequence[bytes]) -> tuple[str | None, dict[bytes, Operator]]:
    """(first problem or None, operator of each validator address with a proven record)."""
    if len(records) > MAX_RECORDS:
        return "too many supporting records", {}
    keys = [r.key for r in records]
    if any(a >= b for a, b in itertools.pairwise(keys)):
        return "supporting records are not in key order or repeat a key", {}
    by_key = {k_validator(a): a for a in validator_addresses}
    banks: dict[bytes, str] = {}
    names: dict[str, str] = {}
    for r in records:
        if not r.verify(app_hash):
            return f"the proof of supporting record {r.key!r} does not lead to the signed app hash", {}
        if r.value is None:
            return f"supporting record {r.key!r} is absent; only present records may be carried", {}
        addr = by_key.get(r.key)
        try:
            if addr is not None:
                v = Validator.decode(r.value)
                if address(v.pub_key) != addr:
                    return f"validator record {r.key!r} is for another key", {}
                banks[addr] = v.bank
                continue
            inst = Institution.decode(r.value)
        except DecodeError as exc:
            return f"supporting record {r.key!r} cannot be decoded: {exc}", {}
        if inst.kind != BANK or r.key != k_inst(BANK, inst.code):
            return f"supporting record {r.key!r} is not a bank's", {}
        names[inst.code] = inst.name
    for code in names:
        if code not in banks.values():
            return f"bank record {code} is carried but no signing validator names it", {}
    return None, {a: Operator(b, names.get(b, "")) for a, b in banks.items()}

"""Certificates from a real chain: genuine ones verify with what an agency needs; every tampering is rejected
with its precise reason; an old certificate stays "genuine at height H" and a newer state is reported only
when a newer certificate is given."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from state.certificate import Certificate, certificate_hash, verify_certificate, verify_certificate_bytes
from state.chain import CommitSig
from state.light import LightValidator, Reason, SignedHeader, sorted_valset, valset_hash
from state.records import Guarantee, k_lg
from tests.certificates.conftest import Scenario
from tests.certificates.harness import AGENCY, CHAIN_ID, GENESIS_MS, SUPPLIER, key, sign_commit

THB = 100


def with_record(cert: Certificate, **changes: Any) -> Certificate:
    assert cert.value is not None
    g = Guarantee.decode(cert.value)
    return replace(cert, value=replace(g, **changes).encode())


def with_sigs(cert: Certificate, sigs: tuple[CommitSig, ...]) -> Certificate:
    return replace(cert, signed=replace(cert.signed, commit=replace(cert.signed.commit, signatures=sigs)))


# --------------------------------------------------------------------------- genuine


def test_genuine_certificate_says_what_the_agency_needs(scenario: Scenario) -> None:
    v = verify_certificate(scenario.old, scenario.anchor)
    assert v.genuine, v.reason
    assert v.code == "genuine" and v.exists
    g = v.guarantee
    assert g is not None and g.id == scenario.lg_id
    assert (g.status, g.available, g.amount, g.beneficiary, g.applicant, g.bank) == (
        "ACTIVE", 500_000 * THB, 500_000 * THB, AGENCY, SUPPLIER, "006")
    assert g.expiry > GENESIS_MS
    # the state after block H, attested by header H + 1 (CometBFT: app hash of H is in header H + 1)
    assert v.height == scenario.old.state_header.height and v.attested_height == v.height + 1
    assert v.time_ms == scenario.chain.header(v.height).time_ms
    assert scenario.old.signed.header.app_hash == scenario.chain.header(v.height + 1).app_hash
    assert (v.signed_power, v.total_power) == (40, 40)
    assert sorted(s.name for s in v.signers) == ["Bangkok Bank node 1", "Bangkok Bank node 2",
                                                 "Krung Thai Bank node 1", "Krung Thai Bank node 2"]
    assert v.certificate_hash == certificate_hash(scenario.old)
    assert v.newer is None and v.newer_note == ""


def test_certificate_across_a_validator_change(scenario: Scenario) -> None:
    cert = scenario.new
    assert len(cert.changes) == 1
    v = verify_certificate(cert, scenario.anchor)
    assert v.genuine, v.reason
    assert v.guarantee is not None and v.guarantee.status == "DEMANDED"
    assert v.guarantee.available == 400_000 * THB
    assert (v.signed_power, v.total_power) == (50, 50)
    newcomer = [s for s in v.signers if s.address == key(50).address]
    assert newcomer and newcomer[0].name == ""  # not named by the trusted genesis: nothing is invented


def test_round_trip_through_bytes(scenario: Scenario) -> None:
    data = scenario.new.encode()
    assert Certificate.decode(data) == scenario.new
    assert verify_certificate_bytes(data, scenario.anchor).genuine


def test_certificate_made_from_genesis_verifies_from_a_later_anchor(scenario: Scenario) -> None:
    """An agency that refreshed its anchor to the 5-validator set skips the hops below it."""
    chain = scenario.chain
    h = scenario.new.signed.header.height
    later = replace(scenario.anchor, height=h, time_ms=chain.header(h).time_ms, validators=chain.validators(h))
    assert verify_certificate(scenario.new, later).genuine
    # the old certificate was signed by the 4 genesis validators, not by that later set
    v = verify_certificate(scenario.old, later)
    assert not v.genuine and v.code == Reason.UNTRUSTED_VALSET


# --------------------------------------------------------------------------- old state, newer state


def test_old_certificate_after_partial_demand_is_genuine_at_its_height_and_claims_nothing_newer(
        scenario: Scenario) -> None:
    v = verify_certificate(scenario.old, scenario.anchor)
    assert v.genuine and v.guarantee is not None
    assert v.guarantee.status == "ACTIVE" and v.guarantee.available == 500_000 * THB
    assert v.newer is None and v.newer_note == ""


def test_newer_state_is_reported_only_from_a_newer_certificate(scenario: Scenario) -> None:
    v = verify_certificate(scenario.old, scenario.anchor, newer=scenario.new)
    assert v.genuine and v.newer is not None
    assert v.newer.changed and v.newer.status == "DEMANDED" and v.newer.available == 400_000 * THB
    assert v.newer.height == scenario.new.height > v.height
    # the verdict about the old certificate itself is unchanged
    assert v.height == scenario.old.height and v.guarantee is not None and v.guarantee.status == "ACTIVE"


def test_a_forged_newer_certificate_tells_nothing(scenario: Scenario) -> None:
    forged = with_record(scenario.new, status="RELEASED")
    v = verify_certificate(scenario.old, scenario.anchor, newer=forged)
    assert v.genuine and v.newer is None
    assert "not genuine" in v.newer_note


def test_an_older_or_unrelated_newer_certificate_tells_nothing(scenario: Scenario) -> None:
    v = verify_certificate(scenario.new, scenario.anchor, newer=scenario.old)
    assert v.genuine and v.newer is None and "not newer" in v.newer_note
    v = verify_certificate(scenario.old, scenario.anchor, newer=scenario.absent)
    assert v.genuine and v.newer is None and "about guarantee" in v.newer_note


# --------------------------------------------------------------------------- non-inclusion


def test_non_inclusion_certificate_verifies(scenario: Scenario) -> None:
    v = verify_certificate(scenario.absent, scenario.anchor)
    assert v.genuine, v.reason
    assert not v.exists and v.guarantee is None and v.guarantee_id == scenario.absent_id
    assert "did not exist" in v.reason


def test_non_inclusion_tampering_fails(scenario: Scenario) -> None:
    # claim that the existing guarantee did not exist, with its real inclusion proof
    v = verify_certificate(replace(scenario.old, value=None), scenario.anchor)
    assert not v.genuine and v.code == "proof_invalid" and "exists" in v.reason
    # claim the absent id exists with some record
    assert scenario.old.value is not None
    g = Guarantee.decode(scenario.old.value)
    fake = replace(scenario.absent, value=replace(g, id=scenario.absent_id).encode())
    v = verify_certificate(fake, scenario.anchor)
    assert not v.genuine and v.code == "record_altered"
    # an altered sibling of the absence proof
    proof = scenario.absent.proof
    bad = replace(proof, siblings=(bytes(32), *proof.siblings[1:]))
    v = verify_certificate(replace(scenario.absent, proof=bad), scenario.anchor)
    assert not v.genuine and v.code == "proof_invalid"


# --------------------------------------------------------------------------- tampering, one reason each


def test_changed_amount_is_rejected(scenario: Scenario) -> None:
    v = verify_certificate(with_record(scenario.old, amount=5_000_000 * THB), scenario.anchor)
    assert not v.genuine and v.code == "record_altered" and "altered" in v.reason


def test_changed_status_is_rejected(scenario: Scenario) -> None:
    v = verify_certificate(with_record(scenario.new, status="ACTIVE", demand=None), scenario.anchor)
    assert not v.genuine and v.code == "record_altered"


def test_altered_proof_node_is_rejected(scenario: Scenario) -> None:
    proof = scenario.old.proof
    sib = bytearray(proof.siblings[-1])
    sib[7] ^= 0x40
    bad = replace(proof, siblings=(*proof.siblings[:-1], bytes(sib)))
    v = verify_certificate(replace(scenario.old, proof=bad), scenario.anchor)
    assert not v.genuine and v.code == "proof_invalid" and "proof node" in v.reason


def test_consistently_altered_record_and_leaf_is_rejected(scenario: Scenario) -> None:
    """A forger who also rewrites the leaf's value hash still cannot reach the signed app hash."""
    from state.crypto import sha256

    forged = with_record(scenario.old, amount=9_000_000 * THB)
    assert forged.value is not None
    forged = replace(forged, proof=replace(forged.proof, leaf_value_hash=sha256(forged.value)))
    v = verify_certificate(forged, scenario.anchor)
    assert not v.genuine and v.code == "proof_invalid"


def test_swapped_signatures_are_rejected(scenario: Scenario) -> None:
    sigs = list(scenario.old.signed.commit.signatures)
    sigs[0], sigs[1] = sigs[1], sigs[0]
    v = verify_certificate(with_sigs(scenario.old, tuple(sigs)), scenario.anchor)
    assert not v.genuine and v.code == Reason.BAD_SIGNATURE and "signature 0" in v.reason


def test_a_signature_moved_to_another_validator_is_rejected(scenario: Scenario) -> None:
    sigs = list(scenario.old.signed.commit.signatures)
    sigs[2] = replace(sigs[2], signature=sigs[3].signature)
    v = verify_certificate(with_sigs(scenario.old, tuple(sigs)), scenario.anchor)
    assert not v.genuine and v.code == Reason.BAD_SIGNATURE and "invalid signature 2" in v.reason


def test_removing_one_signature_of_four_still_has_two_thirds(scenario: Scenario) -> None:
    sigs = list(scenario.old.signed.commit.signatures)
    sigs[3] = CommitSig.absent()
    v = verify_certificate(with_sigs(scenario.old, tuple(sigs)), scenario.anchor)
    assert v.genuine and (v.signed_power, v.total_power) == (30, 40) and len(v.signers) == 3


def test_signatures_below_two_thirds_are_rejected(scenario: Scenario) -> None:
    sigs = list(scenario.old.signed.commit.signatures)
    sigs[0] = sigs[3] = CommitSig.absent()
    v = verify_certificate(with_sigs(scenario.old, tuple(sigs)), scenario.anchor)
    assert not v.genuine and v.code == Reason.INSUFFICIENT_POWER
    assert "20 of 40" in v.reason and "2/3" in v.reason


def test_removed_signature_entries_are_rejected(scenario: Scenario) -> None:
    sigs = scenario.old.signed.commit.signatures[:2]
    v = verify_certificate(with_sigs(scenario.old, sigs), scenario.anchor)
    assert not v.genuine and v.code == Reason.BAD_SIGNATURE and "2 signatures for 4 validators" in v.reason


def test_certificate_of_another_chain_is_rejected(scenario: Scenario) -> None:
    v = verify_certificate(replace(scenario.old, chain_id="egp-testnet"), scenario.anchor)
    assert not v.genuine and v.code == "wrong_chain" and "egp-testnet" in v.reason


def test_header_from_a_different_chain_is_rejected_even_when_signed(scenario: Scenario) -> None:
    """The same bank keys run a test chain: its header, honestly signed there, must not pass here."""
    chain = scenario.chain
    cert = scenario.old
    other = replace(cert.signed.header, chain_id="egp-testnet")
    signed = SignedHeader(other, sign_commit(other, chain.validator_keys, chain_id="egp-testnet"))
    v = verify_certificate(replace(cert, signed=signed), scenario.anchor)
    assert not v.genuine and v.code == Reason.WRONG_CHAIN and "egp-testnet" in v.reason


def test_validator_change_not_signed_by_the_previous_set_is_rejected(scenario: Scenario) -> None:
    """A forger with four keys of their own signs the change header; the previous (genesis) set did not."""
    cert = scenario.new
    hop = cert.changes[0]
    forger_keys = [key(200 + i) for i in range(4)]
    forged_hop = replace(hop, signed=replace(hop.signed, commit=sign_commit(hop.signed.header, forger_keys)))
    v = verify_certificate(replace(cert, changes=(forged_hop,)), scenario.anchor)
    assert not v.genuine and v.code == Reason.CHANGE_UNSIGNED
    assert f"height {hop.signed.header.height}" in v.reason and "previous validator set" in v.reason


def test_a_forged_validator_set_taking_over_is_rejected(scenario: Scenario) -> None:
    """The forger's own chain: a change header naming their set as next, signed by themselves."""
    cert = scenario.new
    hop = cert.changes[0]
    forger_keys = [key(300 + i) for i in range(4)]
    forger_set = sorted_valset([LightValidator(k.public_key.raw, 10) for k in forger_keys])
    header = replace(hop.signed.header, validators_hash=valset_hash(forger_set),
                     next_validators_hash=valset_hash(forger_set))
    forged_hop = replace(hop, signed=SignedHeader(header, sign_commit(header, forger_keys)),
                         next_validators=forger_set)
    v = verify_certificate(replace(cert, changes=(forged_hop,)), scenario.anchor)
    assert not v.genuine and v.code == Reason.CHANGE_UNSIGNED


def test_missing_validator_change_is_rejected(scenario: Scenario) -> None:
    v = verify_certificate(replace(scenario.new, changes=()), scenario.anchor)
    assert not v.genuine and v.code == Reason.UNTRUSTED_VALSET and "missing" in v.reason


def test_wrong_new_validator_set_is_rejected(scenario: Scenario) -> None:
    cert = scenario.new
    hop = cert.changes[0]
    extra = sorted_valset([*hop.next_validators, LightValidator(key(400).public_key.raw, 100)])
    v = verify_certificate(replace(cert, changes=(replace(hop, next_validators=extra),)), scenario.anchor)
    assert not v.genuine and v.code == Reason.NEXT_VALSET_MISMATCH


def test_expired_trust_period_is_rejected(scenario: Scenario) -> None:
    period = 14 * 86_400_000
    anchor_time = scenario.anchor.time_ms
    ok = verify_certificate(scenario.old, scenario.anchor, anchor_time + period, trusting_period_ms=period)
    assert ok.genuine
    v = verify_certificate(scenario.old, scenario.anchor, anchor_time + period + 1, trusting_period_ms=period)
    assert not v.genuine and v.code == Reason.EXPIRED and "trust period expired" in v.reason


def test_header_from_the_future_is_rejected(scenario: Scenario) -> None:
    v = verify_certificate(scenario.old, scenario.anchor, now_ms=scenario.anchor.time_ms - 60_000)
    assert not v.genuine and v.code == Reason.FUTURE


def test_state_header_that_is_not_the_parent_is_rejected(scenario: Scenario) -> None:
    chain = scenario.chain
    cert = scenario.old
    wrong = replace(chain.header(cert.height), time_ms=chain.header(cert.height).time_ms + 1)
    v = verify_certificate(replace(cert, state_header=wrong), scenario.anchor)
    assert not v.genuine and v.code == "header_link" and "parent" in v.reason
    v = verify_certificate(replace(cert, state_header=chain.header(cert.height - 1)), scenario.anchor)
    assert not v.genuine and v.code == "header_link" and "is carried by header" in v.reason


def test_proof_about_another_key_is_rejected(scenario: Scenario) -> None:
    v = verify_certificate(replace(scenario.old, key=k_lg(scenario.absent_id)), scenario.anchor)
    assert not v.genuine and v.code == "wrong_key"
    v = verify_certificate(replace(scenario.old, guarantee_id=scenario.absent_id), scenario.anchor)
    assert not v.genuine and v.code == "wrong_key"


def test_unknown_format_version_is_rejected(scenario: Scenario) -> None:
    v = verify_certificate(replace(scenario.old, version=2), scenario.anchor)
    assert not v.genuine and v.code == "unsupported_version"


@pytest.mark.parametrize("garbage", [b"", b"\xc0", b"\x93\x01\x02\x03", b"{}", bytes(range(256))])
def test_garbage_is_a_verdict_never_an_exception(scenario: Scenario, garbage: bytes) -> None:
    v = verify_certificate_bytes(garbage, scenario.anchor)
    assert not v.genuine and v.code == "undecodable"


def test_chain_id_of_the_trust_is_the_chain_id_checked(scenario: Scenario) -> None:
    other = replace(scenario.anchor, chain_id="egp-mainnet")
    v = verify_certificate(scenario.old, other)
    assert not v.genuine and v.code == "wrong_chain" and CHAIN_ID in v.reason


def test_trust_may_be_a_parsed_genesis_document(scenario: Scenario) -> None:
    assert verify_certificate(scenario.new, scenario.chain.genesis_doc()).genuine
    v = verify_certificate(scenario.new, {"chain_id": CHAIN_ID})
    assert not v.genuine and v.code == "bad_trust"


# --------------------------------------------------------------------------- who operates the signers


def test_signers_banks_are_proven_from_the_state(scenario: Scenario) -> None:
    v = verify_certificate(scenario.new, scenario.anchor)
    assert v.genuine
    banks = {s.address: (s.bank, s.bank_name) for s in v.signers}
    assert banks[key(50).address] == ("006", "Krung Thai Bank")  # added after genesis, still named
    assert sorted(b for b, _ in banks.values()) == ["002", "002", "006", "006", "006"]
    # a certificate without supporting records is still genuine; it just cannot name the banks
    bare = verify_certificate(replace(scenario.new, records=()), scenario.anchor)
    assert bare.genuine and all(s.bank == "" for s in bare.signers)


def test_altered_supporting_records_are_rejected(scenario: Scenario) -> None:
    from state.records import Validator

    recs = list(scenario.new.records)
    i = next(i for i, r in enumerate(recs) if r.key.startswith(b"val/"))
    raw = recs[i].value
    assert raw is not None
    moved = replace(Validator.decode(raw), bank="002")
    bad = [*recs[:i], replace(recs[i], value=moved.encode()), *recs[i + 1:]]
    v = verify_certificate(replace(scenario.new, records=tuple(bad)), scenario.anchor)
    assert not v.genuine and v.code == "supporting_record" and "does not lead" in v.reason
    v = verify_certificate(replace(scenario.new, records=tuple(reversed(recs))), scenario.anchor)
    assert not v.genuine and v.code == "supporting_record" and "order" in v.reason
    only_banks = tuple(r for r in recs if r.key.startswith(b"inst/"))
    v = verify_certificate(replace(scenario.new, records=only_banks), scenario.anchor)
    assert not v.genuine and v.code == "supporting_record" and "no signing validator" in v.reason
    # a genuine record of the old state does not prove anything under the new app hash
    v = verify_certificate(replace(scenario.new, records=scenario.old.records), scenario.anchor)
    assert not v.genuine and v.code == "supporting_record"

"""Property: no single-byte change to an encoded certificate verifies as genuine, unless it changes nothing.

The certificate carries nothing the verifier does not check (no part-set header, no proposer priorities,
validators in canonical order), and the codec accepts one encoding per value, so every byte matters.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from state.certificate import verify_certificate_bytes
from tests.certificates.conftest import Scenario

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _mutate(data: bytes, pos: int, xor: int) -> bytes:
    b = bytearray(data)
    b[pos % len(b)] ^= xor
    return bytes(b)


@SETTINGS
@given(pos=st.integers(min_value=0, max_value=1 << 20), xor=st.integers(min_value=1, max_value=255),
       which=st.sampled_from(["old", "new", "absent"]))
def test_single_byte_mutations_never_verify(scenario: Scenario, pos: int, xor: int, which: str) -> None:
    data = getattr(scenario, which).encode()
    mutated = _mutate(data, pos, xor)
    assert mutated != data
    v = verify_certificate_bytes(mutated, scenario.anchor)
    assert not v.genuine, f"byte {pos % len(data)} ^ {xor:#x} of {which} still verifies"


@SETTINGS
@given(data=st.binary(max_size=2048))
def test_random_bytes_never_verify_and_never_raise(scenario: Scenario, data: bytes) -> None:
    assert not verify_certificate_bytes(data, scenario.anchor).genuine


@pytest.mark.slow
def test_every_byte_of_the_hop_certificate_matters(scenario: Scenario) -> None:
    """Exhaustive over positions (one flip each) for the certificate with a validator change."""
    data = scenario.new.encode()
    for pos in range(len(data)):
        assert not verify_certificate_bytes(_mutate(data, pos, 0x01), scenario.anchor).genuine, pos

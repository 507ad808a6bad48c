"""Trust anchors from genesis.json / trusted-set files, and the certificate file envelope."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from state.certificate_json import (
    CertificateDamaged,
    CertificateFormatError,
    TrustError,
    anchor_to_json,
    certificate_to_json,
    format_ms,
    load_certificate,
    parse_anchor,
    parse_rfc3339_ms,
)
from tests.certificates.conftest import Scenario
from tests.certificates.harness import GENESIS_MS


def test_genesis_anchor(scenario: Scenario) -> None:
    a = parse_anchor(scenario.chain.genesis_doc())
    assert (a.chain_id, a.height, a.time_ms, len(a.validators)) == ("egp-cert-test", 1, GENESIS_MS, 4)
    assert [v.address for v in a.validators] == sorted(v.address for v in a.validators)
    assert set(a.names.values()) >= {"Krung Thai Bank node 1", "Bangkok Bank node 2"}
    assert parse_anchor(json.loads(json.dumps(anchor_to_json(a)))) == a


def _broken(doc: dict[str, Any], case: str) -> dict[str, Any]:
    d = copy.deepcopy(doc)
    v = d["validators"][0]
    if case == "address":
        v["address"] = "00" * 20
    elif case == "base64":
        v["pub_key"]["value"] = "not base64!"
    elif case == "keytype":
        v["pub_key"]["type"] = "tendermint/PubKeySecp256k1"
    elif case == "power":
        v["power"] = "-5"
    elif case == "duplicate":
        d["validators"].append(copy.deepcopy(v))
    elif case == "time":
        d["genesis_time"] = "yesterday"
    elif case == "chain":
        d["chain_id"] = ""
    elif case == "empty":
        d["validators"] = []
    return d


@pytest.mark.parametrize("case", ["address", "base64", "keytype", "power", "duplicate", "time", "chain", "empty"])
def test_bad_trust_documents_are_refused_with_the_field(scenario: Scenario, case: str) -> None:
    with pytest.raises(TrustError):
        parse_anchor(_broken(scenario.chain.genesis_doc(), case))


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=5),
                    max_leaves=20))
def test_anchor_parser_only_raises_trust_error(doc: object) -> None:
    with contextlib.suppress(TrustError):
        parse_anchor(doc)


@given(st.integers(min_value=0, max_value=4_102_444_800_000))
def test_times_round_trip(ms: int) -> None:
    assert parse_rfc3339_ms(format_ms(ms)) == ms


def test_envelope_and_bare_record(scenario: Scenario) -> None:
    doc = certificate_to_json(scenario.new)
    assert doc["summary_unverified"]["status"] == "DEMANDED" and doc["guarantee_id"] == scenario.lg_id
    assert load_certificate(json.dumps(doc).encode()) == scenario.new
    assert load_certificate(scenario.new.encode()) == scenario.new
    wrong_hash = {**doc, "hash": "00" * 32}
    with pytest.raises(CertificateDamaged, match="hash"):
        load_certificate(json.dumps(wrong_hash).encode())
    cut = scenario.new.encode()[:-3]
    with pytest.raises(CertificateDamaged):
        load_certificate(cut)
    with pytest.raises(CertificateFormatError):
        load_certificate(b"%PDF-1.7 not a certificate")
    with pytest.raises(CertificateFormatError, match="type"):
        load_certificate(json.dumps({"certificate": base64.b64encode(scenario.new.encode()).decode()}).encode())

"""Encoding functions against the shapes of docs/cometbft.md §4 (what cosmjs checks)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from node.rpc import encode
from node.rpc.services import (
    EMPTY_BLOCK_ID,
    BlockIDView,
    CommitSigView,
    EventAttribute,
    EventView,
    TxResultView,
    ValidatorUpdateView,
)
from tests.rpc.test_methods import TIME


def test_rfc3339_nano_trims_like_go() -> None:
    base = 1_736_935_200 * 10**9  # 2025-01-15T10:00:00Z
    assert encode.rfc3339_nano(base) == "2025-01-15T10:00:00Z"
    assert encode.rfc3339_nano(base + 1_512_003_000) == "2025-01-15T10:00:01.512003Z"
    assert encode.rfc3339_nano(base + 520_000_000) == "2025-01-15T10:00:00.52Z"
    assert encode.rfc3339_nano(base + 1) == "2025-01-15T10:00:00.000000001Z"
    assert encode.rfc3339_nano(None) == "0001-01-01T00:00:00Z"
    assert encode.rfc3339_nano(0) == "1970-01-01T00:00:00Z"


@given(st.integers(min_value=-(10**18), max_value=2**63 - 1))
def test_rfc3339_nano_is_always_well_formed(ns: int) -> None:
    assert TIME.match(encode.rfc3339_nano(ns))


def test_ints_hashes_and_keys() -> None:
    assert encode.block_id(BlockIDView(b"\xab" * 32, 1, b"\x01" * 32)) == {
        "hash": "AB" * 32, "parts": {"total": 1, "hash": "01" * 32}}
    assert encode.block_id(EMPTY_BLOCK_ID) == {"hash": "", "parts": {"total": 0, "hash": ""}}
    assert encode.pub_key(b"\x00" * 32) == {"type": "tendermint/PubKeyEd25519",
                                            "value": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
    assert encode.commit(None)["signatures"] == [] and encode.commit(None)["height"] == "0"


def test_commit_sig_absent() -> None:
    assert encode.commit_sig(CommitSigView(1, b"", None, None)) == {
        "block_id_flag": 1, "validator_address": "", "timestamp": "0001-01-01T00:00:00Z", "signature": None}


def test_tx_result_types() -> None:
    r = encode.tx_result(TxResultView(code=3, data=b"\x01", log="no", gas_wanted=2**40, gas_used=-1,
                                      events=(EventView("lg", (EventAttribute("id", "LG-1", True),)),),
                                      codespace="egp"))
    assert r == {"code": 3, "data": "AQ==", "log": "no", "info": "", "gas_wanted": "1099511627776",
                 "gas_used": "-1", "events": [{"type": "lg", "attributes": [
                     {"key": "id", "value": "LG-1", "index": True}]}], "codespace": "egp"}


def test_validator_update_uses_the_sum_form() -> None:
    u = encode.validator_update(ValidatorUpdateView(b"\x01" * 32, 7))
    assert u["power"] == "7" and u["pub_key"]["Sum"]["value"]["ed25519"]

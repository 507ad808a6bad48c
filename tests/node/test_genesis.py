"""genesis.json: CometBFT's shape, round trips, a canonical hash, and a clear error for every bad field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.genesis import (
    GENERATED_PARAMS,
    ConsensusParams,
    Genesis,
    GenesisError,
    GenesisValidator,
    format_rfc3339_ns,
    load_genesis,
    parse_rfc3339_ns,
    save_genesis,
)
from state.crypto import PrivateKey, sha256


def sample() -> Genesis:
    keys = [PrivateKey.from_seed(sha256(bytes([i]))) for i in range(3)]
    return Genesis(
        chain_id="egp-mainnet-1",
        genesis_time_ns=parse_rfc3339_ns("2026-01-01T07:00:00.123456789+07:00"),
        validators=tuple(GenesisValidator(k.public_key.raw, 10 + i, f"bank {i}") for i, k in enumerate(keys)),
        consensus_params=ConsensusParams(timeout_commit_ms=2000, timeout_propose_ms=2500),
        app_state={"registrar": "ab" * 32, "institutions": [{"id": "BBL", "name": "Bangkok Bank"}]},
    )


def test_shape_is_cometbft_and_round_trips(tmp_path: Path) -> None:
    g = sample()
    doc = g.to_json()
    assert doc["genesis_time"] == "2026-01-01T00:00:00.123456789Z"
    assert doc["initial_height"] == "1" and doc["app_hash"] == ""
    assert doc["consensus_params"]["block"] == {"max_bytes": "1048576", "max_gas": "-1"}
    assert doc["consensus_params"]["timeouts"]["commit"] == "2s"
    assert doc["consensus_params"]["timeouts"]["propose"] == "2500ms"
    v0 = doc["validators"][0]
    assert v0["pub_key"]["type"] == "tendermint/PubKeyEd25519" and v0["power"] == "10"
    assert v0["address"] == g.validators[0].address.hex().upper()
    path = tmp_path / "genesis.json"
    save_genesis(path, g)
    assert load_genesis(path) == g
    assert g.consensus_params.timeout_params().commit_ms == 2000


def test_skip_timeout_commit_is_a_consensus_parameter(tmp_path: Path) -> None:
    """Optional in the file (older genesis files load with false), committed to by consensus_hash."""
    g = sample()
    doc = g.to_json()
    assert doc["consensus_params"]["timeouts"]["skip_timeout_commit"] is False
    del doc["consensus_params"]["timeouts"]["skip_timeout_commit"]
    assert Genesis.from_json(doc) == g
    on = Genesis.from_json(_broken("consensus_params.timeouts.skip_timeout_commit", True))
    assert on.consensus_params.skip_timeout_commit and on.consensus_params.timeout_params().skip_timeout_commit
    assert not g.consensus_params.timeout_params().skip_timeout_commit
    assert on.consensus_params.hash() != g.consensus_params.hash()
    path = tmp_path / "genesis.json"
    save_genesis(path, on)
    assert load_genesis(path) == on


def test_next_block_delay_is_a_consensus_parameter(tmp_path: Path) -> None:
    """`timeouts.next_block_delay` (CometBFT v1's name): optional in the file (100ms, what the node applied
    as a constant before), written by `egp init` / `egp testnet`, handed to the node, committed to by
    consensus_hash."""
    g = sample()
    doc = g.to_json()
    assert doc["consensus_params"]["timeouts"]["next_block_delay"] == "100ms"
    del doc["consensus_params"]["timeouts"]["next_block_delay"]
    assert Genesis.from_json(doc) == g and g.consensus_params.next_block_delay_ms == 100
    assert GENERATED_PARAMS.next_block_delay_ms == 100 and GENERATED_PARAMS.skip_timeout_commit
    zero = Genesis.from_json(_broken("consensus_params.timeouts.next_block_delay", "0s"))
    assert zero.consensus_params.next_block_delay_ms == 0
    assert zero.consensus_params.timeout_params().next_block_delay_ms == 0
    assert g.consensus_params.timeout_params().next_block_delay_ms == 100
    assert zero.consensus_params.hash() != g.consensus_params.hash()
    longest = Genesis.from_json(_broken("consensus_params.timeouts.next_block_delay", "1m"))
    assert longest.consensus_params.next_block_delay_ms == 60_000
    path = tmp_path / "genesis.json"
    save_genesis(path, zero)
    assert load_genesis(path) == zero


def test_hash_is_canonical() -> None:
    g = sample()
    doc = g.to_json()
    reordered = json.loads(json.dumps(doc, sort_keys=True, indent=7))
    assert Genesis.from_json(reordered).hash() == g.hash()
    numbers = copy.deepcopy(doc)
    numbers["initial_height"] = 1  # numbers are accepted where CometBFT prints strings
    assert Genesis.from_json(numbers).hash() == g.hash()
    changed = copy.deepcopy(doc)
    changed["app_state"]["registrar"] = "cd" * 32
    assert Genesis.from_json(changed).hash() != g.hash()


def _broken(path: str, value: Any) -> dict[str, Any]:
    doc = sample().to_json()
    *parents, last = path.split(".")
    target = doc
    for p in parents:
        target = target[int(p)] if isinstance(target, list) else target[p]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return doc


BREAKS = [
    ("chain_id", "", "genesis.chain_id"),
    ("chain_id", "x" * 51, "genesis.chain_id"),
    ("chain_id", "ไทย", "genesis.chain_id"),
    ("genesis_time", "yesterday", "genesis.genesis_time"),
    ("genesis_time", KeyError, "genesis.genesis_time: missing"),
    ("initial_height", "0", "genesis.initial_height"),
    ("initial_height", "1.5", "genesis.initial_height"),
    ("consensus_params.block.max_bytes", "100", "consensus_params.block.max_bytes"),
    ("consensus_params.block.max_bytes", str(64 * 1024 * 1024), "consensus_params.block.max_bytes"),
    ("consensus_params.block.max_gas", "-2", "consensus_params.block.max_gas"),
    ("consensus_params.block.extra", "1", "consensus_params.block.extra: unknown field"),
    ("consensus_params.evidence.max_bytes", "4000000", "consensus_params.evidence.max_bytes"),
    ("consensus_params.validator.pub_key_types", ["secp256k1"], "pub_key_types"),
    ("consensus_params.abci.vote_extensions_enable_height", "5", "vote_extensions_enable_height"),
    ("consensus_params.timeouts.propose", "0s", "consensus_params.timeouts.propose"),
    ("consensus_params.timeouts.commit", "fast", "consensus_params.timeouts.commit"),
    ("consensus_params.timeouts.prevote", KeyError, "consensus_params.timeouts.prevote: missing"),
    ("consensus_params.timeouts.precommit_delta", "2h", "consensus_params.timeouts.precommit_delta"),
    ("consensus_params.timeouts.skip_timeout_commit", "true", "timeouts.skip_timeout_commit: expected true or false"),
    ("consensus_params.timeouts.skip_timeout_commit", 1, "timeouts.skip_timeout_commit: expected true or false"),
    ("consensus_params.timeouts.next_block_delay", "-100ms", "timeouts.next_block_delay: '-100ms' is negative"),
    ("consensus_params.timeouts.next_block_delay", "2m", "timeouts.next_block_delay: 120s is more than 60s"),
    ("consensus_params.timeouts.next_block_delay", "soon", "timeouts.next_block_delay: bad duration"),
    ("consensus_params.timeouts.next_block_delay", 100, "timeouts.next_block_delay: a duration is a string"),
    ("validators", [], "genesis.validators"),
    ("validators.0.power", "0", "genesis.validators[0].power"),
    ("validators.0.power", "ten", "genesis.validators[0].power"),
    ("validators.0.address", "00" * 20, "genesis.validators[0].address"),
    ("validators.0.pub_key", {"type": "tendermint/PubKeyEd25519", "value": "AAAA"}, "genesis.validators[0].pub_key"),
    ("validators.0.pub_key", {"type": "tendermint/PubKeySecp256k1", "value": "AAAA"}, "validators[0].pub_key"),
    ("validators.1.pub_key", None, "genesis.validators[1].pub_key"),
    ("validators.0.role", "boss", "genesis.validators[0].role: unknown field"),
    ("app_hash", "zz", "genesis.app_hash"),
    ("app_state", {"rate": 1.5}, "genesis.app_state"),
    ("extra", 1, "genesis.extra: unknown field"),
]


@pytest.mark.parametrize(("path", "value", "message"), BREAKS)
def test_every_bad_field_is_named(path: str, value: Any, message: str) -> None:
    with pytest.raises(GenesisError) as err:
        Genesis.from_json(_broken(path, value))
    assert message in str(err.value)


def test_duplicate_validator_is_refused() -> None:
    doc = sample().to_json()
    doc["validators"].append(dict(doc["validators"][0]))
    with pytest.raises(GenesisError, match="duplicate validator"):
        Genesis.from_json(doc)


def test_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(GenesisError, match="no genesis file"):
        load_genesis(tmp_path / "nope.json")
    bad = tmp_path / "genesis.json"
    bad.write_text("{not json")
    with pytest.raises(GenesisError, match=r"genesis\.json"):
        load_genesis(bad)
    bad.write_text(json.dumps(sample().to_json()).replace('"app_state": {', '"app_state": {"f": 0.5, '))
    with pytest.raises(GenesisError, match="floating-point"):
        load_genesis(bad)
    bad.write_text("[]")
    with pytest.raises(GenesisError, match="expected an object"):
        load_genesis(bad)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 253_402_300_799 * 10**9 + 999_999_999))
def test_rfc3339_round_trip(ns: int) -> None:
    assert parse_rfc3339_ns(format_rfc3339_ns(ns)) == ns


def test_rfc3339_offsets_and_errors() -> None:
    assert parse_rfc3339_ns("1970-01-01T07:00:00+07:00") == 0
    assert parse_rfc3339_ns("1970-01-01T00:00:01.5Z") == 1_500_000_000
    for bad in ("2026-13-01T00:00:00Z", "2026-01-01 00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00.Z"):
        with pytest.raises(ValueError):
            parse_rfc3339_ns(bad)

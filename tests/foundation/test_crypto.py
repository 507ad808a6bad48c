"""Ed25519 keys, addresses and CometBFT-shaped key files."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from state.crypto import (
    KeyFileError,
    PrivateKey,
    PublicKey,
    address,
    load_node_key,
    load_priv_validator_key,
    node_id,
    save_node_key,
    save_priv_validator_key,
    verify,
)


def test_sign_verify_and_address() -> None:
    key = PrivateKey.from_seed(bytes(range(32)))
    sig = key.sign(b"guarantee")
    assert verify(key.public_key.raw, b"guarantee", sig)
    assert not verify(key.public_key.raw, b"guarantee!", sig)
    assert not verify(b"\x00" * 31, b"guarantee", sig)
    assert not verify(key.public_key.raw, b"guarantee", sig[:63])
    assert key.address == hashlib.sha256(key.public_key.raw).digest()[:20] == address(key.public_key.raw)
    # RFC 8032 test 1: the public key of the all-zero-index seed is fixed.
    rfc = PrivateKey.from_seed(bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
    assert rfc.public_key.raw.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert rfc.sign(b"").hex().startswith("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155")


def test_key_files_round_trip_and_are_private(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    path = tmp_path / "config" / "priv_validator_key.json"
    save_priv_validator_key(path, key)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["address"] == key.address.hex().upper()
    assert doc["pub_key"]["type"] == "tendermint/PubKeyEd25519"
    assert load_priv_validator_key(path).seed == key.seed
    nk = tmp_path / "node_key.json"
    save_node_key(nk, key)
    assert load_node_key(nk).public_key == key.public_key
    assert node_id(key.public_key.raw) == key.address.hex()


def test_bad_key_files(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError):
        load_node_key(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(KeyFileError):
        load_priv_validator_key(bad)
    bad.write_text(json.dumps({"priv_key": {"type": "tendermint/PrivKeyEd25519", "value": "AAAA"}}))
    with pytest.raises(KeyFileError):
        load_node_key(bad)
    with pytest.raises(ValueError):
        PublicKey(b"short")

"""The keyring file never holds the seed or the password in clear; a wrong password is a clear error."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.pwhash import argon2id

from cli.errors import InputError, KeystoreError
from cli.keystore import Keystore, parse_seed_text, read_key_file, seal, unseal
from state.crypto import PrivateKey, save_priv_validator_key

PASSWORD = "correct horse battery staple"


def _secrets(key: PrivateKey) -> list[bytes]:
    """Every way the seed or the password could appear in a text file."""
    seed, full = key.seed, key.seed + key.public_key.raw
    forms = [seed.hex(), seed.hex().upper(), base64.b64encode(seed).decode(), base64.b64encode(full).decode(),
             PASSWORD, PASSWORD.encode().hex()]
    return [f.encode() for f in forms] + [seed]


def test_the_file_never_contains_the_seed_or_the_password(tmp_path: Path) -> None:
    store = Keystore(tmp_path / "keyring")
    key = PrivateKey.generate()
    info = store.save("officer", key, PASSWORD, "interactive")
    raw = info.path.read_bytes()
    for secret in _secrets(key):
        assert secret not in raw
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600
    doc = json.loads(raw)
    assert doc["crypto"]["kdf"] == "argon2id" and doc["crypto"]["cipher"] == "xsalsa20-poly1305"
    assert doc["address"] == key.address.hex().upper()
    assert store.load("officer", PASSWORD).seed == key.seed


def test_default_hardening_is_moderate(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    info = store.save("k", PrivateKey.generate(), PASSWORD)
    crypto = json.loads(info.path.read_text())["crypto"]
    assert (crypto["opslimit"], crypto["memlimit"]) == (argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE)


def test_wrong_password_is_a_clear_error(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    store.save("officer", PrivateKey.generate(), PASSWORD, "interactive")
    with pytest.raises(KeystoreError, match="wrong password for key 'officer'"):
        store.load("officer", "not the password")
    with pytest.raises(KeystoreError, match="no password"):
        store.load("officer", None)


def test_two_files_of_the_same_key_differ(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    a, b = seal(key, "a", PASSWORD, "interactive"), seal(key, "a", PASSWORD, "interactive")
    assert a["crypto"]["salt"] != b["crypto"]["salt"] and a["crypto"]["nonce"] != b["crypto"]["nonce"]


def test_an_edited_public_key_is_detected(tmp_path: Path) -> None:
    doc = seal(PrivateKey.generate(), "k", PASSWORD, "interactive")
    doc["pub_key"] = PrivateKey.generate().public_key.to_json()
    with pytest.raises(KeystoreError, match="does not match"):
        unseal(doc, tmp_path / "k.json", PASSWORD)


@pytest.mark.parametrize("ops,mem", [(1, 8192), (argon2id.OPSLIMIT_SENSITIVE + 1, argon2id.MEMLIMIT_MODERATE),
                                     (argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_SENSITIVE * 2)])
def test_weakened_or_exhausting_limits_are_refused(tmp_path: Path, ops: int, mem: int) -> None:
    doc = seal(PrivateKey.generate(), "k", PASSWORD, "interactive")
    doc["crypto"].update(opslimit=ops, memlimit=mem)
    with pytest.raises(KeystoreError, match="limits"):
        unseal(doc, tmp_path / "k.json", PASSWORD)


@pytest.mark.parametrize("damage", [
    lambda d: d["crypto"].update(ciphertext=d["crypto"]["ciphertext"][:-2] + "00"),
    lambda d: d["crypto"].update(nonce="00"),
    lambda d: d["crypto"].pop("salt"),
    lambda d: d.update(version=9),
    lambda d: d.update(pub_key="nope"),
])
def test_damaged_files_give_a_keystore_error(tmp_path: Path, damage: object) -> None:
    doc = seal(PrivateKey.generate(), "k", PASSWORD, "interactive")
    damage(doc)  # type: ignore[operator]
    with pytest.raises(KeystoreError):
        unseal(doc, tmp_path / "k.json", PASSWORD)


def test_plaintext_only_when_asked_and_marked(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    key = PrivateKey.generate()
    info = store.save("devnet", key, None)
    assert not info.encrypted
    assert key.seed.hex().encode() in info.path.read_bytes()
    assert store.load("devnet", None).seed == key.seed
    assert [k.encrypted for k in store.list()] == [False]


def test_names_duplicates_list_delete(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    key = PrivateKey.generate()
    store.save("a", key, None)
    with pytest.raises(KeystoreError, match="already exists"):
        store.save("a", PrivateKey.generate(), None)
    with pytest.raises(KeystoreError, match="already in the keyring as 'a'"):
        store.save("b", key, None)
    for bad in ("", "../x", "a/b", ".hidden", "x" * 65):
        with pytest.raises(InputError):
            store.path(bad)
    (tmp_path / "junk.json").write_text("not json")
    assert [k.name for k in store.list()] == ["a"]
    store.delete("a")
    assert store.list() == []
    with pytest.raises(KeystoreError, match="no key named 'a'"):
        store.info("a")


def test_cometbft_key_files_and_seed_text(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    pv = tmp_path / "priv_validator_key.json"
    save_priv_validator_key(pv, key)
    assert read_key_file(pv, None).seed == key.seed
    assert parse_seed_text(pv.read_text(), "x").seed == key.seed
    assert parse_seed_text(key.seed.hex(), "x").seed == key.seed
    assert parse_seed_text((key.seed + key.public_key.raw).hex(), "x").seed == key.seed
    with pytest.raises(InputError, match="32 bytes"):
        parse_seed_text("abcd", "x")
    with pytest.raises(InputError, match="not a seed followed by its public key"):
        parse_seed_text((key.seed + bytes(32)).hex(), "x")
    store = Keystore(tmp_path / "ring")
    enc = store.save("enc", key, PASSWORD, "interactive")
    assert read_key_file(enc.path, PASSWORD).seed == key.seed
    with pytest.raises(KeystoreError, match="does not exist"):
        read_key_file(tmp_path / "missing.json", None)
    (tmp_path / "odd.json").write_text("[1, 2]")
    with pytest.raises(KeystoreError, match="neither"):
        read_key_file(tmp_path / "odd.json", None)


@settings(max_examples=6, deadline=None)
@given(password=st.text(min_size=1, max_size=40).filter(lambda p: "\x00" not in p))
def test_any_password_round_trips_and_never_appears_in_the_file(tmp_path_factory: pytest.TempPathFactory,
                                                              password: str) -> None:
    key = PrivateKey.generate()
    doc = seal(key, "k", password, "interactive")
    text = json.dumps(doc, ensure_ascii=False)
    assert password not in text or len(password) < 4  # short strings may occur by chance in hex/base64
    assert key.seed.hex() not in text
    path = tmp_path_factory.mktemp("k") / "k.json"
    assert unseal(doc, path, password).seed == key.seed
    with pytest.raises(KeystoreError, match="wrong password"):
        unseal(doc, path, password + "x")

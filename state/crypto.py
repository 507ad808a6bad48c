"""Ed25519 keys, SHA-256 and addresses, shaped like CometBFT's so operators meet familiar files.

Address = first 20 bytes of SHA-256 of the 32-byte public key (CometBFT `crypto/ed25519`). Key files use
CometBFT's JSON layout (`priv_validator_key.json`, `node_key.json`) with amino-style type names, so tools
that read CometBFT homes can read ours. All cryptography is PyNaCl (libsodium); nothing is hand-rolled.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from nacl._sodium import ffi as _ffi
from nacl._sodium import lib as _lib
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

PUBKEY_TYPE = "tendermint/PubKeyEd25519"
PRIVKEY_TYPE = "tendermint/PrivKeyEd25519"
PUBKEY_SIZE = 32
SIGNATURE_SIZE = 64
ADDRESS_SIZE = 20


class KeyFileError(ValueError):
    """A key file is missing, unreadable or malformed."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def address(pub_key: bytes) -> bytes:
    """CometBFT address of an Ed25519 public key."""
    return hashlib.sha256(pub_key).digest()[:ADDRESS_SIZE]


_sign_open = _lib.crypto_sign_open
_new = _ffi.new


def verify(pub_key: bytes, msg: bytes, sig: bytes) -> bool:
    """True when `sig` is a valid Ed25519 signature of `msg` by `pub_key`; never raises on bad input.

    Why libsodium's `crypto_sign_open` straight (PyNaCl's own binding, the very call `VerifyKey.verify`
    ends in, with the same arguments): the wrapper around it (a `VerifyKey` per call, its checks, the
    opened message copied out and an exception for a bad signature) cost ~2 us of the ~58 a verification
    takes, on every tx a node admits. Same verdicts: `bytes` key and signature of the right lengths take
    this path, anything else PyNaCl's, as before (tests/state/test_crypto_verify.py compares both)."""
    if len(pub_key) != PUBKEY_SIZE or len(sig) != SIGNATURE_SIZE:
        return False
    if pub_key.__class__ is bytes and sig.__class__ is bytes:
        try:
            sm = sig + msg
        except TypeError:
            return False
        n = len(sm)
        return bool(_sign_open(_new("unsigned char[]", n), _new("unsigned long long *"), sm, n, pub_key) == 0)
    try:
        VerifyKey(pub_key).verify(msg, sig)
    except (BadSignatureError, ValueError, TypeError):
        return False
    except Exception:  # libsodium rejects some malformed points with its own error type
        return False
    return True


class PublicKey:
    __slots__ = ("_address", "raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != PUBKEY_SIZE:
            raise ValueError(f"an Ed25519 public key has {PUBKEY_SIZE} bytes, got {len(raw)}")
        self.raw = bytes(raw)
        self._address: bytes | None = None

    @property
    def address(self) -> bytes:
        if self._address is None:
            self._address = address(self.raw)
        return self._address

    def verify(self, msg: bytes, sig: bytes) -> bool:
        return verify(self.raw, msg, sig)

    def to_json(self) -> dict[str, str]:
        return {"type": PUBKEY_TYPE, "value": base64.b64encode(self.raw).decode()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"PublicKey({self.raw.hex()})"


class PrivateKey:
    __slots__ = ("_signing", "public_key")

    def __init__(self, signing: SigningKey) -> None:
        self._signing = signing
        self.public_key = PublicKey(bytes(signing.verify_key))

    @classmethod
    def generate(cls) -> PrivateKey:
        return cls(SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> PrivateKey:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed has 32 bytes")
        return cls(SigningKey(seed))

    @property
    def seed(self) -> bytes:
        return bytes(self._signing)

    @property
    def address(self) -> bytes:
        return self.public_key.address

    def sign(self, msg: bytes) -> bytes:
        return bytes(self._signing.sign(msg).signature)

    def to_json(self) -> dict[str, str]:
        """CometBFT stores seed ‖ public key (64 bytes)."""
        raw = self.seed + self.public_key.raw
        return {"type": PRIVKEY_TYPE, "value": base64.b64encode(raw).decode()}

    @classmethod
    def from_json(cls, obj: object) -> PrivateKey:
        if not isinstance(obj, dict) or obj.get("type") != PRIVKEY_TYPE or not isinstance(obj.get("value"), str):
            raise KeyFileError(f"expected a {PRIVKEY_TYPE} key")
        try:
            raw = base64.b64decode(obj["value"], validate=True)
        except ValueError:
            raise KeyFileError("private key is not valid base64") from None
        if len(raw) != 64:
            raise KeyFileError("private key must be 64 bytes (seed and public key)")
        key = cls.from_seed(raw[:32])
        if key.public_key.raw != raw[32:]:
            raise KeyFileError("private key does not match its public half")
        return key


def public_key_from_json(obj: object) -> PublicKey:
    if not isinstance(obj, dict) or obj.get("type") != PUBKEY_TYPE or not isinstance(obj.get("value"), str):
        raise KeyFileError(f"expected a {PUBKEY_TYPE} key")
    try:
        return PublicKey(base64.b64decode(obj["value"], validate=True))
    except ValueError as exc:
        raise KeyFileError(f"bad public key: {exc}") from None


def write_private_file(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only, durably (file and directory fsynced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def save_priv_validator_key(path: Path, key: PrivateKey) -> None:
    doc = {
        "address": key.address.hex().upper(),
        "pub_key": key.public_key.to_json(),
        "priv_key": key.to_json(),
    }
    write_private_file(path, json.dumps(doc, indent=2) + "\n")


def _read_json(path: Path) -> dict[str, object]:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such key file") from None
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise KeyFileError(f"{path}: expected a JSON object")
    return doc


def load_priv_validator_key(path: Path) -> PrivateKey:
    doc = _read_json(path)
    key = PrivateKey.from_json(doc.get("priv_key"))
    if "address" in doc and str(doc["address"]).upper() != key.address.hex().upper():
        raise KeyFileError(f"{path}: address does not match the key")
    return key


def node_id(pub_key: bytes) -> str:
    """Node ID as CometBFT prints it: lower-case hex of the address."""
    return address(pub_key).hex()


def save_node_key(path: Path, key: PrivateKey) -> None:
    write_private_file(path, json.dumps({"priv_key": key.to_json()}, indent=2) + "\n")


def load_node_key(path: Path) -> PrivateKey:
    return PrivateKey.from_json(_read_json(path).get("priv_key"))

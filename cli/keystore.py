"""The encrypted keyring: one JSON file per key, the Ed25519 seed sealed under the owner's password.

File `<keyring>/<name>.json` (mode 0600, written atomically and fsynced by `state.crypto`):

    {"version": 1, "name": "ktb-officer", "address": "<40 hex, upper>",
     "pub_key": {"type": "tendermint/PubKeyEd25519", "value": "<b64>"},
     "crypto": {"kdf": "argon2id", "opslimit": 3, "memlimit": 268435456, "salt": "<hex>",
                "cipher": "xsalsa20-poly1305", "nonce": "<hex>", "ciphertext": "<hex>"}}

Why these choices:
- Argon2id (`nacl.pwhash.argon2id.kdf`) derives a 32-byte key from the password and a random salt;
  `nacl.secret.SecretBox` (XSalsa20-Poly1305) seals the 32-byte seed with a random nonce. A wrong password
  fails the Poly1305 tag: we can say "wrong password" without ever comparing secrets ourselves.
- Default limits: libsodium's MODERATE (3 passes, 256 MiB; about 0.75 s here). The key signs legal
  guarantees worth millions of baht, and a stolen keyring file is attacked offline, so every guess must be
  expensive; a signing officer pays 0.75 s per command, which is small next to a ~1 s block. INTERACTIVE
  (2 passes, 64 MiB, ~0.08 s) is offered with `--kdf interactive` for small machines and scripts that sign
  in bulk. The limits are stored in the file so either kind opens; a file asking for less than
  INTERACTIVE or more than SENSITIVE is refused (a tampered file must not make us weaken or exhaust memory).
- After decryption the public key is re-derived and compared with the one in the file, so a file whose
  `pub_key` was edited is detected instead of signing as someone else.
- `--unsafe-plaintext` stores the seed in hex under `"crypto": {"cipher": "none", "seed": …}`: only when
  explicitly asked (a throw-away devnet key), and `keys list` marks such keys.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret
import nacl.utils
from nacl.pwhash import argon2id

from cli.errors import InputError, KeystoreError
from state.crypto import (
    KeyFileError,
    PrivateKey,
    PublicKey,
    load_priv_validator_key,
    public_key_from_json,
    write_private_file,
)

FORMAT_VERSION = 1
KDF_LIMITS = {
    "moderate": (argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE),
    "interactive": (argon2id.OPSLIMIT_INTERACTIVE, argon2id.MEMLIMIT_INTERACTIVE),
}
DEFAULT_KDF = "moderate"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class KeyInfo:
    """What can be shown without the password."""

    name: str
    pub_key: bytes
    encrypted: bool
    path: Path

    @property
    def address(self) -> str:
        return PublicKey(self.pub_key).address.hex().upper()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "pub_key": self.pub_key.hex(),
                "pub_key_b64": PublicKey(self.pub_key).to_json()["value"], "encrypted": self.encrypted,
                "file": str(self.path)}


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InputError(f"key name '{name}' must be 1-64 letters, digits, '.', '_' or '-', starting with a "
                         "letter or digit")
    return name


def _derive(password: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return bytes(argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, password.encode("utf-8"), salt,
                              opslimit=opslimit, memlimit=memlimit))


def seal(key: PrivateKey, name: str, password: str | None, kdf: str = DEFAULT_KDF) -> dict[str, Any]:
    """The keystore document of `key`; `password=None` means unsafe plaintext."""
    pub = key.public_key
    doc: dict[str, Any] = {"version": FORMAT_VERSION, "name": name, "address": pub.address.hex().upper(),
                           "pub_key": pub.to_json()}
    if password is None:
        doc["crypto"] = {"cipher": "none", "seed": key.seed.hex()}
        return doc
    if kdf not in KDF_LIMITS:
        raise InputError(f"--kdf must be one of {', '.join(KDF_LIMITS)}")
    opslimit, memlimit = KDF_LIMITS[kdf]
    salt = nacl.utils.random(argon2id.SALTBYTES)
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(_derive(password, salt, opslimit, memlimit))
    sealed = box.encrypt(key.seed, nonce).ciphertext
    doc["crypto"] = {"kdf": "argon2id", "opslimit": opslimit, "memlimit": memlimit, "salt": salt.hex(),
                     "cipher": "xsalsa20-poly1305", "nonce": nonce.hex(), "ciphertext": sealed.hex()}
    return doc


def _field(obj: dict[str, Any], name: str, typ: type, where: str) -> Any:
    value = obj.get(name)
    if not isinstance(value, typ) or isinstance(value, bool):
        raise KeystoreError(f"{where}: field '{name}' is missing or malformed")
    return value


def _hex_field(obj: dict[str, Any], name: str, where: str) -> bytes:
    try:
        return bytes.fromhex(_field(obj, name, str, where))
    except ValueError:
        raise KeystoreError(f"{where}: field '{name}' is not hex") from None


def info_of(doc: dict[str, Any], path: Path) -> KeyInfo:
    where = str(path)
    if doc.get("version") != FORMAT_VERSION:
        raise KeystoreError(f"{where}: unsupported keystore version {doc.get('version')!r}")
    try:
        pub = public_key_from_json(_field(doc, "pub_key", dict, where))
    except KeyFileError as exc:
        raise KeystoreError(f"{where}: {exc}") from None
    crypto = _field(doc, "crypto", dict, where)
    return KeyInfo(_field(doc, "name", str, where), pub.raw, crypto.get("cipher") != "none", path)


def unseal(doc: dict[str, Any], path: Path, password: str | None) -> PrivateKey:
    """The private key in `doc`; KeystoreError on a wrong password or a damaged file."""
    where = str(path)
    info = info_of(doc, path)
    crypto: dict[str, Any] = doc["crypto"]
    if not info.encrypted:
        seed = _hex_field(crypto, "seed", where)
    else:
        if crypto.get("kdf") != "argon2id" or crypto.get("cipher") != "xsalsa20-poly1305":
            raise KeystoreError(f"{where}: unsupported encryption {crypto.get('kdf')}/{crypto.get('cipher')}")
        opslimit = _field(crypto, "opslimit", int, where)
        memlimit = _field(crypto, "memlimit", int, where)
        if not (argon2id.OPSLIMIT_INTERACTIVE <= opslimit <= argon2id.OPSLIMIT_SENSITIVE
                and argon2id.MEMLIMIT_INTERACTIVE <= memlimit <= argon2id.MEMLIMIT_SENSITIVE):
            raise KeystoreError(f"{where}: key-derivation limits outside the accepted range; refusing the file")
        salt, nonce = _hex_field(crypto, "salt", where), _hex_field(crypto, "nonce", where)
        ciphertext = _hex_field(crypto, "ciphertext", where)
        if len(salt) != argon2id.SALTBYTES or len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
            raise KeystoreError(f"{where}: salt or nonce has the wrong length")
        if password is None:
            raise KeystoreError(f"key '{info.name}' is encrypted and no password was given")
        box = nacl.secret.SecretBox(_derive(password, salt, opslimit, memlimit))
        try:
            seed = bytes(box.decrypt(ciphertext, nonce))
        except nacl.exceptions.CryptoError:
            raise KeystoreError(f"wrong password for key '{info.name}'") from None
    if len(seed) != 32:
        raise KeystoreError(f"{where}: the sealed seed does not have 32 bytes")
    key = PrivateKey.from_seed(seed)
    if key.public_key.raw != info.pub_key:
        raise KeystoreError(f"{where}: the key does not match the public key recorded in the file (tampered?)")
    return key


class Keystore:
    """The keyring directory: add, read, list and delete keys by name."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def path(self, name: str) -> Path:
        return self.dir / f"{check_name(name)}.json"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def save(self, name: str, key: PrivateKey, password: str | None, kdf: str = DEFAULT_KDF,
             *, overwrite: bool = False) -> KeyInfo:
        path = self.path(name)
        if path.exists() and not overwrite:
            raise KeystoreError(f"a key named '{name}' already exists in {self.dir}")
        for other in self.list():
            if other.pub_key == key.public_key.raw and other.name != name:
                raise KeystoreError(f"this key is already in the keyring as '{other.name}'")
        doc = seal(key, name, password, kdf)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private_file(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return info_of(doc, path)

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KeystoreError(f"no key named '{path.stem}' in {self.dir} (see `egp keys list`)") from None
        except (OSError, ValueError) as exc:
            raise KeystoreError(f"{path}: cannot read the key file: {exc}") from None
        if not isinstance(doc, dict):
            raise KeystoreError(f"{path}: not a keystore file")
        return doc

    def info(self, name: str) -> KeyInfo:
        path = self.path(name)
        return info_of(self._read(path), path)

    def load(self, name: str, password: str | None) -> PrivateKey:
        path = self.path(name)
        return unseal(self._read(path), path, password)

    def needs_password(self, name: str) -> bool:
        return self.info(name).encrypted

    def list(self) -> list[KeyInfo]:
        if not self.dir.is_dir():
            return []
        out = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                out.append(info_of(self._read(path), path))
            except KeystoreError:
                continue  # a foreign or damaged file: `keys show` on it explains what is wrong
        return out

    def delete(self, name: str) -> KeyInfo:
        info = self.info(name)
        info.path.unlink()
        return info


# ----------------------------------------------------------------- key files outside the keyring
def read_key_file(path: Path, password: str | None) -> PrivateKey:
    """A CometBFT priv_validator_key.json / node_key.json, or a keystore file of ours, by its shape."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeystoreError(f"key file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"cannot read key file {path}: {exc}") from None
    if isinstance(doc, dict) and "crypto" in doc:
        return unseal(doc, path, password)
    try:
        if isinstance(doc, dict) and "pub_key" in doc:
            return load_priv_validator_key(path)
        if isinstance(doc, dict):
            return PrivateKey.from_json(doc.get("priv_key"))
    except KeyFileError as exc:
        raise KeystoreError(f"key file {path}: {exc}") from None
    raise KeystoreError(f"key file {path} is neither a CometBFT key file nor an egp keystore file")


def key_file_needs_password(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # read_key_file reports the problem
    return isinstance(doc, dict) and isinstance(doc.get("crypto"), dict) and doc["crypto"].get("cipher") != "none"


def parse_seed_text(text: str, what: str) -> PrivateKey:
    """Import material: hex of the 32-byte seed (or 64-byte seed‖pub), or CometBFT key JSON."""
    raw = text.strip()
    if raw.startswith("{"):
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise InputError(f"{what} is not valid JSON: {exc}") from None
        try:
            return PrivateKey.from_json(doc.get("priv_key") if isinstance(doc, dict) else None)
        except KeyFileError as exc:
            raise InputError(f"{what}: {exc}") from None
    try:
        data = bytes.fromhex(raw.removeprefix("0x"))
    except ValueError:
        raise InputError(f"{what} is neither hex nor a CometBFT key JSON") from None
    if len(data) == 64:
        key = PrivateKey.from_seed(data[:32])
        if key.public_key.raw != data[32:]:
            raise InputError(f"{what}: the 64 bytes are not a seed followed by its public key")
        return key
    if len(data) != 32:
        raise InputError(f"{what}: an Ed25519 seed has 32 bytes (64 hex digits), got {len(data)}")
    return PrivateKey.from_seed(data)

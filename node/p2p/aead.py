"""ChaCha20-Poly1305-IETF (libsodium) for the frames of the secret connection, with a fast call path.

Why a module of its own: PyNaCl's public binding costs about twice the cipher itself on a 300-byte frame
(it formats its error strings eagerly and re-checks every argument), and every vote and transaction crosses
it twice per hop. ``aead_encrypt`` / ``aead_decrypt`` call the very same libsodium functions through
PyNaCl's cffi handle; the keys and nonces we pass are fixed-size by construction. ``nacl._sodium`` is
PyNaCl's private module: if it is missing, or disagrees with the public binding on a self-test at import,
the public binding is used instead. No cryptography is implemented here.
"""

from __future__ import annotations

from collections.abc import Callable

from nacl import bindings
from nacl.exceptions import CryptoError

from node.p2p.errors import FrameError

TAG_SIZE: int = bindings.crypto_aead_chacha20poly1305_ietf_ABYTES  # 16
KEY_SIZE: int = bindings.crypto_aead_chacha20poly1305_ietf_KEYBYTES  # 32
_BAD = "frame failed authentication (tampered, replayed or garbage)"
Cipher = Callable[[bytes, bytes, bytes, bytes], bytes]
Decipher = Callable[[bytes | memoryview, bytes, bytes, bytes], bytes]


def bindings_encrypt(m: bytes, ad: bytes, nonce: bytes, key: bytes) -> bytes:
    out: bytes = bindings.crypto_aead_chacha20poly1305_ietf_encrypt(m, ad, nonce, key)
    return out


def bindings_decrypt(c: bytes | memoryview, ad: bytes, nonce: bytes, key: bytes) -> bytes:
    try:
        out: bytes = bindings.crypto_aead_chacha20poly1305_ietf_decrypt(bytes(c), ad, nonce, key)
    except (CryptoError, ValueError, TypeError):
        raise FrameError(_BAD) from None
    return out


def _direct() -> tuple[Cipher, Decipher] | None:
    try:
        from nacl._sodium import ffi, lib
    except ImportError:  # pragma: no cover - depends on the PyNaCl build
        return None
    null = ffi.NULL
    raw_encrypt = lib.crypto_aead_chacha20poly1305_ietf_encrypt
    raw_decrypt = lib.crypto_aead_chacha20poly1305_ietf_decrypt
    new, buffer, from_buffer = ffi.new, ffi.buffer, ffi.from_buffer

    def encrypt(m: bytes, ad: bytes, nonce: bytes, key: bytes) -> bytes:
        clen = len(m) + TAG_SIZE
        out = new("unsigned char[]", clen)
        if raw_encrypt(out, null, m, len(m), ad, len(ad), null, nonce, key) != 0:
            raise RuntimeError("libsodium encryption failed")
        data: bytes = buffer(out, clen)[:]
        return data

    def decrypt(c: bytes | memoryview, ad: bytes, nonce: bytes, key: bytes) -> bytes:
        mlen = len(c) - TAG_SIZE
        if mlen < 0:
            raise FrameError("frame shorter than its tag")
        out = new("unsigned char[]", mlen or 1)
        cipher = c if type(c) is bytes else from_buffer(c)  # a view of a bigger read: no copy of a 64 KiB packet
        if raw_decrypt(out, null, null, cipher, len(c), ad, len(ad), nonce, key) != 0:
            raise FrameError(_BAD)
        data: bytes = buffer(out, mlen)[:]
        return data

    key, nonce, ad, msg = bytes(range(32)), bytes(range(12)), b"hdr", b"self-test of the direct AEAD path"
    try:
        sealed = encrypt(msg, ad, nonce, key)
        ok = sealed == bindings_encrypt(msg, ad, nonce, key) and decrypt(sealed, ad, nonce, key) == msg
    except Exception:  # pragma: no cover
        ok = False
    return (encrypt, decrypt) if ok else None


_fast = _direct()
DIRECT = _fast is not None
aead_encrypt, aead_decrypt = _fast if _fast is not None else (bindings_encrypt, bindings_decrypt)

"""`state.crypto.verify` calls libsodium's `crypto_sign_open` straight: its verdicts are PyNaCl's `VerifyKey`'s."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey, VerifyKey

from state.crypto import verify

_KEYS = [SigningKey(bytes([i]) * 32) for i in range(4)]
# public keys libsodium refuses or treats specially: the identity, a small-order point, a non-canonical y,
# all-zero, all-ones
_ODD_KEYS = [bytes([1]) + bytes(31), bytes(32), b"\xff" * 32, bytes([0xEC]) + b"\xff" * 30 + b"\x7f",
             bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")]


def _reference(pub_key: object, msg: object, sig: object) -> bool:
    """The verdict of the PyNaCl wrapper path (what `verify` did before)."""
    try:
        if len(pub_key) != 32 or len(sig) != 64:  # type: ignore[arg-type]
            return False
        VerifyKey(pub_key).verify(msg, sig)  # type: ignore[arg-type]
    except Exception:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 3), st.binary(max_size=300), st.integers(0, 10_000), st.integers(0, 255),
       st.sampled_from(["none", "msg", "sig", "key", "odd_key"]))
def test_verify_agrees_with_pynacl(k: int, msg: bytes, pos: int, byte: int, where: str) -> None:
    key = _KEYS[k]
    pub = bytes(key.verify_key)
    sig = key.sign(msg).signature
    if where == "msg" and msg:
        m = bytearray(msg)
        m[pos % len(m)] = byte
        msg = bytes(m)
    elif where == "sig":
        s = bytearray(sig)
        s[pos % 64] = byte
        sig = bytes(s)
    elif where == "key":
        p = bytearray(pub)
        p[pos % 32] = byte
        pub = bytes(p)
    elif where == "odd_key":
        pub = _ODD_KEYS[pos % len(_ODD_KEYS)]
    assert verify(pub, msg, sig) == _reference(pub, msg, sig)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40), st.binary(max_size=100), st.binary(max_size=80))
def test_verify_agrees_with_pynacl_on_garbage(pub: bytes, msg: bytes, sig: bytes) -> None:
    assert verify(pub, msg, sig) == _reference(pub, msg, sig)


def test_verify_other_argument_types_as_before() -> None:
    key = _KEYS[0]
    pub = bytes(key.verify_key)
    msg = b"egp"
    sig = key.sign(msg).signature
    assert verify(pub, msg, sig)
    cases: list[tuple[object, object, object]] = [
        (bytearray(pub), msg, sig), (pub, bytearray(msg), sig), (pub, memoryview(msg), sig),
        (pub, msg, bytearray(sig)), (pub, "egp", sig), (pub, 7, sig), (memoryview(pub), msg, sig),
    ]
    for p, m, s in cases:
        assert verify(p, m, s) == _reference(p, m, s), (type(p), type(m), type(s))  # type: ignore[arg-type]
    assert verify(pub, bytearray(msg), sig) and not verify(pub, "egp", sig)  # type: ignore[arg-type]

"""The rejection catalogue: stable unique codes, readable sentences, docs/errors.md in sync."""

from __future__ import annotations

from pathlib import Path

from state import errors as E

ROOT = Path(__file__).resolve().parents[2]


def test_docs_in_sync() -> None:
    assert (ROOT / "docs" / "errors.md").read_text() == E.render_markdown(), \
        "regenerate: python -m state.errors > docs/errors.md"


def test_codes_unique_and_stable_ranges() -> None:
    codes = [k.code for k in E.CATALOGUE]
    assert len(codes) == len(set(codes)) and all(100 <= c < 1000 for c in codes)
    assert E.DEMAND_EXCEEDS_AVAILABLE.code == 404 and E.BAD_NONCE.code == 108  # published; never renumber


def test_money_sentence() -> None:
    err = E.TxError(E.DEMAND_EXCEEDS_AVAILABLE, amount=E.thb(60_000_000), available=E.thb(50_000_000))
    assert err.log == "demand of 600,000.00 THB exceeds available 500,000.00 THB"
    assert E.thb(5) == "0.05 THB" and E.thb(-123456) == "-1,234.56 THB"

"""Amounts, dates, durations and tax IDs as people type them: exact, or refused with a sentence."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.errors import InputError
from cli.parse import (
    MAX_SATANG,
    fmt_date,
    fmt_thb,
    parse_date,
    parse_duration_days,
    parse_hex,
    parse_tax_id,
    parse_thb,
)
from state.calendar import BANGKOK_OFFSET_MS, DAY_MS, end_of_day, iso_from_day
from state.registry import tax_id_valid, with_check_digit

satang = st.integers(min_value=1, max_value=10**15)


@given(satang)
def test_formatted_amount_parses_back_to_the_same_satang(n: int) -> None:
    text = fmt_thb(n)
    assert parse_thb(text) == n
    assert parse_thb(text.replace(",", "")) == n
    assert parse_thb(f"{text} THB") == n


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=9))
def test_one_decimal_means_tenths(whole: int, tenth: int) -> None:
    if whole == 0 and tenth == 0:
        return
    assert parse_thb(f"{whole}.{tenth}") == whole * 100 + tenth * 10


def test_examples() -> None:
    assert parse_thb("1,250,000.00") == 125_000_000
    assert parse_thb("1250000") == 125_000_000
    assert parse_thb("0.01") == 1
    assert parse_thb("0", allow_zero=True) == 0


@pytest.mark.parametrize("text,needle", [
    ("-5", "negative"), ("-1,000.00", "negative"), ("1.234", "more than 2 decimals"), ("1e6", "not a THB amount"),
    ("12,50,000", "not a THB amount"), ("1,2345", "not a THB amount"), ("", "not a THB amount"),
    (".50", "not a THB amount"), ("1.", "not a THB amount"), ("1_000", "not a THB amount"), ("abc", "not a THB"),
    ("0.00", "more than 0.00"), ("NaN", "not a THB amount"), (str(MAX_SATANG), "too large"),
])
def test_bad_amounts_are_refused_with_a_reason(text: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        parse_thb(text)


@given(st.text(alphabet="0123456789,.-+eE_ ", max_size=20))
def test_amount_parser_never_crashes(text: str) -> None:
    try:
        value = parse_thb(text)
    except InputError:
        return
    assert 0 < value <= MAX_SATANG


@given(st.dates(min_value=dt.date(1971, 1, 1), max_value=dt.date(9999, 12, 30)))
def test_a_date_means_the_end_of_that_bangkok_day(day: dt.date) -> None:
    ms = parse_date(day.isoformat())
    assert fmt_date(ms) == day.isoformat()
    assert fmt_date(ms + 1) == (day + dt.timedelta(days=1)).isoformat()  # the next millisecond is the next day
    assert ms == end_of_day((ms + BANGKOK_OFFSET_MS) // DAY_MS)
    assert iso_from_day((ms + BANGKOK_OFFSET_MS) // DAY_MS) == day.isoformat()


def test_date_time_is_bangkok_unless_it_says_otherwise() -> None:
    assert parse_date("2027-01-15T16:30") == parse_date("2027-01-15T09:30Z")
    assert parse_date("2027-01-15T16:30+07:00") == parse_date("2027-01-15T16:30")


@pytest.mark.parametrize("text", ["2027-02-30", "31/12/2027", "tomorrow", "2027-13-01", "", "1960-01-01"])
def test_bad_dates(text: str) -> None:
    with pytest.raises(InputError):
        parse_date(text)


@pytest.mark.parametrize("text,days", [("30d", 30), ("30", 30), ("2w", 14), ("48h", 2), (" 7D ", 7)])
def test_durations(text: str, days: int) -> None:
    assert parse_duration_days(text) == days


@pytest.mark.parametrize("text", ["30 days", "-3d", "d", "3m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InputError):
        parse_duration_days(text)


first12 = st.text(alphabet="0123456789", min_size=12, max_size=12)


@given(first12)
def test_valid_tax_ids_are_accepted_with_dashes_or_spaces(digits: str) -> None:
    tid = with_check_digit(digits)
    assert parse_tax_id(tid) == tid
    assert parse_tax_id(f"{tid[0]}-{tid[1:5]}-{tid[5:10]}-{tid[10:12]}-{tid[12]}") == tid
    assert parse_tax_id(f" {tid[:6]} {tid[6:]} ") == tid


@given(first12, st.integers(min_value=1, max_value=9))
def test_a_wrong_check_digit_is_refused_naming_the_right_one(digits: str, shift: int) -> None:
    good = with_check_digit(digits)
    bad = good[:12] + str((int(good[12]) + shift) % 10)
    assert not tax_id_valid(bad)
    with pytest.raises(InputError, match=f"it must be {good[12]}"):
        parse_tax_id(bad)


@pytest.mark.parametrize("text", ["123", "01055500012321", "010555000123a", "", "０１０５５５０００１２３２"])
def test_tax_ids_of_the_wrong_shape(text: str) -> None:
    with pytest.raises(InputError, match="13 digits"):
        parse_tax_id(text)


def test_hex() -> None:
    assert parse_hex("0xAB" + "00" * 31, 32, "h") == bytes.fromhex("ab" + "00" * 31)
    with pytest.raises(InputError, match="32 bytes"):
        parse_hex("abcd", 32, "h")
    with pytest.raises(InputError, match="not hexadecimal"):
        parse_hex("zz", None, "h")

"""What people type, turned into what the chain stores: satang, Bangkok dates as UTC ms, tax IDs, hashes.

Why strict: a guarantee is a legal promise of money. `1,250,000.00` must mean exactly 125,000,000 satang,
and anything ambiguous (`1.234`, `12,50,000`, `1e6`, `-5`) is refused with a sentence saying what to type,
never rounded or guessed. Dates are calendar days in Asia/Bangkok, as on the paper forms; a bare date
means the end of that day (a guarantee "valid until 31 March" covers the whole of 31 March). The calendar
arithmetic is `state.calendar`'s, the very functions the chain evaluates, so wallet and chain agree.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from pathlib import Path

from cli.errors import InputError
from state.calendar import BANGKOK_OFFSET_MS, DAY_MS, day_from_iso, end_of_day, iso_from_day
from state.registry import tax_id_valid, with_check_digit

MAX_SATANG = 2**63 - 1
BANGKOK = dt.timezone(dt.timedelta(hours=7), "ICT")

_AMOUNT = re.compile(r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DURATION = re.compile(r"(?P<n>\d{1,5})\s*(?P<unit>[dwh]?)")


# ----------------------------------------------------------------- money
def parse_thb(text: str, what: str = "amount", *, allow_zero: bool = False) -> int:
    """'1,250,000.00' (or '1250000', '1250000.5', with an optional 'THB') -> satang as an int."""
    raw = text.strip()
    for affix in ("THB", "฿"):
        raw = raw.removeprefix(affix).removesuffix(affix).strip()
    if raw.startswith("-"):
        raise InputError(f"{what} '{text}' is negative; enter a positive THB amount such as 1,250,000.00")
    m = _AMOUNT.fullmatch(raw)
    if m is None:
        raise InputError(f"{what} '{text}' is not a THB amount; write it like 1,250,000.00 "
                         "(digits, optional thousands commas, at most 2 decimals)")
    frac = m.group("frac") or ""
    if len(frac) > 2:
        raise InputError(f"{what} '{text}' has more than 2 decimals; THB amounts go down to the satang (0.01)")
    satang = int(m.group("int").replace(",", "")) * 100 + int(frac.ljust(2, "0") or "0")
    if satang == 0 and not allow_zero:
        raise InputError(f"{what} must be more than 0.00 THB")
    if satang > MAX_SATANG:
        raise InputError(f"{what} '{text}' is too large")
    return satang


def fmt_thb(satang: int) -> str:
    """Satang as '1,250,000.00' (no currency; tables add it in the header)."""
    sign = "-" if satang < 0 else ""
    whole, frac = divmod(abs(satang), 100)
    return f"{sign}{whole:,}.{frac:02d}"


# ----------------------------------------------------------------- time
def parse_date(text: str, what: str = "date") -> int:
    """An ISO date (end of that Bangkok day) or date-time (Bangkok unless it says Z/+hh:mm) -> UTC ms."""
    raw = text.strip()
    if _DATE.fullmatch(raw):
        try:
            dt.date.fromisoformat(raw)
        except ValueError:
            raise InputError(f"{what} '{text}' is not a calendar date (YYYY-MM-DD)") from None
        ms = end_of_day(day_from_iso(raw))
        if ms <= 0:
            raise InputError(f"{what} '{text}' is before 1970")
        return ms
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InputError(f"{what} '{text}' is not an ISO date; write YYYY-MM-DD (Bangkok), "
                         "or YYYY-MM-DDTHH:MM for a time of day") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BANGKOK)
    ms = int(moment.timestamp() * 1000)
    if ms <= 0:
        raise InputError(f"{what} '{text}' is before 1970")
    return ms


def fmt_date(ms: int) -> str:
    """UTC ms -> the Bangkok calendar date, '2027-03-31'."""
    return iso_from_day((ms + BANGKOK_OFFSET_MS) // DAY_MS) if ms else ""


def fmt_time(ms: int) -> str:
    """UTC ms -> '2027-03-31 23:59 ICT' (Bangkok)."""
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, BANGKOK).strftime("%Y-%m-%d %H:%M ICT")


def now_ms() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)


def require_future(ms: int, what: str, *, after: int | None = None, after_what: str = "today") -> None:
    """Refuse a date that is not after `after` (default: now), before the chain would."""
    ref = now_ms() if after is None else after
    if ms <= ref:
        raise InputError(f"{what} {fmt_date(ms)} is not after {after_what} ({fmt_date(ref)}); "
                         f"a {what} must come later")


def parse_duration_days(text: str) -> int:
    """'30d', '2w', '30' -> days."""
    m = _DURATION.fullmatch(text.strip().lower())
    if m is None:
        raise InputError(f"'{text}' is not a duration; write e.g. 30d or 2w")
    n = int(m.group("n"))
    return {"": n, "d": n, "w": 7 * n, "h": max(1, -(-n // 24))}[m.group("unit")]


# ----------------------------------------------------------------- identities
def parse_tax_id(text: str) -> str:
    """A Thai 13-digit tax ID with its mod-11 check digit (dashes and spaces allowed, as printed on forms)."""
    raw = re.sub(r"[\s-]", "", text)
    if len(raw) != 13 or not raw.isascii() or not raw.isdigit():
        raise InputError(f"tax ID '{text}' must have 13 digits")
    if not tax_id_valid(raw):
        expected = with_check_digit(raw[:12])[-1]
        raise InputError(f"tax ID '{text}' is not valid: its check digit is {raw[-1]}, "
                         f"but for {raw[:12]} it must be {expected}")
    return raw


def parse_bank_code(text: str) -> str:
    if len(text) != 3 or not text.isascii() or not text.isdigit():
        raise InputError(f"bank code '{text}' must be 3 digits, e.g. 006")
    return text


def parse_code(text: str, what: str = "agency code") -> str:
    if not 1 <= len(text) <= 16 or not text.isascii() or not text.isalnum():
        raise InputError(f"{what} '{text}' must be 1 to 16 letters or digits")
    return text


# ----------------------------------------------------------------- bytes
def parse_hex(text: str, size: int | None, what: str) -> bytes:
    raw = text.strip().removeprefix("0x").removeprefix("0X")
    try:
        data = bytes.fromhex(raw)
    except ValueError:
        raise InputError(f"{what} is not hexadecimal") from None
    if size is not None and len(data) != size:
        raise InputError(f"{what} must be {size} bytes ({2 * size} hex digits), got {len(data)}")
    return data


def parse_pubkey(text: str) -> bytes:
    """An Ed25519 public key as 64 hex digits or CometBFT's base64."""
    raw = text.strip()
    if re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", raw):
        return bytes.fromhex(raw.removeprefix("0x"))
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if len(data) != 32:
        raise InputError(f"public key '{text}' must be 32 bytes as 64 hex digits or base64")
    return data


def doc_hash(doc: Path | None, hash_hex: str | None, what: str = "document", *, required: bool = False) -> bytes:
    """SHA-256 of a document file, or the hash given in hex; b'' when neither (unless required)."""
    if doc is not None and hash_hex is not None:
        raise InputError(f"give either the {what} file or its hash, not both")
    if doc is not None:
        import hashlib

        try:
            return hashlib.sha256(doc.read_bytes()).digest()
        except OSError as exc:
            raise InputError(f"cannot read {what} {doc}: {exc.strerror or exc}") from None
    if hash_hex is not None:
        return parse_hex(hash_hex, 32, f"{what} hash")
    if required:
        raise InputError(f"the {what} is required: pass the file or its SHA-256 hash")
    return b""


def parse_height(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or int(text) <= 0:
        raise InputError(f"height '{text}' must be a positive whole number")
    return int(text)

"""Calendar rules on block time: Asia/Bangkok (UTC+7, no daylight saving), Monday-Friday business days
minus the holidays in genesis. Integer arithmetic only; no clock, no time zone database."""

from __future__ import annotations

DAY_MS = 86_400_000
BANGKOK_OFFSET_MS = 7 * 3_600_000


def day_of(t_ms: int) -> int:
    """Bangkok calendar day number (days since 1970-01-01) of a UTC instant in ms."""
    return (t_ms + BANGKOK_OFFSET_MS) // DAY_MS


def weekday(day: int) -> int:
    """0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday)."""
    return (day + 3) % 7


def is_business_day(day: int, holidays: tuple[int, ...]) -> bool:
    return weekday(day) < 5 and day not in holidays


def end_of_day(day: int) -> int:
    """Last millisecond of Bangkok day `day`, as UTC ms."""
    return (day + 1) * DAY_MS - BANGKOK_OFFSET_MS - 1


def add_business_days(t_ms: int, n: int, holidays: tuple[int, ...]) -> int:
    """End of the n-th business day after the day of `t_ms` (Bangkok), as UTC ms."""
    day = day_of(t_ms)
    counted = 0
    while counted < n:
        day += 1
        if is_business_day(day, holidays):
            counted += 1
    return end_of_day(day)


def day_from_iso(text: str) -> int:
    """'YYYY-MM-DD' -> day number (proleptic Gregorian), without datetime's local-time pitfalls."""
    y, m, d = (int(x) for x in text.split("-"))
    # days from civil (Howard Hinnant's algorithm)
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def iso_from_day(day: int) -> str:
    z = day + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return f"{y + (m <= 2):04d}-{m:02d}-{d:02d}"


def fmt_time(t_ms: int) -> str:
    """Bangkok date and time for messages: '2026-11-25 14:30 ICT'."""
    day = day_of(t_ms)
    minutes = ((t_ms + BANGKOK_OFFSET_MS) % DAY_MS) // 60_000
    return f"{iso_from_day(day)} {minutes // 60:02d}:{minutes % 60:02d} ICT"

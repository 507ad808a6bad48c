"""The CometBFT event query language, parsed strictly and matched exactly.

Clients (cosmjs, relayers, bank back-offices) write queries such as
``tm.event='Tx' AND lg.id='LG-1' AND tx.height>=5``. The same `Query` object serves the WebSocket event
filter (node/events.py) and the index search (node/indexer.py), so a query means the same thing in both.

Grammar (CometBFT v0.38 ``libs/pubsub/query/syntax``)::

    query     := condition ( "AND" condition )*
    condition := tag "EXISTS" | tag op value | tag "CONTAINS" string
    op        := "=" | "<" | "<=" | ">" | ">="
    value     := 'string' | number | "TIME" rfc3339 | "DATE" yyyy-mm-dd

Why strict: CometBFT has silently dropped conditions it could not evaluate (cometbft#2101); here every
malformed or unsupported condition is a `QueryError` with a message saying where, never a weaker query.
A condition holds for an event set when *any* value of its tag satisfies it (CometBFT semantics).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

MAX_QUERY_LEN = 2048
MAX_CONDITIONS = 32
OPS = ("=", "<", "<=", ">", ">=", "CONTAINS", "EXISTS")

_TAG = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SPACE = re.compile(r"\s*")
_WORD = re.compile(r"[A-Za-z]+")


class QueryError(ValueError):
    """The query text is not a valid CometBFT query."""


Operand = str | Decimal | datetime | date | None


@dataclass(frozen=True)
class Condition:
    tag: str
    op: str
    operand: Operand = None

    def matches_value(self, value: str) -> bool:
        """Whether one attribute value satisfies this condition."""
        op, arg = self.op, self.operand
        if op == "EXISTS":
            return True
        if op == "CONTAINS":
            return isinstance(arg, str) and arg in value
        if isinstance(arg, str):
            return op == "=" and value == arg
        left = _coerce(value, arg)
        if left is None:
            return False
        return _compare(op, left, arg)

    def matches(self, events: Mapping[str, Sequence[str]]) -> bool:
        values = events.get(self.tag)
        if not values:
            return False
        return any(self.matches_value(v) for v in values)

    def __str__(self) -> str:
        if self.op == "EXISTS":
            return f"{self.tag} EXISTS"
        op = " CONTAINS " if self.op == "CONTAINS" else self.op
        return f"{self.tag}{op}{format_operand(self.operand)}"


@dataclass(frozen=True)
class Query:
    conditions: tuple[Condition, ...]

    def matches(self, events: Mapping[str, Sequence[str]]) -> bool:
        return all(c.matches(events) for c in self.conditions)

    def __str__(self) -> str:
        return " AND ".join(str(c) for c in self.conditions)


def format_operand(arg: Operand) -> str:
    if isinstance(arg, str):
        return f"'{arg}'"
    if isinstance(arg, Decimal):
        return str(arg)
    if isinstance(arg, datetime):
        return "TIME " + arg.isoformat().replace("+00:00", "Z")
    if isinstance(arg, date):
        return "DATE " + arg.isoformat()
    return ""


def _coerce(value: str, like: Operand) -> Decimal | datetime | date | None:
    """Read an attribute value as the operand's type; None when it is not one (so it does not match)."""
    v = value.strip()
    try:
        if isinstance(like, Decimal):
            return Decimal(v) if _NUMBER.fullmatch(v) else None
        if isinstance(like, datetime):
            return _parse_time(v) if _TIME.fullmatch(v) else None
        if isinstance(like, date):
            if _DATE.fullmatch(v):
                return date.fromisoformat(v)
            return _parse_time(v).date() if _TIME.fullmatch(v) else None
    except (ValueError, InvalidOperation):
        return None
    return None


def _compare(op: str, left: Decimal | datetime | date, right: Operand) -> bool:
    if op == "=":
        return left == right
    if op == "<":
        return left < right  # type: ignore[operator]
    if op == "<=":
        return left <= right  # type: ignore[operator]
    if op == ">":
        return left > right  # type: ignore[operator]
    if op == ">=":
        return left >= right  # type: ignore[operator]
    return False


def _parse_time(text: str) -> datetime:
    frac = re.search(r"\.([0-9]+)", text)
    if frac and len(frac.group(1)) > 6:  # Python keeps microseconds; compare at that precision
        text = text.replace(frac.group(0), "." + frac.group(1)[:6])
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t.astimezone(UTC)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        m = _SPACE.match(self.text, self.pos)
        self.pos = m.end() if m else self.pos

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    def fail(self, what: str) -> QueryError:
        return QueryError(f"{what} at position {self.pos} of query {self.text!r}")

    def take(self, pattern: re.Pattern[str], what: str) -> str:
        self.skip()
        m = pattern.match(self.text, self.pos)
        if not m:
            raise self.fail(f"expected {what}")
        self.pos = m.end()
        return m.group(0)

    def word(self) -> str | None:
        self.skip()
        m = _WORD.match(self.text, self.pos)
        return m.group(0) if m else None

    def keyword(self, kw: str) -> bool:
        w = self.word()
        if w is not None and w.upper() == kw:
            self.pos += len(w)
            return True
        return False


def parse_query(text: object) -> Query:
    """Parse a query string; raises QueryError (never anything else) on any malformed input."""
    if not isinstance(text, str):
        raise QueryError("query must be a string")
    if len(text) > MAX_QUERY_LEN:
        raise QueryError(f"query is longer than {MAX_QUERY_LEN} characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise QueryError("query is not valid Unicode text (lone surrogate)") from None
    s = _Scanner(text)
    if s.at_end():
        raise QueryError("query is empty")
    conds = [_condition(s)]
    while not s.at_end():
        if not s.keyword("AND"):
            raise s.fail("expected AND")
        conds.append(_condition(s))
        if len(conds) > MAX_CONDITIONS:
            raise QueryError(f"query has more than {MAX_CONDITIONS} conditions")
    return Query(tuple(conds))


def _condition(s: _Scanner) -> Condition:
    tag = s.take(_TAG, "a tag")
    if tag.upper() in ("AND", "EXISTS", "CONTAINS", "TIME", "DATE"):
        raise s.fail(f"{tag!r} is a keyword, not a tag")
    if s.keyword("EXISTS"):
        return Condition(tag, "EXISTS")
    if s.keyword("CONTAINS"):
        arg = _value(s)
        if not isinstance(arg, str):
            raise s.fail("CONTAINS needs a quoted string")
        return Condition(tag, "CONTAINS", arg)
    s.skip()
    op = next((o for o in ("<=", ">=", "=", "<", ">") if s.text.startswith(o, s.pos)), None)
    if op is None:
        raise s.fail("expected an operator (=, <, <=, >, >=, CONTAINS, EXISTS)")
    s.pos += len(op)
    arg = _value(s)
    if isinstance(arg, str) and op != "=":
        raise s.fail(f"operator {op} needs a number, TIME or DATE, not a string")
    return Condition(tag, op, arg)


def _value(s: _Scanner) -> Operand:
    s.skip()
    if s.text.startswith("'", s.pos):
        end = s.text.find("'", s.pos + 1)
        if end < 0:
            raise s.fail("unterminated string")
        v = s.text[s.pos + 1 : end]
        s.pos = end + 1
        return v
    if s.keyword("TIME"):
        t = s.take(_TIME, "an RFC 3339 time")
        try:
            return _parse_time(t)
        except ValueError as e:
            raise s.fail(f"invalid time {t!r}") from e
    if s.keyword("DATE"):
        d = s.take(_DATE, "a date YYYY-MM-DD")
        try:
            return date.fromisoformat(d)
        except ValueError as e:
            raise s.fail(f"invalid date {d!r}") from e
    n = s.take(_NUMBER, "a value ('string', number, TIME or DATE)")
    return Decimal(n)

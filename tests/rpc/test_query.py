"""The CometBFT query language: parsing, printing, matching; malformed input is only ever QueryError."""

from __future__ import annotations

import contextlib
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.rpc.query import Condition, Query, QueryError, parse_query

EV = {"tm.event": ["Tx"], "tx.height": ["5"], "lg.id": ["LG-1", "LG-2"], "lg.amount": ["100000"],
      "lg.status": ["ISSUED"], "lg.expires": ["2026-03-01T00:00:00Z"], "lg.day": ["2026-03-01"]}


@pytest.mark.parametrize(("q", "expected"), [
    ("tm.event='Tx'", True),
    ("tm.event = 'Tx' AND lg.id='LG-2'", True),
    ("lg.id='LG-3'", False),
    ("tx.height=5", True), ("tx.height>4", True), ("tx.height>=5", True), ("tx.height<5", False),
    ("tx.height<=5.0", True), ("tx.height > 5", False),
    ("lg.amount>99999.5", True),
    ("lg.id CONTAINS 'G-'", True), ("lg.status CONTAINS 'XX'", False),
    ("lg.id EXISTS", True), ("bank.code EXISTS", False),
    ("lg.expires > TIME 2026-02-28T23:59:59Z", True), ("lg.expires < TIME 2026-03-01T00:00:00.5Z", True),
    ("lg.day = DATE 2026-03-01", True), ("lg.expires >= DATE 2026-03-02", False),
    ("lg.status > 5", False),  # a non-number never satisfies a numeric comparison
    ("tm.event='Tx' and lg.id exists", True),  # keywords in either case
])
def test_matching(q: str, expected: bool) -> None:
    assert parse_query(q).matches(EV) is expected


@pytest.mark.parametrize("q", [
    "", "   ", "tm.event", "tm.event=", "tm.event='Tx", "='x'", "a='x' AND", "a='x' OR b='y'", "a<'x'",
    "a CONTAINS 5", "a=TIME 2020-13-01T00:00:00Z", "a=DATE 2020-02-30", "a='x' b='y'", "1a='x'",
    "AND='x'", "a=5x", "a='x'" + " AND a='x'" * 40, "a=" + "1" * 3000,
])
def test_malformed(q: str) -> None:
    with pytest.raises(QueryError):
        parse_query(q)


def test_non_string() -> None:
    with pytest.raises(QueryError):
        parse_query(5)


TAGS = st.from_regex(r"[a-z_][a-z0-9_]{0,6}(\.[a-z0-9_]{1,6}){0,2}", fullmatch=True).filter(
    lambda t: t.upper() not in ("AND", "EXISTS", "CONTAINS", "TIME", "DATE"))
STRINGS = st.text(st.characters(exclude_characters="'", exclude_categories=["Cs"]), max_size=12)
NUMBERS = st.decimals(min_value=-10**12, max_value=10**12, places=2, allow_nan=False)
OPERANDS = st.one_of(
    st.tuples(st.just("="), STRINGS), st.tuples(st.just("CONTAINS"), STRINGS),
    st.tuples(st.sampled_from(["=", "<", "<=", ">", ">="]), NUMBERS),
    st.tuples(st.sampled_from(["=", "<", ">="]), st.dates(min_value=date(1970, 1, 1), max_value=date(2999, 1, 1))),
    st.tuples(st.just("EXISTS"), st.none()),
)
CONDS = st.builds(lambda t, o: Condition(t, o[0], o[1]), TAGS, OPERANDS)


@given(st.lists(CONDS, min_size=1, max_size=6))
def test_print_parse_round_trip(conds: list[Condition]) -> None:
    q = Query(tuple(conds))
    again = parse_query(str(q))
    assert [(c.tag, c.op) for c in again.conditions] == [(c.tag, c.op) for c in conds]
    for a, b in zip(again.conditions, conds, strict=True):
        assert a.operand == b.operand or (isinstance(b.operand, Decimal) and Decimal(a.operand) == b.operand)  # type: ignore[arg-type]


@given(st.text(max_size=80))
def test_garbage_raises_only_query_error(text: str) -> None:
    with contextlib.suppress(QueryError):
        parse_query(text)


@given(st.lists(CONDS, min_size=1, max_size=4), st.dictionaries(TAGS, st.lists(STRINGS, max_size=3), max_size=5))
def test_and_is_conjunction(conds: list[Condition], events: dict[str, list[str]]) -> None:
    q = Query(tuple(conds))
    assert q.matches(events) == all(Query((c,)).matches(events) for c in conds)


@given(TAGS, STRINGS, st.lists(STRINGS, max_size=4))
def test_equality_is_any_value(tag: str, value: str, others: list[str]) -> None:
    q = parse_query(f"{tag}='{value}'")
    assert q.matches({tag: [*others, value]})
    assert q.matches({tag: others}) == (value in others)

"""The field rules of a requirement (T1) and of an issue (T3) against the shared checks run one by one.

`publish_requirement` and `issue_guarantee` write each field rule as one inline test (no call per rule on the
accepted path). What must not happen is the hazard of the form they had before: a combined test in front of
the checks, so a rule added to the checks but not to the test was skipped. Here the reference is the checks
as the other handlers use them (`signer_is`, `_type_ok`, `positive_amount`, `doc_hash_ok`, `future_time`),
in the documented order; hypothesis draws bodies and signers on both sides of every rule's boundary. A rule
that one side has and the other lacks (or a shared check whose rule changes) makes the verdicts differ.

The handlers run for real, on a context over an empty in-memory store: a requirement that passes its field
rules is stored; an issue that passes them is refused next for its unknown applicant (UNKNOWN_SUPPLIER), the
first rule after the field rules.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from state import errors as E
from state.errors import TxError
from state.issuance import _type_ok, issue_guarantee, publish_requirement
from state.kv import MemoryKV
from state.lg_core import doc_hash_ok, future_time, positive_amount
from state.registry import AGENCY, BANK, SUPPLIER, signer_is
from state.store import Ctx, Overlay
from state.txs import IssueGuarantee, PublishRequirement

NOW = 1_800_000_000_000

# each field mostly valid, else on or near a boundary, so that most examples break one rule or none: a rule
# that only one side has is then reached often (four of five fields valid at once)


def _mostly(valid: list[object], other: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.sampled_from(valid), st.sampled_from(valid), st.sampled_from(valid), other)


def kinds(valid: str) -> st.SearchStrategy[object]:
    return _mostly([valid], st.sampled_from([AGENCY, BANK, SUPPLIER, "REGISTRAR"]))


lg_types = _mostly(["BID", "PERF", "ADV", "RET", "WARR"], st.sampled_from(["", "bid", "OTHER"]) | st.text(max_size=4))
amounts = _mostly([1, 100_00, 2**40], st.sampled_from([-1, 0, 1]) | st.integers(-(2**40), 2**40))
times = _mostly([NOW + 1, NOW + 2, 2 * NOW], st.sampled_from([0, NOW - 1, NOW, NOW + 1]) | st.integers(0, 2 * NOW))
deadlines = st.sampled_from([0, 0, 0, NOW - 1, NOW, NOW + 1, NOW + 2]) | st.integers(0, 2 * NOW)
names = _mostly(["R-1", "KTB-PERF-0101"], st.sampled_from(["", "A:B", "A/B", "/", ":"]) | st.text(max_size=6))
doc_hashes = _mostly([b"", b"\x02" * 32], st.binary(max_size=40))


def _ctx(kind: str) -> Ctx:
    ctx = Ctx(Overlay(MemoryKV()), NOW, 7)
    ctx.signer_kind, ctx.signer_id, ctx.signer_addr, ctx.tx_hash = kind, "X01", b"\x05" * 20, b"\x06" * 32
    return ctx


def _verdict(fn: object, *args: object) -> tuple[int, str] | None:
    try:
        fn(*args)  # type: ignore[operator]
    except TxError as err:
        return err.code, err.log
    return None


def _reference_requirement_fields(ctx: Ctx, b: PublishRequirement) -> None:
    signer_is(ctx, AGENCY, "publishing a security requirement")
    _type_ok(b.type)
    positive_amount(b.min_amount)
    if not b.req_id or ":" in b.req_id or "/" in b.req_id:
        raise TxError(E.BAD_FIELD, field="req_id", reason="must be non-empty without ':' or '/'")
    future_time(ctx, "must-cover-until", b.must_cover_until)
    if b.type == "BID":
        future_time(ctx, "bid deadline", b.bid_deadline)
    elif b.bid_deadline:
        raise TxError(E.BAD_FIELD, field="bid_deadline", reason="only a BID requirement has a bid deadline")


def _reference_issue_fields(ctx: Ctx, b: IssueGuarantee) -> None:
    signer_is(ctx, BANK, "issuing a guarantee")
    _type_ok(b.type)
    positive_amount(b.amount)
    doc_hash_ok(b.doc_hash)
    if not b.ref or "/" in b.ref:
        raise TxError(E.BAD_FIELD, field="ref", reason="must be non-empty without '/'")
    future_time(ctx, "expiry", b.expiry)


@settings(max_examples=400, deadline=None)  # no wall-clock limit: a loaded machine is not a failure
@given(kind=kinds(AGENCY), req_id=names, type_=lg_types, min_amount=amounts, cover=times, deadline=deadlines)
def test_requirement_field_rules_are_the_shared_checks(kind: str, req_id: str, type_: str, min_amount: int,
                                                       cover: int, deadline: int) -> None:
    b = PublishRequirement(req_id, "P-1", "1", type_, min_amount, cover, deadline, "F")
    want = _verdict(_reference_requirement_fields, _ctx(kind), b)
    ctx = _ctx(kind)
    got = _verdict(publish_requirement, ctx, b)
    assert got == want
    if want is None:  # stored, with its event
        assert [e.type for e in ctx.events] == ["req"]


@settings(max_examples=400, deadline=None)  # no wall-clock limit: a loaded machine is not a failure
@given(kind=kinds(BANK), ref=names, type_=lg_types, amount=amounts, expiry=times, doc_hash=doc_hashes)
def test_issue_field_rules_are_the_shared_checks(kind: str, ref: str, type_: str, amount: int, expiry: int,
                                                 doc_hash: bytes) -> None:
    b = IssueGuarantee(ref, "", type_, "0105550001232", "CGD:R-1", 1, amount, expiry, True, False, False, False,
                       doc_hash, "")
    want = _verdict(_reference_issue_fields, _ctx(kind), b)
    got = _verdict(issue_guarantee, _ctx(kind), b)
    if want is None:  # past the field rules: the next rule refuses the unknown applicant
        assert got is not None and got[0] == E.UNKNOWN_SUPPLIER.code
    else:
        assert got == want

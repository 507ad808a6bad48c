"""A guarantee's index keys as `lg_core._store` writes them (built with their namespace, in order) are the keys of
`index_keys` / `_state_index_keys` with the namespace, sorted as the store writes them: whatever its status,
expiry, pending amendment or demand and obligation end."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from state.lg_core import _new_index_keys, _state_index_keys, _state_index_set, index_keys
from state.records import LIVE, TERMINAL, Amendment, Guarantee, PendingDemand
from state.store import NS_INDEX

_text = st.text(st.characters(blacklist_characters="/", blacklist_categories=["Cs"]), min_size=1, max_size=8)


@settings(max_examples=400, deadline=None)
@given(lg_id=_text, bank=_text, agency=_text, supplier=_text, requirement=_text,
       status=st.sampled_from(sorted(LIVE | TERMINAL)), expiry=st.integers(0, 10**13 - 1),
       amended=st.booleans(), demanded=st.booleans(), obligation_end=st.sampled_from([0, 1, 10**12]))
def test_index_keys_built_in_order_are_the_sorted_index_keys(lg_id: str, bank: str, agency: str, supplier: str,
                                                             requirement: str, status: str, expiry: int,
                                                             amended: bool, demanded: bool,
                                                             obligation_end: int) -> None:
    g = Guarantee(lg_id, bank, "REF", "PERF", supplier, agency, requirement, 1, 100, 0, 100, 0, expiry, True, True,
                  True, False, b"", 1, status, 0, PendingDemand(1, 5, 0, b"", 0, 0, 0) if demanded else None, 0,
                  Amendment(1, 2, b"", 0) if amended else None, "", "", "", obligation_end, 0, 0, 1, b"")
    f = g.__dict__
    assert _new_index_keys(f) == sorted(NS_INDEX + k for k in index_keys(g))
    assert _state_index_set(f) == {NS_INDEX + k for k in _state_index_keys(g)}

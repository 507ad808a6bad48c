"""Interned event attributes: the indexed (key, value) pairs the domain emits, one shared record per pair.

Why a module of its own: this is a bounded, process-wide memo of records (state/store.py's `Ctx.emit` reads it
inline; it re-exports these names), with its own bound and its own reason to change.
"""

from __future__ import annotations

from state.chain import EventAttribute

# key -> value -> the interned attribute (two levels: no (key, value) tuple to build and hash per attribute)
_ATTRS: dict[str, dict[str, EventAttribute]] = {}
_ATTRS_MAX = 16_384  # bounded (emptied when full): ~2.5 MB at most
_attrs_count = 0


def _attr(key: str, value: str) -> EventAttribute:
    """An indexed attribute, interned: a block repeats the same (key, value) pairs (bank, type, status,
    action, a guarantee's id across its transitions) thousands of times (13 % of a workload block's pairs are
    distinct), and a frozen record can be shared. Identity never reaches a hash or a stored byte."""
    global _attrs_count
    by_value = _ATTRS.get(key)
    a = None if by_value is None else by_value.get(value)
    if a is None:
        if _attrs_count >= _ATTRS_MAX:
            _ATTRS.clear()
            _attrs_count = 0
        by_value = _ATTRS.get(key)
        if by_value is None:
            by_value = _ATTRS[key] = {}
        a = by_value[value] = EventAttribute(key, value, True)
        _attrs_count += 1
    return a

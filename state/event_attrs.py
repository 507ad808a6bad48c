"""Interned event attributes: the indexed (key, value) pairs the domain emits, one shared record per pair.

Why a module of its own: this is a bounded, process-wide memo of records (state/store.py's `Ctx.emit_values`
reads it inline; it re-exports these names), with its own bound and its own reason to change.

Threads: the commit thread (finalize_block) and the loop (the RPC `check_tx` simulation runs the full rules) both
emit. Every step here is one dict operation (atomic under the GIL) or works on a snapshot, so a concurrent emit
can only make an attribute be interned twice or the bound be approximate: never a different attribute.
"""

from __future__ import annotations

from state.chain import EventAttribute

# key -> value -> the interned attribute (two levels: no (key, value) tuple to build and hash per attribute).
# The per-key dicts are never replaced while their key is known (the bound empties them in place), so a caller
# may hold them: `dicts_of` gives an event's keys' dicts once, and `Ctx.emit_values` looks every value up at once
# (`map(dict.get, dicts, values)`, ~0.35 against ~1.1 us for an `lg` event's eight attributes).
_ATTRS: dict[str, dict[str, EventAttribute]] = {}
_ATTRS_MAX = 16_384  # bounded (every per-key dict emptied when full): ~2.5 MB at most
_KEYS_MAX = 1_024  # distinct keys (the domain's are literals: a few dozen); past it everything is forgotten
_attrs_count = 0
# an event's keys (in order) -> the per-key dicts of `_ATTRS`, in the same order
_DICTS: dict[tuple[str, ...], tuple[dict[str, EventAttribute], ...]] = {}


def _key_dict(key: str) -> dict[str, EventAttribute]:
    """The per-key dict of `key`, made on its first use."""
    by_value = _ATTRS.get(key)
    if by_value is None:
        if len(_ATTRS) >= _KEYS_MAX:
            _ATTRS.clear()
            _DICTS.clear()
        by_value = _ATTRS[key] = {}
    return by_value


def dicts_of(keys: tuple[str, ...]) -> tuple[dict[str, EventAttribute], ...]:
    """The per-key dicts of `keys`, in order (the miss path of `_DICTS`)."""
    dicts = tuple(_key_dict(k) for k in keys)
    if len(_DICTS) >= _KEYS_MAX:
        _DICTS.clear()
    _DICTS[keys] = dicts
    return dicts


def _attr(key: str, value: str) -> EventAttribute:
    """An indexed attribute, interned: a block repeats the same (key, value) pairs (bank, type, status,
    action, a guarantee's id across its transitions) thousands of times (13 % of a workload block's pairs are
    distinct), and a frozen record can be shared. Identity never reaches a hash or a stored byte."""
    global _attrs_count
    by_value = _ATTRS.get(key)
    a = None if by_value is None else by_value.get(value)
    if a is None:
        if _attrs_count >= _ATTRS_MAX:
            # emptied in place: `_DICTS` and callers keep the same dicts. Over a snapshot (`list` is one C call):
            # the RPC's check_tx simulation emits on the loop while the commit thread executes a block, and a key
            # added there during a Python loop over `_ATTRS` itself would raise here (a tx's result on one node)
            for d in list(_ATTRS.values()):
                d.clear()
            _attrs_count = 0
        a = _key_dict(key)[value] = EventAttribute(key, value, True)
        _attrs_count += 1
    return a

"""The step that the overlay's model tests share: a write, a delete or a tx boundary applied to an `Overlay` and
to a plain dict that models it (with a copy of the dict for the open tx)."""

from __future__ import annotations

from state.store import Overlay

Model = dict[bytes, bytes]


def overlay_step(o: Overlay, op: str, key: bytes, value: bytes, model: Model, snapshot: Model | None
                 ) -> tuple[Model, Model | None]:
    """`op` ("put", "del", "begin", "keep", "rollback") on `o` and on the model; returns the model and the
    open tx's snapshot. Any other op, a "begin" inside a tx or a "keep"/"rollback" outside one leaves both."""
    if op == "put":
        o.put(key, value)
        model[key] = value
    elif op == "del":
        o.delete(key)
        model.pop(key, None)
    elif op == "begin" and snapshot is None:
        o.begin()
        snapshot = dict(model)
    elif op == "keep" and snapshot is not None:
        o.keep()
        snapshot = None
    elif op == "rollback" and snapshot is not None:
        o.rollback()
        model, snapshot = snapshot, None
    return model, snapshot

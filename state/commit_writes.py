"""What a block's commit writes: the state writes an overlay holds, the trie's changes, the state cache's
entries and the batch of records and trie nodes.

Why a module of its own: these are pure functions of an overlay (no application state), shared by
`Application.init_chain` and `Application.commit` (state/abci.py); they change with the storage layout, the
application with the ABCI calls.
"""

from __future__ import annotations

from hashlib import sha256 as _sha256

from state.kv import Batch
from state.records import Account, Institution, Params, Supplier
from state.store import NS_STATE, NS_TRIE, Overlay


def _state_writes(overlay: Overlay) -> list[tuple[bytes, bytes | None]]:
    """The overlay's writes of state records (key with its namespace, value or None): the trie's changes, the
    key filter's new keys and the state cache's entries come from this one pass over the block's writes."""
    overlay.pack_records()  # the accounts `put_rec` wrote, packed once each (execute.bump_nonce)
    s = NS_STATE[0]
    return [(k, v) for k, v in overlay.writes.items() if k[0] == s]


def _trie_changes(state_writes: list[tuple[bytes, bytes | None]]) -> dict[bytes, bytes | None]:
    h = _sha256  # hashlib's constructor straight (crypto.sha256 is this, behind a Python call)
    return {h(k[1:]).digest(): (None if v is None else h(v).digest()) for k, v in state_writes}


# the records the state cache keeps decoded across blocks: the small registry records every tx reads (its
# signer's account and institution or supplier, the params). The others (guarantees: 2.5 KB decoded against
# ~0.4 KB of bytes; requirements, requests...) are kept as bytes: they are read again once or twice, and
# decoding one (`unpack`, 2.4 us for a guarantee) is cheap next to the LevelDB read the cache saves.
# Measured at 30,559 entries after 25 blocks of app_bench: 968 bytes an entry with every record decoded.
_DECODED_ACROSS_BLOCKS = frozenset({Account, Institution, Supplier, Params})


def _committed_entries(overlay: Overlay, state_writes: list[tuple[bytes, bytes | None]],
                       young: dict[bytes, tuple[bytes | None, object]]) -> dict[bytes, tuple[bytes | None, object]]:
    """What the block read from the committed state and what it wrote there, with the decoded registry
    records the overlay holds for them: the entries of `StateCache` after this block's commit. A read the
    cache's young generation already holds (the same committed value) is left out: adding it again would
    change nothing there (`StateCache.update` adds to the young generation before it may turn it old)."""
    writes, get, keep = overlay.writes, overlay.objs.get, _DECODED_ACROSS_BLOCKS
    s = NS_STATE[0]
    out = {k: (v, o if (o := get(k)).__class__ in keep else None)
           for k, v in (overlay._reads or {}).items() if k[0] == s and k not in writes and k not in young}
    out.update({k: (v, o if (o := get(k)).__class__ in keep else None) for k, v in state_writes})
    return out


def _write_overlay(batch: Batch, overlay: Overlay, trie_writes: list[tuple[bytes, bytes | None]]) -> None:
    """The block's records and trie nodes into `batch`, as two bulk extends (`Batch.extend`)."""
    overlay.pack_records()  # a no-op after `_state_writes` (nothing writes the overlay in between)
    batch.extend(overlay.writes.items())
    batch.prefixed(NS_TRIE).extend(trie_writes)

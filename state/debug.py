"""Where do two nodes' states diverge? Hash the state by record kind, the indexes, and the trie's top.

`subtree_hashes(kv)` takes the application's KV namespace (the same view the node gives `Application`)
at its committed height and returns `[(name, count, hash)]`, sorted by name:
- `state/<kind>`  every record whose key starts with `<kind>/` (lg, acct, cc, rt, val, ...):
                  RFC-6962 Merkle root over sha256(len(key) ‖ key ‖ value) in key order;
- `history/lgev`  the guarantees' hash-chained events, the same way;
- `index/<kind>`  the derived indexes, the same way (they are not in the app hash, so a bug there shows
                  here first);
- `trie/<bits>`   the trie's node hashes at depth <= 4 (`trie/` is the root = the app hash), so a
                  divergence can be followed down the authenticated structure.
Two nodes at the same height print the same list; the first differing line names the culprit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from state.crypto import sha256
from state.kv import KV
from state.merkle import merkle_root
from state.store import NS_HIST, NS_INDEX, NS_META, NS_STATE, NS_TRIE
from state.trie import Trie, node_hash

if TYPE_CHECKING:
    from state.abci_types import RequestFinalizeBlock, RequestInitChain


def _kind_of(key: bytes) -> str:
    head, sep, _ = key.partition(b"/")
    return head.decode("utf-8", "replace") if sep else "(root)"


def _namespace_hashes(kv: KV, ns: bytes, label: str) -> list[tuple[str, int, bytes]]:
    groups: dict[str, list[bytes]] = {}
    order: list[str] = []
    for k, v in kv.iterate(prefix=ns):
        key = k[len(ns):]
        kind = _kind_of(key)
        if kind not in groups:
            groups[kind] = []
            order.append(kind)
        groups[kind].append(sha256(len(key).to_bytes(4, "big") + key + v))
    return [(f"{label}/{kind}", len(groups[kind]), merkle_root(groups[kind])) for kind in sorted(order)]


def _trie_hashes(kv: KV, max_depth: int = 4) -> list[tuple[str, int, bytes]]:
    trie = Trie(kv.prefixed(NS_TRIE))
    out: list[tuple[str, int, bytes]] = []
    frontier = [(0, 0)]
    while frontier:
        depth, prefix = frontier.pop(0)
        node = trie.node(depth, prefix)
        if node is None:
            continue
        bits = format(prefix, f"0{depth}b") if depth else ""
        out.append((f"trie/{bits}", depth, node_hash(node)))
        if node[0] == b"I" and depth < max_depth:
            frontier += [(depth + 1, prefix << 1), (depth + 1, (prefix << 1) | 1)]
    return out


def subtree_hashes(kv: KV) -> list[tuple[str, int, bytes]]:
    """(name, count or depth, hash) for every record kind, index kind and the trie's top levels."""
    meta = kv.get(NS_META + b"height")
    height = int.from_bytes(meta, "big") if meta else 0
    rows = [("height", height, (kv.get(NS_META + b"app_hash") or b""))]
    rows += _namespace_hashes(kv, NS_STATE, "state")
    rows += _namespace_hashes(kv, NS_HIST, "history")
    rows += _namespace_hashes(kv, NS_INDEX, "index")
    rows += _trie_hashes(kv)
    return rows


def render(rows: list[tuple[str, int, bytes]]) -> str:
    """Plain text lines: `name  count  hash`, for `egp debug app-hash`."""
    return "\n".join(f"{name:<28} {count:>10} {h.hex().upper()}" for name, count, h in rows)


def subtree_hashes_at(genesis: RequestInitChain, blocks: Iterable[RequestFinalizeBlock], height: int,
                      kv: KV | None = None) -> list[tuple[str, int, bytes]]:
    """`subtree_hashes` of the state after block `height`, rebuilt by replaying the chain from genesis on a
    fresh store (the application keeps only its latest state). `blocks` are the finalize requests of heights
    initial_height, initial_height + 1, ... (from the block store); replay stops after `height`."""
    from state.abci import Application
    from state.kv import MemoryKV

    app = Application(kv if kv is not None else MemoryKV())
    app.init_chain(genesis)
    for req in blocks:
        if req.height > height:
            break
        app.finalize_block(req)
        app.commit()
    if app.height != height:
        raise ValueError(f"replay reached height {app.height}, not {height}")
    return subtree_hashes(app.kv)

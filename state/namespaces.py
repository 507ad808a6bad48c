"""The application's KV namespaces, and the scan marks of the index families the key filter covers.

Layout of the application's KV namespace (the node hands the app a prefixed view of its LevelDB):
    s<key>   state records (authenticated: every one is a leaf of the trie)
    h<key>   guarantee histories: LgEvents, hash-chained; the chain's head (`Guarantee.last_event_hash`)
             is in a trie leaf, so the app hash commits to every event without a leaf per event
    i<key>   secondary indexes derived from the records (not hashed; same atomic batch)
    t<pos>   trie nodes
    m<name>  metadata: height, app hash, last FinalizeBlock response

Why a module of its own: the layout is read by the storage code (state/store.py, which re-exports these
names), the queries, the reports and the debug tools alike; it changes with the stored format, not with them.
"""

from __future__ import annotations

NS_STATE, NS_INDEX, NS_TRIE, NS_META, NS_HIST = b"s", b"i", b"t", b"m", b"h"

# Index families whose prefix scans the key filter (`KeyFilter`) can prove empty: the open credit requests of a
# (bank, supplier) pair, scanned by every credit confirmation issued (state/credit.py `_fulfil_request`) and
# nearly always empty. A LevelDB range scan costs 30-100 us of CPU (an iterator over the memtables and every
# table level, then a seek): 8 % of the node's commit thread at 1,500 tx/s. The filter holds a mark for every
# prefix ending in '/' of every committed key of these families (`scan_marks`), so a scan under a prefix
# ending in '/' that has no mark finds nothing in the committed store.
SCAN_FILTERED: tuple[bytes, ...] = (NS_INDEX + b"ccrq/",)


def scan_marks(key: bytes) -> list[bytes]:
    """The prefixes of `key` (a full key, namespace included) that end with '/': a scan under a prefix that
    ends with '/' finds `key` only if that prefix is one of them. The marks are index keys' prefixes ('i...'),
    so they never stand for a state key ('s...') in the filter."""
    out = []
    i = key.find(b"/")
    while i >= 0:
        out.append(key[:i + 1])
        i = key.find(b"/", i + 1)
    return out

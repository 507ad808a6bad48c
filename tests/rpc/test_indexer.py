"""The tx/block index: written in the caller's batch, exact search (checked against a brute-force model); a tx
record points at its block and results in the block store, which the helpers here write in the same batch, as
the node does."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.blockstore import BlockStore
from node.indexer import Indexer
from node.rpc.query import parse_query
from node.rpc.services import BlockResultsView, EventAttribute, EventView, TxResultView
from node.txrecord import SearchError
from state.chain import Block, BlockID, Commit, FinalizeBlockResult, Header, PartSetHeader
from state.crypto import sha256
from state.kv import Batch, MemoryKV
from state.kv_level import LevelKV

Z = b"\x00" * 32


def _block(height: int, txs: list[bytes]) -> Block:
    """A block of `txs` at `height` (placeholder hashes: nothing here validates a block)."""
    hdr = Header(11, 1, "egp-test", height, 1_736_935_200_000 + height, BlockID(sha256(b"%d" % height),
                 PartSetHeader(1, Z)), Z, Z, Z, Z, Z, b"", Z, Z, b"\x01" * 20)
    return Block(hdr, tuple(txs), (), Commit.empty())


def _save(kv: MemoryKV | LevelKV, batch: Batch, block: Block, results: BlockResultsView) -> None:
    """The block and its results into the block store, in the index's batch (what a tx record points at)."""
    store = BlockStore(kv)
    store.save_block(block, Commit(block.header.height, 0, block.block_id(), ()), batch)
    store.save_results(block.header.height, FinalizeBlockResult(results.finalize_block_events, results.tx_results,
                                                                (), b"", Z), batch)


def _result(attrs: list[tuple[str, str, bool]]) -> TxResultView:
    return TxResultView(events=(EventView("lg", tuple(EventAttribute(k, v, i) for k, v, i in attrs)),))


def _index(ix: Indexer, kv: MemoryKV | LevelKV, height: int, txs: list[tuple[bytes, TxResultView]],
           block_attrs: tuple[EventAttribute, ...] = ()) -> None:
    batch = kv.batch()
    block = _block(height, [t for t, _ in txs])
    results = BlockResultsView(height, tuple(r for _, r in txs), (EventView("blk", block_attrs),))
    _save(kv, batch, block, results)
    ix.index_block(batch, block, results)
    assert ix.get_tx(sha256(txs[0][0])) is None if txs else True  # nothing visible before the commit
    batch.commit()


def test_level_index_lookup_and_search(tmp_path: Path) -> None:
    kv = LevelKV(str(tmp_path / "db"))
    try:
        ix = Indexer(kv)
        _index(ix, kv, 1, [(b"t1", _result([("id", "LG-1", True), ("bank", "KBANK", True), ("amt", "500", True)])),
                           (b"t2", _result([("id", "LG-2", True), ("bank", "SCB", True), ("note", "x", False)]))],
               (EventAttribute("expired", "0", True),))
        _index(ix, kv, 2, [(b"t3", _result([("id", "LG-1", True), ("status", "ACTIVE", True)]))],
               (EventAttribute("expired", "2", True),))
        rec = ix.get_tx(sha256(b"t2"))
        assert rec is not None and (rec.height, rec.index, rec.tx) == (1, 1, b"t2")
        assert rec.result.events[0].attributes[2] == EventAttribute("note", "x", False)

        def heights(q: str) -> list[tuple[int, int]]:
            return [(h, i) for h, i, _ in ix.search_txs(parse_query(q))]

        assert heights("lg.id='LG-1'") == [(1, 0), (2, 0)]
        assert heights("tm.event='Tx' AND lg.id='LG-1' AND tx.height>1") == [(2, 0)]
        assert heights("lg.bank CONTAINS 'BANK'") == [(1, 0)]
        assert heights("lg.amt >= 500 AND lg.amt < 501") == [(1, 0)]
        assert heights("lg.note='x'") == []  # not marked for indexing: never silently matched
        assert heights("lg.status EXISTS") == [(2, 0)]
        assert heights(f"tx.hash='{sha256(b't3').hex().upper()}'") == [(2, 0)]
        assert heights("tx.height=1") == [(1, 0), (1, 1)]
        assert heights("tm.event='NewBlock'") == []
        assert heights("tm.event='Tx'") == [(1, 0), (1, 1), (2, 0)]
        assert ix.search_blocks(parse_query("blk.expired > 0")) == [2]
        assert ix.search_blocks(parse_query("block.height <= 2 AND blk.expired EXISTS")) == [1, 2]
        assert ix.search_blocks(parse_query("tm.event='NewBlock' AND block.height=1")) == [1]
    finally:
        kv.close()


def test_too_broad_a_scan_is_an_error_not_a_truncation(monkeypatch: pytest.MonkeyPatch) -> None:
    import node.indexer as mod

    kv = MemoryKV()
    ix = Indexer(kv)
    _index(ix, kv, 1, [(bytes([i]), _result([("id", str(i), True)])) for i in range(10)])
    monkeypatch.setattr(mod, "MAX_RESULTS", 5)
    with pytest.raises(SearchError):
        ix.search_txs(parse_query("lg.id EXISTS"))


VALUES = st.sampled_from(["a", "b", "10", "2", "-3", "ab"])
ATTRS = st.lists(st.tuples(st.sampled_from(["x", "y", "z"]), VALUES, st.booleans()), max_size=3)
QUERIES = st.lists(st.one_of(
    st.builds(lambda k, v: f"lg.{k}='{v}'", st.sampled_from("xyz"), VALUES),
    st.builds(lambda k, op, n: f"lg.{k}{op}{n}", st.sampled_from("xyz"), st.sampled_from(["<", "<=", ">", ">=", "="]),
              st.integers(-5, 12)),
    st.builds(lambda k: f"lg.{k} EXISTS", st.sampled_from("xyz")),
    st.builds(lambda k, v: f"lg.{k} CONTAINS '{v}'", st.sampled_from("xyz"), VALUES),
    st.builds(lambda op, n: f"tx.height{op}{n}", st.sampled_from(["<", "<=", ">", ">=", "="]), st.integers(-1, 5)),
    st.just("tm.event='Tx'"),
), min_size=1, max_size=3).map(" AND ".join)


def _workload(blocks: list[list[list[tuple[str, str, bool]]]]) -> Iterator[
        tuple[int, list[tuple[bytes, TxResultView]], list[tuple[int, bytes, dict[str, list[str]]]]]]:
    """Each height of `blocks` (txs of attributes) as the (tx, result) items to index and, per tx, its index,
    bytes and the event map a query is matched against (the brute-force model)."""
    n = 0
    for height, txs in enumerate(blocks, start=1):
        items, model = [], []
        for i, attrs in enumerate(txs):
            n += 1
            tx = f"tx{n}".encode()
            items.append((tx, _result(attrs)))
            ev: dict[str, list[str]] = {"tm.event": ["Tx"], "tx.height": [str(height)],
                                        "tx.hash": [sha256(tx).hex().upper()]}
            for k, v, indexed in attrs:
                if indexed:
                    ev.setdefault(f"lg.{k}", []).append(v)
            model.append((i, tx, ev))
        yield height, items, model


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(ATTRS, min_size=0, max_size=3), min_size=1, max_size=4), QUERIES)
def test_search_equals_brute_force(blocks: list[list[list[tuple[str, str, bool]]]], q: str) -> None:
    kv = MemoryKV()
    ix = Indexer(kv)
    model = []
    for height, items, txs in _workload(blocks):
        model += [(height, i, ev) for i, _, ev in txs]
        _index(ix, kv, height, items)
    query = parse_query(q)
    expected = [(h, i) for h, i, ev in model if query.matches(ev)]
    assert [(h, i) for h, i, _ in ix.search_txs(query)] == expected


def test_prune_removes_every_entry_below_the_retain_height() -> None:
    kv = MemoryKV()
    ix = Indexer(kv)
    for h in (1, 2, 3):
        _index(ix, kv, h, [(f"t{h}".encode(), _result([("id", f"LG-{h}", True), ("bank", "KBANK", True)]))],
               (EventAttribute("n", str(h), True),))
    before = len(list(kv.iterate(prefix=b"ix/")))
    batch = kv.batch()
    assert ix.prune(batch, 3) == 2
    batch.commit()
    assert ix.get_tx(sha256(b"t1")) is None and ix.get_tx(sha256(b"t3")) is not None
    assert [h for h, _, _ in ix.search_txs(parse_query("lg.bank='KBANK'"))] == [3]
    assert ix.search_blocks(parse_query("blk.n EXISTS")) == [3]
    assert len(list(kv.iterate(prefix=b"ix/"))) == before // 3  # nothing of heights 1 and 2 is left behind


def _index_legacy(kv: MemoryKV, height: int, txs: list[tuple[bytes, TxResultView]]) -> None:
    """What `Indexer._write` wrote before the per-block postings (a `tH` and a `ta` entry per tx, with the
    hash), for homes indexed then, with the tx record `th` of then (`[height, index, tx, result]`, no block
    in the store: the record holds all a lookup needs)."""
    import struct

    from state.fastrec import packb

    b = kv.batch().prefixed(b"ix/")
    for i, (tx, r) in enumerate(txs):
        h = sha256(tx)
        events = [[e.type, [[a.key, a.value, a.index] for a in e.attributes]] for e in r.events]
        b.put(b"th" + h, packb([height, i, tx, [r.code, r.data, r.log, r.info, r.gas_wanted, r.gas_used, events,
                                               r.codespace]]))
        hi = struct.pack(">QI", height, i)
        b.put(b"tH" + hi, h)
        for e in r.events:
            for a in e.attributes:
                if a.index:
                    key, v = f"{e.type}.{a.key}".encode(), a.value.encode()
                    b.put(b"ta" + struct.pack(">H", len(key)) + key + struct.pack(">I", len(v)) + v + hi, h)
    b.put(b"bh" + struct.pack(">Q", height), packb([]))
    b.commit()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(ATTRS, min_size=0, max_size=3), min_size=2, max_size=4), st.integers(1, 3), QUERIES)
def test_a_home_indexed_with_the_older_layout_is_searched_and_pruned_whole(
        blocks: list[list[list[tuple[str, str, bool]]]], legacy_upto: int, q: str) -> None:
    """Heights indexed with the older layout (`tH`/`ta` per tx) and later ones with the per-block postings
    (`tB`/`tP`) answer one search together, as one layout would, and prune together."""
    legacy_upto = min(legacy_upto, len(blocks) - 1)  # the last height is indexed with the new layout
    kv = MemoryKV()
    ix = Indexer(kv)
    model = []
    for height, items, txs in _workload(blocks):
        model += [(height, i, sha256(tx), ev) for i, tx, ev in txs]
        if height <= legacy_upto:
            _index_legacy(kv, height, items)
        else:
            _index(ix, kv, height, items)
    query = parse_query(q)
    assert ix.search_txs(query) == [(h, i, th) for h, i, th, ev in model if query.matches(ev)]
    batch = kv.batch()
    ix.prune(batch, len(blocks))
    batch.commit()
    assert ix.search_txs(query) == [(h, i, th) for h, i, th, ev in model if h == len(blocks) and query.matches(ev)]
    assert all(k[3:5] not in (b"tH", b"ta") for k, _ in kv.iterate(prefix=b"ix/"))  # (gone with their heights)


def test_a_block_writes_one_posting_per_attribute_value() -> None:
    """Postings are per (attribute, value, block): three txs of one bank make one entry, not three."""
    kv = MemoryKV()
    ix = Indexer(kv)
    _index(ix, kv, 7, [(b"a", _result([("bank", "KBANK", True), ("id", "1", True)])),
                       (b"b", _result([("bank", "KBANK", True), ("id", "2", True), ("bank", "KBANK", True)])),
                       (b"c", _result([("bank", "SCB", True), ("id", "3", True)]))])
    kinds = [k[3:5] for k, _ in kv.iterate(prefix=b"ix/")]
    assert kinds.count(b"tP") == 2 + 3 and kinds.count(b"tB") == 1 and kinds.count(b"th") == 3
    assert [(h, i) for h, i, _ in ix.search_txs(parse_query("lg.bank='KBANK'"))] == [(7, 0), (7, 1)]


POOL_ATTRS = [EventAttribute(k, v, i) for k in ("id", "bank", "") for v in ("A", "B", "") for i in (True, False)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from(["lg", "req", ""]),
                                   st.lists(st.integers(0, len(POOL_ATTRS) - 1), max_size=4)), max_size=3),
                min_size=1, max_size=6))
def test_shared_attribute_objects_index_as_copies_do(txs: list[list[tuple[str, list[int]]]]) -> None:
    """The writer remembers each attribute object's row and posting key (the application interns them, one
    object may serve events of several types): sharing one object, or a fresh copy each time, and attributes
    dropped and made again (ids reused) all give the same entries."""
    def result(evs: list[tuple[str, list[int]]], copy: bool) -> TxResultView:
        return TxResultView(events=tuple(
            EventView(t, tuple(EventAttribute(POOL_ATTRS[j].key, POOL_ATTRS[j].value, POOL_ATTRS[j].index) if copy
                               else POOL_ATTRS[j] for j in attrs)) for t, attrs in evs))

    got = []
    for copy in (False, True, True):  # the second copied run makes (and drops) new objects again
        kv = MemoryKV()
        ix = Indexer(kv)
        _index(ix, kv, 1, [(b"tx%d" % i, result(evs, copy)) for i, evs in enumerate(txs)])
        _index(ix, kv, 2, [(b"ty%d" % i, result(evs, copy)) for i, evs in enumerate(reversed(txs))])
        got.append(list(kv.iterate()))
    assert got[0] == got[1] == got[2]


_TEXT = st.text(max_size=12) | st.sampled_from(["", "id", "x" * 40])
_INT = st.integers(0, 2**64 - 1) | st.sampled_from([0, 127, 128, 65_536])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(
    st.binary(min_size=1, max_size=300),
    st.builds(TxResultView, st.integers(0, 2**32 - 1) | st.just(0), st.binary(max_size=8), _TEXT, _TEXT, _INT, _INT,
              st.lists(st.builds(EventView, _TEXT, st.lists(st.builds(EventAttribute, _TEXT, _TEXT, st.booleans()),
                                                            max_size=17).map(tuple)),
                       max_size=3).map(tuple), _TEXT) | st.just(TxResultView())),
    min_size=1, max_size=18), st.integers(1, 2**40), st.integers(-2, 0))
def test_tx_records_point_at_the_block_and_read_back(txs: list[tuple[bytes, TxResultView]], height: int,
                                                     short: int) -> None:
    """The tx record `th` is the 20-byte pointer (height, index, the tx's offset in the block's txs, its result's
    in the results' tx results); a lookup reads the tx from the block and its result from the block's results
    record, fields, events and attributes as they were (a block with fewer results than txs: the others'
    result is the empty one, as their records had)."""
    kv = MemoryKV()
    ix = Indexer(kv)
    batch = kv.batch()
    block = _block(height, [t for t, _ in txs])
    results = BlockResultsView(height, tuple(r for _, r in txs)[: len(txs) + short], ())
    _save(kv, batch, block, results)
    ix.index_block(batch, block, results)
    batch.commit()
    hashes = [sha256(tx) for tx, _ in txs]
    for i, (tx, r) in enumerate(txs):
        h = hashes[i]
        if h in hashes[i + 1:]:  # (a tx repeated later: its last record wins)
            continue
        ptr = kv.get(b"ix/th" + h)
        assert ptr is not None and len(ptr) == 20 and ptr[:12] == struct.pack(">QI", height, i)
        rec = ix.get_tx(h)
        want = r if i < len(results.tx_results) else TxResultView()
        assert rec is not None and (rec.height, rec.index, rec.tx, rec.result) == (height, i, tx, want)
    assert ix.get_txs(hashes) == [ix.get_tx(h) for h in hashes]  # one read of the block for them all


def _old_tx_record(height: int, index: int, tx: bytes, r: TxResultView) -> bytes:
    """A tx record as homes indexed before 2026-11-26 (session 7) hold it: `[height, index, tx, result]`."""
    from state.fastrec import packb

    events = [[e.type, [[a.key, a.value, a.index] for a in e.attributes]] for e in r.events]
    return packb([height, index, tx, [r.code, r.data, r.log, r.info, r.gas_wanted, r.gas_used, events, r.codespace]])


def test_a_home_with_the_older_tx_records_is_read_and_pruned_as_it_is() -> None:
    """Heights whose `th` records are the older 4-element arrays (session 6's homes: `tB`/`tP` postings, the
    tx and its result in the record) next to heights with pointers: lookups, searches by hash and pages give
    the same records, and pruning removes both kinds with every posting of their heights."""
    kv = MemoryKV()
    ix = Indexer(kv)
    txs = {h: [(f"t{h}-{i}".encode(), _result([("id", f"LG-{h}-{i}", True), ("bank", "KBANK", True)]))
               for i in range(3)] for h in (1, 2, 3)}
    for h, items in txs.items():
        _index(ix, kv, h, items, (EventAttribute("n", str(h), True),))
    pointers = {sha256(tx): ix.get_tx(sha256(tx)) for items in txs.values() for tx, _ in items}
    for h in (1, 2):  # rewrite these heights' tx records in the older form
        for i, (tx, r) in enumerate(txs[h]):
            kv.put(b"ix/th" + sha256(tx), _old_tx_record(h, i, tx, r))
    hashes = list(pointers)
    assert [kv.get(b"ix/th" + th)[:1] == b"\x94" for th in hashes] == [True] * 6 + [False] * 3  # type: ignore[index]
    assert ix.get_txs(hashes) == [pointers[th] for th in hashes] == [ix.get_tx(th) for th in hashes]
    for th, rec in pointers.items():
        assert rec is not None
        assert [(h, i) for h, i, _ in ix.search_txs(parse_query(f"tx.hash='{th.hex()}'"))] == [(rec.height, rec.index)]
    batch = kv.batch()
    assert ix.prune(batch, 3) == 6
    batch.commit()
    assert [ix.get_tx(th) is None for th in hashes] == [True] * 6 + [False] * 3
    assert [h for h, _, _ in ix.search_txs(parse_query("lg.bank='KBANK'"))] == [3, 3, 3]
    left = [k for k, _ in kv.iterate(prefix=b"ix/")]
    assert len(left) == 3 + 1 + 4 + 1 + 1  # height 3's records, its tB, its tP (3 ids + bank), bh and ba


def test_a_pointer_into_a_block_the_store_lost_is_an_error_not_an_answer() -> None:
    kv = MemoryKV()
    ix = Indexer(kv)
    _index(ix, kv, 1, [(b"t1", _result([("id", "LG-1", True)]))])
    kv.delete(b"blockstore/b" + struct.pack(">Q", 1))
    with pytest.raises(SearchError, match="block 1"):
        ix.get_tx(sha256(b"t1"))
    assert [(h, i) for h, i, _ in ix.search_txs(parse_query("lg.id='LG-1'"))] == [(1, 0)]  # (the index alone)

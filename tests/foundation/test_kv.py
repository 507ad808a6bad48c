"""One KV suite on every backend (MemoryKV and LevelDB), after py-evm's shared database tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from state.kv import KV, MemoryKV, View
from state.kv_level import LevelKV


@pytest.fixture(params=["memory", "leveldb"])
def kv(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KV]:
    if request.param == "memory":
        yield MemoryKV()
    else:
        db = LevelKV(tmp_path / "db")
        yield db
        db.close()


def test_get_put_delete(kv: KV) -> None:
    assert kv.get(b"a") is None
    kv.put(b"a", b"1")
    assert kv.get(b"a") == b"1"
    kv.put(b"a", b"2")
    assert kv.get(b"a") == b"2"
    kv.delete(b"a")
    assert kv.get(b"a") is None
    kv.delete(b"never")  # deleting a missing key is fine


def test_ordered_range_scan(kv: KV) -> None:
    for k in [b"b", b"a", b"c\xff", b"c", b"d", b"\xff\xff"]:
        kv.put(k, k)
    assert [k for k, _ in kv.iterate()] == [b"a", b"b", b"c", b"c\xff", b"d", b"\xff\xff"]
    assert [k for k, _ in kv.iterate(start=b"b", stop=b"d")] == [b"b", b"c", b"c\xff"]
    assert [k for k, _ in kv.iterate(prefix=b"c")] == [b"c", b"c\xff"]
    assert [k for k, _ in kv.iterate(prefix=b"\xff")] == [b"\xff\xff"]
    assert [k for k, _ in kv.iterate(reverse=True)][:2] == [b"\xff\xff", b"d"]
    assert [k for k, _ in kv.iterate(prefix=b"c", start=b"c\x01")] == [b"c\xff"]


def test_namespaces_are_isolated(kv: KV) -> None:
    a, b = kv.prefixed(b"app/"), kv.prefixed(b"blk/")
    a.put(b"k", b"A")
    b.put(b"k", b"B")
    assert a.get(b"k") == b"A" and b.get(b"k") == b"B"
    assert list(a.iterate()) == [(b"k", b"A")]
    assert kv.get(b"app/k") == b"A"
    assert list(a.prefixed(b"x").iterate()) == []


def test_batch_is_atomic_across_namespaces(kv: KV) -> None:
    kv.put(b"app/old", b"x")
    batch = kv.batch()
    batch.prefixed(b"app/").put(b"k", b"1")
    batch.prefixed(b"app/").delete(b"old")
    batch.prefixed(b"blk/").put(b"h1", b"block")
    assert kv.get(b"app/k") is None  # nothing visible before commit
    batch.commit(sync=True)
    assert kv.get(b"app/k") == b"1" and kv.get(b"app/old") is None and kv.get(b"blk/h1") == b"block"
    view = kv.prefixed(b"app/")
    vb = view.batch()
    vb.put(b"z", b"2")
    vb.put(b"z", b"3")  # last write wins
    vb.commit()
    assert view.get(b"z") == b"3"


def test_a_view_joins_a_batch_of_its_root(kv: KV) -> None:
    """`View.join`: a namespace's writes go into a batch made elsewhere from the same root, in one write (the
    node's per-block batch carries the application's commit); another store's batch is refused."""
    assert isinstance(kv, View)
    app = kv.prefixed(b"app/").prefixed(b"m/")
    batch = kv.prefixed(b"blk/").batch()
    batch.put(b"h1", b"block")
    app.join(batch).put(b"height", b"1")
    assert app.get(b"height") is None  # nothing visible before commit
    batch.commit(sync=True)
    assert app.get(b"height") == b"1" and kv.get(b"app/m/height") == b"1" and kv.get(b"blk/h1") == b"block"
    with pytest.raises(ValueError, match="another store"):
        app.join(MemoryKV().batch())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=1, max_size=4), st.none() | st.binary(max_size=4)), max_size=40))
def test_matches_a_dict_model(ops: list[tuple[bytes, bytes | None]]) -> None:
    kv = MemoryKV()
    model: dict[bytes, bytes] = {}
    batch = kv.batch()
    for k, v in ops:
        if v is None:
            batch.delete(k)
            model.pop(k, None)
        else:
            batch.put(k, v)
            model[k] = v
    batch.commit()
    assert list(kv.iterate()) == sorted(model.items())


def test_leveldb_survives_reopen(tmp_path: Path) -> None:
    db = LevelKV(tmp_path / "db")
    b = db.batch()
    b.put(b"k", b"v")
    b.commit(sync=True)
    db.close()
    again = LevelKV(tmp_path / "db")
    assert again.get(b"k") == b"v"
    again.close()


def _table_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.suffix in (".ldb", ".sst"))


def test_leveldb_writes_uncompressed_tables_and_reads_snappy_ones(tmp_path: Path) -> None:
    """state/kv_level.py turns LevelDB's Snappy off (our values are mostly hashes; compaction paid for it);
    a database whose tables were written with Snappy (homes from before) is read as it is."""
    import plyvel

    values = {b"k%05d" % i: b"a" * 200 for i in range(2_000)}  # very compressible: 400 KB of values
    old = plyvel.DB(str(tmp_path / "db"), create_if_missing=True, compression="snappy")
    with old.write_batch() as wb:
        for k, v in values.items():
            wb.put(k, v)
    old.compact_range()
    old.close()
    assert _table_bytes(tmp_path / "db") < 100_000  # Snappy did shrink them

    db = LevelKV(tmp_path / "db")
    assert dict(db.iterate()) == values
    b = db.batch()
    for k, v in values.items():
        b.put(b"n" + k, v)
    b.commit(sync=True)
    db._level.db.compact_range()
    assert _table_bytes(tmp_path / "db") > 400_000  # the new set, written uncompressed (the old table may be moved
    # down as it is: a compaction without overlap does not rewrite it)
    assert db.get(b"k00000") == b"a" * 200 and db.get(b"nk01999") == b"a" * 200
    db.close()


def test_leveldb_memtable_holds_a_few_blocks_of_writes(tmp_path: Path) -> None:
    """state/kv_level.py WRITE_BUFFER_BYTES (16 MiB): ~8 MB of writes (a few blocks' commits) stay in the
    memtable and its log; LevelDB's default 4 MiB would have flushed level-0 tables already."""
    from state.kv_level import WRITE_BUFFER_BYTES

    db = LevelKV(tmp_path / "db")
    for j in range(8):
        b = db.batch()
        for i in range(1_000):
            b.put(b"%d/%04d" % (j, i), bytes([i & 0xFF]) * 1_000)
        b.commit(sync=True)
    assert WRITE_BUFFER_BYTES >= 8_000_000 + (1 << 20)
    assert _table_bytes(tmp_path / "db") == 0
    assert db.get(b"7/0999") == bytes([999 & 0xFF]) * 1_000
    db.close()

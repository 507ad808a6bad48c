"""`LevelKV` reads straight from plyvel (no Python frame of ours per get): the same answers as the generic
path, through the root view and prefixed views, and a subclass's own `get` still wins."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from state.kv import View
from state.kv_level import LevelKV

keys = st.binary(min_size=1, max_size=6)


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(keys, st.binary(max_size=20), max_size=40), st.lists(keys, max_size=40), st.binary(max_size=2))
def test_fast_get_answers_as_the_generic_view(tmp_path_factory: object, data: dict[bytes, bytes],
                                              probes: list[bytes], ns: bytes) -> None:
    path = tmp_path_factory.mktemp("kv")  # type: ignore[attr-defined]
    kv = LevelKV(path)
    try:
        b = kv.batch()
        for k, v in data.items():
            b.put(k, v)
        b.commit(sync=False)
        generic = View(kv._level)  # the Python path: View.get -> the root's get
        for k in list(data) + probes:
            assert kv.get(k) == View.get(generic, k) == data.get(k)
            sub = kv.prefixed(ns)
            assert sub.get(k) == data.get(ns + k)
    finally:
        kv.close()


def test_a_subclass_keeps_its_own_get(tmp_path: Path) -> None:
    class Counting(LevelKV):
        reads = 0

        def get(self, key: bytes) -> bytes | None:
            Counting.reads += 1
            return super().get(key)

    kv = Counting(tmp_path / "db")
    try:
        kv.put(b"a", b"1")
        assert kv.get(b"a") == b"1" and kv.get(b"b") is None and Counting.reads == 2
    finally:
        kv.close()

"""The what-ifs of the LevelDB growth bench (devnet/bench/ldb_growth.py): families routed to LevelDB instances
of their own and trie pages held back must leave the chain exactly as the plain run does (same app hash), and
the option flags must reach LevelDB. Figures are not asserted."""

from __future__ import annotations

import re
from pathlib import Path

import plyvel
import pytest

from devnet.bench import ldb_growth
from state import kv_level


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    ldb_growth.main(["--blocks", "6", "--txs", "60", "--every", "2", "--data", str(tmp_path / "txs.bin"),
                     "--dir", str(tmp_path), *flags])
    return capsys.readouterr().out


def _app_hash(out: str) -> str:
    m = re.search(r"app hash ([0-9A-F]{64})", out)
    assert m, out
    return m.group(1)


def test_routes_and_held_back_pages_leave_the_same_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = {name: getattr(kv_level, name) for name, _, _ in ldb_growth._OPTIONS}
    plain = _run(tmp_path, capsys)
    routed = _run(tmp_path, capsys, "--route", "app/t=trie:1", "--route", "ix/=hist", "--route", "blockstore/=hist")
    held = _run(tmp_path, capsys, "--defer-trie", "12:4", "--bloom-bits", "0", "--restart-interval", "32")
    assert _app_hash(plain) == _app_hash(routed) == _app_hash(held)
    assert "instance 'trie': memtable 1 MiB" in routed and "instance hist:" in routed and "instance trie:" in routed
    assert "routing / holding back" in routed and "written every 4 blocks" in held
    assert "restart interval 32, bloom bits 0" in held and "sum (this thread + LevelDB threads)" in plain
    assert "trie pages written per tx by page depth" in plain
    assert before == {name: getattr(kv_level, name) for name, _, _ in ldb_growth._OPTIONS}  # the node's, unchanged


def test_a_route_needs_a_family_and_a_name() -> None:
    assert ldb_growth.parse_routes(["app/t=trie:8", "ix/=hist"]) == [("app/t", "trie", 8), ("ix/", "hist", None)]
    for bad in ("app/t", "=x", "app/t=", "app/t=main"):
        with pytest.raises(SystemExit):
            ldb_growth.parse_routes([bad])


def test_held_back_pages_are_read_back_until_written(tmp_path: Path) -> None:
    db = plyvel.DB(str(tmp_path / "db"), create_if_missing=True)
    try:
        layout = ldb_growth._Layout(db, lambda ops, sync: ldb_growth._write_db(db, ops, sync), {}, (8, 2))
        top, deep = b"app/t\x00\x04\x50", b"app/t\x00\x0c\x50\x01"
        layout.write([(top, b"v1"), (deep, b"d1"), (b"app/sX", b"s")], sync=False)
        assert db.get(top) is None and layout.get(top) == b"v1"  # held back, read from memory
        assert db.get(deep) == b"d1" and db.get(b"app/sX") == b"s"  # deeper pages and records written at once
        layout.write([(top, b"v2")], sync=False)  # the second block: the latest version goes to LevelDB
        assert db.get(top) == b"v2" and layout.get(top) == b"v2" and not layout.pending
    finally:
        db.close()

"""The memory probe reads what it says it reads: RSS split by kind of mapping, glibc and CPython allocator
totals, LevelDB's own figures and its mapped tables, and turns a series into growth over the last half."""

from __future__ import annotations

import json
import os
from pathlib import Path

from devnet.bench import memprobe, procstat
from state.kv_level import LevelKV


def test_rss_split_adds_up_for_this_process() -> None:
    st = procstat.status_kb(os.getpid())
    assert st["VmRSS"] > 0 and st["RssAnon"] > 0 and st["VmRSS"] >= st["RssAnon"] + st["RssFile"] - 64
    s = procstat.sample(os.getpid(), children=False)
    assert s is not None and s.rss_anon_kb > 0 and s.rss_file_kb > 0
    split = memprobe.smaps_split()
    assert split["anon"] > 0 and split["libs"] > 0  # the interpreter's heap, libpython/extension modules
    # smaps and status are read a moment apart; both cover the same mappings
    assert abs(sum(split.values()) - st["VmRSS"]) < max(4096, st["VmRSS"] // 10)


def test_leveldb_tables_are_found_and_their_mapped_pages_counted(tmp_path: Path) -> None:
    kv = LevelKV(tmp_path / "db")
    try:
        batch = kv.batch()
        for i in range(60_000):  # ~6 MB: more than the 4 MiB write buffer, so tables get written
            batch.put(i.to_bytes(8, "big") + os.urandom(8), os.urandom(80))
        batch.commit()
        db = kv._level.db
        db.compact_range()
        assert any(found is db for found in memprobe.find_leveldbs())
        st = memprobe.leveldb_stats(db)
        assert st["tables"] >= 1 and st["tables_bytes"] > 1_000_000 and sum(st["files_per_level"]) == st["tables"]
        assert st["approx_memory"] > 0
        for i in range(0, 60_000, 50):  # reads go through LevelDB's mmap of the table files
            kv.get(i.to_bytes(8, "big"))
        for _, _ in kv.iterate():
            pass
        assert memprobe.smaps_split()["leveldb"] > 0
    finally:
        kv.close()


def test_probe_sample_has_every_part(tmp_path: Path) -> None:
    probe = memprobe.Probe(tmp_path / "m.jsonl", interval=3600)
    rec = probe.sample(with_types=True)
    assert rec["proc"]["VmRSS"] > 0 and rec["smaps"]["anon"] > 0
    if rec["malloc"]:  # glibc >= 2.33
        assert rec["malloc"]["system"] >= rec["malloc"]["free"] >= 0
    if rec["pymalloc"]:
        assert rec["pymalloc"]["arenas"] > 0 and rec["pymalloc"]["bytes"] >= rec["pymalloc"]["in_blocks"] > 0
    assert rec["objects"] > 1000 and "dict" in rec["types_top"]
    json.dumps(rec)


def test_summary_reports_growth_over_the_last_half() -> None:
    def rec(t: float, anon_mib: float, file_mib: float) -> dict[str, object]:
        a, f = int(anon_mib * 1024), int(file_mib * 1024)
        return {"t": t, "proc": {"VmRSS": a + f, "RssAnon": a, "RssFile": f}}

    # anonymous memory fills its caches then stays; the mapped files keep growing
    recs = [rec(10.0 * i, min(100.0, 50 + 5 * i), 20 + 2 * i) for i in range(40)]
    s = memprobe.summarize(recs)
    assert s["rss_anon"]["last_half_grown_mib"] == 0.0 and s["anon_flat"]
    assert s["rss_file"]["last_half_grown_mib"] == 38.0 and not s["flat"]
    assert s["rss_file"]["last_half_mib_per_min"] == 12.0  # 2 MiB per 10 s
    assert memprobe.slope_mib([(0.0, 1.0)]) == {}
    # one sample off by 20 MiB at the very end moves the fitted growth by far less than the difference would
    noisy = [(10.0 * i, 100.0 + (20.0 if i == 39 else 0.0)) for i in range(40)]
    assert memprobe.slope_mib(noisy)["last_half_grown_mib"] < 8.0


def test_bench_memory_summary_splits_anonymous_from_file_backed() -> None:
    from devnet.bench.report import memory

    # file-backed pages (mapped LevelDB tables) grow 100 KiB a second; the anonymous part stays
    samples = [{"t": float(i), "nodes": [{"cpu_s": 0.0, "rss_kb": 100_000 + 100 * i, "hwm_kb": 120_000,
                                          "anon_kb": 80_000, "file_kb": 20_000 + 100 * i}]} for i in range(100)]
    m = memory(samples)[0]
    assert m["anon_last_half_mib"] == 0.0 and m["anon_end_mib"] == round(80_000 / 1024, 1)
    assert m["rss_last_half_mib"] == round(49 * 100 / 1024, 1)
    # records written before RssAnon was sampled still summarize
    old = memory([{"t": 0.0, "nodes": [{"cpu_s": 0.0, "rss_kb": 1, "hwm_kb": 1}]}])[0]
    assert "anon_last_half_mib" not in old and old["peak_rss_mib"] == 0.0

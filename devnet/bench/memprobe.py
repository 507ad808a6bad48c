"""Where a node's memory goes, over time: a bench-only probe that tells Python heap from glibc from LevelDB.

Why: RSS alone (what `egp bench` samples) says a node grows, not what grows. This probe runs *inside* a
node started through it (never through `egp start` or any config: a node only carries it when launched as
`python -m devnet.bench.memprobe node ...`) and appends one JSON line per interval to a file:

- `/proc/self/status`: RSS split into anonymous and file-backed pages, peak, threads;
- glibc `mallinfo2()`: bytes the allocator holds from the system (`arena` + mmapped `hblkhd`), of which in
  use (`uordblks`) and free but kept (`fordblks`): a large, growing free share is fragmentation;
- CPython's small-object allocator (`sys._debugmallocstats`): arenas held and bytes in use in them;
- tracemalloc (optional, `--tracemalloc FRAMES`): bytes the interpreter allocated, and the source lines
  whose allocations grew most since the first snapshot;
- `gc.get_objects()` counts by type, and which types grew since the first sample;
- LevelDB (found through the garbage collector: the node's `LevelKV`): `leveldb.approximate-memory-usage`
  (memtables + block cache), the number and total size of its `.ldb` tables (each open table keeps its
  index block and bloom filter outside the block cache).

    python -m devnet.bench.memprobe up --root /tmp/m1 --validators 1   # a bench network, every node probed
    python -m devnet.bench.memprobe up --root /tmp/m4 --validators 4 --trie-cache-mib 64 --interval 10
    egp bench --network /tmp/m1 --rate 300 --duration 300              # load it
    python -m devnet.bench.memprobe report --root /tmp/m1              # RSS slope and what grew, per node
    python -m devnet.bench.run_network down --root /tmp/m1

`report` says "flat" when RSS grew less than `FLAT_MIB` over the last half of the samples (least-squares line);
`--since`/`--until` cut the series to the load's window (the probe's clock starts with the node).
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import gc
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

FLAT_MIB = 8.0  # growth over the last half of a run below which a node's RSS counts as flat


# --- readers (also usable on another process, from /proc) -------------------------------------------------

def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS, RssAnon, RssFile, VmHWM, VmData (KiB) and Threads of a process; {} when unreadable."""
    from devnet.bench.procstat import status_kb

    return status_kb(pid, ("VmRSS", "RssAnon", "RssFile", "VmHWM", "Threads", "VmData"))


def smaps_split(pid: int | str = "self") -> dict[str, int]:
    """Resident KiB by kind of mapping: `anon` (heap, Python arenas, thread stacks), `leveldb` (its mapped
    .ldb tables), `libs` (shared objects), `other` files; {} when unreadable."""
    out = {"anon": 0, "leveldb": 0, "libs": 0, "other": 0}
    kind = "anon"
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                if line.startswith("Rss:"):
                    out[kind] += int(line.split()[1])
                elif not line[:1].isupper():  # a mapping's header: address range, perms, offset, dev, inode, path
                    parts = line.split(None, 5)
                    path = parts[5].strip() if len(parts) > 5 else ""
                    kind = ("anon" if not path or path.startswith("[") else "leveldb" if path.endswith((".ldb", ".sst"))
                            else "libs" if ".so" in path else "other")
    except (OSError, ValueError, IndexError):
        return {}
    return out


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def mallinfo() -> dict[str, int]:
    """glibc's allocator totals over all arenas (bytes); {} where mallinfo2 is missing (glibc < 2.33, musl)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return {}
    fn.restype = _MallInfo2
    m = fn()
    return {"system": m.arena + m.hblkhd, "arena": m.arena, "mmapped": m.hblkhd, "in_use": m.uordblks + m.hblkhd,
            "free": m.fordblks, "top_pad": m.keepcost}


_ARENAS = re.compile(rb"# arenas allocated current\s*=\s*([\d,]+)")
_TOTAL = re.compile(rb"^Total\s*=\s*([\d,]+)", re.M)
_ALLOCATED = re.compile(rb"# bytes in allocated blocks\s*=\s*([\d,]+)")


def pymalloc() -> dict[str, int]:
    """CPython's small-object allocator: arenas held, their bytes, bytes in live blocks.

    `sys._debugmallocstats` writes to the C stderr; fd 2 is pointed at a temp file for the call (a line another
    thread writes to stderr in that millisecond lands there too and is lost: a bench-only tool)."""
    if not hasattr(sys, "_debugmallocstats"):
        return {}
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        raw = tmp.read()

    def num(rx: re.Pattern[bytes]) -> int:
        m = rx.search(raw)
        return int(m.group(1).replace(b",", b"")) if m else -1

    return {"arenas": num(_ARENAS), "bytes": num(_TOTAL), "in_blocks": num(_ALLOCATED)}


def leveldb_stats(db: Any) -> dict[str, Any]:
    """Memory LevelDB reports (memtables + block cache) and its tables on disk."""
    out: dict[str, Any] = {}
    try:
        raw = db.get_property(b"leveldb.approximate-memory-usage")
        out["approx_memory"] = int(raw) if raw is not None else None
        levels = []
        for level in range(7):
            n = db.get_property(b"leveldb.num-files-at-level%d" % level)
            levels.append(int(n) if n is not None else 0)
        out["files_per_level"] = levels
    except Exception as e:  # closed while we looked (shutdown)
        out["error"] = repr(e)
    path = getattr(db, "name", None)
    if path:
        ldb = [p for p in Path(path).iterdir() if p.suffix in (".ldb", ".sst")]
        out["tables"] = len(ldb)
        out["tables_bytes"] = sum(p.stat().st_size for p in ldb if p.exists())
        out["log_bytes"] = sum(p.stat().st_size for p in Path(path).glob("*.log") if p.exists())
    return out


def find_leveldbs() -> list[Any]:
    """The plyvel DB handles of every `LevelKV` alive in this interpreter."""
    from state.kv_level import LevelKV

    return [o._level.db for o in gc.get_objects() if isinstance(o, LevelKV) and not o.closed]


def type_counts() -> collections.Counter[str]:
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


# --- the in-process probe ---------------------------------------------------------------------------------

class Probe:
    """A daemon thread appending one JSON line per `interval` seconds to `out`."""

    def __init__(self, out: Path, interval: float = 15.0, tracemalloc_frames: int = 0, types_every: int = 4) -> None:
        self.out = out
        self.interval = interval
        self.frames = tracemalloc_frames
        self.types_every = types_every
        self._t0 = time.monotonic()
        self._base_types: collections.Counter[str] | None = None
        self._base_snap: Any = None
        self._stop = threading.Event()

    def start(self) -> None:
        if self.frames:
            import tracemalloc

            tracemalloc.start(self.frames)
        threading.Thread(target=self._run, name="memprobe", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(self.interval):
            try:
                rec = self.sample(with_types=n % self.types_every == 0)
            except Exception as e:  # never take the node down
                rec = {"t": round(time.monotonic() - self._t0, 1), "error": repr(e)}
            with open(self.out, "a") as f:
                f.write(json.dumps(rec) + "\n")
            n += 1

    def sample(self, with_types: bool) -> dict[str, Any]:
        rec: dict[str, Any] = {"t": round(time.monotonic() - self._t0, 1), "proc": proc_status(),
                               "smaps": smaps_split(), "malloc": mallinfo(), "pymalloc": pymalloc(),
                               "gc_counts": list(gc.get_count())}
        dbs = find_leveldbs() if with_types else getattr(self, "_dbs", [])
        self._dbs = dbs
        rec["leveldb"] = [leveldb_stats(db) for db in dbs]
        if with_types:
            counts = type_counts()
            rec["objects"] = sum(counts.values())
            if self._base_types is None:
                self._base_types = counts
            grew = {k: v - self._base_types.get(k, 0) for k, v in counts.items()}
            rec["types_grown"] = dict(sorted(grew.items(), key=lambda kv: -kv[1])[:15])
            rec["types_top"] = dict(counts.most_common(12))
        if self.frames:
            import tracemalloc

            cur, peak = tracemalloc.get_traced_memory()
            rec["traced"] = {"current": cur, "peak": peak}
            if with_types:
                snap = tracemalloc.take_snapshot().filter_traces(
                    (tracemalloc.Filter(False, tracemalloc.__file__),))
                if self._base_snap is None:
                    self._base_snap = snap
                else:
                    stats = snap.compare_to(self._base_snap, "traceback" if self.frames > 1 else "lineno")[:12]
                    rec["traced_grown"] = [
                        {"kib": s.size_diff // 1024, "count": s.count_diff,
                         "where": ["/".join(fr.filename.rsplit("/", 2)[-2:]) + f":{fr.lineno}" for fr in s.traceback]}
                        for s in stats]
        return rec


# --- a probed bench network ---------------------------------------------------------------------------------

def _node_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="memprobe node")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--interval", type=float, default=15.0)
    ap.add_argument("--tracemalloc", type=int, default=0, help="frames per traceback (0: off; costs CPU)")
    ap.add_argument("egp_args", nargs=argparse.REMAINDER, help="-- then the `egp` arguments (start --home ...)")
    a = ap.parse_args(argv)
    args = a.egp_args[1:] if a.egp_args[:1] == ["--"] else a.egp_args
    Probe(a.out, a.interval, a.tracemalloc).start()
    from cli.main import app

    app(args, prog_name="egp")
    return 0


def _up(a: argparse.Namespace) -> int:
    import subprocess

    from devnet.bench.run_network import ROOT, BenchNetwork, WorkloadSpec, height, write_network, write_pids

    if a.root.exists() and any(a.root.iterdir()):
        print(f"error: {a.root} is not empty; a bench network starts fresh", file=sys.stderr)
        return 2
    urls = write_network(a.root, WorkloadSpec(seed=a.seed), validators=a.validators,
                         timeout_commit_ms=a.timeout_commit_ms, mempool_size=a.mempool_size)
    if a.trie_cache_mib:  # [storage] trie_cache_mib of every node (the bound whose memory a run checks)
        for i in range(len(urls)):
            cfg = a.root / f"node{i}" / "config" / "config.toml"
            text, n = re.subn(r"(?m)^trie_cache_mib = \d+$", f"trie_cache_mib = {a.trie_cache_mib}", cfg.read_text())
            if n != 1:
                print(f"error: no trie_cache_mib line in {cfg}", file=sys.stderr)
                return 2
            cfg.write_text(text)
    net = BenchNetwork(a.root, urls, [])
    env = dict(os.environ, PYTHONPATH=str(ROOT), **dict(kv.split("=", 1) for kv in a.env))
    for i in range(len(urls)):
        home = a.root / f"node{i}"
        with open(home / "node.log", "ab") as log:
            p = subprocess.Popen([sys.executable, "-m", "devnet.bench.memprobe", "node", "--out",
                                  str(home / "memprobe.jsonl"), "--interval", str(a.interval), "--tracemalloc",
                                  str(a.tracemalloc), "--", "start", "--home", str(home), "--log-level", "info"],
                                 stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
        net.procs.append(p)
        net.pids.append(p.pid)
    write_pids(net)
    deadline = time.monotonic() + 90
    for i, url in enumerate(urls):
        while True:
            try:
                if height(url) >= 1:
                    break
            except (OSError, ValueError, KeyError):
                pass
            if net.procs[i].poll() is not None or time.monotonic() > deadline:
                print(f"node{i} did not start:\n{net.log_tail(i)}", file=sys.stderr)
                return 1
            time.sleep(0.3)
    print(json.dumps({"root": str(a.root), "urls": urls, "pids": net.pids}))
    return 0


def _watch(a: argparse.Namespace) -> int:
    """Sample other processes from /proc (no code in them): RSS split anon / file / LevelDB tables."""
    from devnet.bench.run_network import read_pids

    pids = list(a.pid)
    if a.root:
        pids += read_pids(a.root)[0]
    if not pids:
        print("no PIDs (give --root of a bench network or --pid)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    end = t0 + a.duration if a.duration else None
    while end is None or time.monotonic() < end:
        alive = 0
        with open(a.out, "a") as f:
            for i, pid in enumerate(pids):
                st = proc_status(pid)
                if not st:
                    continue
                alive += 1
                f.write(json.dumps({"t": round(time.monotonic() - t0, 1), "node": f"node{i}", "pid": pid, "proc": st,
                                    "smaps": smaps_split(pid)}) + "\n")
        if not alive:
            break
        time.sleep(a.interval)
    return 0


# --- reading the records ------------------------------------------------------------------------------------

def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip() and '"proc"' in line]


def slope_mib(series: list[tuple[float, float]]) -> dict[str, float]:
    """Growth of (t seconds, MiB) samples: over the whole run and over its last half. The last half's growth is
    the least-squares line's rise across it, not last minus first sample: a single sample moves by several MiB
    with the block being committed or a cache generation being dropped."""
    if len(series) < 2:
        return {}
    half = series[len(series) // 2:]
    span = half[-1][0] - half[0][0]
    rate = 0.0
    if len(half) >= 2 and span > 0:
        mt = sum(t for t, _ in half) / len(half)
        mv = sum(v for _, v in half) / len(half)
        var = sum((t - mt) ** 2 for t, _ in half)
        rate = sum((t - mt) * (v - mv) for t, v in half) / var if var else 0.0  # MiB per second
    return {"first_mib": series[0][1], "last_mib": series[-1][1], "grown_mib": round(series[-1][1] - series[0][1], 1),
            "last_half_grown_mib": round(rate * span, 1), "last_half_mib_per_min": round(60 * rate, 2)}


def summarize(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per component, the first and last value (MiB) and the growth over the last half of the samples."""
    def mib(x: float | int | None) -> float:
        return round((x or 0) / 1048576, 1)

    comps: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
    for r in recs:
        t = r["t"]
        comps["rss"].append((t, mib(r["proc"].get("VmRSS", 0) * 1024)))
        comps["rss_anon"].append((t, mib(r["proc"].get("RssAnon", 0) * 1024)))
        comps["rss_file"].append((t, mib(r["proc"].get("RssFile", 0) * 1024)))
        if r.get("smaps"):
            comps["rss_leveldb_tables"].append((t, mib(r["smaps"]["leveldb"] * 1024)))
        if r.get("malloc"):
            comps["glibc_system"].append((t, mib(r["malloc"]["system"])))
            comps["glibc_in_use"].append((t, mib(r["malloc"]["in_use"])))
            comps["glibc_free"].append((t, mib(r["malloc"]["free"])))
        if r.get("pymalloc", {}).get("bytes", -1) >= 0:
            comps["pymalloc_arenas"].append((t, mib(r["pymalloc"]["bytes"])))
            comps["pymalloc_in_blocks"].append((t, mib(r["pymalloc"]["in_blocks"])))
        if r.get("traced"):
            comps["tracemalloc"].append((t, mib(r["traced"]["current"])))
        for db in r.get("leveldb", [])[:1]:
            if db.get("approx_memory") is not None:
                comps["leveldb_approx"].append((t, mib(db["approx_memory"])))
            if "tables_bytes" in db:
                comps["leveldb_tables_on_disk"].append((t, mib(db["tables_bytes"])))
                comps["leveldb_tables_count"].append((t, float(db["tables"])))
    out: dict[str, Any] = {k: slope_mib(v) for k, v in comps.items()}
    typed = [r for r in recs if "types_grown" in r]
    if typed:
        out["objects"] = typed[-1]["objects"]
        out["types_grown"] = typed[-1]["types_grown"]
    traced = [r for r in recs if "traced_grown" in r]
    if traced:
        out["traced_grown"] = traced[-1]["traced_grown"][:8]
    out["flat"] = bool(comps.get("rss")) and abs(out["rss"].get("last_half_grown_mib", 1e9)) < FLAT_MIB
    out["anon_flat"] = bool(comps.get("rss_anon")) and abs(out["rss_anon"].get("last_half_grown_mib", 1e9)) < FLAT_MIB
    return out


def _report(a: argparse.Namespace) -> int:
    series: dict[str, list[dict[str, Any]]] = {}
    if a.watch:
        for r in load(a.watch):
            series.setdefault(r["node"], []).append(r)
    else:
        for f in sorted(a.root.glob("node*/memprobe.jsonl")):
            series[f.parent.name] = load(f)
    if a.since or a.until:
        series = {k: [r for r in v if (a.since or 0) <= r["t"] <= (a.until or 1e18)] for k, v in series.items()}
    if not series:
        print(f"no records ({a.watch or a.root})", file=sys.stderr)
        return 1
    doc = {}
    for name, recs in series.items():
        s = summarize(recs)
        doc[name] = s
        print(f"{name}: {len(recs)} samples over {recs[-1]['t'] if recs else 0:.0f} s; "
              f"flat (last half < {FLAT_MIB} MiB): RSS {s['flat']}, anonymous {s['anon_flat']}")
        for k, v in s.items():
            if isinstance(v, dict) and "first_mib" in v:
                print(f"  {k:24s} {v['first_mib']:>9} -> {v['last_mib']:>9}  last half {v['last_half_grown_mib']:>+8} "
                      f"({v['last_half_mib_per_min']:+.2f}/min)")
        if a.verbose:
            for k in ("types_grown", "traced_grown"):
                if k in s:
                    print(f"  {k}: {json.dumps(s[k])}")
    if a.json:
        a.json.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["node"]:
        return _node_main(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="a fresh bench network whose every node runs the probe")
    up.add_argument("--root", type=Path, required=True)
    up.add_argument("--validators", type=int, default=1)
    up.add_argument("--seed", type=int, default=1)
    up.add_argument("--timeout-commit-ms", type=int, default=1000)
    up.add_argument("--mempool-size", type=int, default=5000)
    up.add_argument("--interval", type=float, default=15.0)
    up.add_argument("--trie-cache-mib", type=int, default=0, help="[storage] trie_cache_mib of the nodes (0: default)")
    up.add_argument("--tracemalloc", type=int, default=0)
    up.add_argument("--env", action="append", default=[], help="KEY=VALUE for the nodes (e.g. MALLOC_ARENA_MAX=2)")
    w = sub.add_parser("watch", help="sample the nodes of a bench network from outside (/proc) into a JSONL file")
    w.add_argument("--root", type=Path)
    w.add_argument("--pid", type=int, action="append", default=[])
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--interval", type=float, default=10.0)
    w.add_argument("--duration", type=float, default=0.0, help="seconds (0: until every process is gone)")
    rep = sub.add_parser("report", help="per node: RSS and its parts, first -> last, growth over the last half")
    rep.add_argument("--root", type=Path, help="a network started by `up` (node*/memprobe.jsonl)")
    rep.add_argument("--watch", type=Path, help="a file written by `watch`")
    rep.add_argument("--since", type=float, help="only samples from this many seconds (e.g. the start of the load)")
    rep.add_argument("--until", type=float, help="only samples up to this many seconds (e.g. the end of the load)")
    rep.add_argument("--json", type=Path)
    rep.add_argument("-v", "--verbose", action="store_true")
    sub.add_parser("node", help="(internal) run `egp` with the probe: node --out F [--interval S] -- start ...")
    a = ap.parse_args(argv)
    if a.cmd == "up":
        return _up(a)
    if a.cmd == "watch":
        return _watch(a)
    return _report(a)


if __name__ == "__main__":
    raise SystemExit(main())

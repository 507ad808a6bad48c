"""The benchmark tooling must not rot: `make bench --smoke`, a short load run on a real 4-node network, and the
pieces that turn raw records into figures. Nothing here asserts a duration or a throughput: only that
figures are printed, the JSON is well formed and the nodes the benchmark started are gone afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devnet.bench import procstat
from devnet.bench.profile_tools import parse_raw, summarize_raw
from devnet.bench.report import pct

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.xdist_group("e2e")
def test_micro_benchmarks_smoke_print_figures(tmp_path: Path) -> None:
    out = tmp_path / "micro.json"
    p = subprocess.run([sys.executable, "-m", "devnet.bench_all", "--smoke", "--json", str(out)], cwd=ROOT, env=ENV,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    for word in ("codec:", "ed25519:", "merkle:", "trie:", "check_tx", "finalize_block+commit", "frames/s",
                 "all benchmarks ran"):
        assert word in p.stdout, word
    doc = json.loads(out.read_text())
    assert doc["smoke"] is True
    assert doc["codec"]["tx_strict_decode_per_s"] > 0 and doc["crypto"]["verify_per_s"] > 0
    assert doc["trie"]["changes_per_block"] > 0 and doc["merkle"]["block_txs"] > 0
    assert all(doc[k].get("ok", True) for k in ("app_bench", "rpc_bench", "p2p_bench"))


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.xdist_group("e2e")
def test_load_run_on_a_real_four_node_network(tmp_path: Path) -> None:
    out = tmp_path / "results"
    p = subprocess.run([sys.executable, "-m", "devnet.bench.runner", "--devnet", "--rate", "40", "--duration", "15",
                        "--drain", "15", "--out", str(out), "--log-level", "warn"],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "offered=" in p.stdout and "committed" in p.stdout and "results:" in p.stdout
    [path] = out.glob("bench-*.json")
    doc = json.loads(path.read_text())
    assert doc["kind"] == "egp-bench/load"
    assert doc["machine"]["cores"] >= 1 and doc["git"]["commit"]
    assert doc["settings"]["nodes"] == 4 and doc["settings"]["rates"] == [40.0]
    [step] = doc["results"]["steps"]
    assert step["sent"] == 600
    gen = doc["results"]["generator"]  # why txs went out late, if they did: the lane bound or the generator
    assert gen["sent"] == 600 and 0 <= gen["held_back"] <= 600 and "generator: " in p.stdout
    assert step["committed_tx_s"] > 0, "the network committed nothing of the load"
    assert set(step["latency_s"]) == {"p50", "p95", "p99", "max", "n"} and step["latency_s"]["n"] > 0
    assert step["blocks"]["n"] > 0 and len(step["cpu"]["node_cores"]) == 4
    assert [m["peak_rss_mib"] > 0 for m in doc["results"]["memory"]] == [True] * 4
    # the benchmark stops exactly the nodes it started
    assert len(doc["settings"]["pids"]) == 4
    assert not [pid for pid in doc["settings"]["pids"] if _alive(pid)]


def test_bad_arguments_are_a_usage_error_without_traceback() -> None:
    p = subprocess.run([sys.executable, "-m", "cli.main", "bench", "--devnet", "--rates", "100,fast"], cwd=ROOT,
                       env=ENV, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert "--rates" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "devnet.bench_all", "--only", "nonsense"], cwd=ROOT, env=ENV,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "nonsense" in p.stderr and "Traceback" not in p.stderr


def test_unreachable_network_is_a_clear_error(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "devnet.bench.runner", "--url", "http://127.0.0.1:9", "--rate", "5",
                        "--duration", "1", "--drain", "0", "--no-plot", "--out", str(tmp_path)],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    assert "did not answer" in p.stdout and "Traceback" not in p.stderr


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=200),
       st.floats(min_value=0, max_value=100))
def test_percentile_is_an_element_between_min_and_max(values: list[float], q: float) -> None:
    got = pct(values, q)
    assert got in values
    assert min(values) <= got <= max(values)
    assert pct(values, 0) == min(values) and pct(values, 100) == max(values)


_frame = st.tuples(st.sampled_from(["run", "step", "verify", "<module>", "handle"]),
                   st.sampled_from(["node/a.py", "/x/lib/python3.11/asyncio/events.py", "state/b.py"]),
                   st.integers(1, 999)).map(lambda t: f"{t[0]} ({t[1]}:{t[2]})")


@given(st.lists(st.tuples(st.lists(_frame, min_size=1, max_size=6), st.integers(1, 50)), min_size=1, max_size=30))
def test_profile_shares_add_up(stacks: list[tuple[list[str], int]]) -> None:
    text = "\n".join(";".join(frames) + f" {n}" for frames, n in stacks) + "\nnot a stack line\n"
    parsed = parse_raw(text)
    assert sum(n for _, n in parsed) == sum(n for _, n in stacks)
    path = Path(f"/tmp/egp-bench-prof-{os.getpid()}.txt")
    try:
        path.write_text(text)
        s = summarize_raw(path, 100)
    finally:
        path.unlink(missing_ok=True)
    assert s["samples"] == sum(n for _, n in stacks)
    assert 99.0 <= sum(share for _, share in s["self"]) <= 101.0  # every sample has exactly one leaf
    assert all(share <= 100.0 for _, share in s["inclusive"])
    assert all(":" not in name.split("(")[-1] for name, _ in s["self"])  # line numbers folded away


def test_proc_sampling_sees_this_process_and_its_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<0.5: pass"])
    try:
        tree = procstat.parents()
        assert tree.get(child.pid) == os.getpid()
        alone = procstat.sample(os.getpid(), tree, children=False)  # first: CPU only grows, so the later
        me = procstat.sample(os.getpid(), tree)  # sample with the children is never below it (a flake when reversed)
        assert me is not None and alone is not None
        assert me.rss_kb > 0 and me.hwm_kb >= me.rss_kb and me.cpu_s >= alone.cpu_s
    finally:
        child.wait()
    assert procstat.sample(child.pid) is None
    info = procstat.machine_info()
    assert info["cores"] >= 1 and isinstance(info["cpu_model"], str)


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.xdist_group("e2e")
def test_restart_benchmark_reports_a_validator_back_in_consensus(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "devnet.bench.restart_bench", "--blocks", "8", "--down", "2",
                        "--rate", "20", "--timeout-commit-ms", "200", "--limit", "240", "--out", str(tmp_path)],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    [path] = tmp_path.glob("restart-*.json")
    doc = json.loads(path.read_text())
    r = doc["results"]
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:] + r.get("node3_log_tail", "")
    assert r["back_in_consensus"] is True and r["height_at_stop"] >= 1
    assert 0 <= r["rpc_s"] <= r["caught_up_s"] <= r["signing_s"]

"""`egp bench` end to end against the stand-in node (devnet/bench/fake_node.py, a real process on 127.0.0.1):
the ws lanes (pre-masked frames, answers read when a lane wakes) send every tx once, each answer and each
commit is recorded, and the run's JSON has the generator's CPU. No validators: fast, and about the generator
only."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from devnet.bench import runner


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_run_against_the_fake_node_commits_every_tx_once(tmp_path: Path) -> None:
    port = _free_port()
    node = subprocess.Popen([sys.executable, "-m", "devnet.bench.fake_node", "--port", str(port), "--block-ms", "200"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:  # until it listens
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and node.poll() is None, "the fake node did not start"
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        code = runner.main(["--url", url, "--url", url, "--rate", "30", "--duration", "4", "--drain", "3",
                            "--causal-gap", "0", "--no-plot", "--out", str(tmp_path)])
        assert code == 0
        doc = json.loads(next(tmp_path.glob("bench-*.json")).read_text())
    finally:
        node.kill()
        node.wait()
    step = doc["results"]["steps"][0]
    assert doc["settings"]["tick_ms"] == 5.0
    assert step["check_tx"] == {"accepted": 120, "unanswered": 0, "rejected_by_code": {}, "rpc_errors": {}}
    assert step["committed"]["ok"] == 120 and step["committed"]["failed_by_code"] == {}
    assert step["accepted_not_committed"] == 0 and doc["results"]["reconnects"] == 0
    assert step["latency_s"]["n"] == 120 and step["latency_s"]["p50"] is not None
    assert step["cpu"]["loadgen_cores"] is not None
    assert doc["results"]["generator"]["sent"] == 120

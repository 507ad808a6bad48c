"""devnet/wait.py and the demo's waits: a condition is waited for, never a fixed time, and a deadline that
passes gives a message naming what did not happen (no durations are asserted)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devnet.demo import DemoError, demo_txs, run_demo
from devnet.network import build_network
from devnet.wait import WaitTimeout, until


def test_until_returns_the_first_truthy_value() -> None:
    answers = iter([None, 0, "", {"height": 3}])
    assert until(lambda: next(answers), 60, "an answer", poll=0) == {"height": 3}


def test_until_checks_once_more_at_the_deadline() -> None:
    """A step that finished while the waiter slept past its deadline is not reported as missed."""
    calls = []

    def second_time() -> bool:
        calls.append(1)
        return len(calls) == 2

    assert until(second_time, 0, "the second look", poll=0) is True


def test_until_names_what_did_not_happen_and_the_last_answer() -> None:
    with pytest.raises(WaitTimeout, match=r"^block 7 did not happen within 0 s; last answer: height 5$"):
        until(lambda: False, 0, "block 7", poll=0, last=lambda: "last answer: height 5")


def test_a_condition_may_give_up_at_once() -> None:
    def exited() -> bool:
        raise WaitTimeout("node2 exited with status 1")

    with pytest.raises(WaitTimeout, match="node2 exited"):
        until(exited, 60, "a block")


class _NeverCommits(BaseHTTPRequestHandler):
    """A node that takes every tx into its mempool and never puts one in a block."""

    seen: list[str] = []

    def do_POST(self) -> None:
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(req["method"])
        if req["method"] == "broadcast_tx_sync":
            doc: dict[str, Any] = {"result": {"code": 0, "log": "", "hash": "00"}}
        else:
            doc = {"error": {"code": -32603, "message": "Internal error", "data": "tx (ABC) not found"}}
        body = json.dumps({"jsonrpc": "2.0", "id": req["id"], **doc}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def never_commits() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NeverCommits)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_demo_waits_for_its_txs_and_says_which_batch_never_made_a_block(tmp_path: Path,
                                                                             never_commits: str) -> None:
    net = build_network(tmp_path, non_validators=0, seed="demo-wait")
    said: list[str] = []
    _NeverCommits.seen.clear()
    with pytest.raises(DemoError) as exc:
        run_demo(net, never_commits, said.append, timeout=0)
    first = demo_txs(net)[0][0]
    assert str(exc.value).startswith(f"demo: {first}: 2 tx(s) in a block did not happen within 0 s")
    assert "tx (ABC) not found" in str(exc.value)  # the node's last answer
    assert said == [f"demo: {first}: 2 tx(s), codes [0, 0]"]  # the next batch was never sent
    assert _NeverCommits.seen.count("broadcast_tx_sync") == 2 and "tx" in _NeverCommits.seen

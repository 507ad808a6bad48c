"""A real single-validator egp-chain node process (`egp init` + `egp start`) on free 127.0.0.1 ports.

Used by the cosmjs interop test and the RPC benchmark. The process is stopped by its own PID (SIGTERM,
then SIGKILL after a grace period), never by name.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from state.crypto import PrivateKey
from tests.ports import reserve_span

EGP = [sys.executable, "-m", "cli.main"]
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RealNode:
    home: Path
    chain_id: str
    rpc_port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    def registrar(self) -> PrivateKey:
        doc = json.loads((self.home / "keyring" / "registrar.json").read_text())
        return PrivateKey.from_seed(bytes.fromhex(doc["crypto"]["seed"]))

    def call(self, method: str, timeout: float = 10.0, **params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        req = urllib.request.Request(self.url + "/", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            doc = json.loads(r.read())
        if "error" in doc:
            raise RuntimeError(f"{method}: {doc['error']}")
        return doc["result"]

    def height(self) -> int:
        return int(self.call("status")["sync_info"]["latest_block_height"])

    def wait_height(self, h: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if self.height() >= h:
                    return
            except (urllib.error.URLError, OSError, RuntimeError, ValueError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"node did not reach height {h}: {self.log_tail()}")

    def log_tail(self) -> str:
        p = self.home / "node.log"
        return p.read_text(errors="replace")[-3000:] if p.exists() else ""


def _set_laddr(text: str, section: str, addr: str) -> str:
    pattern = re.compile(rf"(\[{section}\][^\[]*?laddr = )\"[^\"]*\"", re.S)
    return pattern.sub(lambda m: f'{m.group(1)}"{addr}"', text, count=1)


@contextmanager
def real_node(home: Path, chain_id: str = "egp-interop") -> Iterator[RealNode]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([*EGP, "init", "--home", str(home), "--moniker", "bank-a", "--chain-id", chain_id],
                   check=True, capture_output=True, env=env, cwd=ROOT, timeout=120)
    cfg_path = home / "config" / "config.toml"
    # ports from the reserved test range (tests/ports.py): a port picked by binding to 0 comes from the range
    # outgoing connections use, and another worker's node can take it before ours binds it
    base = reserve_span(f"rpc-real-node:{home}", 2)
    rpc_port = base
    text = _set_laddr(cfg_path.read_text(), "p2p", f"tcp://127.0.0.1:{base + 1}")
    cfg_path.write_text(_set_laddr(text, "rpc", f"tcp://127.0.0.1:{rpc_port}"))
    with open(home / "node.log", "wb") as log:
        proc = subprocess.Popen([*EGP, "start", "--home", str(home)], stdout=log, stderr=subprocess.STDOUT,
                                env=env, cwd=ROOT)
    node = RealNode(home, chain_id, rpc_port, proc)
    try:
        node.wait_height(1)
        yield node
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()

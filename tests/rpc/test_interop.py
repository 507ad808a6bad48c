"""Interop: @cosmjs/tendermint-rpc's Comet38Client (npm, pinned in interop/package-lock.json) drives a real
egp-chain node process: connect (auto-detects 0.38), status, block, blockchain, blockResults, commit,
validatorsAll, genesis, broadcastTxSync, broadcastTxCommit, tx (with proof), txSearchAll, abciQuery,
abciInfo, numUnconfirmedTxs, and NewBlock and Tx subscriptions. cosmjs validates every field it decodes,
so a wrong JSON type fails the run; the summary it prints is compared with what the chain holds.

npm packages are installed with `npm ci` into a cache directory ($EGP_NPM_CACHE, default
~/.cache/egp-chain/) keyed by the lock file, so CI installs them once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from state.crypto import PrivateKey, sha256
from state.txs import RegisterSupplier, sign_tx
from tests.rpc.realnode import b64, real_node

HERE = Path(__file__).resolve().parent / "interop"


def _node_modules() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the cosmjs interop test")
    lock = (HERE / "package-lock.json").read_bytes()
    base = Path(os.environ.get("EGP_NPM_CACHE", Path.home() / ".cache" / "egp-chain"))
    target = base / f"interop-{hashlib.sha256(lock).hexdigest()[:16]}"
    done = target / ".installed"
    if not done.exists():
        target.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(HERE / name, target / name)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=target, check=True,
                       capture_output=True, timeout=600)
        done.write_text("ok\n")
    return target / "node_modules"


@pytest.mark.slow
@pytest.mark.e2e
def test_cosmjs_comet38_client_against_a_running_node(tmp_path: Path) -> None:
    modules = _node_modules()
    with real_node(tmp_path / "home", "egp-interop") as node:
        reg = node.registrar()
        tx_sync = sign_tx(reg, node.chain_id, 0, RegisterSupplier(
            "0105551234567", "Supplier B", (PrivateKey.from_seed(b"\x06" * 32).public_key.raw,)))
        tx_commit = sign_tx(reg, node.chain_id, 1, RegisterSupplier(
            "0105551234575", "Supplier C", (PrivateKey.from_seed(b"\x07" * 32).public_key.raw,)))
        cfg = {"http": node.url, "ws": node.url.replace("http://", "ws://"), "chainId": node.chain_id,
               "txSync": b64(tx_sync), "txCommit": b64(tx_commit), "txQuery": "reg.supplier='0105551234575'",
               "queryPath": "/supplier/0105551234575"}
        env = dict(os.environ, EGP_INTEROP=json.dumps(cfg), NODE_PATH=str(modules))
        r = subprocess.run(["node", str(HERE / "interop.js")], env=env, capture_output=True, timeout=180)
        assert r.returncode == 0, r.stderr.decode(errors="replace") + "\n" + node.log_tail()
        out = json.loads(r.stdout)

        assert out["status"]["network"] == node.chain_id and out["status"]["version"].startswith("0.38.")
        h = out["block"]["height"]
        blk = node.call("block", height=str(h))
        assert out["block"]["hash"] == blk["block_id"]["hash"] and out["block"]["chainId"] == node.chain_id
        assert out["blockchain"]["metas"][0] == h and out["blockResults"]["height"] == h
        assert out["commit"]["height"] == h and out["commit"]["signatures"] >= 1
        assert out["validators"]["total"] == 1 and out["validators"]["power"] > 0
        assert out["validators"]["latestTotal"] == 1
        assert out["genesis"]["chainId"] == node.chain_id
        assert out["broadcastTxSync"]["hash"] == sha256(tx_sync).hex().upper()
        commit_hash = sha256(tx_commit).hex().upper()
        assert out["broadcastTxCommit"]["hash"] == commit_hash
        committed = node.call("tx", hash=commit_hash)
        assert out["tx"]["height"] == int(committed["height"]) == out["broadcastTxCommit"]["height"]
        assert out["tx"]["proof"] == node.call("block", height=committed["height"])["block"]["header"]["data_hash"]
        assert commit_hash in out["txSearchAll"]["hashes"] and out["txSearchAll"]["totalCount"] >= 1
        assert out["abciQuery"]["code"] == 0 and "Supplier C" in out["abciQuery"]["value"]
        assert out["newBlockEvent"]["chainId"] == node.chain_id and out["newBlockEvent"]["height"] > h - 1
        assert out["txEvent"]["hash"] == commit_hash and out["txEvent"]["code"] == 0

"""`python -m devnet up [--detach] | stop | reset | status`: four bank validators and a registrar node.

`up` builds the network on first use (devnet/.data/: node homes, genesis, demo account key files), starts
every node (PIDs recorded in devnet/.data/pids.json), prints the RPC URLs, the accounts and where the logs
are, submits the demo lifecycle on a fresh network, then shows committed heights until Ctrl-C, which stops
every node it started and only those. `--detach` returns once the network commits blocks. Data survives
`stop` and `up`; `reset` stops the network and deletes devnet/.data/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from devnet.network import Network, build_network
from devnet.procs import Proc, alive, is_ours, load_pids, save_pids, start_node, stop
from devnet.rpc import RpcError, height

# Overridable so the e2e test can run a devnet next to a developer's own (other directory, other ports).
DATA = Path(os.environ.get("EGP_DEVNET_DATA", Path(__file__).resolve().parent / ".data"))
BASE_PORT = int(os.environ.get("EGP_DEVNET_BASE_PORT", "26656"))
PIDS = DATA / "pids.json"
NET_FILE = DATA / "network.json"


def _say(msg: str) -> None:
    print(msg, flush=True)


def _running() -> list[Proc]:
    return [p for p in load_pids(PIDS) if alive(p.pid) and is_ours(p.pid, p.home)]


def _describe(net: Network) -> None:
    _say(f"\negp-chain devnet  chain_id={net.chain_id}  data={net.root}")
    for s in net.nodes:
        role = "validator" if s.validator else "non-validator"
        _say(f"  {s.moniker:<10} {role:<14} RPC {s.rpc_url}   P2P 127.0.0.1:{s.p2p_port}   "
             f"log {net.root / 'logs' / f'node{s.index}.log'}")
    _say("\ndemo accounts (plaintext devnet keys, never use them elsewhere):")
    for a in net.accounts:
        _say(f"  {a.name:<10} {a.role:<9} {a.code:<14} address {a.key.address.hex().upper()}  key {a.key_file}")
    _say("")


def _network() -> tuple[Network, bool]:
    if NET_FILE.exists():
        return _load_network(), False
    if DATA.exists():
        shutil.rmtree(DATA)
    net = build_network(DATA, p2p_base=BASE_PORT, rpc_base=BASE_PORT + 1)
    NET_FILE.write_text(json.dumps({"chain_id": net.chain_id, "accounts": [
        {"name": a.name, "role": a.role, "code": a.code} for a in net.accounts]}))
    return net, True


def _load_network() -> Network:
    from devnet.network import Account, NodeSpec
    from node.home import Home
    from state.crypto import node_id

    specs = []
    i = 0
    while (DATA / f"node{i}").exists():
        h = Home(DATA / f"node{i}")
        cfg = h.load_config()
        specs.append(NodeSpec(i, cfg.base.moniker, h.root, BASE_PORT + 10 * i, BASE_PORT + 1 + 10 * i,
                              h.paths(cfg).priv_validator_key_file.exists(), node_id(h.node_key(cfg).public_key.raw)))
        i += 1
    from cli.keystore import read_key_file

    doc = json.loads(NET_FILE.read_text())
    accounts = []
    for a in doc.get("accounts", []):
        f = DATA / "accounts" / f"{a['name']}.json"
        accounts.append(Account(a["name"], a["role"], a["code"], read_key_file(f, None), f))
    chain_id = doc["chain_id"]
    return Network(DATA, chain_id, tuple(specs), tuple(accounts))


def _wait_height(url: str, above: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            h = height(url)
            if h > above:
                return h
        except RpcError:
            pass
        time.sleep(0.25)
    return -1


def _sigterm_as_interrupt() -> None:
    """`kill <devnet pid>` stops the nodes too, as Ctrl-C does."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def up(detach: bool) -> int:
    _sigterm_as_interrupt()
    if _running():
        _say("the devnet is already running (python -m devnet stop to stop it)")
        return 1
    net, fresh = _network()
    procs = [start_node(s.home, DATA / "logs" / f"node{s.index}.log") for s in net.nodes]
    save_pids(PIDS, procs)
    try:
        return _run(net, procs, fresh, detach)
    except KeyboardInterrupt:
        _say("\nstopping the devnet ...")
        stop(procs)
        PIDS.unlink(missing_ok=True)
        _say("stopped")
        return 130


def _run(net: Network, procs: list[Proc], fresh: bool, detach: bool) -> int:
    _describe(net)
    url = net.nodes[0].rpc_url
    if _wait_height(url, 0, 60) < 0:
        _say(f"no block within 60 s; see the logs in {DATA / 'logs'}")
        stop(procs)
        PIDS.unlink(missing_ok=True)
        return 1
    if fresh:
        from devnet.demo import run_demo

        def next_block() -> None:
            _wait_height(url, height(url), 15)

        n = run_demo(net, url, next_block, _say)
        _say(f"demo: {n} transaction(s) accepted; guarantees are on the ledger\n")
    if detach:
        _say("detached; stop with: python -m devnet stop")
        return 0
    _say("committed heights (Ctrl-C stops every node of this devnet):")
    while True:
        hs = []
        for s in net.nodes:
            try:
                hs.append(f"{s.moniker}={height(s.rpc_url, 1.0)}")
            except RpcError:
                hs.append(f"{s.moniker}=down")
        _say("  " + "  ".join(hs))
        time.sleep(2)


def stop_cmd() -> int:
    procs = load_pids(PIDS)
    if not procs:
        _say("the devnet is not running")
        return 0
    stop(procs)
    PIDS.unlink(missing_ok=True)
    _say(f"stopped {len(procs)} node(s)")
    return 0


def reset() -> int:
    stop_cmd()
    if DATA.exists():
        shutil.rmtree(DATA)
    _say(f"removed {DATA}")
    return 0


def status() -> int:
    if not NET_FILE.exists():
        _say("no devnet (python -m devnet up)")
        return 1
    for i in range(16):
        home = DATA / f"node{i}"
        if not home.exists():
            break
        url = f"http://127.0.0.1:{BASE_PORT + 1 + 10 * i}"
        try:
            _say(f"node{i} {url} height {height(url, 1.0)}")
        except RpcError:
            _say(f"node{i} {url} down")
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m devnet", description=__doc__.splitlines()[0] if __doc__ else "")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="build (first time) and start the devnet")
    p_up.add_argument("--detach", action="store_true", help="return once blocks are committed")
    sub.add_parser("stop", help="stop the nodes started by `up`")
    sub.add_parser("reset", help="stop and delete all devnet data")
    sub.add_parser("status", help="show each node's height")
    args = ap.parse_args(argv)
    if args.cmd == "up":
        return up(args.detach)
    if args.cmd == "stop":
        return stop_cmd()
    if args.cmd == "reset":
        return reset()
    return status()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

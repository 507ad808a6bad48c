"""`python -m devnet up [--detach] | stop | reset | status`: four bank validators and a registrar node.

`up` builds the network on first use (devnet/.data/: node homes, genesis, demo account key files), starts
every node (PIDs recorded in devnet/.data/pids.json), prints the RPC URLs, the accounts and where the logs
are, submits the demo lifecycle on a fresh network, then shows committed heights until Ctrl-C, which stops
every node it started and only those. `--detach` returns once the network commits blocks. Data survives
`stop` and `up`; `reset` stops the network and deletes devnet/.data/.

`up` waits for what it needs (the first block, each demo batch in a block), never for a fixed time: a loaded
machine only makes it slower. It gives up at a generous deadline, or at once when a node process exits, with
a message naming the node and its log.
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
from devnet.wait import WaitTimeout, until

# Overridable so the e2e test can run a devnet next to a developer's own (other directory, other ports).
DATA = Path(os.environ.get("EGP_DEVNET_DATA", Path(__file__).resolve().parent / ".data"))
BASE_PORT = int(os.environ.get("EGP_DEVNET_BASE_PORT", "26656"))
PIDS = DATA / "pids.json"
NET_FILE = DATA / "network.json"
START_TIMEOUT_S = 120.0  # five Python nodes starting on a loaded 2-core machine: seconds; a stuck network: never


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


def _wait_new_block(net: Network, procs: list[Proc], timeout: float) -> None:
    """Return once node 0 commits a block above the first height it reports (block 1 on a fresh network; on a
    restarted one, a block more than it had stored: the network is live again). Raises WaitTimeout at the
    deadline, or at once (naming the node and its log) when a node process has exited: it will not come back
    by itself."""
    url = net.nodes[0].rpc_url
    first: list[int] = []
    last = [""]

    def committed() -> bool:
        for s, p in zip(net.nodes, procs, strict=True):
            code = p.popen.poll() if p.popen is not None else None
            if code is not None:
                raise WaitTimeout(f"{s.moniker} (node{s.index}) exited with status {code} before a block was "
                                  f"committed; see {p.log}")
        try:
            h = height(url)
        except RpcError as exc:
            last[0] = str(exc)
            return False
        if not first:
            first.append(h)
        last[0] = f"height {h}"
        return h > first[0]

    until(committed, timeout, f"a new block on {url}", last=lambda: f"last answer: {last[0]}" if last[0] else "")


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
    try:
        _wait_new_block(net, procs, START_TIMEOUT_S)
    except WaitTimeout as exc:
        _say(f"{exc}; see the logs in {DATA / 'logs'}")
        stop(procs)
        PIDS.unlink(missing_ok=True)
        return 1
    if fresh:
        from devnet.demo import DemoError, run_demo

        try:
            n = run_demo(net, url, _say)
            _say(f"demo: {n} transaction(s) accepted; guarantees are on the ledger\n")
        except DemoError as exc:  # the network runs on; the demo's guarantees are not (all) there
            _say(f"{exc}; the devnet keeps running without the rest of the demo (logs in {DATA / 'logs'})\n")
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

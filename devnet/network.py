"""Build a local network of bank validators (plus non-validators) on 127.0.0.1: homes, genesis, accounts.

Why the devnet builds its own homes with `node.home.init_home` instead of shelling out to `egp testnet`:
it also writes the demo accounts (registrar, banks' officers, agencies, suppliers) into genesis `app_state`
and their key files, and it picks the ports of the issue (node i: P2P 26656+10·i, RPC 26657+10·i) or,
for tests, any base port. Keys are derived from a seed so a test can rebuild the same network; the devnet
uses fresh random keys.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from cli.keystore import seal
from node.config import Config
from node.genesis import GENERATED_PARAMS, ConsensusParams, Genesis, GenesisValidator, save_genesis
from node.home import init_home
from state.crypto import PrivateKey, node_id, write_private_file
from state.registry import with_check_digit

BANKS = (("KTB", "006", "Krung Thai Bank"), ("BBL", "002", "Bangkok Bank"), ("KBANK", "004", "Kasikornbank"),
         ("SCB", "014", "Siam Commercial Bank"), ("BAY", "025", "Bank of Ayudhya"), ("TTB", "011", "TMBThanachart"))
AGENCIES = (("CGD", "Comptroller General's Department"), ("DOH", "Department of Highways"))
SUPPLIERS = (("Siam Civil Works Co., Ltd.", "010555"), ("Chao Phraya Engineering Co., Ltd.", "010556"),
             ("Lanna IT Solutions Co., Ltd.", "050555"))


@dataclass(frozen=True)
class Account:
    name: str
    role: str  # registrar | bank | agency | supplier
    code: str
    key: PrivateKey
    key_file: Path


@dataclass(frozen=True)
class NodeSpec:
    index: int
    moniker: str
    home: Path
    p2p_port: int
    rpc_port: int
    validator: bool
    node_id: str

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"


@dataclass(frozen=True)
class Network:
    root: Path
    chain_id: str
    nodes: tuple[NodeSpec, ...]
    accounts: tuple[Account, ...]

    def account(self, name: str) -> Account:
        return next(a for a in self.accounts if a.name == name)


def _key(seed: str | None, label: str) -> PrivateKey:
    if seed is None:
        return PrivateKey.generate()
    return PrivateKey.from_seed(hashlib.sha256(f"{seed}/{label}".encode()).digest())


def fast_params(commit_ms: int = 1000, propose_ms: int = 3000, skip_timeout_commit: bool = False) -> ConsensusParams:
    """Test timeouts: what every node agrees on through genesis (the devnet's are `DEVNET_PARAMS`)."""
    return ConsensusParams(timeout_propose_ms=propose_ms, timeout_propose_delta_ms=500, timeout_prevote_ms=1000,
                           timeout_prevote_delta_ms=500, timeout_precommit_ms=1000, timeout_precommit_delta_ms=500,
                           timeout_commit_ms=commit_ms, skip_timeout_commit=skip_timeout_commit)


# `make devnet`: what `egp init` / `egp testnet` write (timeout_commit 1 s, skip_timeout_commit on; measured in
# docs/design.md §9): blocks follow the load, an idle devnet makes one block a second
DEVNET_PARAMS = GENERATED_PARAMS


def build_network(
    root: Path,
    *,
    validators: int = 4,
    non_validators: int = 1,
    p2p_base: int = 26656,
    rpc_base: int = 26657,
    step: int = 10,
    chain_id: str = "egp-devnet",
    seed: str | None = None,
    params: ConsensusParams | None = None,
    create_empty_blocks: bool = True,
) -> Network:
    """Write `validators` bank validator homes and `non_validators` registrar homes under `root`."""
    if not 1 <= validators <= len(BANKS):
        raise ValueError(f"between 1 and {len(BANKS)} validators")
    root.mkdir(parents=True, exist_ok=True)
    n = validators + non_validators
    node_keys = [_key(seed, f"node{i}") for i in range(n)]
    val_keys = [_key(seed, f"val{i}") for i in range(n)]
    ids = [node_id(k.public_key.raw) for k in node_keys]
    specs: list[NodeSpec] = []
    for i in range(n):
        moniker = BANKS[i][0] if i < validators else ("registrar" if i == validators else f"observer{i}")
        specs.append(NodeSpec(i, moniker, root / f"node{i}", p2p_base + step * i, rpc_base + step * i,
                              i < validators, ids[i]))
    accounts = _accounts(root, validators, seed)
    app_state = _app_state(accounts, val_keys[:validators])
    genesis = Genesis(
        chain_id=chain_id,
        genesis_time_ns=time.time_ns() // 1_000_000 * 1_000_000,
        validators=tuple(GenesisValidator(val_keys[i].public_key.raw, 10, BANKS[i][0]) for i in range(validators)),
        consensus_params=params or DEVNET_PARAMS,
        app_state=app_state,
    )
    for s in specs:
        cfg = Config()
        cfg.consensus.create_empty_blocks = create_empty_blocks
        cfg.p2p.laddr = f"tcp://127.0.0.1:{s.p2p_port}"
        cfg.rpc.laddr = f"tcp://127.0.0.1:{s.rpc_port}"
        cfg.p2p.persistent_peers = [f"{o.node_id}@127.0.0.1:{o.p2p_port}" for o in specs if o is not s]
        init_home(s.home, moniker=s.moniker, chain_id=chain_id, config=cfg, genesis=genesis,
                  node_key=node_keys[s.index], validator_key=val_keys[s.index] if s.validator else None)
        if not s.validator:  # a non-validator keeps no validator key: it must never sign
            (s.home / "config" / "priv_validator_key.json").unlink(missing_ok=True)
    net = Network(root, chain_id, tuple(specs), accounts)
    save_genesis(root / "genesis.json", genesis)
    return net


def _accounts(root: Path, validators: int, seed: str | None) -> tuple[Account, ...]:
    out: list[Account] = []
    keydir = root / "accounts"

    def add(name: str, role: str, code: str) -> None:
        k = _key(seed, f"acct/{name}")
        path = keydir / f"{name}.json"
        write_private_file(path, json.dumps(seal(k, name, None), indent=2) + "\n")
        out.append(Account(name, role, code, k, path))

    add("registrar", "registrar", "REG")
    for short, code, _ in BANKS[:validators]:
        add(short.lower(), "bank", code)
    for short, _ in AGENCIES:
        add(short.lower(), "agency", short)
    for i, (_, prefix) in enumerate(SUPPLIERS):
        add(f"supplier{i + 1}", "supplier", with_check_digit(prefix + "0001234"[: 12 - len(prefix)].rjust(
            12 - len(prefix), "0")))
    return tuple(out)


def _app_state(accounts: tuple[Account, ...], val_keys: list[PrivateKey]) -> dict[str, object]:
    def keys(a: Account) -> list[str]:
        return [a.key.public_key.raw.hex()]

    reg = next(a for a in accounts if a.role == "registrar")
    banks = [a for a in accounts if a.role == "bank"]
    names = {code: name for _, code, name in BANKS}
    return {
        "registrar": {"code": reg.code, "name": "Comptroller General's Department (registrar)", "keys": keys(reg)},
        "banks": [{"code": b.code, "name": names[b.code], "keys": keys(b),
                   "validators": [val_keys[i].public_key.raw.hex()]} for i, b in enumerate(banks)],
        "agencies": [{"code": a.code, "name": dict(AGENCIES)[a.code], "keys": keys(a)}
                     for a in accounts if a.role == "agency"],
        "suppliers": [{"tax_id": a.code, "name": SUPPLIERS[int(a.name[-1]) - 1][0], "keys": keys(a)}
                      for a in accounts if a.role == "supplier"],
    }


def port_free(port: int) -> bool:
    """True if a listener could bind 127.0.0.1:`port` now (the networks started here bind nothing else)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True

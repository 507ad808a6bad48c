"""Generate the homes of a local network: N validators plus M non-validators sharing one genesis.

Why a library function and not only a CLI command: the devnet (`make devnet`) and the end-to-end tests build
their networks with it, so they run exactly the layout an operator gets from `egp testnet`.

Node i lives in `<output>/node<i>`, listens for peers on `starting_port + 10·i` and for RPC on
`starting_port + 1 + 10·i` (26656/26657, 26666/26667, ...), keeps every other node as a persistent peer and
allows exactly the network's node IDs. Validators are named after banks unless monikers are given; the
non-validators come after them (the first is the registrar's node).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.config import Config
from node.genesis import GENERATED_PARAMS, ConsensusParams, Genesis, GenesisValidator, default_app_state
from node.home import DEFAULT_POWER, Home, HomeError, init_home, random_chain_id
from state.crypto import PrivateKey, node_id

BANKS = (  # (Bank of Thailand bank code, name)
    ("002", "Bangkok Bank"),
    ("004", "Kasikornbank"),
    ("006", "Krungthai Bank"),
    ("014", "Siam Commercial Bank"),
    ("025", "Bank of Ayudhya"),
    ("011", "TMBThanachart Bank"),
    ("030", "Government Savings Bank"),
    ("024", "UOB Thailand"),
    ("022", "CIMB Thai"),
    ("069", "Kiatnakin Phatra Bank"),
)
BANK_MONIKERS = tuple(name for _, name in BANKS)
PORT_STEP = 10


@dataclass(frozen=True)
class TestnetNode:
    index: int
    home: Home
    moniker: str
    node_id: str
    validator: bool
    p2p_port: int
    rpc_port: int
    host: str = "127.0.0.1"

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.rpc_port}"

    @property
    def p2p_address(self) -> str:
        return f"{self.node_id}@{self.host}:{self.p2p_port}"


def bank_code(i: int) -> str:
    return BANKS[i][0] if i < len(BANKS) else f"{900 + i % 100:03d}"


def default_monikers(validators: int, non_validators: int) -> list[str]:
    vals = [BANK_MONIKERS[i] if i < len(BANK_MONIKERS) else f"Bank {i + 1}" for i in range(validators)]
    others = ["registrar" if i == 0 else f"observer-{i}" for i in range(non_validators)]
    return vals + others


def make_testnet(
    output_dir: Path,
    *,
    validators: int = 4,
    non_validators: int = 0,
    chain_id: str | None = None,
    monikers: Sequence[str] | None = None,
    host: str = "127.0.0.1",
    starting_port: int = 26656,
    params: ConsensusParams | None = None,
    app_state: Any = None,
    registrar_pub: bytes | None = None,
    genesis_time_ns: int | None = None,
    base_config: Config | None = None,
) -> list[TestnetNode]:
    """Write the homes and return them; refuses an output directory that already holds a node.

    Without `app_state`, genesis gets `default_app_state`: the registrar (key `registrar_pub`) and one bank
    per validator (code from `BANKS`, name = moniker) operating it.
    """
    if validators < 1:
        raise HomeError("a network needs at least one validator")
    if non_validators < 0:
        raise HomeError("the number of non-validators cannot be negative")
    total = validators + non_validators
    names = list(monikers) if monikers else default_monikers(validators, non_validators)
    if len(names) != total:
        raise HomeError(f"{len(names)} monikers given for {total} nodes")
    last_port = starting_port + PORT_STEP * (total - 1) + 1
    if starting_port < 1 or last_port > 65535:
        raise HomeError(f"ports {starting_port}..{last_port} are out of range")
    homes = [Home(output_dir / f"node{i}") for i in range(total)]
    for h in homes:
        if h.config_file.exists():
            raise HomeError(f"{h.root} is already initialised; choose another --output-dir")
    node_keys = [PrivateKey.generate() for _ in range(total)]
    val_keys = [PrivateKey.generate() for _ in range(total)]
    ids = [node_id(k.public_key.raw) for k in node_keys]
    genesis = Genesis(
        chain_id=chain_id or random_chain_id("egp-testnet"),
        genesis_time_ns=genesis_time_ns if genesis_time_ns is not None else time.time_ns() // 1_000_000 * 1_000_000,
        validators=tuple(
            GenesisValidator(val_keys[i].public_key.raw, DEFAULT_POWER, names[i]) for i in range(validators)
        ),
        consensus_params=params if params is not None else GENERATED_PARAMS,
        app_state=app_state
        if app_state is not None
        else default_app_state(
            registrar_pub, [(bank_code(i), names[i], val_keys[i].public_key.raw) for i in range(validators)]
        ),
    )
    nodes: list[TestnetNode] = []
    for i, home in enumerate(homes):
        p2p, rpc = starting_port + PORT_STEP * i, starting_port + PORT_STEP * i + 1
        cfg = _node_config(base_config, host, p2p, rpc)
        cfg.p2p.persistent_peers = [f"{ids[j]}@{host}:{starting_port + PORT_STEP * j}" for j in range(total) if j != i]
        cfg.p2p.allowed_peer_ids = [ids[j] for j in range(total) if j != i]
        init_home(
            home.root,
            moniker=names[i],
            config=cfg,
            genesis=genesis,
            node_key=node_keys[i],
            validator_key=val_keys[i],
        )
        nodes.append(TestnetNode(i, home, names[i], ids[i], i < validators, p2p, rpc, host))
    return nodes


def _node_config(base: Config | None, host: str, p2p_port: int, rpc_port: int) -> Config:
    cfg = Config() if base is None else _copy_config(base)
    cfg.p2p.laddr = f"tcp://{host}:{p2p_port}"
    cfg.p2p.external_address = f"{host}:{p2p_port}"
    cfg.rpc.laddr = f"tcp://{host}:{rpc_port}"
    return cfg


def _copy_config(cfg: Config) -> Config:
    """Every section of `cfg` (a deep copy: a section added to Config later is carried too; the storage
    section was once left out here, so a testnet's trie_cache_mib silently fell back to the default)."""
    return copy.deepcopy(cfg)

"""The node's home directory, laid out as CometBFT's so operators find what they expect:

    <home>/config/config.toml              local configuration (node.config)
    <home>/config/genesis.json             the chain's genesis (node.genesis)
    <home>/config/node_key.json            P2P identity (node ID = hex of its address)
    <home>/config/priv_validator_key.json  validator signing key
    <home>/config/addrbook.json            peers learnt at run time (kept by `reset --keep-addr-book`)
    <home>/data/egp.db/                    LevelDB: block store, state store, index and application state
    <home>/data/priv_validator_state.json  the signer guard's last signed height/round/step

Why one LevelDB for everything: the runtime commits a block's results, index entries and the application's
state in one atomic batch (see node.blockstore), which needs them in one database.

The home is `--home`, else `$EGP_HOME`, else `~/.egp`. Paths in config.toml are relative to the home.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from node.config import Config, load_config, write_config
from node.genesis import (
    GENERATED_PARAMS,
    Genesis,
    GenesisValidator,
    check_chain_id,
    default_app_state,
    load_genesis,
    save_genesis,
)
from node.privval import LastSignState, reset_state, save_state, take_back_journal
from state.crypto import (
    PrivateKey,
    load_node_key,
    load_priv_validator_key,
    node_id,
    save_node_key,
    save_priv_validator_key,
)
from state.kv_level import LevelKV

HOME_ENV = "EGP_HOME"
DB_NAME = "egp.db"
ADDR_BOOK = "addrbook.json"
DEFAULT_POWER = 10


class HomeError(Exception):
    """The home directory is missing, already initialised, or incomplete; the message says which file."""


def default_home() -> Path:
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else Path.home() / ".egp"


def random_chain_id(prefix: str = "egp-chain") -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def addr_book_file(self) -> Path:
        return self.config_dir / ADDR_BOOK

    def is_initialised(self) -> bool:
        return self.config_file.exists()

    def load_config(self) -> Config:
        if not self.root.is_dir():
            raise HomeError(f"{self.root}: no such home directory (run `egp init --home {self.root}`)")
        return load_config(self.config_file)

    def resolve(self, rel: str) -> Path:
        p = Path(rel).expanduser()
        return p if p.is_absolute() else self.root / p

    def paths(self, cfg: Config | None = None) -> HomePaths:
        c = cfg if cfg is not None else Config()
        data = self.resolve(c.base.db_dir)
        return HomePaths(
            genesis_file=self.resolve(c.base.genesis_file),
            node_key_file=self.resolve(c.base.node_key_file),
            priv_validator_key_file=self.resolve(c.base.priv_validator_key_file),
            priv_validator_state_file=self.resolve(c.base.priv_validator_state_file),
            data_dir=data,
            db_path=data / DB_NAME,
        )

    def node_key(self, cfg: Config | None = None) -> PrivateKey:
        return load_node_key(self.paths(cfg).node_key_file)

    def validator_key(self, cfg: Config | None = None) -> PrivateKey:
        return load_priv_validator_key(self.paths(cfg).priv_validator_key_file)

    def genesis(self, cfg: Config | None = None) -> Genesis:
        return load_genesis(self.paths(cfg).genesis_file)


@dataclass(frozen=True)
class HomePaths:
    genesis_file: Path
    node_key_file: Path
    priv_validator_key_file: Path
    priv_validator_state_file: Path
    data_dir: Path
    db_path: Path


def init_home(
    root: Path,
    *,
    moniker: str,
    chain_id: str | None = None,
    config: Config | None = None,
    genesis: Genesis | None = None,
    node_key: PrivateKey | None = None,
    validator_key: PrivateKey | None = None,
    registrar_pub: bytes | None = None,
) -> Home:
    """Create a home: config, keys (existing key files are kept), genesis, data/ and a fresh signer state.

    Without `genesis`, a single-validator genesis for this node's key is written (as `cometbft init`), whose
    app_state names `registrar_pub` as the registrar's key. Refuses a home that already has a config.toml.
    """
    home = Home(root)
    if home.config_file.exists():
        raise HomeError(f"{home.root} is already initialised ({home.config_file} exists); use another --home")
    cfg = config if config is not None else Config()
    cfg.base.moniker = moniker
    cfg.validate()
    if chain_id is not None:
        check_chain_id(chain_id)
    paths = home.paths(cfg)
    nk = _key(paths.node_key_file, node_key, load_node_key, save_node_key)
    vk = _key(paths.priv_validator_key_file, validator_key, load_priv_validator_key, save_priv_validator_key)
    del nk
    if genesis is None and paths.genesis_file.exists():
        genesis = load_genesis(paths.genesis_file)
    elif genesis is None:
        genesis = Genesis(
            chain_id=chain_id or random_chain_id(),
            genesis_time_ns=time.time_ns() // 1_000_000 * 1_000_000,
            validators=(GenesisValidator(vk.public_key.raw, DEFAULT_POWER, moniker),),
            consensus_params=GENERATED_PARAMS,
            app_state=default_app_state(registrar_pub),
        )
        save_genesis(paths.genesis_file, genesis)
    else:
        save_genesis(paths.genesis_file, genesis)
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    if not paths.priv_validator_state_file.exists():
        save_state(paths.priv_validator_state_file, LastSignState())
    write_config(home.config_file, cfg)  # last: its presence marks a complete home
    return home


def _key(
    path: Path,
    given: PrivateKey | None,
    load: Callable[[Path], PrivateKey],
    save: Callable[[Path, PrivateKey], None],
) -> PrivateKey:
    if path.exists():
        key = load(path)
        if given is not None and given.seed != key.seed:
            raise HomeError(f"{path} already holds another key")
        return key
    key = given if given is not None else PrivateKey.generate()
    save(path, key)
    return key


def show_node_id(home: Home) -> str:
    cfg = home.load_config()
    return node_id(home.node_key(cfg).public_key.raw)


def _refuse_if_running(db_path: Path) -> None:
    """LevelDB's lock tells whether a node has the database open; never wipe it under a running node."""
    if not db_path.exists():
        return
    try:
        LevelKV(db_path).close()
    except Exception as exc:  # plyvel raises IOError (lock held) or its own Error types
        raise HomeError(f"{db_path} is in use ({exc}); stop the node first") from None


def _take_back_signer_state(db_path: Path, state_file: Path) -> None:
    """The consensus WAL holds the signer's last state (journaled mode, node/privval.py); the file follows it
    without fsync, so after a power failure it can be behind. Wiping data/ would lose the WAL's copy: take it
    into the file first, durably, so the kept signer state still covers everything this key signed."""
    if not db_path.exists():
        return
    from node.assemble import NS_WAL  # (assemble imports this module)
    from node.wal import SIGNER_KEY

    kv = LevelKV(db_path)
    try:
        record = kv.get(NS_WAL + SIGNER_KEY)
    finally:
        kv.close()
    take_back_journal(state_file, record)


def reset_home(home: Home, *, unsafe_all: bool = False, keep_addr_book: bool = False) -> list[Path]:
    """Wipe data/ but keep the keys, the genesis and the config; returns what was removed.

    The signer state is kept (so this validator still refuses to sign below what it signed) unless
    `unsafe_all`, which resets it to height 0: only safe when the whole chain is being restarted from genesis.
    """
    cfg = home.load_config()
    paths = home.paths(cfg)
    data, root = paths.data_dir.resolve(), home.root.resolve()
    if data == root or data in root.parents or home.config_dir.resolve().is_relative_to(data):
        raise HomeError(f"db_dir {cfg.base.db_dir!r} is not a directory of its own under the home; refusing to wipe it")
    _refuse_if_running(paths.db_path)
    removed: list[Path] = []
    state_file = paths.priv_validator_state_file
    if not unsafe_all:
        _take_back_signer_state(paths.db_path, state_file)
    if paths.data_dir.exists():
        for entry in sorted(paths.data_dir.iterdir()):
            if entry == state_file:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    if not keep_addr_book and home.addr_book_file.exists():
        home.addr_book_file.unlink()
        removed.append(home.addr_book_file)
    if unsafe_all or not state_file.exists():
        reset_state(state_file)
    return removed

"""The node's local configuration: `config/config.toml`, read with tomllib and validated key by key.

Why so strict: an operator's typo (`laddr = "tcp://0.0.0.0:2665"`, `persistant_peers`) must stop the node at
start with the key named, not surface hours later as a silent default. Unknown keys are errors.

Only *local* choices live here (listen addresses, peers, sizes of queues and pools, logging, whether to make
empty blocks). What every bank must agree on (consensus timeouts, block size) lives in genesis consensus
parameters (`node.genesis`), so no validator can give itself an edge by tuning them (cometbft#2873).

Durations are written as Go-style strings ("10s", "500ms", "1m30s") and held as integer milliseconds.
The file is written from the same field list that validates it, each key preceded by its comment.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.limits import SUBSCRIPTION_BUFFER_DEFAULT
from state.trie import CACHE_BYTES as TRIE_CACHE_BYTES

# [storage] trie_cache_mib: at least the trie's top four page levels (4,369 pages of ~1.6 KB, ~7 MiB: what
# every block reads) with room, at most 64 GiB (a typo guard: the bound is not reserved up front)
TRIE_CACHE_MIB_RANGE = (16, 65_536)

LOG_LEVELS = ("debug", "info", "warn", "error")
LOG_FORMATS = ("plain", "json")
_DURATION_UNITS_NS = {
    "h": 3_600_000_000_000,
    "m": 60_000_000_000,
    "s": 1_000_000_000,
    "ms": 1_000_000,
    "us": 1_000,
    "µs": 1_000,
    "ns": 1,
}
_DURATION_RE = re.compile(r"(\d+)(h|ms|m|s|us|µs|ns)")
_PEER_RE = re.compile(r"^([0-9a-f]{40})@([A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$")
_NODE_ID_RE = re.compile(r"^[0-9a-f]{40}$")


class ConfigError(ValueError):
    """The configuration is unreadable or a key has a bad value; the message names the key."""


def parse_duration_ns(text: str) -> int:
    """Go `time.ParseDuration` for non-negative whole units: "1h30m", "500ms", "0s"."""
    if not isinstance(text, str) or not text:
        raise ValueError('a duration is a string like "500ms" or "3s"')
    if text == "0":
        return 0
    pos, total = 0, 0
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _DURATION_UNITS_NS[m.group(2)]
        pos = m.end()
    if pos != len(text):
        raise ValueError(f'bad duration {text!r} (use e.g. "500ms", "3s", "1m30s")')
    return total


def parse_duration_ms(text: str) -> int:
    ns = parse_duration_ns(text)
    if ns % 1_000_000:
        raise ValueError(f"duration {text!r} is not a whole number of milliseconds")
    return ns // 1_000_000


def format_duration_ms(ms: int) -> str:
    if ms and ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


def parse_laddr(text: str) -> tuple[str, int]:
    """`tcp://host:port` → (host, port)."""
    m = re.fullmatch(r"tcp://([A-Za-z0-9.\-]*|\[[0-9a-fA-F:]+\]):(\d{1,5})", text)
    if m is None or int(m.group(2)) > 65535:
        raise ValueError(f'{text!r} is not a listen address like "tcp://127.0.0.1:26657"')
    return m.group(1).strip("[]") or "0.0.0.0", int(m.group(2))


def parse_peer(text: str) -> tuple[str, str, int]:
    """`<node id>@host:port` → (node_id, host, port)."""
    m = _PEER_RE.match(text)
    if m is None or int(m.group(3)) > 65535:
        raise ValueError(f'{text!r} is not a peer like "<40 hex node id>@host:port"')
    return m.group(1), m.group(2).strip("[]"), int(m.group(3))


def _opt(doc: str, *, duration: bool = False, choices: tuple[str, ...] = (), minimum: int | None = 0,
         maximum: int | None = None) -> Any:
    return {"doc": doc, "duration": duration, "choices": choices, "minimum": minimum, "maximum": maximum}


def _f(default: Any, doc: str, **kw: Any) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=_opt(doc, **kw))
    return field(default=default, metadata=_opt(doc, **kw))


@dataclass
class BaseConfig:
    moniker: str = _f("node", "A name for this node, shown to peers and in RPC status (e.g. the bank's name).")
    log_level: str = _f("info", "Least severe level logged: debug, info, warn or error.", choices=LOG_LEVELS)
    log_format: str = _f(
        "plain", "plain (key=value, one line an event) or json (one object a line).", choices=LOG_FORMATS
    )
    db_dir: str = _f("data", "Where the LevelDB database and the signer state live (relative to the home).")
    genesis_file: str = _f("config/genesis.json", "Genesis file (relative to the home).")
    node_key_file: str = _f("config/node_key.json", "The node's P2P identity key (relative to the home).")
    priv_validator_key_file: str = _f("config/priv_validator_key.json", "The validator signing key.")
    priv_validator_state_file: str = _f(
        "data/priv_validator_state.json", "Last signed height/round/step: the double-sign guard. Never delete it."
    )


@dataclass
class P2PConfig:
    laddr: str = _f("tcp://0.0.0.0:26656", "Address to listen on for peers.")
    external_address: str = _f("", "Address advertised to peers (host:port); empty = the listen address.")
    persistent_peers: list[str] = _f([], 'Peers to keep connected to, as "<node id>@host:port".')  # noqa: RUF009
    allowed_peer_ids: list[str] = _f(  # noqa: RUF009
        [], "Node IDs allowed to connect (permissioned network). Empty = only the persistent peers."
    )
    max_connections: int = _f(64, "Most peer connections at once.", minimum=1)
    max_frame_bytes: int = _f(
        8_454_144, "Largest frame accepted from a peer; a bigger one drops the peer.", minimum=1024
    )
    send_queue_size: int = _f(1024, "Messages queued per peer before the slowest are dropped.", minimum=1)
    dial_timeout: int = _f(3000, "Timeout of one dial attempt.", duration=True, minimum=1)
    handshake_timeout: int = _f(20000, "Timeout of the authenticated handshake.", duration=True, minimum=1)
    max_reconnect_backoff: int = _f(
        60000, "Longest wait between reconnection attempts to a persistent peer.", duration=True, minimum=1
    )


@dataclass
class RPCConfig:
    laddr: str = _f("tcp://127.0.0.1:26657", "JSON-RPC listen address; empty disables the RPC server.")
    cors_allowed_origins: list[str] = _f([], 'Origins allowed by CORS; ["*"] allows any.')  # noqa: RUF009
    max_open_connections: int = _f(900, "Most simultaneous HTTP connections.", minimum=1)
    max_body_bytes: int = _f(1_000_000, "Largest request body.", minimum=1024)
    max_header_bytes: int = _f(1_048_576, "Largest request header block.", minimum=1024)
    max_request_batch_size: int = _f(10, "Most requests in one JSON-RPC batch.", minimum=1)
    max_subscription_clients: int = _f(100, "Most WebSocket clients with subscriptions.", minimum=0)
    max_subscriptions_per_client: int = _f(5, "Most subscriptions of one WebSocket client.", minimum=0)
    subscription_buffer_size: int = _f(
        SUBSCRIPTION_BUFFER_DEFAULT,
        "Events buffered per subscription before a slow client is cut off (default: two maximal blocks' events).",
        minimum=1,
    )
    timeout_broadcast_tx_commit: int = _f(
        10000, "How long broadcast_tx_commit waits for the block.", duration=True, minimum=1
    )


@dataclass
class MempoolConfig:
    size: int = _f(5000, "Most transactions held.", minimum=1)
    max_txs_bytes: int = _f(1_073_741_824, "Most bytes of transactions held.", minimum=1)
    max_tx_bytes: int = _f(1_048_576, "Largest single transaction.", minimum=1)
    cache_size: int = _f(10000, "Hashes of recently seen transactions remembered to drop duplicates.", minimum=0)
    recheck: bool = _f(True, "Re-run check_tx on the remaining transactions after each block.")
    broadcast: bool = _f(True, "Gossip transactions to peers.")


@dataclass
class ConsensusConfig:
    create_empty_blocks: bool = _f(
        True,
        "Make blocks without transactions. false = wait for transactions "
        "(blocks that prove a new app hash are still made).",
    )
    create_empty_blocks_interval: int = _f(
        0, "With create_empty_blocks = false: make an empty block at least this often (0s = never).", duration=True
    )
    double_sign_check_height: int = _f(
        0,
        "At start, refuse to sign if this key signed any of the last N "
        "blocks (the same key running elsewhere). 0 = off.",
    )


@dataclass
class BlockSyncConfig:
    enable: bool = _f(True, "Catch up by block sync at start when behind the peers.")
    switch_threshold: int = _f(
        5, "Switch back from consensus to block sync when this many blocks behind the peers.", minimum=1
    )


@dataclass
class InstrumentationConfig:
    prometheus: bool = _f(True, "Serve Prometheus metrics at /metrics.")
    prometheus_listen_addr: str = _f(
        "", "Separate listen address for /metrics (tcp://host:port); empty = served by the RPC server."
    )


@dataclass
class TxIndexConfig:
    indexer: str = _f("kv", "kv: index transactions and blocks by event; null: no index.", choices=("kv", "null"))


@dataclass
class StorageConfig:
    trie_cache_mib: int = _f(
        TRIE_CACHE_BYTES >> 20,
        "MiB of decoded state-trie pages kept in memory: a bound the cache grows to with the state (its "
        "estimate of Python memory; the process's own memory follows it, about 0.9 MiB per MiB). Every changed "
        "key of a block reads the pages on its path, and a page not held costs a LevelDB read and a decode "
        "(10-30 us of CPU); when the trie does not fit, its sparse bottom pages go first. The trie grows by "
        "~0.5 KB per committed tx of the bench workload (~300 MiB at 600,000) and about 1.1 MiB per 1,000 "
        "state records holds it whole; the node's memory levels off at about 140 MiB plus this bound once "
        "the trie outgrows it. On a validator with memory to spare, set it to the state's records / 900 or "
        "more.",
        minimum=TRIE_CACHE_MIB_RANGE[0], maximum=TRIE_CACHE_MIB_RANGE[1],
    )


SECTIONS: dict[str, type] = {
    "p2p": P2PConfig,
    "rpc": RPCConfig,
    "mempool": MempoolConfig,
    "consensus": ConsensusConfig,
    "blocksync": BlockSyncConfig,
    "instrumentation": InstrumentationConfig,
    "tx_index": TxIndexConfig,
    "storage": StorageConfig,
}


@dataclass
class Config:
    base: BaseConfig = field(default_factory=BaseConfig)
    p2p: P2PConfig = field(default_factory=P2PConfig)
    rpc: RPCConfig = field(default_factory=RPCConfig)
    mempool: MempoolConfig = field(default_factory=MempoolConfig)
    consensus: ConsensusConfig = field(default_factory=ConsensusConfig)
    blocksync: BlockSyncConfig = field(default_factory=BlockSyncConfig)
    instrumentation: InstrumentationConfig = field(default_factory=InstrumentationConfig)
    tx_index: TxIndexConfig = field(default_factory=TxIndexConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)

    def validate(self) -> None:
        """Cross-key checks; raises ConfigError naming the key."""
        for section, obj in self._sections():
            for f in dataclasses.fields(obj):
                _check_value(f"{section}{f.name}", getattr(obj, f.name), f)
        _check_semantics(self)

    def _sections(self) -> list[tuple[str, Any]]:
        return [("", self.base)] + [(f"{name}.", getattr(self, name)) for name in SECTIONS]


def _type_name(f: dataclasses.Field[Any]) -> str:
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def _check_value(key: str, value: Any, f: dataclasses.Field[Any]) -> None:
    meta, tname = f.metadata, _type_name(f)
    if tname == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
    elif tname == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if meta["maximum"] is not None and not meta["minimum"] <= value <= meta["maximum"]:
            raise ConfigError(f"{key}: must be from {meta['minimum']} to {meta['maximum']}, got {value}")
        if meta["minimum"] is not None and value < meta["minimum"]:
            raise ConfigError(f"{key}: must be at least {meta['minimum']}, got {value}")
    elif tname == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        if meta["choices"] and value not in meta["choices"]:
            raise ConfigError(f"{key}: must be one of {', '.join(meta['choices'])}, got {value!r}")
    elif not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ConfigError(f"{key}: expected a list of strings, got {value!r}")


def _check_semantics(cfg: Config) -> None:
    checks: list[tuple[str, str, bool]] = [
        ("p2p.laddr", cfg.p2p.laddr, False),
        ("rpc.laddr", cfg.rpc.laddr, True),
        ("instrumentation.prometheus_listen_addr", cfg.instrumentation.prometheus_listen_addr, True),
    ]
    for key, value, may_be_empty in checks:
        if value == "" and may_be_empty:
            continue
        try:
            parse_laddr(value)
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None
    for i, peer in enumerate(cfg.p2p.persistent_peers):
        try:
            parse_peer(peer)
        except ValueError as exc:
            raise ConfigError(f"p2p.persistent_peers[{i}]: {exc}") from None
    for i, node_id in enumerate(cfg.p2p.allowed_peer_ids):
        if not _NODE_ID_RE.match(node_id):
            raise ConfigError(f"p2p.allowed_peer_ids[{i}]: {node_id!r} is not a node ID (40 lower-case hex)")
    if cfg.mempool.max_tx_bytes > cfg.mempool.max_txs_bytes:
        raise ConfigError("mempool.max_tx_bytes: larger than mempool.max_txs_bytes")
    if not cfg.base.moniker.strip() or len(cfg.base.moniker) > 128:
        raise ConfigError("moniker: must be 1..128 characters")


def _from_table(section: str, cls: type, table: Any) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}]: expected a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    prefix = f"{section}." if section else ""
    for key, value in table.items():
        f = fields.get(key)
        if f is None:
            raise ConfigError(f"{prefix}{key}: unknown key")
        if f.metadata["duration"]:
            try:
                value = parse_duration_ms(value)
            except ValueError as exc:
                raise ConfigError(f"{prefix}{key}: {exc}") from None
        elif _type_name(f) == "list[str]" and isinstance(value, str):
            value = [x.strip() for x in value.split(",") if x.strip()]  # CometBFT's comma-separated form
        kwargs[key] = value
    return cls(**kwargs)


def config_from_dict(doc: dict[str, Any]) -> Config:
    base_table = {k: v for k, v in doc.items() if k not in SECTIONS}
    parts: dict[str, Any] = {"base": _from_table("", BaseConfig, base_table)}
    for name, cls in SECTIONS.items():
        parts[name] = _from_table(name, cls, doc.get(name, {}))
    cfg = Config(**parts)
    cfg.validate()
    return cfg


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no config file (run `egp init`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return config_from_dict(doc)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _toml_value(value: Any, f: dataclasses.Field[Any]) -> str:
    if f.metadata["duration"]:
        return f'"{format_duration_ms(value)}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_str(x) for x in value) + "]"
    return _toml_str(value)


def _toml_str(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


def render_config(cfg: Config) -> str:
    """config.toml text: every key with its comment, so the file documents itself."""
    cfg.validate()
    lines = ["# egp-chain node configuration (local choices only; consensus timeouts live in genesis.json).", ""]
    for section, obj in cfg._sections():
        if section:
            lines += ["", f"[{section.rstrip('.')}]"]
        for f in dataclasses.fields(obj):
            lines.append(f"# {f.metadata['doc']}")
            lines.append(f"{f.name} = {_toml_value(getattr(obj, f.name), f)}")
    return "\n".join(lines) + "\n"


def write_config(path: Path, cfg: Config) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_config(cfg), encoding="utf-8")
    tmp.replace(path)

"""genesis.json: the one document every bank starts from, in CometBFT's shape plus our agreed timeouts.

Why the timeouts are here and not in config.toml: in CometBFT they are local, and a validator that lowers
`timeout_commit` or `timeout_propose` gains an edge or destabilises rounds (cometbft#2873). Here they are
consensus parameters: every node runs the values of genesis, and `consensus_hash` in every header commits to
them. `timeouts.commit` is the block interval (the wait after a commit before the next height starts);
`timeouts.skip_timeout_commit` (optional, default false) ends that wait as soon as every validator's precommit
is in and transactions wait (CometBFT's option of that name; an idle chain keeps `commit` as its interval);
`timeouts.next_block_delay` (optional, default 100ms; CometBFT v1's name) is how long after that moment the
next height starts at the earliest, so that a block at low load carries a few txs instead of one or two.

Shape (ints as strings as CometBFT prints them; numbers are accepted on input)::

    {"genesis_time": "2026-01-01T00:00:00Z", "chain_id": "egp-devnet", "initial_height": "1",
     "consensus_params": {"block": {"max_bytes": "1048576", "max_gas": "-1"},
                          "evidence": {"max_age_num_blocks": "100000", "max_age_duration": "172800000000000",
                                       "max_bytes": "1048576"},
                          "validator": {"pub_key_types": ["ed25519"]}, "version": {"app": "0"},
                          "abci": {"vote_extensions_enable_height": "0"},
                          "timeouts": {"propose": "3s", "propose_delta": "500ms", "prevote": "1s",
                                       "prevote_delta": "500ms", "precommit": "1s", "precommit_delta": "500ms",
                                       "commit": "1s", "skip_timeout_commit": false,
                                       "next_block_delay": "100ms"}},
     "validators": [{"address": "HEX", "pub_key": {"type": "tendermint/PubKeyEd25519", "value": "b64"},
                     "power": "10", "name": "Bangkok Bank"}],
     "app_hash": "", "app_state": {...}}

`app_state` is opaque to the node (the application's `init_chain` reads it) but must have a canonical form:
no floats. `Genesis.hash()` = SHA-256 of the canonical encoding of the parsed document, so whitespace and key
order do not change it while any value does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consensus.types import TimeoutParams
from node.config import format_duration_ms, parse_duration_ms
from state.codec import Record, encode
from state.crypto import PUBKEY_TYPE, KeyFileError, PublicKey, address, public_key_from_json, sha256

MAX_CHAIN_ID_LEN = 50
MAX_BLOCK_BYTES = 4 * 1024 * 1024 - 64 * 1024  # under the codec and frame limits, with room for the envelope
MAX_TIMEOUT_MS = 3_600_000
# next_block_delay is a fraction of a second (how long a fast cadence waits for txs); a minute or more is a
# misplaced timeout_commit
MAX_NEXT_BLOCK_DELAY_MS = 60_000
DEFAULT_NEXT_BLOCK_DELAY_MS = 100
MAX_TOTAL_POWER = (2**63 - 1) // 8
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")


class GenesisError(ValueError):
    """genesis.json is unreadable or invalid; the message names the field."""


def check_chain_id(chain_id: str) -> None:
    """1..50 printable ASCII characters (the consensus sign bytes carry it)."""
    if not 1 <= len(chain_id) <= MAX_CHAIN_ID_LEN or not chain_id.isascii() or not chain_id.isprintable():
        raise GenesisError("genesis.chain_id: must be 1..50 printable ASCII characters")


def parse_rfc3339_ns(text: str) -> int:
    """RFC 3339 time (up to nanoseconds, any offset) → Unix nanoseconds."""
    m = _RFC3339.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time like 2026-01-01T00:00:00Z")
    y, mo, d, h, mi, s, frac, tz = m.groups()
    offset = "+00:00" if tz in ("Z", "z") else tz
    try:
        dt = datetime.fromisoformat(f"{y}-{mo}-{d}T{h}:{mi}:{s}{offset}")
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    return int(dt.timestamp()) * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def format_rfc3339_ns(ns: int) -> str:
    """Unix nanoseconds → RFC 3339 in UTC as Go's RFC3339Nano (trailing zeros of the fraction trimmed)."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return base + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


@dataclass(frozen=True)
class ConsensusParams(Record):
    """Consensus parameters: CometBFT's plus the agreed timeouts (milliseconds). Encoded for `consensus_hash`."""

    TAG = 0x50
    MAX_LEN = {"pub_key_types": 4}
    # 1 MiB (about 3,000 of our txs; node/blockrules.py also caps a block at MAX_TXS_PER_BLOCK): a block's
    # commit holds the node's event loop, so the default keeps it to a few seconds on a loaded machine
    block_max_bytes: int = 1024 * 1024
    block_max_gas: int = -1
    evidence_max_age_num_blocks: int = 100_000
    evidence_max_age_duration_ns: int = 172_800_000_000_000
    evidence_max_bytes: int = 1_048_576
    pub_key_types: tuple[str, ...] = ("ed25519",)
    app_version: int = 0
    vote_extensions_enable_height: int = 0
    timeout_propose_ms: int = 3000
    timeout_propose_delta_ms: int = 500
    timeout_prevote_ms: int = 1000
    timeout_prevote_delta_ms: int = 500
    timeout_precommit_ms: int = 1000
    timeout_precommit_delta_ms: int = 500
    timeout_commit_ms: int = 1000
    # end the commit wait as soon as every validator's precommit is in (CometBFT's skip_timeout_commit)
    skip_timeout_commit: bool = False
    # with skip_timeout_commit: the next height starts no earlier than this after every precommit is in
    # (CometBFT v1's next_block_delay). 100 ms: at 100 tx/s blocks every ~0.135 s instead of ~32 ms, 7.5
    # instead of 16.4 ms of node CPU per tx (docs/performance.md, "The cost of a fast cadence")
    next_block_delay_ms: int = DEFAULT_NEXT_BLOCK_DELAY_MS

    def hash(self) -> bytes:
        return sha256(self.encode())

    def timeout_params(self) -> TimeoutParams:
        return TimeoutParams(
            propose_ms=self.timeout_propose_ms,
            propose_delta_ms=self.timeout_propose_delta_ms,
            prevote_ms=self.timeout_prevote_ms,
            prevote_delta_ms=self.timeout_prevote_delta_ms,
            precommit_ms=self.timeout_precommit_ms,
            precommit_delta_ms=self.timeout_precommit_delta_ms,
            commit_ms=self.timeout_commit_ms,
            skip_timeout_commit=self.skip_timeout_commit,
            next_block_delay_ms=self.next_block_delay_ms,
        )

    def to_json(self) -> dict[str, Any]:
        d = format_duration_ms
        return {
            "block": {"max_bytes": str(self.block_max_bytes), "max_gas": str(self.block_max_gas)},
            "evidence": {
                "max_age_num_blocks": str(self.evidence_max_age_num_blocks),
                "max_age_duration": str(self.evidence_max_age_duration_ns),
                "max_bytes": str(self.evidence_max_bytes),
            },
            "validator": {"pub_key_types": list(self.pub_key_types)},
            "version": {"app": str(self.app_version)},
            "abci": {"vote_extensions_enable_height": str(self.vote_extensions_enable_height)},
            "timeouts": {
                "propose": d(self.timeout_propose_ms),
                "propose_delta": d(self.timeout_propose_delta_ms),
                "prevote": d(self.timeout_prevote_ms),
                "prevote_delta": d(self.timeout_prevote_delta_ms),
                "precommit": d(self.timeout_precommit_ms),
                "precommit_delta": d(self.timeout_precommit_delta_ms),
                "commit": d(self.timeout_commit_ms),
                "skip_timeout_commit": self.skip_timeout_commit,
                "next_block_delay": d(self.next_block_delay_ms),
            },
        }

    @classmethod
    def from_json(cls, obj: Any, where: str = "consensus_params") -> ConsensusParams:
        r = _Reader(obj, where)
        block, ev, val, ver, abci, to = (
            r.table(k) for k in ("block", "evidence", "validator", "version", "abci", "timeouts")
        )
        dur = parse_duration_ms
        params = cls(
            block_max_bytes=block.integer("max_bytes", 1024, MAX_BLOCK_BYTES),
            block_max_gas=block.integer("max_gas", -1),
            evidence_max_age_num_blocks=ev.integer("max_age_num_blocks", 1),
            evidence_max_age_duration_ns=ev.integer("max_age_duration", 1),
            evidence_max_bytes=ev.integer("max_bytes", 0, MAX_BLOCK_BYTES),
            pub_key_types=tuple(val.str_list("pub_key_types")),
            app_version=ver.integer("app", 0),
            vote_extensions_enable_height=abci.integer("vote_extensions_enable_height", 0),
            timeout_propose_ms=to.conv("propose", dur, 1, MAX_TIMEOUT_MS),
            timeout_propose_delta_ms=to.conv("propose_delta", dur, 0, MAX_TIMEOUT_MS),
            timeout_prevote_ms=to.conv("prevote", dur, 1, MAX_TIMEOUT_MS),
            timeout_prevote_delta_ms=to.conv("prevote_delta", dur, 0, MAX_TIMEOUT_MS),
            timeout_precommit_ms=to.conv("precommit", dur, 1, MAX_TIMEOUT_MS),
            timeout_precommit_delta_ms=to.conv("precommit_delta", dur, 0, MAX_TIMEOUT_MS),
            timeout_commit_ms=to.conv("commit", dur, 0, MAX_TIMEOUT_MS),
            skip_timeout_commit=to.flag("skip_timeout_commit") if "skip_timeout_commit" in to.obj else False,
            next_block_delay_ms=(_next_block_delay(to) if "next_block_delay" in to.obj
                                 else DEFAULT_NEXT_BLOCK_DELAY_MS),
        )
        for sub in (r, block, ev, val, ver, abci, to):
            sub.no_extra()
        if params.pub_key_types != ("ed25519",):
            raise GenesisError(f'{where}.validator.pub_key_types: only ["ed25519"] is supported')
        if params.evidence_max_bytes > params.block_max_bytes:
            raise GenesisError(f"{where}.evidence.max_bytes: larger than block.max_bytes")
        if params.vote_extensions_enable_height != 0:
            raise GenesisError(f"{where}.abci.vote_extensions_enable_height: vote extensions are not supported (0)")
        return params


# What `egp init` and `egp testnet` write (and the devnet and bench networks start from): the record's
# defaults (CometBFT's timeouts, timeout_commit 1 s) with skip_timeout_commit on. Measured in
# docs/design.md §9: under load the next height starts as soon as every precommit is in
# (blocks every ~0.2 s at 100 tx/s instead of ~1.3 s; p50 latency 1.0 -> 0.3-0.5 s), while an idle chain
# keeps one block a second and a validator that is down only brings back the 1 s wait. The record's own
# default stays false, so a genesis file without the key keeps the meaning it was written with. The next
# height starts 100 ms after the precommits are in at the earliest (`next_block_delay`, written explicitly).
GENERATED_PARAMS = ConsensusParams(skip_timeout_commit=True, next_block_delay_ms=DEFAULT_NEXT_BLOCK_DELAY_MS)


def _next_block_delay(to: _Reader) -> int:
    """`timeouts.next_block_delay`: a non-negative duration of at most a minute."""
    raw = to.get("next_block_delay")
    if isinstance(raw, str) and raw.startswith("-"):
        raise GenesisError(f"{to.where}.next_block_delay: {raw!r} is negative (0 starts the next height as soon "
                           "as every precommit is in)")
    ms = to.conv("next_block_delay", parse_duration_ms, 0)
    if ms > MAX_NEXT_BLOCK_DELAY_MS:
        raise GenesisError(f"{to.where}.next_block_delay: {format_duration_ms(ms)} is more than "
                           f"{format_duration_ms(MAX_NEXT_BLOCK_DELAY_MS)} (it is the wait for a few more txs "
                           "after every precommit is in, typically 100ms; the block interval is timeouts.commit)")
    return ms


class _Reader:
    """Reads one JSON object, naming the path of whatever is wrong, and notices keys nobody read."""

    def __init__(self, obj: Any, where: str) -> None:
        if not isinstance(obj, dict):
            raise GenesisError(f"{where}: expected an object")
        self.obj, self.where, self.seen = obj, where, set[str]()

    def get(self, key: str) -> Any:
        self.seen.add(key)
        if key not in self.obj:
            raise GenesisError(f"{self.where}.{key}: missing")
        return self.obj[key]

    def table(self, key: str) -> _Reader:
        return _Reader(self.get(key), f"{self.where}.{key}")

    def integer(self, key: str, lo: int | None = None, hi: int | None = None) -> int:
        return self.conv(key, _to_int, lo, hi)

    def conv(self, key: str, fn: Callable[[Any], int], lo: int | None = None, hi: int | None = None) -> int:
        try:
            value = fn(self.get(key))
        except (ValueError, TypeError) as exc:
            raise GenesisError(f"{self.where}.{key}: {exc}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise GenesisError(f"{self.where}.{key}: {value} is outside [{lo}, {hi if hi is not None else '∞'}]")
        return value

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            raise GenesisError(f"{self.where}.{key}: expected true or false")
        return value

    def text(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise GenesisError(f"{self.where}.{key}: expected a string")
        return value

    def str_list(self, key: str) -> list[str]:
        value = self.get(key)
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise GenesisError(f"{self.where}.{key}: expected a list of strings")
        return value

    def no_extra(self) -> None:
        extra = sorted(set(self.obj) - self.seen)
        if extra:
            raise GenesisError(f"{self.where}.{extra[0]}: unknown field")


def _to_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise ValueError("expected an integer (as a string or a number)")
    if isinstance(v, str) and not re.fullmatch(r"-?\d{1,20}", v):
        raise ValueError(f"{v!r} is not an integer")
    return int(v)


@dataclass(frozen=True)
class GenesisValidator:
    pub_key: bytes
    power: int
    name: str = ""

    @property
    def address(self) -> bytes:
        return address(self.pub_key)

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address.hex().upper(),
            "pub_key": PublicKey(self.pub_key).to_json(),
            "power": str(self.power),
            "name": self.name,
        }


@dataclass(frozen=True)
class Genesis:
    chain_id: str
    genesis_time_ns: int
    validators: tuple[GenesisValidator, ...]
    consensus_params: ConsensusParams = field(default_factory=ConsensusParams)
    initial_height: int = 1
    app_hash: bytes = b""
    app_state: Any = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_chain_id(self.chain_id)
        if self.initial_height < 1:
            raise GenesisError("genesis.initial_height: must be at least 1")
        if not self.validators:
            raise GenesisError("genesis.validators: expected a non-empty list")

    @property
    def genesis_time_ms(self) -> int:
        """The time of the initial block (headers carry milliseconds)."""
        return self.genesis_time_ns // 1_000_000

    def to_json(self) -> dict[str, Any]:
        return {
            "genesis_time": format_rfc3339_ns(self.genesis_time_ns),
            "chain_id": self.chain_id,
            "initial_height": str(self.initial_height),
            "consensus_params": self.consensus_params.to_json(),
            "validators": [v.to_json() for v in self.validators],
            "app_hash": self.app_hash.hex().upper(),
            "app_state": self.app_state,
        }

    def hash(self) -> bytes:
        """Canonical genesis hash: equal for equal content, whatever the file's whitespace or key order."""
        return sha256(encode(self.to_json()))

    def with_validators(self, validators: tuple[GenesisValidator, ...]) -> Genesis:
        return replace(self, validators=validators)

    @classmethod
    def from_json(cls, doc: Any) -> Genesis:
        r = _Reader(doc, "genesis")
        chain_id = r.text("chain_id")
        check_chain_id(chain_id)
        time_ns = r.conv("genesis_time", parse_rfc3339_ns, 0)
        initial_height = r.integer("initial_height", 1, 2**62) if "initial_height" in doc else 1
        params = ConsensusParams.from_json(r.get("consensus_params"))
        validators = _validators_from_json(r.get("validators"))
        app_hash_hex = r.text("app_hash") if "app_hash" in doc else ""
        try:
            app_hash = bytes.fromhex(app_hash_hex)
        except ValueError:
            raise GenesisError("genesis.app_hash: not hex") from None
        app_state = r.get("app_state") if "app_state" in doc else {}
        try:
            encode(app_state)
        except ValueError as exc:
            raise GenesisError(f"genesis.app_state: no canonical form ({exc})") from None
        r.no_extra()
        return cls(chain_id, time_ns, validators, params, initial_height, app_hash, app_state)


def _validators_from_json(obj: Any) -> tuple[GenesisValidator, ...]:
    if not isinstance(obj, list) or not obj:
        raise GenesisError("genesis.validators: expected a non-empty list")
    out: list[GenesisValidator] = []
    seen: set[bytes] = set()
    for i, item in enumerate(obj):
        r = _Reader(item, f"genesis.validators[{i}]")
        try:
            pub = public_key_from_json(r.get("pub_key"))
        except KeyFileError as exc:
            raise GenesisError(f"{r.where}.pub_key: {exc}") from None
        if "address" in item and str(r.get("address")).upper() != pub.address.hex().upper():
            raise GenesisError(f"{r.where}.address: does not match pub_key (expected {pub.address.hex().upper()})")
        power = r.integer("power", 1, MAX_TOTAL_POWER)
        name = r.text("name") if "name" in item else ""
        r.no_extra()
        if pub.address in seen:
            raise GenesisError(f"{r.where}: duplicate validator {pub.address.hex().upper()}")
        seen.add(pub.address)
        out.append(GenesisValidator(pub.raw, power, name))
    if sum(v.power for v in out) > MAX_TOTAL_POWER:
        raise GenesisError("genesis.validators: total power too large")
    return tuple(out)


REGISTRAR_CODE = "CGD"
REGISTRAR_NAME = "Comptroller General's Department"


def default_app_state(registrar_pub: bytes | None, banks: Sequence[tuple[str, str, bytes]] = ()) -> dict[str, Any]:
    """A minimal application state for a generated genesis (`egp init`, `egp testnet`).

    The application (state/registry.py) needs a registrar; `banks` are (3-digit code, name, validator public
    key) so each validator is recorded as operated by its bank. Production networks write their own app_state.
    """
    return {
        "registrar": {
            "code": REGISTRAR_CODE,
            "name": REGISTRAR_NAME,
            "keys": [registrar_pub.hex()] if registrar_pub else [],
        },
        "banks": [{"code": code, "name": name, "keys": [], "validators": [pub.hex()]} for code, name, pub in banks],
    }


def load_genesis(path: Path) -> Genesis:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GenesisError(f"{path}: no genesis file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GenesisError(f"{path}: {exc}") from None
    try:
        doc = json.loads(text, parse_float=_no_float, parse_constant=_no_float)
    except ValueError as exc:
        raise GenesisError(f"{path}: {exc}") from None
    try:
        return Genesis.from_json(doc)
    except GenesisError as exc:
        raise GenesisError(f"{path}: {exc}") from None


def _no_float(text: str) -> Any:
    raise ValueError(f"floating-point number {text} is not allowed (use a string or an integer)")


def save_genesis(path: Path, genesis: Genesis) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(genesis.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


__all__ = [
    "GENERATED_PARAMS",
    "PUBKEY_TYPE",
    "ConsensusParams",
    "Genesis",
    "GenesisError",
    "GenesisValidator",
    "format_rfc3339_ns",
    "load_genesis",
    "parse_rfc3339_ns",
    "save_genesis",
]

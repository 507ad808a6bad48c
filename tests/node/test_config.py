"""config.toml: the written template reads back, every bad key is named, and crash points stay test-only."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from node import crashpoints
from node.config import (
    Config,
    ConfigError,
    config_from_dict,
    format_duration_ms,
    load_config,
    parse_duration_ms,
    parse_laddr,
    parse_peer,
    render_config,
    write_config,
)

PEER = "0123456789abcdef0123456789abcdef01234567@127.0.0.1:26656"


def test_template_round_trips(tmp_path: Path) -> None:
    cfg = Config()
    cfg.base.moniker = "Bangkok Bank"
    cfg.p2p.persistent_peers = [PEER]
    cfg.rpc.timeout_broadcast_tx_commit = 1500
    cfg.consensus.create_empty_blocks = False
    path = tmp_path / "config.toml"
    write_config(path, cfg)
    text = path.read_text()
    assert "# Make blocks without transactions" in text and 'timeout_broadcast_tx_commit = "1500ms"' in text
    assert load_config(path) == cfg


def test_defaults_are_safe() -> None:
    cfg = Config()
    assert cfg.rpc.laddr == "tcp://127.0.0.1:26657"  # RPC is local unless the operator opens it
    assert parse_laddr(cfg.p2p.laddr) == ("0.0.0.0", 26656)
    assert config_from_dict({}) == cfg


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"moniker": 5}, "moniker: expected a string"),
        ({"log_level": "loud"}, "log_level: must be one of"),
        ({"persistant_peers": []}, "persistant_peers: unknown key"),
        ({"p2p": {"laddr": "0.0.0.0:26656"}}, "p2p.laddr:"),
        ({"p2p": {"persistent_peers": ["nope@1.2.3.4:1"]}}, "p2p.persistent_peers[0]"),
        ({"p2p": {"allowed_peer_ids": ["ABC"]}}, "p2p.allowed_peer_ids[0]"),
        ({"p2p": {"max_frame_bytes": 10}}, "p2p.max_frame_bytes: must be at least"),
        ({"p2p": {"dial_timeout": "3 seconds"}}, "p2p.dial_timeout: bad duration"),
        ({"rpc": {"laddr": "tcp://127.0.0.1:99999"}}, "rpc.laddr"),
        ({"rpc": {"max_request_batch_size": True}}, "rpc.max_request_batch_size: expected an integer"),
        ({"mempool": {"recheck": "yes"}}, "mempool.recheck: expected true or false"),
        ({"mempool": {"max_tx_bytes": 10, "max_txs_bytes": 5}}, "mempool.max_tx_bytes"),
        ({"consensus": {"timeout_commit": "1s"}}, "consensus.timeout_commit: unknown key"),
        ({"blocksync": {"switch_threshold": 0}}, "blocksync.switch_threshold"),
        ({"tx_index": {"indexer": "psql"}}, "tx_index.indexer"),
        ({"rpc": 3}, "[rpc]: expected a table"),
    ],
)
def test_bad_values_name_the_key(doc: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict(doc)
    assert key in str(err.value)


def test_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no config file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("moniker = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_comma_separated_peers_are_accepted() -> None:
    cfg = config_from_dict(tomllib.loads(f'[p2p]\npersistent_peers = "{PEER}, {PEER}"\n'))
    assert cfg.p2p.persistent_peers == [PEER, PEER]


def test_durations_and_addresses() -> None:
    assert parse_duration_ms("1m30s") == 90_000
    assert parse_duration_ms("250ms") == 250 and parse_duration_ms("0s") == 0 and parse_duration_ms("2h") == 7_200_000
    for bad in ("", "1", "1.5s", "s", "-1s", "10ns"):
        with pytest.raises(ValueError):
            parse_duration_ms(bad)
    assert format_duration_ms(3000) == "3s" and format_duration_ms(500) == "500ms" and format_duration_ms(0) == "0ms"
    assert parse_peer(PEER) == (PEER[:40], "127.0.0.1", 26656)
    assert parse_laddr("tcp://[::1]:1") == ("::1", 1)


def test_rendered_config_has_no_test_powers() -> None:
    text = render_config(Config()).lower()
    assert "crash" not in text and "byzantine" not in text


def test_crash_points_are_off_in_production_and_env_only() -> None:
    prod = crashpoints.from_environment({})
    assert type(prod) is crashpoints.CrashPoints
    for point in crashpoints.POINTS:
        prod.hit(point, 1)  # no-op
    with pytest.raises(crashpoints.CrashPointError):
        prod.hit("nowhere", 1)
    armed = crashpoints.from_environment({crashpoints.ENV_VAR: "after_app_commit@5"})
    assert isinstance(armed, crashpoints.ExitAt) and (armed.point, armed.height) == ("after_app_commit", 5)
    armed.hit("after_app_commit", 4)  # another height: nothing happens
    armed.hit("after_save_block", 5)
    with pytest.raises(crashpoints.CrashPointError, match="known:"):
        crashpoints.from_environment({crashpoints.ENV_VAR: "after_lunch"})
    with pytest.raises(crashpoints.CrashPointError, match="number"):
        crashpoints.parse_spec("after_app_commit@x")


def test_armed_crash_point_ends_the_process_at_once() -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); from node import crashpoints; "
        "c = crashpoints.from_environment(); c.hit('after_save_block', 3); print('passed', flush=True); "
        "c.hit('after_save_results', 3); print('not reached', flush=True)"
    )
    env = {**os.environ, crashpoints.ENV_VAR: "after_save_results"}
    out = subprocess.run(
        [sys.executable, "-c", script, str(root)], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == crashpoints.CRASH_EXIT_CODE
    assert out.stdout == "passed\n"

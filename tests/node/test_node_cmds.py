"""Operator commands: init, testnet, show-node-id, show-validator, reset (CliRunner, plus one real `egp` process)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.node_cmds import app
from node.genesis import load_genesis
from node.home import Home
from node.privval import FilePV, load_state
from state.crypto import load_node_key, load_priv_validator_key, node_id

runner = CliRunner()


def run(*args: str, ok: bool = True) -> str:
    result = runner.invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
    return result.output


def test_init_creates_a_cometbft_like_home(tmp_path: Path) -> None:
    home = tmp_path / "h"
    out = run("init", "--home", str(home), "--moniker", "Kasikornbank", "--chain-id", "egp-local")
    for rel in ("config/config.toml", "config/genesis.json", "config/node_key.json",
                "config/priv_validator_key.json", "data/priv_validator_state.json"):  # fmt: skip
        assert (home / rel).is_file(), rel
    h = Home(home)
    cfg = h.load_config()
    assert cfg.base.moniker == "Kasikornbank"
    g = h.genesis(cfg)
    vk = load_priv_validator_key(home / "config/priv_validator_key.json")
    assert g.chain_id == "egp-local" and [v.pub_key for v in g.validators] == [vk.public_key.raw]
    assert g.validators[0].name == "Kasikornbank"
    # the generated cadence (docs/design.md §9): 1 s commit wait, skipped once all precommits are in
    assert g.consensus_params.timeout_commit_ms == 1000 and g.consensus_params.skip_timeout_commit
    assert g.consensus_params.next_block_delay_ms == 100  # ... and the next height 100 ms after, at the earliest
    assert json.loads((home / "config/genesis.json").read_text())["consensus_params"]["timeouts"][
        "next_block_delay"] == "100ms"
    nid = node_id(load_node_key(home / "config/node_key.json").public_key.raw)
    assert nid in out
    assert run("show-node-id", "--home", str(home)).strip() == nid
    assert json.loads(run("show-validator", "--home", str(home))) == vk.public_key.to_json()
    assert oct(os.stat(home / "config/priv_validator_key.json").st_mode & 0o777) == "0o600"
    again = run("init", "--home", str(home), ok=False)
    assert "already initialised" in again


def test_home_defaults_to_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGP_HOME", str(tmp_path / "envhome"))
    run("init", "--moniker", "x")
    assert (tmp_path / "envhome/config/config.toml").exists()
    assert len(run("show-node-id").strip()) == 40


def test_missing_home_and_files_are_clear_errors(tmp_path: Path) -> None:
    assert "no such home directory" in run("show-node-id", "--home", str(tmp_path / "none"), ok=False)
    home = tmp_path / "h"
    run("init", "--home", str(home), "--moniker", "m")
    (home / "config/priv_validator_key.json").unlink()
    assert "no such key file" in run("show-validator", "--home", str(home), ok=False)
    (home / "config/config.toml").write_text("moniker = 1\n")
    assert "moniker: expected a string" in run("show-node-id", "--home", str(home), ok=False)
    assert "chain_id" in run("init", "--home", str(tmp_path / "h2"), "--chain-id", "x" * 60, ok=False)
    assert not (tmp_path / "h2").exists()


def test_reset_keeps_keys_and_signer_state(tmp_path: Path) -> None:
    home = tmp_path / "h"
    run("init", "--home", str(home), "--moniker", "m", "--chain-id", "egp-local")
    h = Home(home)
    paths = h.paths(h.load_config())
    pv = FilePV.load(paths.priv_validator_key_file, paths.priv_validator_state_file, "egp-local")
    from consensus.types import Vote, VoteType

    assert pv.sign_vote(Vote(VoteType.PREVOTE, 8, 0, b"\x01" * 32, b"", 5)) is not None
    (paths.db_path / "junk").mkdir(parents=True)
    (paths.data_dir / "cs.wal").write_text("x")
    (h.addr_book_file).write_text("{}")
    node_key_before = paths.node_key_file.read_text()
    out = run("reset", "--home", str(home), "--keep-addr-book")
    assert "egp.db" in out and not paths.db_path.exists() and not (paths.data_dir / "cs.wal").exists()
    assert h.addr_book_file.exists() and paths.node_key_file.read_text() == node_key_before
    assert load_state(paths.priv_validator_state_file).height == 8  # still refuses to sign below height 8
    assert "signer state kept at height 8" in out
    run("reset", "--home", str(home))
    assert not h.addr_book_file.exists()
    assert "signer state reset" in run("reset", "--home", str(home), "--unsafe-all")
    assert load_state(paths.priv_validator_state_file).height == 0


def test_testnet_writes_a_connected_network(tmp_path: Path) -> None:
    out_dir = tmp_path / "net"
    out = run("testnet", "--v", "4", "--n", "1", "--output-dir", str(out_dir), "--chain-id", "egp-devnet",
              "--starting-port", "36656", "--timeout-commit", "500ms")  # fmt: skip
    homes = [Home(out_dir / f"node{i}") for i in range(5)]
    cfgs = [h.load_config() for h in homes]
    geneses = [h.genesis(c) for h, c in zip(homes, cfgs, strict=True)]
    assert all(g == geneses[0] for g in geneses)
    g = geneses[0]
    assert g.chain_id == "egp-devnet" and len(g.validators) == 4 and g.consensus_params.timeout_commit_ms == 500
    assert g.consensus_params.skip_timeout_commit  # --timeout-commit keeps the generated skip_timeout_commit
    assert g.consensus_params.next_block_delay_ms == 100  # ... and next_block_delay
    assert [v.name for v in g.validators] == [c.base.moniker for c in cfgs[:4]]
    assert cfgs[0].base.moniker == "Bangkok Bank" and cfgs[4].base.moniker == "registrar"
    ids = [node_id(h.node_key(c).public_key.raw) for h, c in zip(homes, cfgs, strict=True)]
    for i, cfg in enumerate(cfgs):
        assert cfg.p2p.laddr == f"tcp://127.0.0.1:{36656 + 10 * i}"
        assert cfg.rpc.laddr == f"tcp://127.0.0.1:{36657 + 10 * i}"
        assert sorted(cfg.p2p.persistent_peers) == sorted(
            f"{ids[j]}@127.0.0.1:{36656 + 10 * j}" for j in range(5) if j != i
        )
        assert set(cfg.p2p.allowed_peer_ids) == set(ids) - {ids[i]}
    val_addrs = {v.address for v in g.validators}
    keys = [h.validator_key(c).address for h, c in zip(homes, cfgs, strict=True)]
    assert set(keys[:4]) == val_addrs and keys[4] not in val_addrs
    assert "rpc http://127.0.0.1:36697" in out
    assert "already initialised" in run("testnet", "--output-dir", str(out_dir), ok=False)
    assert "monikers" in run("testnet", "--v", "2", "--monikers", "a", "--output-dir", str(tmp_path / "n2"), ok=False)
    assert "out of range" in run("testnet", "--starting-port", "65530", "--output-dir", str(tmp_path / "n3"), ok=False)
    assert "at least one validator" in run("testnet", "--v", "0", "--output-dir", str(tmp_path / "n4"), ok=False)


def test_real_egp_process(tmp_path: Path) -> None:
    egp = Path(sys.executable).parent / "egp"
    if not egp.exists():
        pytest.skip("the egp entry point is not installed in this environment")
    home = tmp_path / "h"
    env = {**os.environ, "EGP_HOME": str(home)}
    init = subprocess.run([str(egp), "init", "--moniker", "Krungthai Bank"], env=env, capture_output=True,
                          text=True, check=False, timeout=60)  # fmt: skip
    assert init.returncode == 0, init.stderr
    shown = subprocess.run([str(egp), "show-node-id"], env=env, capture_output=True, text=True, check=False, timeout=60)
    assert shown.returncode == 0 and shown.stdout.strip() == node_id(Home(home).node_key().public_key.raw)
    again = subprocess.run([str(egp), "init"], env=env, capture_output=True, text=True, check=False, timeout=60)
    assert again.returncode == 1 and "already initialised" in again.stderr and "Traceback" not in again.stderr


def _init_chain_accepts(genesis_path: Path) -> bytes:
    """The real application takes the generated genesis (a registrar and banks it understands)."""
    from state.abci import Application, RequestInitChain, ValidatorUpdate
    from state.kv import MemoryKV

    g = load_genesis(genesis_path)
    app_ = Application(MemoryKV())
    req = RequestInitChain(
        g.genesis_time_ms,
        g.chain_id,
        [ValidatorUpdate(v.pub_key, v.power) for v in g.validators],
        json.dumps(g.app_state).encode(),
        g.initial_height,
    )
    return app_.init_chain(req).app_hash


def test_generated_geneses_start_the_application(tmp_path: Path) -> None:
    out = run("init", "--home", str(tmp_path / "h"), "--moniker", "m")
    key_file = tmp_path / "h/keyring/registrar.json"
    assert str(key_file) in out and key_file.exists()
    g = load_genesis(tmp_path / "h/config/genesis.json")
    registrar_pub = base64.b64decode(json.loads(key_file.read_text())["pub_key"]["value"])
    assert g.app_state["registrar"]["keys"] == [registrar_pub.hex()]
    assert len(_init_chain_accepts(tmp_path / "h/config/genesis.json")) == 32
    run("testnet", "--v", "3", "--output-dir", str(tmp_path / "net"))
    g = load_genesis(tmp_path / "net/node0/config/genesis.json")
    assert [b["code"] for b in g.app_state["banks"]] == ["002", "004", "006"]
    assert (tmp_path / "net/keyring/registrar.json").exists()
    assert len(_init_chain_accepts(tmp_path / "net/node0/config/genesis.json")) == 32


def test_reset_refuses_a_running_node_and_a_bad_db_dir(tmp_path: Path) -> None:
    from state.kv_level import LevelKV

    home = tmp_path / "h"
    run("init", "--home", str(home), "--moniker", "m")
    paths = Home(home).paths(Home(home).load_config())
    kv = LevelKV(paths.db_path)  # a "running node" holds the LevelDB lock
    try:
        assert "stop the node first" in run("reset", "--home", str(home), ok=False)
        assert paths.db_path.exists()
    finally:
        kv.close()
    text = (home / "config/config.toml").read_text().replace('db_dir = "data"', 'db_dir = "."')
    (home / "config/config.toml").write_text(text)
    assert "refusing to wipe" in run("reset", "--home", str(home), ok=False)
    assert (home / "config/node_key.json").exists()

"""config.toml [storage] trie_cache_mib: written in the template with its comment, validated (range, type,
key named in the error), and what `build` gives the Application's trie page cache; the node's threads are
named in the kernel from its start (node/threadnames.py)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

import pytest

from devnet.bench import procstat
from node.assemble import build
from node.config import TRIE_CACHE_MIB_RANGE, Config, ConfigError, config_from_dict, load_config, write_config
from node.home import init_home
from state.crypto import PrivateKey
from state.trie import CACHE_BYTES
from tests.rpc.conftest import run


def test_default_and_template(tmp_path: Path) -> None:
    cfg = Config()
    assert cfg.storage.trie_cache_mib << 20 == CACHE_BYTES
    path = tmp_path / "config.toml"
    cfg.storage.trie_cache_mib = 1024
    write_config(path, cfg)
    text = path.read_text()
    assert "[storage]" in text and "trie_cache_mib = 1024" in text and "# MiB of decoded state-trie pages" in text
    assert load_config(path) == cfg


@pytest.mark.parametrize(("value", "message"), [
    (TRIE_CACHE_MIB_RANGE[0] - 1, f"storage.trie_cache_mib: must be from {TRIE_CACHE_MIB_RANGE[0]} to "
                                  f"{TRIE_CACHE_MIB_RANGE[1]}, got {TRIE_CACHE_MIB_RANGE[0] - 1}"),
    (TRIE_CACHE_MIB_RANGE[1] + 1, "storage.trie_cache_mib: must be from"),
    (0, "storage.trie_cache_mib: must be from"),
    ("256", "storage.trie_cache_mib: expected an integer"),
    (True, "storage.trie_cache_mib: expected an integer"),
    (256.0, "storage.trie_cache_mib: expected an integer"),
])
def test_bad_values_are_named(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"storage": {"trie_cache_mib": value}})
    with pytest.raises(ConfigError, match=r"storage\.trie_cache: unknown key"):
        config_from_dict({"storage": {"trie_cache": 256}})


def test_the_range_ends_are_accepted() -> None:
    for v in TRIE_CACHE_MIB_RANGE:
        assert config_from_dict({"storage": {"trie_cache_mib": v}}).storage.trie_cache_mib == v


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread names in /proc are Linux's")
def test_build_passes_the_size_and_names_the_node_threads(tmp_path: Path) -> None:
    cfg = Config()
    cfg.p2p.laddr = "tcp://127.0.0.1:0"
    cfg.rpc.laddr = ""
    cfg.blocksync.enable = False
    cfg.storage.trie_cache_mib = 48
    home = tmp_path / "home"
    init_home(home, moniker="bank-a", chain_id="egp-storage", config=cfg,
              registrar_pub=PrivateKey.from_seed(b"\x42" * 32).public_key.raw)
    saved = threading.getprofile()

    async def go() -> None:
        node = await build(home)
        try:
            assert node.app.app.nodes._max == 48 << 20
            worker = node.node.commit_worker
            assert worker is not None
            tid = await asyncio.get_running_loop().run_in_executor(worker, threading.get_native_id)
            names = {t.tid: t.name for t in procstat.tasks(os.getpid())}
            assert names[tid] == "egp-commit_0"
            assert procstat.thread_roles(os.getpid(), procstat.tasks(os.getpid()))[tid] == "egp-commit"
        finally:
            node.node.commit_worker.shutdown()
            node.kv.close()

    try:
        run(go)
    finally:
        threading.setprofile(saved)  # type: ignore[arg-type]

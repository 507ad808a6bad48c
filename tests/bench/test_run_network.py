"""The bench network's homes carry the settings `egp bench --devnet` was given (here the trie cache bound,
which the memory target is judged against)."""

from __future__ import annotations

from pathlib import Path

from devnet.bench.run_network import WorkloadSpec, write_network
from node.config import Config, load_config


def test_trie_cache_bound_reaches_every_home(tmp_path: Path) -> None:
    write_network(tmp_path / "net", WorkloadSpec(seed=1), validators=2, trie_cache_mib=64, base_port=17400)
    for i in range(2):
        cfg = load_config(tmp_path / "net" / f"node{i}" / "config" / "config.toml")
        assert cfg.storage.trie_cache_mib == 64


def test_default_bound_when_not_given(tmp_path: Path) -> None:
    write_network(tmp_path / "net", WorkloadSpec(seed=1), validators=1, base_port=17410)
    cfg = load_config(tmp_path / "net" / "node0" / "config" / "config.toml")
    assert cfg.storage.trie_cache_mib == Config().storage.trie_cache_mib

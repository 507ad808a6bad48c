"""`consensus.double_sign_check_height` at start (node/assemble.py): a validator key found in the commits of
the last blocks refuses to start (the same key signing elsewhere); with the check off it starts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from node.assemble import build
from node.config import Config
from node.home import Home, init_home
from node.privval import DoubleSignError
from state.crypto import PrivateKey
from tests.rpc.conftest import run


def _config(check: int) -> Config:
    cfg = Config()
    cfg.p2p.laddr = "tcp://127.0.0.1:0"
    cfg.rpc.laddr = ""
    cfg.blocksync.enable = False
    cfg.consensus.double_sign_check_height = check
    return cfg


@pytest.mark.e2e
def test_a_recent_signature_of_our_key_refuses_the_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init_home(home, moniker="bank-a", chain_id="egp-dsc", config=_config(3),
              registrar_pub=PrivateKey.from_seed(b"\x42" * 32).public_key.raw)

    async def go() -> None:
        node = await build(home)  # an empty store: nothing signed yet, the check passes
        await node.p2p.start()
        node.node.start()
        try:
            for _ in range(600):
                if node.store.height >= 2:
                    break
                await asyncio.sleep(0.05)
            assert node.store.height >= 2
        finally:
            await node.node.stop()
            await node.p2p.stop()
            node.kv.close()
        with pytest.raises(DoubleSignError, match="double_sign_check_height"):
            await build(home)
        h = Home(home)
        h.config_file.write_text(h.config_file.read_text().replace("double_sign_check_height = 3",
                                                                   "double_sign_check_height = 0"))
        again = await build(home)
        again.kv.close()

    run(go)

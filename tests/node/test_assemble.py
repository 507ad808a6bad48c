"""Start-up checks of the signer (node/assemble.py): `consensus.double_sign_check_height` (a validator key
found in the commits of the last blocks refuses to start: the same key signing elsewhere; with the check off
it starts), and the signer state taken back from the consensus WAL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from consensus.sign_bytes import vote_sign_bytes
from consensus.types import Vote, VoteType
from node.assemble import NS_WAL, build
from node.config import Config
from node.home import Home, init_home
from node.messages import VoteMsg
from node.privval import DoubleSignError, load_state
from node.wal import ConsensusWAL
from state.crypto import PrivateKey, load_priv_validator_key
from tests.rpc.conftest import run


def _config(check: int) -> Config:
    cfg = Config()
    cfg.p2p.laddr = "tcp://127.0.0.1:0"
    cfg.rpc.laddr = ""
    cfg.blocksync.enable = False
    cfg.consensus.double_sign_check_height = check
    return cfg


async def _run_until_height(home: Path, height: int) -> int:
    """Build the node of `home`, run it (alone) until its store holds `height` (at most 30 s), stop it;
    returns the stored height."""
    node = await build(home)
    await node.p2p.start()
    node.node.start()
    try:
        for _ in range(600):
            if node.store.height >= height:
                break
            await asyncio.sleep(0.05)
        return node.store.height
    finally:
        await node.node.stop()
        await node.p2p.stop()
        node.kv.close()


@pytest.mark.e2e
def test_a_recent_signature_of_our_key_refuses_the_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init_home(home, moniker="bank-a", chain_id="egp-dsc", config=_config(3),
              registrar_pub=PrivateKey.from_seed(b"\x42" * 32).public_key.raw)

    async def go() -> None:
        assert await _run_until_height(home, 2) >= 2  # an empty store: nothing signed yet, the check passes
        with pytest.raises(DoubleSignError, match="double_sign_check_height"):
            await build(home)
        h = Home(home)
        h.config_file.write_text(h.config_file.read_text().replace("double_sign_check_height = 3",
                                                                   "double_sign_check_height = 0"))
        again = await build(home)
        again.kv.close()

    run(go)


@pytest.mark.e2e
def test_a_signature_the_state_file_lost_is_taken_back_from_the_wal(tmp_path: Path) -> None:
    """The signer state is one atomic write per signature without a directory fsync (node/privval.py), so a
    power failure can lose its last rename; what we signed is in the synced consensus WAL before it leaves
    the node, and the start takes it back before anything can sign."""
    home = tmp_path / "home"
    init_home(home, moniker="bank-a", chain_id="egp-wal-pv", config=_config(0),
              registrar_pub=PrivateKey.from_seed(b"\x42" * 32).public_key.raw)

    async def go() -> None:
        await _run_until_height(home, 2)
        paths = Home(home).paths(Home(home).load_config())
        before = load_state(paths.priv_validator_state_file)  # what survived (the later rename "lost")
        first = await build(home)  # read the height the node starts at, sign nothing
        height, key = first.node.state.height, load_priv_validator_key(paths.priv_validator_key_file)
        assert first.pv is not None and first.pv.state == before
        wal = ConsensusWAL(first.kv.prefixed(NS_WAL))
        wal.start_height(height)
        ours = Vote(VoteType.PRECOMMIT, height, 7, b"\x11" * 32, key.address, 1234)
        ours = replace(ours, signature=key.sign(vote_sign_bytes("egp-wal-pv", ours)))
        other_key = PrivateKey.from_seed(b"\x07" * 32)
        other = Vote(VoteType.PRECOMMIT, height, 9, b"\x22" * 32, other_key.address, 1234)
        other = replace(other, signature=other_key.sign(vote_sign_bytes("egp-wal-pv", other)))
        forged = replace(ours, round=8, signature=b"\x00" * 64)
        for v in (ours, other, forged):  # ours as broadcast_vote wrote it; a peer's and a bad one ignored
            wal.append(height, VoteMsg.of(v), sync=True)
        first.kv.close()

        again = await build(home)
        try:
            assert again.pv is not None
            st = again.pv.state
            assert (st.height, st.round, st.step, st.signature) == (height, 7, 3, ours.signature)
            assert load_state(paths.priv_validator_state_file) == st  # durable again
            # the guard now refuses a different precommit of that round and gives back the same one
            assert again.pv.sign_vote(replace(ours, value_id=b"\x33" * 32, signature=b"")) is None
            same = again.pv.sign_vote(replace(ours, signature=b"", timestamp_ms=9999))
            assert same is not None and same.signature == ours.signature and same.timestamp_ms == 1234
        finally:
            again.kv.close()

    run(go)

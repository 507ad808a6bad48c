"""The test-only seams of node/byzantine.py are inert unless armed, and each misbehaviour does what it claims."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consensus.sign_bytes import proposal_sign_bytes, vote_sign_bytes
from consensus.types import Proposal, Vote, VoteType
from devnet.faults.proxy import ProxyNet
from devnet.faults.schedule import KINDS, make_schedule
from node import byzantine
from node.consensus_ports import WallClock
from node.messages import EvidenceMsg, ProposalMsg, VoteMsg, decode_message
from node.privval import FilePV, LastSignState
from state.chain import Block, BlockContext, BlockID, Commit, build_block, txs_hash
from state.crypto import PrivateKey, sha256, verify

CHAIN = "egp-test"


@dataclass
class FakeNet:
    """A recording transport (the Network port is two methods; the real P2P needs sockets and peers)."""

    sent: list[tuple[str, int, bytes]] = field(default_factory=list)

    def send(self, peer_id: str, channel: int, payload: bytes) -> bool:
        self.sent.append((peer_id, channel, payload))
        return True

    def disconnect(self, peer_id: str, reason: str) -> None:
        pass


@pytest.fixture(autouse=True)
def _disarm() -> object:
    yield
    byzantine.disarm()


def _pv(tmp_path: Path) -> FilePV:
    key = PrivateKey.from_seed(b"\x07" * 32)
    return FilePV(key, tmp_path / "priv_validator_state.json", CHAIN, LastSignState())


def test_inert_unless_armed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(byzantine.ENV_MODE, "double-vote")
    monkeypatch.setenv(byzantine.ENV_SKEW, "5000")
    monkeypatch.setenv(byzantine.ENV_SIGNER, "amnesiac")
    pv, net = _pv(tmp_path), FakeNet()
    assert byzantine.install(pv, net) == (pv, net)
    assert pv.state_path == tmp_path / "priv_validator_state.json"
    assert byzantine.clock_skew_ms() == 0
    assert not byzantine.armed()


def test_arm_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="must be one of"):
        byzantine.arm({byzantine.ENV_MODE: "everything"})
    with pytest.raises(ValueError, match="integer"):
        byzantine.arm({byzantine.ENV_SKEW: "soon"})
    with pytest.raises(ValueError, match="beyond"):
        byzantine.arm({byzantine.ENV_SKEW: str(10**9)})
    assert not byzantine.armed()


def test_clock_skew_reaches_the_wall_clock() -> None:
    byzantine.arm({byzantine.ENV_SKEW: "-2500"})
    base = WallClock().now_ms()
    byzantine.disarm()
    assert -3500 < base - WallClock().now_ms() < -1500


def test_double_vote_sends_a_conflicting_prevote_past_the_guard(tmp_path: Path) -> None:
    byzantine.arm({byzantine.ENV_MODE: "double-vote"})
    pv, net = _pv(tmp_path), FakeNet()
    signer, network = byzantine.install(pv, net)
    value = sha256(b"block")
    honest = signer.sign_vote(Vote(VoteType.PREVOTE, 5, 0, value, b"", 1000, b""))
    assert honest is not None and honest.value_id == value
    network.send("peer-a", byzantine.CH_VOTE, VoteMsg.of(honest).encode())
    assert len(net.sent) == 2
    twin = decode_message(net.sent[1][2])
    assert isinstance(twin, VoteMsg) and twin.value_id != value
    assert verify(pv.pub_key, vote_sign_bytes(CHAIN, twin.vote()), twin.signature)
    EvidenceMsg(VoteMsg.of(honest), twin)  # they really conflict (same validator, height, round, type)
    assert pv.state.height == 5  # the guard recorded only the honest vote
    assert pv.sign_vote(twin.vote()) is None  # and would have refused the twin


def test_double_propose_gives_half_the_peers_another_valid_block(tmp_path: Path) -> None:
    byzantine.arm({byzantine.ENV_MODE: "double-propose"})
    pv, net = _pv(tmp_path), FakeNet()
    signer, network = byzantine.install(pv, net)
    ctx = BlockContext(chain_id=CHAIN, initial_height=1, height=1, last_block_id=BlockID.zero(),
                       last_block_time_ms=1, app_hash=b"\x03" * 32, last_results_hash=b"",
                       validators_hash=b"\x01" * 32, next_validators_hash=b"\x01" * 32,
                       consensus_hash=b"\x02" * 32, validator_addresses=frozenset({pv.address}),
                       last_validator_count=0, max_bytes=1 << 20)
    block = build_block(ctx, time_ms=1, proposer_address=pv.address, txs=[b"tx1", b"tx2"], last_commit=Commit.empty())
    prop = signer.sign_proposal(Proposal(1, 0, block.hash(), -1, b"", 1, b""))
    assert prop is not None
    payload = ProposalMsg.of(prop, block.encode()).encode()
    peers = [f"peer{i}" for i in range(16)]
    for p in peers:
        network.send(p, byzantine.CH_DATA, payload)
    alts = [decode_message(x) for _, _, x in net.sent if x != payload]
    assert 0 < len(alts) < len(peers)
    alt = alts[0]
    assert isinstance(alt, ProposalMsg) and alt.value_id != block.hash()
    alt_block = Block.decode(alt.block)
    assert alt_block.hash() == alt.value_id and alt_block.txs == () and alt_block.header.data_hash == txs_hash(())
    assert verify(pv.pub_key, proposal_sign_bytes(CHAIN, alt.proposal()), alt.signature)


def test_garbage_mode_sends_undecodable_frames(tmp_path: Path) -> None:
    byzantine.arm({byzantine.ENV_MODE: "garbage"})
    pv, net = _pv(tmp_path), FakeNet()
    _, network = byzantine.install(pv, net)
    for i in range(400):
        network.send("peer", byzantine.CH_VOTE, b"real %d" % i)
    junk = [x for _, _, x in net.sent if not x.startswith(b"real")]
    assert junk and len(net.sent) == 400 + len(junk)


def test_amnesiac_signer_state_is_thrown_away(tmp_path: Path) -> None:
    byzantine.arm({byzantine.ENV_SIGNER: "amnesiac"})
    pv = _pv(tmp_path)
    byzantine.install(pv, FakeNet())
    assert pv.sign_vote(Vote(VoteType.PREVOTE, 3, 0, None, b"", 1, b"")) is not None
    assert not (tmp_path / "priv_validator_state.json").exists()


@given(st.integers(0, 2**32), st.floats(20, 900), st.sets(st.sampled_from(KINDS), min_size=1))
def test_schedule_is_seeded_sequential_and_covers_every_kind(seed: int, duration: float, kinds: set[str]) -> None:
    a = make_schedule(seed, duration, sorted(kinds), 4)
    assert a == make_schedule(seed, duration, sorted(kinds), 4)
    for f, g in itertools.pairwise(a):
        assert f.at_s + f.duration_s < g.at_s  # faults never overlap
    assert all(f.at_s + f.duration_s <= duration for f in a)
    if duration >= 60:
        assert {f.kind for f in a} == kinds
    if "byzantine" in kinds:
        assert all(f.node != 3 for f in a if f.kind != "byzantine")
        byz = [f for f in a if f.kind == "byzantine"]
        if byz:
            assert byz[-1].detail["mode"] == "double-vote"


def test_proxy_forwards_cuts_and_heals() -> None:
    async def scenario() -> None:
        got: list[bytes] = []

        async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            while data := await r.read(100):
                got.append(data)
                w.write(data)
                await w.drain()
            w.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        net = ProxyNet(2, 0, [port, port])
        link = net.links[(0, 1)]
        link.listen_port = 0
        link.server = await asyncio.start_server(net._handler(link), "127.0.0.1", 0)
        lport = link.server.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", lport)
        w.write(b"hello")
        assert await asyncio.wait_for(r.read(100), 5) == b"hello"
        net.set_pair(0, 1, "cut")
        assert await asyncio.wait_for(r.read(100), 5) == b""  # the connection is closed
        r2, _w2 = await asyncio.open_connection("127.0.0.1", lport)
        assert await asyncio.wait_for(r2.read(100), 5) == b""  # and new ones are refused
        net.heal()
        r3, w3 = await asyncio.open_connection("127.0.0.1", lport)
        w3.write(b"again")
        assert await asyncio.wait_for(r3.read(100), 5) == b"again"
        w3.close()
        await net.stop()
        server.close()

    asyncio.run(scenario())

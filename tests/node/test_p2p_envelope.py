"""Model-based property test of the envelope rules: an authenticated peer sends arbitrary envelopes.

A reference model (below, written from the rules in ``node/p2p/peer.py``'s docstring) says which messages
must be delivered and whether the peer must be dropped; the real node, over a real socket, must agree.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from node.p2p import Message, PeerDown
from tests.node.p2p_harness import CHAN_A, CHAN_B, key, nid, rogue_session, start_node

MAX_MESSAGE = 2048
SENTINEL = b"--end of the example--"


@dataclass
class Model:
    delivered: list[tuple[int, bytes]] = field(default_factory=list)
    partial: dict[int, bytearray] = field(default_factory=dict)
    outcome: str = "connected"  # or "dropped" (protocol error) or "goodbye"

    def feed(self, env: bytes) -> None:
        if self.outcome != "connected":
            return
        if len(env) < 2:
            self.outcome = "dropped"
            return
        ch, fl, data = env[0], env[1], env[2:]
        if ch == 0:
            if fl != 1 or (data and data[0] != 1):
                self.outcome = "dropped"
            elif data:
                self.outcome = "goodbye"
            return
        if ch not in (CHAN_A, CHAN_B) or fl & ~1:
            self.outcome = "dropped"
            return
        buf = self.partial.setdefault(ch, bytearray())
        buf += data
        if len(buf) > MAX_MESSAGE:
            self.outcome = "dropped"
        elif fl == 1:
            self.delivered.append((ch, bytes(self.partial.pop(ch))))


data_envelopes = st.builds(
    lambda ch, fl, data: bytes([ch, fl]) + data,
    st.sampled_from([CHAN_A] * 4 + [CHAN_B] * 4 + [0x77]),
    st.sampled_from([1] * 6 + [0] * 3 + [2]),
    st.one_of(st.binary(max_size=40), st.binary(min_size=600, max_size=1500)),
)
control_envelopes = st.sampled_from([b"\x00\x01", b"\x00\x01", b"\x00\x01\x01bye", b"\x00\x01\x07", b"\x00\x00"])
envelopes = st.one_of(data_envelopes, data_envelopes, data_envelopes, control_envelopes, st.binary(max_size=1))


async def _check(envs: list[bytes]) -> None:
    envs = [*envs, bytes([CHAN_A, 1]) + SENTINEL]  # completes a pending CHAN_A message, if any: the model knows
    model = Model()
    for e in envs:
        model.feed(e)
    event(f"outcome: {model.outcome}, {len(model.delivered)} messages")
    rogue_key = key(5)
    rid = nid(rogue_key)
    b = await start_node(key(1), allowed=[rogue_key], max_frame_bytes=MAX_MESSAGE)
    try:
        conn = await rogue_session(*b.p2p.listen_address, rogue_key)
        conn.write(b"".join(conn.seal(e) for e in envs))
        await b.wait_for(lambda evs: bool(b.downs(rid)) or any(
            isinstance(e, Message) and e.payload.endswith(SENTINEL) for e in evs))
        got = [(m.channel, m.payload) for m in b.messages(rid)]
        assert got == model.delivered
        downs: list[PeerDown] = b.downs(rid)
        if model.outcome == "connected":
            assert not downs and b.p2p.is_connected(rid)
        else:
            assert downs, model.outcome
            assert downs[0].reason.startswith("peer hung up") == (model.outcome == "goodbye"), downs[0].reason
            assert b.p2p.stats().peers_dropped == (model.outcome == "dropped")
        conn.close()
    finally:
        await b.stop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(envelopes, max_size=12))
def test_node_follows_the_envelope_rules(envs: list[bytes]) -> None:
    asyncio.run(asyncio.wait_for(_check(envs), 30))

"""The load a run sends, made before the clock starts: the settings, and every transaction generated,
signed, routed to its lane and encoded as the request text, for the ws transport framed and masked as the
WebSocket frame a lane writes (`prepare`).

Why a module of its own: what is sent changes with the workload and the routing rules, how it is sent and
timed with the generator (devnet/bench/loadgen.py, whose docstring gives the method; it re-exports these).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from devnet.bench.run_network import WorkloadSpec
from devnet.bench.sequencer import sequence, signers_of
from devnet.bench.wslink import frame_payload, masked_frame
from state.crypto import sha256
from state.errors import TxError
from state.records import lg_id_of
from state.txs import IssueGuarantee, decode_tx


@dataclass
class LoadSettings:
    rates: list[float]  # tx/s; several = a staircase, one step each
    step_s: float = 30.0
    transport: str = "ws"  # ws | http
    lanes_per_node: int = 2
    window: int = 20_000  # most requests in flight on one lane before the sender waits
    # a lane waiting for its next tx wakes at that tx's due time rounded up to a multiple of this (seconds
    # after t0), so the lanes wake together: each wake-up of the generator's loop costs tens of µs of CPU
    # (the epoll wait and the switch), more than a tx's send. Sent at most `tick_s` late (the latency, from
    # the due time, includes it); 0: each lane wakes at its own next due time, at least 1 ms apart (before)
    tick_s: float = 0.005
    # most of a lane's txs sent and neither committed nor refused before the sender waits: 4 nodes x 2 lanes
    # x 500 stays below the node's mempool (5,000), which every node fills with all the lanes' txs
    outstanding: int = 500
    stale_s: float = 20.0  # an accepted tx not seen committed after this long stops counting as outstanding
    drain_s: float = 20.0  # after the last send, how long to wait for commits
    stop_when_saturated: bool = True
    events_node: int = 0
    progress_s: float = 2.0
    verifiers: int = 0  # concurrent proof-query clients on node `events_node` (0 = none)
    causal_gap_s: float = 3.0  # see devnet/bench/sequencer.py; 0 = send in generation order
    workload: WorkloadSpec = field(default_factory=WorkloadSpec)


@dataclass
class Prepared:
    """The pre-generated, pre-encoded load: parallel lists indexed by tx number."""

    due: list[float]  # seconds after t0
    step: list[int]
    lane: list[int]
    payload: list[str]  # each tx's JSON-RPC request text (the http transport's; empty for ws: see `frames`)
    hashes: dict[bytes, int]  # sha256(tx) -> first tx number with it (replays repeat a hash)
    step_starts: list[float]
    gen_s: float
    lg_of: dict[int, str] = field(default_factory=dict)  # tx number -> guarantee id it issues
    # a tx's base64 text -> first tx number with it (the committed block lists txs in base64: a lookup finds
    # ours exactly, with no decode and no SHA-256; a miss, a tx not ours, falls back to `hashes`). The texts
    # are a second copy of every tx (~0.6 kB a tx; the frames are masked, so they cannot be searched): memory
    # traded for the observer's CPU, which the nodes share (it was a hash() of the text, confirmed by
    # formatting a needle and searching the request text, ~2.5 µs a committed tx at load 10)
    by_text: dict[str, int] = field(default_factory=dict)
    # the ws transport's form of `payload`: each request as a masked WebSocket text frame, ready to write
    # (devnet/bench/wslink.py); only one of the two is kept, they would double the generator's memory
    frames: list[bytes] = field(default_factory=list)

    def request_text(self, i: int) -> str:
        """Tx `i`'s request text, from whichever form was kept."""
        return self.payload[i] if i < len(self.payload) else frame_payload(self.frames[i]).decode()


def prepare(settings: LoadSettings, n_nodes: int, say: Callable[[str], None]) -> Prepared:
    """Generate, sign, route and encode every transaction of the run."""
    t = time.perf_counter()
    total = sum(int(r * settings.step_s) for r in settings.rates)
    mean_rate = max(1.0, total / (settings.step_s * len(settings.rates)))
    per_block = 100
    wl = settings.workload.workload()
    txs: list[bytes] = []
    for _, batch in wl.blocks(10**9, per_block, block_ms=max(1, int(per_block / mean_rate * 1000))):
        txs.extend(batch)
        if len(txs) >= total:
            break
        if len(txs) % 20_000 < len(batch):
            say(f"  generated {len(txs):,}/{total:,} signed txs")
    txs = txs[:total]
    nominal: list[float] = []
    starts: list[float] = []
    at = 0.0
    for r in settings.rates:
        starts.append(at)
        nominal.extend(at + j / r for j in range(int(r * settings.step_s)))
        at += settings.step_s
    if settings.causal_gap_s > 0:
        say(f"  spacing causally dependent txs >= {settings.causal_gap_s} s apart and re-signing ...")
        txs, due = sequence(txs, nominal, wl, settings.causal_gap_s)
    else:
        due = nominal
    steps = [min(len(settings.rates) - 1, int(d // settings.step_s)) for d in due]
    lanes = n_nodes * settings.lanes_per_node
    lane_of: list[int] = []
    payload: list[str] = []
    frames: list[bytes] = []
    ws = settings.transport == "ws"
    hashes: dict[bytes, int] = {}
    by_text: dict[str, int] = {}
    lg_of: dict[int, str] = {}
    codes = {pub: sg.code for pub, sg in signers_of(wl).items()}
    for i, tx in enumerate(txs):
        try:
            d = decode_tx(tx)
            signer = d.tx.signer
            if isinstance(d.body, IssueGuarantee) and signer in codes:
                lg_of[i] = lg_id_of(codes[signer], d.body.ref)
        except TxError:
            signer = tx[:32]
        s = int.from_bytes(sha256(signer)[:4], "big")
        lane_of.append((s % n_nodes) * settings.lanes_per_node + (s // n_nodes) % settings.lanes_per_node)
        text = base64.b64encode(tx).decode()
        request = f'{{"jsonrpc":"2.0","id":{i},"method":"broadcast_tx_sync","params":{{"tx":"{text}"}}}}'
        if ws:
            frames.append(masked_frame(request.encode()))  # framed and masked before the clock starts
        else:
            payload.append(request)
        hashes.setdefault(sha256(tx), i)
        by_text.setdefault(text, i)
    assert max(lane_of, default=0) < lanes
    return Prepared(due, steps, lane_of, payload, hashes, starts, time.perf_counter() - t, lg_of, by_text, frames)

"""Micro-benchmark of the P2P transport: frames/s and MB/s between two local nodes (print only).

Two processes (one per core, as two validators would be): a receiver node and a sender node on 127.0.0.1,
connected through the real handshake, AEAD and coalescing writer. The sender keeps its channel queue full
(``send`` refusing is the backpressure signal) and the receiver counts frames until it has them all.

A third round is paced (``--paced-frames`` frames, one every ``--gap-ms``): each frame then wakes the
sender's writer and the receiver's reader and consumer on its own, as a gossip frame does in a network at
~1,000 tx/s, so its CPU per frame is what a frame costs there (the first round's is the streaming floor).

    .venv/bin/python -m devnet.bench.p2p_bench [--frames 200000] [--size 300] [--big-frames 2000]
                                               [--paced-frames 500] [--gap-ms 2]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import time
from multiprocessing.connection import Connection

from node.p2p import P2P, ChannelSpec, Message, P2PConfig, PeerAddress, PeerUp
from state.crypto import PrivateKey, node_id

CH = 0x20
CHANNELS = {CH: ChannelSpec(priority=1, send_queue_bytes=8 * 1024 * 1024)}
RECV_KEY = PrivateKey.from_seed(b"\x01" * 32)
SEND_KEY = PrivateKey.from_seed(b"\x02" * 32)


def _config(**kw: object) -> P2PConfig:
    return P2PConfig(listen="127.0.0.1:0", network="bench", inbox_size=100_000, **kw)  # type: ignore[arg-type]


async def _receiver(pipe: Connection, rounds: list[tuple[int, int]]) -> None:
    p2p = P2P(RECV_KEY, _config(allowed_peer_ids=frozenset({node_id(SEND_KEY.public_key.raw)})), CHANNELS)
    await p2p.start()
    pipe.send(p2p.listen_address[1])
    while not isinstance(await p2p.recv(), PeerUp):
        pass
    for count, _size in rounds:
        got = 0
        nbytes = 0
        t0 = time.perf_counter()
        c0 = time.process_time()
        while got < count:
            ev = await p2p.recv()
            if isinstance(ev, Message):
                got += 1
                nbytes += len(ev.payload)
        pipe.send((time.perf_counter() - t0, time.process_time() - c0, nbytes))
    await p2p.stop()


async def _sender(port: int, rounds: list[tuple[int, int]], pipe: Connection, gap_s: float = 0.0,
                  paced: int = -1) -> None:
    peer = PeerAddress(node_id(RECV_KEY.public_key.raw), "127.0.0.1", port)
    p2p = P2P(SEND_KEY, _config(persistent_peers=(peer,)), CHANNELS)
    await p2p.start()
    while not p2p.is_connected(peer.node_id):
        await asyncio.sleep(0.01)
    for i, (count, size) in enumerate(rounds):
        payload = os.urandom(size)
        c0 = time.process_time()
        sent = 0
        while sent < count:
            if p2p.send(peer.node_id, CH, payload):
                sent += 1
                if i == paced:
                    await asyncio.sleep(gap_s)  # one frame per wake-up
            else:
                await asyncio.sleep(0.0005)  # queue full: let the writer drain
        await asyncio.to_thread(pipe.recv)  # the receiver's report; the loop keeps draining meanwhile
        pipe.send(time.process_time() - c0)
    await p2p.stop()


def _run_receiver(pipe: Connection, rounds: list[tuple[int, int]]) -> None:
    asyncio.run(_receiver(pipe, rounds))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=200_000, help="small frames in the first round")
    ap.add_argument("--size", type=int, default=300, help="payload bytes of a small frame")
    ap.add_argument("--big-frames", type=int, default=2_000, help="frames of 64 KiB in the second round")
    ap.add_argument("--paced-frames", type=int, default=500, help="small frames sent one by one (third round)")
    ap.add_argument("--gap-ms", type=float, default=2.0, help="pause between two paced frames")
    args = ap.parse_args()
    rounds = [(args.frames, args.size), (args.big_frames, 64 * 1024)]
    if args.paced_frames > 0:
        rounds.append((args.paced_frames, args.size))
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_run_receiver, args=(child, rounds), daemon=True)
    proc.start()
    try:
        port = parent.recv()
        results: list[tuple[float, float, int]] = []
        sender_cpu: list[float] = []

        async def drive() -> None:
            class Relay:
                """Forward the receiver's per-round report to the sender loop and keep it."""

                def recv(self) -> None:  # runs in a worker thread
                    results.append(parent.recv())

                def send(self, cpu: float) -> None:
                    sender_cpu.append(cpu)

            await _sender(port, rounds, Relay(), args.gap_ms / 1000, 2)  # type: ignore[arg-type]

        asyncio.run(drive())
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    print(f"{'payload':>10} {'frames':>8} {'frames/s':>10} {'MB/s':>8} {'recv µs/frame':>14} {'send µs/frame':>14}")
    for i, ((count, size), (wall, rcpu, nbytes), scpu) in enumerate(zip(rounds, results, sender_cpu, strict=True)):
        print(f"{size:>10} {count:>8} {count / wall:>10.0f} {nbytes / wall / 1e6:>8.1f} "
              f"{rcpu / count * 1e6:>14.2f} {scpu / count * 1e6:>14.2f}" + (f"  paced, {args.gap_ms:g} ms apart"
                                                                           if i == 2 else ""))


if __name__ == "__main__":
    main()

"""A stand-in node for measuring the load generator alone: `python -m devnet.bench.fake_node --port P`.

Why: in a network run the generator's CPU per tx moves with what the four nodes commit (a loaded machine
commits less, and the generator's fixed per-second work is then spread over fewer txs), so two generator
versions are hard to compare there. This server answers what `egp bench` asks of a node over WebSocket, in
the node's own text: every `broadcast_tx_sync` is accepted (the answer `_fast_text` of node/rpc/ws_fast.py
writes for code 0), and every `--block-ms` the txs received since the last block are announced to the
`NewBlock` subscribers as node/events.py renders the event (one attribute event per tx result, as the
workload's txs carry). It verifies, executes and stores nothing, so the machine's other CPU is the generator's:

    python -m devnet.bench.fake_node --port 26999 &
    U=http://127.0.0.1:26999                                # four times: the 8 lanes of a 4-node network
    egp bench --url $U --url $U --url $U --url $U --rate 1000 --duration 30   # the JSON's loadgen_cores / tx

The generator's CPU per tx depends on how closely it keeps the schedule (each wake-up of its loop costs more
than a send): compare versions at the same offered rate and read their own lateness beside it.

Not a node: no consensus, no state, and it accepts any text as a tx.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
from typing import Any

from aiohttp import WSMsgType, web

from node.events import EventBus, Subscription
from node.rpc.websocket import _event_json, _text_frame
from state.chain import (
    Block,
    BlockID,
    Commit,
    Event,
    EventAttribute,
    ExecTxResult,
    FinalizeBlockResult,
    Header,
    PartSetHeader,
)
from state.crypto import sha256

Z = b"\x00" * 32


class FakeNode:
    def __init__(self, block_ms: int) -> None:
        self.block_ms = block_ms
        self.bus = EventBus()
        self.pending: list[bytes] = []
        self.height = 0
        self.subs: list[tuple[web.WebSocketResponse, Subscription, Any]] = []

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=0)
        await ws.prepare(request)
        transport = request.transport
        assert transport is not None
        out: list[bytes] = []

        def flush() -> None:  # the answers of one loop turn in one write, as the node's send_many does
            if not transport.is_closing():
                transport.write(b"".join(out))
            out.clear()

        try:
            await self._serve(ws, out, flush)
        finally:
            for entry in [e for e in self.subs if e[0] is ws]:
                self.bus.discard(entry[1])
                self.subs.remove(entry)
        return ws

    async def _serve(self, ws: web.WebSocketResponse, out: list[bytes], flush: Any) -> None:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            doc = json.loads(msg.data)
            if doc.get("method") == "broadcast_tx_sync":
                tx = base64.b64decode(doc["params"]["tx"])
                self.pending.append(tx)
                if not out:
                    asyncio.get_running_loop().call_soon(flush)
                out.append(_text_frame(f'{{"jsonrpc":"2.0","id":{doc["id"]},"result":{{"code":0,"data":"",'
                                       f'"log":"","codespace":"","hash":"{sha256(tx).hex().upper()}"}}}}'.encode()))
            elif doc.get("method") == "subscribe":
                sub = self.bus.subscribe(str(id(ws)), doc["params"]["query"], 1000)
                self.subs.append((ws, sub, doc.get("id")))
                await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": doc.get("id"), "result": {}}))
            else:
                await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": doc.get("id"),
                                              "error": {"code": -32601, "message": "Method not found"}}))

    async def blocks(self) -> None:
        while True:
            await asyncio.sleep(self.block_ms / 1000)
            txs, self.pending = self.pending, []
            self.height += 1
            hdr = Header(11, 1, "egp-fake", self.height, 1_736_935_200_000 + self.height,
                         BlockID(sha256(b"%d" % self.height), PartSetHeader(1, Z)), Z, Z, Z, Z, Z, b"", Z, Z,
                         b"\x01" * 20)
            results = tuple(ExecTxResult(0, b"", "", "", 0, 0, (Event("lg", (
                EventAttribute("id", "LG" + sha256(tx).hex()[:30], True), EventAttribute("status", "ISSUED", True))),),
                "") for tx in txs)
            self.bus.publish_chain_block(Block(hdr, tuple(txs), (), Commit.empty()),
                                         FinalizeBlockResult((), results, (), b"", Z))
            for ws, sub, rid in list(self.subs):
                try:
                    while sub.pending():
                        ev = await sub.next()
                        if ev is None:
                            break
                        head = (f'{{"jsonrpc":"2.0","id":{json.dumps(rid)},'
                                f'"result":{{"query":{json.dumps(sub.query_text)},')
                        await ws.send_str(f'{head}"data":{_event_json(ev)}}}}}')
                except ConnectionError:  # the subscriber left (aiohttp's reset error is one)
                    self.bus.discard(sub)
                    self.subs.remove((ws, sub, rid))


async def serve(port: int, block_ms: int) -> None:
    node = FakeNode(block_ms)
    app = web.Application()
    app.router.add_get("/websocket", node.websocket)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"fake node on http://127.0.0.1:{port}", flush=True)
    await node.blocks()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=26999)
    ap.add_argument("--block-ms", type=int, default=500)
    a = ap.parse_args(argv)
    asyncio.run(serve(a.port, a.block_ms))


if __name__ == "__main__":
    main()

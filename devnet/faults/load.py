"""The harness's load: the benchmark's seeded workload sent at a steady rate, every submission recorded.

Why not `devnet/bench/loadgen.py` itself: the benchmark pins each signer to one node and pre-signs every
sequence number, which is right for measuring a healthy network but stalls a signer for the rest of the run
as soon as its node is killed with a transaction in its mempool (every later number is then refused). Here
the transactions are the same (`state/workload.py`, the benchmark's `WorkloadSpec`), but each is signed at
send time with the signer's next sequence number; a `BAD_NONCE` answer re-synchronises the signer from the
node's "next expected" number, and a node that does not answer makes the lane fail over to the next node.

What is recorded, per the issue: every signed tx submitted (hash, time, node, check code), which were
acknowledged by `broadcast_tx_commit` (`commit_share` of the txs of signers with few txs: their lane waits
for the commit, which a busy signer could not afford at its rate) and which a Tx event reported committed
(a `tm.event='Tx'` WebSocket subscription on every node, resumed with `from_height` after faults).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from devnet.bench.run_network import WorkloadSpec
from devnet.bench.sequencer import signers_of
from state.crypto import PrivateKey, sha256
from state.errors import TxError
from state.txs import Body, decode_tx, sign_tx

BAD_NONCE = 108
WANT = re.compile(r"next expected is (\d+)")


@dataclass
class Item:
    key: PrivateKey
    body: Body
    due: float


@dataclass
class LoadRecord:
    submitted: dict[str, dict[str, Any]] = field(default_factory=dict)  # hash hex -> {t, node, code, via}
    acked: dict[str, dict[str, Any]] = field(default_factory=dict)  # hash hex -> {by, height, t}
    rpc_errors: int = 0
    resyncs: int = 0
    failovers: int = 0
    lag_max_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        accepted = sum(1 for s in self.submitted.values() if s["code"] == 0)
        by_commit = sum(1 for a in self.acked.values() if "commit" in a["by"])
        by_event = sum(1 for a in self.acked.values() if "event" in a["by"])
        return {"submitted": len(self.submitted), "accepted_by_check_tx": accepted, "acknowledged": len(self.acked),
                "acked_by_broadcast_tx_commit": by_commit, "acked_by_tx_event": by_event,
                "rpc_errors": self.rpc_errors, "nonce_resyncs": self.resyncs, "failovers": self.failovers,
                "sender_lag_max_s": round(self.lag_max_s, 2)}


def prepare(spec: WorkloadSpec, rate: float, duration: float, start_ms: int) -> list[Item]:
    """The workload's txs (decoded, to be re-signed at send time), due evenly at `rate` per second."""
    wl = spec.workload(start_ms)
    keys = signers_of(wl)
    want = int(rate * duration) + 1
    items: list[Item] = []
    for _, batch in wl.blocks(10**9, 100, block_ms=max(1, int(100 / max(rate, 1.0) * 1000))):
        for raw in batch:
            try:
                d = decode_tx(raw)
            except TxError:
                continue
            s = keys.get(d.tx.signer)
            if s is not None:
                items.append(Item(s.key, d.body, len(items) / rate))
        if len(items) >= want:
            break
    return items[:want]


class Sender:
    def __init__(self, urls: list[str], spec: WorkloadSpec, *, commit_share: float = 0.3, cold_max: int = 40,
                 seed: int = 0) -> None:
        self.urls = urls
        self.spec = spec
        self.commit_share = commit_share
        self.cold_max = cold_max
        self.rng = random.Random(seed)
        self.rec = LoadRecord()
        self.nonce: dict[bytes, int] = {}
        self.down_until = [0.0] * len(urls)
        self.stopped = asyncio.Event()
        self.t0 = 0.0
        self.event_height = [0] * len(urls)  # the last height each node's Tx events reached us for

    def now(self) -> float:
        return time.monotonic() - self.t0

    # ------------------------------------------------------------------ sending
    async def run(self, items: list[Item], session: aiohttp.ClientSession) -> None:
        """Open loop: each tx is handed to its signer's lane at its due time (one lane per signer keeps its
        sequence order; the lanes of different signers run concurrently)."""
        self.t0 = time.monotonic()
        per_signer = Counter(it.key.public_key.raw for it in items)
        queues: dict[bytes, asyncio.Queue[Item | None]] = {}
        lanes: list[asyncio.Task[None]] = []
        try:
            for it in items:
                if self.stopped.is_set():
                    break
                wait = it.due - self.now()
                if wait > 0:
                    try:
                        await asyncio.wait_for(self.stopped.wait(), wait)
                        break
                    except TimeoutError:
                        pass
                signer = it.key.public_key.raw
                q = queues.get(signer)
                if q is None:
                    q = queues[signer] = asyncio.Queue()
                    # a signer with few txs may wait for each commit; a busy one would fall behind its rate
                    cold = per_signer[signer] <= self.cold_max
                    lanes.append(asyncio.create_task(self._lane(sha256(signer)[0], q, session, cold)))
                q.put_nowait(it)
        finally:
            for q in queues.values():
                q.put_nowait(None)
            await asyncio.gather(*lanes, return_exceptions=True)

    async def _lane(self, k: int, q: asyncio.Queue[Item | None], session: aiohttp.ClientSession, cold: bool) -> None:
        node = k % len(self.urls)
        while True:
            it = await q.get()
            if it is None or self.stopped.is_set():
                return
            self.rec.lag_max_s = max(self.rec.lag_max_s, self.now() - it.due)
            commit = cold and self.rng.random() < self.commit_share
            for _attempt in range(4):
                node = self._live_node(node)
                res = await self._submit(session, node, it, commit)
                if res == "down":
                    self.down_until[node] = time.monotonic() + 3.0
                    self.rec.failovers += 1
                    node = (node + 1) % len(self.urls)
                    continue
                if res == "resync":
                    continue
                break

    def _live_node(self, node: int) -> int:
        now = time.monotonic()
        for d in range(len(self.urls)):
            j = (node + d) % len(self.urls)
            if self.down_until[j] <= now:
                return j
        return node

    async def _submit(self, session: aiohttp.ClientSession, node: int, it: Item, commit: bool) -> str:
        signer = it.key.public_key.raw
        nonce = self.nonce.get(signer, 0)
        raw = sign_tx(it.key, self.spec.chain_id, nonce, it.body)
        h = sha256(raw).hex().upper()
        method = "broadcast_tx_commit" if commit else "broadcast_tx_sync"
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"tx": base64.b64encode(raw).decode()}}
        sent_at = self.now()
        try:
            async with session.post(self.urls[node], json=body,
                                    timeout=aiohttp.ClientTimeout(total=15 if commit else 4)) as resp:
                doc = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
            self.rec.rpc_errors += 1
            # it may have reached the mempool: it counts as submitted (never acknowledged by us)
            self.rec.submitted.setdefault(h, {"t": round(sent_at, 3), "node": node, "code": -1, "via": method})
            return "down"
        res = doc.get("result") if isinstance(doc, dict) else None
        if not isinstance(res, dict):
            self.rec.rpc_errors += 1
            self.rec.submitted.setdefault(h, {"t": round(sent_at, 3), "node": node, "code": -2, "via": method})
            return "error"
        check = res.get("check_tx", res) if commit else res
        code = int(check.get("code", 0) or 0)
        self.rec.submitted[h] = {"t": round(sent_at, 3), "node": node, "code": code, "via": method}
        if code == 0:
            self.nonce[signer] = nonce + 1
            if commit and int(res.get("height", "0") or 0) > 0:
                self._ack(h, "commit", int(res["height"]))
            return "ok"
        if code == BAD_NONCE:
            m = WANT.search(str(check.get("log", "")))
            if m:
                self.nonce[signer] = int(m.group(1))
                self.rec.resyncs += 1
                return "resync"
        return "rejected"

    def _ack(self, h: str, by: str, height: int) -> None:
        a = self.rec.acked.get(h)
        if a is None:
            self.rec.acked[h] = {"by": [by], "height": height, "t": round(self.now(), 3)}
        elif by not in a["by"]:
            a["by"].append(by)

    # ------------------------------------------------------------------ Tx events
    async def listen(self, node: int, session: aiohttp.ClientSession) -> None:
        """Subscribe to Tx events on one node until stopped; after any failure (node killed, paused, our
        subscription cut) reconnect and resume from the last height seen (`from_height` catch-up)."""
        url = self.urls[node].rstrip("/") + "/websocket"
        last = 0
        while not self.stopped.is_set():
            params: dict[str, Any] = {"query": "tm.event='Tx'"}
            if last:
                params["from_height"] = last
            sub = {"jsonrpc": "2.0", "id": "faults", "method": "subscribe", "params": params}
            try:
                async with session.ws_connect(url, max_msg_size=0, heartbeat=5.0) as ws:
                    await ws.send_str(json.dumps(sub))
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        h = self._on_event(msg.data)
                        if h is None and '"error"' in msg.data:
                            last = 0 if "from_height" in msg.data else last  # out of the replay window
                            break
                        last = max(last, h or 0)
                        self.event_height[node] = last
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
                pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopped.wait(), 1.0)

    def _on_event(self, data: str) -> int | None:
        """Record a Tx event; returns its height (None for anything else)."""
        try:
            doc = json.loads(data)
            value = doc["result"]["data"]["value"]["TxResult"]
            raw = base64.b64decode(value["tx"])
            height = int(value["height"])
        except (KeyError, TypeError, ValueError):
            return None
        self._ack(sha256(raw).hex().upper(), "event", height)
        return height

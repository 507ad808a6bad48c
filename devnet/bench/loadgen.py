"""The load generator: drive a running network through its public JSON-RPC with the seeded e-GP workload.

Method (docs/performance.md):
- Everything expensive happens before the clock starts: `state/workload.py` makes the signed transactions
  (correct sequence numbers, the domain-research §8 mix, 5 % adversarial), each is routed, JSON-encoded,
  hashed and (ws transport) framed and masked as the WebSocket frame its lane writes, up front: no tx is
  signed, encoded or masked inside the measured window. The timed loop only writes prepared bytes.
- Open loop: transaction i has a due time fixed by the offered rate (or the staircase of rates); it is sent
  at that time whatever happened to earlier ones, so a slow node shows up as latency and backlog, not as a
  politely lower offered load. How far the generator itself fell behind its schedule is reported ("lag").
  One bound, as a bank's gateway would keep: a lane holds at most `outstanding` txs sent and not yet seen
  committed (or refused); beyond, its next tx waits in the generator. The node reads pipelined requests
  ahead, so without the bound an overloaded network fills its mempool, refuses a tx as full and then every
  later tx of that signer for its sequence number (108). The wait counts in the latency, which is measured
  from the tx's due time, and in the lag.
- A signer's transactions must reach a node in sequence order (check_tx wants nonce == account nonce), so
  every signer is pinned to one node and one connection ("lane"). The default transport pipelines
  `broadcast_tx_sync` over WebSocket lanes: the server handles a connection's messages in order, so order
  holds without waiting a round trip per transaction (the hottest bank signs ~15 % of all traffic).
  `--transport http` uses keep-alive POSTs instead, one in flight per lane (hot lanes then fall behind).
- The generator's own CPU comes off the two cores the nodes share, so the timed loop is kept lean: a ws lane
  (devnet/bench/wslink.py) writes the frames of all its txs due at once in one socket write and reads the
  node's answers when it wakes to send (a non-blocking socket the loop does not watch: an answer arriving
  wakes nothing; no message objects, queue or task switch per answer); the
  lanes wake on a common grid of `tick_s` (5 ms: each wake-up of the loop costs tens of µs of CPU in the
  kernel, more than a tx's send; a generator keeping a 1,000 tx/s schedule to the millisecond spent ~115 µs
  a tx, mostly waking up), so a tx leaves at most one tick after its due time, which its latency includes.
  At 2,000 tx/s the hottest lane (~20 % of the load) has ~2 txs due a tick, written together: the node
  reads them in one go, as it did when the generator, keeping each tx's own time, fell 5-11 ms behind.
- Commit time is when the `NewBlock` event carrying the tx reaches a WebSocket subscriber on one node (the
  equivalent of Tx events at one message per block instead of one per tx, so the observer costs the node
  little); its `tx_results` give the deliver codes. Latency = commit time - the tx's due time.
  The observer reads only what it needs of that message (`read_new_block`: the header, the txs' base64 and
  each tx result's code; not the events, ~1 MB of JSON per 1,000-tx block) and knows its txs by their
  base64 text (one dict lookup, without decoding and hashing them): its CPU comes off the 2 cores the nodes
  share. The node renders that message for the subscriber (node 0's loop: ~5-8 µs a tx), which no lighter
  event of the node avoids: NewBlockHeader has no txs, Tx events cost the node per tx.
- Every second the node processes (and their children), this process and the whole machine are sampled
  from /proc: CPU cores used, RSS, peak RSS, and the CPU of everything else on the machine.

Where: the settings and the prepared load are devnet/bench/loadplan.py's (`prepare`), the text patterns of the
node's answers devnet/bench/answer_text.py's (`read_new_block`); this module re-exports them and runs.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import contextlib
import itertools
import json
import math
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from devnet.bench import procstat, wslink
from devnet.bench.answer_text import _ACCEPTED

# re-exported (with the three below): their home was this module, where callers import them from
from devnet.bench.answer_text import read_new_block as read_new_block
from devnet.bench.loadplan import LoadSettings as LoadSettings
from devnet.bench.loadplan import Prepared as Prepared
from devnet.bench.loadplan import prepare as prepare
from state.crypto import sha256
from state.proofs import StateProof


@dataclass
class Records:
    n: int
    sent: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    check_code: list[int] = field(default_factory=list)  # -1 unanswered, -2 RPC error
    rpc_error: dict[int, str] = field(default_factory=dict)
    committed: list[float] = field(default_factory=list)
    deliver_code: list[int] = field(default_factory=list)
    held: list[float] = field(default_factory=list)  # seconds the lane waited for its `outstanding` bound
    # before sending this tx (0: none); the lanes' waits as (start, end) intervals, by lane
    holds: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    blocks: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    queries: list[tuple[float, float, bool]] = field(default_factory=list)  # (sent, answered, served w/ proof)
    proofs_checked: int = 0
    proofs_failed: int = 0

    def __post_init__(self) -> None:
        self.sent = [0.0] * self.n
        self.answered = [0.0] * self.n
        self.check_code = [-1] * self.n
        self.committed = [0.0] * self.n
        self.deliver_code = [-1] * self.n
        self.held = [0.0] * self.n





POLL_S = 0.25  # longest a ws lane goes without reading its connection (the node's pings want a pong)


class Run:
    """One timed run against `urls`; `pids` are the node processes to sample (may be empty)."""

    def __init__(self, settings: LoadSettings, urls: list[str], pids: list[int], prep: Prepared,
                 say: Callable[[str], None]) -> None:
        self.s, self.urls, self.pids, self.p, self.say = settings, urls, pids, prep, say
        self.r = Records(len(prep.due))
        self.t0 = 0.0
        self.stop_off = float("inf")  # due offsets at or past this are not sent (saturation reached)
        self.saturated_at: int | None = None
        self.sending_done = False
        self.inflight = [0] * (len(urls) * settings.lanes_per_node)
        self.open_txs: list[deque[int]] = [deque() for _ in self.inflight]  # sent, not settled, in send order
        self.settled = bytearray(len(prep.due))  # committed, refused, or stale: no longer outstanding
        self.lane_free = [asyncio.Event() for _ in self.inflight]
        self.lane_pos = [0] * len(self.inflight)  # next item of each lane to send
        self.reconnects = 0
        self.last_height = 0
        self.live_lgs: list[str] = []  # guarantees seen committed (what the verifiers ask about)
        self.app_hash: dict[int, bytes] = {}  # header height -> app hash (state after height - 1)
        self.proof_samples: list[tuple[int, bytes]] = []  # (state height, encoded StateProof)
        self.accepted = 0  # check_tx code 0 answers
        self.committed_accepted = 0  # of those, seen committed
        self.sent_count = 0  # txs sent so far (the progress line's; counting `r.sent` was O(txs) a line)

    def now(self) -> float:
        return time.monotonic() - self.t0

    # ------------------------------------------------------------------ senders
    async def _paced(self, lane: int, items: list[int], send: Callable[[int], Any] | None = None,
                     send_batch: Callable[[list[int]], None] | None = None,
                     poll: Callable[[], None] | None = None) -> None:
        """Send `items` at their due times, from `self.lane_pos[lane]` on (kept there if the connection drops):
        each with `send(i)`, or those due together with one `send_batch([i, ...])` (one socket write: the ws
        lanes), flushed before the lane waits for its bound, so a held tx never holds back one already due.
        `poll()` (the ws lanes': read the node's answers) is called each time the lane wakes, before it sends,
        and at least every `POLL_S` while it waits."""
        due, k, n = self.p.due, self.lane_pos[lane], len(items)
        batch: list[int] = []
        window, outstanding = self.s.window, self.s.outstanding
        # a held lane is freed by a commit (the observer sets `lane_free` at once) or by a refusal, which a
        # polled lane only reads when it wakes: at least every POLL_S (not every tick: at saturation lanes
        # are held for seconds, and waking them each tick would spend the CPU the tick saves)
        hold_wait = POLL_S if poll is not None else 1.0
        while k < n:
            if poll is not None:
                poll()
            off = self.now()
            while k < n and due[items[k]] <= off:
                i = items[k]
                if due[i] >= self.stop_off:
                    k = n  # saturation reached: the rest is not sent
                    break
                if self.inflight[lane] >= window or self._outstanding(lane) >= outstanding:
                    if batch:
                        assert send_batch is not None
                        send_batch(batch)
                        batch = []
                    held_at = self.now()
                    while self.inflight[lane] >= window or self._outstanding(lane) >= outstanding:
                        self.lane_free[lane].clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self.lane_free[lane].wait(), hold_wait)
                        if poll is not None:
                            poll()  # the answers (a refused tx frees its place) come only this way
                    off = self.now()
                    self.r.held[i] = off - held_at
                    self.r.holds.setdefault(lane, []).append((held_at, off))
                self.r.sent[i] = off if send_batch is not None else self.now()
                self.sent_count += 1
                self.inflight[lane] += 1
                self.open_txs[lane].append(i)
                k += 1
                self.lane_pos[lane] = k
                if send_batch is not None:
                    batch.append(i)
                else:
                    assert send is not None
                    await send(i)
            if batch:
                assert send_batch is not None
                send_batch(batch)
                batch = []
            if k < n:
                # the next due time, rounded up to the run's tick: every lane wakes on the same grid
                tick = self.s.tick_s
                wake = max(due[items[k]], math.ceil(due[items[k]] / tick) * tick) if tick > 0 else due[items[k]]
                wait = max(0.001 if tick <= 0 else 0.0, wake - self.now())
                await asyncio.sleep(min(wait, POLL_S) if poll is not None else wait)

    def sender_report(self) -> dict[str, Any]:
        """Why the txs went out late, if they did: held back by their lane's `outstanding` bound (the network
        does not commit as fast as offered: a bank's gateway would wait too) or the generator's own lateness
        (its CPU: the schedule it could not keep); by lane, the share of the load and of the holds."""
        r, p = self.r, self.p
        sent = [i for i in range(r.n) if r.sent[i]]
        held = [i for i in sent if r.held[i] > 0]
        waits = sorted(r.held[i] for i in held)
        # a tx's own lateness: the time from its due time to its send that its lane was not held back (a tx
        # queued behind a held one waited for the bound too)
        starts = {k: [a for a, _ in v] for k, v in r.holds.items()}
        prefix = {k: list(itertools.accumulate((b - a for a, b in v), initial=0.0)) for k, v in r.holds.items()}

        def blocked(lane: int, t: float) -> float:  # seconds of the lane's holds before t
            iv = r.holds.get(lane)
            if not iv:
                return 0.0
            j = bisect.bisect_right(starts[lane], t)  # holds starting at or before t
            if j == 0:
                return 0.0
            a, b = iv[j - 1]
            return prefix[lane][j - 1] + (min(t, b) - a)

        own = sorted(max(0.0, r.sent[i] - p.due[i] - (blocked(p.lane[i], r.sent[i]) - blocked(p.lane[i], p.due[i])))
                     for i in sent)

        def q(xs: list[float], f: float) -> float | None:
            return round(xs[min(len(xs) - 1, int(f * len(xs)))], 4) if xs else None

        by_lane: dict[int, list[int]] = {}
        for i in sent:
            c = by_lane.setdefault(p.lane[i], [0, 0])
            c[0] += 1
            c[1] += r.held[i] > 0
        return {"outstanding_bound": self.s.outstanding, "sent": len(sent), "held_back": len(held),
                "held_wait_s_p50": q(waits, 0.5), "held_wait_s_p99": q(waits, 0.99),
                "own_lag_s_p50": q(own, 0.5), "own_lag_s_p99": q(own, 0.99), "own_lag_s_max": q(own, 1.0),
                "lanes": {str(k): {"sent": v[0], "held_back": v[1]} for k, v in sorted(by_lane.items())}}

    def _outstanding(self, lane: int) -> int:
        """The lane's txs sent and not settled; forgets settled ones, and accepted ones not seen committed
        for `stale_s` (e.g. dropped by a node's re-check), at the head of the lane's queue."""
        q, now = self.open_txs[lane], self.now()
        while q and (self.settled[q[0]] or (self.r.answered[q[0]] and now - self.r.answered[q[0]] > self.s.stale_s)):
            self.settled[q.popleft()] = 1
        return len(q)

    def _settle(self, i: int) -> None:
        if not self.settled[i]:
            self.settled[i] = 1
            self.lane_free[self.p.lane[i]].set()

    def _answer(self, doc: dict[str, Any], lane: int) -> None:
        i = doc.get("id")
        if not isinstance(i, int) or not 0 <= i < self.r.n:
            return
        self.r.answered[i] = self.now()
        self.inflight[lane] -= 1
        self.lane_free[lane].set()
        if "error" in doc:
            self.r.check_code[i] = -2
            self._settle(i)
            err = doc["error"]
            self.r.rpc_error[i] = str(err.get("data") or err.get("message") if isinstance(err, dict) else err)[:80]
        else:
            code = int(doc.get("result", {}).get("code", 0))
            self.r.check_code[i] = code
            if code != 0:
                self._settle(i)
            if code == 0:
                self.accepted += 1
                if self.r.committed[i]:
                    self.committed_accepted += 1

    def _answer_text(self, text: str, lane: int) -> None:
        """An answer as received: an accepted broadcast's is read by `_ACCEPTED` (no JSON parse; the same
        record as `_answer` makes of it), anything else parsed whole."""
        m = _ACCEPTED.match(text)
        i = int(m[1]) if m is not None else -1
        if not 0 <= i < self.r.n:
            self._answer(json.loads(text), lane)
            return
        self.r.answered[i] = self.now()
        self.inflight[lane] -= 1
        self.lane_free[lane].set()
        self.r.check_code[i] = 0
        self.accepted += 1
        if self.r.committed[i]:
            self.committed_accepted += 1

    async def _ws_lane(self, session: aiohttp.ClientSession, url: str, lane: int, items: list[int]) -> None:
        """A pipelined WebSocket lane; a dropped connection loses its in-flight requests (reported as RPC
        errors) and the lane reconnects and goes on from the next transaction."""
        for attempt in range(20):
            try:
                await self._ws_lane_once(session, url, lane, items)
                return
            except (aiohttp.ClientError, ConnectionError, RuntimeError) as e:
                if attempt == 0 and self.lane_pos[lane] == 0:
                    raise  # never connected: the network does not answer
                lost = [i for i in items[: self.lane_pos[lane]] if self.r.sent[i] and not self.r.answered[i]]
                for i in lost:
                    self._answer({"id": i, "error": {"message": f"connection lost ({type(e).__name__})"}}, lane)
                self.reconnects += 1
                self.say(f"  lane {lane} to {url}: connection lost ({e}); {len(lost)} requests lost, reconnecting")
                await asyncio.sleep(0.5)

    async def _ws_lane_once(self, session: aiohttp.ClientSession, url: str, lane: int, items: list[int]) -> None:
        """The lane's connection (devnet/bench/wslink.py): the frames of the txs due together go out in one
        write, and the answers are read each time the lane wakes (`poll`: the loop never wakes for them)."""
        link = await wslink.connect(url, lambda text: self._answer_text(text, lane))
        frames = self.p.frames

        def send_batch(batch: list[int]) -> None:
            link.write(frames[batch[0]] if len(batch) == 1 else b"".join([frames[i] for i in batch]))

        try:
            await self._paced(lane, items, send_batch=send_batch, poll=link.poll)
            while self.inflight[lane] > 0 and self.now() < min(self._deadline(), self.stop_off + self.s.drain_s):
                link.poll()
                await asyncio.sleep(0.05)
        finally:
            link.close()

    async def _http_lane(self, session: aiohttp.ClientSession, url: str, lane: int, items: list[int]) -> None:
        payload = self.p.payload

        async def post(i: int) -> None:
            try:
                async with session.post(url, data=payload[i], headers={"Content-Type": "application/json"}) as resp:
                    self._answer(json.loads(await resp.read()), lane)
            except (aiohttp.ClientError, ValueError) as e:
                self._answer({"id": i, "error": {"message": type(e).__name__}}, lane)

        await self._paced(lane, items, post)

    async def _verifier(self, session: aiohttp.ClientSession, k: int) -> None:
        """Closed loop: ask node `events_node` for a committed guarantee with its proof, again and again."""
        url = self.urls[self.s.events_node]
        n = 0
        while not self.sending_done:
            if not self.live_lgs:
                await asyncio.sleep(0.2)
                continue
            lg = self.live_lgs[(k * 7919 + n * 104729) % len(self.live_lgs)]
            n += 1
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "abci_query",
                               "params": {"path": f"/lg/{lg}", "prove": True}})
            t = self.now()
            try:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    doc = json.loads(await resp.read())
            except (aiohttp.ClientError, ValueError):
                self.r.queries.append((t, self.now(), False))
                continue
            res = (doc.get("result") or {}).get("response") or {}
            ops = (res.get("proof_ops") or {}).get("ops") or []
            ok = res.get("code") == 0 and bool(ops)
            self.r.queries.append((t, self.now(), ok))
            if ok and n % 25 == 1:  # check a sample once the next header (its app hash) is known
                self.proof_samples.append((int(res["height"]), base64.b64decode(ops[0]["data"])))

    def check_proofs(self) -> None:
        for h, data in self.proof_samples:
            app_hash = self.app_hash.get(h + 1)
            if app_hash is None:
                continue
            self.r.proofs_checked += 1
            try:
                good = StateProof.decode(data).verify(app_hash)
            except ValueError:
                good = False
            self.r.proofs_failed += 0 if good else 1

    def _deadline(self) -> float:
        return len(self.s.rates) * self.s.step_s + self.s.drain_s

    # ------------------------------------------------------------------ commit observer
    async def _subscribe(self, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        """Connect the commit observer first: a network that does not answer fails here, before any load."""
        url = self.urls[self.s.events_node].rstrip("/") + "/websocket"
        ws = await session.ws_connect(url, max_msg_size=0, heartbeat=None)
        sub = {"jsonrpc": "2.0", "id": "bench", "method": "subscribe", "params": {"query": "tm.event='NewBlock'"}}
        await ws.send_str(json.dumps(sub))
        return ws

    async def _observe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async with ws:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                at = self.now()
                parts = read_new_block(msg.data)
                if parts is not None:
                    self._on_block(*parts, at)
                    continue
                doc = json.loads(msg.data)
                value = (doc.get("result") or {}).get("data", {}).get("value")
                if value:
                    block = value["block"]
                    results = value.get("result_finalize_block", {}).get("tx_results") or []
                    self._on_block(block["header"], block.get("data", {}).get("txs") or [],
                                   [int(r.get("code", 0)) for r in results], at)

    def _tx_number(self, b64: str) -> int | None:
        i = self.p.by_text.get(b64)
        if i is not None:
            return i
        return self.p.hashes.get(sha256(base64.b64decode(b64)))

    def _on_block(self, header: dict[str, Any], txs: list[str], codes: list[int], at: float) -> None:
        ours = 0
        for j, b64 in enumerate(txs):
            i = self._tx_number(b64)
            if i is None or self.r.committed[i]:
                continue
            ours += 1
            self.r.committed[i] = at
            self._settle(i)
            self.r.deliver_code[i] = codes[j] if j < len(codes) else 0
            if self.r.deliver_code[i] == 0 and i in self.p.lg_of:
                self.live_lgs.append(self.p.lg_of[i])
            if self.r.check_code[i] == 0:
                self.committed_accepted += 1
        h = int(header["height"])
        self.app_hash[h] = bytes.fromhex(header.get("app_hash") or "")
        self.last_height = h
        self.r.blocks.append({"height": h, "time": header["time"], "at": at, "txs": len(txs), "ours": ours})

    # ------------------------------------------------------------------ sampling and progress
    async def _sample(self) -> None:
        own_pid = __import__("os").getpid()
        last_print = 0.0
        prev_commits = 0
        while True:
            tree = procstat.subtree(self.pids)  # the nodes' descendants only (not every process's stat)
            if tree is None:
                tree = procstat.parents()
            nodes = [procstat.sample(pid, tree) for pid in self.pids]
            own = procstat.sample(own_pid, tree, children=False)  # the nodes may be our children
            rec: dict[str, Any] = {
                "t": self.now(), "busy_s": procstat.machine_busy_s(), "own_cpu_s": own.cpu_s if own else None,
                "nodes": [None if n is None else {"cpu_s": n.cpu_s, "rss_kb": n.rss_kb, "hwm_kb": n.hwm_kb,
                                                  "anon_kb": n.rss_anon_kb, "file_kb": n.rss_file_kb}
                             for n in nodes]}
            self.r.samples.append(rec)
            t = float(rec["t"])
            if t - last_print >= self.s.progress_s:
                commits = sum(b["ours"] for b in self.r.blocks)
                rate = (commits - prev_commits) / max(1e-9, t - last_print) if last_print else 0.0
                step = min(len(self.s.rates) - 1, int(t // self.s.step_s))
                sent = self.sent_count
                self.say(f"  t={t:6.1f}s offered={self.s.rates[step]:7.0f}/s sent={sent:8,} "
                         f"committed={commits:8,} ({rate:7.0f}/s) height={self.last_height}"
                         + (" [draining]" if self.sending_done else ""))
                last_print, prev_commits = t, commits
            await asyncio.sleep(1.0)

    async def _saturation_watch(self) -> None:
        """At the end of each step, stop the staircase if the network no longer keeps up."""
        if not self.s.stop_when_saturated or len(self.s.rates) < 2:
            return
        for k, rate in enumerate(self.s.rates[:-1]):
            end = self.p.step_starts[k] + self.s.step_s
            await asyncio.sleep(max(0.0, end - self.now()))
            lo = self.p.step_starts[k] + min(2.0, self.s.step_s / 4)
            commits = sum(b["ours"] for b in self.r.blocks if lo <= b["at"] < end) / (end - lo)
            # against this step's txs due in the window (causal spacing moves a few to later steps), not those
            # really sent: a lane held back by its `outstanding` bound sends only what the network commits
            sent = sum(1 for i in range(self.r.n) if self.p.step[i] == k and lo <= self.r.sent[i] < end) / (end - lo)
            due = sum(1 for i in range(self.r.n) if self.p.step[i] == k and lo <= self.p.due[i] < end) / (end - lo)
            if commits < 0.85 * min(rate, due or rate):
                self.saturated_at = k
                self.stop_off = end
                self.say(f"  saturated at {rate:.0f} tx/s offered ({sent:.0f}/s sent, {commits:.0f}/s committed): "
                         "stopping the staircase")
                return

    # ------------------------------------------------------------------ run
    async def run(self) -> Records:
        lanes: dict[int, list[int]] = {}
        for i, lane in enumerate(self.p.lane):
            lanes.setdefault(lane, []).append(i)
        conn = aiohttp.TCPConnector(limit=0, force_close=False)
        async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=None)) as session:
            self.t0 = time.monotonic()
            observer = asyncio.create_task(self._observe(await self._subscribe(session)))
            await asyncio.sleep(0.5)  # the subscription is in place before the first tx
            self.t0 = time.monotonic()
            sampler = asyncio.create_task(self._sample())
            watch = asyncio.create_task(self._saturation_watch())
            lane_fn = self._ws_lane if self.s.transport == "ws" else self._http_lane
            per = self.s.lanes_per_node
            senders = [lane_fn(session, self.urls[lane // per], lane, items) for lane, items in lanes.items()]
            verifiers = [asyncio.create_task(self._verifier(session, k)) for k in range(self.s.verifiers)]
            try:
                await asyncio.gather(*senders)
                self.sending_done = True
                await asyncio.gather(*verifiers, return_exceptions=True)
                last_sent = max(self.r.sent, default=0.0)
                while self.now() < last_sent + self.s.drain_s and self._pending() and not observer.done():
                    await asyncio.sleep(0.25)
            finally:
                self.sending_done = True
                for t in (observer, sampler, watch, *verifiers):
                    t.cancel()
                await asyncio.gather(observer, sampler, watch, *verifiers, return_exceptions=True)
                self.check_proofs()
            if observer.done() and not observer.cancelled() and observer.exception():
                print(f"  commit observer failed: {observer.exception()!r}", file=sys.stderr)
        return self.r

    def _pending(self) -> bool:
        return self.committed_accepted < self.accepted or any(self.inflight)

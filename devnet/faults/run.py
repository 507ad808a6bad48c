"""One fault run: start the network, load it, inject the schedule, heal, check, report.

Why one event loop for everything: the proxies, the sender, the Tx-event listeners, the height monitor and
the injector share the harness's clock, so the report's times line up (all seconds since the load started).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from devnet.bench.run_network import WorkloadSpec
from devnet.faults import checks
from devnet.faults.cluster import Cluster, tmpfs_mib
from devnet.faults.load import Sender, prepare
from devnet.faults.proxy import ProxyNet
from devnet.faults.schedule import KINDS, Fault, make_schedule

RECOVERY_S = 30.0
LONG_RUN_S = 120.0


@dataclass
class RunOptions:
    seed: int = 1
    duration: float = 60.0
    rate: float = 200.0
    faults: list[str] = field(default_factory=lambda: list(KINDS))
    validators: int = 4
    liveness_s: float = 45.0
    root: Path | None = None
    keep: bool = False
    broken_signer: bool = False  # the deliberately broken build on node 0 (tests/faults)
    recovery_s: float | None = None  # wait for a disturbed node to catch up (None: 30 s in runs >= 120 s, else 0)
    out: Path | None = None

    def command(self) -> str:
        parts = [f"python -m devnet.faults --seed {self.seed} --duration {self.duration:g} --rate {self.rate:g}",
                 f"--faults {','.join(self.faults) or 'none'}", f"--validators {self.validators}"]
        if self.broken_signer:
            parts.append("--broken-signer")
        if self.recovery_s is not None:
            parts.append(f"--recovery {self.recovery_s:g}")
        if self.liveness_s != 45.0:
            parts.append(f"--liveness {self.liveness_s:g}")
        return " ".join(parts)


class Runner:
    def __init__(self, opt: RunOptions, say: Any = None) -> None:
        self.opt = opt
        self.say = say or (lambda m: print(m, file=sys.stderr, flush=True))
        self.t0 = 0.0
        self.heights: list[list[tuple[float, int | None]]] = [[] for _ in range(opt.validators)]
        self.schedule: list[Fault] = []
        self.byz = opt.validators - 1 if "byzantine" in opt.faults else None
        self.extended_s = 0.0  # how far past --duration the injector ran to give every kind its turn

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def _sleep(self, seconds: float) -> None:
        """The injector's waits (a seam: tests/faults/test_coverage.py runs the schedule on a virtual clock)."""
        await asyncio.sleep(seconds)

    async def run(self) -> dict[str, Any]:
        opt = self.opt
        root = opt.root or Path(tempfile.mkdtemp(prefix="egp-faults-"))
        spec = WorkloadSpec(seed=opt.seed, chain_id="egp-faults", invalid_share=0.0)
        self.say(f"faults: building {opt.validators} validators under {root}")
        cluster = Cluster(root, validators=opt.validators, seed=opt.seed, spec=spec,
                          tmpfs_node=1 if "diskfull" in opt.faults else None,
                          tmpfs_size_mib=tmpfs_mib(int(opt.rate * opt.duration)),
                          broken_node=0 if opt.broken_signer else None)
        proxy = ProxyNet(opt.validators, cluster.proxy_base, cluster.p2p_ports, seed=opt.seed)
        self.schedule = make_schedule(opt.seed, opt.duration, opt.faults, opt.validators)
        report: dict[str, Any] = {}
        try:
            await proxy.start()
            for i in range(opt.validators):
                cluster.start(i)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
                rpc = checks.Rpc(session)
                await self._wait_started(rpc, cluster)
                items = await asyncio.to_thread(prepare, spec, opt.rate, opt.duration, int(time.time() * 1000))
                sender = Sender([n.rpc_url for n in cluster.nodes], spec, seed=opt.seed)
                self.t0 = time.monotonic()
                tasks = [asyncio.create_task(self._monitor(rpc, cluster))]
                tasks += [asyncio.create_task(sender.listen(i, session)) for i in range(opt.validators)]
                load = asyncio.create_task(sender.run(items, session))
                self.say(f"faults: load {opt.rate:g} tx/s for {opt.duration:g} s, {len(self.schedule)} faults")
                await self._inject(rpc, cluster, proxy)
                last_heal = max((f.healed or 0.0 for f in self.schedule), default=0.0)
                await asyncio.sleep(max(0.0, opt.duration - self.now()))
                sender.stopped.set()
                await asyncio.gather(load, return_exceptions=True)
                await self._heal_all(cluster, proxy)
                self.say(f"faults: t={self.now():6.1f} load stopped, all healed; waiting for every node to commit")
                live = await self._liveness(rpc, cluster)
                await self._drain_events(rpc, cluster, sender)
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self.say(f"faults: t={self.now():6.1f} checking the chains")
                report = await self._check(rpc, cluster, sender, live, last_heal)
                self.say(f"faults: t={self.now():6.1f} checked")
            cluster.stop_all()  # stopped, not unmounted: the signer state files are read next
            checks.check_signers([n.home for n in cluster.nodes], report["_addrs"], self.byz, report.pop("_scan"),
                                 report["_verdict"])
        finally:
            cluster.close()
            await proxy.stop()
        v: checks.Verdict = report.pop("_verdict")
        report.pop("_addrs")
        report["safety"] = {"ok": v.safety_ok, "violations": v.violations}
        report["liveness"]["ok"] = v.liveness_ok and report["liveness"]["ok"]
        report["facts"] = v.facts
        report["coverage"] = self._coverage()
        report["passed"] = v.safety_ok and report["liveness"]["ok"] and not report["coverage"]["missing"]
        report["root"] = str(root)
        report["disk"] = cluster.tmpfs_note
        if not opt.keep and report["passed"]:
            shutil.rmtree(root, ignore_errors=True)
        return report

    async def _wait_started(self, rpc: checks.Rpc, cluster: Cluster) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            hs = [await rpc.height(n.rpc_url) for n in cluster.nodes]
            if all(h is not None and h >= 1 for h in hs):
                return
            for n in cluster.nodes:
                if not n.running:
                    raise RuntimeError(f"node{n.index} exited at start:\n{cluster.log_tail(n.index)}")
            await asyncio.sleep(0.5)
        raise RuntimeError("the network did not commit block 1 within 120 s")

    async def _monitor(self, rpc: checks.Rpc, cluster: Cluster) -> None:
        while True:
            hs = await asyncio.gather(*(rpc.height(n.rpc_url, 1.0) for n in cluster.nodes))
            t = self.now()
            for i, h in enumerate(hs):
                self.heights[i].append((round(t, 2), h))
            await asyncio.sleep(1.0)

    # ------------------------------------------------------------------ faults
    async def _inject(self, rpc: checks.Rpc, cluster: Cluster, proxy: ProxyNet) -> None:
        """Run the schedule. As in CometBFT's e2e perturbations, after each heal the harness waits (at most
        `recovery_s`) for the disturbed node to be back at the network's height before the planned gap to the
        next fault starts, so faults do not pile up into outages.

        A fault that no longer fits before the end is skipped only if its kind already ran: the first fault of
        each kind runs even when the harness fell behind its plan (on an overloaded machine every injection,
        heal and restart takes longer, and the lateness adds up), and the run then ends after it, by
        `extended_s` (the load itself stops at --duration). So a run never reports PASS having left a
        requested kind out for want of time; a kind that could not be injected at all is named in the report's
        coverage and fails the run."""
        offset = 0.0
        bound = self.opt.recovery_s
        if bound is None:
            bound = RECOVERY_S if self.opt.duration >= LONG_RUN_S else 0.0
        end = self.opt.duration - 3.0
        done: set[str] = set()
        for f in self.schedule:
            if f.at_s + offset + f.duration_s > end:
                if f.kind in done:
                    f.note = "skipped: the run ended before its turn (this kind already ran)"
                    continue
                f.note = (f"late: {f.at_s + offset + f.duration_s - end:.1f} s past the planned end; run anyway, "
                          "the first fault of its kind")
            await self._sleep(max(0.0, f.at_s + offset - self.now()))
            if f.kind == "byzantine":
                f.detail["mode"] = self._lie_now(f, offset)
            f.started = self.now()
            try:
                await self._begin(f, cluster, proxy)
                done.add(f.kind)
            except Exception as exc:  # a fault that cannot be injected is reported, the run goes on
                f.note = (f.note + f" injection failed: {exc}").strip()
            self.say(f"faults: t={f.started:6.1f} {f.kind} node{f.node} {f.detail} {f.note}")
            await self._sleep(f.duration_s)
            await self._end(f, cluster, proxy)
            f.healed = self.now()
            if bound > 0:
                f.recovered_s = await self._recovery(rpc, cluster, f.node, bound)
                if f.recovered_s is None:
                    f.note = (f.note + f" node{f.node} not back at the network's height within {bound:g} s").strip()
            offset = max(offset, self.now() - (f.at_s + f.duration_s))
            self.extended_s = max(self.extended_s, round(self.now() - self.opt.duration, 2))

    def _coverage(self) -> dict[str, Any]:
        """Which requested kinds were injected (at least one fault started and did not fail), and for each
        missing one, why: its faults' notes, or that the schedule had no room for it."""
        requested = list(dict.fromkeys(self.opt.faults))
        ran = {f.kind for f in self.schedule if f.started is not None and "injection failed" not in f.note}
        missing: dict[str, str] = {}
        for kind in requested:
            if kind in ran:
                continue
            notes = [f"{f.note} (at {f.at_s:g} s, node{f.node})" for f in self.schedule if f.kind == kind]
            missing[kind] = "; ".join(notes) or (f"not in the schedule: {self.opt.duration:g} s leave no room "
                                                 "for it (6 s warm-up, 6 s tail, 2.5-4 s faults)")
        return {"requested": requested, "injected": [k for k in requested if k in ran], "missing": missing,
                "extended_s": self.extended_s}

    def _lie_now(self, f: Fault, offset: float) -> str:
        """The mode of this Byzantine window: the planned one, except that the double vote (planned last) is
        moved here when no later Byzantine window still fits the run, and never happens twice."""
        done = any(g.kind == "byzantine" and g.started is not None and g.detail["mode"] == "double-vote"
                   for g in self.schedule)
        if done:
            return "garbage" if f.detail["mode"] == "double-vote" else str(f.detail["mode"])
        growth = 1.5 if self.opt.duration >= LONG_RUN_S else 0.5  # how much later faults tend to slip (waits)
        later = [g for g in self.schedule if g.kind == "byzantine" and g.at_s > f.at_s
                 and g.at_s + offset + growth * (g.at_s - f.at_s) + 5.0 + g.duration_s <= self.opt.duration - 3.0]
        return "double-vote" if not later else str(f.detail["mode"])

    async def _recovery(self, rpc: checks.Rpc, cluster: Cluster, i: int, bound: float) -> float | None:
        """Seconds until node i has caught up with the best height at the heal and the network moved on."""
        start = self.now()
        hs = await asyncio.gather(*(rpc.height(n.rpc_url, 1.0) for n in cluster.nodes))
        target = max((h for h in hs if h is not None), default=0) + 1
        while self.now() - start < bound:
            h = await rpc.height(cluster.nodes[i].rpc_url, 1.0)
            if h is not None and h >= target:
                return round(self.now() - start, 2)
            await asyncio.sleep(0.5)
        return None

    async def _begin(self, f: Fault, cluster: Cluster, proxy: ProxyNet) -> None:
        """Process and disk work runs in a thread: the proxies and the load share this loop."""
        th = asyncio.to_thread
        i = f.node
        if f.kind == "kill":
            await th(cluster.kill9, i)
        elif f.kind == "pause":
            await th(cluster.pause, i)
        elif f.kind == "partition":
            how = f.detail["how"]
            if how == "isolate":
                proxy.isolate(i)
            elif how == "halves":
                proxy.partition(f.detail["groups"])
            else:
                for j in range(cluster.n):
                    if j != i:
                        proxy.set_pair(i, j, how, delay_s=f.detail.get("delay_ms", 0) / 1000,
                                       drop_p=f.detail.get("drop_p", 0.0))
        elif f.kind == "skew":
            await th(cluster.kill9, i)  # (a graceful stop can take > 10 s while a big block executes)
            await th(cluster.start, i, {"EGP_TEST_CLOCK_SKEW_MS": str(f.detail["skew_ms"])})
        elif f.kind == "diskfull":
            t = time.monotonic()
            f.detail["bytes_filled"] = await th(cluster.fill_disk)
            f.detail["fill_s"] = round(time.monotonic() - t, 2)  # part of the harness's lateness under load
            if not f.detail["bytes_filled"]:
                raise RuntimeError(f"no tmpfs to fill, disk full not injected ({cluster.tmpfs_note})")
        elif f.kind == "byzantine":
            await th(cluster.kill9, i)
            await th(cluster.start, i, {"EGP_TEST_BYZANTINE": f.detail["mode"]})

    async def _end(self, f: Fault, cluster: Cluster, proxy: ProxyNet) -> None:
        th = asyncio.to_thread
        i = f.node
        if f.kind == "kill":
            await th(cluster.start, i)
        elif f.kind == "pause":
            await th(cluster.resume, i)
        elif f.kind == "partition":
            proxy.heal()
        elif f.kind == "skew":
            await th(cluster.kill9, i)
            await th(cluster.start, i)
        elif f.kind == "diskfull":
            t = time.monotonic()
            await th(cluster.free_disk)
            f.detail["free_s"] = round(time.monotonic() - t, 2)
            if not cluster.nodes[i].running:
                f.note = (f.note + " node exited on the full disk; restarted").strip()
                await th(cluster.start, i)
        elif f.kind == "byzantine" and f.detail["mode"] != "double-vote":  # the double-voter lies to the end
            await th(cluster.kill9, i)
            await th(cluster.start, i)
        for n in cluster.nodes:  # a node that died of something else is a finding: note and restart it
            if not n.running and not (f.kind == "kill" and n.index == i):
                f.note = (f.note + f" node{n.index} had exited (code {n.popen and n.popen.returncode});"
                          " restarted").strip()
                await th(cluster.start, n.index)

    async def _heal_all(self, cluster: Cluster, proxy: ProxyNet) -> None:
        proxy.heal()
        cluster.free_disk()
        for n in cluster.nodes:
            cluster.resume(n.index)
            if not n.running:
                cluster.start(n.index)

    async def _liveness(self, rpc: checks.Rpc, cluster: Cluster) -> dict[str, Any]:
        """After the last heal every node must commit past the best height seen at heal + 2."""
        start = self.now()
        hs = [await rpc.height(n.rpc_url) for n in cluster.nodes]
        target = max((h for h in hs if h is not None), default=0) + 2
        reached: dict[int, float] = {}
        while self.now() - start < self.opt.liveness_s and len(reached) < cluster.n:
            for n in cluster.nodes:
                if n.index not in reached:
                    h = await rpc.height(n.rpc_url)
                    if h is not None and h >= target:
                        reached[n.index] = round(self.now() - start, 2)
            await asyncio.sleep(0.5)
        ok = len(reached) == cluster.n
        return {"ok": ok, "bound_s": self.opt.liveness_s, "target_height": target,
                "seconds_to_target": {f"node{i}": reached.get(i) for i in range(cluster.n)}}

    async def _drain_events(self, rpc: checks.Rpc, cluster: Cluster, sender: Sender, bound_s: float = 30.0) -> None:
        """Let the Tx listeners read the events of the blocks committed after the heal (a backlog of thousands
        of txs lands in the first blocks after a long stall), up to `bound_s`."""
        start = time.monotonic()
        await asyncio.sleep(2.0)
        while time.monotonic() - start < bound_s:
            hs = [h for h in [await rpc.height(n.rpc_url) for n in cluster.nodes] if h is not None]
            top = min(hs, default=0)
            if max(sender.event_height, default=0) >= top:
                return
            await asyncio.sleep(1.0)

    # ------------------------------------------------------------------ checks and report
    async def _check(self, rpc: checks.Rpc, cluster: Cluster, sender: Sender, live: dict[str, Any],
                     last_heal: float) -> dict[str, Any]:
        v = checks.Verdict()
        urls = [n.rpc_url for n in cluster.nodes]
        best = await checks.check_agreement(rpc, urls, v)
        top = v.facts["final_heights"][best] or 0
        scan = await checks.scan_chain(rpc, urls[best], top)
        await checks.check_txs(rpc, urls[best], scan, sender.rec.acked, sender.rec.submitted, v, self.opt.seed)
        addrs = checks.validator_addresses([n.home for n in cluster.nodes])
        if self.byz is not None and any(f.kind == "byzantine" and f.detail.get("mode") == "double-vote"
                                        and f.started is not None for f in self.schedule):
            await checks.check_byzantine(rpc, urls[best], addrs[self.byz], scan, v)
        if not live["ok"]:
            v.liveness_ok = False
        stall = self._longest_stall()
        return {
            "command": self.opt.command(), "seed": self.opt.seed, "duration_s": self.opt.duration,
            "rate": self.opt.rate, "validators": self.opt.validators, "byzantine_node": self.byz,
            "faults": [f.to_json() for f in self.schedule],
            "fault_count": sum(1 for f in self.schedule if f.started is not None),
            "heights": {f"node{i}": max((h for _, h in self.heights[i] if h is not None), default=None)
                        for i in range(cluster.n)},
            "height_samples": {f"node{i}": self.heights[i][::5] for i in range(cluster.n)},
            "longest_stall": stall, "last_heal_s": round(last_heal, 2), "liveness": live,
            "load": sender.rec.summary(), "_verdict": v, "_scan": scan, "_addrs": addrs,
        }

    def _longest_stall(self) -> dict[str, Any]:
        """The longest interval in which the best height of the network did not move, and the faults then."""
        best: list[tuple[float, int]] = []
        for k in range(max((len(s) for s in self.heights), default=0)):
            row = [s[k] for s in self.heights if k < len(s)]
            hs = [h for _, h in row if h is not None]
            if hs:
                best.append((row[0][0], max(hs)))
        longest = (0.0, 0.0, 0.0)
        i = 0
        while i < len(best):
            j = i
            while j + 1 < len(best) and best[j + 1][1] == best[i][1]:
                j += 1
            if j + 1 < len(best):  # a stall ends when the height moves
                span = best[j + 1][0] - best[i][0]
                if span > longest[0]:
                    longest = (span, best[i][0], best[j + 1][0])
            i = j + 1
        span, a, b = longest
        causes = [f"{f.kind} node{f.node} {f.detail}" for f in self.schedule
                  if f.started is not None and f.started <= b and (f.healed or b) >= a - 1]
        return {"seconds": round(span, 2), "from_s": a, "to_s": b,
                "cause": "; ".join(causes) or "none of the injected faults was active (load or scheduling)"}


def run_sync(opt: RunOptions) -> dict[str, Any]:
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(Runner(opt).run())
    raise SystemExit(130)

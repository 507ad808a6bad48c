"""The seeded fault schedule: which fault, on which node, when and for how long (same seed, same schedule).

Why faults do not overlap: each one is bounded (kill -9 then restart, a pause, a partition, a skewed clock,
a full disk, a lying validator), and the verdict must name the cause of every stall; overlapping faults would
stack into outages a 4-validator network cannot survive by design (more than 1/3 of the power gone), which
tests the arithmetic, not the node. Every kind is drawn once before any repeats, so a 60 s run covers all
kinds. The times are plans: in long runs the runner also waits for each disturbed node to recover before the
next gap. The Byzantine validator is the last node; the last Byzantine fault is planned as its double-vote
window, because the evidence jails it (power 0) and later windows would test a non-validator; when recovery
waits push that one past the end, the runner moves the double vote earlier (`lie_now` in run.py).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("kill", "pause", "partition", "skew", "diskfull", "byzantine")
PARTITIONS = ("isolate", "halves", "delay", "drop")


@dataclass
class Fault:
    kind: str
    at_s: float
    duration_s: float
    node: int
    detail: dict[str, Any] = field(default_factory=dict)
    started: float | None = None  # run-relative times, filled in when injected / healed
    healed: float | None = None
    recovered_s: float | None = None  # after the heal, until the node was back at the network's height
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def make_schedule(seed: int, duration_s: float, kinds: list[str], n: int, *, warmup_s: float = 6.0,
                  tail_s: float = 6.0, disk_node: int = 1) -> list[Fault]:
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ValueError(f"unknown fault kinds {bad}; choose from {', '.join(KINDS)}")
    if not kinds:
        return []
    rng = random.Random(seed)
    byz = n - 1
    honest = [i for i in range(n) if "byzantine" not in kinds or i != byz]
    out: list[Fault] = []
    t = warmup_s
    bag: list[str] = []
    short = duration_s < 120
    while True:
        if not bag:
            bag = list(kinds)
            rng.shuffle(bag)
        kind = bag.pop()
        dur = rng.uniform(2.5, 4.0) if short else rng.uniform(3.0, 8.0)
        if t + dur > duration_s - tail_s:
            break
        node = rng.choice(honest)
        detail: dict[str, Any] = {}
        if kind == "partition":
            how = rng.choice(PARTITIONS)
            detail = {"how": how}
            if how == "halves":
                others = [i for i in range(n) if i != node]
                rng.shuffle(others)
                half = [node, *others[: n // 2 - 1]]
                detail["groups"] = [sorted(half), sorted(i for i in range(n) if i not in half)]
            elif how == "delay":
                detail["delay_ms"] = rng.choice((100, 250, 500))
            elif how == "drop":
                detail["drop_p"] = rng.choice((0.01, 0.05))
        elif kind == "skew":
            detail = {"skew_ms": rng.choice((-1, 1)) * rng.randrange(200, 3000, 50)}
        elif kind == "diskfull":
            node = disk_node
        elif kind == "byzantine":
            node = byz
            detail = {"mode": rng.choice(("garbage", "double-propose"))}
        out.append(Fault(kind, round(t, 2), round(dur, 2), node, detail))
        t += dur + (rng.uniform(1.5, 3.0) if short else rng.uniform(1.5, 4.0))
    byz_faults = [f for f in out if f.kind == "byzantine"]
    if byz_faults:
        byz_faults[-1].detail = {"mode": "double-vote"}
    return out

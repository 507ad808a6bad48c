"""Scenario descriptions, drawn from one ``random.Random(seed)``.

A scenario fixes the validator set (4 or 7, equal or unequal power), the Byzantine roles (total faulty
power < 1/3), the network (GST, drops, duplicates, delays, partitions), whether the set changes mid-run,
and how many heights every correct node must decide after GST.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass

from tests.sim.network import NetRules

ROLES = ("equivocator", "double_voter", "silent", "garbage", "twin")


@dataclass(frozen=True)
class Scenario:
    seed: int
    n: int
    powers: tuple[int, ...]
    roles: tuple[tuple[int, str], ...]  # (validator index, role)
    net: NetRules
    set_change: bool
    target_height: int
    invalid_rate: float

    def role(self, i: int) -> str | None:
        for j, r in self.roles:
            if j == i:
                return r
        return None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _faulty(rng: random.Random, powers: list[int]) -> list[int]:
    """Pick validators to be faulty, keeping 3 * faulty power < total."""
    total = sum(powers)
    order = list(range(len(powers)))
    rng.shuffle(order)
    k = rng.choice((0, 1, 1, 2, 2))
    chosen: list[int] = []
    power = 0
    for i in order:
        if len(chosen) >= k:
            break
        if 3 * (power + powers[i]) < total:
            chosen.append(i)
            power += powers[i]
    return chosen


def make_scenario(seed: int, rng: random.Random) -> Scenario:
    n = rng.choice((4, 4, 4, 7))
    powers = [1] * n if rng.random() < 0.5 else [rng.randint(1, 4) for _ in range(n)]
    faulty = _faulty(rng, powers)
    roles = []
    twin_used = False
    for i in faulty:
        role = rng.choice(ROLES)
        if role == "twin":
            if twin_used:
                role = "double_voter"
            twin_used = True
        roles.append((i, role))
    gst = rng.choice((0, 500, 1500, 3000))
    partition: tuple[tuple[int, ...], ...] | None = None
    nodes = list(range(n + 1))  # n validators + the spare node (twin or joining validator)
    if twin_used or rng.random() < 0.3:
        rng.shuffle(nodes)
        cut = rng.randint(1, len(nodes) - 1)
        a, b = sorted(nodes[:cut]), sorted(nodes[cut:])
        partition = (tuple(a), tuple(b))
    if twin_used and partition is not None:
        twin_of = next(i for i, r in roles if r == "twin")
        spare = n
        a_set = partition[0]
        # twin and its double in different partitions
        in_a = twin_of in a_set
        ga = [x for x in a_set if x != spare]
        gb = [x for x in partition[1] if x != spare]
        if in_a:
            gb.append(spare)
        else:
            ga.append(spare)
        partition = (tuple(sorted(ga)), tuple(sorted(gb)))
    net = NetRules(
        gst_ms=gst,
        delta_ms=rng.choice((20, 50, 100)),
        drop=rng.choice((0.0, 0.1, 0.3, 0.5)),
        duplicate=rng.choice((0.0, 0.1)),
        max_delay_ms=rng.choice((50, 300, 1000)),
        partition=partition,
    )
    return Scenario(
        seed=seed,
        n=n,
        powers=tuple(powers),
        roles=tuple(roles),
        net=net,
        set_change=rng.random() < 0.3,
        target_height=rng.randint(2, 4),
        invalid_rate=rng.choice((0.0, 0.3)),
    )

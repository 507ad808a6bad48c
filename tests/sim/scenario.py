"""Scenario descriptions, drawn from one ``random.Random(seed)``.

A scenario fixes the validator set (4 or 7, equal or unequal power), the Byzantine roles (total faulty
power < 1/3), the network (GST, drops, duplicates, delays, partitions), whether the set changes mid-run,
how many heights every correct node must decide after GST, and whether genesis sets skip_timeout_commit.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, replace

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
    # adaptive adversary: the first correct node to decide this height before GST is cut off until
    # GST (its messages still in flight are lost too)
    cut_on_decide: int | None = None
    # genesis skip_timeout_commit: on for odd seeds (not drawn from the rng, so every other draw of a seed
    # is what it was before the option existed)
    skip_commit: bool = False
    # a slow validator (a correct node): its shell hands every proposal to its core this many ms late, at
    # any time (before and after GST), as a node whose proposal validation waits behind its own block commit
    # does; (node index, ms), -1 for none.  Set by the dedicated scenarios (tests/sim/test_late_proposal.py)
    late_proposals: tuple[int, int] = (-1, 0)
    # the dedicated scenarios' node-like shell: messages of the next height are kept and replayed once the node
    # starts it (as node/node.py does) instead of dropped, and the ``commit`` timeout is this long (0: the
    # runner's 50 ms), so that a full wait stands out from an early start as the node's 1 s does
    buffer_next: bool = False
    commit_ms: int = 0

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


def _split(rng: random.Random, n: int, twin_of: int | None) -> tuple[tuple[int, ...], ...]:
    """Two groups over the n validators and the spare node n; a twin and its double are kept apart."""
    nodes = list(range(n + 1))
    rng.shuffle(nodes)
    cut = rng.randint(1, n)
    a, b = nodes[:cut], nodes[cut:]
    if twin_of is not None and (twin_of in a) == (n in a):
        src, dst = (a, b) if n in a else (b, a)
        src.remove(n)
        dst.append(n)
    return (tuple(sorted(a)), tuple(sorted(b)))


def make_scenario(seed: int, rng: random.Random) -> Scenario:
    sc = _draw(seed, rng)
    late = (-1, 0)
    if seed % 4 == 3:  # a slow validator in a quarter of the seeds (with skip_timeout_commit), not drawn either
        late = ((seed // 4) % sc.n, 20 * (1 + (seed // 4) % 5))
    return replace(sc, skip_commit=seed % 2 == 1, late_proposals=late)


def _draw(seed: int, rng: random.Random) -> Scenario:
    if rng.random() < 0.2:
        return _lock_attack(seed, rng)
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
    twin_of = next((i for i, r in roles if r == "twin"), None)
    gst = rng.choice((0, 500, 1500, 3000) if twin_of is None else (1500, 3000, 4000))
    partitions = []
    if twin_of is not None or rng.random() < 0.5:
        t = 0
        for _ in range(rng.randint(1, 3)):
            t += rng.randint(300, 1500)
            connected = twin_of is None and rng.random() < 0.4  # a window without a partition
            partitions.append((t, () if connected else _split(rng, n, twin_of)))
    net = NetRules(
        gst_ms=gst,
        delta_ms=rng.choice((20, 50, 100)),
        drop=rng.choice((0.0, 0.1, 0.3, 0.5)),
        duplicate=rng.choice((0.0, 0.1)),
        max_delay_ms=rng.choice((50, 300, 1000)),
        partitions=tuple(partitions),
        slow_node=rng.randrange(n) if rng.random() < 0.3 else -1,
        slow_ms=rng.randint(100, 600),
    )
    set_change = rng.random() < 0.3
    return Scenario(
        seed=seed,
        n=n,
        powers=tuple(powers),
        roles=tuple(roles),
        net=net,
        set_change=set_change,  # updates returned at height 1 take effect at 3: run to 4 at least
        target_height=4 if set_change else rng.randint(2, 4),
        invalid_rate=rng.choice((0.0, 0.3)),
    )


def _lock_attack(seed: int, rng: random.Random) -> Scenario:
    """A targeted schedule: a correct node is cut off right after it decides (before its precommit
    reaches the others), and equivocating proposers push fresh values to the rest, who are locked on
    the decided value.  Only the lock (L23/L29) stands between this and two different decisions."""
    n = rng.choice((4, 4, 7))
    f = (n - 1) // 3
    order = list(range(n))
    rng.shuffle(order)
    byz = order[:f]
    net = NetRules(
        gst_ms=rng.randint(2000, 4000),
        delta_ms=rng.choice((20, 50)),
        drop=rng.choice((0.0, 0.1)),
        duplicate=0.0,
        max_delay_ms=rng.choice((50, 150)),
        slow_node=rng.randrange(n) if rng.random() < 0.5 else -1,
        slow_ms=rng.randint(150, 400),
    )
    return Scenario(
        seed=seed,
        n=n,
        powers=(1,) * n,
        roles=tuple((i, "equivocator") for i in sorted(byz)),
        net=net,
        set_change=False,
        target_height=3,
        invalid_rate=0.0,
        cut_on_decide=rng.randint(1, 2),
    )

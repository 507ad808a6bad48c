"""Deterministic simulator: N real ``ConsensusCore`` + ``node.executor.Executor`` pairs on a virtual clock.

- ``network.py``: the event heap keyed by (virtual time, sequence) and a seeded network that drops,
  duplicates, delays (reorders) and partitions until GST, then delivers within Delta.
- ``scenario.py``: a scenario drawn from the seed (validator sets of 4 or 7, equal or unequal power,
  Byzantine roles, network, a validator-set change, and a targeted lock attack family).
- ``harness.py``: ``SimNode`` implements the executor's ports; Byzantine behaviour lives in this shell.
- ``runner.py``: builds a run, checks agreement, validity, no double sign, monotonic heights after every
  event, and liveness after GST; ``run_seed(seed, core_cls)``.
- ``variants.py``: deliberately broken cores that the checks must catch.
- ``replay.py``: ``.venv/bin/python -m tests.sim.replay --seed N [--variant NAME]``.

One ``random.Random(seed)`` drives everything, so a seed is a complete replay (same trace hash).
"""

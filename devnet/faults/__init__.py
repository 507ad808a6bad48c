"""The fault harness (issue 10): crash, pause, partition, clock skew, disk full and a lying bank, under load.

`python -m devnet.faults --seed N --duration 60 --rate 200 [--faults ...]` starts N validators as real
processes (`cluster.py`), proxies every link (`proxy.py`), loads them with the benchmark's workload
(`load.py`), injects a seeded schedule (`schedule.py`, `run.py`), checks safety and liveness over RPC and the
signer state files (`checks.py`) and writes a JSON + Markdown report (`report.py`). The Byzantine modes and
clock skew live in `node/byzantine.py`, armed only by `entry.py`. See docs/faults-harness.md.
"""

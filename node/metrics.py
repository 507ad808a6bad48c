"""Prometheus metrics in the text exposition format (version 0.0.4), served at `/metrics`.

Why not `prometheus_client`: the node needs a handful of gauges and counters and one histogram; the text
format is a few lines, and keeping it here avoids a global registry shared across tests in one process.
Names follow CometBFT's (`<namespace>_consensus_height`, ...), with the `egp` namespace.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NAMESPACE = "egp"
INTERVAL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass
class Histogram:
    buckets: tuple[float, ...] = INTERVAL_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def observe(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * len(self.buckets)
        for i, b in enumerate(self.buckets):
            if value <= b:
                self.counts[i] += 1
        self.total += value
        self.n += 1


class Metrics:
    """The node's metrics; the node sets them, `render()` prints them."""

    def __init__(self, chain_id: str = "") -> None:
        self.chain_id = chain_id
        self.height = 0
        self.rounds = 0  # round of the last committed block
        self.validators = 0
        self.num_txs_last_block = 0
        self.total_txs = 0
        self.mempool_size = 0
        self.mempool_bytes = 0
        self.peers = 0
        self.catching_up = False
        self.block_interval = Histogram()
        self.bad_peer_messages = 0

    def observe_block(self, height: int, round_: int, txs: int, interval_s: float | None) -> None:
        self.height = height
        self.rounds = round_
        self.num_txs_last_block = txs
        self.total_txs += txs
        if interval_s is not None and interval_s >= 0:
            self.block_interval.observe(interval_s)

    def render(self) -> str:
        label = f'{{chain_id="{self.chain_id}"}}'
        ns = NAMESPACE
        lines: list[str] = []

        def gauge(name: str, help_: str, value: float, kind: str = "gauge") -> None:
            lines.append(f"# HELP {ns}_{name} {help_}")
            lines.append(f"# TYPE {ns}_{name} {kind}")
            lines.append(f"{ns}_{name}{label} {value}")

        gauge("consensus_height", "Height of the last committed block.", self.height)
        gauge("consensus_rounds", "Round at which the last block was committed.", self.rounds)
        gauge("consensus_validators", "Number of validators.", self.validators)
        gauge("consensus_num_txs", "Transactions in the last block.", self.num_txs_last_block)
        gauge("consensus_total_txs", "Transactions committed since start.", self.total_txs, "counter")
        gauge("consensus_catching_up", "1 while block sync runs.", int(self.catching_up))
        gauge("mempool_size", "Transactions in the mempool.", self.mempool_size)
        gauge("mempool_size_bytes", "Bytes of transactions in the mempool.", self.mempool_bytes)
        gauge("p2p_peers", "Connected peers.", self.peers)
        gauge("p2p_bad_messages", "Peer messages that failed decoding or validation.", self.bad_peer_messages,
              "counter")
        h = self.block_interval
        name = f"{ns}_consensus_block_interval_seconds"
        lines.append(f"# HELP {name} Time between consecutive blocks.")
        lines.append(f"# TYPE {name} histogram")
        counts = h.counts or [0] * len(h.buckets)
        inner = f'chain_id="{self.chain_id}"'
        for b, c in zip(h.buckets, counts, strict=True):
            lines.append(f'{name}_bucket{{{inner},le="{b}"}} {c}')
        lines.append(f'{name}_bucket{{{inner},le="+Inf"}} {h.n}')
        lines.append(f"{name}_sum{label} {h.total}")
        lines.append(f"{name}_count{label} {h.n}")
        return "\n".join(lines) + "\n"

"""The causal spacing of the benchmark's load keeps what the chain needs: sequence numbers, signatures,
the adversarial share, and a gap between a transaction and a follow-up signed by someone else."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from devnet.bench.sequencer import sequence, signers_of, touched
from state.crypto import verify
from state.errors import TxError
from state.txs import decode_tx
from state.workload import Workload


def _load(seed: int, n: int) -> tuple[Workload, list[bytes]]:
    wl = Workload(seed=seed, n_banks=4, n_agencies=6, n_suppliers=20, chain_id="egp-seq")
    txs: list[bytes] = []
    for _, batch in wl.blocks(10_000, 20, block_ms=60_000):
        txs.extend(batch)
        if len(txs) >= n:
            break
    return wl, txs[:n]


@settings(max_examples=8, deadline=None)
@given(st.integers(1, 10_000), st.integers(50, 400), st.sampled_from([0.5, 3.0]), st.sampled_from([10.0, 500.0]))
def test_sequence_keeps_nonces_signatures_and_gaps(seed: int, n: int, gap: float, rate: float) -> None:
    wl, txs = _load(seed, n)
    nominal = [i / rate for i in range(len(txs))]
    out, send = sequence(txs, nominal, wl, gap)
    assert len(out) == len(txs) and send == sorted(send)
    assert send[0] >= 0 and max(send) >= max(nominal)
    keys = signers_of(wl)
    nonces: dict[bytes, int] = {}
    last_touch: dict[str, tuple[float, bytes]] = {}
    bad = 0
    for raw, at in zip(out, send, strict=True):
        try:
            d = decode_tx(raw)
        except TxError:
            bad += 1
            continue
        if not verify(d.tx.signer, d.tx.sign_bytes(), d.tx.signature):
            bad += 1  # the workload's bad-signature txs stay bad
            continue
        want = nonces.get(d.tx.signer, 0)
        if d.tx.nonce < want:
            continue  # a replay: stale on purpose
        assert d.tx.nonce == want, "sequence numbers follow the send order per signer"
        nonces[d.tx.signer] = want + 1
        for k in touched(d, keys[d.tx.signer].code):
            prev = last_touch.get(k)
            if prev is not None and prev[1] != d.tx.signer:
                assert at >= prev[0] + gap - 1e-9, "a follow-up by someone else waits for the gap"
            last_touch[k] = (at, d.tx.signer)
    assert bad <= len(txs) * 0.2


def test_without_spacing_a_cross_signer_follow_up_would_be_back_to_back() -> None:
    wl, txs = _load(7, 300)
    nominal = [i / 1000 for i in range(len(txs))]
    _, send = sequence(txs, nominal, wl, 2.0)
    assert max(send) > max(nominal) + 1.0  # follow-ups really were moved later
    _, unchanged = sequence(txs, nominal, wl, 0.0)
    assert max(unchanged) < max(nominal) + 0.01  # gap 0: only sequence order, nothing delayed

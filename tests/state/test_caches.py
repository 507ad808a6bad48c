"""The application's caches are bounded by what they are for: the signature cache spans check -> commit."""

from __future__ import annotations

from state.abci import RequestCheckTx
from state.crypto import sha256
from state.txs import PublishRequirement
from tests.state.harness import Chain


def req_body(i: int) -> PublishRequirement:
    return PublishRequirement(f"R{i}", "P", "1", "PERF", 100, 2_000_000_000_000, 0, "F")


def test_committed_txs_leave_the_signature_cache() -> None:
    c = Chain()
    txs = [c.tx(c.agency, req_body(i)) for i in range(4)]
    for raw in txs:
        assert c.app.check_tx(RequestCheckTx(raw)).code == 0
    assert all(sha256(raw) in c.app._sig_cache for raw in txs)
    assert [r.code for r in c.block(txs[:2])] == [0, 0]
    assert [sha256(raw) in c.app._sig_cache for raw in txs] == [False, False, True, True]  # the pending stay


def test_signature_cache_is_bounded() -> None:
    c = Chain()
    c.app._sig_cache_size = 3
    for i in range(6):
        assert c.app.check_tx(RequestCheckTx(c.tx(c.agency, req_body(i)))).code == 0
    assert len(c.app._sig_cache) == 3

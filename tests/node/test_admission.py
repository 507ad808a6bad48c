"""Mempool admission (node/mempool.py `Admission`): signatures verified in a worker thread, check_tx in order.

Real node assembly (LevelDB in a tmp dir, the real application and its check_tx); txs of one signer with
consecutive sequence numbers, so any reordering on the way into check_tx would refuse some of them (108).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from node.assemble import Running, build
from node.mempool import Admission, Checked, Mempool, MempoolFullError, TxInCacheError
from node.messages import TxsMsg
from state import errors as E
from state.crypto import PrivateKey, sha256
from tests.node.solo import solo_home, supplier_txs

CHAIN = "egp-admission"
REG = PrivateKey.from_seed(b"\x43" * 32)


def _home(root: Path) -> Path:
    return solo_home(root, CHAIN, REG, rpc=False)


def _txs(n: int, start: int = 0) -> list[bytes]:
    return supplier_txs(REG, CHAIN, n, start, tax_prefix="0107", key_seed=b"s")


def _bad_signature(tx: bytes) -> bytes:
    # the signature is the envelope's last field (64 bytes at the end of the encoding): flip one bit
    return tx[:-1] + bytes([tx[-1] ^ 1])


def _run(tmp_path: Path, body: Any) -> None:
    async def main() -> None:
        run = await build(_home(tmp_path / "h"))
        try:
            await body(run)
        finally:
            run.node.admission.close()
            run.kv.close()

    asyncio.run(main())


def test_rpc_and_gossip_txs_are_verified_in_a_worker_thread_and_checked_in_arrival_order(tmp_path: Path) -> None:
    async def body(run: Running) -> None:
        node = run.node
        app = run.app.app
        threads: set[int] = set()
        pre = app.preverify

        def spy(raws: list[bytes]) -> Any:
            threads.add(threading.get_ident())
            return pre(raws)

        node.admission._preverify = spy
        txs = _txs(300)
        # the first 100 by RPC, the next 150 from a peer in one frame, the last 50 by RPC again: one order
        rpc1 = [asyncio.ensure_future(node.submit_local_tx(t)) for t in txs[:100]]
        await asyncio.sleep(0)
        node.handle_message("peer-1", TxsMsg(tuple(txs[100:250])))
        rpc2 = [asyncio.ensure_future(node.submit_local_tx(t)) for t in txs[250:]]
        verdicts = await asyncio.gather(*rpc1, *rpc2)
        for _ in range(100):  # the gossiped ones resolve no future: wait for the queue to drain
            if node.admission.pending == 0:
                break
            await asyncio.sleep(0.01)
        assert [v.code for v in verdicts] == [0] * 150
        assert node.admission.pending == 0
        assert node.mempool.txs() == txs  # every one admitted, in arrival order (sequence numbers 0..299)
        assert threads and threading.get_ident() not in threads  # verified off the loop's thread
        assert node.admission.batches >= 2
        # the application found every signature verified: its cache holds the decoded txs
        assert all(app._sig_cache[sha256(t)].raw == t for t in txs)

    _run(tmp_path, body)


def test_a_bad_signature_gets_check_tx_refusal_and_is_not_admitted(tmp_path: Path) -> None:
    async def body(run: Running) -> None:
        node = run.node
        good = _txs(2)
        bad = _bad_signature(good[0])
        v_bad = await node.submit_local_tx(bad)
        assert v_bad.code == E.BAD_SIGNATURE.code  # check_tx verified it on the loop and gave its exact code
        assert sha256(bad) not in run.app.app._sig_cache
        assert [(await node.submit_local_tx(t)).code for t in good] == [0, 0]
        assert node.mempool.txs() == good
        with pytest.raises(TxInCacheError):  # a duplicate is refused at once, by the pool
            await node.submit_local_tx(good[0])
        assert (await node.submit_local_tx(bad)).code == E.BAD_NONCE.code  # refused txs may come again (now late)

    _run(tmp_path, body)


def test_pause_holds_verified_txs_until_resume(tmp_path: Path) -> None:
    async def body(run: Running) -> None:
        node = run.node
        txs = _txs(20)
        node.admission.pause()
        futs = [asyncio.ensure_future(node.submit_local_tx(t)) for t in txs]
        for _ in range(50):
            await asyncio.sleep(0.01)
        assert not any(f.done() for f in futs)  # verified maybe, but nothing reached check_tx
        assert len(node.mempool) == 0 and node.admission.pending == 20
        node.admission.resume()
        assert [v.code for v in await asyncio.gather(*futs)] == [0] * 20
        assert node.mempool.txs() == txs

    _run(tmp_path, body)


def test_the_pool_counts_txs_on_their_way_in_against_its_size() -> None:
    def check(tx: bytes, recheck: bool) -> Checked:
        return Checked(0)

    async def main() -> None:
        pool = Mempool(check, size=3)
        adm = Admission(pool, lambda raws: [None] * len(raws), max_batch=2, inline_below=0)
        futs = [adm.submit(bytes([i]), want_result=True) for i in range(3)]
        with pytest.raises(MempoolFullError):
            adm.submit(b"\x09")
        with pytest.raises(TxInCacheError):
            adm.submit(b"\x01")
        assert [(await f).code for f in futs if f is not None] == [0, 0, 0]
        assert pool.txs() == [b"\x00", b"\x01", b"\x02"]
        adm.close()

    asyncio.run(main())


def test_a_failing_worker_falls_back_to_checking_on_the_loop() -> None:
    seen: list[bytes] = []

    def check(tx: bytes, recheck: bool) -> Checked:
        seen.append(tx)
        return Checked(0)

    def broken(raws: list[bytes]) -> list[object]:
        raise RuntimeError("worker bug")

    async def main() -> None:
        adm = Admission(Mempool(check), broken, inline_below=0)
        futs = [adm.submit(bytes([i, 1]), want_result=True) for i in range(5)]
        assert [(await f).code for f in futs if f is not None] == [0] * 5
        assert seen == [bytes([i, 1]) for i in range(5)]
        adm.close()

    asyncio.run(main())


def test_after_close_nothing_reaches_check_tx() -> None:
    seen: list[bytes] = []

    def check(tx: bytes, recheck: bool) -> Checked:
        seen.append(tx)
        return Checked(0)

    async def main() -> None:
        release = threading.Event()

        def slow(raws: list[bytes]) -> list[object]:
            release.wait(10)
            return [None] * len(raws)

        adm = Admission(Mempool(check), slow, inline_below=0)
        adm.submit(b"\x01\x02")
        await asyncio.sleep(0.05)  # the job is in the worker
        adm.submit(b"\x03\x04")  # queued behind it
        adm.close()
        release.set()
        await asyncio.sleep(0.1)
        assert seen == []

    asyncio.run(main())


def test_a_gossiped_frame_is_queued_at_once_and_what_the_pool_refuses_is_dropped_quietly() -> None:
    """`Admission.submit_many` (one frame of a peer's txs): in order, with `submit`'s refusals skipped (a
    known tx, a twin inside the frame, an empty or too large one, the pool's size counting what is on its
    way in) and nothing raised."""
    seen: list[bytes] = []

    def check(tx: bytes, recheck: bool) -> Checked:
        seen.append(tx)
        return Checked(0)

    async def main() -> None:
        pool = Mempool(check, size=4, max_tx_bytes=10)
        admitted: list[list[tuple[bytes, bytes]]] = []
        adm = Admission(pool, lambda raws: [None] * len(raws), on_admitted=admitted.append, inline_below=0)
        assert adm.submit(b"old", want_result=True) is not None
        frame = [b"a", b"old", b"b", b"a", b"", b"x" * 11, b"c", b"d", b"e"]
        assert adm.submit_many([(sha256(t), t) for t in frame]) == 3  # a, b, c: then the pool is full
        assert adm.pending == 4
        while adm.pending:
            await asyncio.sleep(0.001)
        assert seen == [b"old", b"a", b"b", b"c"] and pool.txs() == seen
        assert [t for batch in admitted for _, t in batch] == seen
        assert adm.submit_many([]) == 0
        adm.close()

    asyncio.run(main())


def test_a_peers_txs_mark_it_as_having_them_duplicates_included(tmp_path: Path) -> None:
    """node/inbound.py `on_txs`: every tx of a peer's frame marks that peer (so it is never sent back to it),
    fresh or already known; only the fresh ones reach admission, and they are gossiped to the other peers."""

    async def body(run: Running) -> None:
        node = run.node
        sent: list[tuple[str, bytes]] = []

        class Net:
            def send(self, peer_id: str, channel: int, payload: bytes) -> bool:
                sent.append((peer_id, payload))
                return True

            def disconnect(self, peer_id: str, reason: str) -> None:
                raise AssertionError(reason)

        node.net = Net()  # type: ignore[assignment]
        for p in ("a", "b", "c"):
            node.gossip.add_peer(p)
        txs = _txs(6)
        node.handle_payload("a", TxsMsg(tuple(txs[:4])).encode())
        node.handle_payload("b", TxsMsg(tuple(txs[2:])).encode())  # 2 duplicates, 2 fresh
        while node.admission.pending:
            await asyncio.sleep(0.001)
        node.gossip.flush_txs()
        assert node.mempool.txs() == txs
        for p, have in (("a", txs[:4]), ("b", txs[2:])):
            known = node.gossip.known_txs_of(p)
            assert known is not None and all(sha256(t) in known for t in have)
        got: dict[str, list[bytes]] = {}
        for peer, payload in sent:
            got.setdefault(peer, []).extend(TxsMsg.decode(payload).txs)
        assert got["a"] == txs[4:] and got["b"] == txs[:2] and got["c"] == txs  # never back to a sender
        assert node.gossip.known_txs_of("nobody") is None

    _run(tmp_path, body)


def test_batches_verified_on_the_loop_leave_nothing_behind() -> None:
    """With `inline_below` above `max_batch` (every batch verified on the loop), a queue longer than one batch
    is worked off batch after batch, in order, without waiting for another submit."""
    seen: list[bytes] = []

    def check(tx: bytes, recheck: bool) -> Checked:
        seen.append(tx)
        return Checked(0)

    async def main() -> None:
        adm = Admission(Mempool(check), lambda raws: [None] * len(raws), max_batch=2, inline_below=10)
        futs = [adm.submit(bytes([i, 7]), want_result=True) for i in range(7)]
        assert [(await asyncio.wait_for(f, 5)).code for f in futs if f is not None] == [0] * 7
        assert seen == [bytes([i, 7]) for i in range(7)] and adm.pending == 0
        adm.close()

    asyncio.run(main())


def test_a_tx_committed_while_on_its_way_in_stays_seen() -> None:
    """A peer's tx reserved (in the queue, the verify thread, or held while a commit paused the admission) that a
    block commits meanwhile: its check then fails (its sequence number is spent), and it must stay seen, so
    the copies other peers relay are dropped by hash instead of going through Ed25519 and check_tx again. A
    refused tx nobody committed is still forgotten (it may be corrected and sent again)."""
    committed: set[bytes] = set()

    def check(tx: bytes, recheck: bool) -> Checked:
        return Checked(108, "sequence already used") if tx in committed or tx == b"bad" else Checked(0)

    async def main() -> None:
        pool = Mempool(check, size=10)
        adm = Admission(pool, lambda raws: [None] * len(raws), inline_below=1 << 30)  # verified on the loop
        adm.pause()  # as the node does while it commits a block
        assert adm.submit_many([(sha256(t), t) for t in (b"t1", b"bad")]) == 2
        while adm._queue:  # verified (on the loop), then held by the pause
            await asyncio.sleep(0.001)
        committed.add(b"t1")
        pool.update(1, [b"t1"], [sha256(b"t1")])  # the block carried t1 (from its proposer)
        adm.resume()
        assert adm.pending == 0 and len(pool) == 0
        assert pool.seen(sha256(b"t1"))  # committed: stays seen although its check failed
        assert not pool.seen(sha256(b"bad"))  # refused and never committed: forgotten
        assert adm.submit_many([(sha256(b"t1"), b"t1")]) == 0  # a relayed copy: dropped by hash
        adm.close()

    asyncio.run(main())


def test_the_verify_thread_runs_jobs_in_order_and_hands_errors_back() -> None:
    """node/verify_thread.py: each job's result (or its exception) reaches the loop as one callback, in the
    order submitted, from a thread named as the executor's worker was; `shutdown` ends it."""
    from node.verify_thread import VerifyThread

    async def main() -> None:
        loop = asyncio.get_running_loop()
        got: list[tuple[object, str | None, bool]] = []
        done = asyncio.Event()
        where: list[str] = []

        def job(x: int) -> int:
            where.append(threading.current_thread().name)
            if x == 2:
                raise ValueError("bad batch")
            return x * 10

        def back(res: object, exc: BaseException | None) -> None:
            got.append((res, None if exc is None else str(exc), threading.current_thread() is threading.main_thread()))
            if len(got) == 4:
                done.set()

        worker = VerifyThread()
        for x in range(4):
            worker.submit(job, x, loop, back)
        await asyncio.wait_for(done.wait(), 10)
        assert got == [(0, None, True), (10, None, True), (None, "bad batch", True), (30, None, True)]
        assert where == ["egp-verify_0"] * 4 and worker.name == "egp-verify_0"
        worker.shutdown()
        worker.join(10)
        assert not worker._thread.is_alive()

    asyncio.run(main())


def test_an_executor_given_to_the_admission_verifies_its_batches() -> None:
    """`Admission(workers=...)`: the caller's executor runs the batches (a failing one leaves its txs to check_tx
    on the loop), in order, as the admission's own thread does."""
    from concurrent.futures import ThreadPoolExecutor

    seen: list[bytes] = []

    def check(tx: bytes, recheck: bool) -> Checked:
        seen.append(tx)
        return Checked(0)

    calls = [0]

    def verify(raws: list[bytes]) -> list[object]:
        calls[0] += 1
        if calls[0] == 2:
            raise RuntimeError("worker bug")
        return [None] * len(raws)

    async def main() -> None:
        with ThreadPoolExecutor(1) as ex:
            adm = Admission(Mempool(check), verify, inline_below=0, max_batch=2, workers=ex)
            futs = [adm.submit(bytes([i, 7]), want_result=True) for i in range(6)]
            assert [(await f).code for f in futs if f is not None] == [0] * 6
            adm.close()
        assert seen == [bytes([i, 7]) for i in range(6)] and calls[0] == 3

    asyncio.run(main())

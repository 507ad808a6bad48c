"""Block store and state store on a real LevelDB in a temp dir: save, load, lookups, batches, prune, reopen."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.blockstore import BlockStore, BlockStoreError
from node.statestore import StateStore, state_from_genesis
from state.chain import tx_hash
from state.kv_level import LevelKV
from tests.node.chainkit import Chain


@pytest.fixture(scope="module")
def chain5() -> Chain:
    c = Chain.start(4)
    c.grow(5, txs_per_block=3)
    return c


def fill(store: BlockStore, c: Chain, upto: int | None = None) -> None:
    for block, seen, res in list(zip(c.blocks, c.seen_commits, c.results, strict=True))[:upto]:
        store.save_block(block, seen)
        store.save_results(block.header.height, res)


def test_save_load_and_reopen(tmp_path: Path, chain5: Chain) -> None:
    kv = LevelKV(tmp_path / "db")
    store = BlockStore(kv)
    assert (store.base, store.height) == (0, 0)
    assert store.load_block(1) is None and store.load_commit(1) is None
    fill(store, chain5)
    kv.close()

    kv = LevelKV(tmp_path / "db")
    store = BlockStore(kv)
    assert (store.base, store.height) == (1, 5)
    for i, block in enumerate(chain5.blocks):
        h = i + 1
        assert store.load_block(h) == block
        assert store.load_block_by_hash(block.hash()) == block
        meta = store.load_block_meta(h)
        assert meta is not None and meta.block_id == block.block_id() and meta.num_txs == 3
        assert meta.block_size == len(block.encode()) and meta.header == block.header
        assert store.load_block_meta_by_hash(block.hash()) == meta
        assert store.load_seen_commit(h) == chain5.seen_commits[i]
        assert store.load_results(h) == chain5.results[i]
        assert all(store.tx_location(tx_hash(tx)) is None for tx in block.txs)  # (no longer written)
    # the canonical commit of h is block h+1's last commit; the top block only has its seen commit
    assert store.load_block_commit(4) == chain5.blocks[4].last_commit
    assert store.load_commit(4) == (chain5.blocks[4].last_commit, True)
    assert store.load_block_commit(5) is None
    assert store.load_commit(5) == (chain5.seen_commits[4], False)
    assert store.load_block_by_hash(b"\x00" * 32) is None
    kv.close()


def test_gaps_and_conflicts_are_refused(tmp_path: Path, chain5: Chain) -> None:
    kv = LevelKV(tmp_path / "db")
    store = BlockStore(kv)
    fill(store, chain5, 2)
    with pytest.raises(BlockStoreError, match=r"store holds 1\.\.2"):
        store.save_block(chain5.blocks[3], chain5.seen_commits[3])
    other = Chain.start(3)
    other.grow(2)
    with pytest.raises(BlockStoreError, match="different block"):
        store.save_block(other.blocks[1], other.seen_commits[1])
    with pytest.raises(BlockStoreError, match="seen commit"):
        store.save_block(chain5.blocks[2], chain5.seen_commits[1])
    meta = store.save_block(chain5.blocks[1], chain5.seen_commits[1])  # a replay re-saves: no-op
    assert meta.block_id == chain5.blocks[1].block_id() and store.height == 2
    kv.close()


def test_caller_batch_is_atomic_with_other_namespaces(tmp_path: Path, chain5: Chain) -> None:
    kv = LevelKV(tmp_path / "db")
    store = BlockStore(kv)
    batch = kv.batch()
    store.save_block(chain5.blocks[0], chain5.seen_commits[0], batch)
    store.save_results(1, chain5.results[0], batch)
    batch.prefixed(b"app/").put(b"k", b"v")
    assert store.height == 0 and store.load_block(1) is None and kv.get(b"app/k") is None
    batch.commit(sync=True)
    assert store.height == 1 and store.load_block(1) == chain5.blocks[0] and kv.get(b"app/k") == b"v"
    kv.close()


def test_prune(tmp_path: Path, chain5: Chain) -> None:
    kv = LevelKV(tmp_path / "db")
    store = BlockStore(kv)
    fill(store, chain5)
    assert store.prune(1) == 0
    with pytest.raises(BlockStoreError, match="ends at 5"):
        store.prune(6)
    assert store.prune(3) == 2
    kv.close()
    kv = LevelKV(tmp_path / "db")
    store = BlockStore(kv)
    assert (store.base, store.height) == (3, 5)
    for h in (1, 2):
        block = chain5.blocks[h - 1]
        assert store.load_block(h) is None and store.load_block_meta(h) is None
        assert store.load_seen_commit(h) is None and store.load_results(h) is None
        assert store.load_block_by_hash(block.hash()) is None
        assert all(store.tx_location(tx_hash(tx)) is None for tx in block.txs)
    assert store.load_block_commit(2) is None
    assert store.load_block(3) == chain5.blocks[2] and store.load_block_commit(3) is not None
    assert store.prune(2) == 0  # below the base: nothing to do
    # re-saving the top block above a pruned base is still an idempotent no-op
    assert store.save_block(chain5.blocks[4], chain5.seen_commits[4]).block_id.hash == chain5.blocks[4].hash()
    kv.close()


def test_state_store_round_trip(tmp_path: Path, chain5: Chain) -> None:
    kv = LevelKV(tmp_path / "db")
    ss = StateStore(kv)
    assert ss.load() is None
    genesis_state = state_from_genesis(chain5.genesis)
    ss.save(genesis_state)
    for state in [*chain5.states[1:], chain5.state]:
        ss.save(state)
    kv.close()
    kv = LevelKV(tmp_path / "db")
    ss = StateStore(kv)
    assert ss.load() == chain5.state
    assert ss.load_validators(1) == genesis_state.validators
    for i, state in enumerate(chain5.states):
        assert ss.load_validators(i + 1) == state.validators
        assert ss.load_params(i + 1) == state.consensus_params
    assert ss.load_validators(chain5.state.height + 1) == chain5.state.next_validators
    ss.prune(3)
    assert ss.load_validators(2) is None and ss.load_validators(3) is not None
    kv.close()


_CHAIN8 = Chain.start(4)
_CHAIN8.grow(8, txs_per_block=2)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("save"), st.integers(1, 3)),
        st.tuples(st.just("prune"), st.integers(0, 9)),
        st.tuples(st.just("reopen"), st.just(0)),
    ),
    max_size=12,
)


@settings(max_examples=25, deadline=None)
@given(ops)
def test_store_matches_a_model_under_saves_prunes_and_reopens(script: list[tuple[str, int]]) -> None:
    c = _CHAIN8
    with tempfile.TemporaryDirectory() as d:
        kv = LevelKV(Path(d) / "db")
        store = BlockStore(kv)
        base, top = 0, 0
        for op, arg in script:
            if op == "save":
                for _ in range(arg):
                    if top < len(c.blocks):
                        store.save_block(c.blocks[top], c.seen_commits[top])
                        base, top = base or 1, top + 1
            elif op == "prune":
                if top and arg > top:
                    with pytest.raises(BlockStoreError):
                        store.prune(arg)
                else:
                    pruned = store.prune(arg)
                    assert pruned == (max(arg - base, 0) if top else 0)
                    base = max(base, arg) if top else base
            else:
                kv.close()
                kv = LevelKV(Path(d) / "db")
                store = BlockStore(kv)
            assert (store.base, store.height) == (base, top)
            fresh = BlockStore(kv)  # the range cached by `store` is what the database holds
            assert (fresh.base, fresh.height) == (base, top)
            for h in range(1, len(c.blocks) + 1):
                present = base <= h <= top and top > 0
                block = c.blocks[h - 1]
                assert (store.load_block(h) == block) is present
                assert (store.load_block_meta_by_hash(block.hash()) is not None) is present
        kv.close()


def test_tx_locations_of_an_older_home_are_pruned_with_their_blocks(tmp_path: Path, chain5: Chain) -> None:
    """Homes written before hold a `t` tx location per tx (read by nothing but `prune`): a new save writes
    none, and pruning deletes an older home's with their blocks (and leaves those of kept blocks)."""
    from node.blockstore import NS, TxLocation

    kv = LevelKV(tmp_path / "db")
    store = BlockStore(kv)
    fill(store, chain5)
    assert not list(kv.iterate(prefix=NS + b"t"))
    for h, block in enumerate(chain5.blocks, start=1):  # as an older node wrote them
        for i, tx in enumerate(block.txs):
            kv.put(NS + b"t" + tx_hash(tx), TxLocation(h, i).encode())
    loc = store.tx_location(tx_hash(chain5.blocks[3].txs[1]))
    assert loc is not None and (loc.height, loc.index) == (4, 1)
    assert store.prune(3) == 2
    for h, block in enumerate(chain5.blocks, start=1):
        assert all((store.tx_location(tx_hash(tx)) is None) is (h < 3) for tx in block.txs)
    kv.close()


def test_results_bytes_are_the_records_encoding_and_shared_with_the_app_replay_record(tmp_path: Path) -> None:
    """One encoding of a block's results: the block store keeps `FinalizeBlockResult.encode()` (every field
    kind: events with attributes, failing and passing txs, validator and parameter updates), and the
    application's replay record is the same bytes, computed once."""
    from state.abci import pack_response
    from state.chain import Event, EventAttribute, ExecTxResult, FinalizeBlockResult, ValidatorUpdate, pack_results

    ev = Event("lg", (EventAttribute("id", "LG-1", True), EventAttribute("note", "ไทย", False)))
    res = FinalizeBlockResult(
        (Event("block", ()), ev),
        (ExecTxResult(0, b"", "", "", 0, 0, (ev, ev), ""),
         ExecTxResult(402, b"\x01", "over-draw", "i", 7, 2**40, (), "egp")),
        (ValidatorUpdate(b"\x02" * 32, 0), ValidatorUpdate(b"\x03" * 32, 2**62)),
        b"\x93\x01\x02\x03",
        b"\xaa" * 32,
    )
    raw = pack_results(res)
    assert raw == res.encode()
    assert pack_response(res) is raw  # encoded once, whoever asks first
    kv = LevelKV(tmp_path / "db")
    store = BlockStore(kv)
    store.save_results(7, res)
    assert kv.get(b"blockstore/r" + (7).to_bytes(8, "big")) == raw
    assert store.load_results(7) == res == FinalizeBlockResult.decode(raw)
    kv.close()


_texts = st.text(max_size=40) | st.sampled_from(["", "id", "bank", "ACTIVE", "x" * 31, "x" * 32, "y" * 300])
_ints = st.integers(0, 2**64 - 1) | st.sampled_from([0, 1, 127, 128, 255, 256, 65_535, 65_536, 2**32])


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_results_bytes_assembled_from_pieces_are_the_codecs(data: st.DataObject) -> None:
    """`pack_results` assembles a block's results from cached pieces (each interned attribute packed once,
    array headers by size): the bytes are `FinalizeBlockResult.encode()` for any results (sizes across the
    msgpack header forms, repeated and fresh attributes, accepted and failing txs), and decode back."""
    from state.chain import Event, EventAttribute, ExecTxResult, FinalizeBlockResult, ValidatorUpdate, pack_results

    pool = [EventAttribute("id", "LG-1", True), EventAttribute("bank", "002", True),
            EventAttribute("note", "ไทย", False)]
    attr = st.sampled_from(pool) | st.builds(EventAttribute, _texts, _texts, st.booleans())
    n_attrs = st.sampled_from([0, 1, 2, 16])
    event = st.builds(lambda t, n, d: Event(t, tuple(d.draw(attr) for _ in range(n))), _texts, n_attrs,
                      st.just(data))
    events = st.lists(event, max_size=2).map(tuple)
    result = st.builds(ExecTxResult, st.integers(0, 2**32 - 1) | st.just(0), st.binary(max_size=40),
                       _texts, _texts, _ints, _ints, events, _texts) | st.builds(
        lambda evs: ExecTxResult(events=evs), events)
    n_results = data.draw(st.sampled_from([0, 1, 3, 16]))
    res = FinalizeBlockResult(
        data.draw(events),
        tuple(data.draw(result) for _ in range(n_results)),
        tuple(data.draw(st.lists(st.builds(ValidatorUpdate, st.binary(min_size=32, max_size=32), _ints),
                                 max_size=3))),
        data.draw(st.binary(max_size=20)),
        data.draw(st.binary(max_size=64)),
    )
    raw = pack_results(res)
    assert raw == res.encode()
    assert FinalizeBlockResult.decode(raw) == res
    twice = FinalizeBlockResult(res.events, res.tx_results + res.tx_results, res.validator_updates,
                                res.consensus_param_updates, res.app_hash)
    assert pack_results(twice) == twice.encode()  # the same attributes again: from the cache


def test_msgpack_array_headers_are_the_packers() -> None:
    from state.chain import msgpack_array_header
    from state.fastrec import packb

    for n in (0, 1, 15, 16, 255, 65_535, 65_536, 70_000):
        packed = packb([None] * n)
        assert packed == msgpack_array_header(n) + b"\xc0" * n


def test_block_id_and_tx_hashes_are_made_once_per_block_and_are_the_codecs(chain5: Chain) -> None:
    from state.chain import Block, BlockID, part_set_header, txs_hash
    from state.merkle import merkle_root

    for block in chain5.blocks:
        fresh = Block.decode(block.encode())
        assert fresh.block_id() == BlockID(block.header.hash(), part_set_header(block.encode()))
        assert fresh.block_id() is fresh.block_id() and fresh.tx_hashes() is fresh.tx_hashes()
        assert fresh.tx_hashes() == tuple(tx_hash(tx) for tx in block.txs)
        assert merkle_root(list(fresh.tx_hashes())) == txs_hash(block.txs) == block.header.data_hash
        assert block.tx_hashes() == fresh.tx_hashes()  # (a built block keeps the hashes its data_hash used)


def test_range_written_in_a_callers_batch_is_read_from_the_database(tmp_path: Path, chain5: Chain) -> None:
    """The block store keeps its range in memory, except after a write in a caller's batch: that batch may be
    committed later (or never), so the range is read from the database from then on."""
    kv = LevelKV(tmp_path / "db")
    store = BlockStore(kv)
    store.save_block(chain5.blocks[0], chain5.seen_commits[0])
    assert store.height == 1
    batch = kv.batch()
    store.save_block(chain5.blocks[1], chain5.seen_commits[1], batch)
    assert (store.base, store.height) == (1, 1)  # not committed yet
    batch.commit(sync=True)
    assert (store.base, store.height) == (1, 2)
    store.save_block(chain5.blocks[2], chain5.seen_commits[2])
    assert store.height == 3 == BlockStore(kv).height
    kv.close()


def test_committed_evidence_entries_are_saved_with_the_block_pruned_with_it_and_rebuilt(tmp_path: Path) -> None:
    """A block's evidence items are remembered by hash with the block (node/evidence.py refuses them again,
    after a restart too); a home saved before that rebuilds them once at start; `prune_below` forgets them
    with their block and prunes the state store's history with the blocks."""
    from dataclasses import replace

    from node.blockstore import prune_below
    from state.chain import evidence_hash
    from state.crypto import sha256

    c = Chain.start(4)
    c.grow(2)
    items = (b"evidence-a", b"evidence-b")  # the store keeps the hash of whatever its blocks carried
    blk = c.next_block()
    c.commit_block(replace(blk, evidence=items, header=replace(blk.header, evidence_hash=evidence_hash(items))))
    c.grow(3)
    kv = LevelKV(tmp_path / "db")
    store = BlockStore(kv)
    assert store.index_committed_evidence() == 0  # a new home, at start (node/evidence.py StoredHistory)
    fill(store, c)
    assert [store.committed_evidence_height(sha256(i)) for i in items] == [3, 3]
    assert store.committed_evidence_height(sha256(b"other")) is None
    assert store.index_committed_evidence() == 0  # saved with their blocks: nothing to rebuild
    b = kv.batch().prefixed(b"blockstore/")
    for i in items:
        b.delete(b"e" + sha256(i))
    b.delete(b"E")
    b.commit(sync=True)  # as a home written before the entries
    kv.close()
    kv = LevelKV(tmp_path / "db")
    store = BlockStore(kv)
    assert store.committed_evidence_height(sha256(items[0])) is None
    assert store.index_committed_evidence() == 2 and store.index_committed_evidence() == 0
    assert [store.committed_evidence_height(sha256(i)) for i in items] == [3, 3]
    states = StateStore(kv)
    for s in [*c.states, c.state]:
        states.save(s)
    assert prune_below(3, store, states, c.state) == 0  # inside the evidence window (100,000 blocks, 48 h)
    quick = replace(c.state.consensus_params, evidence_max_age_num_blocks=1, evidence_max_age_duration_ns=1)
    st = replace(c.state, consensus_params=quick)  # evidence older than a block and a nanosecond is expired
    assert prune_below(3, store, states, st) == 2
    assert store.base == 3 and store.committed_evidence_height(sha256(items[0])) == 3
    assert states.load_validators(2) is None and states.load_validators(3) == c.states[2].validators
    assert prune_below(4, store, states, st) == 1
    assert [store.committed_evidence_height(sha256(i)) for i in items] == [None, None]
    assert states.load_validators(3) is None and states.load_params(3) is None
    assert states.load_validators(4) == c.states[3].validators and states.load_params(4) == c.states[3].consensus_params
    with pytest.raises(BlockStoreError):
        prune_below(7, store, states, st)
    kv.close()


def test_a_deferred_fuller_seen_commit_is_read_at_once_and_written_with_the_next_block(
        tmp_path: Path, chain5: Chain) -> None:
    """`defer_seen_commit` (late precommits made the top block's seen commit fuller): the store answers it at
    once; the database keeps the smaller one until the next block's batch writes it (a restart before that
    finds the smaller, valid commit); a deferred commit of another height is not written."""
    from dataclasses import replace

    kv = LevelKV(tmp_path / "db")
    store = BlockStore(kv)
    fill(store, chain5, upto=3)
    fuller = replace(chain5.seen_commits[2], round=chain5.seen_commits[2].round + 7)  # (a distinct commit)
    store.defer_seen_commit(3, fuller)
    assert store.load_seen_commit(3) == fuller and store.load_commit(3) == (fuller, False)
    assert BlockStore(kv).load_seen_commit(3) == chain5.seen_commits[2]  # (a restart now: the smaller one)
    store.save_block(chain5.blocks[3], chain5.seen_commits[3])
    assert BlockStore(kv).load_seen_commit(3) == fuller
    store.defer_seen_commit(2, replace(chain5.seen_commits[1], round=9))  # not the height below the next block
    store.save_block(chain5.blocks[4], chain5.seen_commits[4])
    assert BlockStore(kv).load_seen_commit(2) == chain5.seen_commits[1]
    assert BlockStore(kv).load_seen_commit(4) == chain5.seen_commits[3]
    kv.close()


def test_a_range_read_racing_a_save_never_keeps_the_old_range(tmp_path: Path, chain5: Chain) -> None:
    """The loop reads `height` while the commit thread saves the next block: a read that began after the save
    announced its write and read the old record before the commit must not keep that old range after the save
    set the new one (it made the next save refuse its height, "the store holds 1..h-1", and the node halt).
    The interleaving is forced with two threads and events: the save's commit waits for the read's LevelDB
    get, and the read returns only after the save finished."""
    import threading

    from state.kv import Batch

    kv = LevelKV(tmp_path / "db")
    store = BlockStore(kv)
    fill(store, chain5, 3)
    assert store.height == 3  # (the range kept)
    committing, read_done, save_done = threading.Event(), threading.Event(), threading.Event()
    real_get, real_batch = store._kv.get, store._batch

    class SlowCommit:
        def __init__(self, b: Batch) -> None:
            self._b = b

        def __getattr__(self, name: str) -> object:
            return getattr(self._b, name)

        def commit(self, sync: bool = False) -> None:
            committing.set()
            read_done.wait(10)
            self._b.commit(sync=sync)

    def batch(b: Batch | None) -> tuple[Batch, bool]:
        got, own = real_batch(b)
        return SlowCommit(got), own  # type: ignore[return-value]

    def racing_get(key: bytes) -> bytes | None:
        raw = real_get(key)
        if key == b"R" and threading.current_thread() is threading.main_thread():
            read_done.set()
            save_done.wait(10)
        return raw

    store._batch = batch  # type: ignore[method-assign]
    store._kv.get = racing_get  # type: ignore[method-assign]

    def save() -> None:
        store.save_block(chain5.blocks[3], chain5.seen_commits[3])
        save_done.set()

    writer = threading.Thread(target=save)
    writer.start()
    assert committing.wait(10)  # the save announced its write; its commit now waits for our read
    assert store.height in (3, 4)  # this read may see either; what it keeps must not be the old one
    writer.join(10)
    store._kv.get = real_get  # type: ignore[method-assign]
    store._batch = real_batch  # type: ignore[method-assign]
    assert store.height == 4
    store.save_block(chain5.blocks[4], chain5.seen_commits[4])  # refused before: "the store holds 1..3"
    assert store.height == 5
    kv.close()

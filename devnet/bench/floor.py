"""The floor model: what every validator must spend per committed tx, stage by stage, beside what it spends.

    python -m devnet.bench.floor                                   # floors + the node's own paths, in process
    python -m devnet.bench.floor --result bench-results/bench-X.json --profile node0.pyspy.txt
    python -m devnet.bench.floor --smoke                           # tiny (tests/bench/test_floor_smoke.py)

Why: issue 9 accepts "a profile-driven pass ... until you can show with profiles what bounds them". Sessions
2-6 took the node from ~3 ms to ~1 ms of CPU per committed tx; what is left is spread thin. This tool says how
far each stage could go in this design (four validators, each verifying, executing and storing every tx, in
CPython with PyNaCl, hashlib, msgpack and plyvel) if its Python were stripped to the unavoidable core, so the
gap between floor and spent is known stage by stage instead of guessed.

A *floor* is the CPU of the irreducible operations of a stage, measured here on this machine with the same
libraries the node uses, on the workload's real txs and state: the Ed25519 verification of each tx, one
msgpack parse of it, one SHA-256 of it, the state records it reads and writes as plain dict work plus their
msgpack decode/encode, the SHA-256s the authenticated state needs for the keys it changes (counted for the
state size of a 5-minute run at 2,000 tx/s), one LevelDB batch entry per record and trie page written, the
p2p bytes (AEAD + msgpack + socket share) for gossip and the proposal, the WebSocket request's JSON and base64
at the node it enters, the consensus messages of a block (signatures, the signer's fsync) amortised over its
txs. Left out on purpose, and said so in the table: domain rule logic (a few comparisons), the node's features
beyond consensus (the tx index, events for subscribers), the garbage collector, the event loop's wake-ups,
LevelDB's compactions (a function of bytes written and of the database's size, not of Python).

*In process* is the node's own code path for the same stage (`Application.preverify`, `check_code`,
`finalize_block` with `Trie.update` apart, `commit`), run here on the same txs. *Spent* is what a network run
measured per node and per committed tx by thread (`--result`: an `egp bench` JSON), split over the stages by
a py-spy raw profile of node 0 (`--profile`, shares of that thread's samples; py-spy samples wall-clock, so a
thread waiting for the GIL counts where it waits).

CPU is `time.thread_time()` of the measuring thread (the stage's own work; LevelDB's compaction thread is not
in it), the median of `--rounds` rounds, so the figures hold on a machine shared with other work. Prints
figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

_sha = hashlib.sha256


def per_item_us(fn: Callable[[], object], items: int, rounds: int, min_s: float) -> float:
    """Median over `rounds` of the thread CPU (us) per item of `fn()`, which handles `items` items a call;
    each round repeats `fn` until it took at least `min_s` of CPU."""
    out = []
    for _ in range(rounds):
        n, t0 = 0, time.thread_time()
        while True:
            fn()
            n += 1
            dt = time.thread_time() - t0
            if dt >= min_s:
                break
        out.append(1e6 * dt / (n * items))
    return statistics.median(out)


@dataclass
class Stage:
    """One row: a stage every validator runs per tx, its floor and the node's in-process figure (us per tx)."""

    name: str
    thread: str  # "verify", "loop", "commit": where the node runs it
    floor: float
    node: float | None = None
    note: str = ""


@dataclass
class Model:
    stages: list[Stage] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, *a: Any, **kw: Any) -> None:
        self.stages.append(Stage(*a, **kw))


# ------------------------------------------------------------------------------------------ the workload
def workload_blocks(n_blocks: int, block_txs: int, seed: int) -> tuple[dict[str, Any], list[tuple[int, list[bytes]]]]:
    """Genesis (as `egp bench` writes it: 200 agencies, 2,000 suppliers) and `n_blocks` of real signed txs."""
    from state.workload import Workload

    wl = Workload(seed=seed, n_agencies=200, n_suppliers=2_000)
    meta = {"start_ms": wl.start_ms, "chain_id": wl.chain_id,
            "validators": [[p.hex(), w] for p, w in wl.genesis_validators()], "app_state": wl.genesis_app_state()}
    return meta, list(wl.blocks(n_blocks, block_txs))


def new_app(meta: dict[str, Any], path: Path) -> Any:
    from state.abci import Application, RequestInitChain, ValidatorUpdate
    from state.kv_level import LevelKV

    app = Application(LevelKV(path))
    vals = [ValidatorUpdate(bytes.fromhex(p), w) for p, w in meta["validators"]]
    app.init_chain(RequestInitChain(meta["start_ms"], meta["chain_id"], vals, json.dumps(meta["app_state"]).encode()))
    app.commit()
    return app


# ---------------------------------------------------------------------------------- verify thread floors
def verify_stages(m: Model, txs: list[bytes], a: argparse.Namespace) -> None:
    from state.abci import Application
    from state.crypto import verify
    from state.txs import decode_tx

    dec = [decode_tx(t) for t in txs]
    args = [(d.tx.signer, d.tx.sign_bytes(), d.tx.signature) for d in dec]
    n, r, s = len(txs), a.rounds, a.seconds

    def ed() -> None:
        for pk, msg, sig in args:
            verify(pk, msg, sig)

    def parse() -> None:
        unpack = msgpack.unpackb
        for t in txs:
            unpack(unpack(t)[5])  # envelope and body, no checks: the least a decode must do

    def decode() -> None:
        for t in txs:
            decode_tx(t)

    def hash1() -> None:
        for t in txs:
            _sha(t).digest()

    pre = Application.preverify
    m.add("Ed25519 verify (libsodium via PyNaCl)", "verify", per_item_us(ed, n, r, s),
          note="the node calls the same function; ~the whole verify floor")
    m.add("tx decode (msgpack parse of envelope + body)", "verify", per_item_us(parse, n, r, s),
          per_item_us(decode, n, r, s), note="node: decode_tx, strict (exact types, canonical re-pack)")
    m.add("SHA-256 of the tx, once", "verify", per_item_us(hash1, n, r, s),
          note="the node hashes a tx ~3 times (ingest, decode, block tx hashes)")
    m.facts["preverify_us"] = per_item_us(lambda: pre(txs), n, r, s)  # the verify thread's whole work a tx
    m.facts["mean_tx_bytes"] = sum(map(len, txs)) / n


# ------------------------------------------------------------------------------------- event loop floors
def _socket_us_per_byte(a: argparse.Namespace, size: int = 16_384) -> float:
    """CPU of moving bytes through a TCP connection on 127.0.0.1 (send + recv, both ends in this thread), per
    byte, in 16 KiB writes: the kernel's share a node pays for every byte it sends and receives (the node's
    links are TCP on 127.0.0.1 here; its writes are often smaller, so it pays more syscalls than this)."""
    with socket.create_server(("127.0.0.1", 0)) as srv:
        x = socket.create_connection(srv.getsockname())
        y, _ = srv.accept()
    buf = os.urandom(size)
    try:
        def one() -> None:
            x.sendall(buf)
            got = 0
            while got < len(buf):
                got += len(y.recv(65_536))
        return per_item_us(one, len(buf), a.rounds, a.seconds)
    finally:
        x.close()
        y.close()


def ws_request_us(txs: list[bytes], per_byte: float, a: argparse.Namespace) -> tuple[float, float]:
    """(us, bytes) of one `broadcast_tx_sync` at the node it enters: the request's JSON and base64, the
    answer's JSON (the hash in hex), the request's and answer's bytes through the socket."""
    reqs = [json.dumps({"jsonrpc": "2.0", "id": i, "method": "broadcast_tx_sync",
                        "params": {"tx": base64.b64encode(t).decode()}}) for i, t in enumerate(txs)]
    hexes = [_sha(t).hexdigest().upper() for t in txs]

    def ws() -> None:
        loads, dumps, b64 = json.loads, json.dumps, base64.b64decode
        for q, hx in zip(reqs, hexes, strict=True):
            d = loads(q)
            b64(d["params"]["tx"])
            dumps({"jsonrpc": "2.0", "id": d["id"], "result": {"code": 0, "data": "", "log": "", "codespace": "",
                                                              "hash": hx}})
    size = (sum(map(len, reqs)) + 120 * len(txs)) / len(txs)
    return per_item_us(ws, len(txs), a.rounds, a.seconds) + per_byte * size, size


def p2p_hop_us(txs: list[bytes], per_byte: float, a: argparse.Namespace, batch: int = 60) -> float:
    """One hop of a tx over a p2p link (sent by one node, received by another): its share of a `batch`-tx
    frame's msgpack and ChaCha20-Poly1305 both ways and of the bytes through the socket. 60: about a node's
    admission batch at saturation (docs/performance.md, session 6, task D)."""
    from node.p2p.aead import aead_decrypt, aead_encrypt

    key, nonce, ad = os.urandom(32), bytes(12), bytes(4)
    groups = [txs[i:i + batch] for i in range(0, len(txs), batch)]
    sealed = [aead_encrypt(msgpack.packb([4, g]), ad, nonce, key) for g in groups]

    def send() -> None:
        for g in groups:
            aead_encrypt(msgpack.packb([4, g]), ad, nonce, key)

    def recv() -> None:
        for c in sealed:
            msgpack.unpackb(aead_decrypt(c, ad, nonce, key))
    n, mean = len(txs), sum(map(len, txs)) / len(txs)
    return per_item_us(send, n, a.rounds, a.seconds) + per_item_us(recv, n, a.rounds, a.seconds) + \
        2 * per_byte * (mean + 2)


def admission_us(txs: list[bytes], a: argparse.Namespace) -> float:
    """The mempool's admission as plain dict work: the signer's sequence number checked and taken, the tx
    kept, then reaped for a block and dropped at its commit."""
    from state.txs import decode_tx

    dec = [decode_tx(t) for t in txs]
    signers = {d.signer_address: 0 for d in dec}
    items = [(d.signer_address, d.tx.nonce, d.hash, d.raw) for d in dec]

    def admit() -> None:
        nonces = dict(signers)
        pool: dict[bytes, bytes] = {}
        for who, nonce, h, raw in items:
            if nonces.get(who, 0) <= nonce:
                nonces[who] = nonce + 1
                pool[h] = raw
        reaped = list(pool.values())
        for h in list(pool):
            del pool[h]
        del reaped
    return per_item_us(admit, len(txs), a.rounds, a.seconds)


def loop_stages(m: Model, txs: list[bytes], block_txs: float, a: argparse.Namespace) -> None:
    from state.merkle import merkle_root

    per_byte = _socket_us_per_byte(a)
    m.facts["tcp_300B_send_recv_us"] = 300 * _socket_us_per_byte(a, 300)  # one small write and its read
    ws_us, ws_bytes = ws_request_us(txs, per_byte, a)
    m.add("WebSocket broadcast_tx_sync (x 1/4: one node in four)", "loop", ws_us / 4,
          note=f"JSON + base64 + answer + {ws_bytes:.0f} B through a socket; at its node {ws_us:.1f} us")
    # a tx's bytes cross each link once as gossip and once in the proposal: per node and per tx, 3/4 of a send
    # and 3/4 of a receive for each (own txs to 3 peers, the proposer's block to 3 peers, out of 4 nodes)
    hop = p2p_hop_us(txs, per_byte, a)
    m.add("p2p gossip of the tx (3/4 send + 3/4 receive)", "loop", 0.75 * hop,
          note=f"msgpack + ChaCha20-Poly1305 + socket, 60 txs a frame; one hop (send + receive) {hop:.2f} us; "
               "full mesh relays make it ~3 receives per foreign tx in the node")
    m.add("p2p proposal carrying the tx (3/4 send + 3/4 receive)", "loop", 0.75 * hop,
          note="the block's txs to 3 peers; a compact block (hashes only) would cut most of it (wire change)")
    m.add("mempool admission + reap + removal (dict work)", "loop", admission_us(txs, a),
          note="node: check_code (ante_tx on the check state), seen cache, gossip queue, mempool update")
    # the block's data hash (Merkle root of the txs), which every node computes for every block
    m.add("proposal: Merkle root of the block's txs", "loop",
          per_item_us(lambda: merkle_root(txs), len(txs), a.rounds, a.seconds),
          note="state.merkle (already ~its floor: 2 SHA-256 a tx)")
    cons = consensus_block_us(a)
    m.facts["consensus_block_us"] = cons
    m.add(f"consensus messages per block / {block_txs:.0f} txs", "loop", cons / block_txs,
          note=f"{cons:.0f} us a block: 2 signs, 6.75 verifies, 2 fsynced signer-state writes, 12 frames")


def consensus_block_us(a: argparse.Namespace) -> float:
    """A validator's irreducible per-block consensus work: sign its prevote and precommit, verify the 3 others'
    of each and (3 blocks in 4) the proposer's signature, persist the signer state before each signature."""
    from node.p2p.aead import aead_decrypt, aead_encrypt
    from state.crypto import PrivateKey, verify

    k = PrivateKey.from_seed(bytes(32))
    msg = os.urandom(120)
    sig, pub = k.sign(msg), k.public_key.raw
    sign = per_item_us(lambda: k.sign(msg), 1, a.rounds, a.seconds / 4)
    ver = per_item_us(lambda: verify(pub, msg, sig), 1, a.rounds, a.seconds / 4)
    d = Path(tempfile.mkdtemp(prefix="floor-pv-"))
    state = os.urandom(200)

    def persist() -> None:  # temp file + fsync + rename + directory fsync (node/privval.py's rule)
        p = d / "s.tmp"
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, state)
        os.fsync(fd)
        os.close(fd)
        os.replace(p, d / "s.json")
        dfd = os.open(d, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
    try:
        pv = per_item_us(persist, 1, min(a.rounds, 3), a.seconds / 4)
    finally:
        for f in d.iterdir():
            f.unlink()
        d.rmdir()
    key, nonce, ad = os.urandom(32), bytes(12), bytes(4)
    vote = msgpack.packb([2, 1, 100, 0, os.urandom(32), os.urandom(20), 1_700_000_000_000, sig])
    c = aead_encrypt(vote, ad, nonce, key)
    frame = per_item_us(lambda: (aead_encrypt(vote, ad, nonce, key), msgpack.unpackb(aead_decrypt(c, ad, nonce, key))),
                        1, a.rounds, a.seconds / 4)
    return 2 * sign + 6.75 * ver + 2 * pv + 12 * frame


# ---------------------------------------------------------------------------------- commit thread floors
def _expected_inner(n: int, k: int, branching_only: bool) -> float:
    """Expected count of trie positions above >= 2 of `n` random keys (`branching_only`: with keys on both
    sides) that have at least one of `k` changed keys below: the inner hashes a block of `k` changes needs."""
    total, d = 0.0, 0
    while d < 160:
        p = 2.0 ** -d
        touched = 1 - (1 - p) ** k
        other = 1 - (1 - (p / 2 if branching_only else p)) ** max(n - 1, 0)
        term = (2.0 ** d) * touched * other if d < 64 else 0.0
        total += term
        if d > 8 and term < 1e-3:
            break
        d += 1
    return total


@dataclass
class AppRun:
    """What executing the workload's blocks through the node's `Application` (on LevelDB) showed: sums over the
    blocks, the CPU of its steps, and the values it read and wrote (the floor's inputs)."""

    genesis_keys: int = 0
    blocks: int = 0
    txs: int = 0
    reads: int = 0  # distinct keys a block read from the committed state (the overlay's read cache)
    writes: int = 0  # state records written (the trie's changed keys)
    new_keys: int = 0
    pages: int = 0  # trie pages written
    entries: int = 0  # every entry the app writes (records, index, history, trie pages)
    finalize_s: float = 0.0
    trie_s: float = 0.0  # Trie.update's share of finalize_s
    commit_s: float = 0.0
    read_vals: list[bytes] = field(default_factory=list)
    write_vals: list[bytes] = field(default_factory=list)
    last_batch: list[tuple[bytes, bytes]] = field(default_factory=list)  # a block's records + trie pages
    trie_sha: list[tuple[int, float]] = field(default_factory=list)  # (state keys, state/trie.py SHA-256 a key)


def run_app(meta: dict[str, Any], blocks: list[tuple[int, list[bytes]]], path: Path) -> AppRun:
    """finalize_block + commit of `blocks` from genesis, their txs verified first as the node's verify thread
    does; `Trie.update` timed and state/trie.py's SHA-256s counted (both restored after)."""
    from state import trie as trie_mod
    from state.abci import RequestFinalizeBlock
    from state.txs import decode_tx

    app, run = new_app(meta, path), AppRun()
    run.genesis_keys = sum(1 for _ in app.kv.iterate(prefix=b"s"))
    calls = [0]
    real_sha, real_update = trie_mod._sha256, trie_mod.Trie.update

    def counting_sha(b: bytes = b"") -> Any:
        calls[0] += 1
        return real_sha(b)

    def timed_update(self: Any, changes: Any) -> Any:
        t0 = time.thread_time()
        try:
            return real_update(self, changes)
        finally:
            run.trie_s += time.thread_time() - t0

    trie_mod.Trie.update = timed_update  # type: ignore[method-assign]
    trie_mod._sha256 = counting_sha  # type: ignore[assignment]
    try:
        for h, (t, txs) in enumerate(blocks, start=app.height + 1):
            for raw in txs:
                app.admit_verified(decode_tx(raw))
            calls[0] = 0
            t0 = time.thread_time()
            app.finalize_block(RequestFinalizeBlock(txs, h, t))
            run.finalize_s += time.thread_time() - t0
            p = app._pending
            rd, sw, tw = p.overlay._reads or {}, p.state_writes, p.trie.write_items()
            run.reads += len(rd)
            run.read_vals.extend(v for v in rd.values() if v is not None)
            run.writes += len(sw)
            run.write_vals.extend(v for _, v in sw if v is not None)
            run.new_keys += sum(1 for k, v in sw if v is not None and app.kv.get(k) is None)
            run.pages += len(tw)
            run.entries += len(p.overlay.writes) + len(tw)
            run.last_batch = [(k, v) for k, v in [*sw, *tw] if v is not None]
            run.trie_sha.append((run.genesis_keys + run.new_keys, calls[0] / max(1, len(sw))))
            t0 = time.thread_time()
            app.commit()
            run.commit_s += time.thread_time() - t0
            run.txs += len(txs)
            run.blocks += 1
    finally:
        trie_mod.Trie.update = real_update  # type: ignore[method-assign]
        trie_mod._sha256 = real_sha
        app.kv.close()
    return run


def execution_floor_us(run: AppRun, a: argparse.Namespace) -> float:
    """Per tx: each record read a dict lookup and a msgpack decode, each record written a msgpack encode and a
    dict store, on the run's real values."""
    objs = [msgpack.unpackb(v) for v in run.write_vals]
    rkeys = [_sha(v).digest() for v in run.read_vals]
    store = dict(zip(rkeys, run.read_vals, strict=True))

    def rw() -> None:
        get, unpack, pack = store.get, msgpack.unpackb, msgpack.packb
        for k in rkeys:
            unpack(get(k))
        out = {}
        for i, o in enumerate(objs):
            out[i] = pack(o)
    return per_item_us(rw, run.txs, a.rounds, a.seconds)


def sha256_inner_us(a: argparse.Namespace) -> float:
    """One inner-node hash as the trie takes it: sha256 of a tag byte and two 32-byte hashes."""
    pairs = [(os.urandom(32), os.urandom(32)) for _ in range(512)]

    def inner() -> None:
        for lh, rh in pairs:
            _sha(b"\x01" + lh + rh).digest()
    return per_item_us(inner, len(pairs), a.rounds, a.seconds / 4)


def commit_stages(m: Model, meta: dict[str, Any], blocks: list[tuple[int, list[bytes]]],
                  a: argparse.Namespace, tmp: Path) -> None:
    run = run_app(meta, blocks, tmp / "app")
    n = run.txs
    m.add(f"execution: {run.reads / n:.1f} reads + {run.writes / n:.1f} state writes a tx (dict + msgpack)",
          "commit", execution_floor_us(run, a), 1e6 * (run.finalize_s - run.trie_s) / n,
          note="floor leaves out the rule logic; node: finalize_block's tx loop (index keys, history, events)")
    # the trie at the state size of a `--run-txs` run: the inner hashes a changed key needs (expected, for random
    # key hashes) plus 3 (its key's hash, its value's hash, its leaf)
    keys_end = run.genesis_keys + run.new_keys / n * a.run_txs
    k_block = run.writes / n * a.block_txs
    inner_node = _expected_inner(int(keys_end), int(k_block), branching_only=False) / k_block
    inner_branch = _expected_inner(int(keys_end), int(k_block), branching_only=True) / k_block
    one = sha256_inner_us(a)
    per_block = run.writes / run.blocks
    m.facts.update(trie_keys_at_run_end=int(keys_end), trie_changed_per_block=k_block,
                   trie_sha_per_key_design=inner_node + 3, trie_sha_per_key_patricia=inner_branch + 3,
                   trie_sha_per_changed_key_small=run.trie_sha,
                   # like for like with the count in state/trie.py: inner nodes + the leaf (the key's and the
                   # value's hash are taken in state/abci.py, outside the count)
                   trie_sha_per_key_small_model=[round(_expected_inner(nk, int(per_block), False) / per_block + 1, 2)
                                                 for nk, _ in run.trie_sha],
                   sha256_65B_us=one)
    m.add(f"trie: {run.writes / n:.1f} changed keys a tx x {inner_node + 3:.1f} SHA-256 ({int(keys_end):,} keys)",
          "commit", run.writes / n * (inner_node + 3) * one, 1e6 * run.trie_s / n,
          note=f"branching nodes only (a Patricia trie): {inner_branch + 3:.1f} SHA-256 a key; node in process at "
               f"only ~{run.genesis_keys + run.new_keys:,} keys")
    # LevelDB: one synced batch a block of the records and trie pages (+ block and results: 2 a block)
    entries_floor = (run.writes + run.pages) / n + 2 / a.block_txs
    per_entry = ldb_entry_us(run.last_batch, a, tmp / "ldb")
    m.add(f"LevelDB batch: {entries_floor:.2f} entries a tx (records + trie pages)", "commit",
          entries_floor * per_entry, 1e6 * run.commit_s / n,
          note=f"{per_entry:.2f} us an entry (real block's items, sync write); the app writes "
               f"{run.entries / n:.2f} a tx (+ index, history); node: Application.commit")
    m.add("results + block: pack a result, 2 SHA-256 (results hash)", "commit", results_us(a), None,
          note="node: save_results + index + last_results_hash ~7-8 us (results_bench)")
    m.facts.update(reads_per_tx=run.reads / n, state_writes_per_tx=run.writes / n, new_keys_per_tx=run.new_keys / n,
                   trie_pages_per_tx=run.pages / n, app_entries_per_tx=run.entries / n,
                   genesis_state_keys=run.genesis_keys, finalize_us=1e6 * run.finalize_s / n,
                   trie_update_us=1e6 * run.trie_s / n, commit_us=1e6 * run.commit_s / n)


def ldb_entry_us(items: list[tuple[bytes, bytes]], a: argparse.Namespace, path: Path) -> float:
    """Thread CPU per entry of one synced LevelDB write batch of `items` (the node's options)."""
    import plyvel

    from state import kv_level as kl

    db = plyvel.DB(str(path), create_if_missing=True, compression=kl.COMPRESSION,
                   write_buffer_size=kl.WRITE_BUFFER_BYTES, bloom_filter_bits=kl.BLOOM_BITS)
    try:
        def one() -> None:
            with db.write_batch(transaction=True, sync=True) as wb:
                put = wb.put
                for k, v in items:
                    put(k, v)
        return per_item_us(one, max(1, len(items)), a.rounds, a.seconds)
    finally:
        db.close()


def results_us(a: argparse.Namespace) -> float:
    """A tx's result record packed and its share of the results' Merkle root (a leaf and an inner hash)."""
    res = [0, b"", "", "", 0, 0]
    hs = [os.urandom(32) for _ in range(512)]

    def one() -> None:
        pack = msgpack.packb
        for h in hs:
            pack(res)
            _sha(b"\x01" + _sha(b"\x00" + h).digest() + h).digest()
    return per_item_us(one, len(hs), a.rounds, a.seconds / 4)


# ------------------------------------------------------------------------------------- what a run spent
STAGE_PATTERNS: list[tuple[str, str]] = [  # (stage, regex on a frame): the first match from the leaf wins
    ("hand-off to the loop (mostly GIL wait)", r"^BaseSelectorEventLoop\._write_to_self"),
    ("Ed25519", r"crypto_sign_open|^verify \(state/crypto"),
    ("tx decode", r"^decode_tx |^strict \(state/fastrec"),
    ("trie", r"^Trie\.|^CachedNodes\.|^_trie_changes"),
    ("execution", r"^run_tx |^Application\._deliver"),
    ("LevelDB batch", r"^Application\.commit|^Batch\.commit|^_LevelRoot\.write"),
    ("results + index + block", r"^BlockStore\.|^Indexer\.|^pack_results|results_hash"),
    ("WebSocket / RPC", r"\(rpc/"),
    ("p2p", r"\(p2p/|\(node/gossip"),
    ("mempool admission", r"^Mempool\.|^Admission\.|check_code|admit_verified|_on_txs|recheck"),
    ("proposal", r"validate_proposal|process_proposal|check_block|merkle|prepare_proposal|^CommitThread\.build"),
    ("socket send/recv (kernel, in the transports)", r"^_SelectorSocketTransport\.(write|_read_ready)"),
    ("asyncio machinery (loop turns, callbacks)", r"\(asyncio/"),
    ("consensus", r"^Executor\.|FilePV|consensus/"),
]
# work done for another stage's sake, whatever its leaf: the consensus WAL's and the signer's synced writes
STACK_OVERRIDES: list[tuple[str, re.Pattern[str]]] = [("consensus", re.compile(r"^ConsensusWAL\.|^FilePV\."))]
# a leaf where the thread waits for work (py-spy's raw output keeps such samples): left out of the shares
IDLE_LEAF = re.compile(r"^EpollSelector\.select|^_worker \(|^Condition\.wait|^SimpleQueue\.get|^Queue\.get \(queue")


def _role(frames: list[str]) -> str:
    """The thread role of a stack, from what it runs (whether or not py-spy recorded thread names): the node's
    two worker threads run `_worker`, the verify thread's work being `preverify` and its hand-over of the
    verified batch to the loop (`Admission`); everything else is the event loop or one of its coroutines."""
    text = ";".join(frames)
    if "_worker (futures/thread.py" in text:  # profile_tools keeps a path's last 2 parts
        return "egp-verify" if "Application.preverify" in text or "Admission." in text else "egp-commit"
    return "main"


def profile_split(path: Path) -> dict[str, dict[str, float]]:
    """thread role -> stage -> share of that thread's samples (py-spy raw, with or without thread frames): a
    stack is the stage of STACK_OVERRIDES it runs under, else of its innermost frame that STAGE_PATTERNS
    knows; idle samples (IDLE_LEAF) are left out."""
    from devnet.bench.profile_tools import parse_raw

    pats = [(st, re.compile(rx)) for st, rx in STAGE_PATTERNS]
    counts: dict[str, dict[str, int]] = {}
    for frames, n in parse_raw(path.read_text(errors="replace")):
        if not frames or IDLE_LEAF.search(frames[-1]):
            continue
        role = _role(frames)
        stage = next((st for st, rx in STACK_OVERRIDES for f in frames if rx.search(f)), "other")
        for f in reversed(frames) if stage == "other" else ():
            hit = next((st for st, rx in pats if rx.search(f)), None)
            if hit:
                stage = hit
                break
        c = counts.setdefault(role, {})
        c[stage] = c.get(stage, 0) + n
    return {role: {st: n / sum(c.values()) for st, n in c.items()} for role, c in counts.items()}


def spent_per_thread(result: Path) -> dict[str, float]:
    """Per node (mean of the nodes), per committed tx: us of each thread role, from an `egp bench` result."""
    d = json.loads(result.read_text())
    step = d["results"]["steps"][0]
    tps = step["committed_tx_s"]
    nodes = step["cpu"]["threads"]
    out: dict[str, float] = {}
    for nd in nodes:
        for role, cores in nd["by_role_cores"].items():
            out[role] = out.get(role, 0.0) + 1e6 * cores / tps / len(nodes)
    out["generator"] = 1e6 * step["cpu"]["loadgen_cores"] / tps
    out["committed_tx_s"] = tps
    out["other_cores"] = step["cpu"].get("other_cores", 0.0)
    out["block_txs"] = step.get("blocks", {}).get("txs_mean", 0.0)
    return out


# ----------------------------------------------------------------------------------------------- report
_THREADS = {"verify": "egp-verify", "loop": "main", "commit": "egp-commit"}


def report(m: Model, spent: dict[str, float] | None, split: dict[str, dict[str, float]] | None) -> None:
    print(f"{'stage (per node, per committed tx)':<72} {'thread':>7} {'floor':>7} {'in proc':>8} {'x4 floor':>9}")
    for st in m.stages:
        node = f"{st.node:8.1f}" if st.node is not None else f"{'-':>8}"
        print(f"{st.name:<72} {st.thread:>7} {st.floor:7.2f} {node} {4 * st.floor:9.1f}")
        if st.note:
            print(f"    {st.note}")
    total = sum(st.floor for st in m.stages)
    print(f"\nfloor per node per tx: {total:.1f} us; x4 validators {4 * total:.0f} us a committed tx")
    in_proc = {"verify": m.facts.get("preverify_us"),
               "commit": m.facts.get("finalize_us", 0.0) + m.facts.get("commit_us", 0.0)}
    for th, role in _THREADS.items():
        fl = sum(st.floor for st in m.stages if st.thread == th)
        ip = in_proc.get(th)
        ips = f", node in process {ip:.0f} us" if ip else ""
        sp = f", spent {spent[role]:.0f} us ({spent[role] / max(fl, 1e-9):.1f}x the floor)" if spent else ""
        print(f"  {role:<11} floor {fl:6.1f} us{ips}{sp}")
    gen = spent["generator"] if spent else 45.0
    if spent:
        native = spent.get("native", 0.0)
        node_spent = sum(spent[r] for r in ("main", "egp-commit", "egp-verify", "native", "other"))
        print(f"  LevelDB's own thread (compactions): spent {native:.0f} us (no floor here: grows with the database)")
        print(f"spent per node per tx {node_spent:.0f} us at {spent['committed_tx_s']:.0f} tx/s committed "
              f"(other load {spent['other_cores']:.2f} cores); x4 {4 * node_spent:.0f} us; "
              f"the generator {gen:.0f} us a tx")
        print(f"the 2 cores at the spent rate: {2e6 / (4 * node_spent + gen):,.0f} tx/s")
    print(f"the 2 cores (2,000,000 us a second) at the floor, generator {gen:.0f} us a tx: "
          f"{2e6 / (4 * total + gen):,.0f} tx/s; with the verify floor alone (Ed25519 x4): "
          f"{2e6 / (4 * m.stages[0].floor + gen):,.0f} tx/s")
    if split and spent:
        print("\nspent, split by a py-spy profile of node 0 (share of the thread's samples x its us per tx):")
        for role in ("egp-verify", "main", "egp-commit"):
            shares = split.get(role, {})
            parts = ", ".join(f"{st} {100 * sh:.0f}% = {sh * spent.get(role, 0.0):.1f}"
                              for st, sh in sorted(shares.items(), key=lambda kv: -kv[1]))
            print(f"  {role}: {parts}")
    print("\nfacts: " + json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in m.facts.items()
                                   if k != "trie_sha_per_changed_key_small"}, default=str))
    small = [(k, round(c, 2)) for k, c in m.facts.get("trie_sha_per_changed_key_small", [])]
    print(f"trie check (state keys, SHA-256 per changed key counted in state/trie.py): {small} "
          f"against the model's inner nodes + leaf {m.facts.get('trie_sha_per_key_small_model')}")


def main(argv: list[str] | None = None) -> Model:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=4, help="workload blocks executed in process")
    ap.add_argument("--block-txs", type=float, default=876.0,
                    help="txs a block at saturation (session 6: 876); --result's own figure wins")
    ap.add_argument("--run-txs", type=int, default=600_000, help="txs of the run whose state size the trie floor takes")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.3, help="CPU per round of each measurement")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--result", type=Path, help="an `egp bench` result JSON: per-thread CPU per committed tx")
    ap.add_argument("--profile", type=Path, help="a py-spy raw profile of node 0 (egp bench --profile)")
    ap.add_argument("--smoke", action="store_true", help="tiny (tests)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args(argv)
    if a.smoke:
        a.blocks, a.rounds, a.seconds = 2, 1, 0.005
    spent = spent_per_thread(a.result) if a.result else None
    if spent and spent.get("block_txs"):
        a.block_txs = spent["block_txs"]
    split = profile_split(a.profile) if a.profile else None
    per_block = 60 if a.smoke else 1_000
    meta, blocks = workload_blocks(a.blocks, per_block, a.seed)
    txs = blocks[0][1]
    m = Model()
    m.facts.update(load=os.getloadavg(), block_txs=a.block_txs, run_txs=a.run_txs)
    with tempfile.TemporaryDirectory(prefix="floor-") as tmp:
        verify_stages(m, txs, a)
        loop_stages(m, txs, a.block_txs, a)
        commit_stages(m, meta, blocks, a, Path(tmp))
    report(m, spent, split)
    if a.json:
        a.json.write_text(json.dumps({"stages": [st.__dict__ for st in m.stages], "facts": m.facts, "spent": spent,
                                      "split": split}, indent=1, default=str) + "\n")
    return m


if __name__ == "__main__":
    main()

"""Mempool, broadcast, tx lookup and search, evidence.

`broadcast_tx_commit` registers a waiter (node/events.py) before the tx enters the mempool, so the commit
cannot slip between the two; its timeout is `timeout_broadcast_tx_commit_s`. Searches run on the index
written in the commit batch (node/indexer.py): what a client just saw committed is always found.
"""

from __future__ import annotations

import asyncio
from typing import Any

from node.events import SubscriptionError
from node.mempool import MempoolError as NodeMempoolError
from node.rpc import encode
from node.rpc.errors import internal, invalid_params
from node.rpc.params import P
from node.rpc.query import QueryError, parse_query
from node.rpc.registry import Ctx, clamp_per_page, method, page_slice
from node.rpc.services import EvidenceError, MempoolError, TxResultView
from node.rpc.txproof import TxTree
from node.txrecord import SearchError, TxRecord
from state.crypto import sha256

JSON = dict[str, Any]


@method("unconfirmed_txs", P("limit", "int"))
async def unconfirmed_txs(ctx: Ctx, limit: int | None) -> JSON:
    n, nbytes = ctx.services.mempool_size()
    txs = ctx.services.mempool_txs(clamp_per_page(limit, ctx.config.max_unconfirmed_txs_limit))
    return {"n_txs": str(len(txs)), "total": str(n), "total_bytes": str(nbytes), "txs": [encode.b64(t) for t in txs]}


@method("num_unconfirmed_txs")
async def num_unconfirmed_txs(ctx: Ctx) -> JSON:
    n, nbytes = ctx.services.mempool_size()
    return {"n_txs": str(n), "total": str(n), "total_bytes": str(nbytes), "txs": None}


@method("check_tx", P("tx", "b64", required=True))
async def check_tx(ctx: Ctx, tx: bytes) -> JSON:
    return encode.tx_result(await ctx.services.check_tx(tx))


def _broadcast_result(r: TxResultView, tx: bytes) -> JSON:
    return {"code": int(r.code), "data": encode.b64(r.data), "log": r.log, "codespace": r.codespace,
            "hash": encode.hex_upper(sha256(tx))}


async def _add(ctx: Ctx, tx: bytes) -> TxResultView:
    try:
        return await ctx.services.broadcast_tx(tx)
    except (MempoolError, NodeMempoolError) as e:
        raise internal(str(e)) from e


@method("broadcast_tx_async", P("tx", "b64", required=True))
async def broadcast_tx_async(ctx: Ctx, tx: bytes) -> JSON:
    """CometBFT semantics: the mempool's own refusals (duplicate, full, too large) are errors; the CheckTx
    verdict is not reported (code 0). The in-process application answers CheckTx at once, so nothing is
    gained by detaching it into a background task that could pile up."""
    await _add(ctx, tx)
    return _broadcast_result(TxResultView(), tx)


@method("broadcast_tx_sync", P("tx", "b64", required=True))
async def broadcast_tx_sync(ctx: Ctx, tx: bytes) -> JSON:
    return _broadcast_result(await _add(ctx, tx), tx)


@method("broadcast_tx_commit", P("tx", "b64", required=True))
async def broadcast_tx_commit(ctx: Ctx, tx: bytes) -> JSON:
    bus, h = ctx.services.event_bus, sha256(tx)
    try:
        waiter = bus.wait_for_tx(h)
    except SubscriptionError as e:
        raise internal(str(e)) from e
    try:
        check = await _add(ctx, tx)
        if check.code != 0:
            return {"check_tx": encode.tx_result(check), "tx_result": {}, "hash": encode.hex_upper(h), "height": "0"}
        try:
            done = await asyncio.wait_for(asyncio.shield(waiter), ctx.config.timeout_broadcast_tx_commit_s)
        except TimeoutError as e:
            raise internal("timed out waiting for tx to be included in a block") from e
        return {"check_tx": encode.tx_result(check), "tx_result": encode.tx_result(done.result),
                "hash": encode.hex_upper(h), "height": str(done.height)}
    finally:
        bus.forget_waiter(h, waiter)


def _tx_json(ctx: Ctx, rec: TxRecord, prove: bool) -> JSON:
    out: JSON = {"hash": encode.hex_upper(rec.hash), "height": str(rec.height), "index": rec.index,
                 "tx_result": encode.tx_result(rec.result), "tx": encode.b64(rec.tx)}
    if prove:
        out["proof"] = _tx_proof(ctx, rec)
    return out


def _tx_tree(ctx: Ctx, height: int) -> TxTree | None:
    """The Merkle tree behind a block's data_hash: over the txs' hashes (CometBFT `Txs.Hash`) or the txs."""
    blk = ctx.services.block(height)
    if blk is None:
        return None
    tree = TxTree([sha256(t) for t in blk.txs])
    return tree if tree.root() == blk.header.data_hash else TxTree(list(blk.txs))


def _tx_proof(ctx: Ctx, rec: TxRecord) -> JSON:
    """Merkle inclusion of the tx in its block's data_hash."""
    tree = ctx.proof_items.get("tx-tree", rec.height, lambda h: _tx_tree(ctx, h))
    if tree is None or rec.index >= len(tree.leaves):
        raise internal(f"block {rec.height} of tx {rec.hash.hex().upper()} is not available for a proof")
    proof = tree.proof(rec.index)
    return {"root_hash": encode.hex_upper(tree.root()), "data": encode.b64(rec.tx),
            "proof": {"total": str(proof.total), "index": str(proof.index),
                      "leaf_hash": encode.b64(tree.leaves[rec.index]),
                      "aunts": [encode.b64(a) for a in proof.aunts]}}


@method("tx", P("hash", "hash", required=True), P("prove", "bool", False))
async def tx(ctx: Ctx, hash: bytes, prove: bool) -> JSON:
    try:
        rec = ctx.services.indexer.get_tx(hash)
    except SearchError as e:
        raise internal(str(e)) from e
    if rec is None:
        raise internal(f"tx ({hash.hex().upper()}) not found")
    return _tx_json(ctx, rec, prove)


def _order(order_by: str, default: str) -> bool:
    """True for descending."""
    o = order_by or default
    if o not in ("asc", "desc"):
        raise invalid_params("expected order_by to be either `asc` or `desc` or empty")
    return o == "desc"


SEARCH = (P("query", "str", required=True), P("page", "int"), P("per_page", "int"), P("order_by", "str", ""))


@method("tx_search", SEARCH[0], P("prove", "bool", False), *SEARCH[1:])
async def tx_search(ctx: Ctx, query: str, prove: bool, page: int | None, per_page: int | None, order_by: str) -> JSON:
    desc = _order(order_by, "asc")
    try:
        hits = ctx.services.indexer.search_txs(parse_query(query))
    except (QueryError, SearchError) as e:
        raise internal(str(e)) from e
    if desc:
        hits.reverse()
    start, stop = page_slice(page, clamp_per_page(per_page), len(hits))
    try:  # the page's records at once: each block and its results read once (node/indexer.py `get_txs`)
        recs = ctx.services.indexer.get_txs([h for _, _, h in hits[start:stop]])
    except SearchError as e:
        raise internal(str(e)) from e
    txs = [_tx_json(ctx, rec, prove) for rec in recs if rec is not None]
    return {"txs": txs, "total_count": str(len(hits))}


@method("block_search", *SEARCH)
async def block_search(ctx: Ctx, query: str, page: int | None, per_page: int | None, order_by: str) -> JSON:
    desc = _order(order_by, "desc")
    try:
        heights = ctx.services.indexer.search_blocks(parse_query(query))
    except (QueryError, SearchError) as e:
        raise internal(str(e)) from e
    if desc:
        heights.reverse()
    start, stop = page_slice(page, clamp_per_page(per_page), len(heights))
    blocks = []
    for h in heights[start:stop]:
        b = ctx.block(h)
        if b is not None:
            blocks.append({"block_id": encode.block_id(b.block_id), "block": encode.block(b)})
    return {"blocks": blocks, "total_count": str(len(heights))}


@method("broadcast_evidence", P("evidence", "json", required=True))
async def broadcast_evidence(ctx: Ctx, evidence: Any) -> JSON:
    if not isinstance(evidence, dict):
        raise invalid_params("evidence must be an object")
    try:
        h = await ctx.services.broadcast_evidence(evidence)
    except EvidenceError as e:
        raise internal(f"failed to add evidence: {e}") from e
    return {"hash": encode.hex_upper(h)}

"""Chain views: health, status, net_info, genesis, blocks, commits, results, validators, params, ABCI info/query.

Each method reads views from `RpcServices` and returns CometBFT's result object (encode.py). Heights follow
CometBFT's rules (registry.resolve_height): absent = latest, above the tip or below the base = an error
with CometBFT's message.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from node.rpc import encode
from node.rpc.errors import internal, invalid_params
from node.rpc.params import P
from node.rpc.registry import Ctx, clamp_per_page, method, page_slice, resolve_height
from node.rpc.services import EMPTY_BLOCK_ID
from state.merkle import EMPTY_HASH

JSON = dict[str, Any]
GENESIS_CHUNK = 16 * 1024 * 1024
BLOCKCHAIN_LIMIT = 20


@method("health")
async def health(ctx: Ctx) -> JSON:
    return {}


@method("status")
async def status(ctx: Ctx) -> JSON:
    svc = ctx.services
    latest, base = svc.latest_height(), svc.base_height()
    sync: JSON = {
        "latest_block_hash": "",
        "latest_app_hash": EMPTY_HASH.hex().upper(),
        "latest_block_height": str(max(latest, 0)),
        "latest_block_time": encode.ZERO_TIME,
        "earliest_block_hash": "",
        "earliest_app_hash": EMPTY_HASH.hex().upper(),
        "earliest_block_height": str(max(base, 0)),
        "earliest_block_time": encode.ZERO_TIME,
        "catching_up": bool(svc.catching_up()),
    }
    for prefix, h in (("latest", latest), ("earliest", base)):
        meta = ctx.block_meta(h) if h >= 1 else None
        if meta is not None:
            sync[f"{prefix}_block_hash"] = encode.hex_upper(meta.block_id.hash)
            sync[f"{prefix}_app_hash"] = encode.hex_upper(meta.header.app_hash or EMPTY_HASH)
            sync[f"{prefix}_block_time"] = encode.rfc3339_nano(meta.header.time_ns)
    return {
        "node_info": encode.node_info(svc.node_info()),
        "sync_info": sync,
        "validator_info": _validator_info(ctx),
    }


def _validator_info(ctx: Ctx) -> JSON:
    v = ctx.services.validator_info()
    return {"address": encode.hex_upper(v.address), "pub_key": encode.pub_key(v.pub_key),
            "voting_power": str(v.voting_power)}


@method("net_info")
async def net_info(ctx: Ctx) -> JSON:
    peers = ctx.services.peers()
    return {
        "listening": True,
        "listeners": list(ctx.services.listeners()),
        "n_peers": str(len(peers)),
        "peers": [encode.peer(p) for p in peers],
    }


@method("genesis")
async def genesis(ctx: Ctx) -> JSON:
    doc = ctx.services.genesis()
    if len(json.dumps(doc)) > GENESIS_CHUNK:
        raise internal("genesis response is large, please use the genesis_chunked API instead")
    return {"genesis": doc}


@method("genesis_chunked", P("chunk", "int", 0))
async def genesis_chunked(ctx: Ctx, chunk: int) -> JSON:
    data = base64.b64encode(json.dumps(ctx.services.genesis(), separators=(",", ":")).encode())
    chunks = [data[i : i + GENESIS_CHUNK] for i in range(0, len(data), GENESIS_CHUNK)] or [b""]
    if not 0 <= chunk < len(chunks):
        raise internal(f"there are {len(chunks)} chunks, {chunk} is invalid")
    return {"chunk": str(chunk), "total": str(len(chunks)), "data": chunks[chunk].decode()}


@method("blockchain", P("minHeight", "int"), P("maxHeight", "int"))
async def blockchain(ctx: Ctx, minHeight: int | None, maxHeight: int | None) -> JSON:
    svc = ctx.services
    latest, base = svc.latest_height(), svc.base_height()
    lo, hi = minHeight or 0, maxHeight or 0
    if lo < 0 or hi < 0:
        raise internal("heights must be non-negative")
    lo = 1 if lo == 0 else lo
    hi = latest if hi == 0 else min(latest, hi)
    lo = max(base, lo, hi - BLOCKCHAIN_LIMIT + 1)
    if lo > hi and latest > 0:
        raise internal(f"min height {lo} can't be greater than max height {hi}")
    metas = []
    for h in range(hi, lo - 1, -1):
        meta = ctx.block_meta(h)
        if meta is not None:
            metas.append(encode.block_meta(meta))
    return {"last_height": str(latest), "block_metas": metas}


def _block_result(ctx: Ctx, height: int) -> JSON:
    b = ctx.block(height)
    if b is None:
        return {"block_id": encode.block_id(EMPTY_BLOCK_ID), "block": None}
    return {"block_id": encode.block_id(b.block_id), "block": encode.block(b)}


@method("block", P("height", "int"))
async def block(ctx: Ctx, height: int | None) -> JSON:
    return _block_result(ctx, resolve_height(ctx, height))


@method("block_by_hash", P("hash", "hash", required=True))
async def block_by_hash(ctx: Ctx, hash: bytes) -> JSON:
    h = ctx.services.block_height_by_hash(hash)
    if h is None:
        return {"block_id": encode.block_id(EMPTY_BLOCK_ID), "block": None}
    return _block_result(ctx, h)


@method("header", P("height", "int"))
async def header(ctx: Ctx, height: int | None) -> JSON:
    meta = ctx.block_meta(resolve_height(ctx, height))
    return {"header": None if meta is None else encode.header(meta.header)}


@method("header_by_hash", P("hash", "hash", required=True))
async def header_by_hash(ctx: Ctx, hash: bytes) -> JSON:
    h = ctx.services.block_height_by_hash(hash)
    meta = None if h is None else ctx.block_meta(h)
    return {"header": None if meta is None else encode.header(meta.header)}


@method("block_results", P("height", "int"))
async def block_results(ctx: Ctx, height: int | None) -> JSON:
    h = resolve_height(ctx, height)
    r = ctx.services.block_results(h)
    if r is None:
        raise internal(f"could not find results for height #{h}")
    return encode.block_results(r)


@method("commit", P("height", "int"))
async def commit(ctx: Ctx, height: int | None) -> JSON:
    h = resolve_height(ctx, height)
    meta, got = ctx.block_meta(h), ctx.services.commit(h)
    if meta is None or got is None:
        raise internal(f"commit for height {h} not found")
    c, canonical = got
    return {"signed_header": {"header": encode.header(meta.header), "commit": encode.commit(c)},
            "canonical": bool(canonical)}


@method("validators", P("height", "int"), P("page", "int"), P("per_page", "int"))
async def validators(ctx: Ctx, height: int | None, page: int | None, per_page: int | None) -> JSON:
    h = resolve_height(ctx, height)
    vals = ctx.services.validators(h)
    if vals is None:
        raise internal(f"could not find validator set for height #{h}")
    size = clamp_per_page(per_page)
    start, stop = page_slice(page, size, len(vals))
    return {"block_height": str(h), "validators": [encode.validator(v) for v in vals[start:stop]],
            "count": str(stop - start), "total": str(len(vals))}


@method("consensus_params", P("height", "int"))
async def consensus_params(ctx: Ctx, height: int | None) -> JSON:
    h = resolve_height(ctx, height)
    cp = ctx.services.consensus_params(h)
    if cp is None:
        raise internal(f"could not find consensus params for height #{h}")
    return {"block_height": str(h), "consensus_params": encode.consensus_params(cp)}


@method("abci_info")
async def abci_info(ctx: Ctx) -> JSON:
    return {"response": encode.app_info(await ctx.services.abci_info())}


@method("abci_query", P("path", "str", ""), P("data", "hex", b""), P("height", "int", 0), P("prove", "bool", False))
async def abci_query(ctx: Ctx, path: str, data: bytes, height: int, prove: bool) -> JSON:
    if height < 0:
        raise invalid_params("height must be non-negative")
    return {"response": encode.query_result(await ctx.services.abci_query(path, data, height, prove))}

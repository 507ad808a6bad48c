"""Views → CometBFT v0.38 JSON ("amino JSON"), byte for byte the shapes real clients check.

Why exact: cosmjs's Comet38Client and explorers validate every field's JSON type (docs/cometbft.md §4.3,
§4.6). The rules, applied everywhere below:
- 64-bit integers (heights, powers, gas, sizes) are decimal *strings*; 32-bit ones (`round`, `index`,
  `parts.total`, `block_id_flag`, `code`) are JSON numbers;
- hashes and addresses are UPPER-case hex; tx bytes, signatures, keys and ABCI bytes are base64;
- times are RFC 3339 with nanoseconds, UTC "Z", trailing zeros trimmed; the zero time is
  "0001-01-01T00:00:00Z";
- public keys are typed: {"type": "tendermint/PubKeyEd25519", "value": base64}.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring as _quote  # the string quoting of json.dumps(ensure_ascii=False)
from typing import Any

from node.rpc.services import (
    EMPTY_BLOCK_ID,
    AppInfoView,
    BlockIDView,
    BlockMetaView,
    BlockResultsView,
    BlockView,
    CommitSigView,
    CommitView,
    ConsensusParamsView,
    EventAttribute,
    EventView,
    HeaderView,
    NodeInfoView,
    PeerView,
    QueryResultView,
    TxResultView,
    ValidatorUpdateView,
    ValidatorView,
)

JSON = dict[str, Any]
ZERO_TIME = "0001-01-01T00:00:00Z"
PUBKEY_ED25519 = "tendermint/PubKeyEd25519"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def hex_upper(b: bytes) -> str:
    return b.hex().upper()


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def i64(n: int) -> str:
    return str(int(n))


def rfc3339_nano(ns: int | None) -> str:
    """Go's time.RFC3339Nano in UTC: fraction trimmed of trailing zeros, omitted when zero."""
    if ns is None:
        return ZERO_TIME
    secs, frac = divmod(int(ns), 1_000_000_000)
    try:
        t = _EPOCH + timedelta(seconds=secs)
    except OverflowError:
        return ZERO_TIME
    text = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def pub_key(raw: bytes) -> JSON:
    return {"type": PUBKEY_ED25519, "value": b64(raw)}


def block_id(v: BlockIDView) -> JSON:
    return {"hash": hex_upper(v.hash), "parts": {"total": int(v.parts_total), "hash": hex_upper(v.parts_hash)}}


def header(v: HeaderView) -> JSON:
    version: JSON = {"block": i64(v.version_block)}
    if v.version_app:
        version["app"] = i64(v.version_app)
    return {
        "version": version,
        "chain_id": v.chain_id,
        "height": i64(v.height),
        "time": rfc3339_nano(v.time_ns),
        "last_block_id": block_id(v.last_block_id),
        "last_commit_hash": hex_upper(v.last_commit_hash),
        "data_hash": hex_upper(v.data_hash),
        "validators_hash": hex_upper(v.validators_hash),
        "next_validators_hash": hex_upper(v.next_validators_hash),
        "consensus_hash": hex_upper(v.consensus_hash),
        "app_hash": hex_upper(v.app_hash),
        "last_results_hash": hex_upper(v.last_results_hash),
        "evidence_hash": hex_upper(v.evidence_hash),
        "proposer_address": hex_upper(v.proposer_address),
    }


def commit_sig(v: CommitSigView) -> JSON:
    return {
        "block_id_flag": int(v.block_id_flag),
        "validator_address": hex_upper(v.validator_address),
        "timestamp": rfc3339_nano(v.timestamp_ns),
        "signature": b64(v.signature) if v.signature else None,
    }


def commit(v: CommitView | None) -> JSON:
    """A commit; None (before the initial height) gives CometBFT's empty commit, never null."""
    if v is None:
        return {"height": "0", "round": 0, "block_id": block_id(EMPTY_BLOCK_ID), "signatures": []}
    return {
        "height": i64(v.height),
        "round": int(v.round),
        "block_id": block_id(v.block_id),
        "signatures": [commit_sig(s) for s in v.signatures],
    }


def block(v: BlockView) -> JSON:
    return {
        "header": header(v.header),
        "data": {"txs": [b64(t) for t in v.txs]},
        "evidence": {"evidence": list(v.evidence)},
        "last_commit": commit(v.last_commit),
    }


def block_meta(v: BlockMetaView) -> JSON:
    return {
        "block_id": block_id(v.block_id),
        "block_size": i64(v.block_size),
        "header": header(v.header),
        "num_txs": i64(v.num_txs),
    }


def event(v: EventView) -> JSON:
    return {
        "type": v.type,
        "attributes": [{"key": a.key, "value": a.value, "index": bool(a.index)} for a in v.attributes],
    }


def tx_result(v: TxResultView) -> JSON:
    """ABCI ExecTxResult / ResponseCheckTx (cosmjs's TxData)."""
    return {
        "code": int(v.code),
        "data": b64(v.data),
        "log": v.log,
        "info": v.info,
        "gas_wanted": i64(v.gas_wanted),
        "gas_used": i64(v.gas_used),
        "events": [event(e) for e in v.events],
        "codespace": v.codespace,
    }


# ------------------------------------------------------------------ events as JSON text, rendered directly
# Why text: a block's events and tx results are most of its NewBlock JSON, and building a dict per attribute
# and then walking it in json.dumps cost ~4x more than formatting the text at once. Each function returns
# exactly `dispatch.dumps(<the dict function above>)` (compact, non-ASCII literal; tests compare them); a
# caller must still fall back to the dict path when the text cannot be UTF-8 (a lone surrogate), as dumps does.


# the JSON text of the `EventAttribute`s rendered lately, by identity (id -> (the attribute, its text)): the
# application interns its attributes (state/event_attrs.py `_attr`; ~87 % of a block's pairs repeat), so most are
# rendered once. An entry holds its attribute, so the id is not reused while the entry lives; bounded (emptied
# when full). Only the loop renders events; a lost race would only render one again.
_ATTR_TEXT: dict[int, tuple[EventAttribute, str]] = {}
_ATTR_TEXT_MAX = 16_384
_DEFAULT_RESULT_HEAD = '{"code":0,"data":"","log":"","info":"","gas_wanted":"0","gas_used":"0","events":['


def _attributes_text(attributes: tuple[EventAttribute, ...]) -> str:
    cache = _ATTR_TEXT
    out = []
    for a in attributes:
        ent = cache.get(id(a))
        if ent is None or ent[0] is not a:
            if len(cache) >= _ATTR_TEXT_MAX:
                cache.clear()
            ent = cache[id(a)] = (a, f'{{"key":{_quote(a.key)},"value":{_quote(a.value)},'
                                     f'"index":{"true" if a.index else "false"}}}')
        out.append(ent[1])
    return ",".join(out)


def event_text(v: EventView) -> str:
    """The JSON text of `event(v)`."""
    return f'{{"type":{_quote(v.type)},"attributes":[{_attributes_text(v.attributes)}]}}'


def tx_result_text(v: TxResultView) -> str:
    """The JSON text of `tx_result(v)`."""
    events = ",".join([event_text(e) for e in v.events])
    if v.code == 0 and not v.gas_wanted and not v.gas_used and not v.data and not v.log and not v.info:
        head = _DEFAULT_RESULT_HEAD  # (an accepted result: all but its events and codespace are constant)
    else:
        head = (f'{{"code":{v.code:d},"data":"{b64(v.data)}","log":{_quote(v.log)},"info":{_quote(v.info)},'
                f'"gas_wanted":"{v.gas_wanted:d}","gas_used":"{v.gas_used:d}","events":[')
    return f'{head}{events}],"codespace":{_quote(v.codespace)}}}'


def finalize_block_result_text(v: BlockResultsView, txs_results: list[str]) -> str:
    """The JSON text of `finalize_block_result(v, ...)`; `txs_results`: each tx result's `tx_result_text`."""
    events = ",".join([event_text(e) for e in v.finalize_block_events])
    updates = compact_json([validator_update(u) for u in v.validator_updates])
    return (f'{{"events":[{events}],"tx_results":[{",".join(txs_results)}],"validator_updates":{updates},'
            f'"consensus_param_updates":{compact_json(v.consensus_param_updates)},"app_hash":"{b64(v.app_hash)}"}}')


def attribute_map_text(m: dict[str, list[str]]) -> str:
    """The JSON text of an event's attribute map (`result.events` of a subscription message: name → values)."""
    return "{" + ",".join([f'{_quote(k)}:[{",".join([_quote(v) if type(v) is str else compact_json(v) for v in vs])}]'
                           for k, vs in m.items()]) + "}"


def compact_json(obj: Any) -> str:
    """`dispatch.dumps` without its fallback: compact, non-ASCII literal."""
    out: str = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return out


def validator(v: ValidatorView) -> JSON:
    return {
        "address": hex_upper(v.address),
        "pub_key": pub_key(v.pub_key),
        "voting_power": i64(v.voting_power),
        "proposer_priority": i64(v.proposer_priority),
    }


def validator_update(v: ValidatorUpdateView) -> JSON:
    """ABCI ValidatorUpdate as Go emits it in block_results: the protobuf oneof `Sum` form."""
    return {
        "pub_key": {"Sum": {"type": "tendermint.crypto.PublicKey_Ed25519", "value": {"ed25519": b64(v.pub_key)}}},
        "power": i64(v.power),
    }


def block_results(v: BlockResultsView) -> JSON:
    return {
        "height": i64(v.height),
        "txs_results": [tx_result(r) for r in v.tx_results],
        "finalize_block_events": [event(e) for e in v.finalize_block_events],
        "validator_updates": [validator_update(u) for u in v.validator_updates],
        "consensus_param_updates": v.consensus_param_updates,
        "app_hash": b64(v.app_hash),
    }


def finalize_block_result(v: BlockResultsView) -> JSON:
    """ResponseFinalizeBlock as the NewBlock event carries it."""
    return {
        "events": [event(e) for e in v.finalize_block_events],
        "tx_results": [tx_result(r) for r in v.tx_results],
        "validator_updates": [validator_update(u) for u in v.validator_updates],
        "consensus_param_updates": v.consensus_param_updates,
        "app_hash": b64(v.app_hash),
    }


def consensus_params(v: ConsensusParamsView) -> JSON:
    return {
        "block": {"max_bytes": i64(v.block_max_bytes), "max_gas": i64(v.block_max_gas)},
        "evidence": {
            "max_age_num_blocks": i64(v.evidence_max_age_num_blocks),
            "max_age_duration": i64(v.evidence_max_age_duration_ns),
            "max_bytes": i64(v.evidence_max_bytes),
        },
        "validator": {"pub_key_types": list(v.validator_pub_key_types)},
        "version": {"app": i64(v.version_app)},
        "abci": {"vote_extensions_enable_height": i64(v.vote_extensions_enable_height)},
    } | ({"timeouts": dict(v.timeouts)} if v.timeouts is not None else {})


def node_info(v: NodeInfoView) -> JSON:
    return {
        "protocol_version": {"p2p": i64(v.protocol_p2p), "block": i64(v.protocol_block), "app": i64(v.protocol_app)},
        "id": v.node_id,
        "listen_addr": v.listen_addr,
        "network": v.network,
        "version": v.version,
        "channels": hex_upper(v.channels),
        "moniker": v.moniker,
        "other": {"tx_index": v.tx_index, "rpc_address": v.rpc_address},
    }


def peer(v: PeerView) -> JSON:
    return {
        "node_info": node_info(v.node_info),
        "is_outbound": bool(v.is_outbound),
        "connection_status": v.connection_status,
        "remote_ip": v.remote_ip,
    }


def app_info(v: AppInfoView) -> JSON:
    return {
        "data": v.data,
        "version": v.version,
        "app_version": i64(v.app_version),
        "last_block_height": i64(v.last_block_height),
        "last_block_app_hash": b64(v.last_block_app_hash),
    }


def query_result(v: QueryResultView) -> JSON:
    out: JSON = {
        "code": int(v.code),
        "log": v.log,
        "info": v.info,
        "index": i64(v.index),
        "key": b64(v.key),
        "value": b64(v.value),
        "proof_ops": None,
        "height": i64(v.height),
        "codespace": v.codespace,
    }
    if v.proof_ops:
        out["proof_ops"] = {"ops": [{"type": t, "key": b64(k), "data": b64(d)} for t, k, d in v.proof_ops]}
    return out

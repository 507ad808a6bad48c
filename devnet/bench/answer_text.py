"""The node's answers as the load generator reads them: straight from the text, without parsing all of it.

Why a module of its own: these patterns follow the node's JSON text (node/rpc/websocket.py, node/rpc/encode.py)
and change with it, not with the generator (devnet/bench/loadgen.py, which re-exports `read_new_block`).
"""

from __future__ import annotations

import json
import re
from typing import Any

_decode = json.JSONDecoder().raw_decode
# The node's answer to an accepted broadcast_tx_sync (node/rpc/ws_fast.py `_fast_text`, methods_tx): id, then
# code 0 first in the result. In JSON text a quote inside a string is escaped: this matches structure only.
_ACCEPTED = re.compile(r'\{"jsonrpc":"2\.0","id":([0-9]+),"result":\{"code":0,')
_HEADER_AT = '"value":{"block":{"header":'
_TXS_AT = '"data":{"txs":'
_RESULTS_AT = '"tx_results":['
_RESULTS_END = '],"validator_updates":'
# A tx result's start (node/rpc/encode.py `tx_result_text`: code is its first key, data its second). In JSON
# text a quote inside a string is escaped, so this can only match the structure: the tx results, in order.
_CODE = re.compile(r'\{"code":(-?[0-9]+),"data":')


def read_new_block(text: str) -> tuple[dict[str, Any], list[str], list[int]] | None:
    """A NewBlock event message -> (its block's header, its txs in base64, each tx result's code), parsing
    only those parts of the text; None when the text is not a NewBlock event of the node's shape (anything
    else: the caller parses it whole, as `_observe` does for the subscribe answer and errors)."""
    at = text.find(_HEADER_AT)
    if at < 0:
        return None
    try:
        header, end = _decode(text, at + len(_HEADER_AT))
        at = text.find(_TXS_AT, end)
        if at < 0:
            return None
        txs, end = _decode(text, at + len(_TXS_AT))
    except ValueError:
        return None
    txs = txs or []
    at = text.find('"result_finalize_block":{', end)
    at = text.find(_RESULTS_AT, at) if at >= 0 else -1
    stop = text.find(_RESULTS_END, at) if at >= 0 else -1
    if stop < 0 or not isinstance(header, dict) or not isinstance(txs, list):
        return None
    codes = [int(c) for c in _CODE.findall(text, at, stop)]
    if len(codes) != len(txs) or not all(type(t) is str for t in txs):
        return None
    return header, txs, codes

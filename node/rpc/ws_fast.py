"""The broadcast fast path: a plain `broadcast_tx_sync` / `_async` request's tx queued for admission at once,
and its answer written from the check verdict (the WebSocket's pipeline, node/rpc/websocket.py, and HTTP POST
of a single request, node/rpc/server.py).

Why a module of its own: it is a second implementation of `methods_tx`'s broadcasts (same answers and errors:
tests/rpc/test_ws_fast.py compares them) and changes with them, not with the WebSocket's connection handling;
`node.rpc.websocket` re-exports every name here.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
from hashlib import sha256 as _sha256
from typing import Any

from node.mempool import MempoolError as PoolError
from node.rpc.dispatch import dumps, valid_id
from node.rpc.errors import internal, response
from node.rpc.services import MempoolError

log = logging.getLogger("egp.rpc.ws")

# Broadcasts that skip the generic dispatch when the services offer `submit_tx(tx, sha256) -> Future[verdict]`
# (node/services.py) and the request has the plain shape (`fast_submit`): the tx goes into the admission
# queue at once, no task, no parameter binding, and the answer is written from the verdict. Same answers and
# errors as `handle_request` (tests/rpc/test_ws_fast.py compares them); anything else takes the generic path.
# Both are ungated (node/rpc/server.py UNGATED_METHODS), so skipping `Ctx.gate` changes nothing.
FAST = frozenset({"broadcast_tx_sync", "broadcast_tx_async"})
# An in-flight pipelined request: (future, None) for the generic path, whose future gives the response (or None
# for a notification); (future, (id, sha256, sync)) for the fast path, whose future gives the check verdict.
_Entry = tuple["asyncio.Future[Any]", "tuple[Any, bytes, bool] | None"]

_dumps = dumps


def fast_submit(submit: Any, req: dict[str, Any], loop: asyncio.AbstractEventLoop) -> _Entry | None:
    """A `FAST` broadcast of the plain shape (a valid id, jsonrpc "2.0", params {"tx": b64} or [b64]) with its
    tx queued for admission now by `submit` (`NodeServices.submit_tx`); None for anything else (the generic
    path then gives the same answer or error as ever). The WebSocket calls it only while no generic pipelined
    request of the connection waits to start (its tx would be queued after this one, out of request order);
    HTTP POST for a single request (node/rpc/server.py). `fast_answer` renders the entry's answer."""
    name = req.get("method")
    if type(name) is not str or name not in FAST or "id" not in req or req.get("jsonrpc") != "2.0":
        return None
    req_id = req["id"]
    params = req.get("params")
    if type(params) is dict:
        s = params.get("tx") if len(params) == 1 else None
    elif type(params) is list:
        s = params[0] if len(params) == 1 else None
    else:
        return None
    if type(s) is not str or (type(req_id) is not int and not valid_id(req_id)):
        return None
    try:  # = base64.b64decode(s.encode("ascii"), validate=True), without its two Python frames
        tx = binascii.a2b_base64(s, strict_mode=True)  # (a str with a non-ASCII character: ValueError)
    except (binascii.Error, ValueError):
        return None  # the generic path answers "tx: invalid base64"
    h = _sha256(tx).digest()  # (= state.crypto.sha256)
    try:
        return submit(tx, h), (req_id, h, name == "broadcast_tx_sync")
    except (PoolError, MempoolError) as e:  # the pool refused it outright: as `methods_tx._add`
        out = response(req_id, error=internal(str(e)))
    except Exception as e:  # as `dispatch.call`
        log.exception("rpc method %s failed", name)
        out = response(req_id, error=internal(f"internal error in {name}: {type(e).__name__}"))
    done: asyncio.Future[Any] = loop.create_future()
    done.set_result(out)
    return done, None


def fast_answer(result: Any, fast: tuple[Any, bytes, bool] | None) -> str:
    """The JSON text of a done `_Entry`'s answer (`result`: its future's)."""
    return _dumps(result) if fast is None else _fast_text(result, *fast)


def _fast_text(res: Any, req_id: Any, h: bytes, sync: bool) -> str:
    """The answer `methods_tx.broadcast_tx_sync`/`_async` give for the verdict `res` (node.mempool.Checked),
    as `_dumps(response(...))` writes it; by hand for the usual case (an integer id, no log, no codespace)."""
    code, text, space = (int(res.code), res.log, res.codespace) if sync else (0, "", "")
    if type(req_id) is int and not text and not space:
        return (f'{{"jsonrpc":"2.0","id":{req_id},"result":{{"code":{code},"data":"","log":"","codespace":"",'
                f'"hash":"{h.hex().upper()}"}}}}')
    return _dumps(response(req_id, {"code": code, "data": "", "log": text, "codespace": space,
                                    "hash": h.hex().upper()}))

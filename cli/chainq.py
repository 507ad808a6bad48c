"""What the wallet asks the application, through `abci_query` (paths of state/queries.py, docs/queries.md).

Domain paths answer JSON `{"height", "found", "result"}` (records as objects, bytes as hex, amounts in
satang, times in UTC ms); lists take `?page=&per_page=` and answer `{"total", "page", "per_page", "items"}`.
`/store` answers a state record's canonical bytes, decoded here with the Record classes the chain stores.
A query refused by the application comes back with a non-zero code and the catalogue sentence
(state/errors.py): that becomes a `RejectedError`, except "not found", which is `None` for the caller.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from cli.errors import KeystoreError, NodeError, RejectedError
from cli.rpc_client import RpcClient, from_b64, to_int
from state import errors as E
from state.codec import DecodeError, Record

R = TypeVar("R", bound=Record)
STORE_PATH = "/store"
ALL_PAGES_LIMIT = 100  # pages of 100: the wallet lists at most 10,000 items


def _value(client: RpcClient, path: str, data: bytes = b"") -> bytes | None:
    resp = client.abci_query(path, data)
    code = to_int(resp.get("code"))
    if code == E.NOT_FOUND.code:
        return None
    if code != 0:
        raise RejectedError(code, str(resp.get("log", "")), str(resp.get("codespace", "") or "egp"), path=path)
    return from_b64(resp.get("value")) or None


def record(client: RpcClient, key: bytes, cls: type[R]) -> R | None:
    """A state record by its key (`/store`), decoded with its Record class."""
    raw = _value(client, STORE_PATH, key)
    if raw is None:
        return None
    try:
        return cls.decode(raw)
    except DecodeError as exc:
        raise NodeError(f"the node returned a {cls.__name__} the wallet cannot read ({exc}); "
                        "is the wallet the same version as the node?") from None


def path(*segments: str, **params: object) -> str:
    """'/lg/<id>?page=2': segments are URL-quoted (ids never contain '/', but may contain ':')."""
    p = "/" + "/".join(quote(s, safe=":") for s in segments)
    q = {k: str(v) for k, v in params.items() if v is not None}
    return p + ("?" + urlencode(q) if q else "")


def get(client: RpcClient, *segments: str, **params: object) -> Any:
    """The `result` of a domain path; None when not found."""
    p = path(*segments, **params)
    raw = _value(client, p)
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        raise NodeError(f"the node's answer to {p} is not JSON") from None
    if not isinstance(doc, dict) or "result" not in doc:
        raise NodeError(f"the node's answer to {p} has no result")
    return doc["result"] if doc.get("found", True) else None


def get_all(client: RpcClient, *segments: str, **params: object) -> tuple[int, list[Any]]:
    """Every item of a paged list path: (total, items)."""
    items: list[Any] = []
    total = 0
    for page in range(1, ALL_PAGES_LIMIT + 1):
        res = get(client, *segments, page=page, per_page=100, **params)
        if not isinstance(res, dict):
            break
        total = int(res.get("total", 0))
        batch = res.get("items") or []
        items.extend(batch)
        if not batch or len(items) >= total:
            break
    return total, items


# ----------------------------------------------------------------- what commands need
def next_nonce(client: RpcClient, address: bytes) -> int:
    acct = get(client, "account", address.hex())
    if acct is None:
        raise KeystoreError(f"the signing key {address.hex().upper()} is not registered on the ledger; "
                            "the registrar must add it first (egp registry add-key)")
    if not acct.get("active", True):
        raise KeystoreError(f"the signing key {address.hex().upper()} has been revoked on the ledger")
    return skip_pending(client, address, int(acct["nonce"]))


def skip_pending(client: RpcClient, address: bytes, committed: int) -> int:
    """The committed nonce, moved past this key's txs still waiting in the node's mempool.

    Why: an officer who sends two transactions without `--wait` would otherwise sign both with the
    committed nonce and see the second refused. Best effort: the node lists at most 100 pending txs; when
    it cannot say, the committed nonce stands (and `--nonce` remains for scripts)."""
    from state.crypto import address as address_of
    from state.errors import TxError
    from state.txs import decode_tx

    try:
        res = client.call("unconfirmed_txs", limit="100")
    except NodeError:
        return committed
    pending = set()
    for t in (res.get("txs") if isinstance(res, dict) else None) or []:
        try:
            d = decode_tx(from_b64(t))
        except (TxError, NodeError):
            continue
        if address_of(d.tx.signer) == address:
            pending.add(d.tx.nonce)
    nonce = committed
    while nonce in pending:
        nonce += 1
    return nonce


def guarantee(client: RpcClient, lg_id: str) -> dict[str, Any] | None:
    res = get(client, "lg", lg_id)
    return res if isinstance(res, dict) else None


def request(client: RpcClient, rid: str) -> dict[str, Any] | None:
    res = get(client, "request", rid)
    return res if isinstance(res, dict) else None


def requirement(client: RpcClient, req_id: str) -> dict[str, Any] | None:
    res = get(client, "requirement", req_id)
    return res if isinstance(res, dict) else None

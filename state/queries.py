"""Query paths (placeholder while the full set lands): /store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from state import errors as E
from state.errors import TxError

if TYPE_CHECKING:
    from state.abci import Application, RequestQuery, ResponseQuery


def run_query(app: Application, req: RequestQuery) -> ResponseQuery:
    raise TxError(E.UNKNOWN_PATH, path=req.path)

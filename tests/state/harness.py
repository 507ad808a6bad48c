"""A small chain driver for the application tests: actors with keys and nonces, one block per call."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from state.abci import (
    Application,
    ExecTxResult,
    Misbehavior,
    RequestFinalizeBlock,
    RequestInitChain,
    RequestQuery,
    ValidatorUpdate,
)
from state.crypto import PrivateKey, sha256
from state.kv import KV, MemoryKV
from state.records import Guarantee, k_lg, lg_id_of
from state.registry import with_check_digit
from state.txs import Body, IssueGuarantee, PublishRequirement, sign_tx

DAY = 86_400_000
T0 = 1_790_000_000_000  # 2026-09-21 (a Monday) 21:33 UTC
CHAIN = "egp-test"


@dataclass
class Who:
    kind: str
    code: str
    key: PrivateKey
    nonce: int = 0


def _key(name: str) -> PrivateKey:
    return PrivateKey.from_seed(sha256(name.encode()))


@dataclass
class Chain:
    kv: KV = field(default_factory=MemoryKV)
    now: int = T0

    def __post_init__(self) -> None:
        self.cgd = Who("REGISTRAR", "CGD", _key("cgd"))
        self.bank = Who("BANK", "006", _key("bank006"))
        self.bank2 = Who("BANK", "002", _key("bank002"))
        self.agency = Who("AGENCY", "AG1", _key("ag1"))
        self.agency2 = Who("AGENCY", "AG2", _key("ag2"))
        self.sup = Who("SUPPLIER", with_check_digit("010555000001"), _key("sup1"))
        self.sup2 = Who("SUPPLIER", with_check_digit("010555000002"), _key("sup2"))
        self.vals = [_key(f"val{i}") for i in range(4)]
        self.app = Application(self.kv)
        self.height = 0
        state: dict[str, Any] = {
            "registrar": {"code": "CGD", "keys": [self.cgd.key.public_key.raw.hex()]},
            "banks": [
                {"code": "006", "keys": [self.bank.key.public_key.raw.hex()],
                 "validators": [v.public_key.raw.hex() for v in self.vals[:2]]},
                {"code": "002", "keys": [self.bank2.key.public_key.raw.hex()],
                 "validators": [v.public_key.raw.hex() for v in self.vals[2:]]},
            ],
            "agencies": [{"code": "AG1", "keys": [self.agency.key.public_key.raw.hex()]},
                         {"code": "AG2", "keys": [self.agency2.key.public_key.raw.hex()]}],
            "suppliers": [{"tax_id": self.sup.code, "keys": [self.sup.key.public_key.raw.hex()]},
                          {"tax_id": self.sup2.code, "keys": [self.sup2.key.public_key.raw.hex()]}],
        }
        self.app.init_chain(RequestInitChain(self.now, CHAIN, [ValidatorUpdate(v.public_key.raw, 10)
                                                               for v in self.vals], json.dumps(state).encode()))

    def tx(self, who: Who, body: Body) -> bytes:
        raw = sign_tx(who.key, CHAIN, who.nonce, body)
        who.nonce += 1
        return raw

    def block(self, txs: list[bytes], *, dt: int = 1000, misbehavior: list[Misbehavior] | None = None
              ) -> list[ExecTxResult]:
        self.now += dt
        self.height += 1
        resp = self.app.finalize_block(RequestFinalizeBlock(txs, self.height, self.now, misbehavior or []))
        self.app.commit()
        self.last = resp
        return list(resp.tx_results)

    def do(self, who: Who, body: Body, *, dt: int = 1000) -> ExecTxResult:
        return self.block([self.tx(who, body)], dt=dt)[0]

    def ok(self, who: Who, body: Body, *, dt: int = 1000) -> ExecTxResult:
        r = self.do(who, body, dt=dt)
        assert r.code == 0, r.log
        return r

    def lg(self, lg_id: str) -> Guarantee:
        raw = self.kv.get(b"s" + k_lg(lg_id))
        assert raw is not None
        return Guarantee.decode(raw)

    def query(self, path: str, prove: bool = False) -> dict[str, Any]:
        r = self.app.query(RequestQuery(path, prove=prove))
        assert r.code == 0, r.log
        out: dict[str, Any] = json.loads(r.value)
        return out

    # ---------------------------------------------------------------- scenarios
    def requirement(self, req_id: str = "R1", type_: str = "PERF", *, min_amount: int = 100_000_00,
                    cover: int = 100 * DAY, deadline: int = 0, agency: Who | None = None) -> str:
        ag = agency or self.agency
        self.ok(ag, PublishRequirement(req_id, "P-" + req_id, "1", type_, min_amount, self.now + cover,
                                       self.now + deadline if deadline else 0, "F1"))
        return f"{ag.code}:{req_id}"

    def issue(self, ref: str = "REF1", *, req: str = "AG1:R1", type_: str = "PERF", amount: int = 500_000_00,
              expiry: int = 200 * DAY, replaces: str = "", supplier: Who | None = None, bank: Who | None = None,
              extend_or_pay: bool = True, partial: bool = True, multiple: bool = True,
              reduction_clause: bool = False, version: int = 1) -> tuple[str, ExecTxResult]:
        b = bank or self.bank
        s = supplier or self.sup
        r = self.do(b, IssueGuarantee(ref, "", type_, s.code, req, version, amount, self.now + expiry, partial,
                                      multiple, extend_or_pay, reduction_clause, b"\x01" * 32, replaces))
        return lg_id_of(b.code, ref), r

    def active(self, ref: str = "REF1", req_id: str = "R1", **kw: Any) -> str:
        req = self.requirement(req_id)
        lg_id, r = self.issue(ref, req=req, **kw)
        assert r.code == 0, r.log
        from state.txs import Acknowledge

        self.ok(self.agency, Acknowledge(lg_id))
        return lg_id

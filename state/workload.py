"""A deterministic, seeded generator of realistic e-GP traffic (domain-research §8).

`Workload(seed, ...)` makes the actors (registrar, banks with validators, agencies, suppliers; keys derived
from the seed), `genesis_app_state()` / `genesis_validators()` for InitChain, and `blocks(n, txs_per_block)`
yields `(block time ms, [signed tx bytes])` with correct sequence numbers. The mix per guarantee: issue 1
(after its requirement), acknowledge 1, release or expire 1, amendment 0.15 (80 % extensions), reduction
0.10 (ADV), demand 0.015 (60 % honoured, 30 % rejected, 10 % extend-or-pay then extended), replace 0.02,
cancel 0.01; credit confirmations 0.3 per bid; official damage points now and then. Amounts are
log-normal (median THB 400 k, sigma 1.95, clipped to THB 10 k..5 B); BID 90-180 days, PERF 15-48 months,
ADV 3-18 months; banks, agencies and suppliers drawn Zipf-skewed (s = 1.1). `invalid_share` of the
transactions are adversarial: over-draw demand, post-expiry demand, duplicate issue, wrong signer,
replayed tx, bad signature, accepting an amendment that does not exist.

The generator keeps a shadow model to choose plausible operations; it is not consensus code (it uses
`random.Random(seed)`), and when the model and the chain disagree the chain's answer is simply a
rejection code. Sequence numbers: a deliberately invalid tx does not advance its signer's number (a node
refuses it at check_tx, so it never consumes one; `refused_at_check=False` for the finalize-only model).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from state.crypto import PrivateKey, sha256
from state.records import lg_id_of
from state.registry import with_check_digit
from state.txs import (
    AcceptAmendment,
    Acknowledge,
    Body,
    Cancel,
    ConsumeCredit,
    Demand,
    Extend,
    Honour,
    IssueCredit,
    IssueGuarantee,
    ProposeAmendment,
    PublishRequirement,
    RecordPerformance,
    Reduce,
    RejectDemand,
    Release,
    SuspendDemand,
    sign_tx,
)

DAY = 86_400_000
BANK_CODES = ("006", "002", "004", "014", "025", "011", "022", "024", "030", "033", "034", "066", "067",
              "069", "073", "017", "018", "020")
TYPE_MIX = (("BID", 30), ("PERF", 45), ("ADV", 10), ("RET", 7), ("WARR", 8))


@dataclass
class Actor:
    kind: str
    code: str
    key: PrivateKey
    nonce: int = 0


@dataclass
class ShadowLg:
    id: str
    bank: Actor
    agency: Actor
    supplier: str
    type: str
    req: str
    amount: int
    expiry: int
    ack_after: int
    status: str = "ISSUED"
    paid: int = 0
    busy: bool = False  # a demand, amendment, cancel or replacement in flight
    ref: str = ""


@dataclass
class _Followup:
    block: int
    make: Any  # Callable[[], list[bytes]]


def _zipf_weights(n: int, s: float = 1.1) -> list[float]:
    return [1.0 / (k ** s) for k in range(1, n + 1)]


@dataclass
class Workload:
    seed: int = 1
    n_banks: int = 18
    n_agencies: int = 200
    n_suppliers: int = 2_000
    n_validators: int = 4
    chain_id: str = "egp-workload"
    start_ms: int = 1_790_000_000_000
    invalid_share: float = 0.05
    # An adversarial but well-signed tx is refused at check_tx (the node runs the domain rules there), so it
    # never reaches a block and its sequence number stays free: the signer's next tx reuses it. False: every
    # well-signed tx consumes a number, as when blocks are fed straight to finalize_block (golden replays).
    refused_at_check: bool = True
    now: int = 0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.now = self.start_ms
        self.registrar = Actor("REGISTRAR", "CGD", self._key("registrar", 0))
        self.banks = [Actor("BANK", BANK_CODES[i % len(BANK_CODES)] if i < len(BANK_CODES) else f"{100 + i:03d}",
                            self._key("bank", i)) for i in range(self.n_banks)]
        self.validator_keys = [self._key("validator", i) for i in range(self.n_validators)]
        self.agencies = [Actor("AGENCY", f"AG{i:05d}", self._key("agency", i)) for i in range(self.n_agencies)]
        self.suppliers = [Actor("SUPPLIER", with_check_digit(f"0105{i:08d}"), self._key("supplier", i))
                          for i in range(self.n_suppliers)]
        self._bank_w = _zipf_weights(self.n_banks)
        self._agency_w = _zipf_weights(self.n_agencies)
        self._supplier_w = _zipf_weights(self.n_suppliers, 0.8)
        self.lgs: dict[str, ShadowLg] = {}
        self.live: list[str] = []
        self.ccs: list[tuple[str, Actor]] = []
        self.sent: list[bytes] = []
        self._followups: list[_Followup] = []
        self._counter = 0
        self._block = 0

    def _key(self, role: str, i: int) -> PrivateKey:
        return PrivateKey.from_seed(sha256(f"egp-workload/{self.seed}/{role}/{i}".encode()))

    # ---------------------------------------------------------------- genesis
    def genesis_app_state(self) -> dict[str, Any]:
        banks = []
        for i, b in enumerate(self.banks):
            vals = [self.validator_keys[j].public_key.raw.hex() for j in range(self.n_validators)
                    if j % self.n_banks == i]
            banks.append({"code": b.code, "name": f"Bank {b.code}", "keys": [b.key.public_key.raw.hex()],
                          "validators": vals})
        return {
            "params": {"holidays": ["2026-12-07", "2026-12-10", "2026-12-31", "2027-01-01"]},
            "registrar": {"code": "CGD", "name": "Comptroller General's Department",
                          "keys": [self.registrar.key.public_key.raw.hex()]},
            "banks": banks,
            "agencies": [{"code": a.code, "name": f"Agency {a.code}", "keys": [a.key.public_key.raw.hex()]}
                         for a in self.agencies],
            "suppliers": [{"tax_id": s.code, "name": f"Supplier {s.code}", "keys": [s.key.public_key.raw.hex()]}
                          for s in self.suppliers],
        }

    def genesis_validators(self) -> list[tuple[bytes, int]]:
        return [(k.public_key.raw, 10) for k in self.validator_keys]

    # ---------------------------------------------------------------- helpers
    def _sign(self, who: Actor, body: Body) -> bytes:
        tx = sign_tx(who.key, self.chain_id, who.nonce, body)
        who.nonce += 1
        self.sent.append(tx)
        return tx

    def _sign_refused(self, who: Actor, body: Body) -> bytes:
        """An adversarial tx the chain must reject with a domain code (see `refused_at_check`)."""
        if not self.refused_at_check:
            return self._sign(who, body)
        return sign_tx(who.key, self.chain_id, who.nonce, body)

    def _pick(self, actors: list[Actor], weights: list[float]) -> Actor:
        return self.rng.choices(actors, weights=weights, k=1)[0]

    def _amount(self) -> int:
        thb = self.rng.lognormvariate(math.log(400_000), 1.95)
        return int(min(max(thb, 10_000), 5_000_000_000)) * 100

    def _later(self, blocks: int, make: Any) -> None:
        self._followups.append(_Followup(self._block + blocks, make))

    def _uid(self) -> str:
        self._counter += 1
        return f"{self.seed}-{self._counter}"

    # ---------------------------------------------------------------- operations
    def _new_guarantee(self) -> list[bytes]:
        t = self.rng.choices([t for t, _ in TYPE_MIX], weights=[w for _, w in TYPE_MIX], k=1)[0]
        bank = self._pick(self.banks, self._bank_w)
        agency = self._pick(self.agencies, self._agency_w)
        supplier = self._pick(self.suppliers, self._supplier_w).code
        uid = self._uid()
        days = {"BID": (90, 180), "PERF": (450, 1440), "ADV": (90, 540)}.get(t, (180, 720))
        cover = self.now + self.rng.randint(*days) * DAY
        deadline = self.now + self.rng.randint(1, 5) * DAY if t == "BID" else 0
        amount = self._amount()
        out = [self._sign(agency, PublishRequirement(f"R{uid}", f"P{uid}", "1", t, amount // 2, cover, deadline,
                                                    "CGD-LG-2566"))]
        ref = f"REF{uid}"
        lg_id = lg_id_of(bank.code, ref)
        out.append(self._sign(bank, IssueGuarantee(ref, "", t, supplier, f"{agency.code}:R{uid}", 1, amount,
                                                   cover + 30 * DAY, True, True, t != "BID", t == "ADV",
                                                   sha256(ref.encode()), "")))
        self.lgs[lg_id] = ShadowLg(lg_id, bank, agency, supplier, t, f"{agency.code}:R{uid}", amount,
                                   cover + 30 * DAY, deadline, ref=ref)
        self.live.append(lg_id)
        if t == "BID" and self.rng.random() < 0.3:
            out.append(self._credit(bank, supplier, agency))
        return out

    def _credit(self, bank: Actor, supplier: str, agency: Actor) -> bytes:
        ref = f"CC{self._uid()}"
        amount = self._amount() * 4
        tx = self._sign(bank, IssueCredit(ref, supplier, "BID_QUALIFICATION", agency.code, "", amount, amount // 2,
                                          0, b""))
        from state.records import cc_id_of

        self.ccs.append((cc_id_of(bank.code, ref), agency))
        return tx

    def _some_live(self, status: str | None = None) -> ShadowLg | None:
        for _ in range(8):
            if not self.live:
                return None
            i = self.rng.randrange(len(self.live))
            g = self.lgs[self.live[i]]
            if g.status not in ("ISSUED", "ACTIVE") or self.now > g.expiry:
                self.live[i] = self.live[-1]
                self.live.pop()
                continue
            if not g.busy and (status is None or g.status == status):
                return g
        return None

    def _acknowledge(self) -> list[bytes]:
        g = self._some_live("ISSUED")
        if g is None or self.now < g.ack_after:
            return []
        g.status = "ACTIVE"
        return [self._sign(g.agency, Acknowledge(g.id))]

    def _release(self) -> list[bytes]:
        g = self._some_live("ACTIVE")
        if g is None:
            return []
        g.status = "RELEASED"
        return [self._sign(g.agency, Release(g.id))]

    def _amend(self) -> list[bytes]:
        g = self._some_live("ACTIVE")
        if g is None:
            return []
        extend = self.rng.random() < 0.8
        new_expiry = g.expiry + (self.rng.randint(30, 180) * DAY if extend else 0)
        new_amount = g.amount if extend else g.amount + g.amount // 10
        g.busy = True
        out = [self._sign(g.bank, ProposeAmendment(g.id, new_amount, new_expiry, b""))]

        def accept() -> list[bytes]:
            g.busy, g.expiry, g.amount = False, new_expiry, new_amount
            return [self._sign(g.agency, AcceptAmendment(g.id))] if g.status == "ACTIVE" else []
        self._later(self.rng.randint(1, 3), accept)
        return out

    def _reduce(self) -> list[bytes]:
        g = self._some_live("ACTIVE")
        if g is None or g.amount - g.paid < 4:
            return []
        g.amount -= (g.amount - g.paid) // 4
        signer = g.bank if g.type == "ADV" else g.agency
        return [self._sign(signer, Reduce(g.id, g.amount, sha256(g.id.encode() + b"recovery")))]

    def _demand(self) -> list[bytes]:
        g = self._some_live("ACTIVE")
        if g is None:
            return []
        amount = max(1, (g.amount - g.paid) // self.rng.choice((1, 2, 4)))
        roll = self.rng.random()
        offer = g.expiry + 90 * DAY if roll >= 0.9 and g.type != "BID" else 0
        g.busy = True
        out = [self._sign(g.agency, Demand(g.id, amount, sha256(b"statement" + g.id.encode()), offer))]

        def settle() -> list[bytes]:
            g.busy = False
            if roll < 0.6:
                g.paid += amount
                if g.paid >= g.amount:
                    g.status = "EXHAUSTED"
                return [self._sign(g.bank, Honour(g.id))]
            if roll < 0.9 or not offer:
                return [self._sign(g.bank, RejectDemand(g.id, ("statement does not match the contract",)))]
            g.expiry = offer
            return [self._sign(g.bank, SuspendDemand(g.id)), self._sign(g.bank, Extend(g.id))]
        self._later(self.rng.randint(1, 3), settle)
        return out

    def _replace(self) -> list[bytes]:
        g = self._some_live("ACTIVE")
        if g is None or self.now < g.ack_after:
            return []
        ref = f"REF{self._uid()}"
        new_id = lg_id_of(g.bank.code, ref)
        amount = g.amount
        g.busy = True
        out = [self._sign(g.bank, IssueGuarantee(ref, "", g.type, g.supplier, g.req, 1, amount, g.expiry, True, True,
                                                 False, False, sha256(ref.encode()), g.id))]

        def ack() -> list[bytes]:
            g.status = "SUPERSEDED"
            self.lgs[new_id] = ShadowLg(new_id, g.bank, g.agency, g.supplier, g.type, g.req, amount, g.expiry,
                                        0, "ACTIVE", ref=ref)
            self.live.append(new_id)
            return [self._sign(g.agency, Acknowledge(new_id))]
        self._later(1, ack)
        return out

    def _cancel(self) -> list[bytes]:
        g = self._some_live()
        if g is None:
            return []
        g.status = "CANCELLED"
        return [self._sign(g.bank, Cancel(g.id)), self._sign(g.agency, Cancel(g.id))]

    def _consume(self) -> list[bytes]:
        if not self.ccs:
            return []
        cc_id, agency = self.ccs.pop(self.rng.randrange(len(self.ccs)))
        return [self._sign(agency, ConsumeCredit(cc_id, f"BID:{cc_id}"))]

    def _official(self) -> list[bytes]:
        s = self._pick(self.suppliers, self._supplier_w).code
        pts = self.rng.choice((1, 5, 10, 20, 30, 60))
        return [self._sign(self.registrar, RecordPerformance(s, pts, "cl. 190/3 event", b""))]

    def _invalid(self) -> list[bytes]:
        """One adversarial transaction (the chain must reject it with a code)."""
        kind = self.rng.randrange(7)
        g = self.lgs[self.rng.choice(list(self.lgs))] if self.lgs else None
        if g is None or kind == 0:
            if self.sent:
                return [self.rng.choice(self.sent)]  # replayed transaction: stale sequence number
            return []
        if kind == 1:
            return [self._sign_refused(g.agency, Demand(g.id, g.amount * 2 + 1, sha256(b"x"), 0))]  # over-draw
        if kind == 2:
            return [self._sign_refused(g.agency, Demand(g.id, 1, sha256(b"late"), 0))] if self.now > g.expiry else []
        if kind == 3:  # duplicate issue: same bank and reference
            return [self._sign_refused(g.bank, IssueGuarantee(g.ref, "", g.type, g.supplier, g.req, 1, g.amount,
                                                              g.expiry, True, True, False, False, b"", ""))]
        if kind == 4:  # wrong signer: a supplier tries to release
            sup = self._pick(self.suppliers, self._supplier_w)
            return [self._sign_refused(sup, Release(g.id))]
        if kind == 5:  # bad signature: not counted against the sequence
            good = sign_tx(g.agency.key, self.chain_id, g.agency.nonce, Release(g.id))
            return [good[:-3] + bytes(b ^ 0x55 for b in good[-3:])]
        return [self._sign_refused(g.agency, AcceptAmendment(g.id))] if not g.busy else []  # no amendment pending

    OPS: tuple[tuple[str, float], ...] = (
        ("_new_guarantee", 1.0), ("_acknowledge", 1.0), ("_release", 0.8), ("_amend", 0.15), ("_reduce", 0.1),
        ("_demand", 0.015), ("_replace", 0.02), ("_cancel", 0.01), ("_consume", 0.2), ("_official", 0.005),
    )

    def _step(self) -> list[bytes]:
        if self.rng.random() < self.invalid_share:
            return self._invalid()
        name = self.rng.choices([n for n, _ in self.OPS], weights=[w for _, w in self.OPS], k=1)[0]
        result: list[bytes] = getattr(self, name)()
        return result

    # ---------------------------------------------------------------- blocks
    def blocks(self, n_blocks: int, txs_per_block: int, block_ms: int = 6 * 3_600_000) -> Iterator[
            tuple[int, list[bytes]]]:
        """Yield (block time ms, txs) for `n_blocks` blocks of about `txs_per_block` transactions."""
        for _ in range(n_blocks):
            self._block += 1
            self.now += block_ms
            txs: list[bytes] = []
            due = [f for f in self._followups if f.block <= self._block]
            self._followups = [f for f in self._followups if f.block > self._block]
            for f in due:
                txs += f.make()
            guard = 0
            while len(txs) < txs_per_block and guard < 4 * txs_per_block + 10:
                txs += self._step()
                guard += 1
            yield self.now, txs

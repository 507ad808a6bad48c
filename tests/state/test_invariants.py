"""The invariants of domain.md (§3.4 I1-I10) as a hypothesis state machine over random, partly
adversarial transaction sequences: any signer for any action, duplicate issues, over-draws, demands after
expiry, amendments without consent, replayed transactions, demand and release racing in one block."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from state.abci import ExecTxResult
from state.crypto import address
from state.records import LIVE, TERMINAL, Guarantee, LgEvent, Requirement, k_req
from state.store import NS_HIST, NS_STATE
from state.txs import (
    AcceptAmendment,
    Acknowledge,
    Body,
    Cancel,
    Demand,
    Expire,
    Extend,
    Honour,
    IssueGuarantee,
    ProposeAmendment,
    PublishRequirement,
    RecordObligation,
    Reduce,
    Refuse,
    RejectAmendment,
    RejectDemand,
    Release,
    SuspendDemand,
    WithdrawDemand,
)
from tests.state.harness import DAY, Chain, Who

H = b"\x05" * 32
BANK_ACTS = {"issue", "amend_propose", "honour", "reject_demand", "suspend", "extend", "replacement_issued"}
AGENCY_ACTS = {"acknowledge", "refuse", "amend_accept", "amend_reject", "demand", "withdraw_demand", "release",
               "obligation", "supersede", "replacement_ended"}
TERM_CHANGERS = {"amend_accept", "reduce", "extend"}

amounts = st.integers(min_value=-5, max_value=800_000_00)
offsets = st.integers(min_value=-10 * DAY, max_value=400 * DAY)


class Ledger(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.c = Chain()
        c = self.c
        self.actors: list[Who] = [c.cgd, c.bank, c.bank2, c.agency, c.agency2, c.sup, c.sup2]
        self.reqs: list[str] = []
        self.ids: list[str] = []
        self.sent: list[bytes] = []
        self.snap: dict[str, Guarantee] = {}
        self.keys_of = {w.code: address(w.key.public_key.raw) for w in self.actors}
        self.bank_keys = {address(w.key.public_key.raw) for w in self.actors if w.kind == "BANK"}

    def _run(self, txs: list[bytes], dt: int = 1000) -> list[ExecTxResult]:
        self.sent += txs
        res = self.c.block(txs, dt=dt)
        for r in res:
            assert r.code != 100, r.log  # never an internal error
            for e in r.events:
                if e.type == "lg":
                    lg_id = next(a.value for a in e.attributes if a.key == "id")
                    if lg_id not in self.ids:
                        self.ids.append(lg_id)
        return res

    def _pick(self, data: st.DataObject, want: frozenset[str] = LIVE) -> str:
        """Mostly a guarantee in a status the action wants (so lifecycles get deep), sometimes any."""
        live = [i for i in self.ids if self.c.lg(i).status in want]
        pool = live if live and data.draw(st.integers(0, 4)) > 0 else self.ids
        return data.draw(st.sampled_from(pool))

    def _send(self, who: Who, body: Body, dt: int = 1000) -> ExecTxResult:
        return self._run([self.c.tx(who, body)], dt)[0]

    @rule(agency=st.integers(0, 1), type_=st.sampled_from(["BID", "PERF", "ADV"]), n=st.integers(0, 3),
          cover=st.integers(1, 200), deadline=st.integers(1, 5))
    def publish(self, agency: int, type_: str, n: int, cover: int, deadline: int) -> None:
        ag = (self.c.agency, self.c.agency2)[agency]
        c = self.c
        r = self._send(ag, PublishRequirement(f"R{n}", "P", "1", type_, 50_000_00, c.now + cover * DAY,
                                              c.now + deadline * DAY if type_ == "BID" else 0, "F"))
        if r.code == 0 and f"{ag.code}:R{n}" not in self.reqs:
            self.reqs.append(f"{ag.code}:R{n}")

    @rule(data=st.data(), bank=st.integers(0, 2), ref=st.integers(0, 6), sup=st.integers(0, 1),
          amount=amounts, expiry=offsets, flags=st.lists(st.booleans(), min_size=4, max_size=4))
    def issue(self, data: st.DataObject, bank: int, ref: int, sup: int, amount: int, expiry: int,
              flags: list[bool]) -> None:
        if not self.reqs:
            return
        req_id = data.draw(st.sampled_from(self.reqs))
        raw = self.c.kv.get(NS_STATE + k_req(req_id))
        assert raw is not None
        req = Requirement.decode(raw)
        fair = data.draw(st.integers(0, 9)) > 0  # mostly well-formed, sometimes adversarial
        signer = (self.c.bank, self.c.bank2, self.c.agency)[bank if not fair else bank % 2]
        replaces = data.draw(st.sampled_from(["", *self.ids])) if (self.ids and not fair) or ref == 0 else ""
        version = req.version if fair else data.draw(st.integers(1, 2))
        type_ = req.type if fair else data.draw(st.sampled_from(["BID", "PERF", "ADV"]))
        if fair:
            amount = max(amount, req.min_amount)
            expiry = max(req.must_cover_until, self.c.now + DAY) + abs(expiry) - self.c.now
        supplier = (self.c.sup, self.c.sup2)[sup].code
        self._send(signer, IssueGuarantee(f"REF{ref}", "", type_, supplier, req_id, version, amount,
                                          self.c.now + expiry, *flags, H, replaces))

    @rule(data=st.data(), action=st.sampled_from(
        ["ack", "refuse", "cancel", "amend", "accept", "reject_amend", "reduce", "demand", "honour",
         "reject_demand", "suspend", "extend", "withdraw", "release", "expire", "obligation"]),
        who=st.integers(0, 6), amount=amounts, when=offsets)
    def act(self, data: st.DataObject, action: str, who: int, amount: int, when: int) -> None:
        if not self.ids:
            return
        want = {"demand": {"ACTIVE"}, "reduce": {"ACTIVE"}, "amend": {"ACTIVE"}, "accept": {"ACTIVE"},
                "honour": {"DEMANDED", "SUSPENDED"}, "reject_demand": {"DEMANDED"}, "suspend": {"DEMANDED"},
                "withdraw": {"DEMANDED", "SUSPENDED"}, "extend": {"SUSPENDED"}}.get(action, LIVE)
        lg_id = self._pick(data, frozenset(want))
        g = self.c.lg(lg_id)
        if data.draw(st.integers(0, 3)) > 0 and g.available > 0:  # mostly a plausible amount
            amount = data.draw(st.integers(1, g.available)) if action == "demand" else \
                data.draw(st.integers(max(1, g.paid + g.pending), g.amount))
        # usually the right party; sometimes anyone (wrong signer)
        right = {"ack": g.beneficiary, "refuse": g.beneficiary, "accept": g.beneficiary,
                 "reject_amend": g.beneficiary, "reduce": g.beneficiary, "demand": g.beneficiary,
                 "withdraw": g.beneficiary, "release": g.beneficiary, "obligation": g.beneficiary}.get(action, g.bank)
        if action == "cancel" and data.draw(st.booleans()):
            right = g.beneficiary
        signer = next(w for w in self.actors if w.code == right) if who < 4 else self.actors[who]
        body: Body = {
            "ack": lambda: Acknowledge(lg_id), "refuse": lambda: Refuse(lg_id, "no"),
            "cancel": lambda: Cancel(lg_id),
            "amend": lambda: ProposeAmendment(lg_id, amount, g.expiry + when, b""),
            "accept": lambda: AcceptAmendment(lg_id), "reject_amend": lambda: RejectAmendment(lg_id),
            "reduce": lambda: Reduce(lg_id, amount, H), "demand": lambda: Demand(lg_id, amount, H, g.expiry + when),
            "honour": lambda: Honour(lg_id), "reject_demand": lambda: RejectDemand(lg_id, ("x",)),
            "suspend": lambda: SuspendDemand(lg_id), "extend": lambda: Extend(lg_id),
            "withdraw": lambda: WithdrawDemand(lg_id), "release": lambda: Release(lg_id),
            "expire": lambda: Expire(lg_id), "obligation": lambda: RecordObligation(lg_id, self.c.now,
                                                                                     g.expiry + when),
        }[action]()
        before = g
        r = self._send(signer, body)
        if action == "demand" and r.code == 0:
            assert self.c.now <= before.expiry  # I2: never a demand after expiry

    @rule(lg=st.data(), amount=amounts)
    def demand_and_release_race(self, lg: st.DataObject, amount: int) -> None:
        if not self.ids:
            return
        if lg.draw(st.integers(0, 3)) > 0:
            return
        g = self.c.lg(self._pick(lg))
        ag = next(w for w in self.actors if w.code == g.beneficiary)
        bodies: list[Body] = [Demand(g.id, amount, H, 0), Release(g.id)]
        if lg.draw(st.booleans()):
            bodies.reverse()
        res = self._run([self.c.tx(ag, b) for b in bodies])
        assert not all(r.code == 0 for r in res) or self.c.lg(g.id).status == "RELEASED"

    @rule(data=st.data(), type_=st.sampled_from(["PERF", "ADV", "BID"]), n=st.integers(1, 8),
          flags=st.lists(st.booleans(), min_size=4, max_size=4))
    def lifecycle(self, data: st.DataObject, type_: str, n: int, flags: list[bool]) -> None:
        """A fresh guarantee driven by its rightful parties through a random walk of transitions."""
        c = self.c
        self._lc = getattr(self, "_lc", 0) + 1
        ag, bank = c.agency, (c.bank, c.bank2)[self._lc % 2]
        req = f"L{self._lc}"
        self._send(ag, PublishRequirement(req, "P", "1", type_, 10_000_00, c.now + 60 * DAY,
                                          c.now + DAY if type_ == "BID" else 0, "F"))
        amount = data.draw(st.integers(10_000_00, 900_000_00))
        r = self._send(bank, IssueGuarantee(f"LC{self._lc}", "", type_, c.sup.code, f"AG1:{req}", 1, amount,
                                            c.now + 90 * DAY, *flags, H, ""))
        lg_id = next(a.value for e in r.events for a in e.attributes if a.key == "id" and e.type == "lg")
        self._send(ag, Acknowledge(lg_id), dt=2 * DAY)
        for _ in range(n):
            g = c.lg(lg_id)
            avail = max(1, g.available)
            step = data.draw(st.sampled_from([
                (ag, Demand(lg_id, data.draw(st.integers(1, avail)), H, g.expiry + 30 * DAY)),
                (ag, Demand(lg_id, avail, H, 0)), (bank, Honour(lg_id)), (bank, RejectDemand(lg_id, ("x",))),
                (bank, SuspendDemand(lg_id)), (bank, Extend(lg_id)), (ag, WithdrawDemand(lg_id)),
                (bank, ProposeAmendment(lg_id, g.amount + 1, g.expiry + 10 * DAY, b"")),
                (ag, AcceptAmendment(lg_id)), (ag, RejectAmendment(lg_id)),
                (ag, Reduce(lg_id, max(1, g.paid + g.pending + (g.available // 2)), b"")),
                (ag, Release(lg_id)), (bank, Cancel(lg_id)), (ag, Cancel(lg_id)),
                (ag, RecordObligation(lg_id, c.now, g.expiry + DAY)),
            ]))
            self._send(step[0], step[1], dt=data.draw(st.sampled_from([1000, DAY, 8 * DAY, 40 * DAY])))

    @rule(data=st.data())
    def acknowledge(self, data: st.DataObject) -> None:
        issued = [i for i in self.ids if self.c.lg(i).status == "ISSUED"]
        if issued:
            g = self.c.lg(data.draw(st.sampled_from(issued)))
            ag = next(w for w in self.actors if w.code == g.beneficiary)
            self._send(ag, Acknowledge(g.id), dt=6 * DAY if g.type == "BID" else 1000)

    @rule(days=st.integers(0, 120))
    def time_passes(self, days: int) -> None:
        self._run([], dt=days * DAY + 1)

    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        if self.sent:
            tx = data.draw(st.sampled_from(self.sent))
            assert self.c.block([tx])[0].code != 0  # a replayed transaction never executes twice

    # ---------------------------------------------------------------- invariants
    def _all(self) -> list[Guarantee]:
        return [Guarantee.decode(v) for _, v in self.c.kv.iterate(prefix=NS_STATE + b"lg/")]

    def _events(self, lg_id: str) -> list[LgEvent]:
        return [LgEvent.decode(v) for _, v in self.c.kv.iterate(prefix=NS_HIST + f"lgev/{lg_id}/".encode())]

    @invariant()
    def invariants(self) -> None:
        if not hasattr(self, "c"):
            return
        gs = self._all()
        live: dict[tuple[str, str, str], list[Guarantee]] = {}
        for g in gs:
            # I1 and I10: integer money, positive amount, never over-drawn
            assert isinstance(g.amount, int) and g.amount > 0 and g.paid >= 0
            assert g.paid + g.pending <= g.amount
            # I2: a pending demand keeps the guarantee out of EXPIRED
            assert (g.demand is not None) == (g.status in ("DEMANDED", "SUSPENDED"))
            if g.status in LIVE:
                live.setdefault((g.requirement, g.applicant, g.type), []).append(g)
            # I7: a BID covers its bid validity; a PERF short of what it must cover is flagged
            if g.type == "BID":
                assert g.expiry >= g.cover_until
            if g.type == "PERF" and g.status in LIVE and g.cover_until > g.expiry:
                assert g.coverage_gap_since > 0
            self._check_history(g)
            old = self.snap.get(g.id)
            if old is not None:
                self._check_change(old, g)
            self.snap[g.id] = g
        # I5: one live guarantee per (requirement, supplier, type), but for a replacement in flight
        for group in live.values():
            if len(group) > 1:
                assert len(group) == 2
                a, b = sorted(group, key=lambda x: x.replaces)
                assert b.replaces == a.id and a.replaced_by == b.id

    def _check_history(self, g: Guarantee) -> None:
        evs = self._events(g.id)
        assert len(evs) == g.events and evs[-1].hash() == g.last_event_hash
        prev, version = b"", 0
        for e in evs:
            assert e.prev_hash == prev and e.version > version  # I9
            prev, version = e.hash(), e.version
            # I8: each transition signed by its role (automatic ones carry no signer)
            bank_key, agency_key = self.keys_of[g.bank], self.keys_of[g.beneficiary]
            if e.kind in BANK_ACTS:
                # the replacement may come from another bank than the one that issued the old guarantee
                assert e.signer == bank_key or (e.kind == "replacement_issued" and e.signer in self.bank_keys)
            elif e.kind in AGENCY_ACTS:
                assert e.signer == agency_key
            elif e.kind in ("reduce", "cancel_consent", "cancel"):
                assert e.signer in (bank_key, agency_key)
        assert version == g.version
        if g.status == "CANCELLED":  # I4: both consented, by different parties
            consent = next(e for e in reversed(evs) if e.kind == "cancel_consent")
            assert consent.signer != evs[-1].signer

    def _check_change(self, old: Guarantee, new: Guarantee) -> None:
        if old.status in TERMINAL:  # I6
            assert new == old
            return
        kinds = {e.kind for e in self._events(new.id)[old.events:]}
        if (new.amount, new.expiry) != (old.amount, old.expiry):  # I3
            assert kinds & TERM_CHANGERS, kinds
        if new.paid != old.paid:
            assert "honour" in kinds and new.paid > old.paid
        assert new.version >= old.version


TestLedger = Ledger.TestCase
TestLedger.settings = settings(max_examples=100, stateful_step_count=50, deadline=None,
                               suppress_health_check=list(HealthCheck))


"""Credit confirmations, supplier rating, registry (tax ids, keys, suspension), debug hashes, workload."""

from __future__ import annotations

import json

import pytest

from state import errors as E
from state.crypto import PrivateKey, address
from state.debug import render, subtree_hashes
from state.kv import MemoryKV
from state.rating import band_days, compute_rating
from state.records import cc_id_of
from state.registry import tax_id_valid, with_check_digit
from state.txs import (
    AddKey,
    ConsumeCredit,
    Demand,
    Honour,
    IssueCredit,
    RecordPerformance,
    RegisterInstitution,
    RegisterSupplier,
    Release,
    RevokeCredit,
    RevokeKey,
    SetInstitutionStatus,
    SetSupplierStatus,
)
from tests.state.harness import DAY, Chain

H = b"\x03" * 32


@pytest.fixture
def c() -> Chain:
    return Chain()


def cc(c: Chain, ref: str = "CC1", **kw: object) -> str:
    args: dict[str, object] = {"ref": ref, "applicant": c.sup.code, "purpose": "BID_QUALIFICATION",
                               "addressee": "AG1", "project": "P1", "amount": 1_000_000_00,
                               "threshold": 250_000_00, "valid_until": 0, "doc_hash": b""}
    args.update(kw)
    r = c.do(c.bank, IssueCredit(**args))  # type: ignore[arg-type]
    assert r.code == 0, r.log
    return cc_id_of("006", ref)


def test_credit_issue_check_consume_once(c: Chain) -> None:
    cc_id = cc(c)
    ok = c.query(f"/cc/check/{c.sup.code}?threshold=25000000&project=P1")["result"]
    assert ok["ok"] and ok["id"] == cc_id
    assert not c.query(f"/cc/check/{c.sup.code}?threshold=25000001")["result"]["ok"]
    assert "amount" not in c.query(f"/cc/{cc_id}")["result"]  # never disclosed
    assert c.do(c.agency2, ConsumeCredit(cc_id, "P1")).code == E.CC_WRONG_ADDRESSEE.code
    assert c.do(c.agency, ConsumeCredit(cc_id, "P2")).code == E.BAD_FIELD.code  # another project
    c.ok(c.agency, ConsumeCredit(cc_id, "P1:bid-7"))
    assert c.do(c.agency, ConsumeCredit(cc_id, "P1:bid-8")).code == E.CC_NOT_USABLE.code
    c.ok(c.bank, RevokeCredit(cc_id, "facility cancelled"))  # a decision taken stays, the risk is shown
    assert c.query(f"/cc/{cc_id}")["result"]["bound_to"] == "P1:bid-7"


def test_credit_expiry_and_revocation(c: Chain) -> None:
    cc_id = cc(c)
    assert c.do(c.bank, IssueCredit("CC1", c.sup.code, "BID_QUALIFICATION", "AG1", "", 1, 1, 0, b"")).code == \
        E.CC_EXISTS.code
    c.block([], dt=91 * DAY)  # 90 days by default
    assert c.query(f"/cc/{cc_id}")["result"]["status"] == "EXPIRED"
    assert c.do(c.agency, ConsumeCredit(cc_id, "P1")).code == E.CC_NOT_USABLE.code
    other = cc(c, "CC2")
    assert c.do(c.bank2, RevokeCredit(other, "x")).code == E.NOT_AUTHORISED.code
    c.ok(c.bank, RevokeCredit(other, "x"))
    assert c.do(c.agency, ConsumeCredit(other, "P1")).code == E.CC_NOT_USABLE.code


def test_credit_preconditions(c: Chain) -> None:
    bad = {"purpose": ("NOPE", E.BAD_PURPOSE), "threshold": (2_000_000_00, E.CC_THRESHOLD),
           "addressee": ("AG9", E.UNKNOWN_INSTITUTION), "amount": (0, E.BAD_AMOUNT),
           "applicant": (with_check_digit("999999999999"), E.UNKNOWN_SUPPLIER)}
    for i, (field, (value, kind)) in enumerate(bad.items()):
        args = {"ref": f"X{i}", "applicant": c.sup.code, "purpose": "EGP_REGISTRATION", "addressee": "CGD",
                "project": "", "amount": 1_000_000_00, "threshold": 1, "valid_until": 0, "doc_hash": b""}
        args[field] = value
        assert c.do(c.bank, IssueCredit(**args)).code == kind.code, field  # type: ignore[arg-type]
    cgd_cc = cc(c, "CGD1", addressee="CGD", project="", purpose="EGP_REGISTRATION")
    c.ok(c.cgd, ConsumeCredit(cgd_cc, "registration-2026-1"))


def test_rating_score_events_and_official_band(c: Chain) -> None:
    lg_id = c.active()
    c.ok(c.agency, Demand(lg_id, 250_000_00, H, 0))
    c.ok(c.bank, Honour(lg_id))
    c.ok(c.cgd, RecordPerformance(c.sup.code, 30, "contract overrun", b""))
    assert c.do(c.cgd, RecordPerformance(c.sup.code, 7, "x", b"")).code == E.BAD_POINTS.code
    assert c.do(c.bank, RecordPerformance(c.sup.code, 5, "x", b"")).code == E.NOT_AUTHORISED.code
    r = c.query(f"/supplier/{c.sup.code}/rating")["result"]
    # honoured PERF: 100 + 200 * 250k / 500k = 200; official 30 points: 300
    assert r["score"] == 500 and r["tier"] == "C"
    assert [e["kind"] for e in r["events"]] == ["HONOURED", "OFFICIAL"]
    assert r["events"][0]["id"].startswith(lg_id)
    assert r["official"]["points"] == 30 and r["official"]["suspension_days"] == 90 and r["official"]["suspended"]
    c.block([], dt=731 * DAY)  # points and events leave the 24-month window
    r = c.query(f"/supplier/{c.sup.code}/rating")["result"]
    assert r["score"] == 1000 and r["events"] == [] and not r["official"]["suspended"]


def test_clean_release_bonus_capped() -> None:
    c = Chain()
    for i in range(12):
        lg_id = c.active(f"REF{i}", f"R{i}")
        c.ok(c.agency, Release(lg_id))
    r = compute_rating(c.kv, c.sup.code, c.now)
    assert r["score"] == 1000 and sum(e["delta"] for e in r["events"]) == 200
    assert band_days(0) == 0 and band_days(9) == 0 and band_days(10) == 30 and band_days(240) == 720


def test_tax_id_check_digit() -> None:
    assert tax_id_valid("3100600112339") is False or tax_id_valid("3100600112339") is True
    tid = with_check_digit("310060011233")
    assert tax_id_valid(tid)
    assert not tax_id_valid(tid[:12] + str((int(tid[12]) + 1) % 10))
    assert not tax_id_valid("12345") and not tax_id_valid("１２３４５６７８９０１２３")


def test_registry_transactions(c: Chain) -> None:
    k = PrivateKey.from_seed(b"\x11" * 32).public_key.raw
    assert c.do(c.bank, RegisterInstitution("BANK", "014", "SCB", (k,))).code == E.NOT_AUTHORISED.code
    assert c.do(c.cgd, RegisterInstitution("BANK", "14", "SCB", ())).code == E.BAD_CODE.code
    c.ok(c.cgd, RegisterInstitution("BANK", "014", "SCB", (k,)))
    assert c.do(c.cgd, RegisterInstitution("BANK", "014", "SCB", ())).code == E.INSTITUTION_EXISTS.code
    assert c.do(c.cgd, RegisterSupplier("0105550000000", "x", ())).code in (0, E.BAD_TAX_ID.code)
    assert c.do(c.cgd, RegisterSupplier("0105550000001", "x", ())).code in (0, E.BAD_TAX_ID.code)
    good = with_check_digit("010555777777")
    c.ok(c.cgd, RegisterSupplier(good, "New Co", ()))
    assert c.do(c.cgd, RegisterSupplier(good, "again", ())).code == E.SUPPLIER_EXISTS.code
    k2 = PrivateKey.from_seed(b"\x12" * 32).public_key.raw
    c.ok(c.agency, AddKey("AGENCY", "AG1", k2))  # an institution adds its own officer key
    assert c.do(c.agency, AddKey("AGENCY", "AG2", k2)).code == E.NOT_AUTHORISED.code
    assert c.do(c.cgd, AddKey("AGENCY", "AG1", k2)).code == E.KEY_EXISTS.code
    c.ok(c.cgd, RevokeKey(k2))
    acct = c.query(f"/account/{address(k2).hex()}")["result"]
    assert acct["active"] is False


def test_suspended_parties_cannot_sign(c: Chain) -> None:
    c.ok(c.cgd, SetInstitutionStatus("BANK", "006", False))
    c.requirement()
    _, r = c.issue()
    assert r.code == E.INSTITUTION_SUSPENDED.code
    c.ok(c.cgd, SetInstitutionStatus("BANK", "006", True))
    c.ok(c.cgd, SetSupplierStatus(c.sup.code, False))
    _, r = c.issue()
    assert r.code == E.SUPPLIER_SUSPENDED.code


def test_debug_subtrees_locate_divergence() -> None:
    a, b = Chain(), Chain()
    for ch in (a, b):
        ch.active()
    ra, rb = subtree_hashes(a.kv), subtree_hashes(b.kv)
    assert ra == rb and ra[0][2] == a.app.app_hash
    trie_root = next(h for n, _, h in ra if n == "trie/")
    assert trie_root == a.app.app_hash
    b.kv.put(b"slg/zzz", b"\x01")  # corrupt one record on one node
    diff = [x[0] for x, y in zip(subtree_hashes(a.kv), subtree_hashes(b.kv), strict=False) if x != y]
    assert diff[0] == "state/lg"
    assert "state/lg" in render(ra)


def test_genesis_validation() -> None:
    from state.abci import Application, RequestInitChain

    app = Application(MemoryKV())
    with pytest.raises(ValueError):
        app.init_chain(RequestInitChain(0, "x", [], json.dumps({"banks": []}).encode()))
    bad = {"registrar": {"code": "CGD", "keys": []}, "suppliers": [{"tax_id": "0105550000000", "keys": []}]}
    if not tax_id_valid("0105550000000"):
        with pytest.raises(ValueError):
            Application(MemoryKV()).init_chain(RequestInitChain(0, "x", [], json.dumps(bad).encode()))
    ok = Application(MemoryKV())
    h1 = ok.init_chain(RequestInitChain(0, "x", [], json.dumps({"registrar": {"code": "CGD"}}).encode())).app_hash
    assert ok.init_chain(RequestInitChain(0, "x", [], b"")).app_hash == h1  # idempotent


def test_workload_mix_and_invalid_share() -> None:
    from state.abci import Application, RequestFinalizeBlock
    from tests.state.replay import init, make_blocks

    wl, blocks = make_blocks(5, 60, 40)
    app = Application(MemoryKV())
    init(app, wl)
    codes: dict[int, int] = {}
    for h, (t, txs) in enumerate(blocks, start=1):
        for r in app.finalize_block(RequestFinalizeBlock(txs, h, t)).tx_results:
            codes[r.code] = codes.get(r.code, 0) + 1
        app.commit()
    total = sum(codes.values())
    rejected = total - codes.get(0, 0)
    assert 0.02 < rejected / total < 0.15, codes
    assert E.INTERNAL.code not in codes
    assert list(make_blocks(5, 3, 10)[1]) == list(make_blocks(5, 3, 10)[1])  # seeded: same traffic


def test_debug_hashes_at_a_past_height() -> None:
    from state.abci import Application, RequestFinalizeBlock, RequestInitChain, ValidatorUpdate
    from state.debug import subtree_hashes_at
    from tests.state.replay import make_blocks

    wl, blocks = make_blocks(3, 12, 20)
    genesis = RequestInitChain(wl.start_ms, wl.chain_id, [ValidatorUpdate(p, w) for p, w in wl.genesis_validators()],
                               json.dumps(wl.genesis_app_state()).encode())
    reqs = [RequestFinalizeBlock(txs, h, t) for h, (t, txs) in enumerate(blocks, start=1)]
    app = Application(MemoryKV())
    app.init_chain(genesis)
    for r in reqs[:7]:
        app.finalize_block(r)
        app.commit()
    at7 = subtree_hashes_at(genesis, reqs, 7)
    assert at7 == subtree_hashes(app.kv) and at7[0] == ("height", 7, app.app_hash)


def test_credit_request_fulfilled_or_declined(c: Chain) -> None:
    from state.txs import DeclineCredit, RequestCredit

    r = c.ok(c.sup, RequestCredit("006", "BID_QUALIFICATION", "AG1", "P1", 25_000_000))
    rid = next(a.value for a in r.events[0].attributes if a.key == "id")
    assert c.query(f"/cc-request/{rid}")["result"]["status"] == "REQUESTED"
    assert c.do(c.bank, RequestCredit("006", "BID_QUALIFICATION", "AG1", "P1", 1)).code == E.NOT_AUTHORISED.code
    assert c.do(c.sup, RequestCredit("006", "NOPE", "AG1", "", 1)).code == E.BAD_PURPOSE.code
    cc_id = cc(c)
    done = c.query(f"/cc-request/{rid}")["result"]
    assert (done["status"], done["cc_id"]) == ("ISSUED", cc_id)
    r2 = c.ok(c.sup, RequestCredit("006", "EGP_REGISTRATION", "CGD", "", 1))
    rid2 = next(a.value for a in r2.events[0].attributes if a.key == "id")
    assert c.do(c.bank2, DeclineCredit(rid2, "no")).code == E.NOT_AUTHORISED.code
    c.ok(c.bank, DeclineCredit(rid2, "no facility"))
    assert c.do(c.bank, DeclineCredit(rid2, "again")).code == E.REQUEST_CLOSED.code
    assert c.query(f"/cc-request/{rid2}")["result"]["status"] == "DECLINED"

"""Property: across any sequence of validator additions, removals and power changes (each approved through the
application, in force two heights later), a certificate taken at any point verifies from the genesis alone,
names every signer's operating bank from the ledger, and an earlier certificate stays genuine at its height."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from state.certificate import Certificate, verify_certificate
from state.certificate_build import build_certificate
from state.certificate_json import parse_anchor
from state.light import valset_hash
from tests.certificates.harness import CHAIN_ID, MiniChain, key

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(min_value=1, max_value=30), st.sampled_from(["006", "002"])),
        st.tuples(st.just("remove"), st.integers(min_value=0, max_value=9), st.just("")),
        st.tuples(st.just("power"), st.integers(min_value=0, max_value=3), st.integers(min_value=1, max_value=30)),
        st.tuples(st.just("blocks"), st.integers(min_value=1, max_value=3), st.just("")),
    ),
    min_size=1, max_size=6,
)


def _certify(chain: MiniChain, lg: str) -> Certificate:
    h, value, proof = chain.prove(lg)
    records = chain.operator_records()
    chain.block()
    anchor = parse_anchor(chain.genesis_doc())
    return build_certificate(chain, CHAIN_ID, lg, value, proof, h, 1, valset_hash(anchor.validators), records)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_certificates_verify_across_random_validator_changes(ops: list[tuple[str, int, object]]) -> None:
    chain = MiniChain(None)
    anchor = parse_anchor(chain.genesis_doc())
    chain.block()
    lg = chain.issue_guarantee()
    first = _certify(chain, lg)
    added: list[tuple[int, str]] = []  # (key number, bank) of validators added and still in the set
    changes = 0
    for i, (op, a, b) in enumerate(ops):
        if op == "add":
            assert isinstance(b, str)
            chain.change_validator(key(500 + i), a, b)
            added.append((500 + i, b))
            changes += 1
        elif op == "remove" and added:
            n, bank = added.pop(a % len(added))
            chain.change_validator(key(n), 0, bank)
            changes += 1
        elif op == "power":
            assert isinstance(b, int)
            chain.change_validator(chain.validator_keys[a], b, "006" if a < 2 else "002")
            changes += 1
        else:
            chain.blocks(a)
        cert = _certify(chain, lg)
        v = verify_certificate(cert, anchor)
        assert v.genuine, (ops[: i + 1], v.reason)
        assert len(cert.changes) <= changes
        assert all(s.bank in ("006", "002") for s in v.signers), v.signers
        assert v.signed_power == v.total_power == sum(x.power for x in chain.validators(cert.height + 1))
    old = verify_certificate(first, anchor, newer=cert)
    assert old.genuine and old.height == first.height
    assert old.newer is not None and not old.newer.changed  # the guarantee itself did not change

"""One real chain for the whole certificate suite (building it costs ~0.3 s; tests only read it).

Story: a performance guarantee is issued and acknowledged (ACTIVE, 500,000.00 THB) → certificate `old` and a
non-inclusion certificate `absent` of an id no bank used, both at the same height; then a fifth validator
joins (approved by both banks, in force two heights later); then the agency presents a partial demand of
100,000.00 THB → certificate `new`, whose chain of trust needs one validator change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from state.certificate import Certificate
from state.certificate_build import build_certificate
from state.certificate_json import parse_anchor
from state.light import TrustAnchor, valset_hash
from state.proofs import StateProof, TrieProof
from state.records import lg_id_of
from tests.certificates.harness import CHAIN_ID, MiniChain, key


@dataclass
class Scenario:
    chain: MiniChain
    anchor: TrustAnchor
    lg_id: str
    absent_id: str
    old: Certificate
    absent: Certificate
    new: Certificate


def certify(chain: MiniChain, anchor: TrustAnchor, lg_id: str, height: int, value: bytes | None,
            proof: TrieProof, records: list[StateProof] | None = None) -> Certificate:
    return build_certificate(chain, CHAIN_ID, lg_id, value, proof, height, anchor.height,
                             valset_hash(anchor.validators), records or [])


@pytest.fixture(scope="session")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    chain = MiniChain(Path(tmp_path_factory.mktemp("certchain")) / "db")
    anchor = parse_anchor(chain.genesis_doc())
    chain.block()
    lg = chain.issue_guarantee()
    absent_id = lg_id_of("006", "NEVER-ISSUED")
    h1, v1, p1 = chain.prove(lg)
    h1b, v1b, p1b = chain.prove(absent_id)
    ops1 = chain.operator_records()
    chain.block()  # header h1 + 1 carries the app hash of the state after h1
    old = certify(chain, anchor, lg, h1, v1, p1, ops1)
    absent = certify(chain, anchor, absent_id, h1b, v1b, p1b)
    chain.change_validator(key(50), 10)
    chain.blocks(3)
    chain.demand(lg, 100_000_00)
    h2, v2, p2 = chain.prove(lg)
    ops2 = chain.operator_records()
    chain.block()
    new = certify(chain, anchor, lg, h2, v2, p2, ops2)
    return Scenario(chain, anchor, lg, absent_id, old, absent, new)

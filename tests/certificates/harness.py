"""A small in-process chain for certificate tests: the real Application on LevelDB, real headers, real commits.

No network and no consensus rounds: each `block(txs)` builds the header of the next height exactly as the node
does (validators_hash / next_validators_hash from the H+2 validator pipeline, app hash of the previous block,
last commit and results hashes), runs FinalizeBlock + Commit on the application, and signs a commit for the
header with the Ed25519 keys of that height's validators (`consensus.sign_bytes`). It is a `ChainSource`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consensus.sign_bytes import vote_sign_bytes
from consensus.types import Vote, VoteType
from consensus.validators import Validator, ValidatorPipeline, ValidatorUpdate
from state.abci import Application, RequestFinalizeBlock, RequestInitChain
from state.abci import ValidatorUpdate as AppValidatorUpdate
from state.chain import (
    FLAG_COMMIT,
    BlockID,
    CommitSig,
    Header,
    PartSetHeader,
    commit_hash,
    results_hash,
    txs_hash,
    validators_hash,
)
from state.crypto import PUBKEY_TYPE, PrivateKey, sha256
from state.kv import KV, MemoryKV
from state.kv_level import LevelKV
from state.light import LightCommit, LightValidator, sorted_valset
from state.proofs import StateProof, TrieProof
from state.records import Validator as Validator_
from state.records import ValidatorProposal, k_inst, k_lg, k_proposal, k_validator, lg_id_of
from state.registry import with_check_digit
from state.store import NS_STATE, NS_TRIE
from state.trie import Trie
from state.txs import (
    Acknowledge,
    ApproveValidator,
    Body,
    Demand,
    IssueGuarantee,
    ProposeValidator,
    PublishRequirement,
    sign_tx,
)

CHAIN_ID = "egp-cert-test"
GENESIS_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
DAY = 86_400_000
SUPPLIER = with_check_digit("010555123456")
AGENCY = "0301"
REQ = f"{AGENCY}:R1"


def key(n: int) -> PrivateKey:
    return PrivateKey.from_seed(sha256(f"cert-test-key-{n}".encode()))


@dataclass
class MiniChain:
    path: Path | None  # None: an in-memory store (property tests that build many chains)
    validator_keys: list[PrivateKey] = field(default_factory=lambda: [key(i) for i in range(4)])
    power: int = 10

    def __post_init__(self) -> None:
        self.registrar, self.bank_a, self.bank_b, self.agency, self.supplier = (key(100 + i) for i in range(5))
        self.keys = {k.address: k for k in self.validator_keys}
        self.nonces: dict[bytes, int] = {}
        self.kv: KV = LevelKV(self.path) if self.path is not None else MemoryKV()
        self.app = Application(self.kv)
        self.app.init_chain(RequestInitChain(GENESIS_MS, CHAIN_ID, [AppValidatorUpdate(k.public_key.raw, self.power)
                                                                    for k in self.validator_keys],
                                             json.dumps(self.app_state()).encode()))
        self.pipeline = ValidatorPipeline.genesis(1, [Validator(k.address, k.public_key.raw, self.power)
                                                      for k in self.validator_keys])
        self.headers: dict[int, Header] = {}
        self.commits: dict[int, LightCommit] = {}
        self.valsets: dict[int, tuple[LightValidator, ...]] = {}
        self.height = 0
        self.time_ms = GENESIS_MS
        self.last_block_id = BlockID.zero()
        self.last_commit_sigs: tuple[CommitSig, ...] = ()
        self.last_results = results_hash([])
        self.absent: set[bytes] = set()  # validators that do not sign the next commits
        self.proposals = 0

    # ------------------------------------------------------------------ genesis
    def app_state(self) -> dict[str, Any]:
        v = [k.public_key.raw.hex() for k in self.validator_keys]
        return {
            "registrar": {"code": "CGD", "name": "Comptroller General's Department",
                          "keys": [self.registrar.public_key.raw.hex()]},
            "banks": [
                {"code": "006", "name": "Krung Thai Bank", "keys": [self.bank_a.public_key.raw.hex()],
                 "validators": v[:2]},
                {"code": "002", "name": "Bangkok Bank", "keys": [self.bank_b.public_key.raw.hex()],
                 "validators": v[2:]},
            ],
            "agencies": [{"code": AGENCY, "name": "Department of Highways",
                          "keys": [self.agency.public_key.raw.hex()]}],
            "suppliers": [{"tax_id": SUPPLIER, "name": "Siam Roads Co.",
                           "keys": [self.supplier.public_key.raw.hex()]}],
        }

    def genesis_doc(self) -> dict[str, Any]:
        names = ["Krung Thai Bank node 1", "Krung Thai Bank node 2", "Bangkok Bank node 1", "Bangkok Bank node 2"]
        return {
            "genesis_time": "2025-01-01T00:00:00Z",
            "chain_id": CHAIN_ID,
            "initial_height": "1",
            "validators": [{"address": k.address.hex().upper(),
                            "pub_key": {"type": PUBKEY_TYPE, "value": base64.b64encode(k.public_key.raw).decode()},
                            "power": str(self.power), "name": names[i]}
                           for i, k in enumerate(self.validator_keys)],
            "app_hash": "",
            "app_state": self.app_state(),
        }

    # ------------------------------------------------------------------ transactions and blocks
    def tx(self, signer: PrivateKey, body: Body) -> bytes:
        n = self.nonces.get(signer.address, 0)
        self.nonces[signer.address] = n + 1
        return sign_tx(signer, CHAIN_ID, n, body)

    def block(self, txs: list[bytes] | None = None) -> list[int]:
        """Produce, execute and sign the next block; returns the tx result codes."""
        txs = txs or []
        h = self.height + 1
        self.time_ms = GENESIS_MS if h == 1 else self.time_ms + 1000
        current = self.pipeline.current
        vals = sorted_valset([LightValidator(v.pub_key, v.power) for v in current.validators])
        header = Header(11, 0, CHAIN_ID, h, self.time_ms, self.last_block_id, commit_hash(self.last_commit_sigs),
                        txs_hash(txs), validators_hash([(v.pub_key, v.power) for v in current.validators]),
                        validators_hash([(v.pub_key, v.power) for v in self.pipeline.next.validators]),
                        sha256(b"consensus-params"), self.app.app_hash, self.last_results, sha256(b""),
                        current.proposer)
        resp = self.app.finalize_block(RequestFinalizeBlock(txs, h, self.time_ms, hash=header.hash(),
                                                            proposer_address=current.proposer))
        self.app.commit()
        sigs = []
        for v in current.validators:
            if v.address in self.absent:
                sigs.append(CommitSig.absent())
                continue
            ts = self.time_ms + 500
            vote = Vote(VoteType.PRECOMMIT, h, 0, header.hash(), v.address, ts)
            sig = self.keys[v.address].sign(vote_sign_bytes(CHAIN_ID, vote))
            sigs.append(CommitSig(FLAG_COMMIT, v.address, ts, sig))
        commit = LightCommit(0, tuple(sigs))
        self.headers[h], self.commits[h], self.valsets[h] = header, commit, vals
        self.height = h
        self.last_block_id = BlockID(header.hash(), PartSetHeader(1, sha256(header.encode())))
        self.last_commit_sigs = commit.signatures
        self.last_results = results_hash([(r.code, r.data) for r in resp.tx_results])
        updates = [ValidatorUpdate(u.pub_key, u.power, sha256(u.pub_key)[:20]) for u in resp.validator_updates]
        self.pipeline = self.pipeline.advance(updates)
        return [r.code for r in resp.tx_results]

    def blocks(self, n: int) -> None:
        for _ in range(n):
            self.block()

    # ------------------------------------------------------------------ ChainSource
    def header(self, height: int) -> Header:
        return self.headers[height]

    def commit(self, height: int) -> LightCommit:
        return self.commits[height]

    def validators(self, height: int) -> tuple[LightValidator, ...]:
        return self.valsets[height]

    # ------------------------------------------------------------------ state reads
    def prove(self, lg_id: str) -> tuple[int, bytes | None, TrieProof]:
        """(height, record or None, proof) of the committed state now: the state after block `height`."""
        k = k_lg(lg_id)
        proof = Trie(self.kv.prefixed(NS_TRIE)).prove(sha256(k))
        return self.height, self.kv.get(NS_STATE + k), proof

    def prove_key(self, k: bytes) -> StateProof:
        return StateProof(k, self.kv.get(NS_STATE + k), Trie(self.kv.prefixed(NS_TRIE)).prove(sha256(k)))

    def operator_records(self) -> list[StateProof]:
        """Proofs, in the committed state now, of who operates the validators signing the next header."""
        out = [self.prove_key(k_validator(v.address)) for v in self.pipeline.current.validators]
        banks = {Validator_.decode(p.value).bank for p in out if p.value is not None}
        return out + [self.prove_key(k_inst("BANK", b)) for b in sorted(banks) if b]

    # ------------------------------------------------------------------ the domain
    def issue_guarantee(self, ref: str = "REF-1", amount: int = 500_000_00) -> str:
        t = self.time_ms
        codes = self.block([self.tx(self.agency, PublishRequirement("R1", "P-2026-001", "1", "PERF", 100_000_00,
                                                                    t + 30 * DAY, 0, "F1"))])
        assert codes == [0], codes
        codes = self.block([self.tx(self.bank_a, IssueGuarantee(ref, "", "PERF", SUPPLIER, REQ, 1, amount,
                                                                t + 60 * DAY, True, True, False, False,
                                                                sha256(b"lg document"), ""))])
        assert codes == [0], codes
        lg_id = lg_id_of("006", ref)
        codes = self.block([self.tx(self.agency, Acknowledge(lg_id))])
        assert codes == [0], codes
        return lg_id

    def demand(self, lg_id: str, amount: int) -> None:
        codes = self.block([self.tx(self.agency, Demand(lg_id, amount, sha256(b"statement"), 0))])
        assert codes == [0], codes

    def change_validator(self, new: PrivateKey, power: int, bank: str = "006") -> None:
        """Registrar proposes, both banks approve: the app returns the update, in force two heights later.

        When the first bank's validators alone hold more than 2/3, its approval applies the change and the
        second approval is refused as too late; either way the proposal must end APPLIED."""
        self.keys[new.address] = new
        codes = self.block([self.tx(self.registrar, ProposeValidator(new.public_key.raw, power, bank))])
        assert codes == [0], codes
        self.proposals += 1
        n = self.proposals
        codes = self.block([self.tx(self.bank_a, ApproveValidator(n)), self.tx(self.bank_b, ApproveValidator(n))])
        assert codes[0] == 0, codes
        raw = self.kv.get(NS_STATE + k_proposal(n))
        assert raw is not None and ValidatorProposal.decode(raw).status == "APPLIED", codes


def sign_commit(header: Header, keys: list[PrivateKey], chain_id: str = CHAIN_ID) -> LightCommit:
    """A commit for `header` signed by `keys` (in address order), as a forger holding those keys makes one."""
    sigs = []
    for k in sorted(keys, key=lambda k: k.address):
        ts = header.time_ms + 500
        vote = Vote(VoteType.PRECOMMIT, header.height, 0, header.hash(), k.address, ts)
        sigs.append(CommitSig(FLAG_COMMIT, k.address, ts, k.sign(vote_sign_bytes(chain_id, vote))))
    return LightCommit(0, tuple(sigs))

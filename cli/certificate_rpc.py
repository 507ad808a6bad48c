"""Fetching a certificate's parts from a node's CometBFT-style JSON-RPC (docs/cometbft.md §4).

`RpcChainSource` turns the node's `header`, `commit` and `validators` answers back into the chain records
(`state.chain.Header`, `state.light.LightCommit`, `state.light.LightValidator`). Nothing the node sends is
trusted: a conversion that lost a bit would change the header hash and the certificate would fail its own
verification, which `fetch_certificate` runs before anything is written.

The guarantee's record and its proof come from `abci_query` path `/lg/<id>` with `prove=true`: one ProofOp
of type "egp/trie" whose data is a `state.proofs.StateProof` (key, exact record bytes or None, trie proof)
for the state after block `height`; its app hash is in header `height + 1`, so we wait for that header.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from typing import Any

from cli.errors import InputError, NodeError
from cli.rpc_client import RpcClient, RpcError, to_int
from state.certificate import Certificate, verify_certificate
from state.certificate_build import BuildError, build_certificate
from state.certificate_json import TrustError, parse_anchor, parse_rfc3339_ms
from state.certificate_records import record_keys
from state.chain import FLAG_ABSENT, BlockID, CommitSig, Header, PartSetHeader
from state.codec import DecodeError
from state.light import LightCommit, LightValidator, TrustAnchor, valset_hash
from state.proofs import StateProof
from state.records import Validator, k_inst, k_lg

PROOF_TYPE = "egp/trie"


class _Bad(ValueError):
    pass


def _hex(d: Mapping[str, Any], name: str) -> bytes:
    v = d.get(name)
    if not isinstance(v, str):
        raise _Bad(f"{name} is missing")
    try:
        return bytes.fromhex(v)
    except ValueError:
        raise _Bad(f"{name} is not hex") from None


def _b64(v: object, name: str) -> bytes:
    if not isinstance(v, str):
        raise _Bad(f"{name} is missing")
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise _Bad(f"{name} is not base64") from None


def _ms(text: object, name: str) -> int:
    if not isinstance(text, str):
        raise _Bad(f"{name} is missing")
    frac = text.rsplit(".", 1)[1].rstrip("Zz") if "." in text else ""
    if len(frac) > 3 and frac[3:].strip("0"):
        raise _Bad(f"{name} {text} has sub-millisecond digits; egp-chain times are milliseconds")
    try:
        return parse_rfc3339_ms(text)
    except ValueError as exc:
        raise _Bad(f"{name}: {exc}") from None


def _block_id(d: object) -> BlockID:
    if not isinstance(d, Mapping) or not isinstance(d.get("parts"), Mapping):
        raise _Bad("block id is malformed")
    return BlockID(_hex(d, "hash"), PartSetHeader(to_int(d["parts"].get("total")), _hex(d["parts"], "hash")))


def header_from_json(d: object) -> Header:
    """CometBFT JSON header → `state.chain.Header` (the inverse of the RPC's encoding)."""
    try:
        if not isinstance(d, Mapping):
            raise _Bad("not an object")
        raw_version = d.get("version")
        version: Mapping[str, Any] = raw_version if isinstance(raw_version, Mapping) else {}
        return Header(
            to_int(version.get("block"), -1), to_int(version.get("app"), 0), str(d.get("chain_id", "")),
            to_int(d.get("height"), -1), _ms(d.get("time"), "time"), _block_id(d.get("last_block_id")),
            _hex(d, "last_commit_hash"), _hex(d, "data_hash"), _hex(d, "validators_hash"),
            _hex(d, "next_validators_hash"), _hex(d, "consensus_hash"), _hex(d, "app_hash"),
            _hex(d, "last_results_hash"), _hex(d, "evidence_hash"), _hex(d, "proposer_address"))
    except (_Bad, ValueError, TypeError) as exc:
        raise NodeError(f"the node sent a malformed header: {exc}") from None


def commit_from_json(d: object) -> LightCommit:
    try:
        if not isinstance(d, Mapping) or not isinstance(d.get("signatures"), list):
            raise _Bad("not a commit")
        sigs = []
        for i, s in enumerate(d["signatures"]):
            if not isinstance(s, Mapping):
                raise _Bad(f"signature {i} is not an object")
            flag = to_int(s.get("block_id_flag"), 0)
            if flag == FLAG_ABSENT:
                sigs.append(CommitSig.absent())
                continue
            sigs.append(CommitSig(flag, _hex(s, "validator_address"), _ms(s.get("timestamp"), "timestamp"),
                                  _b64(s.get("signature"), "signature")))
        return LightCommit(to_int(d.get("round"), -1), tuple(sigs))
    except (_Bad, ValueError, TypeError) as exc:
        raise NodeError(f"the node sent a malformed commit: {exc}") from None


def validators_from_json(items: object) -> tuple[LightValidator, ...]:
    try:
        if not isinstance(items, list) or not items:
            raise _Bad("no validators")
        out = []
        for v in items:
            if not isinstance(v, Mapping) or not isinstance(v.get("pub_key"), Mapping):
                raise _Bad("a validator has no pub_key")
            out.append(LightValidator(_b64(v["pub_key"].get("value"), "pub_key"),
                                      to_int(v.get("voting_power", v.get("power")), 0)))
        return tuple(sorted(out, key=lambda x: x.address))
    except (_Bad, ValueError, TypeError) as exc:
        raise NodeError(f"the node sent a malformed validator set: {exc}") from None


class RpcChainSource:
    """`state.certificate_build.ChainSource` over a node's JSON-RPC."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client

    def header(self, height: int) -> Header:
        res = self.client.call("header", height=str(height))
        return header_from_json(res.get("header") if isinstance(res, Mapping) else None)

    def commit(self, height: int) -> LightCommit:
        res = self.client.call("commit", height=str(height))
        sh = res.get("signed_header") if isinstance(res, Mapping) else None
        return commit_from_json(sh.get("commit") if isinstance(sh, Mapping) else None)

    def validators(self, height: int) -> tuple[LightValidator, ...]:
        return validators_from_json(self.client.validators(height).get("validators"))


def _proof_of(resp: Mapping[str, Any], what: str) -> tuple[int, StateProof]:
    ops = resp.get("proof_ops")
    ops = ops.get("ops") if isinstance(ops, Mapping) else None
    op = next((o for o in ops or [] if isinstance(o, Mapping) and o.get("type") == PROOF_TYPE), None)
    if op is None:
        log = resp.get("log") or "no proof in the answer"
        raise NodeError(f"the node gave no proof for {what}: {log}")
    try:
        sp = StateProof.decode(_b64(op.get("data"), "proof data"))
    except (_Bad, DecodeError) as exc:
        raise NodeError(f"the node's proof for {what} is malformed: {exc}") from None
    height = to_int(resp.get("height"), 0)
    if height <= 0:
        raise NodeError("the node's proof has no height (has the chain produced a block yet?)")
    return height, sp


def query_state_proof(client: RpcClient, lg_id: str) -> tuple[int, StateProof]:
    """(height, StateProof) of guarantee `lg_id` in the node's latest committed state."""
    height, sp = _proof_of(client.abci_query(f"/lg/{lg_id}", prove=True), f"guarantee {lg_id}")
    if sp.key != k_lg(lg_id):
        raise NodeError(f"the node proved key {sp.key!r}, not guarantee {lg_id}")
    return height, sp


def query_operator_records(client: RpcClient, height: int, addresses: list[bytes]) -> list[StateProof] | None:
    """Proofs of `val/<address>` and of the banks they name, all at `height`; None when the chain moved on."""
    out: list[StateProof] = []

    def prove(key: bytes) -> bool:
        h, sp = _proof_of(client.abci_query("/store", key, prove=True), f"state key {key!r}")
        if h != height or sp.key != key:
            return False
        out.append(sp)
        return True

    for key in record_keys(addresses):
        if not prove(key):
            return None
    banks = sorted({v.bank for v in _validators_of(out)} - {""})
    for code in banks:
        if not prove(k_inst("BANK", code)):
            return None
    return out


def _validators_of(proofs: list[StateProof]) -> list[Validator]:
    vals = []
    for p in proofs:
        if p.value is not None:
            try:
                vals.append(Validator.decode(p.value))
            except DecodeError:
                continue
    return vals


def query_consistent(client: RpcClient, lg_id: str, attempts: int = 5) -> tuple[int, StateProof, list[StateProof]]:
    """The guarantee's proof and the signing banks' records from one state (the node serves the latest only,
    so a block committed between the queries means asking again)."""
    for _ in range(attempts):
        height, sp = query_state_proof(client, lg_id)
        try:
            addrs = [v.address for v in RpcChainSource(client).validators(height)]
            records = query_operator_records(client, height, addrs)
        except NodeError:
            records = []  # the banks' names are a courtesy; the certificate does not need them
        if records is not None:
            return height, sp, records
    return height, sp, []


def node_anchor(client: RpcClient) -> TrustAnchor:
    res = client.call("genesis")
    try:
        return parse_anchor(res.get("genesis") if isinstance(res, Mapping) else None)
    except TrustError as exc:
        raise NodeError(f"the node's genesis cannot serve as a trust anchor: {exc}") from None


def wait_for_header(client: RpcClient, height: int, wait_s: float) -> None:
    """Header `height` carries the app hash of the proven state; it exists once the next block is committed."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            client.call("header", height=str(height))
            return
        except RpcError:
            if time.monotonic() >= deadline:
                raise NodeError(f"block {height}, which carries the app hash of the proven state, was not "
                                f"committed within {wait_s:g} s; try again once the chain has moved on") from None
            time.sleep(0.25)


def fetch_certificate(client: RpcClient, lg_id: str, anchor: TrustAnchor | None = None,
                      wait_s: float = 30.0) -> tuple[Certificate, TrustAnchor]:
    """Build the certificate of `lg_id` from the node and check it against `anchor` (default: the node's genesis)."""
    height, sp, records = query_consistent(client, lg_id)
    anchor = anchor if anchor is not None else node_anchor(client)
    wait_for_header(client, height + 1, wait_s)
    src = RpcChainSource(client)
    try:
        cert = build_certificate(src, anchor.chain_id, lg_id, sp.value, sp.proof, height, anchor.height,
                                 valset_hash(anchor.validators), records)
    except BuildError as exc:
        raise InputError(f"cannot build the certificate: {exc}") from None
    verdict = verify_certificate(cert, anchor)
    if not verdict.genuine:
        raise NodeError(f"the node's data does not verify against the trusted genesis: {verdict.reason}")
    return cert, anchor

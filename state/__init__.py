"""The e-GP application: what the banks agree on, behind an ABCI++ (CometBFT 0.38) boundary.

Theory of operation
- `abci.Application(kv)` is the only entry point for the node: check_tx on a separate check state,
  prepare/process_proposal, finalize_block on an in-memory overlay, commit in one atomic batch, query.
- `txs` is the signed envelope the wallet shares; `execute` authenticates (key, signature, sequence
  number) and dispatches each body to a pure domain function of (context, body): `registry`,
  `issuance`, `guarantees`, `demands` (the e-LG lifecycle T1-T16), `credit`, `rating`, `validators`.
  They read and write records (`records`) through a `store.Ctx` and raise `errors.TxError` to refuse.
- Every record is a leaf of the Merkle trie (`trie`, `proofs`): the app hash is its root, updated once
  per block; `proofs.verify_proof` checks inclusion and non-inclusion against an app hash alone.
- Time is block time (ms, UTC) with calendar rules in Asia/Bangkok (`calendar`); money is integer
  satang; no clock, randomness or floats reach the state (`workload`, the traffic generator, is the one
  module with a seeded `random.Random`, and it is not consensus code).
- Foundation (lead's): `codec` (canonical msgpack, Record), `crypto`, `merkle`, `kv`, `kv_level`.
"""

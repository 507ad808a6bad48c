"""A one-validator home and a registrar's stream of supplier registrations, for tests of one real node.

The registrar signs consecutive sequence numbers, so any reordering on the way into check_tx shows as a
refusal (108); each test module passes its own chain id, seed and tax-id prefix so runs never collide.
"""

from __future__ import annotations

from pathlib import Path

from node.config import Config
from node.home import init_home
from state.crypto import PrivateKey, sha256
from state.registry import with_check_digit
from state.txs import RegisterSupplier, sign_tx


def solo_home(root: Path, chain_id: str, registrar: PrivateKey, *, rpc: bool) -> Path:
    cfg = Config()
    cfg.p2p.laddr = "tcp://127.0.0.1:0"
    cfg.rpc.laddr = "tcp://127.0.0.1:0" if rpc else ""
    cfg.blocksync.enable = False
    init_home(root, moniker="bank-a", chain_id=chain_id, config=cfg, registrar_pub=registrar.public_key.raw)
    return root


def supplier_txs(registrar: PrivateKey, chain_id: str, n: int, start: int, *, tax_prefix: str,
                 key_seed: bytes) -> list[bytes]:
    def key(i: int) -> bytes:
        return PrivateKey.from_seed(sha256(key_seed + i.to_bytes(4, "big"))).public_key.raw

    return [sign_tx(registrar, chain_id, i,
                    RegisterSupplier(with_check_digit(f"{tax_prefix}{i:08d}"), f"Supplier {i}", (key(i),)))
            for i in range(start, start + n)]

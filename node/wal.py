"""The consensus write-ahead log: every proposal and vote the core handled at the current height.

Why the node needs one (CometBFT keeps one for the same reason): the core's round state — above all
`lockedValue/lockedRound` (paper L36-L43) — exists only in memory. A validator that restarts mid-height
without it could prevote in a later round against its lock, which is exactly what Tendermint's safety
argument forbids. The signer guard only stops *conflicting signatures for one (height, round, step)*; it
cannot restore a lock. It would also leave the node unable to vote again in the round it crashed in
(the guard refuses the different vote a fresh core would make), so a network where several validators
restarted together could stall. Replaying the height's messages through the core on start rebuilds the
lock, the valid value and the step; our own earlier votes go out again (the guard returns the same
signature for the same vote).

Records are the wire messages (`ProposalMsg` with its block, `VoteMsg`), keyed by height and sequence in
the node's LevelDB namespace. CometBFT's contract: our own messages are written with `sync=True` before they
are broadcast (its `WriteSync`); peers' messages without fsync (its `Write`: losing a tail of them costs
nothing, peers resend). LevelDB has one log, so a synced append also makes every earlier unsynced record
durable: whatever peers' messages we acted on before signing survive with our vote, as CometBFT's WriteSync
flushes the buffered Writes before it (one caveat: when LevelDB flushes its memtable it starts a new log
without syncing the old one, whose records are durable only once the flushed table is written, a fraction
of a second later; a power failure in that window can lose peers' records older than our synced one; our
own records are never lost). Two things rely on our own records being there once a message left
the node: the lock rebuilt by replay, and the signer guard (`FilePV.recover` at start takes back a
signature whose state-file rename a power failure lost, node/privval.py). A record is only ever read back
through `decode_message`, so a torn or corrupt value is skipped, never fatal (pain point 6). Entries of
finished heights are deleted when the next height starts.
"""

from __future__ import annotations

import struct

from node.messages import decode_message
from state.codec import DecodeError, Record
from state.kv import KV

_KEY = struct.Struct(">QI")


class ConsensusWAL:
    def __init__(self, kv: KV) -> None:
        self.kv = kv
        self._height = 0
        self._seq = 0

    def start_height(self, height: int) -> None:
        """Forget every finished height; continue numbering after what is stored for `height`.

        The next height after one this object scanned or started holds nothing yet and the one left holds
        exactly the records numbered 0 .. seq-1 (only this object writes the WAL, and only at its height), so
        those are deleted by key, without the two LevelDB scans per height of the general case."""
        if height == self._height:
            return
        if self._height and height == self._height + 1:
            b = self.kv.batch()
            for seq in range(self._seq):
                b.delete(_KEY.pack(self._height, seq))
            b.commit(sync=False)
            self._height, self._seq = height, 0
            return
        b = self.kv.batch()
        for k, _ in self.kv.iterate(stop=_KEY.pack(height, 0)):
            b.delete(k)
        b.commit(sync=False)
        self._height = height
        last = next(self.kv.iterate(prefix=_KEY.pack(height, 0)[:8], reverse=True), None)
        self._seq = 0 if last is None else _KEY.unpack(last[0])[1] + 1

    def append(self, height: int, msg: Record, *, sync: bool) -> None:
        if height != self._height:
            return
        b = self.kv.batch()
        b.put(_KEY.pack(height, self._seq), msg.encode())
        b.commit(sync=sync)
        self._seq += 1

    def replay(self, height: int) -> list[Record]:
        out: list[Record] = []
        for _, v in self.kv.iterate(prefix=_KEY.pack(height, 0)[:8]):
            try:
                out.append(decode_message(v))
            except DecodeError:
                continue
        return out

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

Peers' records are held in memory and written with our next synced record, in the same batch and ahead of it
(CometBFT's `Write` goes to a buffered writer that its `WriteSync` flushes first: the same contract). Why: each
was a LevelDB write of its own (a batch, a `write` syscall, the log's bookkeeping) ~7 times a height, and the
precommits that arrive after ours were written only to be deleted when the height ended; now a height's
records cost one write per own message (twice or three times a height), and a held record of a finished height
is never written at all. What a crash can observe is unchanged where it matters: every record we acted on before
signing is in the batch that makes our signed message durable, in the order we handled them, before the message
leaves the node. Only an unsynced tail is lost to a process kill now (before, to a power failure): peers' messages
after our last own one, which peers resend. The deletes of the finished height ride in that same batch too (a
crash before it leaves them behind: `start_height` after a restart scans them away, as before). The held records
are bounded (`HOLD_MAX`: past it they are written unsynced, as before); `replay` returns them after the stored
ones, so re-entering consensus at the same height still sees every message of it. Stored format unchanged.

The signer's state rides in the batch of our own synced records (`append(..., signer_state=...)`, key
`SIGNER_KEY`, the state file's JSON text, overwritten by each signature and never deleted): one synced write
per signature instead of the WAL's and the signer state file's two (node/privval.py, "Journaled mode", says
why CometBFT's rule still holds). The key sorts above every record key (a height's keys start with its 8
big-endian bytes, below 0x80), so neither the scans of `start_height` and `replay` nor an older binary's ever
meet it; a home without it reads None.
"""

from __future__ import annotations

import itertools
import struct

from node.messages import decode_message
from state.codec import DecodeError, Record
from state.kv import KV

_KEY = struct.Struct(">QI")


HOLD_MAX = 256  # peers' records held for the next synced write; past it they are written unsynced
SIGNER_KEY = b"\xffsigner-state"  # the signer's last state (node/privval.py), above every record key


class ConsensusWAL:
    def __init__(self, kv: KV) -> None:
        self.kv = kv
        self._height = 0
        self._seq = 0  # the next sequence number to store at `_height` (held records get theirs when written)
        self._held: list[bytes] = []  # peers' records of `_height` not written yet, in arrival order
        self._stale: list[bytes] = []  # keys of a finished height, deleted with the next write

    def start_height(self, height: int) -> None:
        """Forget every finished height; continue numbering after what is stored for `height`.

        The next height after one this object scanned or started holds nothing yet and the one left holds
        exactly the records numbered 0 .. seq-1 (only this object writes the WAL, and only at its height), so
        those are deleted by key, without the two LevelDB scans per height of the general case, and in the
        next write's batch rather than a write of their own. Held records of the height left are dropped."""
        if height == self._height:
            return
        self._held.clear()
        if self._height and height == self._height + 1:
            self._stale.extend(_KEY.pack(self._height, seq) for seq in range(self._seq))
            if len(self._stale) > HOLD_MAX:  # (a node that leaves heights without writing: keep it bounded)
                self._write(sync=False)
            self._height, self._seq = height, 0
            return
        b = self.kv.batch()
        for k in self._stale:
            b.delete(k)
        self._stale.clear()
        for k, _ in self.kv.iterate(stop=_KEY.pack(height, 0)):
            b.delete(k)
        b.commit(sync=False)
        self._height = height
        last = next(self.kv.iterate(prefix=_KEY.pack(height, 0)[:8], reverse=True), None)
        self._seq = 0 if last is None else _KEY.unpack(last[0])[1] + 1

    def append(self, height: int, msg: Record, *, sync: bool, signer_state: bytes | None = None) -> bool:
        """Our own message (`sync=True`): stored and fsynced, with every held record ahead of it and
        `signer_state` (the signer's new state, if any) in the same batch, before the caller sends it. A peer's
        (`sync=False`): held until then (see the module docstring). True when a synced write stored it (False:
        another height's message, not stored; the caller makes `signer_state` durable itself)."""
        if height != self._height:
            return False
        self._held.append(msg.encode())
        if sync or len(self._held) >= HOLD_MAX:
            self._write(sync=sync, signer_state=signer_state if sync else None)
            return sync
        return False

    def signer_state(self) -> bytes | None:
        """The signer state stored with our last synced record (None in a home written before it)."""
        return self.kv.get(SIGNER_KEY)

    def flush(self) -> None:
        """Write what is held, unsynced (a clean stop: a restart at this height then replays peers' messages
        too, as before, instead of waiting for peers to resend them)."""
        if self._held or self._stale:
            self._write(sync=False)

    def _write(self, *, sync: bool, signer_state: bytes | None = None) -> None:
        b = self.kv.batch()
        for k in self._stale:
            b.delete(k)
        seq, height = self._seq, self._height
        for raw in self._held:
            b.put(_KEY.pack(height, seq), raw)
            seq += 1
        if signer_state is not None:
            b.put(SIGNER_KEY, signer_state)
        b.commit(sync=sync)
        self._seq = seq
        self._held.clear()
        self._stale.clear()

    def replay(self, height: int) -> list[Record]:
        """The stored records of `height` in order, then those still held (the current height's only). A height
        below the one started is finished: nothing (its keys may still wait for the next write's deletes)."""
        out: list[Record] = []
        if height < self._height:
            return out
        held = self._held if height == self._height else []
        for v in itertools.chain((v for _, v in self.kv.iterate(prefix=_KEY.pack(height, 0)[:8])), held):
            try:
                out.append(decode_message(v))
            except DecodeError:
                continue
        return out

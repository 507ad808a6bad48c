"""The peer protocol's envelope: the plaintext of a frame is ``channel (1 byte) ‖ flags (1 byte) ‖ data``.

Why a module of its own: the peer (node/p2p/peer.py), its callback reader (peer_read.py) and its writer
(peer_write.py) all speak it; `node.p2p.peer` re-exports every name here. The rules are in peer.py's docstring.
"""

from __future__ import annotations

from node.p2p.errors import P2PError

GOODBYE = 0x01
EOF = 0x01
PACKET_DATA = 64 * 1024  # data bytes of one packet: a protocol constant (the receiver's frame limit)
MAX_PACKET_PLAINTEXT = PACKET_DATA + 2
FRAME_OVERHEAD = 4 + 16 + 2  # header, AEAD tag, channel and flags: counted against the queue budget
MAX_REASON = 200


class ProtocolError(P2PError):
    """A well-authenticated frame whose envelope breaks the rules (unknown channel, bad control message)."""

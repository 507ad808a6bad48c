"""Authenticated, encrypted TCP transport between bank nodes (issue 5, deliverable 1).

Theory of operation
-------------------
Every node has a node key (``config/node_key.json``, Ed25519); its node ID is ``state.crypto.node_id`` of
the public key (40 hex characters), as in CometBFT. A connection is a TCP stream on which both ends run a
symmetric handshake (``secret.py``): an ephemeral X25519 exchange, session keys derived with libsodium's
BLAKE2b KDF, and a signature of the session's challenge with each node key. After it, the remote node ID
is authenticated and every frame is sealed with ChaCha20-Poly1305 under a per-direction counter nonce.

The service (``P2P``, ``transport.py``) then admits the connection only if the ID is allowed (the IDs in
``P2PConfig.allowed_peer_ids`` plus those of ``persistent_peers``: empty allow-list = persistent peers
only; this is a permissioned network, there is no "allow all"), is not ourselves, is the ID we dialled,
claims the same network (chain ID), and is not a duplicate. Persistent peers are redialled forever with
capped exponential backoff and jitter. Of two connections between the same two nodes (they dialled each
other at once), both ends keep the one dialled by the lower node ID; of two in the same direction, the
newer (the peer restarted). Logs go to the ``egp.p2p`` logger with key/values in ``record.kv``.

Messages are multiplexed on channels 1..255 (0 is the transport's keepalive/goodbye channel), each
declared up front with a ``ChannelSpec`` (priority, per-peer queue budget). Sending never blocks: ``send``
and ``broadcast`` queue and return whether the peer's queue took the message. Received messages, and peer
up/down notifications, come out of one async queue, ``await p2p.recv()``, in order per peer:
``PeerUp`` → its ``Message``s → ``PeerDown``. If the consumer is slow, readers wait (TCP backpressure).

On the wire a message is cut into packets of at most 64 KiB (``peer.PACKET_DATA``), taken from the
channels by weighted round robin, so a vote is never stuck behind a whole block; the receiver reassembles.

Strict decoding: a frame that fails authentication, exceeds one packet (checked from the header, before
the body is read), a message that grows beyond ``max_frame_bytes``, a short envelope, unknown flags or an
unknown channel drops that peer (logged with the reason, and a goodbye frame tells the peer why), never the
node. Payloads are opaque bytes here; the upper layer
decodes them (``state.codec``) and calls ``disconnect(peer_id, reason)`` when a payload is garbage.

Use::

    p2p = P2P(node_key, P2PConfig(listen="0.0.0.0:26656", network=chain_id, moniker="bank-a",
                                  persistent_peers=parse_peers("id@host:26656,..."),
                                  allowed_peer_ids=frozenset({...})),
              channels={0x20: ChannelSpec(priority=5), 0x22: ChannelSpec(priority=10), 0x30: ChannelSpec()})
    await p2p.start()                      # binds; p2p.listen_address gives the real port (port 0 in tests)
    p2p.send(peer_id, 0x22, vote_bytes)    # -> bool
    p2p.broadcast(0x30, tx_bytes, exclude={origin})   # -> number of peers that took it
    ev = await p2p.recv()                  # PeerUp(peer: PeerInfo) | Message(peer_id, channel, payload)
                                           # | PeerDown(peer_id, reason)
    p2p.peers()                            # [PeerInfo(node_id, outbound, remote_host, remote_port, node_info,
                                           #   persistent, connected_at, counters...)] for net_info
    p2p.stats()                            # P2PStats totals for /metrics (refusals, drops, bytes)
    p2p.disconnect(peer_id, "undecodable vote")   # the peer's log gets the reason (goodbye frame)
    p2p.set_allowed(ids)                   # replace allowed_peer_ids at run time; drops peers no longer allowed
    p2p.dial(PeerAddress.parse("id@host:port"))   # add a persistent peer at run time (RPC dial_peers)
    await p2p.stop()

Limits (all in ``P2PConfig``): ``max_frame_bytes`` (default 4 MiB) bounds one message and should be equal
on all nodes (a larger message drops the sender); ``send`` raises ValueError for a larger payload.
Per peer and channel, ``ChannelSpec.send_queue_bytes`` bounds unsent bytes; ``inbox_size`` /
``inbox_bytes`` bound what waits for ``recv``. A peer silent for ``idle_timeout`` (we send
keepalives every ``keepalive_interval``) or whose socket does not drain for ``write_timeout`` is dropped.

``send_rate`` / ``recv_rate`` (bytes/s per peer, 0 = unlimited) pace a peer like CometBFT's flow rates.

Not here: peer exchange and seed nodes (not wanted on a permissioned network), per-IP connection limits.
"""

from node.p2p.config import (
    CONTROL_CHANNEL,
    AddressError,
    ChannelSpec,
    P2PConfig,
    PeerAddress,
    parse_host_port,
    parse_peers,
)
from node.p2p.errors import ConnectionClosed, FrameError, HandshakeError, P2PError
from node.p2p.events import Event, Message, P2PStats, PeerDown, PeerUp, backoff_delay
from node.p2p.peer import PeerInfo
from node.p2p.secret import NodeInfo
from node.p2p.transport import P2P

__all__ = [
    "CONTROL_CHANNEL",
    "P2P",
    "AddressError",
    "ChannelSpec",
    "ConnectionClosed",
    "Event",
    "FrameError",
    "HandshakeError",
    "Message",
    "NodeInfo",
    "P2PConfig",
    "P2PError",
    "P2PStats",
    "PeerAddress",
    "PeerDown",
    "PeerInfo",
    "PeerUp",
    "backoff_delay",
    "parse_host_port",
    "parse_peers",
]

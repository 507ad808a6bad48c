"""Errors of the transport: each is about a connection (a peer's fault or the network), never our own bug."""

from __future__ import annotations


class P2PError(Exception):
    """Base of every error the transport raises about a connection (never about our own bugs)."""


class HandshakeError(P2PError):
    """The peer did not complete a valid handshake (bad magic, bad key, bad signature, timeout...)."""


class FrameError(P2PError):
    """A frame failed to authenticate, or exceeds the size limit: the connection cannot continue."""


class ConnectionClosed(P2PError):
    """The peer closed the TCP connection (possibly in the middle of a frame)."""

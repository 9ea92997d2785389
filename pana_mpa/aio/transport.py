"""The datagram Transport protocol the asyncio layer drives, and its push-style variant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..address import PANA_PORT, Address, format_address, parse_address

__all__ = [
    "PANA_PORT",
    "Address",
    "DatagramSink",
    "PushTransport",
    "Transport",
    "TransportClosed",
    "format_address",
    "parse_address",
]


class TransportClosed(Exception):
    """recvfrom() on a transport that was closed (before or while waiting)."""


class Transport(Protocol):
    """Unreliable datagrams: sendto() never blocks and may drop."""

    def sendto(self, data: bytes, addr: Address) -> None:
        """Queue one datagram to ``addr``; never blocks; may drop it."""
        ...

    async def recvfrom(self) -> tuple[bytes, Address]:
        """The next datagram and its source; raise TransportClosed once closed."""
        ...

    def close(self) -> None:
        """Release the endpoint; pending and later recvfrom() calls raise TransportClosed."""
        ...


class DatagramSink(Protocol):
    """What a PushTransport calls from the event loop (aioquic's ``datagram_received``)."""

    def receive_batch(self, batch: Sequence[tuple[bytes, Address]]) -> None:
        """Every datagram the transport read in one go (the backlog it found), in order."""
        ...

    def transport_closed(self) -> None:
        """The transport was closed; nothing more will arrive."""
        ...


@runtime_checkable
class PushTransport(Transport, Protocol):
    """A Transport that can hand datagrams straight to a sink: no queue, no task per datagram.

    While a sink is attached, recvfrom() is not used; datagrams queued before ``attach`` are
    handed over first. ``detach()`` goes back to queueing for recvfrom().
    """

    def attach(self, sink: DatagramSink) -> None:
        """Deliver every later datagram to ``sink`` (one sink at a time)."""
        ...

    def detach(self) -> None:
        """Stop delivering to the sink."""
        ...

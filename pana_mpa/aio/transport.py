"""The datagram Transport protocol the asyncio layer drives."""

from __future__ import annotations

from typing import Protocol

from ..address import PANA_PORT, Address, format_address, parse_address

__all__ = [
    "PANA_PORT",
    "Address",
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

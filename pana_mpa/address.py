"""Peer addresses: the Address type, the PANA port and text forms (RFC 5191 s1.4)."""

from __future__ import annotations

import ipaddress
import logging

__all__ = [
    "ANY_HOST",
    "PANA_PORT",
    "Address",
    "format_address",
    "parse_address",
]

logger = logging.getLogger(__name__)

Address = tuple[str, int]
"""An IP literal and a UDP port; IPv6 addresses carry no brackets."""

PANA_PORT = 716
"""The IANA-assigned PANA port (RFC 5191 s1.4, s11)."""


ANY_HOST = "0.0.0.0"  # noqa: S104 - the meaning of ":PORT" (all IPv4 addresses)
"""The host of ``:PORT``: every local IPv4 address (``[::]:PORT`` is every address, IPv6 too)."""


def parse_address(
    text: str, *, default_port: int = PANA_PORT, default_host: str = ANY_HOST
) -> Address:
    """Parse ``HOST``, ``HOST:PORT``, ``:PORT``, ``[V6]:PORT`` or a bare IPv6 literal.

    HOST must be an IP literal (resolving names could block); an IPv6 link-local address may
    carry its zone (``fe80::1%eth0``, RFC 4007 s11). ``:PORT`` means ``default_host``.
    Raise ValueError otherwise.
    """
    text = text.strip()
    host: str
    port_text: str | None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"unbalanced '[' in address {text!r}")
        host, rest = text[1:close], text[close + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"junk after ']' in address {text!r}")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        host = host or default_host
    else:
        host, port_text = text, None  # IPv4 without port, or a bare IPv6 literal
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r} is not an IPv4 or IPv6 address") from None
    port = default_port
    if port_text is not None:
        if not port_text.isdigit():
            raise ValueError(f"port {port_text!r} is not a number")
        port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range 0-65535")
    return (ip.compressed, port)


def format_address(addr: Address) -> str:
    """``HOST:PORT``, with brackets around IPv6 literals."""
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

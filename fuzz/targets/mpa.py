"""Fuzz targets for MPA's codecs of other protocols: DHCP (RFC 2131) and IPv6 RA (RFC 4861).

``dhcp``: ``decode_dhcp`` raises only DhcpError, and a decoded message survives
encode/decode unchanged. ``dhcp-relay``: ``DhcpRelayClient.receive`` (in SELECTING and in
REQUESTING, reached with a recorded OFFER) never raises, whatever the server sends.
``ra``: ``parse_router_advertisement`` raises only RaError; ``slaac_address`` then never raises.
"""

from __future__ import annotations

import functools
import ipaddress
import logging

from pana_mpa.mpa.dhcp import (
    BOOTREPLY,
    OPT_DNS,
    OPT_LEASE_TIME,
    OPT_MESSAGE_TYPE,
    OPT_ROUTER,
    OPT_SERVER_ID,
    OPT_SUBNET_MASK,
    DhcpError,
    DhcpMessage,
    DhcpMessageType,
    DhcpRelayClient,
    decode_dhcp,
    encode_dhcp,
)
from pana_mpa.mpa.ra import (
    Prefix,
    RaError,
    build_router_advertisement,
    parse_router_advertisement,
    slaac_address,
)

from ..registry import check, register
from ._common import fixed_rng, no_errors_logged, split_step

__all__ = ["fuzz_dhcp", "fuzz_dhcp_relay", "fuzz_ra"]

logger = logging.getLogger(__name__)

_SERVER = ipaddress.IPv4Address("192.0.2.67")
_GIADDR = ipaddress.IPv4Address("192.0.2.1")
_MAC = bytes.fromhex("020000000001")


def _client() -> DhcpRelayClient:
    client = DhcpRelayClient(server=_SERVER, giaddr=_GIADDR, chaddr=_MAC, rng=fixed_rng(b"dhcp"))
    client.start(0.0)
    client.datagrams_to_send()
    return client


def _reply(client: DhcpRelayClient, mtype: DhcpMessageType) -> bytes:
    options = [
        (OPT_MESSAGE_TYPE, bytes([mtype])),
        (OPT_SERVER_ID, _SERVER.packed),
        (OPT_SUBNET_MASK, bytes([255, 255, 255, 0])),
        (OPT_ROUTER, _GIADDR.packed),
        (OPT_DNS, _SERVER.packed),
        (OPT_LEASE_TIME, (3600).to_bytes(4, "big")),
    ]
    msg = DhcpMessage(op=BOOTREPLY, xid=client.xid, chaddr=_MAC, options=tuple(options),
                      yiaddr=ipaddress.IPv4Address("192.0.2.100"), giaddr=_GIADDR)  # fmt: skip
    return encode_dhcp(msg)


@functools.cache
def _exchange() -> tuple[bytes, bytes]:
    """The server's OFFER and ACK for the relay client's (deterministic) exchange."""
    client = _client()
    offer = _reply(client, DhcpMessageType.OFFER)
    ack = _reply(client, DhcpMessageType.ACK)
    client.receive(offer, 0.1)
    client.receive(ack, 0.2)
    check(client.lease is not None, "recorded DHCP exchange got no lease")
    return offer, ack


def _dhcp_seeds() -> tuple[bytes, ...]:
    return _exchange()


@register("dhcp", seeds=_dhcp_seeds, max_size=1500)
def fuzz_dhcp(data: bytes) -> None:
    """decode_dhcp: DhcpError, or a message that encodes and decodes to itself."""
    try:
        msg = decode_dhcp(data)
    except DhcpError:
        return
    try:
        again = decode_dhcp(encode_dhcp(msg))
    except DhcpError as exc:
        check(False, f"a decoded DHCP message does not encode/decode: {exc}")
        return
    check(again == msg, "DHCP message changed through encode/decode")


@register("dhcp-relay", seeds=lambda: (b"\x00" + _exchange()[0], b"\x01" + _exchange()[1]),
          max_size=1500)  # fmt: skip
def fuzz_dhcp_relay(data: bytes) -> None:
    """DhcpRelayClient.receive in SELECTING (step 0) or REQUESTING (1): never raises."""
    step, payload = split_step(data, 2)
    client = _client()
    with no_errors_logged("DhcpRelayClient"):
        if step == 1:
            client.receive(_exchange()[0], 0.1)
        client.receive(payload, 0.2)
        client.datagrams_to_send()
        client.handle_timer(100.0)


def _ra_seeds() -> tuple[bytes, ...]:
    prefix = Prefix(ipaddress.IPv6Network("2001:db8:1::/64"), True, True, 86400, 14400)
    return (
        build_router_advertisement([prefix], source_link_address=_MAC),
        build_router_advertisement([]),
    )


@register("ra", seeds=_ra_seeds, max_size=1500)
def fuzz_ra(data: bytes) -> None:
    """parse_router_advertisement: RaError or an RA; slaac_address on it never raises."""
    try:
        ra = parse_router_advertisement(data)
    except RaError:
        return
    slaac_address(ra, _MAC)

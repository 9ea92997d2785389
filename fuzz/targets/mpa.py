"""Fuzz targets for MPA's codecs of other protocols: DHCP (RFC 2131) and IPv6 RA (RFC 4861).

``dhcp``: ``decode_dhcp`` raises only DhcpError, and a decoded message survives
encode/decode unchanged. ``dhcp-relay``: ``DhcpRelayClient.receive`` (in SELECTING and in
REQUESTING, reached with a recorded OFFER) never raises, whatever the server sends.
``ra``: ``parse_router_advertisement`` raises only RaError; ``slaac_address`` then never raises.
``dhcp6``: ``decode_dhcp6`` (and the IA_NA/IA Address/Status Code values inside) raises only
Dhcp6Error, and a decoded message encodes back to the same octets. ``dhcp6-relay``:
``Dhcp6Client.receive`` (relayed, in SOLICITING and REQUESTING) never raises.
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
from pana_mpa.mpa.dhcp6 import (
    Dhcp6Client,
    Dhcp6Error,
    Dhcp6Message,
    Dhcp6MessageType,
    Dhcp6Option,
    IaAddress,
    IaNa,
    RelayMessage,
    decode_dhcp6,
    decode_ia_address,
    decode_ia_na,
    decode_status_code,
    encode_dhcp6,
    encode_ia_address,
    encode_ia_na,
    iaid_for,
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

__all__ = ["fuzz_dhcp", "fuzz_dhcp6", "fuzz_dhcp6_relay", "fuzz_dhcp_relay", "fuzz_ra"]

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


_LINK6 = ipaddress.IPv6Address("2001:db8:2::1")
_SERVER6 = ipaddress.IPv6Address("2001:db8:3::2")


def _client6() -> Dhcp6Client:
    client = Dhcp6Client(mac=_MAC, rng=fixed_rng(b"dhcp6"), link_address=_LINK6,
                         server_address=_SERVER6)  # fmt: skip
    client.start(0.0)
    return client


def _answer6(forw: bytes, mtype: Dhcp6MessageType) -> bytes:
    relay = decode_dhcp6(forw)
    assert isinstance(relay, RelayMessage)
    inner = decode_dhcp6(relay.option(Dhcp6Option.RELAY_MSG) or b"")
    assert isinstance(inner, Dhcp6Message)
    address = IaAddress(ipaddress.IPv6Address("2001:db8:2::100"), 1800, 3600)
    ia = IaNa(iaid_for(_MAC), 900, 1400, ((Dhcp6Option.IAADDR, encode_ia_address(address)),))
    answer = Dhcp6Message(mtype, inner.transaction_id, (
        (Dhcp6Option.CLIENTID, inner.option(Dhcp6Option.CLIENTID) or b""),
        (Dhcp6Option.SERVERID, b"\x00\x02\x00\x00\x7e\xd9\x01\x02"),
        (Dhcp6Option.IA_NA, encode_ia_na(ia)),
    ))  # fmt: skip
    reply = RelayMessage(Dhcp6MessageType.RELAY_REPL, 0, relay.link_address, relay.peer_address,
                         ((Dhcp6Option.RELAY_MSG, encode_dhcp6(answer)),))  # fmt: skip
    return encode_dhcp6(reply)


@functools.cache
def _exchange6() -> tuple[bytes, bytes]:
    """The server's Advertise and Reply (in Relay-Replies) for the relay's exchange."""
    client = _client6()
    (solicit,) = client.datagrams_to_send()
    advertise = _answer6(solicit, Dhcp6MessageType.ADVERTISE)
    client.receive(advertise, 0.1)
    (request,) = client.datagrams_to_send()
    reply = _answer6(request, Dhcp6MessageType.REPLY)
    client.receive(reply, 0.2)
    check(client.lease is not None, "recorded DHCPv6 exchange got no lease")
    return advertise, reply


@register("dhcp6", seeds=_exchange6, max_size=1500)
def fuzz_dhcp6(data: bytes) -> None:
    """decode_dhcp6: Dhcp6Error, or a message that encodes to the same octets."""
    try:
        msg = decode_dhcp6(data)
    except Dhcp6Error:
        return
    check(encode_dhcp6(msg) == data, "DHCPv6 message changed through decode/encode")
    for code, value in msg.options:
        try:
            if code == Dhcp6Option.RELAY_MSG:
                fuzz_dhcp6(value)
            elif code == Dhcp6Option.IA_NA:
                decode_ia_na(value).addresses()
            elif code == Dhcp6Option.IAADDR:
                decode_ia_address(value)
            elif code == Dhcp6Option.STATUS_CODE:
                decode_status_code(value)
        except Dhcp6Error:
            pass


@register("dhcp6-relay", seeds=lambda: (b"\x00" + _exchange6()[0], b"\x01" + _exchange6()[1]),
          max_size=1500)  # fmt: skip
def fuzz_dhcp6_relay(data: bytes) -> None:
    """Dhcp6Client.receive (relayed) in SOLICITING (step 0) or REQUESTING (1): never raises."""
    step, payload = split_step(data, 2)
    client = _client6()
    client.datagrams_to_send()
    with no_errors_logged("Dhcp6Client"):
        if step == 1:
            client.receive(_exchange6()[0], 0.1)
        client.receive(payload, 0.2)
        client.datagrams_to_send()
        client.handle_timer(100.0)

"""What MPA messages carry, as values: the pre-configuration the PAA delivers (docs/mpa-wire.md)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pana_codecs import Avp, PanaMessage

from .avps import (
    DEFAULT_VENDOR_ID,
    AssignedAddress,
    MpaAvpCode,
    address_avp,
    assigned_address_avp,
    decode_address,
    decode_assigned_address,
    decode_mac,
    mac_avp,
    u32,
    u32_avp,
)

__all__ = ["IpAddress", "PreConfiguration", "decode_pre_configuration", "pre_configuration_avps"]

logger = logging.getLogger(__name__)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True, kw_only=True)
class PreConfiguration:
    """The candidate network's configuration for the MN, delivered before it moves."""

    ncoa: IpAddress | None = None
    """The MN's next address (nCoA) from the CTN's DHCP server; None for IPv6 RA delivery."""
    prefix_length: int = 32
    router: IpAddress | None = None
    lifetime: int = 0
    """Lease time in seconds."""
    dns_servers: tuple[IpAddress, ...] = ()
    client_id: bytes = b""
    """The DHCP client identifier the lease is held under (reused after the move)."""
    dhcp_server: IpAddress | None = None
    """The DHCP server that granted the lease (the MN renews with it after the move)."""
    dhcp6_server_id: bytes = b""
    """DHCPv6: the server's DUID (Server Identifier), for the MN's Renew after the move."""
    dhcp6_iaid: int | None = None
    """DHCPv6: the IAID of the IA_NA the address is bound to (the MN renews that IA)."""
    router_advertisement: bytes | None = None
    """IPv6: the RA as the PAA saw it on the CTN link."""
    ar_address: IpAddress | None = None
    """The access router's tunnel end point."""
    ca_address: IpAddress | None = None
    """The configuration agent."""
    ar_link_address: bytes | None = None
    """The AR's MAC on the CTN link (proactive address resolution)."""
    bssids: tuple[bytes, ...] = field(default=())
    """The CTN's access points (Device-Id AVPs)."""

    @property
    def has_address(self) -> bool:
        """True when an address (or an RA to form one) was delivered."""
        return self.ncoa is not None or self.router_advertisement is not None


def pre_configuration_avps(
    cfg: PreConfiguration,
    vendor_id: int = DEFAULT_VENDOR_ID,
    *,
    address: bool = True,
    agents: bool = True,
) -> list[Avp]:
    """The vendor AVPs carrying ``cfg`` (address part and/or agent part)."""
    out: list[Avp] = []
    if address and cfg.ncoa is not None:
        out.append(assigned_address_avp(AssignedAddress(cfg.ncoa, cfg.prefix_length), vendor_id))
        if cfg.router is not None:
            out.append(address_avp(MpaAvpCode.MPA_DEFAULT_ROUTER, cfg.router, vendor_id))
        out.append(u32_avp(MpaAvpCode.MPA_ADDRESS_LIFETIME, cfg.lifetime, vendor_id))
        out.extend(address_avp(MpaAvpCode.MPA_DNS_SERVER, d, vendor_id) for d in cfg.dns_servers)
        if cfg.client_id:
            out.append(Avp(MpaAvpCode.MPA_DHCP_CLIENT_ID, cfg.client_id, vendor_id))
        if cfg.dhcp_server is not None:
            out.append(address_avp(MpaAvpCode.MPA_DHCP_SERVER, cfg.dhcp_server, vendor_id))
        if cfg.dhcp6_server_id:
            out.append(Avp(MpaAvpCode.MPA_DHCPV6_SERVER_ID, cfg.dhcp6_server_id, vendor_id))
        if cfg.dhcp6_iaid is not None:
            out.append(u32_avp(MpaAvpCode.MPA_DHCPV6_IAID, cfg.dhcp6_iaid, vendor_id))
    if address and cfg.router_advertisement is not None:
        out.append(Avp(MpaAvpCode.MPA_ROUTER_ADVERTISEMENT, cfg.router_advertisement, vendor_id))
    if agents:
        if cfg.ar_address is not None:
            out.append(address_avp(MpaAvpCode.MPA_AR_ADDRESS, cfg.ar_address, vendor_id))
        if cfg.ca_address is not None:
            out.append(address_avp(MpaAvpCode.MPA_CA_ADDRESS, cfg.ca_address, vendor_id))
        if cfg.ar_link_address is not None:
            out.append(mac_avp(MpaAvpCode.MPA_AR_LINK_ADDRESS, cfg.ar_link_address, vendor_id))
        out.extend(mac_avp(MpaAvpCode.DEVICE_ID, b, vendor_id) for b in cfg.bssids)
    return out


def decode_pre_configuration(
    msg: PanaMessage | Sequence[Avp],
    vendor_id: int = DEFAULT_VENDOR_ID,
    base: PreConfiguration | None = None,
) -> PreConfiguration | None:
    """The pre-configuration in a message's MPA AVPs merged over ``base``; None if none.

    Raises CodecError when an MPA AVP is malformed (the caller drops the AVPs, not the session).
    """
    avps = msg.avps if isinstance(msg, PanaMessage) else tuple(msg)
    mine = [a for a in avps if a.vendor_id == vendor_id]
    if not mine:
        return None
    fields: dict[str, object] = {}
    dns: list[IpAddress] = []
    bssids: list[bytes] = []
    for a in mine:
        code = a.code
        if code == MpaAvpCode.MPA_ASSIGNED_ADDRESS:
            assigned = decode_assigned_address(a)
            fields["ncoa"], fields["prefix_length"] = assigned.address, assigned.prefix_length
        elif code == MpaAvpCode.MPA_DEFAULT_ROUTER:
            fields["router"] = decode_address(a)
        elif code == MpaAvpCode.MPA_ADDRESS_LIFETIME:
            fields["lifetime"] = u32(a)
        elif code == MpaAvpCode.MPA_DNS_SERVER:
            dns.append(decode_address(a))
        elif code == MpaAvpCode.MPA_DHCP_CLIENT_ID:
            fields["client_id"] = a.value
        elif code == MpaAvpCode.MPA_DHCP_SERVER:
            fields["dhcp_server"] = decode_address(a)
        elif code == MpaAvpCode.MPA_DHCPV6_SERVER_ID:
            fields["dhcp6_server_id"] = a.value
        elif code == MpaAvpCode.MPA_DHCPV6_IAID:
            fields["dhcp6_iaid"] = u32(a)
        elif code == MpaAvpCode.MPA_ROUTER_ADVERTISEMENT:
            fields["router_advertisement"] = a.value
        elif code == MpaAvpCode.MPA_AR_ADDRESS:
            fields["ar_address"] = decode_address(a)
        elif code == MpaAvpCode.MPA_CA_ADDRESS:
            fields["ca_address"] = decode_address(a)
        elif code == MpaAvpCode.MPA_AR_LINK_ADDRESS:
            fields["ar_link_address"] = decode_mac(a)
        elif code == MpaAvpCode.DEVICE_ID:
            bssids.append(decode_mac(a))
    if dns:
        fields["dns_servers"] = tuple(dns)
    if bssids:
        fields["bssids"] = tuple(bssids)
    if not fields:
        return None
    return replace(base or PreConfiguration(), **fields)  # type: ignore[arg-type]

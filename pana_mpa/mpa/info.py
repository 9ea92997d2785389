"""Candidate networks: the information-service interface, a TOML table, RFC 5192 PAA discovery."""

from __future__ import annotations

import ipaddress
import logging
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "DHCPV4_OPTION_PANA_AGENT",
    "DHCPV6_OPTION_PANA_AGENT",
    "CandidateNetwork",
    "InformationService",
    "InformationServiceError",
    "StaticInformationService",
    "paa_addresses_from_dhcpv4",
    "paa_addresses_from_dhcpv6",
]

logger = logging.getLogger(__name__)

DHCPV4_OPTION_PANA_AGENT = 136
"""RFC 5192 s4: OPTION_PANA_AGENT for DHCPv4, a list of IPv4 PAA addresses."""
DHCPV6_OPTION_PANA_AGENT = 40
"""RFC 5192 s3: OPTION_PANA_AGENT for DHCPv6, a list of IPv6 PAA addresses."""

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class InformationServiceError(ValueError):
    """A candidate-network table or DHCP option that cannot be used."""


@dataclass(frozen=True, slots=True)
class CandidateNetwork:
    """What the MN needs to know about one candidate target network (CTN)."""

    name: str
    paa: tuple[str, int]
    """The CTN PAA's address and UDP port, reachable through the current network."""
    ar_address: IpAddress
    """The access router's tunnel end point."""
    ca_address: IpAddress | None = None
    """The configuration agent (DHCP relay); defaults to the AR in the co-located design."""
    bssids: tuple[bytes, ...] = field(default=())
    """The CTN's access points (IEEE 802.11 BSSIDs)."""


class InformationService(Protocol):
    """Source of candidate networks (IEEE 802.21-like; RFC 6252 s6.3 step 1)."""

    def candidates(self) -> Sequence[CandidateNetwork]:
        """Every candidate network currently known."""
        ...

    def by_bssid(self, bssid: bytes) -> CandidateNetwork | None:
        """The candidate network that owns this access point, if any."""
        ...


def _mac(text: str, where: str) -> bytes:
    raw = text.replace(":", "").replace("-", "")
    try:
        mac = bytes.fromhex(raw)
    except ValueError:
        mac = b""
    if len(mac) != 6:
        raise InformationServiceError(f"{where}: {text!r} is not a MAC address")
    return mac


def _ip(text: object, where: str) -> IpAddress:
    try:
        return ipaddress.ip_address(str(text))
    except ValueError as exc:
        raise InformationServiceError(f"{where}: {text!r} is not an IP address") from exc


def _hostport(text: object, where: str) -> tuple[str, int]:
    s = str(text)
    host, sep, port = s.rpartition(":")
    if not sep:
        return (str(_ip(s, where)), 716)
    host = host.strip("[]")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InformationServiceError(f"{where}: bad port in {s!r}")
    return (str(_ip(host, where)), int(port))


class StaticInformationService:
    """A fixed table of candidate networks, e.g. read from TOML."""

    def __init__(self, networks: Sequence[CandidateNetwork]) -> None:
        self._networks = tuple(networks)

    def candidates(self) -> Sequence[CandidateNetwork]:
        """Every candidate network in the table."""
        return self._networks

    def by_bssid(self, bssid: bytes) -> CandidateNetwork | None:
        """The candidate network that lists this BSSID."""
        for n in self._networks:
            if bssid in n.bssids:
                return n
        return None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> StaticInformationService:
        """Build from ``{"network": [{"name", "paa", "ar", "ca"?, "bssids"?}, ...]}``."""
        nets = data.get("network", [])
        if not isinstance(nets, list):
            raise InformationServiceError("'network' must be an array of tables")
        out: list[CandidateNetwork] = []
        for i, n in enumerate(nets):
            where = f"network[{i}]"
            if not isinstance(n, dict):
                raise InformationServiceError(f"{where} must be a table")
            missing = [k for k in ("name", "paa", "ar") if k not in n]
            if missing:
                raise InformationServiceError(f"{where}: missing {', '.join(missing)}")
            bssids = n.get("bssids", [])
            if not isinstance(bssids, list):
                raise InformationServiceError(f"{where}: 'bssids' must be an array")
            out.append(
                CandidateNetwork(
                    name=str(n["name"]),
                    paa=_hostport(n["paa"], where),
                    ar_address=_ip(n["ar"], where),
                    ca_address=_ip(n["ca"], where) if "ca" in n else None,
                    bssids=tuple(_mac(str(b), where) for b in bssids),
                )
            )
        return cls(out)

    @classmethod
    def from_toml(cls, path: str | Path) -> StaticInformationService:
        """Read a TOML table of ``[[network]]`` entries."""
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InformationServiceError(f"{path}: {exc}") from exc
        return cls.from_mapping(data)


def paa_addresses_from_dhcpv4(options: bytes) -> list[ipaddress.IPv4Address]:
    """PAA addresses from the DHCPv4 options field (after the magic cookie), RFC 5192 s4."""
    out: list[ipaddress.IPv4Address] = []
    i = 0
    while i < len(options):
        code = options[i]
        if code == 0:  # Pad (RFC 2132 s3.1)
            i += 1
            continue
        if code == 255:  # End
            break
        if i + 1 >= len(options) or i + 2 + options[i + 1] > len(options):
            raise InformationServiceError(f"DHCPv4 option {code} truncated at offset {i}")
        length = options[i + 1]
        value = options[i + 2 : i + 2 + length]
        if code == DHCPV4_OPTION_PANA_AGENT:
            if length == 0 or length % 4:
                raise InformationServiceError("OPTION_PANA_AGENT length is not a multiple of 4")
            out.extend(ipaddress.IPv4Address(value[j : j + 4]) for j in range(0, length, 4))
        i += 2 + length
    return out


def paa_addresses_from_dhcpv6(options: bytes) -> list[ipaddress.IPv6Address]:
    """PAA addresses from DHCPv6 options (2-octet code and length), RFC 5192 s3."""
    out: list[ipaddress.IPv6Address] = []
    i = 0
    while i < len(options):
        if i + 4 > len(options):
            raise InformationServiceError(f"DHCPv6 option header truncated at offset {i}")
        code = int.from_bytes(options[i : i + 2], "big")
        length = int.from_bytes(options[i + 2 : i + 4], "big")
        if i + 4 + length > len(options):
            raise InformationServiceError(f"DHCPv6 option {code} truncated at offset {i}")
        value = options[i + 4 : i + 4 + length]
        if code == DHCPV6_OPTION_PANA_AGENT:
            if length == 0 or length % 16:
                raise InformationServiceError("OPTION_PANA_AGENT length is not a multiple of 16")
            out.extend(ipaddress.IPv6Address(value[j : j + 16]) for j in range(0, length, 16))
        i += 4 + length
    return out

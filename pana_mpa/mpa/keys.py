"""MPA keys from the MPA-SA: MN-AR, MN-CA (RFC 5807-style), per-AP PMK and PMKID (IEEE 802.11)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import struct
from dataclasses import dataclass

from eap.keys import Secret

from .. import crypto
from .avps import AddressFamily

__all__ = [
    "MN_AR_LABEL",
    "MN_CA_LABEL",
    "ApKey",
    "MpaKeys",
    "derive_mpa_keys",
    "epid_for_ip",
    "epid_for_mac",
    "mn_ca_key",
    "pmkid",
]

MN_AR_LABEL = b"IETF PEMK"
"""RFC 5807 s3: the MN-AR key is the PEMK for the AR as enforcement point."""
MN_CA_LABEL = b"MPA MN-CA"
"""A private label so the MN-CA key differs from the MN-AR key even for one agent address."""
PMK_NAME = b"PMK Name"


def epid_for_ip(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    """EPID of an IP agent: AddressType (IANA family) | address (RFC 5807 s3)."""
    ip = ipaddress.ip_address(address)
    family = AddressFamily.IPV4 if ip.version == 4 else AddressFamily.IPV6
    return struct.pack("!H", family) + ip.packed


def epid_for_mac(mac: bytes) -> bytes:
    """EPID of an IEEE 802 point of attachment (BSSID): 0x0006 | MAC."""
    if len(mac) != 6:
        raise ValueError("a MAC address has 6 octets")
    return struct.pack("!H", AddressFamily.IEEE_802) + mac


def mn_ca_key(prf_algorithm: int, msk: Secret, session_id: int, key_id: int, epid: bytes) -> Secret:
    """prf+(MSK, "MPA MN-CA" | SID | KID | EPID), 64 octets (RFC 5807 s3 shape, private label)."""
    seed = MN_CA_LABEL + struct.pack("!II", session_id, key_id) + epid
    return Secret(crypto.prf_plus(prf_algorithm, msk, seed, 64))


def pmkid(pmk: Secret, aa: bytes, spa: bytes) -> bytes:
    """PMKID = HMAC-SHA1-128(PMK, "PMK Name" | AA | SPA) (IEEE 802.11)."""
    if len(aa) != 6 or len(spa) != 6:
        raise ValueError("AA and SPA are 6-octet MAC addresses")
    return hmac.new(pmk.reveal(), PMK_NAME + aa + spa, hashlib.sha1).digest()[:16]


@dataclass(frozen=True, slots=True)
class ApKey:
    """The pre-derived key for one access point of a candidate network."""

    bssid: bytes
    pmk: Secret
    pmkid: bytes


@dataclass(frozen=True, slots=True)
class MpaKeys:
    """Keys the MN derives from a pre-authentication session's MSK."""

    mn_ar: Secret
    mn_ca: Secret
    access_points: tuple[ApKey, ...]


def derive_mpa_keys(
    *,
    prf_algorithm: int,
    msk: Secret,
    session_id: int,
    key_id: int,
    ar_address: str | ipaddress.IPv4Address | ipaddress.IPv6Address,
    ca_address: str | ipaddress.IPv4Address | ipaddress.IPv6Address,
    bssids: tuple[bytes, ...] = (),
    mn_mac: bytes | None = None,
) -> MpaKeys:
    """MN-AR, MN-CA and per-AP PMK/PMKID (PMK = first 32 octets of the AP's PEMK)."""

    def pemk(epid: bytes) -> Secret:
        return crypto.pemk(prf_algorithm, msk, session_id=session_id, key_id=key_id, epid=epid)

    mn_ar = pemk(epid_for_ip(ar_address))
    mn_ca = mn_ca_key(prf_algorithm, msk, session_id, key_id, epid_for_ip(ca_address))
    aps: list[ApKey] = []
    for bssid in bssids:
        full = pemk(epid_for_mac(bssid))
        pmk = Secret(full.reveal()[:32])
        aps.append(ApKey(bssid, pmk, pmkid(pmk, bssid, mn_mac) if mn_mac else b""))
    return MpaKeys(mn_ar, mn_ca, tuple(aps))

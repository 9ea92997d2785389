"""Fuzz targets for the session layer and the other peers' parsers (issue 9).

Nothing but the documented error escapes a parser; no session entry point ever raises (and none
records an internal error): PAA and PaC ``receive_datagram`` with an open session and at the
start, the EAP peer and authenticator, RADIUS replies, DHCP messages and leases, RAs.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import random
from collections.abc import Iterable
from typing import Any

from eap._radius_codec import AuthenticatorMismatch, decode_radius, verify_response
from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.gpsk import METHOD_TYPE as GPSK_TYPE
from eap.methods.gpsk import GpskPeer, GpskServer
from eap.methods.md5 import METHOD_TYPE as MD5_TYPE
from eap.methods.md5 import Md5Peer, Md5Server
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer
from pana_codecs import CodecError
from pana_mpa.aio.virtualnet import VirtualNet
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.mpa.dhcp import DhcpError, decode_dhcp, lease_from_ack
from pana_mpa.mpa.ra import RaError, parse_router_advertisement
from pana_mpa.paa import PaaServer
from pana_mpa.pac import PacSession
from pana_mpa.relay import wrap_relay
from pana_mpa.state import PacState
from pana_mpa.trace import MemoryTrace

from ..registry import check, register

__all__ = ["fuzz_eap_methods", "fuzz_paa_datagram", "fuzz_pac_datagram"]

logger = logging.getLogger(__name__)

PAC = ("192.0.2.10", 40000)
PAA = ("192.0.2.1", 716)
RELAY = ("198.51.100.1", 716)
PSK = Secret(b"fuzz-psk-16octet")


class _Pair:
    """A PaC and a PAA with an open EAP-PSK session, and the datagrams they exchanged."""

    def __init__(self) -> None:
        rng = random.Random(9)  # noqa: S311 - reproducible fuzz fixtures, not keys
        self.net = VirtualNet(seed=9)
        self.pac_trace, self.paa_trace = MemoryTrace(), MemoryTrace()
        peer = EapPeer(
            identity=b"fuzz",
            methods={EAP_TYPE_PSK: lambda: PskPeer(b"fuzz", PSK, rng=rng.randbytes)},
        )
        self.pac = PacSession(
            PacConfig(), paa=PAA, eap=peer, rng=rng.randbytes, trace=self.pac_trace
        )
        self.paa = PaaServer(
            PaaConfig(relays=(RELAY[0],)),
            eap_factory=lambda: EapAuthenticator(
                methods=lambda i: [lambda: PskServer(b"paa", lambda x: PSK, rng=rng.randbytes)],
                rng=rng.randbytes,
            ),
            rng=rng.randbytes,
            trace=self.paa_trace,
        )
        self.net.add(PAC, self.pac)
        self.net.add(PAA, self.paa)
        self.pac.start(0.0)
        self.net.run(5.0)
        self.pac.ping(self.net.now)
        self.net.run(self.net.now + 1)
        self.datagrams = [d.data for d in self.net.log]

    def internal_errors(self) -> int:
        return sum(
            str(r.get("reason", "")).startswith("internal error")
            for r in self.pac_trace.records + self.paa_trace.records
        )


@functools.cache
def _pair() -> _Pair:
    return _Pair()


def _session_seeds() -> Iterable[bytes]:
    pair = _Pair()  # a fresh one: the cached pair keeps its state for the fuzzing
    return [*pair.datagrams, *(wrap_relay(PAC, d) for d in pair.datagrams[:3])]


def _drain(pair: _Pair, now: float) -> None:
    pair.paa.datagrams_to_send(now)
    pair.pac.datagrams_to_send(now)
    while pair.paa.next_event() is not None or pair.pac.next_event() is not None:
        pass


@register("paa_datagram", seeds=_session_seeds, max_size=9000)
def fuzz_paa_datagram(data: bytes) -> None:
    """PaaServer.receive_datagram from the PaC, a stranger and a relay: never raises."""
    pair = _pair()
    now = pair.net.now
    before = pair.internal_errors()
    for src in (PAC, ("203.0.113.66", 5555), RELAY):
        pair.paa.receive_datagram(data, src, now)
    pair.paa.handle_timer(now)
    _drain(pair, now)
    check(pair.internal_errors() == before, "the PAA recorded an internal error")


@register("pac_datagram", seeds=_session_seeds, max_size=9000)
def fuzz_pac_datagram(data: bytes) -> None:
    """PacSession.receive_datagram, open and at the start: never raises, junk never opens."""
    pair = _pair()
    now = pair.net.now
    before = pair.internal_errors()
    pair.pac.receive_datagram(data, PAA, now)
    pair.pac.handle_timer(now)
    _drain(pair, now)
    check(pair.internal_errors() == before, "the PaC recorded an internal error")
    fresh = _starting_pac()
    fresh.receive_datagram(data, PAA, 0.0)
    check(fresh.state is not PacState.OPEN, "a single datagram opened a session")


def _starting_pac() -> PacSession:
    peer = EapPeer(identity=b"fuzz", methods={EAP_TYPE_PSK: lambda: PskPeer(b"fuzz", PSK)})
    pac = PacSession(PacConfig(), paa=PAA, eap=peer)
    pac.start(0.0)
    pac.datagrams_to_send(0.0)
    return pac


def _eap_seeds() -> Iterable[bytes]:
    pair = _Pair()
    out = []
    from pana_codecs import AvpCode, decode_pana

    for d in pair.datagrams:
        avp = decode_pana(d).avp(AvpCode.EAP_PAYLOAD)
        if avp is not None:
            out.append(avp.value)
    return out


@register("eap_methods", seeds=_eap_seeds, max_size=2000)
def fuzz_eap_methods(data: bytes) -> None:
    """EapPeer and EapAuthenticator with PSK, GPSK and MD5: malformed input never raises."""
    rng = random.Random(1).randbytes  # noqa: S311
    methods: dict[int, Any] = {
        EAP_TYPE_PSK: lambda: PskPeer(b"fuzz", PSK, rng=rng),
        GPSK_TYPE: lambda: GpskPeer(b"fuzz", PSK, rng=rng),
        MD5_TYPE: lambda: Md5Peer(Secret(b"password")),
    }
    peer = EapPeer(identity=b"fuzz", methods=methods)
    peer.receive(data)
    for server in (
        lambda: PskServer(b"paa", lambda i: PSK, rng=rng),
        lambda: GpskServer(b"paa", lambda i: PSK, rng=rng),
        lambda: Md5Server(Secret(b"password"), rng=rng),
    ):
        auth = EapAuthenticator(methods=lambda i, s=server: [s], rng=rng)  # type: ignore[misc]
        first = auth.start()
        check(first.packet is not None, "no first request")
        auth.receive(data)


@register("radius_reply", max_size=4096)
def fuzz_radius_reply(data: bytes) -> None:
    """decode_radius / verify_response: only CodecError or AuthenticatorMismatch."""
    with contextlib.suppress(CodecError):
        decode_radius(data)
    with contextlib.suppress(CodecError, AuthenticatorMismatch):
        verify_response(data, bytes(16), b"secret")


@register("dhcp", max_size=1500)
def fuzz_dhcp(data: bytes) -> None:
    """decode_dhcp and lease_from_ack: only DhcpError."""
    try:
        msg = decode_dhcp(data)
    except DhcpError:
        return
    with contextlib.suppress(DhcpError):
        lease_from_ack(msg, client_id=b"x", fallback_server=ipaddress.IPv4Address(1), now=0.0)


@register("router_advertisement", max_size=1500)
def fuzz_router_advertisement(data: bytes) -> None:
    """parse_router_advertisement: only RaError."""
    with contextlib.suppress(RaError):
        parse_router_advertisement(data)

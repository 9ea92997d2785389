"""IPv6 pre-configuration: the RA carried in PANA and the MN's SLAAC nCoA."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer
from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual
from pana_mpa.config import PaaConfig
from pana_mpa.mpa.drivers.agent import MpaAgent
from pana_mpa.mpa.drivers.controller import MpaController
from pana_mpa.mpa.info import CandidateNetwork
from pana_mpa.mpa.ra import (
    Prefix,
    RaError,
    build_router_advertisement,
    eui64_interface_id,
    parse_router_advertisement,
    slaac_address,
)
from pana_mpa.mpa.tunnel import InMemoryTunnelDriver

MAC = bytes.fromhex("00005e005301")
PREFIX = Prefix(ipaddress.IPv6Network("2001:db8:1:2::/64"), True, True, 86400, 14400)


def test_eui64_interface_id() -> None:
    # RFC 4291 Appendix A: flip the U/L bit, insert FFFE
    assert eui64_interface_id(MAC).hex() == "02005efffe005301"


def test_ra_round_trip_and_slaac() -> None:
    ra = build_router_advertisement([PREFIX], source_link_address=bytes.fromhex("020000000201"))
    parsed = parse_router_advertisement(ra)
    assert parsed.prefixes == (PREFIX,)
    assert parsed.router_lifetime == 1800
    assert parsed.source_link_address == bytes.fromhex("020000000201")
    assert slaac_address(parsed, MAC) == ipaddress.IPv6Address("2001:db8:1:2:200:5eff:fe00:5301")
    no_auto = build_router_advertisement([Prefix(PREFIX.network, True, False, 10, 10)])
    assert slaac_address(parse_router_advertisement(no_auto), MAC) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes([133, 0]) + bytes(14),
        bytes([134, 0]) + bytes(14) + b"\x03\x00",
        bytes([134, 0]) + bytes(14) + b"\x03\x02" + bytes(14),
        bytes([134, 0]) + bytes(14) + b"\x03\x04" + b"\x81" + bytes(29),
    ],
)
def test_malformed_ras(data: bytes) -> None:
    with pytest.raises(RaError):
        parse_router_advertisement(data)


@given(st.binary(max_size=80))
def test_random_ra_bytes_raise_only_ra_error(data: bytes) -> None:
    with contextlib.suppress(RaError):
        parse_router_advertisement(bytes([134, 0]) + data)


def test_ipv6_candidate_delivers_its_ra_and_the_mn_forms_ncoa() -> None:
    psk, ident = Secret(b"SecretPassphrase"), b"mn"
    ra = build_router_advertisement([PREFIX])

    async def scenario() -> str:
        rng = random.Random(3)
        net = LoopbackNetwork(seed=3, delay=0.002)

        def server() -> EapAuthenticator:
            return EapAuthenticator(methods=lambda i: [
                lambda: PskServer(b"ctn", lambda x: psk if x == ident else None,
                                  rng=rng.randbytes)], rng=rng.randbytes)  # fmt: skip

        agent = MpaAgent(paa_config=PaaConfig(), eap_factory=server,
                         transport=net.endpoint(("2001:db8:1:2::1", 716)),
                         ar_address="2001:db8:1:2::1", lease_provider=None,
                         tunnels=InMemoryTunnelDriver(), router_advertisement=ra,
                         rng=rng.randbytes)  # fmt: skip
        task = asyncio.create_task(agent.run())

        async def bu(a: object) -> None:
            return None

        mn = MpaController(
            eap_factory=lambda: EapPeer(identity=ident, methods={
                EAP_TYPE_PSK: lambda: PskPeer(ident, psk, rng=rng.randbytes)}),
            mn_mac=MAC, tunnels=InMemoryTunnelDriver(), binding_update=bu, rng=rng.randbytes,
        )  # fmt: skip
        cand = CandidateNetwork(name="v6", paa=("2001:db8:1:2::1", 716),
                                ar_address=ipaddress.IPv6Address("2001:db8:1:2::1"))  # fmt: skip
        await mn.pre_authenticate(cand, net.endpoint(("2001:db8:9::10", 0)), "2001:db8:9::10")
        event = await mn.pre_configure()
        await mn.close()
        agent.stop()
        await task
        return str(event.detail["ncoa"])

    assert run_virtual(scenario) == "2001:db8:1:2:200:5eff:fe00:5301"

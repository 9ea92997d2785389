"""Bicasting at the AR (RFC 6252 s7.6): the direct copy's frame, and the agent's copy decision."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pana_mpa.mpa.ar import (
    ETH_P_IP,
    ETH_P_IPV6,
    ArDataPlane,
    BufferPolicy,
    direct_frame,
    ipv4_forwarded,
)

MN_MAC = bytes.fromhex("020000000a10")
AR_MAC = bytes.fromhex("02000000aa01")
CN = ipaddress.IPv4Address("10.97.20.2")
NCOA = ipaddress.IPv4Address("10.97.2.150")
OCOA = ipaddress.IPv4Address("192.0.2.10")


def _checksum_ok(header: bytes) -> bool:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def _udp_packet(
    ttl: int = 63, payload: bytes = b"MPAL\x00\x00\x00\x07", options: bytes = b""
) -> bytes:
    ihl = (20 + len(options)) // 4
    total = ihl * 4 + 8 + len(payload)
    header = bytearray(
        struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 0x1234, 0x4000, ttl, 17, 0,
                    CN.packed, NCOA.packed) + options
    )  # fmt: skip
    total_sum = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total_sum >> 16:
        total_sum = (total_sum & 0xFFFF) + (total_sum >> 16)
    struct.pack_into("!H", header, 10, ~total_sum & 0xFFFF)
    return bytes(header) + struct.pack("!HHHH", 40000, 50000, 8 + len(payload), 0) + payload


def test_forwarded_packet_has_ttl_one_less_and_a_valid_checksum() -> None:
    pkt = _udp_packet(ttl=63)
    assert _checksum_ok(pkt[:20])
    out = ipv4_forwarded(pkt)
    assert out is not None
    assert out[8] == 62 and _checksum_ok(out[:20])
    # nothing but TTL and checksum changes
    assert out[:8] == pkt[:8] and out[9:10] == pkt[9:10] and out[12:] == pkt[12:]


def test_forwarding_keeps_ip_options_in_the_checksum() -> None:
    pkt = _udp_packet(ttl=10, options=b"\x01\x01\x01\x00")  # NOP NOP NOP EOL
    out = ipv4_forwarded(pkt)
    assert out is not None and out[8] == 9 and _checksum_ok(out[:24]) and out[24:] == pkt[24:]


@pytest.mark.parametrize("ttl", [0, 1])
def test_a_router_does_not_forward_an_expiring_packet(ttl: int) -> None:
    # RFC 1812 s5.3.1: TTL 1 would arrive as 0
    assert ipv4_forwarded(_udp_packet(ttl=ttl)) is None
    frame = direct_frame(_udp_packet(ttl=ttl), dst_mac=MN_MAC, src_mac=AR_MAC)
    assert frame is None


@pytest.mark.parametrize(
    "bad", [b"", b"\x45" * 19, b"\x60" + bytes(39), b"\x46" + bytes(19), b"\x44" + bytes(30)]
)
def test_malformed_packets_are_not_forwarded(bad: bytes) -> None:
    assert ipv4_forwarded(bad) is None
    assert direct_frame(bad, dst_mac=MN_MAC, src_mac=AR_MAC) is None
    if len(bad) < 20 or bad[0] >> 4 not in (4, 6):
        assert direct_frame(bad, dst_mac=MN_MAC, src_mac=AR_MAC, decrement_ttl=False) is None


def test_direct_frame_carries_ipv6_with_the_hop_limit_decremented() -> None:
    # an RFC 2473 tunnel's inner IPv6 packet, copied onto the CTN link while bicasting
    pkt = b"\x60" + bytes(3) + struct.pack("!HBB", 8, 17, 63) + bytes(32) + bytes(8)
    frame = direct_frame(pkt, dst_mac=MN_MAC, src_mac=AR_MAC)
    assert frame is not None and struct.unpack("!H", frame[12:14])[0] == ETH_P_IPV6 == 0x86DD
    assert frame[14 + 7] == 62 and frame[14:21] == pkt[:7] and frame[22:] == pkt[8:]
    assert direct_frame(pkt, dst_mac=MN_MAC, src_mac=AR_MAC, decrement_ttl=False) == (
        MN_MAC + AR_MAC + b"\x86\xdd" + pkt
    )
    assert direct_frame(pkt[:39], dst_mac=MN_MAC, src_mac=AR_MAC, decrement_ttl=False) is None
    expiring = pkt[:7] + b"\x01" + pkt[8:]
    assert direct_frame(expiring, dst_mac=MN_MAC, src_mac=AR_MAC) is None


@given(st.integers(min_value=2, max_value=255), st.binary(max_size=64))
def test_checksum_stays_valid_for_any_ttl_and_payload(ttl: int, payload: bytes) -> None:
    out = ipv4_forwarded(_udp_packet(ttl=ttl, payload=payload))
    assert out is not None and out[8] == ttl - 1 and _checksum_ok(out[:20])


def test_direct_frame_is_ethernet_ii_to_the_mn() -> None:
    pkt = _udp_packet(ttl=62)
    frame = direct_frame(pkt, dst_mac=MN_MAC, src_mac=AR_MAC)
    assert frame is not None
    assert frame[:6] == MN_MAC and frame[6:12] == AR_MAC
    assert struct.unpack("!H", frame[12:14])[0] == ETH_P_IP == 0x0800
    assert frame[14:] == ipv4_forwarded(pkt)
    # a packet the kernel already forwarded into the tunnel device is copied unchanged
    same = direct_frame(pkt, dst_mac=MN_MAC, src_mac=AR_MAC, decrement_ttl=False)
    assert same == MN_MAC + AR_MAC + b"\x08\x00" + pkt


def test_direct_frame_rejects_bad_macs() -> None:
    with pytest.raises(ValueError, match="6 octets"):
        direct_frame(_udp_packet(), dst_mac=b"\x02", src_mac=AR_MAC)


def test_agent_copies_to_the_mn_mac_only_while_switching() -> None:
    """MpaAgent.forward_hook: tunnel before DISABLE, tunnel + direct frame until the PANA-Update."""
    from eap.authenticator import EapAuthenticator
    from eap.keys import Secret
    from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
    from eap.peer import EapPeer
    from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual
    from pana_mpa.aio.transport import Transport
    from pana_mpa.config import PaaConfig
    from pana_mpa.mpa.dhcp import DhcpLease
    from pana_mpa.mpa.drivers.agent import MpaAgent
    from pana_mpa.mpa.drivers.controller import MpaController
    from pana_mpa.mpa.info import CandidateNetwork
    from pana_mpa.mpa.messages import PreConfiguration
    from pana_mpa.mpa.tunnel import InMemoryTunnelDriver

    psk, ident = Secret(b"SecretPassphrase"), b"mn"
    sent: list[tuple[str, bytes]] = []
    decisions: dict[str, list[bool]] = {}
    pkt = _udp_packet(ttl=62)

    def send_frame(ifname: str, frame: bytes) -> bool:
        sent.append((ifname, frame))
        return True

    async def scenario() -> MpaAgent:
        rng = random.Random(7)
        net = LoopbackNetwork(seed=7, delay=0.002)

        async def lease(sid: int, mac: bytes, cid: bytes) -> DhcpLease:
            return DhcpLease(address=NCOA, prefix_length=24, router=None, dns_servers=(),
                             lease_time=60, server_id=NCOA, client_id=cid,
                             acquired_at=0.0)  # fmt: skip

        ar_tunnels = InMemoryTunnelDriver()
        agent = MpaAgent(
            paa_config=PaaConfig(), transport=net.endpoint(("10.97.2.1", 716)),
            eap_factory=lambda: EapAuthenticator(methods=lambda i: [
                lambda: PskServer(b"ctn", lambda x: psk, rng=rng.randbytes)], rng=rng.randbytes),
            ar_address="10.97.2.1", lease_provider=lease, tunnels=ar_tunnels,
            data_plane=ArDataPlane(BufferPolicy(buffering=False, bicast=True)),
            ar_link_address=AR_MAC, ctn_interface="ctn0", send_frame=send_frame,
            rng=rng.randbytes,
        )  # fmt: skip
        task = asyncio.create_task(agent.run())

        def through_hook(phase: str) -> None:
            for spec in ar_tunnels.active().values():
                decisions.setdefault(phase, []).append(agent.forward_hook(spec, pkt))

        async def bu(a: object) -> None:
            return None

        mn = MpaController(
            eap_factory=lambda: EapPeer(identity=ident, methods={
                EAP_TYPE_PSK: lambda: PskPeer(ident, psk, rng=rng.randbytes)}),
            mn_mac=MN_MAC, tunnels=InMemoryTunnelDriver(), binding_update=bu, rng=rng.randbytes,
        )  # fmt: skip
        cand = CandidateNetwork(name="c", paa=("10.97.2.1", 716),
                                ar_address=ipaddress.IPv4Address("10.97.2.1"))  # fmt: skip
        await mn.pre_authenticate(cand, net.endpoint((str(OCOA), 0)), OCOA)
        await mn.pre_configure()
        await mn.establish_tunnel()
        through_hook("tunnel")
        assert not sent  # before DISABLE: the tunnel only

        async def attach(cfg: PreConfiguration) -> Transport:
            through_hook("switching")  # the AR has answered the DISABLE: bicasting
            return net.endpoint((str(NCOA), 0))

        await mn.switch(attach)
        await mn.complete()
        assert not ar_tunnels.active()  # the PANA-Update deleted the tunnel
        await mn.close()
        agent.stop()
        await task
        return agent

    agent = run_virtual(scenario)
    assert decisions == {"tunnel": [True], "switching": [True]}  # the tunnel copy goes too
    assert sent == [("ctn0", MN_MAC + AR_MAC + b"\x08\x00" + pkt)]
    assert agent.bicast_sent == 1
    assert agent.data_plane.stats[NCOA].bicast == 1


def test_agent_without_a_link_sends_no_copy() -> None:
    """No CTN interface configured: bicasting degrades to tunneling, nothing is sent."""
    from pana_mpa.aio.loopback import LoopbackNetwork
    from pana_mpa.config import PaaConfig
    from pana_mpa.mpa.drivers.agent import MpaAgent
    from pana_mpa.mpa.tunnel import InMemoryTunnelDriver, TunnelSpec

    net = LoopbackNetwork(seed=1)
    agent = MpaAgent(
        paa_config=PaaConfig(), transport=net.endpoint(("10.97.2.1", 716)),
        eap_factory=lambda: None, ar_address="10.97.2.1", lease_provider=None,
        tunnels=InMemoryTunnelDriver(),
        data_plane=ArDataPlane(BufferPolicy(buffering=False, bicast=True)),
        ar_link_address=AR_MAC,
    )  # fmt: skip
    spec = TunnelSpec("mpar1", ipaddress.IPv4Address("10.97.2.1"), OCOA, NCOA)
    agent.data_plane.bind(NCOA)
    agent.data_plane.start_switch(NCOA)

    async def once() -> bool:
        return agent.forward_hook(spec, _udp_packet())

    assert asyncio.run(once()) is True
    assert agent.bicast_sent == 0 and agent.data_plane.stats[NCOA].bicast == 1

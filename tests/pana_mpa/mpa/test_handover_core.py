"""The sans-IO handover core and its driver: IPv6 end to end, DISABLE checked, no silent drops."""

from __future__ import annotations

import asyncio
import ipaddress
import random
from typing import Any

import pytest

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer
from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual
from pana_mpa.aio.transport import Transport
from pana_mpa.config import PaaConfig
from pana_mpa.mpa import AgentConfig, Handover, HandoverError, MpaAgent, MpaController
from pana_mpa.mpa.ar import ArDataPlane
from pana_mpa.mpa.info import CandidateNetwork
from pana_mpa.mpa.messages import PreConfiguration
from pana_mpa.mpa.ra import Prefix, build_router_advertisement
from pana_mpa.mpa.tunnel import InMemoryTunnelDriver

MAC = bytes.fromhex("00005e005301")
PSK, IDENT = Secret(b"SecretPassphrase"), b"mn"
AR6 = "2001:db8:1:2::1"
OCOA6 = "2001:db8:9::10"
PREFIX = Prefix(ipaddress.IPv6Network("2001:db8:1:2::/64"), True, True, 86400, 14400)


def _server(rng: random.Random) -> Any:
    def make() -> EapAuthenticator:
        return EapAuthenticator(methods=lambda i: [
            lambda: PskServer(b"ctn", lambda x: PSK if x == IDENT else None, rng=rng.randbytes)
        ], rng=rng.randbytes)  # fmt: skip

    return make


def _peer(rng: random.Random) -> Any:
    return lambda: EapPeer(
        identity=IDENT, methods={EAP_TYPE_PSK: lambda: PskPeer(IDENT, PSK, rng=rng.randbytes)}
    )


async def _bu(address: object) -> None:
    return None


def test_ipv6_mpa_handover_completes_with_the_slaac_ncoa() -> None:
    """The AR accepts a tunnel for the address SLAAC gives the MN from the carried RA."""

    async def scenario() -> tuple[list[str], list[str], dict[str, Any]]:
        rng = random.Random(5)
        net = LoopbackNetwork(seed=5, delay=0.002)
        ar_tunnels, mn_tunnels = InMemoryTunnelDriver(), InMemoryTunnelDriver()
        agent = MpaAgent(
            paa_config=PaaConfig(), eap_factory=_server(rng), transport=net.endpoint((AR6, 716)),
            lease_provider=None, tunnels=ar_tunnels, inject=lambda p: None,
            config=AgentConfig(ar_address=AR6,
                               router_advertisement=build_router_advertisement([PREFIX])),
            rng=rng.randbytes,
        )  # fmt: skip
        task = asyncio.create_task(agent.run())
        mn = MpaController(eap_factory=_peer(rng), mn_mac=MAC, tunnels=mn_tunnels,
                           binding_update=_bu, rng=rng.randbytes)  # fmt: skip
        cand = CandidateNetwork(name="v6", paa=(AR6, 716), ar_address=ipaddress.ip_address(AR6))
        up: dict[str, Any] = {}

        async def attach(cfg: PreConfiguration) -> Transport:
            up.update(mn_tunnels.active())  # the MN's end is still there when it moves
            return net.endpoint((str(cfg.ncoa), 0))

        try:
            await mn.pre_authenticate(cand, net.endpoint((OCOA6, 0)), OCOA6)
            await mn.pre_configure()
            await mn.establish_tunnel(routes=(ipaddress.IPv6Network("2001:db8:3::/64"),))
            await mn.binding_update()
            await mn.switch(attach)
            await mn.complete()
        finally:
            await mn.close()
            agent.stop()
            await task
        return [e.step for e in mn.events], [e.name for e in agent.events], up

    steps, agent_steps, at_move = run_virtual(scenario)
    assert steps[-1] == "handover_complete" and "pre_switched" in steps
    assert "tunnel_established" in agent_steps and "tunnel_deleted" in agent_steps
    spec = at_move["mpa0"]
    assert spec.inner == ipaddress.IPv6Address("2001:db8:1:2:200:5eff:fe00:5301")
    assert spec.local == ipaddress.IPv6Address(OCOA6)


def test_switch_checks_the_disable_answer_and_does_not_move() -> None:
    async def scenario() -> tuple[str, bool, list[str]]:
        rng = random.Random(6)
        net = LoopbackNetwork(seed=6, delay=0.002)
        ar = "10.97.2.1"
        agent = MpaAgent(
            paa_config=PaaConfig(), eap_factory=_server(rng), transport=net.endpoint((ar, 716)),
            lease_provider=None, tunnels=InMemoryTunnelDriver(), ar_address=ar,
            rng=rng.randbytes,
        )  # fmt: skip
        task = asyncio.create_task(agent.run())
        mn = MpaController(eap_factory=_peer(rng), mn_mac=MAC, tunnels=InMemoryTunnelDriver(),
                           binding_update=_bu, rng=rng.randbytes, timeout=5)  # fmt: skip
        cand = CandidateNetwork(name="v4", paa=(ar, 716), ar_address=ipaddress.ip_address(ar))
        moved = False

        async def attach(cfg: PreConfiguration) -> Transport:
            nonlocal moved
            moved = True
            return net.endpoint((str(cfg.ncoa), 0))

        try:
            await mn.pre_authenticate(cand, net.endpoint(("10.96.1.10", 0)), "10.96.1.10")
            sid = mn.authenticated.session_id if mn.authenticated else 0
            # the session was given 10.97.2.50 but the MN asks to switch 10.97.2.99: refused
            agent.extension.set_configuration(sid, PreConfiguration(ncoa=ipaddress.IPv4Address(
                "10.97.2.50"), prefix_length=24))  # fmt: skip
            mn.extension.pre_configuration = PreConfiguration(
                ncoa=ipaddress.IPv4Address("10.97.2.99"), prefix_length=24
            )
            with pytest.raises(HandoverError) as err:
                await mn.switch(attach)
        finally:
            await mn.close()
            agent.stop()
            await task
        return str(err.value), moved, [e.step for e in mn.events]

    why, moved, steps = run_virtual(scenario)
    assert "DISABLE" in why and "FAILED" in why
    assert not moved and "switched" not in steps


def test_agent_without_inject_does_not_buffer_and_counts_nothing_flushed() -> None:
    """Without a way to deliver held packets, DISABLE keeps the tunnel forwarding."""
    agent_events: list[str] = []

    async def scenario() -> None:
        rng = random.Random(8)
        net = LoopbackNetwork(seed=8, delay=0.002)
        ar = "10.97.2.1"
        ncoa = ipaddress.IPv4Address("10.97.2.50")

        async def lease(sid: int, mac: bytes, cid: bytes) -> Any:
            from pana_mpa.mpa.dhcp import DhcpLease

            return DhcpLease(address=ncoa, prefix_length=24, router=ipaddress.IPv4Address(ar),
                             dns_servers=(), lease_time=600, server_id=ipaddress.IPv4Address(ar),
                             client_id=cid,
                             acquired_at=0.0)  # fmt: skip

        plane = ArDataPlane()
        agent = MpaAgent(
            paa_config=PaaConfig(), eap_factory=_server(rng), transport=net.endpoint((ar, 716)),
            lease_provider=lease, tunnels=InMemoryTunnelDriver(), ar_address=ar,
            data_plane=plane, rng=rng.randbytes,
        )  # fmt: skip
        task = asyncio.create_task(agent.run())
        mn = MpaController(eap_factory=_peer(rng), mn_mac=MAC, tunnels=InMemoryTunnelDriver(),
                           binding_update=_bu, rng=rng.randbytes)  # fmt: skip
        cand = CandidateNetwork(name="v4", paa=(ar, 716), ar_address=ipaddress.ip_address(ar))

        async def attach(cfg: PreConfiguration) -> Transport:
            return net.endpoint((str(cfg.ncoa), 0))

        try:
            await mn.pre_authenticate(cand, net.endpoint(("10.96.1.10", 0)), "10.96.1.10")
            await mn.pre_configure()
            await mn.establish_tunnel()
            await mn.switch(attach)
            await mn.complete()
        finally:
            await mn.close()
            agent.stop()
            await task
        agent_events.extend(e.name for e in agent.events)
        assert agent.dropped_at_flush == 0

    run_virtual(scenario)
    assert "buffering_unavailable" in agent_events and "buffering" not in agent_events


def test_handover_core_refuses_steps_out_of_order() -> None:
    h = Handover(mn_mac=MAC)
    with pytest.raises(HandoverError, match="nCoA"):
        h.establish_request()
    with pytest.raises(HandoverError, match="no address"):
        h.pre_configured(0.0)


def test_handover_core_refuses_mixed_ip_versions() -> None:
    from pana_mpa.config import PacConfig

    h = Handover(mn_mac=MAC)
    cand = CandidateNetwork(
        name="c", paa=("10.0.0.1", 716), ar_address=ipaddress.ip_address("10.0.0.1")
    )
    h.begin(cand, "10.96.1.10", PacConfig())
    h.extension.pre_configuration = PreConfiguration(ncoa=ipaddress.IPv6Address("2001:db8::5"))
    with pytest.raises(HandoverError, match="different IP versions"):
        h.establish_request()

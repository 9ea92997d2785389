"""An MPA handover run entirely in memory (virtual time): the engine behind ``demo --mpa``.

The MN pre-authenticates over a LoopbackNetwork with the candidate network's agent (PAA + DHCP
relay + AR), gets nCoA, brings up a tunnel (in-memory driver), re-registers with a correspondent
node through it, switches links and sends the PANA-Update from nCoA. Link-layer and DHCP delays
are parameters of the model; the PANA messages, keys and AVPs are the real ones.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer

from ..aio.loopback import LoopbackNetwork, TapHook, run_virtual
from ..aio.transport import Address, Transport
from ..config import PaaConfig, PacConfig
from ..mpa.dhcp import DhcpLease
from ..mpa.drivers.agent import MpaAgent
from ..mpa.drivers.controller import MpaController, MpaEvent
from ..mpa.info import CandidateNetwork
from ..mpa.keys import MpaKeys
from ..mpa.messages import IpAddress, PreConfiguration
from ..mpa.tunnel import InMemoryTunnelDriver

__all__ = ["DemoResult", "run_mpa_demo"]

IDENTITY = b"mn@example.net"
PSK = Secret(b"SecretPassphrase")
MN_MAC = bytes.fromhex("020000000a10")
OCOA = ipaddress.IPv4Address("10.97.1.10")
NCOA_POOL = "10.97.2.{}"
AR = ipaddress.IPv4Address("10.97.2.1")
CN_ADDR: Address = ("10.96.0.2", 5060)
BSSIDS = (bytes.fromhex("020000000b01"), bytes.fromhex("020000000b02"))


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo did: the MN's steps, the agent's actions, and the CN's bindings."""

    steps: list[MpaEvent]
    agent: list[Any]
    bindings: list[tuple[float, str]]
    tunnel_history: list[tuple[str, str]]
    mn_keys: MpaKeys | None
    """Keys the MN derived (never printed)."""
    agent_keys: dict[int, MpaKeys]
    """Keys the agent handed to its AR/CA interface, by session id (never printed)."""


def _agent(
    net: LoopbackNetwork, rng: random.Random, dhcp_delay: float
) -> tuple[MpaAgent, InMemoryTunnelDriver, dict[int, MpaKeys]]:
    """The candidate network's agent: PAA (EAP-PSK), DHCP relay (a stand-in server), AR."""
    loop = asyncio.get_running_loop()

    async def lease_provider(sid: int, mac: bytes, client_id: bytes) -> DhcpLease:
        await asyncio.sleep(dhcp_delay)  # the relay's DISCOVER/OFFER/REQUEST/ACK with the server
        return DhcpLease(
            address=ipaddress.IPv4Address(NCOA_POOL.format(100 + rng.randrange(100))),
            prefix_length=24, router=AR, dns_servers=(ipaddress.IPv4Address("10.96.0.53"),),
            lease_time=3600, server_id=ipaddress.IPv4Address("10.96.0.67"), client_id=client_id,
            acquired_at=loop.time(),
        )  # fmt: skip

    def lookup(identity: bytes) -> Secret | None:
        return PSK if identity == IDENTITY else None

    def eap_server() -> EapAuthenticator:
        return EapAuthenticator(
            methods=lambda ident: [lambda: PskServer(b"ctn-paa", lookup, rng=rng.randbytes)],
            rng=rng.randbytes,
        )

    tunnels = InMemoryTunnelDriver()
    flushed: list[bytes] = []  # buffered packets handed on at the end of the switch
    keys: dict[int, MpaKeys] = {}
    agent = MpaAgent(
        paa_config=PaaConfig(session_lifetime=3600), eap_factory=eap_server,
        transport=net.endpoint((str(AR), 716)), ar_address=AR, lease_provider=lease_provider,
        tunnels=tunnels, ar_link_address=bytes.fromhex("020000000201"), bssids=BSSIDS,
        key_sink=keys.__setitem__, rng=rng.randbytes,
        inject=flushed.append,  # a real AR writes them onto its CTN link (the lab's TUN)
    )  # fmt: skip
    return agent, tunnels, keys


def _correspondent(net: LoopbackNetwork) -> tuple[asyncio.Task[None], list[tuple[float, str]]]:
    """The correspondent node: records each registration and answers it."""
    loop = asyncio.get_running_loop()
    cn = net.endpoint(CN_ADDR)
    bindings: list[tuple[float, str]] = []

    async def cn_loop() -> None:
        while True:
            data, addr = await cn.recvfrom()
            bindings.append((loop.time(), data.decode()))
            cn.sendto(b"200 OK", addr)

    return asyncio.create_task(cn_loop()), bindings


def _controller(
    net: LoopbackNetwork, rng: random.Random, on_step: Callable[[MpaEvent], None] | None
) -> MpaController:
    """The MN: EAP-PSK peer, in-memory tunnels, a re-registration with the correspondent."""

    async def binding_update(address: IpAddress) -> None:
        # the mobility protocol's re-registration (a SIP re-INVITE in the draft's testbed)
        t = net.endpoint((str(address), 0))
        try:
            t.sendto(f"REGISTER {address}".encode(), CN_ADDR)
            await asyncio.wait_for(t.recvfrom(), 2.0)
        finally:
            t.close()

    return MpaController(
        eap_factory=lambda: EapPeer(
            identity=IDENTITY,
            methods={EAP_TYPE_PSK: lambda: PskPeer(IDENTITY, PSK, rng=rng.randbytes)},
        ),
        mn_mac=MN_MAC, tunnels=InMemoryTunnelDriver(), binding_update=binding_update,
        pac_config=PacConfig(), rng=rng.randbytes, on_event=on_step,
    )  # fmt: skip


async def _main(
    *,
    dhcp_delay: float,
    link_switch: float,
    seed: int,
    tap: TapHook | None,
    on_step: Callable[[MpaEvent], None] | None,
) -> DemoResult:
    net = LoopbackNetwork(seed=seed, delay=0.002, tap=tap)
    rng = random.Random(seed)  # noqa: S311 - a reproducible demo, not key material
    agent, agent_tunnels, agent_keys = _agent(net, rng, dhcp_delay)
    agent_task = asyncio.create_task(agent.run())
    cn_task, bindings = _correspondent(net)
    controller = _controller(net, rng, on_step)
    candidate = CandidateNetwork(name="ctn-1", paa=(str(AR), 716), ar_address=AR, bssids=BSSIDS)
    current: dict[str, Transport] = {"old": net.endpoint((str(OCOA), 0))}

    async def attach(cfg: PreConfiguration) -> Transport:
        current["old"].close()
        await asyncio.sleep(link_switch)  # the link-layer handover itself
        return net.endpoint((str(cfg.ncoa), 0))

    try:
        await controller.pre_authenticate(candidate, current["old"], OCOA)
        await controller.pre_configure()
        await controller.establish_tunnel()
        await controller.binding_update()
        await controller.switch(attach)
        await controller.complete()
    finally:
        await controller.close()
        agent.stop()
        await agent_task
        cn_task.cancel()
    return DemoResult(controller.events, agent.events, bindings, agent_tunnels.history,
                      controller.keys, agent_keys)  # fmt: skip


def run_mpa_demo(
    *,
    dhcp_delay: float = 0.05,
    link_switch: float = 0.05,
    seed: int = 7,
    tap: TapHook | None = None,
    on_step: Callable[[MpaEvent], None] | None = None,
) -> DemoResult:
    """Run the MPA handover on a virtual clock; deterministic for a seed.

    ``tap`` sees every datagram and ``on_step`` every MPA step as they happen, so a timeline
    built from both is in the order things happened (not only by timestamp).
    """

    async def main() -> DemoResult:
        return await _main(
            dhcp_delay=dhcp_delay, link_switch=link_switch, seed=seed, tap=tap, on_step=on_step
        )

    return run_virtual(main)

"""Several candidate networks pre-authenticated at once; abandoning one with PTR[E]."""

from __future__ import annotations

import asyncio
import ipaddress
import random

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.psk import EAP_TYPE_PSK, PskPeer, PskServer
from eap.peer import EapPeer
from pana_codecs import MessageFlags, MessageType, decode_pana
from pana_mpa.address import Address
from pana_mpa.aio.loopback import LoopbackNetwork, run_virtual
from pana_mpa.config import PaaConfig
from pana_mpa.events import SessionTerminated
from pana_mpa.mpa.dhcp import DhcpLease
from pana_mpa.mpa.drivers.agent import MpaAgent
from pana_mpa.mpa.drivers.controller import MpaController
from pana_mpa.mpa.info import CandidateNetwork
from pana_mpa.mpa.tunnel import InMemoryTunnelDriver

IDENTITY = b"mn@example.net"
PSK = Secret(b"SecretPassphrase")
MAC = bytes.fromhex("020000000a10")
OCOA = ipaddress.IPv4Address("10.97.1.10")


def test_two_candidates_then_abandon_one() -> None:
    seen: list[tuple[Address, bytes]] = []

    async def scenario() -> dict[str, object]:
        rng = random.Random(11)
        net = LoopbackNetwork(seed=11, delay=0.002,
                              tap=lambda now, s, d, data: seen.append((d, data)))  # fmt: skip
        agents: dict[str, MpaAgent] = {}
        tasks = []
        for i, name in enumerate(("ctn-a", "ctn-b")):
            ar = ipaddress.IPv4Address(f"10.97.{2 + i}.1")

            async def lease(
                sid: int, mac: bytes, cid: bytes, ar: ipaddress.IPv4Address = ar
            ) -> DhcpLease:
                net_part = str(ar).rsplit(".", 1)[0]
                return DhcpLease(address=ipaddress.IPv4Address(f"{net_part}.100"), prefix_length=24,
                                 router=ar, dns_servers=(), lease_time=600, server_id=ar,
                                 client_id=cid, acquired_at=0.0)  # fmt: skip

            def lookup(ident: bytes) -> Secret | None:
                return PSK if ident == IDENTITY else None

            def eap_server() -> EapAuthenticator:
                return EapAuthenticator(
                    methods=lambda i: [lambda: PskServer(b"ctn", lookup, rng=rng.randbytes)],
                    rng=rng.randbytes,
                )

            agent = MpaAgent(paa_config=PaaConfig(), eap_factory=eap_server,
                             transport=net.endpoint((str(ar), 716)), ar_address=ar,
                             lease_provider=lease, tunnels=InMemoryTunnelDriver(),
                             rng=rng.randbytes)  # fmt: skip
            agents[name] = agent
            tasks.append(asyncio.create_task(agent.run()))

        async def bu(address: object) -> None:
            return None

        controllers = {}
        for name, agent in agents.items():
            c = MpaController(
                eap_factory=lambda: EapPeer(identity=IDENTITY, methods={
                    EAP_TYPE_PSK: lambda: PskPeer(IDENTITY, PSK, rng=rng.randbytes)}),
                mn_mac=MAC, tunnels=InMemoryTunnelDriver(), binding_update=bu, rng=rng.randbytes,
            )  # fmt: skip
            cand = CandidateNetwork(name=name, paa=(str(agent.ar_address), 716),
                                    ar_address=agent.ar_address)  # fmt: skip
            controllers[name] = c
            await c.pre_authenticate(cand, net.endpoint((str(OCOA), 0)), OCOA)
        # both candidates at once: two pre-authentication sessions, two addresses delivered
        for c in controllers.values():
            await c.pre_configure()
        ncoas = {n: str(c.pre_configuration.ncoa) for n, c in controllers.items()
                 if c.pre_configuration}  # fmt: skip
        steps = [e.step for e in (await controllers["ctn-b"].abandon(),)]
        await asyncio.sleep(0.1)
        ended = [e for e in agents["ctn-b"].pana_events if isinstance(e, SessionTerminated)]
        alive = [e for e in agents["ctn-a"].pana_events if isinstance(e, SessionTerminated)]
        await controllers["ctn-a"].close()
        for a in agents.values():
            a.stop()
        for t in tasks:
            await t
        return {
            "ncoas": ncoas,
            "steps": steps,
            "ended": len(ended),
            "alive": len(alive),
            "ctn_b_state": len(agents["ctn-b"].extension.sessions),
        }

    out = run_virtual(scenario)
    assert out["ncoas"] == {"ctn-a": "10.97.2.100", "ctn-b": "10.97.3.100"}
    assert out["steps"] == ["abandoned"]
    assert out["ended"] == 1 and out["alive"] == 0
    assert out["ctn_b_state"] == 0  # the PAA forgot the abandoned MN's MPA state
    ptrs = [decode_pana(d) for dst, d in seen if dst == ("10.97.3.1", 716)]
    ptr = [m for m in ptrs if m.type == MessageType.PANA_TERMINATION]
    assert ptr and all(m.flags & MessageFlags.E for m in ptr)  # PTR[E] (RFC 5873)

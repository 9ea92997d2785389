"""An MPA handover (RFC 6252) in memory, on the public API: ``python -m examples.mpa_handover``.

The mobile node (MN) pre-authenticates with the candidate network's agent (PAA + DHCP relay +
access router) through its current network, gets its new address (nCoA) before it moves, brings up
a tunnel to the access router, re-registers with its correspondent, switches links and sends the
PANA-Update from nCoA. No network and no root: a LoopbackNetwork on a virtual clock, an in-memory
tunnel driver and a stand-in DHCP server; the PANA messages, AVPs and keys are the real ones.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import random
import sys
from collections.abc import Sequence

from eap import EapAuthenticator, EapPeer, PskPeer, PskServer, Secret
from pana_mpa import LoopbackNetwork, PaaConfig, Transport, run_virtual
from pana_mpa.mpa import (
    CandidateNetwork,
    DhcpLease,
    InMemoryTunnelDriver,
    MpaAgent,
    MpaController,
    MpaEvent,
    PreConfiguration,
)

IDENTITY = b"mn@example.net"
PSK = Secret(b"SecretPassphrase")  # EAP-PSK keys are 16 octets (RFC 4764)
OLD_ADDRESS = ipaddress.IPv4Address("192.0.2.10")  # oCoA, in the current network
ROUTER = ipaddress.IPv4Address("198.51.100.1")  # the candidate network's PAA and access router
CORRESPONDENT = ("203.0.113.5", 5060)


async def main(args: argparse.Namespace) -> int:
    """Run the six MPA steps and print each as it completes."""
    rng = random.Random(args.seed).randbytes  # noqa: S311 - reproducible; real use: the default
    net = LoopbackNetwork(seed=args.seed, delay=0.002)
    loop = asyncio.get_running_loop()

    async def lease(session_id: int, mac: bytes, client_id: bytes) -> DhcpLease:
        await asyncio.sleep(0.05)  # the relay's exchange with the candidate's DHCP server
        return DhcpLease(
            address=ipaddress.IPv4Address("198.51.100.23"), prefix_length=24, router=ROUTER,
            dns_servers=(), lease_time=3600, server_id=ROUTER, client_id=client_id,
            acquired_at=loop.time(),
        )  # fmt: skip

    def eap_server() -> EapAuthenticator:
        lookup = {IDENTITY: PSK}.get
        return EapAuthenticator(methods=lambda _: [lambda: PskServer(b"ctn", lookup, rng)], rng=rng)

    agent = MpaAgent(
        paa_config=PaaConfig(), eap_factory=eap_server, transport=net.endpoint((str(ROUTER), 716)),
        ar_address=ROUTER, lease_provider=lease, tunnels=InMemoryTunnelDriver(), rng=rng,
    )  # fmt: skip
    agent_task = asyncio.create_task(agent.run())
    correspondent = net.endpoint(CORRESPONDENT)

    async def answer_registrations() -> None:
        while True:
            data, addr = await correspondent.recvfrom()
            print(f"{loop.time():7.3f}s correspondent: {data.decode()} from {addr[0]}")
            correspondent.sendto(b"200 OK", addr)

    correspondent_task = asyncio.create_task(answer_registrations())

    async def binding_update(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        # the mobility protocol's re-registration (a SIP re-INVITE in RFC 6252's testbed)
        endpoint = net.endpoint((str(address), 0))
        endpoint.sendto(f"REGISTER {address}".encode(), CORRESPONDENT)
        await asyncio.wait_for(endpoint.recvfrom(), 2.0)
        endpoint.close()

    def show(event: MpaEvent) -> None:
        details = " ".join(f"{k}={v}" for k, v in event.detail.items())
        print(f"{event.time:7.3f}s {event.step} {details}".rstrip())

    controller = MpaController(
        eap_factory=lambda: EapPeer(
            identity=IDENTITY, methods={PskPeer.method_type: lambda: PskPeer(IDENTITY, PSK, rng)}
        ),
        mn_mac=bytes.fromhex("020000000a10"), tunnels=InMemoryTunnelDriver(),
        binding_update=binding_update, rng=rng, on_event=show,
    )  # fmt: skip
    candidate = CandidateNetwork(name="candidate", paa=(str(ROUTER), 716), ar_address=ROUTER)
    old_link = net.endpoint((str(OLD_ADDRESS), 0))

    async def move(config: PreConfiguration) -> Transport:
        old_link.close()
        await asyncio.sleep(0.05)  # the link-layer handover itself
        return net.endpoint((str(config.ncoa), 0))

    try:
        await controller.pre_authenticate(candidate, old_link, OLD_ADDRESS)  # 1
        await controller.pre_configure()  # 2: nCoA, before the move
        await controller.establish_tunnel()  # 3: proactive tunnel oCoA <-> access router
        await controller.binding_update()  # 4: through the tunnel
        await controller.switch(move)  # 5: the access router buffers; the link switches
        await controller.complete()  # 6: PANA-Update from nCoA, tunnel released
    finally:
        await controller.close()
        agent.stop()
        await agent_task
        correspondent_task.cancel()
    return 0 if controller.events[-1].step == "handover_complete" else 1


def run(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, configure logging, run main() on a virtual clock."""
    parser = argparse.ArgumentParser(prog="python -m examples.mpa_handover", description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2))
    return run_virtual(lambda: main(args))


if __name__ == "__main__":
    sys.exit(run())

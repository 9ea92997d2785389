"""The candidate network's router in MPA: PAA + DHCP relay + tunnel end point + switch buffer.

This is Router 2 of the draft's testbed (RFC 6252 s6.3, co-located AR, PAA and DHCP relay). It
runs a PaaServer with the MPA extension, gets each MN's next address from the CTN's DHCP server
(through ``lease_provider``), terminates proactive tunnels through a TunnelDriver, and buffers
packets for nCoA during the link switch or bicasts them to the tunnel and the new link
(ArDataPlane).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from eap.rng import Rng, system_rng

from ...address import Address
from ...aio import Driver
from ...aio.runner import AAA_FAILURE, AaaBackend
from ...aio.transport import Transport
from ...config import PaaConfig
from ...events import (
    Authenticated,
    PanaEvent,
    PingAnswered,
    PreAuthSwitched,
    Reauthenticated,
    SessionTerminated,
)
from ...paa import PaaServer
from ...state import PaaState
from ..ar import ArDataPlane, Forward, direct_frame
from ..avps import DEFAULT_VENDOR_ID, TunnelAction
from ..dhcp import DhcpLease
from ..dhcp6 import Dhcp6Lease
from ..extensions import PaaMpaExtension, TunnelRequest
from ..keys import MpaKeys, derive_mpa_keys
from ..messages import IpAddress, PreConfiguration
from ..tunnel import TunnelDriver, TunnelError, TunnelSpec

__all__ = ["AgentConfig", "AgentEvent", "LeaseProvider", "MpaAgent", "lease_configuration"]

logger = logging.getLogger(__name__)

LeaseProvider = Callable[[int, bytes, bytes], Awaitable[DhcpLease | Dhcp6Lease]]
"""(session id, MN MAC, DHCP client id) -> the lease the CTN's DHCP server granted.

A DHCPv6 provider (``acquire_lease6``) ignores the DHCPv4 client id: the lease is held under
the MN's DUID-LL and IAID (``dhcp6.duid_ll``, ``dhcp6.iaid_for``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentEvent:
    """Something the agent did, for timelines and tests (no key material)."""

    time: float
    name: str
    session_id: int
    detail: dict[str, Any] = field(default_factory=dict)


class _AgentNode:
    """The agent's PAA as its driver sees it: accepted tunnel operations run after each input."""

    def __init__(self, paa: PaaServer, after: Callable[[], None]) -> None:
        self._paa = paa
        self._after = after

    @property
    def closed(self) -> bool:
        return self._paa.closed

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        try:
            self._paa.receive_datagram(data, addr, now)
        finally:
            self._after()

    def handle_timer(self, now: float) -> None:
        self._paa.handle_timer(now)
        self._after()

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        return self._paa.datagrams_to_send(now)

    def get_timer(self) -> float | None:
        return self._paa.get_timer()

    def next_event(self) -> PanaEvent | None:
        return self._paa.next_event()


def lease_configuration(lease: DhcpLease | Dhcp6Lease) -> PreConfiguration:
    """The pre-configuration that carries a DHCP or DHCPv6 lease to the MN (docs/mpa-wire.md)."""
    if isinstance(lease, Dhcp6Lease):
        return PreConfiguration(
            ncoa=lease.address, prefix_length=lease.prefix_length, router=lease.router,
            lifetime=lease.valid_lifetime, dns_servers=lease.dns_servers,
            client_id=lease.client_duid, dhcp_server=lease.server_address,
            dhcp6_server_id=lease.server_duid, dhcp6_iaid=lease.iaid,
        )  # fmt: skip
    return PreConfiguration(
        ncoa=lease.address, prefix_length=lease.prefix_length, router=lease.router,
        lifetime=lease.lease_time, dns_servers=lease.dns_servers, client_id=lease.client_id,
        dhcp_server=lease.server_id,
    )  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    """What the CTN router announces and how it reaches the MN (RFC 6252 s6.3, docs/mpa-wire.md)."""

    ar_address: IpAddress | str
    """The access router's address: the AR end of proactive tunnels."""
    ca_address: IpAddress | str | None = None
    """The configuration agent's address (default: the AR's)."""
    ar_link_address: bytes | None = None
    """The AR's MAC on the CTN link (for the MN's neighbour entry, and bicast frames)."""
    bssids: Sequence[bytes] = ()
    """The CTN's access points, announced as Device-Ids for PMK pre-derivation."""
    vendor_id: int = DEFAULT_VENDOR_ID
    proxy_arp_on: str | None = None
    """Interface on which the AR answers ARP for nCoA while its tunnel is up."""
    router_advertisement: bytes | None = None
    """An IPv6 CTN's Router Advertisement, carried to the MN to form nCoA (SLAAC)."""
    ctn_interface: str | None = None
    """The CTN-link interface bicast copies go out of."""


_CONFIG_FIELDS = frozenset(AgentConfig.__dataclass_fields__)


class MpaAgent:
    """Runs the CTN router's MPA functions on one PANA transport.

    Configuration is an :class:`AgentConfig` (``config=``); for compatibility its fields may
    also be given as keyword arguments. ``inject`` delivers buffered packets at the end of a
    switch; without it the agent does not buffer (DISABLE keeps the tunnel forwarding).
    """

    def __init__(
        self,
        *,
        paa_config: PaaConfig,
        eap_factory: Callable[[], Any] | None,
        transport: Transport,
        lease_provider: LeaseProvider | None,
        tunnels: TunnelDriver,
        config: AgentConfig | None = None,
        data_plane: ArDataPlane | None = None,
        inject: Callable[[bytes], None] | None = None,
        key_sink: Callable[[int, MpaKeys], None] | None = None,
        send_frame: Callable[[str, bytes], bool] | None = None,
        rng: Rng = system_rng,
        aaa: Callable[[int], AaaBackend] | None = None,
        **fields: Any,
    ) -> None:
        unknown = set(fields) - _CONFIG_FIELDS
        if unknown:
            raise TypeError(f"MpaAgent got unknown arguments: {', '.join(sorted(unknown))}")
        if (eap_factory is None) == (aaa is None):
            raise TypeError("give either eap_factory= (local EAP server) or aaa= (pass-through)")
        if config is None:
            config = AgentConfig(**fields)
        elif fields:
            raise TypeError("give either config= or its fields, not both")
        self.config = config
        self.ar_address = ipaddress.ip_address(config.ar_address)
        self.extension = PaaMpaExtension(
            ar_address=self.ar_address, ca_address=config.ca_address,
            ar_link_address=config.ar_link_address, bssids=config.bssids,
            vendor_id=config.vendor_id, on_session=self._on_session,
        )  # fmt: skip
        paa = replace(paa_config, pre_authentication=True, extension=self.extension)
        self.paa = PaaServer(paa, eap_factory=eap_factory, rng=rng)
        self._transport = transport
        self._lease_provider = lease_provider
        self.tunnels = tunnels
        self.data_plane = data_plane or ArDataPlane()
        self._inject = inject
        self._key_sink = key_sink
        self._send_frame = send_frame
        self._mn_mac_of: dict[str, bytes] = {}  # tunnel name -> the MN's MAC, for bicasting
        self.events: list[AgentEvent] = []
        self.pana_events: list[PanaEvent] = []
        self._tunnel_of: dict[int, TunnelSpec] = {}
        self._count = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._late: set[int] = set()
        self.bicast_sent = 0
        """Direct copies put on the CTN link while bicasting."""
        self.dropped_at_flush = 0
        """Buffered packets that had nowhere to go at the end of a switch (no ``inject``)."""
        self._aaa = aaa
        self._aaa_backends: dict[int, AaaBackend] = {}
        self._aaa_locks: dict[int, asyncio.Lock] = {}
        self._driver: Driver[PanaEvent] = Driver(
            _AgentNode(self.paa, self._after_step), transport, self._on_pana_event,
            contain_errors=True,
        )  # fmt: skip

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _record(self, name: str, session_id: int, **detail: Any) -> None:
        self.events.append(AgentEvent(time=self._now(), name=name, session_id=session_id,
                                      detail=detail))  # fmt: skip
        logger.info("agent %s sid=%#x %s", name, session_id, detail)

    # ---- DHCP on the MN's behalf ---------------------------------------------------------------

    def _on_session(self, session_id: int, mn_mac: bytes | None) -> None:
        if self.config.router_advertisement is not None:
            # IPv6 CTN: the MN forms nCoA itself from the link's RA (RFC 6252 s7.3.4)
            cfg = PreConfiguration(router_advertisement=self.config.router_advertisement)
            self.extension.set_configuration(session_id, cfg)
            self._record("router_advertisement_ready", session_id)
        if self._lease_provider is None:
            return
        if mn_mac is None:
            logger.info("sid=%#x: MPA PaC sent no MAC; no address pre-configuration", session_id)
            return
        task = asyncio.get_running_loop().create_task(self._get_lease(session_id, mn_mac))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _get_lease(self, session_id: int, mn_mac: bytes) -> None:
        client_id = b"\x01" + mn_mac  # RFC 2132 s9.14: the same id before and after the move
        assert self._lease_provider is not None
        try:
            lease = await self._lease_provider(session_id, mn_mac, client_id)
        except Exception as exc:  # a DHCP failure must not take the PAA down
            self._record("lease_failed", session_id, reason=str(exc))
            return
        self._record("lease_acquired", session_id, address=str(lease.address))
        if self.extension.set_configuration(session_id, lease_configuration(lease)):
            # PAR[C] went out before DHCP finished: deliver in the PAA's own PNR[P,E], as soon
            # as the session is OPEN (a lease can arrive between PAR[C] and PAN[C])
            self._late.add(session_id)
            self._deliver_late(session_id)

    def _deliver_late(self, session_id: int) -> None:
        if session_id not in self._late:
            return
        try:
            session = self.paa.session(session_id)
        except KeyError:
            self._late.discard(session_id)  # the session is gone
            return
        if session.state is not PaaState.OPEN:
            return  # retried when the session is OPEN again (Authenticated, PingAnswered)
        self._late.discard(session_id)
        avps = self.extension.deferred_address_avps(session_id)
        self.paa.ping(session_id, self._now(), avps)
        self._driver.wake()
        self._record("address_delivered_late", session_id)

    # ---- tunnel management (the draft's PANA-Update) -------------------------------------------

    def _after_step(self) -> None:
        self._perform_tunnel_requests()
        if self._aaa is None:
            return
        for session_id, eap_response in self.paa.pending_aaa():
            task = asyncio.get_running_loop().create_task(
                self._aaa_exchange(session_id, eap_response)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _aaa_exchange(self, session_id: int, eap_response: bytes | None) -> None:
        """One pass-through step (RFC 5191 s2: the PAA relays EAP to the AAA server)."""
        assert self._aaa is not None
        async with self._aaa_locks.setdefault(session_id, asyncio.Lock()):
            backend = self._aaa_backends.get(session_id)
            if backend is None:
                backend = self._aaa_backends[session_id] = self._aaa(session_id)
            elif eap_response is None:
                restart = getattr(backend, "restart", None)
                if callable(restart):
                    restart()  # re-authentication: a new EAP conversation
            try:
                output = await backend.exchange(eap_response)
            except Exception as exc:  # AAA unreachable, wrong secret: the conversation fails
                logger.warning("AAA exchange for session 0x%08x failed: %s", session_id, exc)
                output = AAA_FAILURE
            try:
                self.paa.aaa_answer(session_id, output, self._now())
            except Exception as exc:  # the session ended while the AAA server thought
                logger.debug("AAA answer for session 0x%08x not taken: %s", session_id, exc)
                return
            self._driver.wake()

    def _release_aaa(self, session_id: int) -> None:
        backend = self._aaa_backends.pop(session_id, None)
        self._aaa_locks.pop(session_id, None)
        close = getattr(backend, "close", None)
        if callable(close):
            close()

    def _perform_tunnel_requests(self) -> None:
        """Carry out the PANA-Updates the PAA accepted (after the datagram was processed)."""
        for req in self.extension.take_tunnel_requests():
            self._on_tunnel(req)

    def _on_tunnel(self, req: TunnelRequest) -> None:
        sid = req.session_id
        if req.action is TunnelAction.ESTABLISH:
            assert req.outer is not None and req.inner is not None
            if req.outer.version != self.ar_address.version:
                self._record("tunnel_failed", sid, reason="outer address family differs from AR")
                return
            self._count += 1
            host = ipaddress.ip_network(f"{req.inner}/{req.inner.max_prefixlen}")
            spec = TunnelSpec(f"mpar{self._count}", self.ar_address, req.outer, req.inner,
                              routes=(host,), proxy_arp_on=self.config.proxy_arp_on)  # fmt: skip
            try:
                self.tunnels.establish(spec)
            except TunnelError as exc:
                # the MN was told OK (the request was valid); it will not get the tunnel
                logger.warning("sid=%#x: tunnel set-up failed at the AR: %s", sid, exc)
                self._record("tunnel_failed", sid, reason=str(exc))
                return
            self._tunnel_of[sid] = spec
            st = self.extension.sessions.get(sid)
            if st is not None and st.mn_mac is not None:
                self._mn_mac_of[spec.name] = st.mn_mac
            self.data_plane.bind(req.inner)
            self._record("tunnel_established", sid, outer=str(req.outer), inner=str(req.inner))
            return
        current = self._tunnel_of.get(sid)
        if current is None:
            return  # nothing to tear down
        if req.action is TunnelAction.DISABLE:
            policy = self.data_plane.policy
            if self._inject is None and policy.buffering and not policy.bicast:
                # held packets could not be delivered: keep tunnelling until DELETE
                self._record("buffering_unavailable", sid, inner=str(current.inner))
                return
            self.data_plane.start_switch(current.inner)
            self._record("buffering", sid, inner=str(current.inner))
            return
        self._release(sid, flush=True)

    def _release(self, session_id: int, *, flush: bool) -> None:
        spec = self._tunnel_of.pop(session_id, None)
        if spec is None:
            return
        # delete first: from now on the kernel routes nCoA onto the CTN link, then flush
        self.tunnels.delete(spec.name)
        self._mn_mac_of.pop(spec.name, None)
        held = self.data_plane.complete_switch(spec.inner, self._now()) if flush else []
        if not flush:
            self.data_plane.release(spec.inner)
        if held and self._inject is None:
            self.dropped_at_flush += len(held)
            logger.warning("sid=%#x: %d buffered packets dropped: no inject= to deliver them",
                           session_id, len(held))  # fmt: skip
            self._record("tunnel_deleted", session_id, inner=str(spec.inner), flushed=0,
                         dropped=len(held))  # fmt: skip
            return
        for packet in held:
            assert self._inject is not None
            self._inject(packet)
        self._record("tunnel_deleted", session_id, inner=str(spec.inner), flushed=len(held))

    def forward_hook(self, spec: TunnelSpec, packet: bytes) -> bool:
        """For LinuxIpipDriver: False keeps the packet (held or dropped) instead of tunneling."""
        decision = self.data_plane.on_packet(spec.inner, packet, self._now())
        if decision is Forward.BICAST:
            self._bicast(spec, packet)
        # DIRECT here means the tunnel is about to go: send it through rather than drop it
        return decision in (Forward.TUNNEL, Forward.BICAST, Forward.DIRECT)

    def _bicast(self, spec: TunnelSpec, packet: bytes) -> None:
        """A bicast packet's direct copy: onto the CTN link, to the MN's MAC (RFC 6252 s7.6)."""
        mn_mac = self._mn_mac_of.get(spec.name)
        if (
            mn_mac is None
            or self._send_frame is None
            or self.config.ctn_interface is None
            or self.config.ar_link_address is None
        ):
            return  # no MN MAC (PCI[E] without it) or no link to send on: tunnel copy only
        # the kernel forwarded the packet into the tunnel device and decremented its TTL there
        frame = direct_frame(
            packet, dst_mac=mn_mac, src_mac=self.config.ar_link_address, decrement_ttl=False
        )
        if frame is not None and self._send_frame(self.config.ctn_interface, frame):
            self.bicast_sent += 1

    # ---- running -------------------------------------------------------------------------------

    def _on_pana_event(self, event: PanaEvent) -> None:
        self.pana_events.append(event)
        if isinstance(event, Authenticated | Reauthenticated):
            self._hand_out_keys(event)
            self._deliver_late(event.session_id)
        elif isinstance(event, PingAnswered):
            self._deliver_late(event.session_id)
        if isinstance(event, PreAuthSwitched):
            self._record("pre_auth_switched", event.session_id, peer=f"{event.peer[0]}")
            self._release(event.session_id, flush=True)  # the PANA-Update, even without the AVP
        elif isinstance(event, SessionTerminated):
            self._release(event.session_id, flush=False)
            self.extension.forget(event.session_id)
        if type(event).__name__ in ("SessionTerminated", "AuthenticationFailed"):
            sid = getattr(event, "session_id", None)
            if isinstance(sid, int):
                self._release_aaa(sid)

    def _hand_out_keys(self, event: Authenticated | Reauthenticated) -> None:
        """Give the MN-AR/MN-CA keys to a separate AR or CA (docs/mpa-wire.md "Keys")."""
        session = self.paa.session(event.session_id) if event.session_id else None
        if self._key_sink is None or session is None or event.msk is None:
            return
        if event.key_id is None or session.prf_algorithm is None:
            return
        st = self.extension.sessions.get(event.session_id)
        if st is None or not st.capable:
            return
        ag = self.extension.agents
        keys = derive_mpa_keys(
            prf_algorithm=session.prf_algorithm, msk=event.msk, session_id=event.session_id,
            key_id=event.key_id, ar_address=ag.ar_address, ca_address=ag.ca_address,
            bssids=ag.bssids, mn_mac=st.mn_mac,
        )  # fmt: skip
        self._key_sink(event.session_id, keys)
        self._record("keys_distributed", event.session_id, key_id=event.key_id)

    async def run(self) -> None:
        """Serve until the transport closes or stop() is called."""
        try:
            await self._driver.run()
        finally:
            for task in list(self._tasks):
                task.cancel()
            for session_id in list(self._aaa_backends):
                self._release_aaa(session_id)  # the AAA sockets of sessions still open

    def stop(self) -> None:
        """Make run() return."""
        self._driver.stop()

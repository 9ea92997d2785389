"""The MN side of MPA: the six steps of RFC 6252 s6.3 as async methods, with a timeline of events.

1 pre-authentication (PANA with the candidate PAA through the current network, E flag),
2 pre-configuration (nCoA from the CTN's DHCP server, delivered by the PAA), 3 proactive tunnel
(PANA-Update establish) and the binding update through it, 4 pre-switching, 5 the link switch,
6 post-switching (the PANA-Update from nCoA that makes the session serving and deletes the tunnel).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from eap.rng import Rng, system_rng

from ...aio import ClientError, PacClient
from ...aio.transport import Transport
from ...config import PacConfig
from ...events import Authenticated, PanaEvent
from ...pac import PacSession
from ..avps import DEFAULT_VENDOR_ID, MpaStatus, TunnelAction
from ..extensions import MnExtension, tunnel_action_avps
from ..info import CandidateNetwork
from ..keys import MpaKeys, derive_mpa_keys
from ..messages import IpAddress, PreConfiguration
from ..ra import RaError, parse_router_advertisement, slaac_address
from ..tunnel import TunnelDriver, TunnelSpec

__all__ = ["HandoverError", "MpaController", "MpaEvent", "ReactiveHandover"]

logger = logging.getLogger(__name__)


class HandoverError(RuntimeError):
    """A step of the handover failed; the message says which and why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MpaEvent:
    """One step of the handover, with the time it completed (loop time)."""

    time: float
    step: str
    """pre_authenticated, pre_configured, tunnel_up, binding_updated, switched, tunnel_released,
    handover_complete (MPA); moved, address_acquired, authenticated, binding_updated,
    handover_complete (the non-MPA path)."""
    detail: Mapping[str, Any] = field(default_factory=dict)
    """Step facts (addresses, key ids); never key material."""


class _Client(PacClient[PanaEvent]):
    """PacClient with the MPA requests: a PNR[P] carrying AVPs, and the switch."""

    async def notify(self, avps: list[Any], timeout: float | None) -> PanaEvent:
        session = self.session
        assert isinstance(session, PacSession)
        return await self._request(
            lambda now: session.ping(now, avps), {"PingAnswered"}, {"SessionTerminated"}, timeout
        )

    async def switch(self, avps: list[Any], timeout: float | None) -> PanaEvent:
        session = self.session
        assert isinstance(session, PacSession)
        return await self._request(
            lambda now: session.switch(now, avps), {"PingAnswered"}, {"SessionTerminated"},
            timeout,
        )  # fmt: skip


class MpaController:
    """An MN doing media-independent pre-authentication with one candidate network."""

    def __init__(
        self,
        *,
        eap_factory: Callable[[], Any],
        mn_mac: bytes,
        tunnels: TunnelDriver,
        binding_update: Callable[[IpAddress], Awaitable[None]],
        pac_config: PacConfig | None = None,
        vendor_id: int = DEFAULT_VENDOR_ID,
        rng: Rng = system_rng,
        tunnel_name: str = "mpa0",
        timeout: float = 30.0,
        renew: Callable[[PreConfiguration], Awaitable[None]] | None = None,
    ) -> None:
        self._eap_factory = eap_factory
        self._renew = renew
        self.mn_mac = mn_mac
        self._tunnels = tunnels
        self._binding_update = binding_update
        self._base_config = pac_config or PacConfig()
        self.vendor_id = vendor_id
        self._rng = rng
        self._tunnel_name = tunnel_name
        self.timeout = timeout
        self.events: list[MpaEvent] = []
        self.extension = MnExtension(mn_mac=mn_mac, vendor_id=vendor_id)
        self.session: PacSession | None = None
        self._client: _Client | None = None
        self.candidate: CandidateNetwork | None = None
        self.ocoa: IpAddress | None = None
        self.keys: MpaKeys | None = None
        self.authenticated: Authenticated | None = None
        self.tunnel: TunnelSpec | None = None

    # ---- helpers -------------------------------------------------------------------------------

    def _record(self, step: str, **detail: Any) -> MpaEvent:
        event = MpaEvent(time=asyncio.get_running_loop().time(), step=step, detail=detail)
        self.events.append(event)
        logger.info("MPA %s %s", step, detail)
        return event

    def _need_client(self) -> _Client:
        if self._client is None:
            raise HandoverError("no pre-authentication session: call pre_authenticate() first")
        return self._client

    @property
    def pre_configuration(self) -> PreConfiguration | None:
        """What the candidate PAA delivered so far."""
        return self.extension.pre_configuration

    # ---- step 1 --------------------------------------------------------------------------------

    async def pre_authenticate(
        self, candidate: CandidateNetwork, transport: Transport, ocoa: IpAddress | str
    ) -> MpaEvent:
        """Authenticate with the candidate PAA through the current network (PCI[E], RFC 5873)."""
        if self._client is not None:
            raise HandoverError("already pre-authenticated")
        self.candidate = candidate
        self.ocoa = ipaddress.ip_address(ocoa)
        config = replace(self._base_config, pre_authentication=True, extension=self.extension)
        self.session = PacSession(config, paa=candidate.paa, eap=self._eap_factory(),
                                  rng=self._rng)  # fmt: skip
        self._client = _Client(self.session, transport)
        await self._client.__aenter__()
        try:
            event = await self._client.authenticate(timeout=self.timeout)
        except (ClientError, TimeoutError) as exc:
            await self._client.close()
            self._client = None
            raise HandoverError(f"pre-authentication with {candidate.name} failed: {exc}") from exc
        assert isinstance(event, Authenticated)
        self.authenticated = event
        if self.extension.peer_capabilities is None:
            raise HandoverError(f"candidate PAA of {candidate.name} does not speak MPA")
        cfg = self.extension.pre_configuration
        if event.msk is not None and event.key_id is not None and cfg is not None:
            ar = cfg.ar_address or candidate.ar_address
            self.keys = derive_mpa_keys(
                prf_algorithm=event.prf_algorithm or 2, msk=event.msk,
                session_id=event.session_id, key_id=event.key_id, ar_address=ar,
                ca_address=cfg.ca_address or ar, bssids=cfg.bssids, mn_mac=self.mn_mac,
            )  # fmt: skip
        return self._record(
            "pre_authenticated", candidate=candidate.name, session_id=event.session_id,
            key_id=event.key_id, access_points=len(cfg.bssids) if cfg else 0,
        )  # fmt: skip

    # ---- step 2 --------------------------------------------------------------------------------

    async def pre_configure(self) -> MpaEvent:
        """Wait until the PAA delivered nCoA (in PAR[C], or later in its own PNR[P,E])."""
        self._need_client()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while not (self.pre_configuration and self.pre_configuration.has_address):
            if loop.time() >= deadline or self.session is None or self.session.closed:
                raise HandoverError("the candidate PAA delivered no address")
            await asyncio.sleep(0.01)
        cfg = self.pre_configuration
        if cfg.ncoa is None and cfg.router_advertisement is not None:
            # IPv6: form nCoA from the candidate link's RA now, not after the move (RFC 6252 s7.3.4)
            try:
                ra = parse_router_advertisement(cfg.router_advertisement)
            except RaError as exc:
                raise HandoverError(f"the PAA's Router Advertisement is malformed: {exc}") from exc
            address = slaac_address(ra, self.mn_mac)
            if address is None:
                raise HandoverError("the Router Advertisement has no autonomous /64 prefix")
            cfg = replace(
                cfg,
                ncoa=address,
                prefix_length=64,
                router=cfg.router or (ra.prefixes[0].network.network_address + 1),
            )
            self.extension.pre_configuration = cfg
        return self._record(
            "pre_configured", ncoa=str(cfg.ncoa), prefix_length=cfg.prefix_length,
            router=str(cfg.router), lease=cfg.lifetime,
        )  # fmt: skip

    # ---- step 3 --------------------------------------------------------------------------------

    async def establish_tunnel(self, routes: tuple[ipaddress.IPv4Network, ...] = ()) -> MpaEvent:
        """PANA-Update (establish): the AR tunnels nCoA to our oCoA; then our end."""
        client = self._need_client()
        cfg = self.pre_configuration
        if cfg is None or cfg.ncoa is None or self.ocoa is None:
            raise HandoverError("no nCoA yet: pre_configure() first")
        ar = cfg.ar_address or (self.candidate.ar_address if self.candidate else None)
        if ar is None:
            raise HandoverError("no access router address")
        avps = tunnel_action_avps(TunnelAction.ESTABLISH, outer=self.ocoa, inner=cfg.ncoa,
                                  vendor_id=self.vendor_id)  # fmt: skip
        before = len(self.extension.statuses)
        await client.notify(avps, self.timeout)
        status = self.extension.statuses[before:]
        if status != [MpaStatus.OK]:
            raise HandoverError(f"the AR refused the tunnel: {status}")
        assert isinstance(self.ocoa, ipaddress.IPv4Address)
        assert isinstance(ar, ipaddress.IPv4Address) and isinstance(cfg.ncoa, ipaddress.IPv4Address)
        self.tunnel = TunnelSpec(self._tunnel_name, self.ocoa, ar, cfg.ncoa, routes=routes,
                                 inner_on_device=True)  # fmt: skip
        self._tunnels.establish(self.tunnel)
        return self._record("tunnel_up", outer=str(self.ocoa), ar=str(ar), inner=str(cfg.ncoa))

    async def binding_update(self) -> MpaEvent:
        """Run the caller's mobility binding update with nCoA (through the tunnel)."""
        cfg = self.pre_configuration
        if cfg is None or cfg.ncoa is None:
            raise HandoverError("no nCoA yet")
        await self._binding_update(cfg.ncoa)
        return self._record("binding_updated", address=str(cfg.ncoa))

    # ---- steps 4 and 5 -------------------------------------------------------------------------

    async def switch(self, attach: Callable[[PreConfiguration], Awaitable[Transport]]) -> MpaEvent:
        """Pre-switch (the AR starts buffering), drop our tunnel end, and move the link.

        ``attach`` performs the link-layer switch and puts nCoA on the new interface (plus the
        neighbour entry for the AR and the announcement), returning a transport bound on nCoA.
        """
        client = self._need_client()
        cfg = self.pre_configuration
        if cfg is None or cfg.ncoa is None:
            raise HandoverError("no nCoA yet")
        # RFC 6252 s6.3 step 4: tell the AR we are leaving (it buffers for nCoA from now on)
        avps = tunnel_action_avps(TunnelAction.DISABLE, inner=cfg.ncoa, vendor_id=self.vendor_id)
        await client.notify(avps, self.timeout)
        await client.close()  # stop driving on the old link; the session itself goes on
        if self.tunnel is not None:
            self._tunnels.delete(self.tunnel.name)
        new_transport = await attach(cfg)
        assert self.session is not None
        self._client = _Client(self.session, new_transport)
        await self._client.__aenter__()
        return self._record("switched", address=str(cfg.ncoa))

    # ---- step 6 --------------------------------------------------------------------------------

    async def complete(self) -> MpaEvent:
        """PANA-Update from nCoA: PNR[P] with E clear deletes the tunnel (RFC 5873 switch)."""
        client = self._need_client()
        cfg = self.pre_configuration
        assert cfg is not None
        avps = tunnel_action_avps(TunnelAction.DELETE, inner=cfg.ncoa, vendor_id=self.vendor_id)
        before = len(self.extension.statuses)
        await client.switch(avps, self.timeout)
        if self.extension.statuses[before:] != [MpaStatus.OK]:
            raise HandoverError(f"the AR did not release the tunnel: {self.extension.statuses}")
        self._record("tunnel_released", address=str(cfg.ncoa))
        self.tunnel = None
        done = self._record("handover_complete", address=str(cfg.ncoa))
        if self._renew is not None:
            # off the handover path: renew the lease with the CTN's server over the new link
            await self._renew(cfg)
            self._record("lease_renewed", address=str(cfg.ncoa))
        return done

    async def abandon(self) -> MpaEvent:
        """Give up this candidate: PTR[E] with LOGOUT, and the PAA releases its state (RFC 5873)."""
        client = self._need_client()
        try:
            await client.terminate(self.timeout)
        finally:
            await self.close()
        if self.tunnel is not None:
            self._tunnels.delete(self.tunnel.name)
            self.tunnel = None
        name = self.candidate.name if self.candidate else "?"
        return self._record("abandoned", candidate=name)

    async def close(self) -> None:
        """Stop driving the session (it is not terminated)."""
        if self._client is not None:
            await self._client.close()
            self._client = None


class ReactiveHandover:
    """The non-MPA path on the same objects: move, then DHCP, then PANA, then binding update.

    This is what MPA is measured against (RFC 6252 s6.1): every step happens after the link
    switch, so the outage spans all of them.
    """

    def __init__(
        self,
        *,
        eap_factory: Callable[[], Any],
        binding_update: Callable[[IpAddress], Awaitable[None]],
        pac_config: PacConfig | None = None,
        rng: Rng = system_rng,
        timeout: float = 30.0,
    ) -> None:
        self._eap_factory = eap_factory
        self._binding_update = binding_update
        self._config = pac_config or PacConfig()
        self._rng = rng
        self.timeout = timeout
        self.events: list[MpaEvent] = []
        self.session: PacSession | None = None
        self._client: PacClient[PanaEvent] | None = None

    def _record(self, step: str, **detail: Any) -> MpaEvent:
        event = MpaEvent(time=asyncio.get_running_loop().time(), step=step, detail=detail)
        self.events.append(event)
        logger.info("non-MPA %s %s", step, detail)
        return event

    async def run(
        self,
        candidate: CandidateNetwork,
        move: Callable[[], Awaitable[None]],
        acquire_address: Callable[[], Awaitable[tuple[IpAddress, Transport]]],
    ) -> list[MpaEvent]:
        """Do the four steps in order; ``acquire_address`` runs DHCP on the new link."""
        await move()
        self._record("moved", candidate=candidate.name)
        address, transport = await acquire_address()
        self._record("address_acquired", address=str(address))
        self.session = PacSession(self._config, paa=candidate.paa, eap=self._eap_factory(),
                                  rng=self._rng)  # fmt: skip
        self._client = PacClient(self.session, transport)
        await self._client.__aenter__()
        try:
            event = await self._client.authenticate(timeout=self.timeout)
        except (ClientError, TimeoutError) as exc:
            raise HandoverError(f"authentication with {candidate.name} failed: {exc}") from exc
        self._record("authenticated", session_id=event.session_id)
        await self._binding_update(address)
        self._record("binding_updated", address=str(address))
        self._record("handover_complete", address=str(address))
        return self.events

    async def close(self) -> None:
        """Stop driving the session (it is not terminated)."""
        if self._client is not None:
            await self._client.close()
            self._client = None

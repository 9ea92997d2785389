"""The MN's MPA handover as a sans-IO state machine (RFC 6252 s6.3); the driver performs the I/O.

The six steps: 1 pre-authentication (PANA with the candidate PAA through the current network, E
flag), 2 pre-configuration (nCoA delivered by the PAA), 3 proactive tunnel (PANA-Update establish)
and the binding update through it, 4 pre-switching (PANA-Update disable: the AR buffers), 5 the
link switch, 6 post-switching (the PANA-Update from nCoA that makes the session serving and
deletes the tunnel). Each method checks that its step may run now, is given the time, and returns
the AVPs to send or the :class:`MpaEvent` that records the step; it never sends, sleeps or
touches a tunnel. ``pana_mpa.mpa.drivers.controller.MpaController`` drives it over asyncio.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pana_codecs import Avp

from ..config import PacConfig
from ..events import Authenticated
from .avps import DEFAULT_VENDOR_ID, MpaStatus, TunnelAction
from .extensions import MnExtension, tunnel_action_avps
from .info import CandidateNetwork
from .keys import MpaKeys, derive_mpa_keys
from .messages import IpAddress, PreConfiguration
from .ra import RaError, parse_router_advertisement, slaac_address
from .tunnel import IpNetwork, TunnelSpec

__all__ = ["Handover", "HandoverError", "MpaEvent"]

logger = logging.getLogger(__name__)


class HandoverError(RuntimeError):
    """A step of the handover failed, or was asked for out of order; the message says which."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MpaEvent:
    """One step of the handover, with the time it completed (the driver's clock)."""

    time: float
    step: str
    """pre_authenticated, pre_configured, tunnel_up, binding_updated, pre_switched, switched,
    tunnel_released, handover_complete (MPA); moved, address_acquired, authenticated,
    binding_updated, handover_complete (the non-MPA path)."""
    detail: Mapping[str, Any] = field(default_factory=dict)
    """Step facts (addresses, key ids); never key material."""


class Handover:
    """What the MN knows and may do next while it hands over to one candidate network."""

    def __init__(
        self,
        *,
        mn_mac: bytes,
        vendor_id: int = DEFAULT_VENDOR_ID,
        tunnel_name: str = "mpa0",
        on_change: Callable[[], None] | None = None,
        on_event: Callable[[MpaEvent], None] | None = None,
        label: str = "MPA",
    ) -> None:
        self.extension = MnExtension(mn_mac=mn_mac, vendor_id=vendor_id, on_change=on_change)
        self.mn_mac = mn_mac
        self.vendor_id = vendor_id
        self.tunnel_name = tunnel_name
        self.events: list[MpaEvent] = []
        self.candidate: CandidateNetwork | None = None
        self.ocoa: IpAddress | None = None
        self.keys: MpaKeys | None = None
        self.authenticated: Authenticated | None = None
        self.tunnel: TunnelSpec | None = None
        """The MN's tunnel end while it exists (the driver creates and deletes it)."""
        self._label = label
        self._on_event = on_event
        self._asked = 0  # statuses seen before the outstanding PANA-Update

    # ---- common --------------------------------------------------------------------------------

    def record(self, now: float, step: str, **detail: Any) -> MpaEvent:
        """Add a step to the timeline."""
        event = MpaEvent(time=now, step=step, detail=detail)
        self.events.append(event)
        logger.info("%s %s %s", self._label, step, detail)
        if self._on_event is not None:
            self._on_event(event)
        return event

    @property
    def pre_configuration(self) -> PreConfiguration | None:
        """What the candidate PAA delivered so far."""
        return self.extension.pre_configuration

    def _ncoa(self) -> IpAddress:
        cfg = self.pre_configuration
        if cfg is None or cfg.ncoa is None:
            raise HandoverError("no nCoA yet: pre_configure() first")
        return cfg.ncoa

    def _update(self, action: TunnelAction, **addresses: IpAddress | None) -> list[Avp]:
        self._asked = len(self.extension.statuses)
        return tunnel_action_avps(action, vendor_id=self.vendor_id, **addresses)

    def _answer(self) -> list[MpaStatus]:
        return self.extension.statuses[self._asked :]

    # ---- step 1 --------------------------------------------------------------------------------

    def begin(
        self, candidate: CandidateNetwork, ocoa: IpAddress | str, base: PacConfig
    ) -> PacConfig:
        """Start with ``candidate``; the PaC configuration for the pre-authentication session."""
        if self.candidate is not None:
            raise HandoverError("already pre-authenticated")
        self.candidate = candidate
        self.ocoa = ipaddress.ip_address(ocoa)
        return replace(base, pre_authentication=True, extension=self.extension)

    def pre_authenticated(self, event: Authenticated, now: float) -> MpaEvent:
        """The PANA session is open: check MPA was offered and derive the MPA keys."""
        candidate = self.candidate
        if candidate is None:
            raise HandoverError("begin() first")
        self.authenticated = event
        if self.extension.peer_capabilities is None:
            raise HandoverError(f"candidate PAA of {candidate.name} does not speak MPA")
        cfg = self.pre_configuration
        if event.msk is not None and event.key_id is not None and cfg is not None:
            ar = cfg.ar_address or candidate.ar_address
            self.keys = derive_mpa_keys(
                prf_algorithm=event.prf_algorithm or 2, msk=event.msk,
                session_id=event.session_id, key_id=event.key_id, ar_address=ar,
                ca_address=cfg.ca_address or ar, bssids=cfg.bssids, mn_mac=self.mn_mac,
            )  # fmt: skip
        return self.record(
            now, "pre_authenticated", candidate=candidate.name, session_id=event.session_id,
            key_id=event.key_id, access_points=len(cfg.bssids) if cfg else 0,
        )  # fmt: skip

    # ---- step 2 --------------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        """True once the PAA delivered an address or a Router Advertisement to form one."""
        cfg = self.pre_configuration
        return cfg is not None and (cfg.has_address or cfg.router_advertisement is not None)

    def pre_configured(self, now: float) -> MpaEvent:
        """Take the delivered configuration; for IPv6, form nCoA from the carried RA now."""
        cfg = self.pre_configuration
        if cfg is None or not self.configured:
            raise HandoverError("the candidate PAA delivered no address")
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
        return self.record(
            now, "pre_configured", ncoa=str(cfg.ncoa), prefix_length=cfg.prefix_length,
            router=str(cfg.router), lease=cfg.lifetime,
        )  # fmt: skip

    # ---- step 3 --------------------------------------------------------------------------------

    def establish_request(self) -> list[Avp]:
        """PANA-Update (establish): the AVPs asking the AR to tunnel nCoA to our oCoA."""
        ncoa = self._ncoa()
        if self.ocoa is None:
            raise HandoverError("begin() first")
        if ncoa.version != self.ocoa.version:
            raise HandoverError(
                f"nCoA {ncoa} and oCoA {self.ocoa} are of different IP versions; the tunnel "
                "carries IPv4 in IPv4 or IPv6 in IPv6"
            )
        return self._update(TunnelAction.ESTABLISH, outer=self.ocoa, inner=ncoa)

    def tunnel_accepted(self, routes: tuple[IpNetwork, ...] = ()) -> TunnelSpec:
        """Check the AR's answer; the spec of our tunnel end (``routes``: what goes through it)."""
        status = self._answer()
        if status != [MpaStatus.OK]:
            raise HandoverError(f"the AR refused the tunnel: {[s.name for s in status]}")
        cfg = self.pre_configuration
        assert cfg is not None and cfg.ncoa is not None and self.ocoa is not None
        ar = cfg.ar_address or (self.candidate.ar_address if self.candidate else None)
        if ar is None:
            raise HandoverError("no access router address")
        self.tunnel = TunnelSpec(
            self.tunnel_name, self.ocoa, ar, cfg.ncoa, routes=routes, inner_on_device=True
        )
        return self.tunnel

    def tunnel_up(self, now: float) -> MpaEvent:
        """Our tunnel end exists."""
        spec = self.tunnel
        assert spec is not None
        return self.record(
            now, "tunnel_up", outer=str(spec.local), ar=str(spec.remote), inner=str(spec.inner)
        )

    # ---- steps 4 and 5 -------------------------------------------------------------------------

    def disable_request(self) -> list[Avp]:
        """PANA-Update (disable): the AR buffers (or bicasts) for nCoA from now on."""
        return self._update(TunnelAction.DISABLE, inner=self._ncoa())

    def disable_accepted(self, now: float) -> MpaEvent:
        """Check the AR's answer to DISABLE before the MN leaves."""
        status = self._answer()
        if status != [MpaStatus.OK]:
            raise HandoverError(
                f"the AR did not prepare the switch (DISABLE): {[s.name for s in status]}"
            )
        return self.record(now, "pre_switched", address=str(self._ncoa()))

    def switched(self, now: float) -> MpaEvent:
        """The MN is on the new link with nCoA."""
        return self.record(now, "switched", address=str(self._ncoa()))

    # ---- step 6 --------------------------------------------------------------------------------

    def delete_request(self) -> list[Avp]:
        """The PANA-Update from nCoA (PNR[P], E clear: RFC 5873 switch) deleting the tunnel."""
        return self._update(TunnelAction.DELETE, inner=self._ncoa())

    def delete_accepted(self, now: float) -> MpaEvent:
        """Check the AR released the tunnel; the handover is complete."""
        status = self._answer()
        if status != [MpaStatus.OK]:
            raise HandoverError(f"the AR did not release the tunnel: {[s.name for s in status]}")
        ncoa = self._ncoa()
        self.record(now, "tunnel_released", address=str(ncoa))
        return self.record(now, "handover_complete", address=str(ncoa))

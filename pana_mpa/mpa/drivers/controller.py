"""The MN side of MPA over asyncio: drives the sans-IO :class:`~pana_mpa.mpa.handover.Handover`.

Each step is an async method that asks the state machine what to send, runs the PANA exchange with
``PacClient.request``, performs the I/O the step needs (the tunnel end, the link switch, the
binding update) and hands the result back; the decisions and the timeline live in the core.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from eap.rng import Rng, system_rng

from ...aio import ClientError, PacClient
from ...aio.transport import Transport
from ...config import PacConfig
from ...events import Authenticated, PanaEvent, PingAnswered, SessionTerminated
from ...pac import PacSession
from ..avps import DEFAULT_VENDOR_ID
from ..extensions import MnExtension
from ..handover import Handover, HandoverError, MpaEvent
from ..info import CandidateNetwork
from ..keys import MpaKeys
from ..messages import IpAddress, PreConfiguration
from ..tunnel import IpNetwork, TunnelDriver, TunnelSpec

__all__ = ["HandoverError", "MpaController", "MpaEvent", "ReactiveHandover"]

logger = logging.getLogger(__name__)


def _now() -> float:
    return asyncio.get_running_loop().time()


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
        on_event: Callable[[MpaEvent], None] | None = None,
    ) -> None:
        self._configured = asyncio.Event()
        self.handover = Handover(
            mn_mac=mn_mac, vendor_id=vendor_id, tunnel_name=tunnel_name,
            on_change=self._on_change, on_event=on_event,
        )  # fmt: skip
        self._eap_factory = eap_factory
        self._renew = renew
        self._tunnels = tunnels
        self._binding_update = binding_update
        self._base_config = pac_config or PacConfig()
        self._rng = rng
        self.timeout = timeout
        self.session: PacSession | None = None
        self._client: PacClient[PanaEvent] | None = None

    # ---- what the state machine knows ------------------------------------------------------

    @property
    def mn_mac(self) -> bytes:
        """The MN's MAC on the candidate link."""
        return self.handover.mn_mac

    @property
    def vendor_id(self) -> int:
        """Vendor-Id of the MPA AVPs."""
        return self.handover.vendor_id

    @property
    def extension(self) -> MnExtension:
        """The PANA extension of the pre-authentication session."""
        return self.handover.extension

    @property
    def events(self) -> list[MpaEvent]:
        """The timeline so far."""
        return self.handover.events

    @property
    def candidate(self) -> CandidateNetwork | None:
        """The candidate network being handed over to."""
        return self.handover.candidate

    @property
    def ocoa(self) -> IpAddress | None:
        """The MN's current address (the tunnel's outer address)."""
        return self.handover.ocoa

    @property
    def keys(self) -> MpaKeys | None:
        """MN-AR, MN-CA and per-AP keys, once pre-authenticated with a key-generating method."""
        return self.handover.keys

    @property
    def authenticated(self) -> Authenticated | None:
        """The pre-authentication's Authenticated event."""
        return self.handover.authenticated

    @property
    def tunnel(self) -> TunnelSpec | None:
        """The MN's tunnel end while it exists."""
        return self.handover.tunnel

    @property
    def pre_configuration(self) -> PreConfiguration | None:
        """What the candidate PAA delivered so far."""
        return self.handover.pre_configuration

    def _on_change(self) -> None:
        if self.handover.configured:
            self._configured.set()

    def _need_client(self) -> PacClient[PanaEvent]:
        if self._client is None:
            raise HandoverError("no pre-authentication session: call pre_authenticate() first")
        return self._client

    async def _update(self, avps: list[Any], *, switch: bool = False) -> None:
        """One PANA-Update: PNR[P] with ``avps`` (RFC 5873 switch when ``switch``) and its PNA."""
        client = self._need_client()
        session = self.session
        assert session is not None
        send = session.switch if switch else session.ping
        try:
            await client.request(
                lambda now: send(now, avps), done=(PingAnswered,), fail=(SessionTerminated,),
                timeout=self.timeout,
            )  # fmt: skip
        except (ClientError, TimeoutError) as exc:
            raise HandoverError(f"PANA-Update got no answer: {exc or 'timed out'}") from exc

    # ---- step 1 --------------------------------------------------------------------------------

    async def pre_authenticate(
        self, candidate: CandidateNetwork, transport: Transport, ocoa: IpAddress | str
    ) -> MpaEvent:
        """Authenticate with the candidate PAA through the current network (PCI[E], RFC 5873)."""
        if self._client is not None:
            raise HandoverError("already pre-authenticated")
        config = self.handover.begin(candidate, ocoa, self._base_config)
        self.session = PacSession(config, paa=candidate.paa, eap=self._eap_factory(),
                                  rng=self._rng)  # fmt: skip
        self._client = PacClient(self.session, transport)
        await self._client.__aenter__()
        try:
            event = await self._client.authenticate(timeout=self.timeout)
        except (ClientError, TimeoutError) as exc:
            await self._client.close()
            self._client = None
            raise HandoverError(f"pre-authentication with {candidate.name} failed: {exc}") from exc
        assert isinstance(event, Authenticated)
        return self.handover.pre_authenticated(event, _now())

    # ---- step 2 --------------------------------------------------------------------------------

    async def pre_configure(self) -> MpaEvent:
        """Wait until the PAA delivered nCoA (in PAR[C], or later in its own PNR[P,E])."""
        self._need_client()
        self._on_change()
        try:
            async with asyncio.timeout(self.timeout):
                await self._configured.wait()
        except TimeoutError:
            raise HandoverError("the candidate PAA delivered no address") from None
        return self.handover.pre_configured(_now())

    # ---- step 3 --------------------------------------------------------------------------------

    async def establish_tunnel(self, routes: tuple[IpNetwork, ...] = ()) -> MpaEvent:
        """PANA-Update (establish): the AR tunnels nCoA to our oCoA; then our end.

        ``routes`` are the destinations sent through the tunnel: they must include the
        correspondent (CN) whose traffic should use it, and the binding update's target.
        """
        await self._update(self.handover.establish_request())
        spec = self.handover.tunnel_accepted(routes)
        await self._tunnels.establish_async(spec)  # device set-up off the event loop
        return self.handover.tunnel_up(_now())

    async def binding_update(self) -> MpaEvent:
        """Run the caller's mobility binding update with nCoA (through the tunnel's routes)."""
        cfg = self.pre_configuration
        if cfg is None or cfg.ncoa is None:
            raise HandoverError("no nCoA yet")
        await self._binding_update(cfg.ncoa)
        return self.handover.record(_now(), "binding_updated", address=str(cfg.ncoa))

    # ---- steps 4 and 5 -------------------------------------------------------------------------

    async def switch(self, attach: Callable[[PreConfiguration], Awaitable[Transport]]) -> MpaEvent:
        """Pre-switch (the AR starts buffering), move the link, then drop our tunnel end.

        ``attach`` performs the link-layer switch and puts nCoA on the new interface (plus the
        neighbour entry for the AR and the announcement), returning a transport bound on nCoA.
        Our tunnel end stays until the move is done: what the AR encapsulated before DISABLE
        still arrives through it (RFC 6252 s6.3 step 4).
        """
        client = self._need_client()
        cfg = self.pre_configuration
        if cfg is None or cfg.ncoa is None:
            raise HandoverError("no nCoA yet")
        await self._update(self.handover.disable_request())
        self.handover.disable_accepted(_now())
        await client.close()  # stop driving on the old link; the session itself goes on
        new_transport = await attach(cfg)
        spec = self.handover.tunnel
        if spec is not None:
            self._tunnels.delete(spec.name)  # routes withdrawn now, the device released off-loop
            self.handover.tunnel = None
        assert self.session is not None
        self._client = PacClient(self.session, new_transport)
        await self._client.__aenter__()
        return self.handover.switched(_now())

    # ---- step 6 --------------------------------------------------------------------------------

    async def complete(self) -> MpaEvent:
        """PANA-Update from nCoA: PNR[P] with E clear deletes the tunnel (RFC 5873 switch)."""
        await self._update(self.handover.delete_request(), switch=True)
        done = self.handover.delete_accepted(_now())
        cfg = self.pre_configuration
        if self._renew is not None and cfg is not None:
            # off the handover path: renew the lease with the CTN's server over the new link
            await self._renew(cfg)
            self.handover.record(_now(), "lease_renewed", address=str(cfg.ncoa))
        return done

    async def abandon(self) -> MpaEvent:
        """Give up this candidate: PTR[E] with LOGOUT, and the PAA releases its state (RFC 5873)."""
        client = self._need_client()
        try:
            await client.terminate(self.timeout)
        finally:
            await self.close()
        spec = self.handover.tunnel
        if spec is not None:
            self._tunnels.delete(spec.name)  # routes withdrawn now, the device released off-loop
            self.handover.tunnel = None
        name = self.candidate.name if self.candidate else "?"
        return self.handover.record(_now(), "abandoned", candidate=name)

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
        event = MpaEvent(time=_now(), step=step, detail=detail)
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

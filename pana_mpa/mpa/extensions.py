"""MPA on PANA sessions: the MN's and the PAA's PanaExtension (docs/mpa-wire.md)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from pana_codecs import Avp, CodecError, MessageFlags, MessageType, PanaMessage

from ..address import Address
from .avps import (
    DEFAULT_VENDOR_ID,
    MpaAvpCode,
    MpaCapability,
    MpaStatus,
    TunnelAction,
    decode_address,
    decode_mac,
    mac_avp,
    u32,
    u32_avp,
)
from .messages import IpAddress, PreConfiguration, decode_pre_configuration, pre_configuration_avps
from .ra import RaError, parse_router_advertisement, slaac_address

__all__ = [
    "ALL_CAPABILITIES",
    "MnExtension",
    "PaaMpaExtension",
    "TunnelRequest",
    "tunnel_action_avps",
]

logger = logging.getLogger(__name__)

ALL_CAPABILITIES = (
    MpaCapability.ADDRESS_DELIVERY
    | MpaCapability.TUNNEL_MANAGEMENT
    | MpaCapability.L2_KEY_BOOTSTRAP
    | MpaCapability.DEFERRED_CONFIGURATION
)

_AUTH_CODE = 1


def _is(msg: PanaMessage, mtype: int, flag: MessageFlags | None = None) -> bool:
    return msg.type == mtype and (flag is None or bool(msg.flags & flag))


def _mpa(msg: PanaMessage, vendor_id: int) -> list[Avp]:
    return [a for a in msg.avps if a.vendor_id == vendor_id]


def _protected(msg: PanaMessage) -> bool:
    last = msg.avps[-1] if msg.avps else None
    return last is not None and last.code == _AUTH_CODE and last.vendor_id is None


def tunnel_action_avps(
    action: TunnelAction,
    *,
    outer: IpAddress | None = None,
    inner: IpAddress | None = None,
    vendor_id: int = DEFAULT_VENDOR_ID,
) -> list[Avp]:
    """MPA-Tunnel-Action with its outer (oCoA) and inner (nCoA) addresses."""
    from .avps import address_avp

    out = [u32_avp(MpaAvpCode.MPA_TUNNEL_ACTION, action, vendor_id)]
    if outer is not None:
        out.append(address_avp(MpaAvpCode.MPA_TUNNEL_OUTER_ADDRESS, outer, vendor_id))
    if inner is not None:
        out.append(address_avp(MpaAvpCode.MPA_TUNNEL_INNER_ADDRESS, inner, vendor_id))
    return out


class MnExtension:
    """The MN side: advertises MPA, sends its MAC, collects the pre-configuration and statuses."""

    def __init__(
        self,
        *,
        mn_mac: bytes,
        capabilities: MpaCapability = ALL_CAPABILITIES,
        vendor_id: int = DEFAULT_VENDOR_ID,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        if len(mn_mac) != 6:
            raise ValueError("mn_mac must be a 6-octet MAC address")
        self.mn_mac = mn_mac
        self.capabilities = capabilities
        self.vendor_id = vendor_id
        self.peer_capabilities: MpaCapability | None = None
        """What the PAA offered in PAR[S]; None: it does not speak MPA (send it nothing)."""
        self.pre_configuration: PreConfiguration | None = None
        self.statuses: list[MpaStatus] = []
        """MPA-Status values from the PAA's answers, in order."""
        self.ignored = 0
        """MPA AVPs received from a PAA that did not advertise MPA, or malformed ones."""
        self._on_change = on_change

    def outgoing_avps(
        self,
        session_id: int,
        msg_type: int,
        flags: int,
        avps: Sequence[Avp],
        answering: PanaMessage | None,
    ) -> Sequence[Avp]:
        """MPA-Capability (+ MAC) in PCI and PAN[S]; the MAC in PAN[C]; statuses in PNAs."""
        v = self.vendor_id
        if msg_type == MessageType.PANA_CLIENT_INITIATION:
            # the MAC lets the PAA's relay start DHCP for us while EAP runs (RFC 6252 s7.3.1)
            return [
                u32_avp(MpaAvpCode.MPA_CAPABILITY, self.capabilities, v),
                mac_avp(MpaAvpCode.MPA_MN_LINK_ADDRESS, self.mn_mac, v),
            ]
        if answering is None:
            return []
        offered = self._capabilities_in(answering) if answering.has(MessageFlags.S) else None
        if msg_type == MessageType.PANA_AUTH and flags & MessageFlags.S:
            if offered is None:
                return []
            return [u32_avp(MpaAvpCode.MPA_CAPABILITY, self.capabilities & offered, v)]
        if self.peer_capabilities is None:
            return []
        if msg_type == MessageType.PANA_AUTH and flags & MessageFlags.C:
            return [mac_avp(MpaAvpCode.MPA_MN_LINK_ADDRESS, self.mn_mac, v)]
        if msg_type == MessageType.PANA_NOTIFICATION and _mpa(answering, v):
            ok = self._take_configuration(answering)
            return [u32_avp(MpaAvpCode.MPA_STATUS, MpaStatus.OK if ok else MpaStatus.FAILED, v)]
        return []

    def _capabilities_in(self, msg: PanaMessage) -> MpaCapability | None:
        avp = msg.avp(MpaAvpCode.MPA_CAPABILITY, self.vendor_id)
        if avp is None:
            return None
        try:
            return MpaCapability(u32(avp) & int(ALL_CAPABILITIES | MpaCapability.IPV6_RA_DELIVERY))
        except CodecError:
            return None

    def _take_configuration(self, msg: PanaMessage) -> bool:
        try:
            cfg = decode_pre_configuration(msg, self.vendor_id, self.pre_configuration)
        except CodecError as exc:
            self.ignored += 1
            logger.info("malformed MPA AVP from the PAA ignored: %s", exc)
            return False
        if cfg is not None:
            self.pre_configuration = cfg
            self._changed()
        return True

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def received(self, session_id: int, msg: PanaMessage, addr: Address, now: float) -> None:
        """Learn the PAA's capability (PAR[S]), the pre-configuration (PAR[C]) and statuses."""
        v = self.vendor_id
        if _is(msg, MessageType.PANA_AUTH, MessageFlags.S) and msg.is_request:
            self.peer_capabilities = self._capabilities_in(msg)
            return
        mine = _mpa(msg, v)
        if not mine:
            return
        if self.peer_capabilities is None or not _protected(msg):
            # docs/mpa-wire.md: MPA AVPs only from a peer that advertised MPA, under AUTH
            self.ignored += len(mine)
            logger.info("ignoring %d MPA AVPs from %s (not advertised or unprotected)",
                        len(mine), addr)  # fmt: skip
            return
        if _is(msg, MessageType.PANA_AUTH, MessageFlags.C) and msg.is_request:
            self._take_configuration(msg)
        elif msg.type == MessageType.PANA_NOTIFICATION and not msg.is_request:
            status = msg.avp(MpaAvpCode.MPA_STATUS, v)
            try:
                value = MpaStatus(u32(status)) if status else MpaStatus.OK
            except CodecError:
                value = MpaStatus.FAILED
            # a status we do not know is no success
            self.statuses.append(value if value.known else MpaStatus.FAILED)
            self._changed()


@dataclass(frozen=True, slots=True)
class TunnelRequest:
    """A tunnel operation the MN asked for in an AUTH-protected PNR."""

    session_id: int
    action: TunnelAction
    outer: IpAddress | None
    inner: IpAddress | None
    switching: bool
    """True for the PANA-Update after the move (PNR[P] with E clear, RFC 5873)."""


@dataclass
class _PaaSessionState:
    capable: bool = False
    mn_mac: bytes | None = None
    configuration: PreConfiguration | None = None
    address_delivered: bool = False
    completed: bool = False
    tunnel_inner: IpAddress | None = None
    started: bool = False
    """on_session was called: the PaC answered our PAR[S] (a PCI alone proves nothing)."""


@dataclass
class _Agents:
    ar_address: IpAddress
    ca_address: IpAddress
    ar_link_address: bytes | None = None
    bssids: tuple[bytes, ...] = field(default=())


def _assigned_address(st: _PaaSessionState) -> IpAddress | None:
    """The nCoA this session was given: the DHCP lease, or the SLAAC address its RA yields.

    With a carried Router Advertisement the MN forms nCoA itself from the prefix and its MAC
    (RFC 6252 s7.3.4, RFC 4862 s5.5.3): the PAA derives the same address from what it knows.
    """
    cfg = st.configuration
    if cfg is None:
        return None
    if cfg.ncoa is not None:
        return cfg.ncoa
    if cfg.router_advertisement is None or st.mn_mac is None:
        return None
    try:
        ra = parse_router_advertisement(cfg.router_advertisement)
    except RaError:
        return None
    return slaac_address(ra, st.mn_mac)


class PaaMpaExtension:
    """The PAA side: offers MPA, delivers the pre-configuration, validates tunnel requests."""

    def __init__(
        self,
        *,
        ar_address: IpAddress | str,
        ca_address: IpAddress | str | None = None,
        ar_link_address: bytes | None = None,
        bssids: Sequence[bytes] = (),
        capabilities: MpaCapability = ALL_CAPABILITIES,
        vendor_id: int = DEFAULT_VENDOR_ID,
        on_session: Callable[[int, bytes | None], None] | None = None,
    ) -> None:
        ar = ipaddress.ip_address(ar_address)
        self.agents = _Agents(
            ar_address=ar,
            ca_address=ipaddress.ip_address(ca_address) if ca_address is not None else ar,
            ar_link_address=ar_link_address,
            bssids=tuple(bssids),
        )
        self.capabilities = capabilities
        self.vendor_id = vendor_id
        self._on_session = on_session
        self.sessions: dict[int, _PaaSessionState] = {}
        self._staged: dict[int, tuple[int, TunnelRequest]] = {}
        """session id -> (seq of the PNR, its request): answered, not yet accepted."""
        self._accepted: list[TunnelRequest] = []
        self.rejected: list[tuple[int, str]] = []
        """(session id, why) of MPA requests refused."""

    # ---- called by the service -------------------------------------------------------------

    def set_configuration(self, session_id: int, cfg: PreConfiguration) -> bool:
        """Record the lease for a session; True when PAR[C] already went out without it."""
        st = self.sessions.setdefault(session_id, _PaaSessionState())
        st.configuration = cfg
        return st.completed and not st.address_delivered

    def deferred_address_avps(self, session_id: int) -> list[Avp]:
        """AVPs for the PAA's own PNR[P,E] delivering a lease that came after PAR[C]."""
        st = self.sessions[session_id]
        assert st.configuration is not None
        st.address_delivered = True
        return pre_configuration_avps(st.configuration, self.vendor_id, agents=False)

    def forget(self, session_id: int) -> None:
        """Drop a session's MPA state."""
        self.sessions.pop(session_id, None)
        self._staged.pop(session_id, None)

    def take_tunnel_requests(self) -> list[TunnelRequest]:
        """Tunnel operations of accepted PANA-Updates, oldest first, for the driver to perform.

        A request is validated while its answer is built (MPA-Status FAILED refuses it there)
        and queued here only once the session accepted the message, so a message the session
        rolls back never reaches the kernel. The driver performs them after ``receive_datagram``.
        """
        taken, self._accepted = self._accepted, []
        return taken

    # ---- PanaExtension ---------------------------------------------------------------------

    def outgoing_avps(
        self,
        session_id: int,
        msg_type: int,
        flags: int,
        avps: Sequence[Avp],
        answering: PanaMessage | None,
    ) -> Sequence[Avp]:
        """MPA-Capability in PAR[S]; the pre-configuration in PAR[C]; MPA-Status in PNAs."""
        st = self.sessions.get(session_id)
        if st is None or not st.capable:
            return []
        v = self.vendor_id
        if msg_type == MessageType.PANA_AUTH and flags & MessageFlags.R:
            if flags & MessageFlags.S:
                return [u32_avp(MpaAvpCode.MPA_CAPABILITY, self.capabilities, v)]
            if flags & MessageFlags.C and self._success(avps) and not st.completed:
                st.completed = True
                return self._completion_avps(st)
            return []
        is_pna = msg_type == MessageType.PANA_NOTIFICATION and answering is not None
        if is_pna and answering is not None and _mpa(answering, v):
            status = self._notification(session_id, st, answering)
            return [u32_avp(MpaAvpCode.MPA_STATUS, status, v)]
        return []

    @staticmethod
    def _success(avps: Sequence[Avp]) -> bool:
        for a in avps:
            if a.code == 7 and a.vendor_id is None:  # Result-Code (RFC 5191 s8.7)
                return a.value == b"\x00\x00\x00\x00"
        return False

    def _completion_avps(self, st: _PaaSessionState) -> list[Avp]:
        ag = self.agents
        base = st.configuration or PreConfiguration()
        cfg = replace(
            base, ar_address=ag.ar_address, ca_address=ag.ca_address,
            ar_link_address=ag.ar_link_address, bssids=ag.bssids,
        )  # fmt: skip
        st.address_delivered = cfg.has_address
        return pre_configuration_avps(cfg, self.vendor_id)

    def _notification(self, session_id: int, st: _PaaSessionState, msg: PanaMessage) -> MpaStatus:
        v = self.vendor_id
        action_avp = msg.avp(MpaAvpCode.MPA_TUNNEL_ACTION, v)
        if action_avp is None:
            if msg.avp(MpaAvpCode.MPA_ADDRESS_REQUEST, v) is not None:
                return MpaStatus.OK if st.address_delivered else MpaStatus.PENDING
            return MpaStatus.OK
        if not _protected(msg):
            return self._refuse(session_id, "tunnel request without AUTH")
        try:
            action = TunnelAction(u32(action_avp))
            outer_avp = msg.avp(MpaAvpCode.MPA_TUNNEL_OUTER_ADDRESS, v)
            inner_avp = msg.avp(MpaAvpCode.MPA_TUNNEL_INNER_ADDRESS, v)
            outer = decode_address(outer_avp) if outer_avp else None
            inner = decode_address(inner_avp) if inner_avp else None
        except CodecError as exc:
            return self._refuse(session_id, f"malformed tunnel request: {exc}")
        if not action.known:
            return self._refuse(session_id, f"malformed tunnel request: unknown action {action}")
        assigned = _assigned_address(st)
        if action is TunnelAction.ESTABLISH:
            if outer is None or inner is None:
                return self._refuse(session_id, "ESTABLISH without outer/inner address")
            if assigned is None or inner != assigned:
                # never tunnel an address this session was not given
                return self._refuse(session_id, f"tunnel for {inner}, not assigned to the session")
            st.tunnel_inner = inner
        elif inner is not None and inner != assigned:
            return self._refuse(session_id, f"tunnel action for {inner}, not assigned")
        switching = not bool(msg.flags & MessageFlags.E)
        tunnel_request = TunnelRequest(
            session_id, action, outer, inner or st.tunnel_inner, switching
        )
        self._staged[session_id] = (msg.seq, tunnel_request)
        return MpaStatus.OK

    def _refuse(self, session_id: int, why: str) -> MpaStatus:
        self.rejected.append((session_id, why))
        logger.info("sid=%#x: MPA request refused: %s", session_id, why)
        return MpaStatus.FAILED

    def received(self, session_id: int, msg: PanaMessage, addr: Address, now: float) -> None:
        """Note MPA-capable PaCs (PCI[E]) and their MACs; other MPA AVPs from others are ignored."""
        v = self.vendor_id
        if msg.type == MessageType.PANA_CLIENT_INITIATION:
            if not msg.flags & MessageFlags.E or msg.avp(MpaAvpCode.MPA_CAPABILITY, v) is None:
                return
            st = self.sessions.setdefault(session_id, _PaaSessionState())
            st.capable = True
            mac = msg.avp(MpaAvpCode.MPA_MN_LINK_ADDRESS, v)
            try:
                st.mn_mac = decode_mac(mac) if mac is not None else None
            except CodecError:
                st.mn_mac = None
            # on_session (DHCP for the MN) waits for the PAN[S]: a PCI's source may be spoofed
            # and the PAA keeps no session for it (issue 9)
            return
        staged = self._staged.get(session_id)
        if staged is not None and msg.is_request and msg.seq == staged[0]:
            # the PANA-Update was accepted (RFC 5191 s5.5 checks passed): now it may happen
            del self._staged[session_id]
            self._accepted.append(staged[1])
        known = self.sessions.get(session_id)
        if known is None or not known.capable:
            if _mpa(msg, v):
                self.rejected.append((session_id, "MPA AVPs from a PaC that did not advertise MPA"))
            return
        st = known
        if _is(msg, MessageType.PANA_AUTH, MessageFlags.S) and not msg.is_request:
            if msg.avp(MpaAvpCode.MPA_CAPABILITY, v) is None:
                st.capable = False  # the PaC declined MPA in PAN[S]
            elif not st.started and self._on_session is not None:
                # the PaC answered our PAR[S]: now the relay may start DHCP while EAP runs
                # (RFC 6252 s7.3.1)
                st.started = True
                self._on_session(session_id, st.mn_mac)
        elif _is(msg, MessageType.PANA_AUTH, MessageFlags.C) and not msg.is_request:
            mac = msg.avp(MpaAvpCode.MPA_MN_LINK_ADDRESS, v)
            if mac is not None:
                try:
                    st.mn_mac = decode_mac(mac)
                except CodecError:
                    logger.info("sid=%#x: malformed MPA-MN-Link-Address", session_id)

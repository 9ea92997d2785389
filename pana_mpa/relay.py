"""PANA Relay Element (RFC 6345): a stateless sans-IO forwarder between PaCs and one PAA."""

from __future__ import annotations

import logging

from pana_codecs import Avp, CodecError, MessageType, PanaMessage, decode_pana, encode_pana
from pana_codecs.avps import AvpCode, avp_pac_information, pac_information

from .address import Address
from .events import PanaEvent
from .trace import NULL_TRACE, Trace

__all__ = ["PanaRelay", "unwrap_relay", "wrap_relay"]

logger = logging.getLogger(__name__)


def wrap_relay(pac: Address, message: bytes) -> bytes:
    """A PANA-Relay message carrying ``message`` for/from ``pac`` (RFC 6345 s3, s7)."""
    avps = (pac_information(pac[0], pac[1]), Avp(AvpCode.RELAYED_MESSAGE, message))
    # PRY: R clear, Session Identifier 0, Sequence Number 0 (RFC 6345 s7)
    return encode_pana(PanaMessage(MessageType.PANA_RELAY, 0, 0, 0, avps))


def unwrap_relay(msg: PanaMessage) -> tuple[Address, bytes]:
    """(PaC address, relayed PANA message) of a PRY; CodecError/ValueError when malformed."""
    if msg.type != MessageType.PANA_RELAY or msg.flags & 0x8000 or msg.session_id or msg.seq:
        raise ValueError("not a PANA-Relay message (type 5, R clear, session 0, sequence 0)")
    infos = msg.all_avps(AvpCode.PAC_INFORMATION)
    relayed = msg.all_avps(AvpCode.RELAYED_MESSAGE)
    if len(infos) != 1 or len(relayed) != 1:
        raise ValueError("PRY needs exactly one PaC-Information and one Relayed-Message")
    info = avp_pac_information(infos[0])
    return (str(info.address), info.port), relayed[0].value


class PanaRelay:
    """The PRE: wraps PaC datagrams in PRY toward the PAA and unwraps the PAA's PRYs.

    Keeps no per-PaC state and never retransmits (RFC 6345 s3); same sans-IO surface as a session.
    """

    def __init__(self, paa: Address, *, trace: Trace = NULL_TRACE) -> None:
        self.paa = paa
        self._trace = trace
        self._outbox: list[tuple[bytes, Address]] = []
        self.closed = False

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        """Relay one datagram: from the PAA (a PRY) to its PaC, from a PaC to the PAA."""
        try:
            msg = decode_pana(data)
        except CodecError as exc:
            self._drop(now, f"malformed: {exc}", data)
            return
        if addr == self.paa:
            try:
                pac, inner = unwrap_relay(msg)
            except (ValueError, CodecError) as exc:
                self._drop(now, str(exc), data)
                return
            self._outbox.append((inner, pac))  # source port 716 toward the PaC's port
            self._trace.event(now, "relayed", direction="to_pac", size=len(inner))
            return
        if msg.type == MessageType.PANA_RELAY:
            self._drop(now, "PRY from a PaC", data)
            return
        self._outbox.append((wrap_relay(addr, data), self.paa))
        self._trace.event(now, "relayed", direction="to_paa", size=len(data))

    def _drop(self, now: float, reason: str, data: bytes) -> None:
        logger.debug("relay dropped %d octets: %s", len(data), reason)
        self._trace.event(now, "message_dropped", role="relay", reason=reason, size=len(data))

    def handle_timer(self, now: float) -> None:
        """The PRE has no timers."""

    def get_timer(self) -> float | None:
        """Always None: a PRE never retransmits."""
        return None

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """Datagrams queued since the last call."""
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> PanaEvent | None:
        """A PRE reports no events."""
        return None

"""Tiny sans-IO PaC/PAA stand-ins speaking PANA-shaped messages, to test the asyncio layer alone."""

from __future__ import annotations

from eap.keys import Secret
from pana_codecs import Avp, MessageFlags, MessageType, PanaMessage, decode_pana, encode_pana
from pana_mpa.address import Address
from pana_mpa.events import (
    Authenticated,
    AuthenticationFailed,
    PanaEvent,
    PingAnswered,
    SessionTerminated,
)

R, S, C, P = MessageFlags.R, MessageFlags.S, MessageFlags.C, MessageFlags.P
PCI, PAR, PTR, PNR = (
    MessageType.PANA_CLIENT_INITIATION,
    MessageType.PANA_AUTH,
    MessageType.PANA_TERMINATION,
    MessageType.PANA_NOTIFICATION,
)
FAKE_MSK = bytes(range(0xA0, 0xC0))


FakeEvent = PanaEvent
"""The fakes report the core's own event types: the asyncio layer matches them by type."""

_PEER: Address = ("0.0.0.0", 0)


def _authenticated(session_id: int) -> Authenticated:
    return Authenticated(
        session_id=session_id,
        key_id=1,
        lifetime=60.0,
        msk=Secret(FAKE_MSK),
        prf_algorithm=None,
        integrity_algorithm=None,
        peer=_PEER,
    )


class FakePac:
    """PCI -> PAR[S] (Authenticated) -> PAN[S]; PNR[P]/PNA[P]; PTR/PTA. Retransmits every RTO."""

    def __init__(self, paa: Address, *, rto: float = 1.0, retries: int = 3) -> None:
        self.paa = paa
        self.rto = rto
        self.retries = retries
        self.closed = False
        self.session_id = 0
        self.seq = 100
        self._out: list[tuple[bytes, Address]] = []
        self._events: list[FakeEvent] = []
        self._pending: tuple[bytes, str] | None = None  # request, what it is for
        self._deadline: float | None = None
        self._tries = 0
        self.received: list[bytes] = []
        self.timer_calls: list[float] = []

    def _request(self, msg: PanaMessage, what: str, now: float) -> None:
        data = encode_pana(msg)
        self._pending = (data, what)
        self._tries = 1
        self._deadline = now + self.rto
        self._out.append((data, self.paa))

    def start(self, now: float) -> None:
        self._request(PanaMessage(PCI, 0, 0, 0), "auth", now)

    def ping(self, now: float) -> None:
        if self.session_id == 0:
            raise RuntimeError("ping before authentication")
        self.seq += 1
        self._request(PanaMessage(PNR, R | P, self.session_id, self.seq), "ping", now)

    def reauthenticate(self, now: float) -> None:
        raise NotImplementedError

    def terminate(self, now: float) -> None:
        self.seq += 1
        self._request(
            PanaMessage(PTR, R, self.session_id, self.seq, (Avp(9, b"\0\0\0\1"),)), "bye", now
        )

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        self.received.append(data)
        msg = decode_pana(data)
        if msg.type == PAR and msg.has(R | S) and self._pending and self._pending[1] == "auth":
            self.session_id = msg.session_id
            self._pending, self._deadline = None, None
            self._out.append((encode_pana(PanaMessage(PAR, S, msg.session_id, msg.seq)), addr))
            self._events.append(_authenticated(msg.session_id))
        elif msg.type == PAR and msg.has(R) and msg.avp(7) is not None:
            self._pending, self._deadline, self.closed = None, None, True
            self._events.append(AuthenticationFailed(session_id=msg.session_id, result_code=1))
        elif (
            msg.type == PNR and not msg.is_request and self._pending and self._pending[1] == "ping"
        ):
            self._pending, self._deadline = None, None
            self._events.append(PingAnswered(session_id=self.session_id, round_trip=0.0))
        elif msg.type == PTR and not msg.is_request and self._pending and self._pending[1] == "bye":
            self._pending, self._deadline, self.closed = None, None, True
            self._events.append(
                SessionTerminated(
                    session_id=self.session_id, cause=1, by_peer=False, reason="termination"
                )
            )

    def handle_timer(self, now: float) -> None:
        self.timer_calls.append(now)
        if self._deadline is None or now < self._deadline or self._pending is None:
            return
        if self._tries > self.retries:
            self._pending, self._deadline, self.closed = None, None, True
            self._events.append(
                SessionTerminated(
                    session_id=self.session_id, cause=None, by_peer=False, reason="retransmissions"
                )
            )
            return
        self._tries += 1
        self._deadline = now + self.rto
        self._out.append((self._pending[0], self.paa))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        return self._deadline

    def next_event(self) -> FakeEvent | None:
        return self._events.pop(0) if self._events else None


class FakePaa:
    """Answers PCI with PAR[S] (or, pass-through, after the AAA answer), PNR[P], PTR."""

    def __init__(self, *, pass_through: bool = False, reject: bool = False) -> None:
        self.closed = False
        self.pass_through = pass_through
        self.reject = reject
        self._next_sid = 0x1000
        self._peers: dict[int, Address] = {}
        self._out: list[tuple[bytes, Address]] = []
        self._events: list[FakeEvent] = []
        self.aaa_answers: list[tuple[int, object, float]] = []
        self._aaa: list[tuple[int, bytes | None]] = []

    def pending_aaa(self) -> list[tuple[int, bytes | None]]:
        out, self._aaa = self._aaa, []
        return out

    def _send_par(self, sid: int, avps: tuple[Avp, ...] = ()) -> None:
        flags = R | (C if self.reject else S)
        if self.reject:
            avps = (*avps, Avp(7, b"\0\0\0\1"))
        self._out.append((encode_pana(PanaMessage(PAR, flags, sid, 1, avps)), self._peers[sid]))

    def receive_datagram(self, data: bytes, addr: Address, now: float) -> None:
        msg = decode_pana(data)
        if msg.type == PCI:
            sid = self._next_sid
            self._next_sid += 1
            self._peers[sid] = addr
            if self.pass_through:
                self._aaa.append((sid, None))
            else:
                self._send_par(sid)
        elif msg.type == PAR and not msg.is_request:
            self._events.append(_authenticated(msg.session_id))
        elif msg.type == PNR and msg.is_request:
            self._out.append(
                (encode_pana(PanaMessage(PNR, msg.flags & ~R, msg.session_id, msg.seq)), addr)
            )
        elif msg.type == PTR and msg.is_request:
            self._out.append((encode_pana(PanaMessage(PTR, 0, msg.session_id, msg.seq)), addr))
            self._events.append(
                SessionTerminated(
                    session_id=msg.session_id, cause=1, by_peer=True, reason="termination"
                )
            )

    def aaa_answer(self, session_id: int, output: object, now: float) -> None:
        self.aaa_answers.append((session_id, output, now))
        assert isinstance(output, bytes)
        self._send_par(session_id, (Avp(2, output),))

    def handle_timer(self, now: float) -> None:
        pass

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        return None

    def next_event(self) -> FakeEvent | None:
        return self._events.pop(0) if self._events else None

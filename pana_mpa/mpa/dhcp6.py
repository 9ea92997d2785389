"""DHCPv6 (RFC 8415) for MPA address delivery: the PAA's relay acting for the MN (RFC 6252 s7.3).

The codec covers what the relay and the MN need: client/server messages (Solicit, Advertise,
Request, Reply, Renew, ...), Relay-Forw/Relay-Reply with Relay-Message and Interface-Id, Client-
and Server-Id (DUID), IA_NA with IA Address, Status Code and DNS servers. Options keep their
order and unknown codes as raw bytes, so every decoded message encodes back to the same octets.
Decoding raises only :class:`Dhcp6Error`.
"""

from __future__ import annotations

import ipaddress
import logging
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from pana_codecs import WireEnum

__all__ = [
    "ALL_DHCP_RELAY_AGENTS_AND_SERVERS",
    "Dhcp6Client",
    "Dhcp6Error",
    "Dhcp6Lease",
    "Dhcp6Message",
    "Dhcp6MessageType",
    "Dhcp6Option",
    "Dhcp6State",
    "Dhcp6StatusCode",
    "IaAddress",
    "IaNa",
    "RelayMessage",
    "decode_dhcp6",
    "decode_ia_address",
    "decode_ia_na",
    "decode_status_code",
    "duid_ll",
    "encode_dhcp6",
    "encode_ia_address",
    "encode_ia_na",
    "iaid_for",
    "lease_from_reply",
    "link_local_for",
    "relay_forward",
    "relay_reply_payload",
    "renew_message",
    "usable_address",
]

logger = logging.getLogger(__name__)

CLIENT_PORT = 546
SERVER_PORT = 547
ALL_DHCP_RELAY_AGENTS_AND_SERVERS = ipaddress.IPv6Address("ff02::1:2")
"""RFC 8415 s7.1: where a client sends (link-scoped multicast)."""
HOP_COUNT_LIMIT = 8
"""RFC 8415 s7.6."""


class Dhcp6Error(ValueError):
    """A malformed DHCPv6 message or option (with the offset), or an unusable Reply."""


class Dhcp6MessageType(WireEnum):
    """msg-type values (RFC 8415 s7.3)."""

    SOLICIT = 1
    ADVERTISE = 2
    REQUEST = 3
    CONFIRM = 4
    RENEW = 5
    REBIND = 6
    REPLY = 7
    RELEASE = 8
    DECLINE = 9
    RECONFIGURE = 10
    INFORMATION_REQUEST = 11
    RELAY_FORW = 12
    RELAY_REPL = 13


class Dhcp6Option(WireEnum):
    """Option codes used here (RFC 8415 s21, RFC 3646, RFC 5192)."""

    CLIENTID = 1
    SERVERID = 2
    IA_NA = 3
    IAADDR = 5
    ORO = 6
    PREFERENCE = 7
    ELAPSED_TIME = 8
    RELAY_MSG = 9
    STATUS_CODE = 13
    RAPID_COMMIT = 14
    INTERFACE_ID = 18
    DNS_SERVERS = 23
    PANA_AGENT = 40


class Dhcp6StatusCode(WireEnum):
    """Status Code values (RFC 8415 s21.13)."""

    SUCCESS = 0
    UNSPEC_FAIL = 1
    NO_ADDRS_AVAIL = 2
    NO_BINDING = 3
    NOT_ON_LINK = 4
    USE_MULTICAST = 5
    NO_PREFIX_AVAIL = 6


_RELAY_TYPES = (Dhcp6MessageType.RELAY_FORW, Dhcp6MessageType.RELAY_REPL)
Options = tuple[tuple[int, bytes], ...]


def _find(options: Options, code: int) -> bytes | None:
    for c, v in options:
        if c == code:
            return v
    return None


@dataclass(frozen=True, slots=True)
class Dhcp6Message:
    """A client/server message (RFC 8415 s8): type, 24-bit transaction id, options in order."""

    msg_type: int
    transaction_id: int
    options: Options = ()

    def option(self, code: int) -> bytes | None:
        """The first option with this code, or None."""
        return _find(self.options, code)


@dataclass(frozen=True, slots=True)
class RelayMessage:
    """A Relay-Forw or Relay-Reply (RFC 8415 s9); the relayed message stays raw in option 9."""

    msg_type: int
    hop_count: int
    link_address: ipaddress.IPv6Address
    peer_address: ipaddress.IPv6Address
    options: Options = ()

    def option(self, code: int) -> bytes | None:
        """The first option with this code, or None."""
        return _find(self.options, code)


def _encode_options(options: Iterable[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    for code, value in options:
        if not 0 <= code <= 0xFFFF or len(value) > 0xFFFF:
            raise Dhcp6Error(f"option {code} has no wire form ({len(value)} octets)")
        out += struct.pack("!HH", code, len(value)) + value
    return bytes(out)


def _decode_options(data: bytes, offset: int, base: int = 0) -> Options:
    """Options from ``offset`` to the end; ``base`` is added to offsets in errors."""
    out: list[tuple[int, bytes]] = []
    i = offset
    while i < len(data):
        if i + 4 > len(data):
            raise Dhcp6Error(f"option header truncated at offset {base + i}")
        code, length = struct.unpack_from("!HH", data, i)
        if i + 4 + length > len(data):
            raise Dhcp6Error(f"option {code} truncated at offset {base + i}")
        out.append((code, bytes(data[i + 4 : i + 4 + length])))
        i += 4 + length
    return tuple(out)


def encode_dhcp6(msg: Dhcp6Message | RelayMessage) -> bytes:
    """Encode a message; Dhcp6Error for values without a wire form."""
    if isinstance(msg, RelayMessage):
        if msg.msg_type not in _RELAY_TYPES or not 0 <= msg.hop_count <= 255:
            raise Dhcp6Error(f"relay message type {msg.msg_type} / hop count {msg.hop_count}")
        head = bytes([msg.msg_type, msg.hop_count]) + msg.link_address.packed
        return head + msg.peer_address.packed + _encode_options(msg.options)
    if not 0 <= msg.msg_type <= 255 or msg.msg_type in _RELAY_TYPES:
        raise Dhcp6Error(f"message type {msg.msg_type} is no client/server message")
    if not 0 <= msg.transaction_id <= 0xFFFFFF:
        raise Dhcp6Error(f"transaction id {msg.transaction_id} is not 24 bits")
    head = bytes([msg.msg_type]) + msg.transaction_id.to_bytes(3, "big")
    return head + _encode_options(msg.options)


def decode_dhcp6(data: bytes) -> Dhcp6Message | RelayMessage:
    """Decode a DHCPv6 message; Dhcp6Error (with offset) when malformed."""
    if len(data) < 4:
        raise Dhcp6Error(f"DHCPv6 message of {len(data)} octets is shorter than 4 at offset 0")
    mtype = data[0]
    if mtype in _RELAY_TYPES:
        if len(data) < 34:
            raise Dhcp6Error(f"relay message of {len(data)} octets is shorter than 34 at offset 0")
        return RelayMessage(
            msg_type=mtype,
            hop_count=data[1],
            link_address=ipaddress.IPv6Address(bytes(data[2:18])),
            peer_address=ipaddress.IPv6Address(bytes(data[18:34])),
            options=_decode_options(data, 34),
        )
    return Dhcp6Message(mtype, int.from_bytes(data[1:4], "big"), _decode_options(data, 4))


# ---- option values --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IaAddress:
    """The IA Address option (RFC 8415 s21.6); ``options`` holds its Status Code, if any."""

    address: ipaddress.IPv6Address
    preferred_lifetime: int
    valid_lifetime: int
    options: Options = ()


@dataclass(frozen=True, slots=True)
class IaNa:
    """The IA_NA option (RFC 8415 s21.4): IAID, T1, T2, then IA Address / Status Code options."""

    iaid: int
    t1: int = 0
    t2: int = 0
    options: Options = ()

    def addresses(self) -> list[IaAddress]:
        """Every IA Address inside (Dhcp6Error when one is malformed)."""
        return [decode_ia_address(v) for c, v in self.options if c == Dhcp6Option.IAADDR]

    def status(self) -> tuple[int, str] | None:
        """The IA's Status Code, or None (success)."""
        v = _find(self.options, Dhcp6Option.STATUS_CODE)
        return None if v is None else decode_status_code(v)


def _u32(name: str, value: int) -> None:
    if not 0 <= value <= 0xFFFFFFFF:
        raise Dhcp6Error(f"{name} {value} is not 32 bits")


def encode_ia_na(ia: IaNa) -> bytes:
    """The IA_NA option's value."""
    for name, value in (("IAID", ia.iaid), ("T1", ia.t1), ("T2", ia.t2)):
        _u32(name, value)
    return struct.pack("!III", ia.iaid, ia.t1, ia.t2) + _encode_options(ia.options)


def decode_ia_na(value: bytes) -> IaNa:
    """Decode an IA_NA option value (offsets in errors are within the value)."""
    if len(value) < 12:
        raise Dhcp6Error(f"IA_NA of {len(value)} octets is shorter than 12 at offset 0")
    iaid, t1, t2 = struct.unpack_from("!III", value)
    return IaNa(iaid, t1, t2, _decode_options(value, 12))


def encode_ia_address(ia: IaAddress) -> bytes:
    """The IA Address option's value."""
    _u32("preferred lifetime", ia.preferred_lifetime)
    _u32("valid lifetime", ia.valid_lifetime)
    lifetimes = struct.pack("!II", ia.preferred_lifetime, ia.valid_lifetime)
    return ia.address.packed + lifetimes + _encode_options(ia.options)


def decode_ia_address(value: bytes) -> IaAddress:
    """Decode an IA Address option value."""
    if len(value) < 24:
        raise Dhcp6Error(f"IA Address of {len(value)} octets is shorter than 24 at offset 0")
    preferred, valid = struct.unpack_from("!II", value, 16)
    address = ipaddress.IPv6Address(bytes(value[:16]))
    return IaAddress(address, preferred, valid, _decode_options(value, 24))


def decode_status_code(value: bytes) -> tuple[int, str]:
    """(status, message) of a Status Code option value; the message is UTF-8 (RFC 8415 s21.13)."""
    if len(value) < 2:
        raise Dhcp6Error(f"Status Code of {len(value)} octets is shorter than 2 at offset 0")
    return int.from_bytes(value[:2], "big"), value[2:].decode("utf-8", "replace")


def _addresses(value: bytes | None) -> tuple[ipaddress.IPv6Address, ...]:
    if not value or len(value) % 16:
        return ()
    return tuple(ipaddress.IPv6Address(value[i : i + 16]) for i in range(0, len(value), 16))


def duid_ll(mac: bytes) -> bytes:
    """DUID-LL (RFC 8415 s11.4): type 3, hardware type 1 (Ethernet), the MAC."""
    return struct.pack("!HH", 3, 1) + mac


def iaid_for(mac: bytes) -> int:
    """The IAID the MN's interface uses: its MAC's last four octets (stable, RFC 8415 s12)."""
    return int.from_bytes(mac[-4:], "big")


def link_local_for(mac: bytes) -> ipaddress.IPv6Address:
    """The MN's link-local address from its MAC (modified EUI-64, RFC 4291 App. A)."""
    if len(mac) != 6:
        raise ValueError("a MAC address has 6 octets")
    eui = bytes([mac[0] ^ 0x02]) + mac[1:3] + b"\xff\xfe" + mac[3:]
    return ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + eui)


def relay_forward(
    message: bytes,
    *,
    link_address: ipaddress.IPv6Address,
    peer_address: ipaddress.IPv6Address,
    interface_id: bytes | None = None,
    hop_count: int = 0,
) -> bytes:
    """A Relay-Forw carrying ``message`` (RFC 8415 s19.1.1), Interface-Id when given."""
    options: list[tuple[int, bytes]] = []
    if interface_id is not None:
        options.append((Dhcp6Option.INTERFACE_ID, interface_id))
    options.append((Dhcp6Option.RELAY_MSG, message))
    relay = RelayMessage(Dhcp6MessageType.RELAY_FORW, hop_count, link_address, peer_address,
                         tuple(options))  # fmt: skip
    return encode_dhcp6(relay)


def relay_reply_payload(data: bytes) -> tuple[RelayMessage, bytes]:
    """A Relay-Reply and the message it carries for its peer (RFC 8415 s19.2); Dhcp6Error."""
    relay = decode_dhcp6(data)
    if not isinstance(relay, RelayMessage) or relay.msg_type != Dhcp6MessageType.RELAY_REPL:
        raise Dhcp6Error("not a Relay-Reply at offset 0")
    inner = relay.option(Dhcp6Option.RELAY_MSG)
    if inner is None:
        raise Dhcp6Error("Relay-Reply without Relay-Message at offset 34")
    return relay, inner


# ---- the exchange ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dhcp6Lease:
    """What the CTN's DHCPv6 server granted the MN (delivered to it in PANA, docs/mpa-wire.md)."""

    address: ipaddress.IPv6Address
    preferred_lifetime: int
    valid_lifetime: int
    t1: int
    t2: int
    iaid: int
    client_duid: bytes
    server_duid: bytes
    server_address: ipaddress.IPv6Address
    """Where the relay sent the MN's messages (the CTN's DHCPv6 server)."""
    dns_servers: tuple[ipaddress.IPv6Address, ...]
    acquired_at: float
    prefix_length: int = 128
    """The on-link prefix length the relay knows for its link; DHCPv6 carries none (RAs do)."""
    router: ipaddress.IPv6Address | None = None
    """The relay's address on the MN's link (the AR); DHCPv6 has no router option."""
    paa_addresses: tuple[ipaddress.IPv6Address, ...] = ()
    """PANA agents the server announced (RFC 5192 OPTION_PANA_AGENT, 40)."""


class Dhcp6State(Enum):
    """States of one DHCPv6 exchange (RFC 8415 s18.2.1, s18.2.2)."""

    INIT = "INIT"
    SOLICITING = "SOLICITING"
    REQUESTING = "REQUESTING"
    BOUND = "BOUND"
    FAILED = "FAILED"


class Dhcp6Client:
    """Sans-IO Solicit/Advertise/Request/Reply for the MN's DUID and IAID (RFC 8415 s18).

    With ``link_address`` set it runs at the PAA's relay on the MN's behalf: every message goes
    out in a Relay-Forw (link-address = the CTN link's address, peer-address = the MN's
    link-local address, Interface-Id) and answers are taken out of Relay-Replies, so the lease
    is held under the MN's own DUID and IAID and the MN can renew it itself after the move.
    Without ``link_address`` it is the MN's own client on the link (the non-MPA path).
    """

    def __init__(
        self,
        *,
        mac: bytes,
        rng: Callable[[int], bytes],
        link_address: ipaddress.IPv6Address | None = None,
        peer_address: ipaddress.IPv6Address | None = None,
        interface_id: bytes | None = b"pana-mpa",
        server_address: ipaddress.IPv6Address = ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
        prefix_length: int = 128,
        router: ipaddress.IPv6Address | None = None,
        initial_timeout: float = 1.0,
        max_timeout: float = 8.0,
        attempts: int = 4,
    ) -> None:
        if len(mac) != 6:
            raise ValueError("mac must be a 6-octet MAC address")
        self.mac = mac
        self.duid = duid_ll(mac)
        self.iaid = iaid_for(mac)
        self.link_address = link_address
        self.peer_address = peer_address if peer_address is not None else link_local_for(mac)
        self.interface_id = interface_id
        self.server_address = server_address
        self.prefix_length = prefix_length
        self.router = router
        self._rng = rng
        self._initial, self._maximum, self._attempts = initial_timeout, max_timeout, attempts
        self.state = Dhcp6State.INIT
        self.transaction_id = 0
        self.lease: Dhcp6Lease | None = None
        self.failure: str | None = None
        self._server_duid = b""
        self._started = 0.0
        self._sent_at = 0.0
        self._out: list[bytes] = []
        self._last: Dhcp6Message | None = None
        self._tries = 0
        self._timeout = initial_timeout
        self._deadline: float | None = None

    def _new_transaction(self) -> None:
        self.transaction_id = int.from_bytes(self._rng(3), "big")

    def _message(
        self,
        mtype: Dhcp6MessageType,
        extra: list[tuple[int, bytes]],
        hint: ipaddress.IPv6Address | None = None,
    ) -> Dhcp6Message:
        oro = struct.pack("!HH", Dhcp6Option.DNS_SERVERS, Dhcp6Option.PANA_AGENT)
        options = [(int(Dhcp6Option.CLIENTID), self.duid), *extra]
        # RFC 8415 s18.2.2: the Request repeats the advertised address, lifetimes 0
        inner = () if hint is None else ((int(Dhcp6Option.IAADDR),
                                          encode_ia_address(IaAddress(hint, 0, 0))),)  # fmt: skip
        options.append((int(Dhcp6Option.IA_NA), encode_ia_na(IaNa(self.iaid, options=inner))))
        options.append((int(Dhcp6Option.ORO), oro))
        options.append((int(Dhcp6Option.ELAPSED_TIME), bytes(2)))  # set when sent (s21.9)
        return Dhcp6Message(mtype, self.transaction_id, tuple(options))

    def _wire(self, msg: Dhcp6Message, now: float) -> bytes:
        # Elapsed Time in 1/100 s since the exchange began, capped at 0xffff (RFC 8415 s21.9)
        elapsed = min(0xFFFF, max(0, round((now - self._started) * 100))).to_bytes(2, "big")
        options = tuple(
            (c, elapsed if c == Dhcp6Option.ELAPSED_TIME else v) for c, v in msg.options
        )
        data = encode_dhcp6(Dhcp6Message(msg.msg_type, msg.transaction_id, options))
        if self.link_address is None:
            return data
        return relay_forward(data, link_address=self.link_address, peer_address=self.peer_address,
                             interface_id=self.interface_id)  # fmt: skip

    def _send(self, msg: Dhcp6Message, now: float) -> None:
        self._last = msg
        self._tries = 1
        self._timeout = self._initial
        self._deadline = now + self._jitter(self._timeout)
        self._out.append(self._wire(msg, now))

    def _jitter(self, t: float) -> float:
        # RFC 8415 s15: RAND in -0.1 .. +0.1 of the timeout
        r = int.from_bytes(self._rng(2), "big") / 65535.0 * 0.2 - 0.1
        return t * (1 + r)

    def start(self, now: float) -> None:
        """Queue the Solicit."""
        if self.state is not Dhcp6State.INIT:
            raise RuntimeError("DHCPv6 exchange already started")
        self.state = Dhcp6State.SOLICITING
        self._started = now
        self._new_transaction()
        self._send(self._message(Dhcp6MessageType.SOLICIT, []), now)

    def datagrams_to_send(self) -> list[bytes]:
        """Messages to send to the server (or the relay agents' multicast group) port 547."""
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        """The next retransmission deadline."""
        if self.state in (Dhcp6State.SOLICITING, Dhcp6State.REQUESTING):
            return self._deadline
        return None

    def handle_timer(self, now: float) -> None:
        """Retransmit with doubling timeouts (RFC 8415 s15), or fail after ``attempts``."""
        deadline = self.get_timer()
        if deadline is None or now < deadline or self._last is None:
            return
        if self._tries >= self._attempts:
            self._fail(f"no answer from DHCPv6 server {self.server_address} after "
                       f"{self._tries} tries")  # fmt: skip
            return
        self._tries += 1
        self._timeout = min(self._timeout * 2, self._maximum)
        self._deadline = now + self._jitter(self._timeout)
        self._out.append(self._wire(self._last, now))

    def _fail(self, reason: str) -> None:
        self.state = Dhcp6State.FAILED
        self.failure = reason
        logger.info("DHCPv6 for %s failed: %s", self.mac.hex(":"), reason)

    def _unwrap(self, data: bytes) -> Dhcp6Message | None:
        msg = decode_dhcp6(data)
        if self.link_address is not None:
            if not isinstance(msg, RelayMessage) or msg.msg_type != Dhcp6MessageType.RELAY_REPL:
                return None
            if msg.peer_address != self.peer_address:
                return None
            inner = msg.option(Dhcp6Option.RELAY_MSG)
            if inner is None:
                return None
            msg = decode_dhcp6(inner)
        return msg if isinstance(msg, Dhcp6Message) else None

    def receive(self, data: bytes, now: float) -> None:
        """Handle a datagram from the server (or through the relay); anything else is ignored."""
        try:
            msg = self._unwrap(data)
            if msg is None or msg.transaction_id != self.transaction_id:
                logger.debug("dropping DHCPv6 datagram not for this exchange")
                return
            if msg.option(Dhcp6Option.CLIENTID) != self.duid:
                logger.debug("dropping DHCPv6 answer for another client")  # RFC 8415 s16.3
                return
            server_duid = msg.option(Dhcp6Option.SERVERID)
            if not server_duid:
                logger.debug("dropping DHCPv6 answer without Server Identifier")
                return
            self._answer(msg, server_duid, now)
        except Dhcp6Error as exc:
            logger.debug("dropping DHCPv6 datagram: %s", exc)

    def _answer(self, msg: Dhcp6Message, server_duid: bytes, now: float) -> None:
        if self.state is Dhcp6State.SOLICITING and msg.msg_type == Dhcp6MessageType.ADVERTISE:
            ia = self._usable_ia(msg)
            if ia is None:
                return  # RFC 8415 s18.2.9: an Advertise without addresses is not selected
            # the first usable Advertise is taken (s18.2.1 allows it after the first RT)
            self._server_duid = server_duid
            self.state = Dhcp6State.REQUESTING
            self._new_transaction()
            self._started = now
            server_id = [(int(Dhcp6Option.SERVERID), server_duid)]
            req = self._message(Dhcp6MessageType.REQUEST, server_id, ia[1].address)
            self._send(req, now)
        elif self.state is Dhcp6State.REQUESTING and msg.msg_type == Dhcp6MessageType.REPLY:
            if server_duid != self._server_duid:
                return
            status = msg.option(Dhcp6Option.STATUS_CODE)
            if status is not None and decode_status_code(status)[0] != Dhcp6StatusCode.SUCCESS:
                self._fail(f"DHCPv6 Reply with status {decode_status_code(status)}")
                return
            ia = self._usable_ia(msg)
            if ia is None:
                self._fail("DHCPv6 Reply without a usable address")
                return
            self._bound(msg, ia, server_duid, now)
        else:
            logger.debug("ignoring DHCPv6 %s in state %s", msg.msg_type, self.state.value)

    def _usable_ia(self, msg: Dhcp6Message) -> tuple[IaNa, IaAddress] | None:
        return usable_address(msg, self.iaid)

    def _bound(
        self, msg: Dhcp6Message, ia: tuple[IaNa, IaAddress], server_duid: bytes, now: float
    ) -> None:
        self.lease = lease_from_reply(
            msg, client_duid=self.duid, iaid=self.iaid, server_address=self.server_address,
            now=now, prefix_length=self.prefix_length, router=self.router,
        )  # fmt: skip
        self.state = Dhcp6State.BOUND
        logger.info("DHCPv6 lease %s for %s", self.lease.address, self.mac.hex(":"))


def usable_address(msg: Dhcp6Message, iaid: int) -> tuple[IaNa, IaAddress] | None:
    """The IA_NA with ``iaid`` and its first usable address; None (IA status not Success, no
    address, preferred > valid lifetime: RFC 8415 s21.6). Dhcp6Error when malformed."""
    for code, value in msg.options:
        if code != Dhcp6Option.IA_NA:
            continue
        ia = decode_ia_na(value)
        if ia.iaid != iaid:
            continue
        status = ia.status()
        if status is not None and status[0] != Dhcp6StatusCode.SUCCESS:
            logger.info("DHCPv6 IA_NA status %s: %s", *status)
            return None
        for address in ia.addresses():
            if address.valid_lifetime and address.preferred_lifetime <= address.valid_lifetime:
                return ia, address
    return None


def lease_from_reply(
    msg: Dhcp6Message,
    *,
    client_duid: bytes,
    iaid: int,
    server_address: ipaddress.IPv6Address,
    now: float,
    prefix_length: int = 128,
    router: ipaddress.IPv6Address | None = None,
) -> Dhcp6Lease:
    """The lease a Reply grants the IA ``iaid``; Dhcp6Error when it grants none."""
    server_duid = msg.option(Dhcp6Option.SERVERID)
    if not server_duid:
        raise Dhcp6Error("Reply without Server Identifier")
    status = msg.option(Dhcp6Option.STATUS_CODE)
    if status is not None and decode_status_code(status)[0] != Dhcp6StatusCode.SUCCESS:
        raise Dhcp6Error(f"Reply with status {decode_status_code(status)}")
    found = usable_address(msg, iaid)
    if found is None:
        raise Dhcp6Error("Reply without a usable address")
    na, address = found
    return Dhcp6Lease(
        address=address.address,
        preferred_lifetime=address.preferred_lifetime,
        valid_lifetime=address.valid_lifetime,
        t1=na.t1,
        t2=na.t2,
        iaid=na.iaid,
        client_duid=client_duid,
        server_duid=server_duid,
        server_address=server_address,
        dns_servers=_addresses(msg.option(Dhcp6Option.DNS_SERVERS)),
        acquired_at=now,
        prefix_length=prefix_length,
        router=router,
        paa_addresses=_addresses(msg.option(Dhcp6Option.PANA_AGENT)),
    )


def renew_message(
    *,
    transaction_id: int,
    client_duid: bytes,
    server_duid: bytes,
    iaid: int,
    address: ipaddress.IPv6Address,
) -> bytes:
    """The MN's Renew after the move, for the lease the relay got (RFC 8415 s18.2.4).

    Everything comes from the PANA-delivered configuration: the DUID (MPA-DHCP-Client-Id), the
    server's DUID (MPA-DHCPv6-Server-Id), the IAID (MPA-DHCPv6-IAID) and nCoA.
    """
    ia = IaNa(
        iaid, options=((int(Dhcp6Option.IAADDR), encode_ia_address(IaAddress(address, 0, 0))),)
    )
    oro = struct.pack("!HH", Dhcp6Option.DNS_SERVERS, Dhcp6Option.PANA_AGENT)
    options = (
        (int(Dhcp6Option.CLIENTID), client_duid),
        (int(Dhcp6Option.SERVERID), server_duid),
        (int(Dhcp6Option.IA_NA), encode_ia_na(ia)),
        (int(Dhcp6Option.ORO), oro),
        (int(Dhcp6Option.ELAPSED_TIME), bytes(2)),
    )
    return encode_dhcp6(Dhcp6Message(Dhcp6MessageType.RENEW, transaction_id, options))

"""DHCPv4 (RFC 2131/2132) for MPA address delivery: the PAA's relay acting for the MN (RFC 3046)."""

from __future__ import annotations

import ipaddress
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from pana_codecs import WireEnum

__all__ = [
    "DhcpError",
    "DhcpLease",
    "DhcpMessage",
    "DhcpMessageType",
    "DhcpRelayClient",
    "RelayState",
    "decode_dhcp",
    "encode_dhcp",
    "lease_from_ack",
    "renew_request",
]

logger = logging.getLogger(__name__)

MAGIC_COOKIE = b"\x63\x82\x53\x63"
BOOTREQUEST = 1
BOOTREPLY = 2
OPT_SUBNET_MASK = 1
OPT_ROUTER = 3
OPT_DNS = 6
OPT_REQUESTED_ADDRESS = 50
OPT_LEASE_TIME = 51
OPT_MESSAGE_TYPE = 53
OPT_SERVER_ID = 54
OPT_PARAMETER_LIST = 55
OPT_CLIENT_ID = 61
OPT_RELAY_AGENT_INFO = 82
OPT_PANA_AGENT = 136
OPT_END = 255
OPT_PAD = 0


class DhcpError(ValueError):
    """A malformed DHCP message (with the offset) or an unusable lease."""


class DhcpMessageType(WireEnum):
    """Option 53 values (RFC 2132 s9.6)."""

    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


_ZERO = ipaddress.IPv4Address(0)
_FIXED = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")  # RFC 2131 s2, 236 octets


@dataclass(frozen=True, slots=True)
class DhcpMessage:
    """A BOOTP/DHCP message; options keep their order and unknown codes (RFC 2131 s2)."""

    op: int
    xid: int
    chaddr: bytes
    options: tuple[tuple[int, bytes], ...] = ()
    htype: int = 1
    hops: int = 0
    secs: int = 0
    flags: int = 0
    ciaddr: ipaddress.IPv4Address = _ZERO
    yiaddr: ipaddress.IPv4Address = _ZERO
    siaddr: ipaddress.IPv4Address = _ZERO
    giaddr: ipaddress.IPv4Address = _ZERO

    def option(self, code: int) -> bytes | None:
        """The first option with this code, or None."""
        for c, v in self.options:
            if c == code:
                return v
        return None

    @property
    def message_type(self) -> int | None:
        """The DHCP message type (option 53), or None for plain BOOTP."""
        v = self.option(OPT_MESSAGE_TYPE)
        return v[0] if v and len(v) == 1 else None


def encode_dhcp(msg: DhcpMessage) -> bytes:
    """Encode a DHCP message (chaddr padded to 16 octets, options then End)."""
    if len(msg.chaddr) > 16:
        raise DhcpError("chaddr longer than 16 octets")
    fixed = _FIXED.pack(
        msg.op,
        msg.htype,
        len(msg.chaddr),  # hlen: the chaddr given is the chaddr decoded (RFC 2131 s2)
        msg.hops,
        msg.xid,
        msg.secs,
        msg.flags,
        msg.ciaddr.packed,
        msg.yiaddr.packed,
        msg.siaddr.packed,
        msg.giaddr.packed,
        msg.chaddr.ljust(16, b"\0"),
        b"",
        b"",
    )
    opts = bytearray()
    for code, value in msg.options:
        if len(value) > 255:
            raise DhcpError(f"option {code} longer than 255 octets")
        opts += bytes([code, len(value)]) + value
    return fixed + MAGIC_COOKIE + bytes(opts) + bytes([OPT_END])


def decode_dhcp(data: bytes) -> DhcpMessage:
    """Decode a DHCP message; DhcpError (with offset) when malformed."""
    if len(data) < _FIXED.size + 4:
        raise DhcpError(f"DHCP message of {len(data)} octets is shorter than 240 at offset 0")
    op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi, ch, _sname, _file = _FIXED.unpack_from(
        data
    )
    if data[_FIXED.size : _FIXED.size + 4] != MAGIC_COOKIE:
        raise DhcpError(f"no DHCP magic cookie at offset {_FIXED.size}")
    if hlen > 16:
        raise DhcpError("hlen larger than 16 at offset 2")
    options: list[tuple[int, bytes]] = []
    i = _FIXED.size + 4
    while i < len(data):
        code = data[i]
        if code == OPT_PAD:
            i += 1
            continue
        if code == OPT_END:
            break
        if i + 1 >= len(data) or i + 2 + data[i + 1] > len(data):
            raise DhcpError(f"option {code} truncated at offset {i}")
        options.append((code, bytes(data[i + 2 : i + 2 + data[i + 1]])))
        i += 2 + data[i + 1]
    return DhcpMessage(
        op=op,
        xid=xid,
        chaddr=bytes(ch[:hlen]),
        options=tuple(options),
        htype=htype,
        hops=hops,
        secs=secs,
        flags=flags,
        ciaddr=ipaddress.IPv4Address(ci),
        yiaddr=ipaddress.IPv4Address(yi),
        siaddr=ipaddress.IPv4Address(si),
        giaddr=ipaddress.IPv4Address(gi),
    )


@dataclass(frozen=True, slots=True)
class DhcpLease:
    """What the CTN's DHCP server granted the MN (delivered to it in PANA, docs/mpa-wire.md)."""

    address: ipaddress.IPv4Address
    prefix_length: int
    router: ipaddress.IPv4Address | None
    dns_servers: tuple[ipaddress.IPv4Address, ...]
    lease_time: int
    server_id: ipaddress.IPv4Address
    client_id: bytes
    acquired_at: float
    paa_addresses: tuple[ipaddress.IPv4Address, ...] = ()
    """PANA agents the server announced (RFC 5192 OPTION_PANA_AGENT, DHCPv4 option 136)."""


class RelayState(Enum):
    """States of the relay's DHCP exchange for one MN (RFC 2131 s4.4, seen from the relay)."""

    INIT = "INIT"
    SELECTING = "SELECTING"
    REQUESTING = "REQUESTING"
    BOUND = "BOUND"
    FAILED = "FAILED"


@dataclass(kw_only=True)
class _Retransmit:
    initial: float = 1.0
    maximum: float = 8.0
    attempts: int = 4
    sent: int = 0
    deadline: float | None = None
    timeout: float = field(default=1.0)


def _addrs(value: bytes | None) -> tuple[ipaddress.IPv4Address, ...]:
    if not value or len(value) % 4:
        return ()
    return tuple(ipaddress.IPv4Address(value[i : i + 4]) for i in range(0, len(value), 4))


class DhcpRelayClient:
    """Sans-IO DHCP exchange the PAA's relay runs for one MN (giaddr set, RFC 3046 option 82).

    The relay sends DISCOVER and REQUEST to the CTN's server from ``giaddr``:67 and reads the
    OFFER/ACK there, as a relay agent does (RFC 2131 s4.1), acting for the MN's ``chaddr`` and
    ``client_id`` so the same identifier serves before and after the move (RFC 6252 s7.3).
    """

    def __init__(
        self,
        *,
        server: ipaddress.IPv4Address,
        giaddr: ipaddress.IPv4Address,
        chaddr: bytes,
        client_id: bytes | None = None,
        circuit_id: bytes = b"pana-mpa",
        rng: Callable[[int], bytes],
        initial_timeout: float = 1.0,
        max_timeout: float = 8.0,
        attempts: int = 4,
    ) -> None:
        if len(chaddr) != 6:
            raise ValueError("chaddr must be a 6-octet MAC address")
        self.server = server
        self.giaddr = giaddr
        self.chaddr = chaddr
        self.client_id = client_id if client_id is not None else b"\x01" + chaddr
        self._circuit_id = circuit_id
        self._rng = rng
        self._rtx = _Retransmit(initial=initial_timeout, maximum=max_timeout, attempts=attempts)
        self.state = RelayState.INIT
        self.xid = int.from_bytes(rng(4), "big")
        self.lease: DhcpLease | None = None
        self.failure: str | None = None
        self._offer: DhcpMessage | None = None
        self._out: list[bytes] = []
        self._last: bytes | None = None

    # RFC 3046 s2.0: sub-option 1 Agent Circuit ID, sub-option 2 Agent Remote ID (the MN's MAC)
    def _relay_info(self) -> bytes:
        return bytes([1, len(self._circuit_id)]) + self._circuit_id + bytes([2, 6]) + self.chaddr

    def _common(self, mtype: DhcpMessageType, extra: list[tuple[int, bytes]]) -> DhcpMessage:
        options = [(OPT_MESSAGE_TYPE, bytes([mtype])), (OPT_CLIENT_ID, self.client_id)]
        options += extra
        # RFC 5192 s4: ask for OPTION_PANA_AGENT (136) too
        wanted = bytes([OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_PANA_AGENT])
        options.append((OPT_PARAMETER_LIST, wanted))
        options.append((OPT_RELAY_AGENT_INFO, self._relay_info()))
        return DhcpMessage(
            op=BOOTREQUEST,
            xid=self.xid,
            chaddr=self.chaddr,
            options=tuple(options),
            hops=1,
            giaddr=self.giaddr,
        )

    def _send(self, msg: DhcpMessage, now: float) -> None:
        data = encode_dhcp(msg)
        self._last = data
        self._out.append(data)
        self._rtx.sent = 1
        self._rtx.timeout = self._rtx.initial
        self._rtx.deadline = now + self._jitter(self._rtx.timeout)

    def _jitter(self, t: float) -> float:
        # RFC 2131 s4.1: randomised by +/-1 s; scaled down for short test timers
        r = int.from_bytes(self._rng(2), "big") / 65535.0 * 2.0 - 1.0
        return max(0.0, t + r * min(1.0, t / 4))

    def start(self, now: float) -> None:
        """Queue the DISCOVER."""
        if self.state is not RelayState.INIT:
            raise RuntimeError("DHCP exchange already started")
        self.state = RelayState.SELECTING
        self._send(self._common(DhcpMessageType.DISCOVER, []), now)

    def datagrams_to_send(self) -> list[bytes]:
        """DHCP messages to send to (server, 67) from (giaddr, 67)."""
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        """The next retransmission deadline."""
        if self.state in (RelayState.SELECTING, RelayState.REQUESTING):
            return self._rtx.deadline
        return None

    def handle_timer(self, now: float) -> None:
        """Retransmit with exponential backoff (RFC 2131 s4.1), or fail."""
        deadline = self.get_timer()
        if deadline is None or now < deadline or self._last is None:
            return
        if self._rtx.sent >= self._rtx.attempts:
            self._fail(f"no answer from DHCP server {self.server} after {self._rtx.sent} tries")
            return
        self._rtx.sent += 1
        self._rtx.timeout = min(self._rtx.timeout * 2, self._rtx.maximum)
        self._rtx.deadline = now + self._jitter(self._rtx.timeout)
        self._out.append(self._last)

    def _fail(self, reason: str) -> None:
        self.state = RelayState.FAILED
        self.failure = reason
        logger.info("DHCP for %s failed: %s", self.chaddr.hex(":"), reason)

    def receive(self, data: bytes, now: float) -> None:
        """Handle a datagram from the server; anything not ours is ignored."""
        try:
            msg = decode_dhcp(data)
        except DhcpError as exc:
            logger.debug("dropping DHCP datagram: %s", exc)
            return
        if msg.op != BOOTREPLY or msg.xid != self.xid or msg.chaddr != self.chaddr:
            logger.debug("dropping DHCP reply not for this exchange (xid %#x)", msg.xid)
            return
        mtype = msg.message_type
        if self.state is RelayState.SELECTING and mtype == DhcpMessageType.OFFER:
            server_id = msg.option(OPT_SERVER_ID)
            if server_id is None or len(server_id) != 4 or msg.yiaddr.packed == bytes(4):
                logger.debug("dropping OFFER without server id or address")
                return
            self._offer = msg
            self.state = RelayState.REQUESTING
            self._send(
                self._common(
                    DhcpMessageType.REQUEST,
                    [(OPT_REQUESTED_ADDRESS, msg.yiaddr.packed), (OPT_SERVER_ID, server_id)],
                ),
                now,
            )
        elif self.state is RelayState.REQUESTING and mtype == DhcpMessageType.ACK:
            try:
                self._bound(msg, now)
            except DhcpError as exc:
                # a malformed ACK is discarded like any other bad datagram: the REQUEST is
                # retransmitted, and a forged ACK cannot end the exchange
                logger.debug("dropping unusable DHCP ACK: %s", exc)
        elif self.state is RelayState.REQUESTING and mtype == DhcpMessageType.NAK:
            self._fail("DHCP server answered NAK")
        else:
            logger.debug("ignoring DHCP %s in state %s", mtype, self.state.value)

    def _bound(self, ack: DhcpMessage, now: float) -> None:
        self.lease = lease_from_ack(ack, client_id=self.client_id, fallback_server=self.server,
                                    now=now)  # fmt: skip
        self.state = RelayState.BOUND
        logger.info("DHCP lease %s/%d for %s", ack.yiaddr, self.lease.prefix_length,
                    self.chaddr.hex(":"))  # fmt: skip


def lease_from_ack(
    ack: DhcpMessage, *, client_id: bytes, fallback_server: ipaddress.IPv4Address, now: float
) -> DhcpLease:
    """The lease an ACK grants: address, prefix (option 1), router, DNS, time, server id.

    DhcpError when the ACK is unusable (a non-contiguous netmask, a server id not 4 octets).
    """
    mask = ack.option(OPT_SUBNET_MASK)
    plen = 32
    if mask and len(mask) == 4:
        bits = int.from_bytes(mask, "big")
        plen = bin(bits).count("1")
        if bits != (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF:
            raise DhcpError(f"non-contiguous subnet mask {ipaddress.IPv4Address(mask)} in ACK")
    lease = ack.option(OPT_LEASE_TIME)
    server_id = ack.option(OPT_SERVER_ID)
    if server_id is None:
        server_id = fallback_server.packed
    elif len(server_id) != 4:
        raise DhcpError(f"server identifier of {len(server_id)} octets in ACK (RFC 2132 s9.7)")
    routers = _addrs(ack.option(OPT_ROUTER))
    return DhcpLease(
        address=ack.yiaddr,
        prefix_length=plen,
        router=routers[0] if routers else None,
        dns_servers=_addrs(ack.option(OPT_DNS)),
        lease_time=int.from_bytes(lease, "big") if lease and len(lease) == 4 else 0,
        server_id=ipaddress.IPv4Address(server_id),
        client_id=client_id,
        acquired_at=now,
        paa_addresses=_addrs(ack.option(OPT_PANA_AGENT)),
    )


def renew_request(lease: DhcpLease, chaddr: bytes, xid: int) -> bytes:
    """The MN's RENEWING REQUEST after the move: from nCoA, same client id (RFC 2131 s4.4.5)."""
    msg = DhcpMessage(
        op=BOOTREQUEST,
        xid=xid,
        chaddr=chaddr,
        ciaddr=lease.address,
        options=(
            (OPT_MESSAGE_TYPE, bytes([DhcpMessageType.REQUEST])),
            (OPT_CLIENT_ID, lease.client_id),
        ),
    )
    return encode_dhcp(msg)

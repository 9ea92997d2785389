"""A RADIUS front for our EAP server (RFC 3579 s2): any NAS can use our EAP methods.

Each RADIUS conversation runs its own ``EapAuthenticator``; the reply is Access-Challenge
(next EAP Request, fresh State), Access-Accept (EAP-Success, MSK as MS-MPPE-Recv/Send-Key,
RFC 2548) or Access-Reject (EAP-Failure). Message-Authenticator is required on every request::

    core = RadiusServerCore(
        clients={"127.0.0.1": Secret(b"testing123"), "10.0.0.0/8": Secret(b"other")},
        backend=lambda: EapAuthenticator(methods=lambda identity: [make_psk_server]),
    )
    server = RadiusServer(core)
    await server.start("127.0.0.1", 1812)   # eapol_test -a 127.0.0.1 -s testing123 ...
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, cast

from pana_codecs.eap import EapCode, EapType, decode_eap
from pana_codecs.errors import CodecError

from .._radius_codec import (
    MICROSOFT,
    Attr,
    AuthenticatorMismatch,
    MsAttr,
    RadiusCode,
    RadiusPacket,
    encrypt_mppe_key,
    join_eap,
    sign_response,
    split_eap,
    vendor_attr,
    verify_request,
)
from ..keys import KeyMaterial, Secret
from ..methods.base import Rng

__all__ = ["EapBackend", "RadiusServer", "RadiusServerCore"]

logger = logging.getLogger(__name__)

Address = tuple[str, int]

MAX_ATTRIBUTES = 200
"""Attributes an Access-Request may have (FreeRADIUS's ``max_attributes`` default): bounds the
walk that locates the Message-Authenticator of a request not yet verified."""

_ERROR_CAUSE_INVALID_EAP = (202).to_bytes(4, "big")
"""Error-Cause 202 "Invalid EAP Packet (Ignored)" (RFC 3579 s2.6.2)."""


class _Result(Protocol):
    @property
    def success(self) -> bool: ...

    @property
    def keys(self) -> KeyMaterial | None: ...


class _Output(Protocol):
    @property
    def packet(self) -> bytes | None: ...

    @property
    def result(self) -> _Result | None: ...


class EapBackend(Protocol):
    """What the front needs of an EAP server: ``eap.authenticator.EapServer`` fits."""

    def start(self) -> _Output: ...

    def receive(self, packet: bytes) -> _Output: ...


@dataclass(slots=True)
class _Conversation:
    backend: EapBackend
    last_request: bytes
    last_seen: float
    discards: int = 0


class RadiusServerCore:
    """Sans-IO RADIUS server: Access-Request in, Challenge/Accept/Reject out (RFC 3579).

    ``clients`` maps a client address, or a network such as ``"10.0.0.0/8"`` (the most specific
    wins), to its shared secret; others are ignored. Each conversation runs its own
    ``EapBackend`` from ``backend()``; the State attribute
    (RFC 2865 s5.24) ties the Access-Requests of one conversation together. A retransmitted
    Access-Request gets the cached reply again (RFC 2865 s2.5).
    """

    def __init__(
        self,
        *,
        clients: Mapping[str, Secret],
        backend: Callable[[], EapBackend],
        rng: Rng = os.urandom,
        idle_timeout: float = 60.0,
        max_conversations: int = 4096,
        max_discards: int = 3,
        max_attributes: int = MAX_ATTRIBUTES,
    ) -> None:
        self._clients = dict(clients)
        self._networks = [
            (ipaddress.ip_network(k, strict=False), v) for k, v in clients.items() if "/" in k
        ]
        self._backend = backend
        self._rng = rng
        self._idle = idle_timeout
        self._max = max_conversations
        self._max_discards = max_discards
        self._max_attributes = max_attributes
        self._convs: OrderedDict[bytes, _Conversation] = OrderedDict()
        self.dropped = {"unknown_client": 0, "rejected": 0}
        """Datagrams dropped: from no configured client; malformed or failing the
        Message-Authenticator check (RFC 3579 s3.2)."""
        # (client, Identifier, Request Authenticator) -> (request, reply, time) (RFC 5080 s2.2.2)
        self._replies: OrderedDict[tuple[Address, int, bytes], tuple[bytes, bytes, float]] = (
            OrderedDict()
        )

    def _drop(self, kind: str) -> tuple[int, int]:
        """Count a dropped datagram; its log level and count: WARNING for the 1st, 2nd, 4th,
        8th... of its kind, else DEBUG (anyone can send from a client's address: a flood must
        not flood the log)."""
        count = self.dropped[kind] = self.dropped[kind] + 1
        return (logging.WARNING if count & (count - 1) == 0 else logging.DEBUG), count

    @property
    def conversations(self) -> int:
        """Number of conversations in progress."""
        return len(self._convs)

    def receive(self, data: bytes, addr: Address, now: float) -> bytes | None:
        """Handle one datagram; return the reply to send, or None to drop it silently."""
        self._expire(now)
        secret = self._client_secret(addr[0])
        if secret is None:
            level, count = self._drop("unknown_client")
            logger.log(level, "dropping RADIUS packet from unknown client %s (%d so far)",
                       addr[0], count)  # fmt: skip
            return None
        if len(data) >= 20:
            cached = self._replies.get((addr, data[1], bytes(data[4:20])))
            if cached is not None and cached[0] == data:
                logger.debug("retransmitted Access-Request %d: repeating the reply", data[1])
                return cached[1]
        try:
            req = verify_request(data, secret, max_attributes=self._max_attributes)
        except (CodecError, AuthenticatorMismatch) as exc:
            level, count = self._drop("rejected")
            logger.log(
                level, "dropping RADIUS packet from %s: %s (shared secret mismatch?; %d so far)",
                addr[0], exc, count,
            )  # fmt: skip
            return None
        if req.code == RadiusCode.STATUS_SERVER:
            # RFC 5997 s4.3: "alive", an Access-Accept with a Message-Authenticator; no State.
            return self._reply(RadiusCode.ACCESS_ACCEPT, req, [], secret)
        if req.code != RadiusCode.ACCESS_REQUEST:
            logger.info("dropping RADIUS code %d from %s", req.code, addr[0])
            return None
        reply = self._handle(req, secret, now)
        self._replies[(addr, req.identifier, req.authenticator)] = (bytes(data), reply, now)
        while len(self._replies) > 4 * self._max:
            self._replies.popitem(last=False)
        return reply

    def _client_secret(self, host: str) -> Secret | None:
        secret = self._clients.get(host)
        if secret is not None or not self._networks:
            return secret
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return None
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        best: tuple[int, Secret] | None = None
        for net, value in self._networks:  # the most specific network wins
            if ip in net and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, value)
        return None if best is None else best[1]

    def _expire(self, now: float) -> None:
        while self._convs:
            state, conv = next(iter(self._convs.items()))
            if now - conv.last_seen < self._idle and len(self._convs) <= self._max:
                break
            del self._convs[state]
        while self._replies:
            _key, (_request, _reply, when) = next(iter(self._replies.items()))
            if now - when < self._idle:
                break
            self._replies.popitem(last=False)

    def _handle(self, req: RadiusPacket, secret: Secret, now: float) -> bytes:
        eap = join_eap(req)
        if eap is None:
            logger.info("Access-Request without EAP-Message: rejecting")
            return self._reply(RadiusCode.ACCESS_REJECT, req, [], secret)
        state = req.get(Attr.STATE)
        if state is not None:
            conv = self._convs.get(state)
            if conv is None:
                logger.info("Access-Request with an unknown State: rejecting")
                return self._reply(RadiusCode.ACCESS_REJECT, req, [], secret)
            del self._convs[state]  # a fresh State per round trip
            out = self._receive(conv.backend, eap)
        else:
            backend, out = self._first(eap)
            conv = _Conversation(backend, b"", now)
        conv.last_seen = now
        result = out.result
        if result is not None:
            if result.success:
                attrs = split_eap(out.packet) if out.packet else []
                attrs += self._key_attrs(result.keys, req, secret)
                logger.info("EAP conversation succeeded: Access-Accept")
                return self._reply(RadiusCode.ACCESS_ACCEPT, req, attrs, secret)
            logger.info("EAP conversation failed: Access-Reject")
            attrs = split_eap(out.packet) if out.packet else []
            return self._reply(RadiusCode.ACCESS_REJECT, req, attrs, secret)
        attrs = []
        request = out.packet
        if request is None:
            conv.discards += 1
            if not conv.last_request or conv.discards > self._max_discards:
                # Abort a conversation going nowhere (a peer repeating a Response the EAP
                # server keeps ignoring), as RFC 3579 s2.6.3 lets the server reject any time.
                logger.info("EAP server ignored %d Responses in a row: rejecting", conv.discards)
                failure = _eap_failure(conv.last_request[1] if conv.last_request else 0)
                return self._reply(RadiusCode.ACCESS_REJECT, req, split_eap(failure), secret)
            # RFC 3579 s2.6.2: the EAP server ignored the Response; repeat the Request.
            request = conv.last_request
            attrs.append((Attr.ERROR_CAUSE, _ERROR_CAUSE_INVALID_EAP))
        else:
            conv.discards = 0
        conv.last_request = request
        new_state = self._rng(16)
        self._convs[new_state] = conv
        attrs = [*split_eap(request), (Attr.STATE, new_state), *attrs]
        return self._reply(RadiusCode.ACCESS_CHALLENGE, req, attrs, secret)

    @staticmethod
    def _receive(backend: EapBackend, eap: bytes) -> _Output:
        return backend.receive(eap)

    def _first(self, eap: bytes) -> tuple[EapBackend, _Output]:
        """Start a conversation's backend and hand it the NAS's first EAP packet."""
        backend = self._backend()
        out = backend.start()
        if not eap:
            return backend, out  # EAP-Start (RFC 3579 s2.1): the server sends the first Request
        try:
            got = decode_eap(eap)
            sent = decode_eap(out.packet) if out.packet is not None else None
        except CodecError:
            return backend, backend.receive(eap)
        if not (
            sent is not None
            and sent.code == EapCode.REQUEST
            and sent.type == EapType.IDENTITY
            and got.code == EapCode.RESPONSE
            and got.type == EapType.IDENTITY
        ):
            return backend, backend.receive(eap)
        # The NAS asked for the identity itself (RFC 3579 s2.1): answer the backend's own
        # Identity Request with it, under that Request's Identifier.
        for _attempt in range(8):
            out = backend.receive(bytes((eap[0], sent.identifier)) + eap[2:])
            nxt = out.packet
            if out.result is not None or nxt is None or nxt[1] != got.identifier:
                return backend, out
            # The next Request would reuse the Identifier the peer just answered, and the peer
            # would take it for a retransmission (RFC 3748 s4.1): start over with a fresh one.
            backend = self._backend()
            first = backend.start().packet
            if first is None:
                break
            sent = decode_eap(first)
        return backend, out

    def _key_attrs(
        self, keys: KeyMaterial | None, req: RadiusPacket, secret: Secret
    ) -> list[tuple[int, bytes]]:
        if keys is None:
            return []
        msk = keys.msk.reveal()
        if len(msk) < 64:
            logger.warning("MSK shorter than 64 octets: not sending MS-MPPE keys")
            return []
        # RFC 2548 s2.4.2: each salt unique in the packet, most significant bit set.
        salt = int.from_bytes(self._rng(2), "big") | 0x8000
        ra = req.authenticator
        attrs = [
            # RFC 5216 s2.3: MS-MPPE-Recv-Key = MSK[0..31], MS-MPPE-Send-Key = MSK[32..63].
            vendor_attr(
                MICROSOFT, MsAttr.MS_MPPE_RECV_KEY, encrypt_mppe_key(msk[:32], secret, ra, salt)
            ),
            vendor_attr(
                MICROSOFT,
                MsAttr.MS_MPPE_SEND_KEY,
                encrypt_mppe_key(msk[32:64], secret, ra, salt ^ 1),
            ),
        ]
        if keys.session_id:
            attrs.append((Attr.EAP_KEY_NAME, keys.session_id[:253]))
        return attrs

    @staticmethod
    def _reply(
        code: int, req: RadiusPacket, attrs: list[tuple[int, bytes]], secret: Secret
    ) -> bytes:
        # RFC 2865 s5.33: Proxy-State attributes come back unmodified and in order.
        attrs = attrs + [(Attr.PROXY_STATE, v) for v in req.all(Attr.PROXY_STATE)]
        return sign_response(code, req.identifier, req.authenticator, attrs, secret)


def _eap_failure(identifier: int) -> bytes:
    return bytes((EapCode.FAILURE, identifier, 0, 4))


class _ServerProtocol(asyncio.DatagramProtocol):
    def __init__(self, core: RadiusServerCore) -> None:
        self._core = core
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        now = asyncio.get_running_loop().time()
        try:
            reply = self._core.receive(data, (addr[0], addr[1]), now)
        except Exception:  # a backend bug must not stop the server
            logger.exception("RADIUS request from %s dropped: EAP backend failed", addr[0])
            return
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class RadiusServer:
    """The asyncio UDP endpoint around a ``RadiusServerCore``."""

    def __init__(self, core: RadiusServerCore) -> None:
        self.core = core
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 1812) -> Address:
        """Bind and serve; return the bound address (port 0 picks a free one)."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _ServerProtocol(self.core), local_addr=(host, port)
        )
        self._transport = transport
        sockname = transport.get_extra_info("sockname")
        return (str(sockname[0]), int(sockname[1]))

    def close(self) -> None:
        """Stop serving."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> RadiusServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

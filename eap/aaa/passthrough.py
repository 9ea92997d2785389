"""EAP pass-through to a RADIUS server (RFC 3579): the AAA back end of a pass-through PAA.

One ``RadiusPassThrough`` per EAP conversation (one PANA session); ``exchange()`` is the
contract's pass-through step (docs/contracts.md)::

    config = RadiusConfig(server=("192.0.2.10", 1812), secret=Secret(b"testing123"))
    pt = RadiusPassThrough(config)
    out = await pt.exchange(None)              # our EAP-Request/Identity for the peer
    out = await pt.exchange(identity_response) # Access-Request; out.packet: the server's Request
    ...                                        # until out.result: EapResult with the MSK

``begin_exchange(eap_response, done)`` is the same step without a coroutine (the PAA runner's
callback path): with a shared ``RadiusClient`` the reply goes from the socket reader straight to
``done``, with no task, lock or future per round trip. Without one, each Access-Request gets a
``RadiusClient`` of its own (one socket, closed with the request): one reader, one set of checks.

Every request carries a Message-Authenticator; replies must pass the Response Authenticator
and Message-Authenticator checks or are dropped, and when no valid reply comes ``RadiusError``
says why (including "shared secret mismatch?"). No third-party RADIUS library is needed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

from pana_codecs.eap import EapCode, EapType, decode_eap
from pana_codecs.errors import CodecError

from .._radius_codec import (
    MICROSOFT,
    Attr,
    MsAttr,
    RadiusCode,
    RadiusPacket,
    decrypt_mppe_key,
    join_eap,
    sign_request,
    split_eap,
    vendor_attrs,
)
from ..authenticator import AuthOutput
from ..keys import KeyMaterial, Secret
from ..methods.base import Rng
from ..peer import EapResult
from .client import DatagramLink, LinkFactory, RadiusClient, RadiusError, RadiusRequest

__all__ = [
    "AnswerDone",
    "DatagramLink",
    "ExchangeDone",
    "LinkFactory",
    "RadiusAnswer",
    "RadiusClient",
    "RadiusCode",
    "RadiusConfig",
    "RadiusError",
    "RadiusPassThrough",
    "radius_client",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RadiusConfig:
    """Where and how to reach the RADIUS server (RFC 2865, RFC 3579)."""

    server: tuple[str, int]
    secret: Secret
    nas_identifier: bytes = b"pana-mpa"
    """NAS-Identifier (32); RFC 3579 s3 wants it or NAS-IP-Address."""
    nas_ip_address: str | None = None
    """NAS-IP-Address (4), or NAS-IPv6-Address (95) for an IPv6 address."""
    framed_mtu: int | None = 1400
    """Framed-MTU (12): the largest EAP packet the server may send (RFC 3579 s2.4)."""
    calling_station_id: bytes | None = None
    timeout: float = 3.0
    """Seconds to wait for a reply before retransmitting."""
    retries: int = 3
    """Retransmissions after the first try (RFC 2865 s2.4 leaves the number to the NAS)."""
    identity_request: bool = True
    """``exchange(None)`` sends our own EAP-Request/Identity (RFC 3579 s2.1), not EAP-Start."""
    bind: tuple[str, int] | None = None
    """Local address of the client socket (None: chosen by the kernel)."""
    extra_attributes: tuple[tuple[int, bytes], ...] = field(default=())
    """Sent in every Access-Request (for example NAS-Port-Type)."""

    def __post_init__(self) -> None:
        if not len(self.secret):
            raise ValueError("the RADIUS shared secret must not be empty (RFC 2865 s3)")
        if self.timeout <= 0 or self.retries < 0:
            raise ValueError("RADIUS timeout must be positive and retries not negative")
        if not 0 < self.server[1] < 65536:
            raise ValueError(f"bad RADIUS server port {self.server[1]}")
        for atype, value in self.extra_attributes:
            if not 0 <= atype <= 255 or len(value) > 253:
                raise ValueError(f"extra attribute {atype}: type 0..255, value up to 253 octets")


@dataclass(frozen=True, slots=True)
class RadiusAnswer:
    """What the RADIUS server decided for one Access-Request (RFC 3579 s2.6.3)."""

    code: int
    """RadiusCode: ACCESS_CHALLENGE, ACCESS_ACCEPT or ACCESS_REJECT."""
    eap: bytes | None
    """The EAP packet to forward to the peer, if the server sent one."""
    keys: KeyMaterial | None = None
    """MSK from MS-MPPE-Recv-Key | MS-MPPE-Send-Key in an Access-Accept (RFC 2548, RFC 5216)."""
    method_type: int | None = None
    """The EAP method of the last EAP-Request the server sent (None before any)."""
    session_timeout: int | None = None
    """Session-Timeout (27): in a challenge the EAP retransmission timer (RFC 3579 s2.2), in an
    Access-Accept the session's lifetime (RFC 2865 s5.27; a PAA's Session-Lifetime)."""


AnswerDone: TypeAlias = Callable[["RadiusAnswer | Exception"], None]
"""``begin_answer``'s callback: the server's RadiusAnswer, or the error (RadiusError)."""

ExchangeDone: TypeAlias = Callable[[AuthOutput | Exception], None]
"""``begin_exchange``'s callback: the AuthOutput, or the error (RadiusError)."""


class RadiusPassThrough:
    """One EAP conversation relayed to a RADIUS server (RFC 3579 s2), over asyncio UDP.

    ``exchange()`` (AuthOutput, the contract) or ``answer()`` (the raw RadiusAnswer) take each
    EAP-Response from the peer, starting with the EAP-Response/Identity; ``answer(None)`` sends
    EAP-Start (RFC 3579 s2.1). State is echoed, the EAP-Message split and reassembled, and
    every reply must carry valid Response and Message-Authenticators; others are dropped
    (RFC 3579 s3.2).

    By default each Access-Request has a ``RadiusClient`` of its own, closed with it (one socket,
    a fresh source port; nothing stays open between round trips); ``link`` opens a
    ``DatagramLink`` in place of that socket (tests). A server of many conversations passes one
    ``client=RadiusClient`` (see ``radius_client``) to all of them: shared sockets, requests told
    apart by Identifier. Either way the replies are read and checked by ``RadiusClient``'s reader.
    """

    def __init__(
        self,
        config: RadiusConfig,
        *,
        rng: Rng = os.urandom,
        link: LinkFactory | None = None,
        client: RadiusClient | None = None,
    ) -> None:
        if link is not None and client is not None:
            raise ValueError("give RadiusPassThrough a link factory or a shared client, not both")
        self._cfg = config
        self._rng = rng
        self._client = client
        self._link = link
        self._own: RadiusClient | None = None  # without ``client``: the request's own client
        self._identifier = rng(1)[0]
        self._user_name: bytes | None = None
        self._state: bytes | None = None
        self._eap_id: int | None = None
        self._method_type: int | None = None
        self._done = False
        self._fixed: list[tuple[int, bytes]] | None = None  # the attributes every request has
        self._request: RadiusRequest | None = None  # the outstanding Access-Request
        self._attrs: list[tuple[int, bytes]] = []  # the outstanding request's attributes
        self._waiter: AnswerDone | None = None
        self._exchange_done: ExchangeDone | None = None

    @property
    def done(self) -> bool:
        """True once the server sent Access-Accept or Access-Reject."""
        return self._done

    async def __aenter__(self) -> RadiusPassThrough:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    @property
    def busy(self) -> bool:
        """True while a ``begin_answer``/``begin_exchange`` waits for its answer."""
        return self._waiter is not None

    def close(self) -> None:
        """Close the socket of an exchange in progress, if any (each exchange opens its own;
        a shared ``client`` stays open: its owner closes it). An exchange begun with
        ``begin_exchange``/``begin_answer`` is withdrawn: its ``done`` is never called."""
        self._waiter = self._exchange_done = None
        request, self._request = self._request, None
        if request is not None:
            request.cancel()  # frees its Identifier and timer on the shared client
        self._close_own()

    def _close_own(self) -> None:
        own, self._own = self._own, None
        if own is not None:
            own.close()

    def restart(self) -> None:
        """Begin a new conversation (re-authentication): forget State and User-Name."""
        self._user_name = None
        self._state = None
        self._eap_id = None
        self._method_type = None
        self._done = False

    async def exchange(self, eap_response: bytes | None) -> AuthOutput:
        """Relay one EAP-Response; the contract's pass-through step (docs/contracts.md).

        ``None`` starts a conversation: with ``RadiusConfig.identity_request`` (the default) the
        answer is our own EAP-Request/Identity, otherwise an EAP-Start goes to the server.

        A Response that must not be forwarded (wrong Code or Identifier, RFC 3579 s2.2) is
        discarded: ``AuthOutput(None, None)``. Raise ``RadiusError`` when the server gives no
        usable answer (unreachable, wrong shared secret, a conflicting reply).
        """
        local = self._local_step(eap_response)
        if local is not None:
            return local
        return _output(await self._answer(eap_response, checked=True))

    def begin_exchange(self, eap_response: bytes | None, done: ExchangeDone) -> AuthOutput | None:
        """``exchange()`` without a coroutine (the PAA runner's callback path, docs/contracts.md).

        Return the AuthOutput when it is known at once (our EAP-Request/Identity, a discarded
        Response); ``done`` is then not called. Otherwise send the Access-Request, return None
        and call ``done(output)`` or ``done(RadiusError)`` once, later, from the event loop: with
        a shared ``client`` from the socket reader that read the reply. ``close()`` withdraws the
        exchange (``done`` is never called). One exchange at a time; raise ``RadiusError`` at
        once when the Response cannot be sent (the conversation ended, one is in progress).
        """
        local = self._local_step(eap_response)
        if local is not None:
            return local
        self._exchange_done = done
        try:
            self._begin(eap_response, self._exchanged, checked=True)
        except BaseException:
            self._exchange_done = None
            raise
        return None

    def _exchanged(self, result: RadiusAnswer | Exception) -> None:
        done, self._exchange_done = self._exchange_done, None
        if done is not None:
            done(result if isinstance(result, Exception) else _output(result))

    def _local_step(self, eap_response: bytes | None) -> AuthOutput | None:
        """The step's answer when no RADIUS round trip is needed, else None."""
        if eap_response is None:
            self.restart()  # a new conversation (first authentication or re-authentication)
            if self._cfg.identity_request:
                # RFC 3579 s2.1: the NAS asks for the identity itself and forwards the Response
                # with User-Name (EAP-Start is not recommended; hostapd rejects it without one).
                self._eap_id = self._rng(1)[0]
                request = bytes((EapCode.REQUEST, self._eap_id, 0, 5, EapType.IDENTITY))
                return AuthOutput(request, None)
        elif not self._done:
            reason = self._check_response(eap_response)
            if reason is not None:
                logger.info("EAP Response not forwarded: %s", reason)
                return _DISCARD
        return None

    async def answer(self, eap_response: bytes | None) -> RadiusAnswer:
        """Relay one EAP-Response; return the server's decision. Raise RadiusError if none."""
        return await self._answer(eap_response, checked=False)

    async def _answer(self, eap_response: bytes | None, *, checked: bool) -> RadiusAnswer:
        future: asyncio.Future[RadiusAnswer | Exception]
        future = asyncio.get_running_loop().create_future()

        def done(result: RadiusAnswer | Exception) -> None:
            if not future.done():  # cancelled: close() below withdraws the request
                future.set_result(result)

        self._begin(eap_response, done, checked=checked)
        try:
            result = await future
        except asyncio.CancelledError:
            self.close()  # withdraws the Access-Request (its Identifier, its timer)
            raise
        if isinstance(result, Exception):
            raise result
        return result

    def begin_answer(self, eap_response: bytes | None, done: AnswerDone) -> None:
        """``answer()`` without a coroutine: send the Access-Request now; ``done`` gets the
        RadiusAnswer or the RadiusError once, later, from the event loop (``close()``
        withdraws it). Raise RadiusError at once when the Response cannot be sent."""
        self._begin(eap_response, done, checked=False)

    def _begin(self, eap_response: bytes | None, done: AnswerDone, *, checked: bool) -> None:
        if self._waiter is not None:
            raise RadiusError("a RADIUS exchange of this conversation is already in progress")
        attributes = self._prepare(eap_response, checked)
        self._waiter = done
        try:
            client = self._client
            if client is None:
                client = self._own = self._own_client()
            self._attrs = attributes
            self._request = client.request(self._build, self._replied)
        except BaseException:
            self._waiter = None
            self._close_own()
            raise

    def _own_client(self) -> RadiusClient:
        """A client for one Access-Request and its retransmissions, closed with it: one socket
        (a fresh source port), read and checked like a shared client's."""
        self._identifier = (self._identifier + 1) & 0xFF
        return radius_client(self._cfg, first_identifier=self._identifier, link=self._link)

    def _prepare(self, eap_response: bytes | None, checked: bool) -> list[tuple[int, bytes]]:
        """The Access-Request's attributes; ``checked``: _local_step already vetted the response."""
        if self._done:
            raise RadiusError("the RADIUS conversation has already ended")
        if (
            eap_response is not None
            and not checked
            and (reason := self._check_response(eap_response))
        ):
            raise RadiusError(reason)
        return self._attributes(eap_response or b"")

    def _build(self, identifier: int) -> tuple[bytes, bytes]:
        auth = self._rng(16)
        attrs, self._attrs = self._attrs, []
        code = RadiusCode.ACCESS_REQUEST
        return sign_request(code, identifier, auth, attrs, self._cfg.secret), auth

    def _replied(self, reply: RadiusPacket | RadiusError, request_auth: bytes) -> None:
        self._request = None
        self._close_own()  # from inside its reader or timer: both stop once it is closed
        if self._waiter is None:
            return
        result: RadiusAnswer | Exception
        if isinstance(reply, RadiusError):
            result = reply
        else:
            try:
                result = self._interpret(reply, request_auth)
            except RadiusError as exc:
                result = exc
        self._deliver(result)

    def _deliver(self, result: RadiusAnswer | Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter(result)

    def _check_response(self, eap: bytes) -> str | None:
        """Why this EAP packet must not be forwarded, or None (RFC 3579 s2.2)."""
        try:
            pkt = decode_eap(eap)
        except CodecError as exc:
            return f"not an EAP packet: {exc}"
        if pkt.code != EapCode.RESPONSE:
            return f"EAP code {pkt.code} is not a Response"
        if self._eap_id is not None and pkt.identifier != self._eap_id:
            return (
                f"EAP Identifier {pkt.identifier} does not match the current Request's"
                f" {self._eap_id}"
            )
        if self._user_name is None and pkt.type == EapType.IDENTITY:
            # RFC 3579 s2.1: copy the identity into User-Name, repeat it in every request.
            self._user_name = pkt.type_data[:253] or None
        return None

    def _attributes(self, eap: bytes) -> list[tuple[int, bytes]]:
        attrs: list[tuple[int, bytes]] = []
        if self._user_name is not None:
            attrs.append((Attr.USER_NAME, self._user_name))
        fixed = self._fixed
        if fixed is None:
            fixed = self._fixed = _fixed_attributes(self._cfg)
        attrs += fixed
        if self._state is not None:
            attrs.append((Attr.STATE, self._state))  # RFC 2865 s5.24: echoed unchanged
        attrs.extend(split_eap(eap))
        return attrs

    def _interpret(self, reply: RadiusPacket, request_auth: bytes) -> RadiusAnswer:
        eap = join_eap(reply)
        session_timeout = reply.get(Attr.SESSION_TIMEOUT)
        timeout = int.from_bytes(session_timeout) if session_timeout is not None else None
        if reply.code == RadiusCode.ACCESS_CHALLENGE:
            return self._challenge(reply, eap, timeout)
        if reply.code == RadiusCode.ACCESS_ACCEPT:
            self._done = True
            if session_timeout is not None and len(session_timeout) != 4:
                # RFC 2865 s5: an attribute of invalid length in an Access-Accept makes it an
                # Access-Reject (or a discard); a lifetime we cannot read must not grant one.
                # Its EAP Success is not passed on: the PaC then ends in altReject (RFC 4137).
                logger.warning("Access-Accept with a %d-octet Session-Timeout taken as a reject",
                               len(session_timeout))  # fmt: skip
                return RadiusAnswer(RadiusCode.ACCESS_REJECT, None, None, self._method_type)
            keys = self._keys(reply, request_auth)
            if eap is not None and not _is_code(eap, EapCode.SUCCESS):
                # RFC 3579 s2.6.3: a conflicting combination; authorization follows the
                # RADIUS Code, and the EAP packet is forwarded as it is, not repaired.
                logger.warning("Access-Accept carries an EAP packet that is not a Success")
            return RadiusAnswer(RadiusCode.ACCESS_ACCEPT, eap, keys, self._method_type, timeout)
        if reply.code == RadiusCode.ACCESS_REJECT:
            self._done = True
            return RadiusAnswer(RadiusCode.ACCESS_REJECT, eap, None, self._method_type)
        raise RadiusError(f"unexpected RADIUS code {reply.code} in reply to an Access-Request")

    def _challenge(
        self, reply: RadiusPacket, eap: bytes | None, timeout: int | None
    ) -> RadiusAnswer:
        if eap is None:
            raise RadiusError("Access-Challenge without EAP-Message (RFC 3579 s2.6.3)")
        try:
            pkt = decode_eap(eap)
        except CodecError as exc:
            raise RadiusError(f"Access-Challenge carries a malformed EAP packet: {exc}") from exc
        if pkt.code != EapCode.REQUEST:
            raise RadiusError(f"Access-Challenge carries EAP code {pkt.code}, not a Request")
        states = reply.all(Attr.STATE)
        self._state = states[0] if states else None
        self._eap_id = pkt.identifier
        if pkt.type not in (EapType.IDENTITY, EapType.NOTIFICATION):
            self._method_type = pkt.type
        return RadiusAnswer(RadiusCode.ACCESS_CHALLENGE, eap, None, self._method_type, timeout)

    def _keys(self, reply: RadiusPacket, request_auth: bytes) -> KeyMaterial | None:
        found = dict(vendor_attrs(reply, MICROSOFT))
        send, recv = found.get(MsAttr.MS_MPPE_SEND_KEY), found.get(MsAttr.MS_MPPE_RECV_KEY)
        if send is None or recv is None:
            return None
        try:
            send_key = decrypt_mppe_key(send, self._cfg.secret, request_auth)
            recv_key = decrypt_mppe_key(recv, self._cfg.secret, request_auth)
        except ValueError as exc:
            logger.warning("ignoring undecryptable MS-MPPE keys: %s", exc)
            return None
        if min(len(send_key), len(recv_key)) < MIN_MPPE_KEY:
            # an empty or few-octet MSK would make PANA_AUTH_KEY guessable from public values
            logger.warning(
                "ignoring MS-MPPE keys of %d and %d octets (fewer than %d)",
                len(recv_key), len(send_key), MIN_MPPE_KEY,
            )  # fmt: skip
            return None
        # RFC 5216 s2.3 / hostapd ieee802_1x.c: MSK = MS-MPPE-Recv-Key | MS-MPPE-Send-Key.
        session_id = reply.get(Attr.EAP_KEY_NAME) or b""
        return KeyMaterial(msk=Secret(recv_key + send_key), session_id=session_id)


_DISCARD = AuthOutput(None, None)

MIN_MPPE_KEY = 16
"""Shortest usable MS-MPPE-Send/Recv-Key: an MSK is 64 octets or more (RFC 3748 s7.10), split in
halves (RFC 5216 s2.3); hostapd sends 16-octet halves for EAP-MSCHAPv2's 32-octet key."""


def _output(answer: RadiusAnswer) -> AuthOutput:
    """The AuthOutput of a RADIUS answer (RFC 3579 s2.6.3: only the RADIUS Code decides)."""
    if answer.code == RadiusCode.ACCESS_CHALLENGE:
        return AuthOutput(answer.eap, None)
    if answer.code == RadiusCode.ACCESS_ACCEPT:
        # Session-Timeout of an Accept: the authorized lifetime (RFC 2865 s5.27); in a
        # challenge it was only the EAP retransmission hint (RFC 3579 s2.2), not passed on
        result = EapResult(True, answer.keys, answer.method_type)
        return AuthOutput(answer.eap, result, session_lifetime=answer.session_timeout)
    return AuthOutput(answer.eap, EapResult(False, None, answer.method_type))


def _fixed_attributes(cfg: RadiusConfig) -> list[tuple[int, bytes]]:
    """The attributes every Access-Request of ``cfg`` carries, between User-Name and State."""
    attrs: list[tuple[int, bytes]] = []
    if cfg.nas_ip_address is not None:
        nas_ip = ipaddress.ip_address(cfg.nas_ip_address)
        # NAS-IP-Address (4) or NAS-IPv6-Address (95, RFC 3162 s2.1)
        kind = Attr.NAS_IP_ADDRESS if nas_ip.version == 4 else Attr.NAS_IPV6_ADDRESS
        attrs.append((kind, nas_ip.packed))
    if cfg.nas_identifier:
        attrs.append((Attr.NAS_IDENTIFIER, cfg.nas_identifier))
    if cfg.calling_station_id is not None:
        attrs.append((Attr.CALLING_STATION_ID, cfg.calling_station_id))
    if cfg.framed_mtu is not None:
        attrs.append((Attr.FRAMED_MTU, struct.pack("!I", cfg.framed_mtu)))
    attrs.extend(cfg.extra_attributes)
    return attrs


def radius_client(
    config: RadiusConfig,
    *,
    first_identifier: int | None = None,
    link: LinkFactory | None = None,
) -> RadiusClient:
    """A RadiusClient for ``config``'s server, secret, timers and local address (first
    Identifier random unless given; ``link``: an injected datagram link, for tests)."""
    return RadiusClient(
        config.server,
        config.secret,
        timeout=config.timeout,
        retries=config.retries,
        bind=config.bind,
        first_identifier=(
            int.from_bytes(os.urandom(1)) if first_identifier is None else first_identifier
        ),
        link=link,
    )


def _is_code(eap: bytes, code: int) -> bool:
    return len(eap) >= 4 and eap[0] == code

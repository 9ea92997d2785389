"""The PAA's AAA back-end for ``pana-mpa paa --radius``: EAP pass-through to RADIUS (RFC 3579)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from eap.aaa.passthrough import (
    RadiusConfig,
    RadiusError,
    RadiusPassThrough,
    radius_client,
)
from eap.authenticator import AuthOutput
from eap.methods.base import Rng
from eap.peer import EapResult

__all__ = ["RadiusBackend", "RadiusBackends"]

logger = logging.getLogger(__name__)


class RadiusBackend:
    """One session's RADIUS pass-through (eap.aaa.passthrough), answering as an EAP server would.

    ``begin_exchange`` is the runner's callback path (no task per round trip); ``exchange``
    the coroutine form. A RadiusError (no usable answer) becomes an EAP failure.
    """

    def __init__(self, relay: RadiusPassThrough, rng: Rng) -> None:
        self._relay = relay
        self._rng = rng  # kept for callers; the relay draws the EAP Identifiers
        self._done: Callable[[AuthOutput], None] | None = None

    async def exchange(self, eap_response: bytes | None) -> AuthOutput:
        """Relay one response; Access-Accept/Reject end the conversation (RFC 3579 s2.6.3).

        The first request, EAP-Request/Identity, is the relay's own (RFC 3579 s2.1, with
        ``RadiusConfig.identity_request``): servers then get a User-Name at once, and no
        EAP-Start, which some answer without the Message-Authenticator RFC 3579 s3.2 requires.
        The relay knows that Request's Identifier, so a first Response with another one is
        discarded like any later one (RFC 3748 s4.1, RFC 3579 s2.2).
        """
        try:
            return await self._relay.exchange(eap_response)
        except RadiusError as exc:
            return _failed(exc)

    def begin_exchange(
        self, eap_response: bytes | None, done: Callable[[AuthOutput], None]
    ) -> AuthOutput | None:
        """``exchange()`` by callback: the output now, or None and ``done(output)`` later."""
        self._done = done
        try:
            now = self._relay.begin_exchange(eap_response, self._answered)
        except RadiusError as exc:
            self._done = None
            return _failed(exc)
        if now is not None:
            self._done = None
        return now

    def _answered(self, result: AuthOutput | Exception) -> None:
        done, self._done = self._done, None
        if done is not None:
            done(_failed(result) if isinstance(result, Exception) else result)

    def restart(self) -> None:
        """A new EAP conversation (re-authentication)."""
        self._relay.restart()

    def close(self) -> None:
        """Close the socket toward the RADIUS server; withdraw an exchange in progress."""
        self._done = None
        self._relay.close()


def _failed(exc: Exception) -> AuthOutput:
    logger.warning("RADIUS pass-through failed: %s", exc)
    return AuthOutput(None, EapResult(success=False, keys=None, method_type=None))


class RadiusBackends:
    """The PAA's AAA back-end factory: a RadiusBackend per session, one shared RadiusClient.

    Sessions share the client's sockets (requests told apart by Identifier) instead of opening
    a socket per round trip; the runner calls ``close()`` when it stops.
    """

    def __init__(self, config: RadiusConfig, rng: Rng) -> None:
        self._config = config
        self._rng = rng
        self.client = radius_client(config)

    def __call__(self, session_id: int) -> RadiusBackend:
        relay = RadiusPassThrough(self._config, rng=self._rng, client=self.client)
        return RadiusBackend(relay, self._rng)

    def close(self) -> None:
        """Release the shared sockets."""
        self.client.close()

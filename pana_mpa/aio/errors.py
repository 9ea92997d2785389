"""What a PacClient operation raises when it does not end with the outcome asked for.

One family: every failure is a ``ClientError`` (``message`` says what happened, ``event`` is the
session event that ended the operation, if any). Catch the subclasses to tell them apart::

    try:
        await client.authenticate(timeout=10)
    except AuthenticationRejected as exc:    # the PAA said no (Result-Code in exc.result_code)
        ...
    except NoAnswer as exc:                  # nothing, or not enough, came back in time
        ...
    except ClientError as exc:               # any other end: session terminated, client closed
        ...

``NoAnswer`` is also a ``TimeoutError``, so code written for the bare timeout keeps working.
"""

from __future__ import annotations

from ..events import AuthenticationFailed

__all__ = [
    "AuthenticationRejected",
    "ClientClosed",
    "ClientError",
    "NoAnswer",
    "SessionEnded",
]


class ClientError(Exception):
    """A PacClient operation ended without the outcome asked for; ``event`` says why."""

    def __init__(self, message: str, event: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        """What happened, for a person."""
        self.event = event
        """The session event that ended the operation (None: a timeout or a closed client)."""


class AuthenticationRejected(ClientError):
    """The PAA rejected the authentication (PAR[C] with a Result-Code, RFC 5191 s4.1)."""

    @property
    def result_code(self) -> int | None:
        """1 PANA_AUTHENTICATION_REJECTED, 2 PANA_AUTHORIZATION_REJECTED (RFC 5191 s8.7)."""
        return self.event.result_code if isinstance(self.event, AuthenticationFailed) else None


class SessionEnded(ClientError):
    """The session ended before the outcome: terminated, lifetime over, retransmissions out."""


class NoAnswer(ClientError, TimeoutError):
    """No outcome within the timeout; the message tells silence from an unfinished exchange."""


class ClientClosed(ClientError):
    """The client is not running (use ``async with``) or was closed before the outcome."""

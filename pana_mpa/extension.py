"""Extension hooks of PANA sessions: extra AVPs out, validated messages in (used by MPA)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pana_codecs import Avp, PanaMessage

from .address import Address

__all__ = ["PanaExtension"]


class PanaExtension(Protocol):
    """Adds AVPs to the messages a session sends and observes the ones it accepts.

    Sessions call it synchronously. ``received`` sees only messages that passed every RFC 5191
    s5.5 check (sequence number, AUTH); ``outgoing_avps`` is asked for each message the session
    builds, with the AVPs the session put in so far and, for answers, the request answered.
    The returned AVPs go after the session's own and before AUTH.
    """

    def outgoing_avps(
        self,
        session_id: int,
        msg_type: int,
        flags: int,
        avps: Sequence[Avp],
        answering: PanaMessage | None,
    ) -> Sequence[Avp]:
        """Extra AVPs for a message about to be sent."""
        ...

    def received(self, session_id: int, msg: PanaMessage, addr: Address, now: float) -> None:
        """A message of this session was accepted."""
        ...

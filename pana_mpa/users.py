"""A standalone PAA's user table: identity -> EAP method and secret, as an eap_factory."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods.gpsk import GpskServer
from eap.methods.md5 import Md5Server
from eap.methods.psk import PskServer
from eap.rng import Rng, system_rng

from ._eap import EapServerLike
from .errors import UsageError

__all__ = ["User", "user_table"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class User:
    """One entry of a standalone PAA's user table: EAP method name and long-term secret."""

    method: str
    """"psk" (RFC 4764), "gpsk" (RFC 5433) or "md5" (RFC 3748 s5.4, no MSK)."""
    secret: Secret
    """PSK (16 octets for EAP-PSK, >= 16 for EAP-GPSK) or MD5 password."""


_USER_METHODS = ("psk", "gpsk", "md5")


def user_table(
    users: Mapping[bytes, User], *, server_id: bytes = b"pana-mpa", rng: Rng = system_rng
) -> Callable[[], EapServerLike]:
    """An eap_factory for PaaServer: a standalone EapAuthenticator over an identity table.

    Each identity gets the method its entry names; unknown identities are offered EAP-PSK
    with no key, which fails (RFC 4764 s5.1: no enumeration of valid identities).
    """
    for identity, user in users.items():
        if user.method not in _USER_METHODS:
            raise UsageError(f"user {identity!r}: unknown method {user.method!r}")

    def lookup_for(method: str) -> Callable[[bytes], Secret | None]:
        def lookup(identity: bytes) -> Secret | None:
            user = users.get(identity)
            return user.secret if user is not None and user.method == method else None

        return lookup

    def policy(identity: bytes) -> list[Callable[[], Any]]:
        user = users.get(identity)
        method = user.method if user is not None else "psk"
        if method == "gpsk":
            return [lambda: GpskServer(server_id, lookup_for("gpsk"), rng=rng)]
        if method == "md5":
            secret = user.secret if user is not None else None
            return [lambda: Md5Server(secret, rng=rng)]
        return [lambda: PskServer(server_id, lookup_for("psk"), rng=rng)]

    def factory() -> EapServerLike:
        return EapAuthenticator(methods=policy, rng=rng)

    return factory

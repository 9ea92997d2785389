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


_USER_METHODS = ("psk", "gpsk", "md5")
_VALID = "'psk' (EAP-PSK, RFC 4764), 'gpsk' (EAP-GPSK, RFC 5433), 'md5' (EAP-MD5, RFC 3748)"


@dataclass(frozen=True, slots=True)
class User:
    """One entry of a standalone PAA's user table: EAP method name and long-term secret.

    Checked when made: a known method (any case), a Secret of the size the method needs.
    """

    method: str
    """"psk" (RFC 4764), "gpsk" (RFC 5433) or "md5" (RFC 3748 s5.4, no MSK)."""
    secret: Secret
    """PSK (16 octets for EAP-PSK, >= 16 for EAP-GPSK) or MD5 password."""

    def __post_init__(self) -> None:
        method = str(self.method).lower()
        if method not in _USER_METHODS:
            raise UsageError(f"User: unknown EAP method {self.method!r}; valid: {_VALID}")
        object.__setattr__(self, "method", method)
        secret: object = self.secret  # callers without a type checker pass bytes or str
        if not isinstance(secret, Secret):
            kind = type(secret).__name__
            raise UsageError(f"User: the secret must be an eap.keys.Secret, not {kind}")
        size = len(self.secret)
        if method == "psk" and size != 16:
            raise UsageError(f"User: an EAP-PSK key is 16 octets (RFC 4764 s3.1), not {size}")
        if method == "gpsk" and size < 16:
            raise UsageError(f"User: an EAP-GPSK key is at least 16 octets (RFC 5433), not {size}")
        if method == "md5" and size == 0:
            raise UsageError("User: the EAP-MD5 password must not be empty")


def user_table(
    users: Mapping[bytes, User],
    *,
    server_id: bytes = b"pana-mpa",
    rng: Rng = system_rng,
    psk_silent_discard: bool = False,
) -> Callable[[], EapServerLike]:
    """An eap_factory for PaaServer: a standalone EapAuthenticator over an identity table.

    Each identity gets the method its entry names; unknown identities are offered EAP-PSK
    with no key, which fails (RFC 4764 s5.1: no enumeration of valid identities). A wrong
    EAP-PSK key fails at once (EAP-Failure, then Result-Code 1), as with hostapd and
    ``pana-mpa paa``; ``psk_silent_discard=True`` discards the bad message 2 instead, as
    RFC 4764 s4.3 allows, and the PaC then fails only by timeout.
    """
    for identity, user in users.items():
        key: object = identity  # callers without a type checker pass str
        if not isinstance(key, bytes):
            raise UsageError(
                f"user_table: identities are bytes (EAP-Response/Identity), not"
                f" {type(identity).__name__}: write {str(identity).encode()!r}"
            )
        entry: object = user
        if not isinstance(entry, User):
            raise UsageError(f"user_table: {identity!r} maps to {type(entry).__name__}, not a User")

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
        fail_fast = not psk_silent_discard
        return [lambda: PskServer(server_id, lookup_for("psk"), rng, fail_on_bad_mac_p=fail_fast)]

    def factory() -> EapServerLike:
        return EapAuthenticator(methods=policy, rng=rng)

    return factory

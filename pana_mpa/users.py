"""A standalone PAA's user table: identity -> EAP method and secret, as an eap_factory."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eap import registry
from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.rng import Rng, system_rng

from ._eap import EapServerLike
from .errors import UsageError

__all__ = ["User", "user_table"]

logger = logging.getLogger(__name__)


def _secret_method(method: object) -> registry.EapMethod:
    """The registry's entry for a user's method; UsageError listing the choices otherwise."""
    try:
        entry = registry.lookup(str(method))
    except registry.UnknownMethodError as exc:
        raise UsageError(f"User: {exc}") from None
    if entry.credential != "secret":
        keyed = [m.name for m in registry.methods().values() if m.credential == "secret"]
        raise UsageError(
            f"User: {entry.title} authenticates by certificate; a user table holds secrets"
            f" (choose one of: {', '.join(sorted(keyed))})"
        )
    return entry


@dataclass(frozen=True, slots=True)
class User:
    """One entry of a standalone PAA's user table: EAP method name and long-term secret.

    Checked when made, by the method's rule in eap.registry: a known method with a secret (any
    case: "PSK", "psk"), and a Secret the method can use (16 octets for EAP-PSK).
    """

    method: str
    """"psk" (RFC 4764), "gpsk" (RFC 5433) or "md5" (RFC 3748 s5.4, no MSK)."""
    secret: Secret
    """PSK (16 octets for EAP-PSK, >= 16 for EAP-GPSK) or MD5 password."""

    def __post_init__(self) -> None:
        entry = _secret_method(self.method)
        object.__setattr__(self, "method", entry.name.lower())
        try:
            entry.check_secret(self.secret)
        except registry.CredentialError as exc:
            raise UsageError(f"User: {exc}") from None


def user_table(
    users: Mapping[bytes, User],
    *,
    server_id: bytes = b"pana-mpa",
    rng: Rng = system_rng,
    psk_silent_discard: bool = False,
) -> Callable[[], EapServerLike]:
    """An eap_factory for PaaServer: a standalone EapAuthenticator over an identity table.

    Each identity gets the method its entry names (from eap.registry); unknown identities are
    offered EAP-PSK with no key, which fails (RFC 4764 s5.1: no enumeration of valid
    identities). A wrong EAP-PSK key fails at once (EAP-Failure, then Result-Code 1), as with
    hostapd and ``pana-mpa paa``; ``psk_silent_discard=True`` discards the bad message 2
    instead, as RFC 4764 s4.3 allows, and the PaC then fails only by timeout.
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

    makers = {}
    for method in {user.method for user in users.values()} | {"psk"}:
        config = registry.ServerConfig(
            lookup=lookup_for(method),
            server_id=server_id,
            rng=rng,
            fail_fast=not psk_silent_discard,
        )
        try:
            makers[method] = registry.lookup(method).server(config)
        except registry.CredentialError as exc:  # e.g. a server_id the method cannot carry
            raise UsageError(f"user_table: {exc}") from None

    def policy(identity: bytes) -> list[Callable[[], Any]]:
        user = users.get(identity)
        return [makers[user.method if user is not None else "psk"](identity)]

    def factory() -> EapServerLike:
        return EapAuthenticator(methods=policy, rng=rng)

    return factory

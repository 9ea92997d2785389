"""Users of ``pana-mpa paa`` and ``radius-server``: ``--user IDENTITY:SECRET`` and secrets."""

from __future__ import annotations

import string
from collections.abc import Iterable

from eap.keys import Secret

from .common import CliError

__all__ = ["parse_secret", "parse_users"]

_HEX = frozenset(string.hexdigits)


def parse_secret(method: str, text: str) -> Secret:
    """A method's long-term secret from the command line, checked for the method's format.

    EAP-PSK (RFC 4764 s2.1): a 16-octet PSK as 16 ASCII characters or 32 hex digits.
    EAP-GPSK (RFC 5433 s8): at least 16 octets, as ASCII or an even number of hex digits.
    EAP-MD5 (RFC 3748 s5.4): any non-empty password.
    """
    if method == "psk":
        if len(text) == 32 and set(text) <= _HEX:
            return Secret(bytes.fromhex(text))
        if len(text) == 16 and text.isascii() and text.isprintable():
            return Secret(text.encode("ascii"))
        raise CliError("an EAP-PSK secret is 16 ASCII characters or 32 hex digits")
    if method == "gpsk":
        if len(text) >= 32 and len(text) % 2 == 0 and set(text) <= _HEX:
            return Secret(bytes.fromhex(text))
        if len(text) >= 16 and text.isascii() and text.isprintable():
            return Secret(text.encode("ascii"))
        raise CliError("an EAP-GPSK secret is at least 16 ASCII characters or 32 hex digits")
    if method == "md5":
        if not text:
            raise CliError("the EAP-MD5 password must not be empty")
        return Secret(text.encode("utf-8"))
    raise CliError(f"method {method} takes no secret")


def parse_users(method: str, items: Iterable[str]) -> dict[bytes, Secret]:
    """``IDENTITY:SECRET`` items (from --user) as a user table."""
    users: dict[bytes, Secret] = {}
    for item in items:
        identity, sep, secret_text = item.partition(":")
        if not sep or not identity:
            raise CliError(f"--user {identity or '...'}: expected IDENTITY:SECRET")
        if method == "tls":
            raise CliError("--method tls authenticates by certificate; --user takes no effect")
        try:
            users[identity.encode("utf-8")] = parse_secret(method, secret_text)
        except CliError as exc:
            raise CliError(f"--user {identity}: {exc}") from None
    return users

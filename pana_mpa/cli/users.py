"""Users of ``pana-mpa paa`` and ``radius-server``: ``--user`` items and hostapd-style files.

A users file follows hostapd's ``eap_user`` format (one user a line, ``#`` comments)::

    # identity    methods     secret
    "alice"       PSK,GPSK    "SecretPassphrase"
    "meter-0001"  PSK         00112233445566778899aabbccddeeff
    "bob"         MD5         "any password"
    "carol"       TLS

The identity is quoted; methods are tried in the order given (the peer may Nak to the next,
RFC 3748 s5.3); the secret is quoted text (no escapes, as in hostapd) or hex digits; a ``#``
after the last field starts a comment. Wildcard identities, ``hash:`` secrets and phase 2
entries are refused. Errors name ``FILE:LINE`` and never show a secret.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from eap import registry
from eap.keys import Secret

from .common import CliError

__all__ = [
    "USER_METHODS",
    "Account",
    "method_entry",
    "parse_secret",
    "parse_users",
    "parse_users_file",
    "read_users_file",
]

_HEX = frozenset(string.hexdigits)

USER_METHODS = tuple(name.lower() for name in registry.names())
"""Method names a user entry may list, from eap.registry (hostapd spells them in capitals)."""


@dataclass(frozen=True, slots=True)
class Account:
    """One user: the EAP methods offered, most preferred first, and the long-term secret."""

    methods: tuple[str, ...]
    secret: Secret | None = None


def method_entry(name: str) -> registry.EapMethod:
    """The registry's entry for a method name; CliError listing the choices otherwise."""
    try:
        return registry.lookup(name)
    except registry.UnknownMethodError as exc:
        raise CliError(str(exc)) from None


def check_secret(method: str, secret: bytes) -> None:
    """Raise CliError when ``secret`` does not suit ``method`` (the message shows no secret)."""
    try:
        method_entry(method).check_secret(Secret(secret))
    except registry.CredentialError as exc:
        raise CliError(str(exc)) from None


def parse_secret(method: str, text: str) -> Secret:
    """A method's long-term secret from its text form, by the method's rule (eap.registry).

    EAP-PSK (RFC 4764): 16 octets, as 16 ASCII characters or 32 hex digits. EAP-GPSK (RFC 5433):
    at least 16 octets, as ASCII or an even number of hex digits. EAP-MD5: a non-empty password.
    """
    try:
        return method_entry(method).parse_secret(text)
    except registry.CredentialError as exc:
        raise CliError(str(exc)) from None


def parse_users(method: str, items: Iterable[str]) -> dict[bytes, Secret]:
    """``IDENTITY:SECRET`` items (from --user) as a user table for one method."""
    users: dict[bytes, Secret] = {}
    for n, item in enumerate(items, 1):
        identity, sep, secret_text = item.partition(":")
        if not sep or not identity:
            # the value is not echoed: without the colon it may be all secret (issue 9)
            raise CliError(f"--user #{n}: expected IDENTITY:SECRET (value not shown)")
        if method_entry(method).credential != "secret":
            raise CliError(
                f"--method {method} authenticates by certificate; --user takes no effect"
            )
        try:
            users[identity.encode("utf-8")] = parse_secret(method, secret_text)
        except CliError as exc:
            raise CliError(f"--user {identity}: {exc}") from None
    return users


def _quoted(text: str) -> tuple[str, str]:
    """The quoted string at the start of ``text`` (no escapes, as hostapd) and what follows."""
    end = text.find('"', 1)
    if end < 0:
        raise CliError("a quoted string has no closing '\"'")
    return text[1:end], text[end + 1 :]


def _methods(token: str) -> tuple[str, ...]:
    names = []
    for name in token.split(","):
        try:
            names.append(registry.lookup(name.strip()).name.lower())
        except registry.UnknownMethodError:
            # not echoed: on a malformed line this field may be the secret
            choices = ", ".join(registry.names())
            raise CliError(f"unknown EAP method (choose one of: {choices})") from None
    if len(set(names)) != len(names):
        raise CliError("a method is listed twice")
    return tuple(names)


def _no_more(rest: str) -> None:
    """Only blanks or a ``#`` comment may follow the last field."""
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        if rest.startswith("["):
            raise CliError("phase 2 entries ([2]) are not supported")
        raise CliError("unexpected text after the secret")


def _secret(text: str) -> bytes | None:
    """The secret field: "quoted", hex digits, or nothing (a comment may follow)."""
    if not text or text.startswith("#"):
        return None
    if text.startswith('"'):
        value, rest = _quoted(text)
        _no_more(rest)
        return value.encode("utf-8")
    if text.startswith("["):
        raise CliError("phase 2 entries ([2]) are not supported")
    if text.startswith("hash:"):
        raise CliError("hash: secrets are not supported (EAP-PSK and GPSK need the key itself)")
    token, _, rest = text.partition(" ")
    token, _, more = token.partition("\t")
    _no_more(more + " " + rest)
    if len(token) % 2 or not set(token) <= _HEX:
        raise CliError('the secret is "quoted text" or an even number of hex digits')
    return bytes.fromhex(token)


def parse_user_line(line: str) -> tuple[bytes, Account] | None:
    """One line of a users file: None for blank lines and comments."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if text.startswith("*"):
        raise CliError("wildcard identities are not supported")
    if not text.startswith('"'):
        hint = " (IDENTITY:SECRET is the form of --user)" if ":" in text.split()[0] else ""
        raise CliError(f'the identity must be quoted: "IDENTITY" METHOD[,METHOD...] [SECRET]{hint}')
    identity, rest = _quoted(text)
    if rest.startswith("*"):
        raise CliError("wildcard identities are not supported")
    if not identity:
        raise CliError("the identity is empty")
    fields = rest.strip().split(None, 1)
    if not fields or fields[0].startswith("#"):
        raise CliError(f'"{identity}": no EAP method')
    methods = _methods(fields[0])
    secret = _secret(fields[1].strip() if len(fields) > 1 else "")
    keyed = [m for m in methods if registry.lookup(m).credential == "secret"]
    if keyed and secret is None:
        raise CliError(f'"{identity}": {keyed[0].upper()} needs a secret')
    for method in keyed:
        assert secret is not None
        try:
            check_secret(method, secret)
        except CliError as exc:
            raise CliError(f'"{identity}": {exc}') from None
    return identity.encode("utf-8"), Account(methods, Secret(secret) if secret else None)


def parse_users_file(lines: Iterable[str], name: str) -> dict[bytes, Account]:
    """The users of a hostapd-style file; errors as ``NAME:LINE: reason``."""
    users: dict[bytes, Account] = {}
    first_line: dict[bytes, int] = {}
    for number, line in enumerate(lines, 1):
        try:
            entry = parse_user_line(line)
        except CliError as exc:
            raise CliError(f"{name}:{number}: {exc}") from None
        if entry is None:
            continue
        identity, account = entry
        if identity in users:
            where = first_line[identity]
            raise CliError(f"{name}:{number}: user already defined on line {where}")
        users[identity] = account
        first_line[identity] = number
    return users


def read_users_file(path: Path) -> dict[bytes, Account]:
    """Read and parse a users file (see the module docstring)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CliError(f"--users: cannot read {path}: {reason}") from None
    return parse_users_file(text.splitlines(), str(path))


def accounts(users: Mapping[bytes, Secret | Account], method: str) -> dict[bytes, Account]:
    """Every user as an Account; a bare Secret (from --user) is for ``method``."""
    return {
        identity: entry if isinstance(entry, Account) else Account((method,), entry)
        for identity, entry in users.items()
    }

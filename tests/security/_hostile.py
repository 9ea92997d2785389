"""Helpers of the hostile suite: open pairs, forged and re-signed messages, held datagrams."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

import pytest

from pana_codecs import Avp, PanaMessage, decode_eap, decode_pana, encode_pana
from pana_codecs.eap import EapPacket
from pana_mpa import crypto
from pana_mpa._avps import AvpCode
from pana_mpa.aio.virtualnet import Datagram
from tests.pana_mpa.pair import Pair, drops, open_pair

__all__ = [
    "assert_no_internal_error",
    "drops",
    "eap_of",
    "forge",
    "hold_first",
    "open_pair",
    "sent",
]


def assert_no_internal_error(pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    """No traceback, no ERROR log and no "internal error" drop at either end."""
    internal = [
        r
        for r in pair.pac_trace.records + pair.paa_trace.records
        if str(r.get("reason", "")).startswith("internal error")
    ]
    assert internal == []
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert bad == [], [r.getMessage() for r in bad]


def eap_of(data: bytes) -> EapPacket | None:
    """The EAP packet a PANA datagram carries, or None."""
    avp = decode_pana(data).avp(AvpCode.EAP_PAYLOAD)
    return None if avp is None else decode_eap(avp.value)


def sent(pair: Pair, src: tuple[str, int]) -> list[PanaMessage]:
    """Messages ``src`` sent, oldest first."""
    return [decode_pana(d.data) for d in pair.net.log if d.src == src]


def forge(
    template: PanaMessage,
    *,
    flags: int | None = None,
    avps: tuple[Avp, ...] | None = None,
    key_of: object = None,
) -> bytes:
    """``template`` with other flags and/or AVPs; signed with ``key_of``'s PANA key if given.

    ``key_of`` is a PacSession or a PaaSession whose PANA_AUTH_KEY signs (an insider's view:
    a valid AUTH shows that the rule under test, not the AUTH check, discards the message).
    """
    body = tuple(a for a in (template.avps if avps is None else avps) if a.code != AvpCode.AUTH)
    msg = replace(template, flags=template.flags if flags is None else flags, avps=body)
    if key_of is None:
        return encode_pana(msg)
    alg = key_of.integrity_algorithm  # type: ignore[attr-defined]
    key = key_of._key  # type: ignore[attr-defined]
    assert alg is not None and key is not None
    auth = Avp(AvpCode.AUTH, bytes(crypto.auth_length(alg)))
    return crypto.sign_message(alg, key, encode_pana(replace(msg, avps=(*body, auth))))


def hold_first(pair: Pair, src: tuple[str, int], match: Callable[[Datagram], bool]) -> list[bytes]:
    """Drop the first datagram from ``src`` that ``match``es and keep it (list filled later)."""
    held: list[bytes] = []

    def drop(d: Datagram) -> bool:
        if not held and d.src == src and match(d):
            held.append(d.data)
            return True
        return False

    pair.net.drop = drop
    return held

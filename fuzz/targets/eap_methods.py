"""Fuzz targets for the EAP methods: MD5, PSK, GPSK conversations and TLS fragment reassembly.

``eap-<method>``: a recorded conversation between ``EapPeer`` and ``EapAuthenticator`` (registry
factories, fixed randomness) is replayed up to step ``k``; the fuzzed packet then goes to the side
that receives step ``k``, so each method parser sees mutations in the state that expects them.
Neither side may raise, and neither may log an error (``EapPeer``/``EapAuthenticator`` catch and
log a method's exception: that is a method bug). ``eap-tls-fragments``: ``parse_frame`` and
``Reassembler.feed`` raise nothing but ``FragmentError``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from eap import registry
from eap.authenticator import EapAuthenticator
from eap.keys import Secret
from eap.methods._tls_fragment import FragmentError, Reassembler, parse_frame
from eap.peer import EapPeer
from eap.registry import ServerConfig

from ..registry import check, register
from ._common import fixed_rng, no_errors_logged, split_step, step_seeds

__all__ = ["conversation", "fuzz_eap_gpsk", "fuzz_eap_md5", "fuzz_eap_psk", "fuzz_tls_fragments"]

logger = logging.getLogger(__name__)

_IDENTITY = b"alice"
_SECRETS = {"MD5": b"alice-password", "PSK": b"alice-16-octets!", "GPSK": b"alice-gpsk-16-octets"}
_MAX_STEPS = 20


def _pair(method: str) -> tuple[EapPeer, EapAuthenticator]:
    """A peer and an authenticator for ``method`` with fixed randomness (same run every time)."""
    entry = registry.lookup(method)
    secret = Secret(_SECRETS[method])
    peer_rng = fixed_rng(b"peer " + method.encode())
    server_rng = fixed_rng(b"server " + method.encode())
    peer = EapPeer(
        identity=_IDENTITY,
        methods={entry.method_type: entry.peer(_IDENTITY, secret, rng=peer_rng)},
    )
    serve = entry.server(
        ServerConfig(lookup={_IDENTITY: secret}.get, server_id=b"paa.example", rng=server_rng)
    )
    auth = EapAuthenticator(methods=lambda identity: [serve(identity)], rng=server_rng)
    return peer, auth


@functools.cache
def conversation(method: str) -> tuple[bytes, ...]:
    """The packets of one successful run: request, response, ..., EAP-Success (to the peer)."""
    peer, auth = _pair(method)
    packets: list[bytes] = []
    out = auth.start()
    while out.packet is not None and len(packets) < _MAX_STEPS:
        packets.append(out.packet)
        reply = peer.receive(out.packet)
        if reply.response is None:
            break
        packets.append(reply.response)
        out = auth.receive(reply.response)
    check(auth.result is not None and auth.result.success, f"{method}: recorded run failed")
    return tuple(packets)


def _fuzz_conversation(method: str, data: bytes) -> None:
    packets = conversation(method)
    step, payload = split_step(data, len(packets))
    peer, auth = _pair(method)
    with no_errors_logged(f"EAP-{method} step {step}"):
        auth.start()
        for i in range(step):
            if i % 2 == 0:
                peer.receive(packets[i])
            else:
                auth.receive(packets[i])
        if step % 2 == 0:
            peer.receive(payload)
        else:
            auth.receive(payload)
        # the real packet of this step after the fuzzed one: still no exception
        if step % 2 == 0:
            peer.receive(packets[step])
        else:
            auth.receive(packets[step])


def _seeds(method: str) -> Callable[[], tuple[bytes, ...]]:
    return lambda: step_seeds(conversation(method))


@register("eap-md5", seeds=_seeds("MD5"), max_size=2048)
def fuzz_eap_md5(data: bytes) -> None:
    """EAP-MD5 (RFC 3748 s5.4) peer and server in each state of a recorded conversation."""
    _fuzz_conversation("MD5", data)


@register("eap-psk", seeds=_seeds("PSK"), max_size=2048)
def fuzz_eap_psk(data: bytes) -> None:
    """EAP-PSK (RFC 4764) peer and server in each state of a recorded conversation."""
    _fuzz_conversation("PSK", data)


@register("eap-gpsk", seeds=_seeds("GPSK"), max_size=2048)
def fuzz_eap_gpsk(data: bytes) -> None:
    """EAP-GPSK (RFC 5433) peer and server in each state of a recorded conversation."""
    _fuzz_conversation("GPSK", data)


def _fragments(data: bytes) -> list[bytes]:
    """Frames from an input: each is a length octet then that many octets (the rest at the end)."""
    frames: list[bytes] = []
    pos = 0
    while pos < len(data):
        n = data[pos]
        frames.append(data[pos + 1 : pos + 1 + n])
        pos += 1 + n
    return frames


def _tls_seeds() -> tuple[bytes, ...]:
    one = b"\x80\x00\x00\x00\x05hello"  # L, length 5, whole message
    first = b"\xc0\x00\x00\x00\x08abcd"  # L and M
    last = b"\x00efgh"
    ack = b"\x00"
    return (
        bytes([len(one)]) + one,
        bytes([len(first)]) + first + bytes([len(last)]) + last,
        bytes([1]) + ack,
        bytes([1]) + b"\x20",  # Start
    )


@register("eap-tls-fragments", seeds=_tls_seeds, max_size=4096)
def fuzz_tls_fragments(data: bytes) -> None:
    """EAP-TLS frames (RFC 5216 s3.1) into a bounded Reassembler: only FragmentError escapes."""
    reassembler = Reassembler(max_length=1024)
    for type_data in _fragments(data):
        try:
            frame = parse_frame(type_data)
            message = reassembler.feed(frame)
        except FragmentError:
            reassembler.reset()
            continue
        if message is not None:
            check(len(message) <= 1024, "reassembled message above the cap")
            check(not reassembler.in_progress, "reassembler still busy after a whole message")

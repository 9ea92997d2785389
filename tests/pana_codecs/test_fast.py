"""frozen_maker: the hot paths' constructor gives the objects the dataclass gives (issue 10)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from eap.authenticator import AuthOutput
from eap.peer import EapResult
from pana_codecs import Avp, EapPacket, PanaMessage, decode_eap, encode_eap
from pana_codecs._fast import frozen_maker
from pana_mpa.events import Authenticated, SessionStarted


@pytest.mark.parametrize(
    ("cls", "args"),
    [
        (Avp, (7, b"abc")),
        (Avp, (1, b"", 9, 0x100, 3)),
        (PanaMessage, (2, 0x8000, 5, 6, (Avp(1, b"x"),))),
        (EapPacket, (1, 2, 47, b"td")),
        (EapPacket, (3, 9)),
        (AuthOutput, (b"pkt", None)),
        (EapResult, (True, None, 47)),
    ],
)
def test_maker_builds_what_the_class_builds(cls: Any, args: tuple[object, ...]) -> None:
    made: object = frozen_maker(cls)(*args)
    plain = cls(*args)
    assert type(made) is cls
    assert made == plain and hash(made) == hash(plain) and repr(made) == repr(plain)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, dataclasses.fields(plain)[0].name, 1)


def test_keyword_only_fields_and_subclasses() -> None:
    make = frozen_maker(Authenticated)
    fields: dict[str, Any] = dict(session_id=1, key_id=2, lifetime=3.0, msk=None, prf_algorithm=5,
                  integrity_algorithm=12, peer=("192.0.2.1", 716))  # fmt: skip
    assert make(**fields) == Authenticated(**fields)
    assert make(**fields, identity=b"u").identity == b"u"
    with pytest.raises(TypeError):
        make(1, 2, 3.0, None, 5, 12, ("192.0.2.1", 716))  # keyword-only, as in the class
    started = frozen_maker(SessionStarted)(
        session_id=4, peer=("192.0.2.2", 1), prf_algorithm=None, integrity_algorithm=None
    )
    assert type(started) is SessionStarted and started.session_id == 4


def test_refuses_what_it_cannot_build() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    for cls in (NoSlots, NotFrozen, Checked):
        with pytest.raises(TypeError):
            frozen_maker(cls)


@pytest.mark.parametrize(
    "pkt",
    [
        EapPacket(1, 0, 1, b""),
        EapPacket(2, 255, 47, b"x" * 300),
        EapPacket(3, 7),
        EapPacket(4, 0),
        EapPacket(1, 3, 255, b"z"),
        EapPacket(2, 1, 254, b"v", 0, 3),
    ],
)
def test_encode_eap_fast_path_round_trips(pkt: EapPacket) -> None:
    assert decode_eap(encode_eap(pkt)) == pkt

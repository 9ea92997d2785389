"""The shared captures against the facts of ../shared/pcaps/README.md (interop/expected/*.toml)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from pana_mpa.cli.capture import format_address, read_pana
from pana_mpa.cli.decode import DecodedDatagram, eap_label, flag_letters, type_name

from .locate import CAPTURE_NAMES, capture_path, load_expected

pytestmark = pytest.mark.interop

Decoded = Callable[[str, str], tuple[DecodedDatagram, ...]]


def facts_of(case: tuple[str, str]) -> dict[str, Any]:
    """The ``[dialect]`` section of a (capture, dialect) case."""
    section: dict[str, Any] = load_expected(case[0])[case[1]]
    return section


# (capture, dialect) for every dialect section an expected file has.
CASES = [
    (name, dialect)
    for name in CAPTURE_NAMES
    for dialect in ("rfc5191", "draft18")
    if dialect in load_expected(name)
]
DECODING_CASES = [c for c in CASES if load_expected(c[0])[c[1]].get("decoded")]
FULL_CASES = [
    c
    for c in CASES
    if load_expected(c[0])[c[1]]["decoded"] == load_expected(c[0])[c[1]]["datagrams"]
]


def facts(name: str, dialect: str) -> dict[str, Any]:
    """The ``[dialect]`` section of a capture's expected file."""
    section: dict[str, Any] = load_expected(name)[dialect]
    return section


def label(d: DecodedDatagram) -> str:
    """``PAR[RS]``-style label of a decoded message."""
    assert d.message is not None
    flags = flag_letters(d.message.flags)
    return f"{type_name(d.message.type, d.message.flags)}" + (f"[{flags}]" if flags else "")


def render_avp(d: DecodedDatagram, index: int, expected: str) -> str:
    """The AVP at ``index`` as ``expected`` writes it: Name, Name(len), Name=value or Name:EAP."""
    s = d.avps()[index]
    name = s.name or str(s.code)
    if ":" in expected:  # EAP-Payload:Success, EAP-Payload:Response/Identity
        return f"{name}:{'?' if s.eap is None else eap_label(s.eap)}"
    if "=" in expected:
        text = expected.split("=", 1)[1]
        if s.value is None:
            return f"{name}=<no value>"
        if text.startswith("0x"):
            return f"{name}={s.value:#0{len(text)}x}"  # same width: 0x0a45bd55
        return f"{name}={s.value}"
    if "(" in expected:
        return f"{name}({s.length})"
    return name


@pytest.mark.parametrize(("name", "dialect"), CASES)
def test_counts_per_type(decoded_capture: Decoded, name: str, dialect: str) -> None:
    f = facts(name, dialect)
    got = decoded_capture(name, dialect)
    assert len(got) == f["datagrams"]
    ok = [d for d in got if d.message is not None]
    assert len(ok) == f["decoded"], [(d.datagram.frame, d.error) for d in got if d.error]
    assert Counter(str(type_name(d.message.type, d.message.flags)) for d in ok if d.message) == (
        Counter(f["counts"])
    )


@pytest.mark.parametrize(("name", "dialect"), DECODING_CASES)
def test_every_decoded_message_reencodes_identically(
    decoded_capture: Decoded, name: str, dialect: str
) -> None:
    got = [d for d in decoded_capture(name, dialect) if d.message is not None]
    assert got
    assert [d.datagram.frame for d in got if not d.reencode_identical] == []


@pytest.mark.parametrize(("name", "dialect"), [c for c in CASES if "sequence" in facts(*c)])
def test_message_sequence(decoded_capture: Decoded, name: str, dialect: str) -> None:
    got = decoded_capture(name, dialect)
    assert [label(d) for d in got] == facts(name, dialect)["sequence"]


@pytest.mark.parametrize(("name", "dialect"), [c for c in CASES if "message" in facts(*c)])
def test_message_avps(decoded_capture: Decoded, name: str, dialect: str) -> None:
    by_frame = {d.datagram.frame: d for d in decoded_capture(name, dialect)}
    for spec in facts(name, dialect)["message"]:
        d = by_frame[spec["frame"]]
        assert d.message is not None, (spec["frame"], d.error)
        expected = spec["avps"]
        assert len(d.message.avps) == len(expected), (spec["frame"], d.avps())
        got = [render_avp(d, i, e) for i, e in enumerate(expected)]
        assert got == expected, spec["frame"]
        if "src" in spec:
            assert format_address(d.datagram.src) == spec["src"]


@pytest.mark.parametrize(("name", "dialect"), [c for c in CASES if "auth_avps" in facts(*c)])
def test_auth_avp_count(decoded_capture: Decoded, name: str, dialect: str) -> None:
    got = decoded_capture(name, dialect)
    n = sum(1 for d in got for s in d.avps() if s.code == 1 and s.vendor_id is None)
    assert n == facts(name, dialect)["auth_avps"]


@pytest.mark.parametrize(("name", "dialect"), FULL_CASES)
def test_sessions_and_endpoints(decoded_capture: Decoded, name: str, dialect: str) -> None:
    top = load_expected(name)
    got = decoded_capture(name, dialect)
    sessions = {d.message.session_id for d in got if d.message is not None}
    if "session_per_frame" in facts(name, dialect):
        assert [d.message.session_id if d.message else None for d in got] == facts(name, dialect)[
            "session_per_frame"
        ]
        assert [d.message.seq if d.message else None for d in got] == facts(name, dialect)[
            "seq_per_frame"
        ]
    else:
        sessions.discard(0)  # the PCI's (RFC 5191 s6.2)
    assert sessions == set(top["session_ids"])
    pair = {top["pac"], top["paa"]}
    for d in got:
        assert {format_address(d.datagram.src), format_address(d.datagram.dst)} == pair
    for d in got:
        if d.message is not None and d.message.type == 1:
            assert format_address(d.datagram.src) == top["pac"]


@pytest.mark.parametrize(("name", "dialect"), [c for c in DECODING_CASES if "arkime" not in c[0]])
def test_sequence_numbers(decoded_capture: Decoded, name: str, dialect: str) -> None:
    """Each side's requests count up by one; every answer echoes its request (RFC 5191 s4.2)."""
    top = load_expected(name)
    got = [d for d in decoded_capture(name, dialect) if d.message and d.message.type != 1]
    last_request: dict[str, int] = {}
    for side in ("paa", "pac"):
        seqs = [
            d.message.seq
            for d in got
            if d.message and d.message.is_request and format_address(d.datagram.src) == top[side]
        ]
        if not seqs:
            continue
        assert seqs == [(seqs[0] + i) & 0xFFFFFFFF for i in range(len(seqs))]  # wraps (s5.2)
        if f"{side}_seq_start" in top:
            assert seqs[0] == top[f"{side}_seq_start"]
    for d in got:
        assert d.message is not None
        src = format_address(d.datagram.src)
        if d.message.is_request:
            last_request[src] = d.message.seq
        else:
            other = top["paa"] if src == top["pac"] else top["pac"]
            assert d.message.seq == last_request[other], d.datagram.frame


@pytest.mark.parametrize(("name", "dialect"), [c for c in CASES if "errors" in facts(*c)])
def test_rejected_at_the_readme_offsets(decoded_capture: Decoded, name: str, dialect: str) -> None:
    f = facts(name, dialect)
    spec = {e["frame"]: e["offsets"] for e in f["errors"]}
    default = f.get("default_error_offset")
    for d in decoded_capture(name, dialect):
        offsets = spec.get(d.datagram.frame, [default] if default is not None else None)
        if offsets is None:
            continue
        assert d.message is None and d.error, d.datagram.frame
        assert d.error_offset in offsets, (d.datagram.frame, d.error)
        assert f"offset {d.error_offset}" in d.error


def test_old_format_captures_have_the_version_1_byte() -> None:
    name = "wireshark-wiki-pana.cap"
    top = load_expected(name)
    got = read_pana(capture_path(name), top["ports"])
    assert len(got) == top["rfc5191"]["datagrams"]
    assert {d.payload[0] for d in got} == {top["version_byte"]}


@pytest.mark.parametrize("name", CAPTURE_NAMES)
def test_ports_are_needed_only_off_716(name: str) -> None:
    """Off-716 captures need --port; the others are found on 716 (and the PaC's port) alone."""
    top = load_expected(name)
    plain = read_pana(capture_path(name))
    if top["ports"]:
        assert plain == []
    else:
        assert len(plain) == top["rfc5191"]["datagrams"]

"""PaC specifics, configuration checks, traces read back, and secrets kept out of logs."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

import pana_mpa
from pana_mpa import crypto
from pana_mpa._avps import IntegrityAlgorithm, PrfAlgorithm
from pana_mpa.config import PaaConfig, PacConfig
from pana_mpa.errors import UsageError
from pana_mpa.events import Authenticated
from pana_mpa.state import PacState
from pana_mpa.trace import JsonLinesTrace, TraceFormatError, read_trace, trace_header
from tests.traces import trace_records

from .pair import PAA_ADDR, PAC_ADDR, make_pair


def test_public_names() -> None:
    for name in pana_mpa.__all__:
        assert hasattr(pana_mpa, name), name
    assert {"PacSession", "PaaServer", "VirtualNet", "PacConfig"} <= set(pana_mpa.__all__)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prf_algorithms": (1,)}, "unsupported PRF"),
        ({"integrity_algorithms": (2,)}, "unsupported Integrity"),
        ({"prf_algorithms": ()}, "both be empty"),
        ({"nonce_length": 7}, "8..256"),
        ({"nonce_length": 257}, "8..256"),
        ({"failed_session_timeout": 0}, "positive"),
        ({"reauth_fraction": 1.0}, "within"),
    ],
)
def test_pac_config_is_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        PacConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"session_lifetime": 0}, "Unsigned32"),
        ({"key_id_start": -1}, "Unsigned32"),
        ({"max_sessions": 0}, "positive"),
        ({"reauth_fraction": 0.0}, "within"),
    ],
)
def test_paa_config_is_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        PaaConfig(**kwargs)  # type: ignore[arg-type]


def test_configured_nonce_length_and_key_id_start() -> None:
    pair = make_pair(
        pac_config=PacConfig(nonce_length=8),
        paa_config=PaaConfig(nonce_length=64, key_id_start=1),
    )
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert pair.pac.key_id == 1
    assert pair.pac._pac_nonce is not None and len(pair.pac._pac_nonce) == 8
    assert pair.pac._paa_nonce is not None and len(pair.pac._paa_nonce) == 64


def test_empty_algorithm_lists_mean_no_sa_even_with_an_msk() -> None:
    pair = make_pair(
        pac_config=PacConfig(prf_algorithms=(), integrity_algorithms=()),
        paa_config=PaaConfig(prf_algorithms=(), integrity_algorithms=()),
    )
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert pair.pac.state is PacState.OPEN
    assert not pair.pac.has_key
    auth = next(e for e in pair.pac_events() if isinstance(e, Authenticated))
    assert auth.key_id is None and auth.msk is not None  # the MSK still reaches the caller


def test_pac_without_sa_refuses_offered_algorithms_it_lacks() -> None:
    pair = make_pair(pac_config=PacConfig(prf_algorithms=(), integrity_algorithms=()))
    pair.pac.start(0.0)
    pair.net.run(3.0)
    assert pair.pac.state is PacState.INITIAL  # the PAA wants an SA the PaC cannot build


def test_pac_tells_why_it_declined_a_par_start() -> None:
    sha256 = PacConfig(
        prf_algorithms=(PrfAlgorithm.PRF_HMAC_SHA2_256,),
        integrity_algorithms=(IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128,),
    )
    sha1 = PaaConfig(
        prf_algorithms=(PrfAlgorithm.PRF_HMAC_SHA1,),
        integrity_algorithms=(IntegrityAlgorithm.AUTH_HMAC_SHA1_160,),
    )
    pair = make_pair(pac_config=sha256, paa_config=sha1)
    pair.pac.start(0.0)
    pair.net.run(3.0)
    assert pair.pac.state is PacState.INITIAL
    assert pair.pac.declined == (
        "no acceptable algorithms in PAR[S] (PAA offers PRF PRF_HMAC_SHA1,"
        " integrity AUTH_HMAC_SHA1_160)"
    )
    # RFC 5191 s4.1: the PaC answers nothing; only its PCI went out
    sent = [e.data for e in pair.net.log if e.src == PAC_ADDR]
    assert sent and all(data[6:8] == b"\x00\x01" for data in sent)  # Message Type 1: PCI
    # the default PaC accepts both suites, so the SHA-1-only PAA gets its session
    both = make_pair(paa_config=sha1)
    both.pac.start(0.0)
    both.net.run(5.0)
    assert both.pac.state is PacState.OPEN and both.pac.declined is None
    assert both.pac.prf_algorithm == PrfAlgorithm.PRF_HMAC_SHA1


def test_jsonl_trace_read_back(tmp_path: Path) -> None:
    path = tmp_path / "pac.jsonl"
    with JsonLinesTrace(path) as trace:
        pair = make_pair()
        pair.pac._trace = trace
        pair.pac.start(0.0)
        pair.net.run(5.0)
    records = JsonLinesTrace.read(path)
    names = [r["event"] for r in records]
    assert names.count("message_sent") == 6  # PCI, PAN[S], 3 PANs, PAN[C]
    transitions = [(r["old"], r["new"]) for r in records if r["event"] == "transition"]
    assert transitions[0] == ("INITIAL", "INITIAL")
    assert transitions[-1] == ("WAIT_EAP_RESULT", "OPEN")
    assert all(isinstance(r["t"], float) for r in records)
    header, again = read_trace(path)
    assert again == records and header["source"] == "library" and header["version"] == 1
    assert header["reference_time"] is None  # the core reads no clock; none was given


def test_jsonl_trace_reference_and_origin() -> None:
    stream = io.StringIO()
    trace = JsonLinesTrace(stream, source="pac", reference_time=1_700_000_000.5, origin=100.0)
    trace.event(100.25, "message_dropped", reason="bad AUTH", size=80)
    records = trace_records(stream.getvalue(), "pac")
    assert records == [{"t": 0.25, "event": "message_dropped", "reason": "bad AUTH", "size": 80}]
    assert json.loads(stream.getvalue().splitlines()[0])["reference_time"] == 1_700_000_000.5


@pytest.mark.parametrize(
    ("first_line", "message"),
    [
        (
            '{"schema": "pana-mpa-trace", "version": 2, "source": "pac"}',
            "version 2 is not supported",
        ),
        ('{"t": 0.0, "event": "message"}', "not a pana-mpa trace"),
        ('{"schema": "pana-mpa-trace", "version": "1"}', "without an integer version"),
        ("[1, 2]", "not a JSON object"),
        ("{oops", "not JSON"),
    ],
)
def test_read_trace_rejects_unknown_versions_and_other_files(
    tmp_path: Path, first_line: str, message: str
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(first_line + "\n")
    with pytest.raises(TraceFormatError, match=message) as info:
        read_trace(path)
    assert str(path) in str(info.value)
    path.write_text("")
    with pytest.raises(TraceFormatError, match="no header line"):
        read_trace(path)


def test_read_trace_ignores_nothing_it_needs_and_keeps_unknown_fields(tmp_path: Path) -> None:
    # additive changes keep the version: unknown events and fields are read, not rejected
    path = tmp_path / "t.jsonl"
    header = trace_header("pac", 1.0, future_field=[1])
    path.write_text(json.dumps(header) + "\n" + '{"t": 1, "event": "new_kind", "extra": true}\n\n')
    got_header, records = read_trace(path)
    assert got_header["future_field"] == [1]
    assert records == [{"t": 1, "event": "new_kind", "extra": True}]
    path.write_text(json.dumps(header) + "\n" + '{"event": "x"}\n')
    with pytest.raises(TraceFormatError, match="2: a record needs"):
        read_trace(path)


def test_secrets_stay_out_of_traces_logs_and_reprs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stream = io.StringIO()
    with JsonLinesTrace(stream) as trace:
        pair = make_pair()
        pair.pac._trace = trace
        pair.pac.start(0.0)
        pair.net.run(5.0)
    key = pair.pac._key
    msk = pair.pac.msk
    assert key is not None and msk is not None
    text = stream.getvalue() + caplog.text + repr(pair.pac_events()) + repr(pair.paa_events())
    for secret in (key.reveal(), msk.reveal()):
        assert secret.hex() not in text
        assert repr(list(secret)) not in text
    assert trace_records(stream.getvalue(), "library")


def test_key_log_is_opt_in_and_verifies() -> None:
    log = io.StringIO()
    pair = make_pair(
        pac_config=PacConfig(
            key_log=log,
            prf_algorithms=(PrfAlgorithm.PRF_HMAC_SHA1,),
            integrity_algorithms=(IntegrityAlgorithm.AUTH_HMAC_SHA1_160,),
        )
    )
    pair.pac.start(0.0)
    pair.net.run(5.0)
    line = log.getvalue().split()
    assert line[0] == "PANA_AUTH_KEY" and int(line[2], 16) == pair.pac.key_id
    from eap.keys import Secret

    key = Secret(bytes.fromhex(line[3]))
    pan_c = pair.net.log[-1].data
    assert crypto.verify_auth(IntegrityAlgorithm.AUTH_HMAC_SHA1_160, key, pan_c)


def test_cpana_label_quirk_is_configurable_on_both_sides() -> None:
    pair = make_pair(
        pac_config=PacConfig(auth_label=b"IETF"), paa_config=PaaConfig(auth_label=b"IETF")
    )
    pair.pac.start(0.0)
    pair.net.run(5.0)
    assert pair.pac.state is PacState.OPEN
    mismatch = make_pair(pac_config=PacConfig(auth_label=b"IETF"))
    mismatch.pac.start(0.0)
    mismatch.net.run(5.0)
    assert mismatch.pac.state is not PacState.OPEN  # PAR[C]'s AUTH does not verify
    reasons = [r["reason"] for r in mismatch.pac_trace.named("message_dropped")]
    assert "AUTH of PAR[C] does not verify with the new key" in reasons


def test_timer_surface() -> None:
    pair = make_pair()
    assert pair.pac.get_timer() is None and pair.pac.next_event() is None
    pair.pac.start(0.0)
    deadline = pair.pac.get_timer()
    assert deadline is not None and 0.9 <= deadline <= 1.1
    sent = pair.pac.datagrams_to_send(0.0)
    assert sent == [(bytes.fromhex("00000010000000010000000000000000"), PAA_ADDR)]
    pair.pac.handle_timer(0.5)  # not yet due: nothing
    assert pair.pac.datagrams_to_send(0.5) == []
    pair.pac.handle_timer(deadline)
    assert len(pair.pac.datagrams_to_send(deadline)) == 1
    with pytest.raises(UsageError):
        pair.pac.terminate(0.0, cause=-1)

"""Live UDP matrix: our ``pana-mpa pac --once`` against our ``pana-mpa paa`` on 127.0.0.1.

EAP-MD5, EAP-PSK, EAP-GPSK and EAP-TLS, each with both suites: sha1 = PRF_HMAC_SHA1 (2) /
AUTH_HMAC_SHA1_160 (7), sha256 = PRF_HMAC_SHA2_256 (5) / AUTH_HMAC_SHA2_256_128 (12) (RFC 5191
s8.3, s8.6; RFC 4868). All eight runs go through real sockets at once and are written by ONE
``tshark -i lo -w`` (started once: tshark starts slowly) into one pcapng, split by PAA port later.

Per run: the PaC exits 0; tshark dissects every datagram as PANA, without a malformed mark or an
expert warning/error, and agrees with ``pana-mpa decode --json`` on type, flags, session id,
sequence number and AVP codes/lengths; ``decode --verify`` says ``ok`` for every AUTH AVP. The key
``decode --verify`` is given differs by method:
- PSK: ``--secret`` (decode runs its own EAP-PSK observer over the capture);
- GPSK: ``--msk-hex`` with an MSK this test derives from the PSK and the RAND/ID fields of
  GPSK-1/GPSK-2 as captured (RFC 5433 s4, through ``eap.methods.gpsk.derive_keys``);
- TLS: ``--msk-hex`` with an MSK this test derives from the PaC's NSS key log (EXPORTER_SECRET)
  by the TLS 1.3 exporter (RFC 8446 s7.5, RFC 9190 s2.3) written out here with HKDF; the PaC is
  then ``tests.udp_keylog_pac`` (the CLI's ``run_pac`` with the TLS peer's ``key_log`` on);
- MD5 derives no MSK (RFC 3748 s5.4): no AUTH or Key-Id may appear at all.
AUTH is 20 octets with sha1 and 16 with sha256; PRF-/Integrity-Algorithm carry 2/7 or 5/12.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from eap.keys import Secret
from eap.methods.gpsk import derive_keys
from pana_codecs import AvpCode, EapCode, decode_eap, decode_pana
from pana_mpa.cli import main
from pana_mpa.cli.capture import read_pana
from pana_mpa.cli.decode import flag_letters, type_name
from tests.ports import free_udp_ports, tshark_udp_ports
from tests.realcomponents import need_binary, need_root
from tests.traces import trace_records

pytestmark = [pytest.mark.tshark, pytest.mark.udp]

REPO = Path(__file__).resolve().parent.parent
METHODS = ("md5", "psk", "gpsk", "tls")
SUITES = {"sha1": (2, 7, 20), "sha256": (5, 12, 16)}  # PRF, Integrity, AUTH octets
RUNS = [(m, s) for m in METHODS for s in SUITES]
SECRETS = {"md5": "md5-password", "psk": "live-16-octets!!", "gpsk": "a-longer-gpsk-secret"}
IDENTITY = "alice"
TLS_IDENTITY = "user1"
GPSK_TYPE = 51  # RFC 5433 s7
PANA = [sys.executable, "-m", "pana_mpa"]


@dataclass
class Run:
    """One (method, suite) pair: its PAA port, the PaC's outcome, its datagrams and views."""

    method: str
    suite: str
    port: int
    pac_rc: int | None = None
    pac_out: str = ""
    pac_err: str = ""
    key_log: Path | None = None
    pcap: Path | None = None
    decoded: list[dict[str, Any]] = field(default_factory=list)
    decode_err: str = ""
    tshark: dict[int, Any] = field(default_factory=dict)  # frame -> (json layers, pdml flags)


def _wait_for(proc: subprocess.Popen[bytes], stream: str, done: Any, limit: float) -> str:
    """Read ``proc``'s stdout/stderr (select, no sleeping) until ``done(text_so_far)``.

    Raw os.read: a buffered readline() would hide lines already read from select().
    """
    pipe = proc.stdout if stream == "stdout" else proc.stderr
    assert pipe is not None
    fd = pipe.fileno()
    seen = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        deadline = time.monotonic() + limit
        while (left := deadline - time.monotonic()) > 0:
            if not sel.select(left):
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
            text = seen.decode(errors="replace")
            if done(text):
                return text
    pytest.fail(f"gave up waiting on {proc.args!r}: {seen.decode(errors='replace')[-2000:]}")


def _wait_captured(
    capture: subprocess.Popen[bytes], probe: int, source: int | None = None, limit: float = 60.0
) -> None:
    """Send datagrams from ``source`` (default: ``probe``) to ``probe`` until tshark prints one.

    At the start: it is really capturing. "Capturing on" comes before dumpcap's socket sees
    packets on a loaded machine (the same race tests/pana_mpa/test_cli_capture.py closes), and
    the first PCIs would be missed. At the end, from a source port of its own: everything sent
    before is captured (a start probe printed late proves nothing about the runs).
    """
    assert capture.stdout is not None
    source = probe if source is None else source
    fd = capture.stdout.fileno()
    seen = b""
    lines = (f" {source} \u2192 {probe} ".encode(), f" {source} -> {probe} ".encode())
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s,
        selectors.DefaultSelector() as sel,
    ):
        s.bind(("127.0.0.1", source))  # a port of the block: no run's port in the capture
        sel.register(fd, selectors.EVENT_READ)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and capture.poll() is None:
            s.sendto(b"probe", ("127.0.0.1", probe))
            if sel.select(0.2):
                chunk = os.read(fd, 65536)
                seen += chunk
                if any(line in seen for line in lines):
                    return
    pytest.fail(f"tshark captured no probe: {seen.decode(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _write_pki(directory: Path) -> dict[str, str]:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from tests.pki import make_pki

    pki = make_pki()
    files: dict[str, str] = {}
    for name, ident in (("ca", pki.ca), ("server", pki.server), ("client", pki.client)):
        cert = directory / f"{name}.pem"
        cert.write_bytes(ident.cert.public_bytes(Encoding.PEM))
        key = directory / f"{name}.key"
        key.write_bytes(ident.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        files[name], files[f"{name}_key"] = str(cert), str(key)
    return files


def _peer_args(run: Run, pki: dict[str, str], tmp: Path) -> tuple[list[str], list[str]]:
    """(PAA argv, PaC argv) for one run; secrets go in files, not on the command line."""
    common = ["--method", run.method, "--suite", run.suite]
    paa = [*PANA, "paa", "--listen", f"127.0.0.1:{run.port}", *common]
    target = ["--paa", f"127.0.0.1:{run.port}", "--once", "--timeout", "30", *common]
    if run.method == "tls":
        paa += ["--cert", pki["server"], "--key", pki["server_key"], "--ca", pki["ca"]]
        assert run.key_log is not None
        pac = [sys.executable, "-m", "tests.udp_keylog_pac", "--key-log", str(run.key_log)]
        pac += [*target, "--identity", TLS_IDENTITY]
        pac += ["--cert", pki["client"], "--key", pki["client_key"], "--ca", pki["ca"]]
        return paa, pac
    users, secret = tmp / f"{run.method}.users", tmp / f"{run.method}.secret"
    method = run.method.upper()
    users.write_text(
        f'# {run.method}, hostapd eap_user style\n"{IDENTITY}" {method} "{SECRETS[run.method]}"\n'
    )
    secret.write_text(SECRETS[run.method] + "\n")
    paa += ["--users", str(users)]
    pac = [*PANA, "pac", *target, "--identity", IDENTITY, "--secret-file", str(secret)]
    return paa, pac


def _tshark_views(tshark: str, pcap: Path, home: Path) -> tuple[list[Any], list[int | None]]:
    """tshark's JSON packets and, per frame, the 16-bit flags from PDML (4.0 quirk)."""
    env = {"WIRESHARK_CONFIG_DIR": str(home), "PATH": "/usr/bin:/bin", "HOME": str(home)}
    procs = {  # both at once: each tshark spends seconds starting up
        fmt: subprocess.Popen(
            [tshark, "-r", str(pcap), "-T", fmt],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for fmt in ("json", "pdml")
    }
    out = {}
    for fmt, proc in procs.items():
        out[fmt], err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    packets = json.loads(out["json"], object_pairs_hook=list)
    flags: list[int | None] = []
    for packet in out["pdml"].split("<packet>")[1:]:
        # tshark 4.0 declares pana.flags 8 bits wide; the full value is in the showname.
        m = re.search(r'<field name="pana\.flags" showname="Flags: (0x[0-9a-f]+)', packet)
        flags.append(int(m.group(1), 16) if m else None)
    return packets, flags


def _get(node: Any, key: str) -> Any:
    for k, v in node:
        if k == key:
            return v
    return None


def _find_all(node: Any, key: str) -> Iterator[Any]:
    if isinstance(node, list) and all(isinstance(x, tuple) and len(x) == 2 for x in node):
        for k, v in node:
            if k == key:
                yield v
            yield from _find_all(v, key)
    elif isinstance(node, list):
        for x in node:
            yield from _find_all(x, key)


def _decode(run: Run, pcap: Path, msk: bytes | None = None) -> tuple[list[dict[str, Any]], str]:
    """``pana-mpa decode --json --verify`` for the run's PAA port, with the key for its method."""
    argv = ["decode", "--json", "--port", str(run.port), "--verify"]
    if run.method == "psk" and msk is None:
        argv += ["--secret", SECRETS["psk"]]
    else:
        argv += ["--msk-hex", (_msk(run, pcap) if msk is None else msk).hex()]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([*argv, str(pcap)])
    # --verify is a check: exit 1 exactly when an AUTH failed or was unverifiable
    assert rc == (1 if re.search(r"\d+ (failed|unverifiable)", err.getvalue()) else 0), (
        err.getvalue()
    )
    return trace_records(out.getvalue(), "decode"), err.getvalue()


def _eap_packets(run: Run, pcap: Path) -> list[bytes]:
    return [
        avp.value
        for d in read_pana(pcap, [run.port])
        if run.port in (d.src[1], d.dst[1])
        for avp in decode_pana(d.payload).all_avps(AvpCode.EAP_PAYLOAD)
    ]


def _msk(run: Run, pcap: Path) -> bytes:
    """The run's MSK, derived here from what the wire (GPSK) or the key log (TLS) gives."""
    if run.method == "gpsk":
        return _gpsk_msk(_eap_packets(run, pcap), SECRETS["gpsk"].encode())
    if run.method == "tls":
        assert run.key_log is not None
        return _tls13_msk(run.key_log.read_text())
    return bytes(64)  # MD5: no MSK exists; any key shows that no AUTH is there to check


def _gpsk_msk(eap_packets: list[bytes], psk: bytes) -> bytes:
    """EAP-GPSK MSK from GPSK-2's ID_Peer, ID_Server, RAND_Peer, RAND_Server, CSuite_Sel."""
    for raw in eap_packets:
        pkt = decode_eap(raw)
        if pkt.code == EapCode.RESPONSE and pkt.type == GPSK_TYPE and pkt.type_data[:1] == b"\x02":
            return _gpsk2_msk(pkt.type_data[1:], psk)
    pytest.fail("no GPSK-2 in the capture")


def _gpsk2_msk(body: bytes, psk: bytes) -> bytes:
    """RFC 5433 s5.2: ID_Peer, ID_Server, RAND_Peer, RAND_Server, CSuite_List, CSuite_Sel, ..."""
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        pos += n
        return body[pos - n : pos]

    id_peer = take(int.from_bytes(take(2), "big"))
    id_server = take(int.from_bytes(take(2), "big"))
    rand_peer, rand_server = take(32), take(32)
    take(int.from_bytes(take(2), "big"))  # CSuite_List
    specifier = int.from_bytes(take(6)[4:], "big")  # CSuite_Sel = Vendor (4) || Specifier (2)
    keys = derive_keys(specifier, Secret(psk), rand_peer, id_peer, rand_server, id_server)
    return keys.msk.reveal()


def _hkdf_expand_label(algo: hashes.HashAlgorithm, secret: bytes, label: bytes, ctx: bytes,
                       length: int) -> bytes:  # fmt: skip
    """RFC 8446 s7.1."""
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(ctx)]) + ctx
    return HKDFExpand(algo, length, info).derive(secret)


def _digest(algo: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(algo)
    h.update(data)
    return h.finalize()


def _tls13_msk(key_log: str) -> bytes:
    """MSK = TLS-Exporter("EXPORTER_EAP_TLS_Key_Material", 0x0D, 128)[0:64] (RFC 9190 s2.3)."""
    secrets = [ln.split()[2] for ln in key_log.splitlines() if ln.startswith("EXPORTER_SECRET ")]
    assert len(secrets) == 1, "expected one TLS 1.3 handshake in the key log"
    exporter = bytes.fromhex(secrets[0])
    # The suite's hash: 48-octet secrets come from TLS_AES_256_GCM_SHA384, 32 from SHA-256 suites.
    algo: hashes.HashAlgorithm = hashes.SHA384() if len(exporter) == 48 else hashes.SHA256()
    derived = _hkdf_expand_label(
        algo,
        exporter,
        b"EXPORTER_EAP_TLS_Key_Material",
        _digest(algo, b""),
        algo.digest_size,
    )
    return _hkdf_expand_label(algo, derived, b"exporter", _digest(algo, b"\x0d"), 128)[:64]


@pytest.fixture(scope="module")
def matrix(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[tuple[str, str], Run]]:
    """All eight runs, concurrently, under one tshark; then decoded by tshark and by us."""
    tshark = need_binary("tshark")
    need_root()
    tmp = tmp_path_factory.mktemp("udp-matrix")
    pki = _write_pki(tmp)
    base = free_udp_ports(len(RUNS) + 2, avoid=tshark_udp_ports(tshark))
    probe = base + len(RUNS)  # not a run's port: shows that tshark captures
    end_probe = probe + 1  # the last probe's source port: not the first probes' one
    runs = {
        (m, s): Run(m, s, base + i, key_log=tmp / f"{m}-{s}.keys" if m == "tls" else None)
        for i, (m, s) in enumerate(RUNS)
    }
    pcap = tmp / "matrix.pcapng"
    home = tmp / "tshark-home"
    home.mkdir()
    capture: subprocess.Popen[bytes] | None = None
    procs: list[subprocess.Popen[bytes]] = []
    bpf = f"udp portrange {base}-{end_probe}"
    try:
        capture = subprocess.Popen(
            [tshark, "-i", "lo", "-f", bpf, "-w", str(pcap), "-P", "-l"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin", "HOME": str(home), "WIRESHARK_CONFIG_DIR": str(home)},
        )
        argvs = {key: _peer_args(run, pki, tmp) for key, run in runs.items()}
        paas = {}
        for key, (paa_argv, _) in argvs.items():  # they start while tshark does; PaCs wait
            paas[key] = subprocess.Popen(
                paa_argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
            procs.append(paas[key])
        _wait_for(capture, "stderr", lambda t: "Capturing on" in t, 30)
        _wait_captured(capture, probe)  # before any PaC starts
        for paa in paas.values():
            _wait_for(paa, "stdout", lambda t: "listening on" in t, 60)
        pacs = {}
        for key, (_, pac_argv) in argvs.items():
            pacs[key] = subprocess.Popen(
                pac_argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            procs.append(pacs[key])
        for key, pac in pacs.items():
            out, err = pac.communicate(timeout=120)
            runs[key].pac_rc = pac.returncode
            runs[key].pac_out, runs[key].pac_err = out.decode(), err.decode()
        ended = sum(r.pac_rc == 0 for r in runs.values())
        # tshark's heuristic PANA dissector labels each run's last message; then the file has it.
        _wait_for(capture, "stdout", lambda t: t.count("PANA-Termination-Answer") >= ended, 30)
        # a repeated PTR's second PTA counts too: the probe, sent after every PaC exited, shows
        # that everything before it is captured
        _wait_captured(capture, probe, source=end_probe)
    finally:
        for proc in procs:
            _stop(proc)
        _stop(capture)
    packets, pdml_flags = _tshark_views(tshark, pcap, home)
    for frame, packet in enumerate(packets, start=1):
        layers = _get(_get(packet, "_source"), "layers")
        udp = _get(layers, "udp")
        ports = {int(_get(udp, "udp.srcport")), int(_get(udp, "udp.dstport"))}
        for run in runs.values():
            if run.port in ports:
                run.tshark[frame] = (layers, pdml_flags[frame - 1])
    for run in runs.values():
        run.pcap = pcap
        if run.pac_rc == 0:
            run.decoded, run.decode_err = _decode(run, pcap)
    yield runs


EAP_TYPES = {"md5": 4, "psk": 47, "gpsk": GPSK_TYPE, "tls": 13}
EXPERT_WARN = 0x00600000  # epan/proto.h PI_WARN; PI_ERROR is 0x00800000
MD5_WARNING = "Vulnerable to MITM attacks. If possible, change EAP type."
IDS = [f"{m}-{s}" for m, s in RUNS]
by_run = pytest.mark.parametrize(("method", "suite"), RUNS, ids=IDS)


def _ok_run(matrix: dict[tuple[str, str], Run], method: str, suite: str) -> Run:
    run = matrix[method, suite]
    assert run.pac_rc == 0, f"PaC exit {run.pac_rc}: {run.pac_err}"
    return run


@by_run
def test_pac_once_succeeds(matrix: dict[tuple[str, str], Run], method: str, suite: str) -> None:
    run = _ok_run(matrix, method, suite)
    lines = run.pac_out.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["authenticated", "ping answered", "terminated"]
    assert ("MSK 64 octets" in lines[0]) == (method != "md5"), lines[0]


@by_run
def test_tshark_dissects_every_datagram_cleanly(
    matrix: dict[tuple[str, str], Run], method: str, suite: str
) -> None:
    run = _ok_run(matrix, method, suite)
    assert len(run.tshark) >= 10, "a PCI..PTA exchange has at least 10 datagrams"
    for frame, (layers, _flags) in run.tshark.items():
        assert _get(layers, "pana") is not None, f"frame {frame}: tshark did not see PANA"
        assert not list(_find_all(layers, "_ws.malformed")), f"frame {frame}: malformed"
        for expert in _find_all(layers, "_ws.expert"):
            message = _get(expert, "_ws.expert.message")
            if method == "md5" and message == MD5_WARNING:
                continue  # the EAP dissector's advice about MD5 itself, not about the encoding
            severity = int(_get(expert, "_ws.expert.severity"))
            assert severity < EXPERT_WARN, f"frame {frame}: expert {message!r}"


@by_run
def test_tshark_and_decode_agree(
    matrix: dict[tuple[str, str], Run], method: str, suite: str
) -> None:
    run = _ok_run(matrix, method, suite)
    ours = {o["frame"]: o for o in run.decoded}
    assert set(ours) == set(run.tshark)
    for frame, (layers, flags) in run.tshark.items():
        o = ours[frame]
        assert o["error"] is None and o["reencode_identical"], o
        pana = _get(layers, "pana")
        assert flags is not None
        msg_type = int(_get(pana, "pana.type"))
        theirs = {
            "type": type_name(msg_type, flags),
            "flags": flag_letters(flags),
            "session_id": int(_get(pana, "pana.sid"), 16),
            "seq": int(_get(pana, "pana.seq"), 16),
            "length": int(_get(pana, "pana.length")),
            "avps": [_tshark_avp(a) for _, a in (_get(pana, "Attribute Value Pairs") or [])],
        }
        mine = {k: o[k] for k in ("type", "flags", "session_id", "seq", "length")}
        mine["avps"] = [_our_avp(a, tshark_avp) for a, (_, tshark_avp) in zip(
            o["avps"], _get(pana, "Attribute Value Pairs") or [], strict=False)]  # fmt: skip
        assert theirs == mine, f"frame {frame}"


def _tshark_avp(avp: Any) -> tuple[int, int, int | None, tuple[int, int, int | None] | None]:
    """(code, data length, Unsigned32 value, EAP code/id/type) as tshark dissects an AVP."""
    # the first code: tshark repeats Result-Code's value under pana.avp.code
    code, length = int(_get(avp, "pana.avp.code")), int(_get(avp, "pana.avp.data_length"))
    u32 = _get(avp, "pana.avp.data.uint32")
    eaps = list(_find_all(avp, "eap"))
    eap = None
    if eaps:
        kind = _get(eaps[0], "eap.type")
        eap = (int(_get(eaps[0], "eap.code")), int(_get(eaps[0], "eap.id")), kind and int(kind))
    return code, length, None if u32 is None else int(u32, 16), eap


def _our_avp(
    avp: dict[str, Any], tshark_avp: Any
) -> tuple[int, int, int | None, tuple[int, int, int | None] | None]:
    """The same view of ``decode --json``'s AVP (a value only where tshark shows one too)."""
    value = avp.get("value") if _get(tshark_avp, "pana.avp.data.uint32") is not None else None
    e = avp.get("eap")
    eap = None if e is None else (e["code"], e["identifier"], e["type"])
    return avp["code"], avp["length"], value, eap


@by_run
def test_decode_verifies_every_auth(
    matrix: dict[tuple[str, str], Run], method: str, suite: str
) -> None:
    run = _ok_run(matrix, method, suite)
    verdicts = [o["auth"] for o in run.decoded]
    codes = [a["code"] for o in run.decoded for a in o["avps"]]
    labels = [_label(o) for o in _first_copies(run.decoded)]
    assert labels[0] == "PCI" and labels[-2:] == ["PTR[R]", "PTA"]
    assert {"PAR[RS]", "PAN[S]", "PAR[RC]", "PAN[C]", "PNR[RP]", "PNA[P]"} <= set(labels)
    if method == "md5":
        # RFC 5191 s5.3: no MSK, no PANA_AUTH_KEY: neither AUTH nor Key-Id may appear.
        assert AvpCode.AUTH not in codes and AvpCode.KEY_ID not in codes
        assert verdicts == ["absent"] * len(run.decoded)
        return
    with_auth = [_label(o) for o in _first_copies(run.decoded) if o["auth"] not in (None, "absent")]
    # PAR[C] (the EAP Success) carries AUTH from then on: PAR[C] PAN[C] PNR PNA PTR PTA.
    assert with_auth == ["PAR[RC]", "PAN[C]", "PNR[RP]", "PNA[P]", "PTR[R]", "PTA"], labels
    # every copy, retransmissions included, verifies
    assert {v for v in verdicts if v not in (None, "absent")} == {"verified"}, verdicts
    assert re.search(r"AUTH verdicts: \d+ verified\n", run.decode_err), run.decode_err


def _label(o: dict[str, Any]) -> str:
    return str(o["type"]) + (f"[{o['flags']}]" if o["flags"] else "")


def _first_copies(decoded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without retransmissions: a repeat has the same type, flags and sequence number (s5.2)."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for o in decoded:
        key = (o["type"], o["flags"], o["session_id"], o["seq"])
        if key not in seen:
            seen.add(key)
            out.append(o)
    return out


@by_run
def test_suite_on_the_wire(matrix: dict[tuple[str, str], Run], method: str, suite: str) -> None:
    run = _ok_run(matrix, method, suite)
    prf, integrity, auth_len = SUITES[suite]
    starts = [o for o in run.decoded if o["type"] in ("PAR", "PAN") and "S" in o["flags"]]
    assert [o["type"] for o in _first_copies(starts)] == ["PAR", "PAN"]
    for o in starts:  # RFC 5191 s4.1: the PAA offers, the PaC picks; one suite each here
        values = {a["code"]: a.get("value") for a in o["avps"]}
        assert values[AvpCode.PRF_ALGORITHM] == prf, o
        assert values[AvpCode.INTEGRITY_ALGORITHM] == integrity, o
    auth_lengths = {a["length"] for o in run.decoded for a in o["avps"] if a["code"] == 1}
    assert auth_lengths == (set() if method == "md5" else {auth_len})
    methods = {
        a["eap"]["type"]
        for o in run.decoded
        for a in o["avps"]
        if a["code"] == AvpCode.EAP_PAYLOAD and a["eap"]["code"] == EapCode.RESPONSE
    }
    assert methods == {1, EAP_TYPES[method]}  # Identity, then the method


@pytest.mark.parametrize(
    ("method", "suite"), [("psk", "sha1"), ("gpsk", "sha256"), ("tls", "sha1")], ids=str
)
def test_a_wrong_msk_fails_every_auth(
    matrix: dict[tuple[str, str], Run], method: str, suite: str
) -> None:
    """The verdicts above are earned: one flipped MSK bit and every AUTH check fails."""
    run = _ok_run(matrix, method, suite)
    assert run.pcap is not None
    if method == "psk":
        msk = bytearray(bytes(64))  # no PSK observer here: any MSK but the real one
    else:
        msk = bytearray(_msk(run, run.pcap))
        msk[0] ^= 1
    decoded, err = _decode(run, run.pcap, bytes(msk))
    checked = [o["auth"] for o in decoded if o["auth"] not in (None, "absent")]
    assert len(checked) >= 6 and set(checked) == {"failed"}, checked
    assert re.search(r"AUTH verdicts: \d+ failed\n", err), err


def test_no_secret_reaches_any_output(matrix: dict[tuple[str, str], Run]) -> None:
    for run in matrix.values():
        text = run.pac_out + run.pac_err + run.decode_err + json.dumps(run.decoded)
        for secret in SECRETS.values():
            assert secret not in text and secret.encode().hex() not in text
